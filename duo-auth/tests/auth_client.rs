//! The Auth API client against the sandbox: every endpoint, verify's diagnoses, and every retry
//! path through the sandbox's faults.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use duo_auth::client::{
    AuthOptions, AuthResult, AuthStatus, Capability, EnrollStatus, Factor, PreauthOptions,
    PreauthResult, PushOptions, UserRef,
};
use duo_auth::retry::RetryPolicy;
use duo_auth::runtime::{Runtime, SleepFuture};
use duo_auth::{AuthClient, Credentials, Diagnosis, Error};
use idp_sandbox::duo::Behaviour;
use idp_sandbox::{DuoApplication, Fault, FaultKind, Sandbox};

/// A runtime that records sleeps instead of waiting, with a settable clock offset.
#[derive(Debug, Default)]
struct FakeRuntime {
    sleeps: Mutex<Vec<Duration>>,
    clock_offset_secs: i64,
}

impl Runtime for FakeRuntime {
    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        if self.clock_offset_secs >= 0 {
            now + Duration::from_secs(self.clock_offset_secs as u64)
        } else {
            now - Duration::from_secs(self.clock_offset_secs.unsigned_abs())
        }
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        self.sleeps.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.5
    }
}

fn client_for(app: &DuoApplication, runtime: Arc<FakeRuntime>) -> AuthClient {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    AuthClient::builder(creds)
        .loopback_http(true)
        .runtime(runtime)
        .build()
        .unwrap()
}

fn user(name: &str) -> UserRef {
    UserRef::Username(name.to_owned())
}

#[tokio::test]
async fn every_endpoint_against_the_sandbox() {
    let sandbox = Sandbox::builder().users(60).start().await.unwrap();
    let duo = sandbox.duo();
    let client = client_for(&sandbox.credentials().duo.auth, Arc::default());

    let t = client.ping().await.unwrap();
    assert!(t.time > 1_700_000_000);
    assert!(client.check().await.unwrap().time >= t.time);
    assert!(client.logo().await.unwrap().starts_with(b"\x89PNG"));

    // Enrollment, then the new user can authenticate. The activation waits for as long as the
    // delay is an hour, and completes at the next poll once it is zero.
    duo.set_enroll_delay(Duration::from_secs(3600));
    let enrollment = client
        .enroll(Some("fresh.person"), Some(3600))
        .await
        .unwrap();
    assert_eq!(enrollment.username, "fresh.person");
    assert_eq!(
        client
            .enroll_status(&enrollment.user_id, &enrollment.activation_code)
            .await
            .unwrap(),
        EnrollStatus::Waiting
    );
    assert_eq!(
        client
            .enroll_status(&enrollment.user_id, "duo://nope")
            .await
            .unwrap(),
        EnrollStatus::Invalid
    );
    duo.set_enroll_delay(Duration::ZERO);
    assert_eq!(
        client
            .enroll_status(&enrollment.user_id, &enrollment.activation_code)
            .await
            .unwrap(),
        EnrollStatus::Success
    );
    let duplicate = client.enroll(Some("fresh.person"), None).await.unwrap_err();
    assert_eq!(duplicate.duo_code(), Some(40003));

    let users = duo.users();
    let active = users
        .iter()
        .find(|u| u.status == "active" && !u.phones.is_empty())
        .unwrap();
    let me = user(&active.username);
    let pre = client
        .preauth(&me, &PreauthOptions::default())
        .await
        .unwrap();
    assert_eq!(pre.result, PreauthResult::Auth);
    assert!(pre.devices.iter().any(|d| d.can(&Capability::Push)));
    let unenrolled = users
        .iter()
        .find(|u| u.status == "active" && u.phones.is_empty())
        .unwrap();
    assert_eq!(
        client
            .preauth(&user(&unenrolled.username), &Default::default())
            .await
            .unwrap()
            .result,
        PreauthResult::Enroll
    );
    let bypass = users.iter().find(|u| u.status == "bypass").unwrap();
    assert_eq!(
        client
            .preauth(&user(&bypass.username), &Default::default())
            .await
            .unwrap()
            .result,
        PreauthResult::Allow
    );
    let disabled = users.iter().find(|u| u.status == "disabled").unwrap();
    assert_eq!(
        client
            .preauth(&user(&disabled.username), &Default::default())
            .await
            .unwrap()
            .result,
        PreauthResult::Deny
    );
    assert_eq!(
        client
            .preauth(
                &UserRef::UserId(active.user_id.clone()),
                &Default::default()
            )
            .await
            .unwrap()
            .result,
        PreauthResult::Auth
    );

    // Push: approved (with a trusted-device token), denied, timed out.
    let opts = AuthOptions {
        ipaddr: Some("203.0.113.7".into()),
        hostname: None,
    };
    let approved = client.auth(&me, &Factor::push(), &opts).await.unwrap();
    assert_eq!(
        (approved.result.clone(), approved.status.clone()),
        (AuthResult::Allow, AuthStatus::Allow)
    );
    let token = approved.trusted_device_token.unwrap();
    let remembered = client
        .preauth(
            &me,
            &PreauthOptions {
                trusted_device_token: Some(token),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(remembered.result, PreauthResult::Allow);
    duo.set_behaviour(&active.username, Behaviour::Deny);
    assert_eq!(
        client
            .auth(&me, &Factor::push(), &opts)
            .await
            .unwrap()
            .result,
        AuthResult::Deny
    );
    duo.set_push_timeout(Duration::from_millis(200));
    duo.set_behaviour(&active.username, Behaviour::Timeout);
    let timed_out = client.auth(&me, &Factor::push(), &opts).await.unwrap();
    assert_eq!(
        (timed_out.result, timed_out.status),
        (AuthResult::Deny, AuthStatus::Timeout)
    );

    // Passcodes right and wrong; SMS; phone.
    assert_eq!(
        client
            .auth(&me, &Factor::Passcode(active.passcode.clone()), &opts)
            .await
            .unwrap()
            .result,
        AuthResult::Allow
    );
    assert_eq!(
        client
            .auth(&me, &Factor::Passcode("999999x".into()), &opts)
            .await
            .unwrap()
            .result,
        AuthResult::Deny
    );
    let sms = client
        .auth(
            &me,
            &Factor::Sms {
                device: "auto".into(),
            },
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(sms.status, AuthStatus::Sent);
    duo.set_behaviour(&active.username, Behaviour::Approve);
    assert_eq!(
        client
            .auth(
                &me,
                &Factor::Phone {
                    device: "auto".into()
                },
                &opts
            )
            .await
            .unwrap()
            .result,
        AuthResult::Allow
    );

    // Async push, awaited: approved after a delay; then a deadline shorter than the answer.
    duo.set_push_timeout(Duration::from_secs(60));
    duo.set_behaviour(
        &active.username,
        Behaviour::ApproveAfter(Duration::from_millis(300)),
    );
    let push = PushOptions {
        display_username: Some("Jane".into()),
        pushinfo: vec![("from".into(), "portal".into())],
        ..Default::default()
    };
    let answer = client
        .push_and_wait(&me, push.clone(), &opts, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(answer.result, AuthResult::Allow);
    // The answer would come in an hour: nothing can beat the 400 ms deadline.
    duo.set_push_timeout(Duration::from_secs(7200));
    duo.set_behaviour(
        &active.username,
        Behaviour::ApproveAfter(Duration::from_secs(3600)),
    );
    let late = client
        .push_and_wait(&me, push, &opts, Duration::from_millis(400))
        .await
        .unwrap_err();
    assert!(matches!(late, Error::Timeout(_)), "{late:?}");

    // Invalid input gets Duo's 40002 as a typed error.
    let err = client
        .auth(&user("no.such.user"), &Factor::push(), &opts)
        .await
        .unwrap_err();
    assert_eq!(err.duo_code(), Some(40002));
    assert!(matches!(err, Error::Duo(ref e) if e.status == 400 && e.message_detail.is_some()));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn verify_names_each_misconfiguration() {
    let sandbox = Sandbox::builder().users(5).start().await.unwrap();
    let creds = &sandbox.credentials().duo;
    // The skew is Duo's clock minus ours after the round trip, so a stalled machine adds its
    // stall: the tolerance (30 s) is wide for that, and still far from the 600 s case below.
    let ok = client_for(&creds.auth, Arc::default()).verify().await;
    assert!(
        matches!(ok, Diagnosis::Ok { clock_skew_secs } if clock_skew_secs.abs() <= 30),
        "{ok:?}"
    );

    let mut wrong_secret = creds.auth.clone();
    wrong_secret.secret_key = "wrong".into();
    assert_eq!(
        client_for(&wrong_secret, Arc::default()).verify().await,
        Diagnosis::WrongSecretKey
    );
    let mut unknown = creds.auth.clone();
    unknown.integration_key = "DIUNKNOWNUNKNOWNUNKN".into();
    assert_eq!(
        client_for(&unknown, Arc::default()).verify().await,
        Diagnosis::UnknownIntegrationKey
    );
    assert_eq!(
        client_for(&creds.admin, Arc::default()).verify().await,
        Diagnosis::WrongIntegrationType
    );
    let skewed = Arc::new(FakeRuntime {
        clock_offset_secs: -600,
        ..Default::default()
    });
    let d = client_for(&creds.auth, skewed).verify().await;
    assert!(
        matches!(d, Diagnosis::ClockSkew { clock_skew_secs } if (570..=630).contains(&clock_skew_secs)),
        "{d:?}"
    );
    assert!(d.to_string().contains("clock"));

    // A host where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut nowhere = creds.auth.clone();
    nowhere.api_host = closed.to_string();
    assert!(matches!(
        client_for(&nowhere, Arc::default()).verify().await,
        Diagnosis::Unreachable(_)
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retries_follow_the_policy_through_sandbox_faults() {
    let sandbox = Sandbox::builder().users(5).start().await.unwrap();
    let app = &sandbox.credentials().duo.auth;
    let faults = sandbox.faults();

    // A burst shorter than Duo's schedule: three 429s, then success, after 1, 2 and 4 s (+0.5 s jitter).
    faults.inject(Fault::new("/auth/v2/check", FaultKind::TooManyRequests).times(3));
    let runtime = Arc::new(FakeRuntime::default());
    client_for(app, runtime.clone()).check().await.unwrap();
    let secs: Vec<f64> = runtime
        .sleeps
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs_f64)
        .collect();
    assert_eq!(secs, [1.5, 2.5, 4.5]);

    // Longer than the schedule: seven requests, then the 429 reaches the caller.
    faults.inject(Fault::new("/auth/v2/check", FaultKind::TooManyRequests).times(10));
    let runtime = Arc::new(FakeRuntime::default());
    let err = client_for(app, runtime.clone()).check().await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { attempts: 7, ref last } if last.code == Some(42901)),
        "{err:?}"
    );
    assert_eq!(runtime.sleeps.lock().unwrap().len(), 6);
    faults.clear();

    // 5xx: an error by default, retried when the policy says so.
    faults.inject(Fault::new("/auth/v2/check", FaultKind::ServerError(503)).times(1));
    let err = client_for(app, Arc::default()).check().await.unwrap_err();
    assert!(
        matches!(err, Error::Duo(ref e) if e.status == 503) && err.is_transient(),
        "{err:?}"
    );
    faults.inject(Fault::new("/auth/v2/check", FaultKind::ServerError(503)).times(2));
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    let runtime = Arc::new(FakeRuntime::default());
    let patient = AuthClient::builder(creds.clone())
        .loopback_http(true)
        .runtime(runtime.clone())
        .retry_policy(RetryPolicy {
            retry_server_errors: true,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    patient.check().await.unwrap();
    assert_eq!(runtime.sleeps.lock().unwrap().len(), 2);

    // No retries at all.
    faults.inject(Fault::new("/auth/v2/check", FaultKind::TooManyRequests).times(1));
    let strict = AuthClient::builder(creds.clone())
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(matches!(
        strict.check().await.unwrap_err(),
        Error::RateLimited { attempts: 1, .. }
    ));

    // A truncated body and a body that is not JSON: typed errors keeping the raw body.
    faults.inject(Fault::new("/auth/v2/check", FaultKind::TruncatedBody).times(1));
    assert!(matches!(
        client_for(app, Arc::default()).check().await.unwrap_err(),
        Error::UnexpectedResponse { status: 200, .. }
    ));
    faults.inject(Fault::new("/auth/v2/check", FaultKind::InvalidJson).times(1));
    let err = client_for(app, Arc::default()).check().await.unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedResponse { ref body, .. } if body.contains("not json")),
        "{err:?}"
    );

    // A connection dropped mid-body, and a response that does not come before the timeout.
    faults.inject(Fault::new("/auth/v2/check", FaultKind::DropConnection).times(1));
    assert!(matches!(
        client_for(app, Arc::default()).check().await.unwrap_err(),
        Error::Transport(_)
    ));
    // Held until the sandbox stops: no answer can beat the timeout.
    faults.inject(Fault::new("/auth/v2/check", FaultKind::Hold).times(1));
    let hasty = AuthClient::builder(creds)
        .loopback_http(true)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(
        matches!(hasty.check().await.unwrap_err(), Error::Timeout(d) if d == Duration::from_millis(200))
    );

    // Plain HTTP is refused for anything but loopback.
    let remote = Credentials::new("DIXX", "s", "api-x.duosecurity.com").unwrap();
    assert!(matches!(
        AuthClient::builder(remote).loopback_http(true).build(),
        Err(Error::Config(_))
    ));
    sandbox.shutdown().await;
}
