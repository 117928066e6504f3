//! Every branch of the 2FA gate against the sandbox.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::net::IpAddr;
use std::time::Duration;

use duo_auth::client::{EnrollStatus, Factor};
use duo_auth::gate::{AllowReason, DenyReason, Gate, Login, Step};
use duo_auth::policy::ip::{InMemoryLastAuthStore, IpSkip, LastAuthStore};
use duo_auth::policy::{Exclusion, Exclusions, PromptFrequency, UsernameFormat, UsernameMapping};
use duo_auth::{AuthClient, Credentials};
use idp_sandbox::duo::Behaviour;
use idp_sandbox::{DuoApplication, Sandbox};

fn client(app: &DuoApplication) -> AuthClient {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    AuthClient::builder(creds)
        .loopback_http(true)
        .build()
        .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn challenge(step: Step) -> duo_auth::gate::Challenge {
    match step {
        Step::ChooseFactor(c) => c,
        other => panic!("expected a factor challenge, got {other:?}"),
    }
}

#[tokio::test]
async fn gate_branches() {
    let sandbox = Sandbox::builder().users(60).start().await.unwrap();
    let duo = sandbox.duo();
    let users = duo.users();
    let active = users
        .iter()
        .find(|u| u.status == "active" && !u.phones.is_empty())
        .unwrap()
        .clone();
    let bypass = users.iter().find(|u| u.status == "bypass").unwrap();
    let disabled = users.iter().find(|u| u.status == "disabled").unwrap();
    let unenrolled = users
        .iter()
        .find(|u| u.status == "active" && u.phones.is_empty())
        .unwrap();
    let gate = Gate::builder(
        client(&sandbox.credentials().duo.auth),
        InMemoryLastAuthStore::default(),
    )
    .build();
    let here = ip("198.51.100.4");

    // allow / deny / enroll straight from preauth.
    assert!(
        matches!(gate.begin(&Login::new(&bypass.username, here)).await, Step::Allow(a) if matches!(a.reason, AllowReason::DuoAllowed(_)))
    );
    assert!(
        matches!(gate.begin(&Login::new(&disabled.username, here)).await, Step::Deny(d) if d.reason == DenyReason::Duo)
    );
    assert!(matches!(
        gate.begin(&Login::new(&unenrolled.username, here)).await,
        Step::Enroll(_)
    ));

    // A user Duo does not know: enroll, scan, then auth. The activation waits (an hour's delay)
    // until the gate has polled twice — so at least one poll was answered "waiting" — and then
    // completes (no delay); the gate goes on polling until it does. Its 30 s deadline is a
    // liveness guard.
    duo.set_enroll_delay(Duration::from_secs(3600));
    let newcomer = Login::new("Brand.New", here);
    let Step::Enroll(needed) = gate.begin(&newcomer).await else {
        panic!("enroll expected")
    };
    assert_eq!(needed.duo_username, "brand.new");
    let enrollment = gate.enroll(&needed.duo_username).await.unwrap();
    let asked = duo.requests();
    let scan = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while duo.requests() < asked + 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gate stopped polling"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        duo.set_enroll_delay(Duration::ZERO);
    };
    let (status, ()) = tokio::join!(
        gate.await_enrollment(
            &enrollment,
            Duration::from_millis(50),
            Duration::from_secs(30),
        ),
        scan,
    );
    assert_eq!(status.unwrap(), EnrollStatus::Success);
    assert!(matches!(gate.begin(&newcomer).await, Step::ChooseFactor(_)));

    // Push approved (records the IP), denied, timed out; passcode right and wrong.
    let me = Login::new(active.username.to_uppercase(), here);
    let c = challenge(gate.begin(&me).await);
    assert!(!c.devices.is_empty());
    let step = gate.push(&me, &c, Duration::from_secs(10)).await;
    assert!(
        matches!(step, Step::Allow(ref a) if a.reason == AllowReason::Approved),
        "{step:?}"
    );
    assert_eq!(gate.store().last(&active.username).await.unwrap().ip, here);
    duo.set_behaviour(&active.username, Behaviour::Deny);
    assert!(
        matches!(gate.push(&me, &c, Duration::from_secs(10)).await, Step::Deny(d) if d.reason == DenyReason::Duo)
    );
    // The answer would come in an hour: the 300 ms deadline is certain to pass first.
    duo.set_push_timeout(Duration::from_secs(7200));
    duo.set_behaviour(
        &active.username,
        Behaviour::ApproveAfter(Duration::from_secs(3600)),
    );
    assert!(
        matches!(gate.push(&me, &c, Duration::from_millis(300)).await, Step::Deny(d) if d.reason == DenyReason::Duo)
    );
    duo.set_behaviour(&active.username, Behaviour::Approve);
    assert!(matches!(
        gate.complete(&me, &c, &Factor::Passcode(active.passcode.clone()))
            .await,
        Step::Allow(_)
    ));
    assert!(matches!(
        gate.complete(&me, &c, &Factor::Passcode("1".into())).await,
        Step::Deny(_)
    ));

    // IP skip: off by default (above, Duo was asked every time); on, same IP skips, another IP
    // and a user who never authenticated do not.
    let skipping = Gate::builder(
        client(&sandbox.credentials().duo.auth),
        InMemoryLastAuthStore::default(),
    )
    .ip_skip(IpSkip {
        enabled: true,
        max_age: None,
    })
    .build();
    assert!(
        matches!(skipping.begin(&me).await, Step::ChooseFactor(_)),
        "never authenticated: no skip"
    );
    let c = challenge(skipping.begin(&me).await);
    assert!(matches!(
        skipping.push(&me, &c, Duration::from_secs(10)).await,
        Step::Allow(_)
    ));
    let same = Login::new(&active.username, ip("::ffff:198.51.100.4"));
    assert!(
        matches!(skipping.begin(&same).await, Step::Allow(a) if a.reason == AllowReason::SameIp)
    );
    assert!(matches!(
        skipping
            .begin(&Login::new(&active.username, ip("198.51.100.5")))
            .await,
        Step::ChooseFactor(_)
    ));

    // Alias mapping and username formats.
    duo.add_alias(&active.username, "jd-alias");
    let mapped = Gate::builder(
        client(&sandbox.credentials().duo.auth),
        InMemoryLastAuthStore::default(),
    )
    .mapping(
        UsernameMapping::new(UsernameFormat::LocalPart).map("JaneDoe@Portal.example", "jd-alias"),
    )
    .build();
    let c = challenge(
        mapped
            .begin(&Login::new("janedoe@portal.example", here))
            .await,
    );
    assert_eq!(c.duo_username, "jd-alias");
    let mut by_email = Login::new(format!("{}@corp.example", active.username), here);
    by_email.email = Some("ignored@x".into());
    assert_eq!(
        challenge(mapped.begin(&by_email).await).duo_username,
        active.username
    );

    // Exclusions and per-session prompting.
    let relaxed = Gate::builder(
        client(&sandbox.credentials().duo.auth),
        InMemoryLastAuthStore::default(),
    )
    .exclusions(Exclusions::none().user("svc-backup").group("Break Glass"))
    .frequency(PromptFrequency::PerSession)
    .build();
    assert!(
        matches!(relaxed.begin(&Login::new("SVC-BACKUP", here)).await, Step::Allow(a) if a.reason == AllowReason::Excluded(Exclusion::User))
    );
    let mut glass = Login::new("someone", here);
    glass.groups = vec!["break glass".into()];
    assert!(
        matches!(relaxed.begin(&glass).await, Step::Allow(a) if matches!(a.reason, AllowReason::Excluded(Exclusion::Group(_))))
    );
    let mut verified = me.clone();
    verified.session_verified = true;
    assert!(
        matches!(relaxed.begin(&verified).await, Step::Allow(a) if a.reason == AllowReason::SessionVerified)
    );
    assert!(
        matches!(gate.begin(&verified).await, Step::ChooseFactor(_)),
        "every-login gates ignore the session"
    );

    // Per device: the approval's token is handed back and makes the next preauth allow.
    let per_device = Gate::builder(
        client(&sandbox.credentials().duo.auth),
        InMemoryLastAuthStore::default(),
    )
    .frequency(PromptFrequency::PerDevice {
        remember_for: Duration::from_secs(86_400),
    })
    .build();
    let c = challenge(per_device.begin(&me).await);
    let Step::Allow(allowed) = per_device.push(&me, &c, Duration::from_secs(10)).await else {
        panic!()
    };
    let mut device = me.clone();
    device.device_token = allowed.device_token.clone();
    assert!(device.device_token.is_some());
    assert!(
        matches!(per_device.begin(&device).await, Step::Allow(a) if matches!(a.reason, AllowReason::DuoAllowed(_)))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn duo_unreachable_fails_closed_unless_configured_open() {
    let sandbox = Sandbox::builder().users(5).start().await.unwrap();
    let mut app = sandbox.credentials().duo.auth.clone();
    sandbox.shutdown().await;
    // Nothing listens there any more; use a fresh closed port to be sure.
    app.api_host = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let login = Login::new("anyone", ip("192.0.2.9"));

    let closed = Gate::builder(client(&app), InMemoryLastAuthStore::default()).build();
    assert!(
        matches!(closed.begin(&login).await, Step::Deny(d) if d.reason == DenyReason::DuoUnavailable)
    );
    let open = Gate::builder(client(&app), InMemoryLastAuthStore::default())
        .fail_open(true)
        .build();
    assert!(
        matches!(open.begin(&login).await, Step::Allow(a) if matches!(a.reason, AllowReason::FailOpen(_)))
    );

    // Wrong credentials are not an outage: even a fail-open gate refuses.
    let sandbox = Sandbox::builder().users(5).start().await.unwrap();
    let mut wrong = sandbox.credentials().duo.auth.clone();
    wrong.secret_key = "wrong".into();
    let open = Gate::builder(client(&wrong), InMemoryLastAuthStore::default())
        .fail_open(true)
        .build();
    assert!(matches!(open.begin(&login).await, Step::Deny(d) if d.reason == DenyReason::DuoError));
    sandbox.shutdown().await;
}
