//! No Duo secret anywhere a secret must not be, for the Admin API client: not in anything
//! `tracing` or `log` were told at any level, TRACE included (the prefetching listings log from
//! tasks of their own and decode on the blocking pool: the subscriber is process-wide, so those
//! threads are heard too), not in the `Display`, `Debug` or alternate `Debug` of any error, not
//! in the `Debug` of the builder or the client.
//!
//! The flows are real, against the sandbox through a relay that keeps a copy of the traffic:
//! every listing, the writes, then every kind of failure. The secrets looked for are the secret
//! keys given (and a wrong one) and every `Authorization` the traffic carried, with the signature
//! in it. One test in this file.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use duo_admin::{AdminClient, NewUser};
use duo_auth::Credentials;
use duo_auth::retry::RetryPolicy;
use duo_auth::transport::Limits;
use futures::TryStreamExt as _;
use idp_sandbox::{Fault, FaultKind, Sandbox};
use test_support::hostile::{self, answer, serve};
use test_support::relay::relay;
use test_support::secrets::{Audit, capture_everything, in_traffic};

const WRONG_SKEY: &str = "Wr0ngWr0ngWr0ngWr0ngWr0ngWr0ngWr0ngWr0ng";

fn admin(creds: Credentials, limits: Limits) -> AdminClient {
    AdminClient::builder(creds)
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .page_retries(0)
        .timeout(Duration::from_secs(10))
        .limits(limits)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_tracing_errors_or_debug() {
    let captured = capture_everything();
    let mut audit = Audit::new();
    let mut secrets = vec![WRONG_SKEY.to_owned()];

    let sb = Sandbox::builder()
        .users(700)
        .groups(3)
        .start()
        .await
        .unwrap();
    let wire = relay(sb.http_addr()).await;
    let app = sb.credentials().duo.admin.clone();
    secrets.push(app.secret_key.clone());
    let keyed = |host: &str| {
        Credentials::new(app.integration_key.as_str(), app.secret_key.as_str(), host).unwrap()
    };
    let builder = AdminClient::builder(keyed(&wire.host)).loopback_http(true);
    audit.debug("AdminClientBuilder", &builder);
    let client = builder.build().unwrap();
    audit.debug("AdminClient", &client);

    // Every listing (several pages of users, prefetched), the writes.
    let users: Vec<_> = client.users().try_collect().await.unwrap();
    assert!(users.len() >= 700);
    let groups: Vec<_> = client.groups().try_collect().await.unwrap();
    let _: Vec<_> = client.phones().try_collect().await.unwrap();
    let _: Vec<_> = client.admins().try_collect().await.unwrap();
    let _: Vec<_> = client
        .group_members(&groups[0].group_id)
        .try_collect()
        .await
        .unwrap();
    let created = client
        .create_user(&NewUser::new("audit.new").email("audit.new@example.com"))
        .await
        .unwrap();
    client
        .add_user_to_group(&created.user_id, &groups[0].group_id)
        .await
        .unwrap();
    client
        .bulk_create(&[NewUser::new("audit.bulk")])
        .await
        .unwrap();
    audit.debug("User", &created);

    // Duo's errors: a wrong key (401), 429, 5xx, a body that is no JSON, one cut short, a
    // connection dropped mid-body, an offset that repeats.
    let wrong = admin(
        Credentials::new(app.integration_key.as_str(), WRONG_SKEY, wire.host.as_str()).unwrap(),
        Limits::default(),
    );
    let err = AdminClient::collect(wrong.users()).await.unwrap_err();
    assert_eq!(err.duo_code(), Some(40103), "{err:?}");
    audit.error("401", &err);
    let plain = admin(keyed(&wire.host), Limits::default());
    for (kind, what) in [
        (FaultKind::TooManyRequests, "429"),
        (FaultKind::ServerError(503), "503"),
        (FaultKind::InvalidJson, "not JSON"),
        (FaultKind::TruncatedBody, "truncated"),
        (FaultKind::DropConnection, "dropped"),
        (FaultKind::RepeatCursor, "an offset that repeats"),
    ] {
        sb.faults()
            .inject(Fault::new("/admin/v1/users", kind).times(1));
        let err = AdminClient::collect(plain.users()).await.unwrap_err();
        audit.error(what, &err);
    }

    // The bounds, against the hostile server (which keeps what it was sent).
    let mut limits = Limits::default();
    limits.max_body_bytes = 64 * 1024;
    limits.stall_timeout = Duration::from_millis(300);
    limits.max_pages = 2;
    let mut hostile_servers = Vec::new();
    let server = serve(hostile::sized_body(1 << 20, false)).await;
    let err = AdminClient::collect(admin(keyed(&server.host), limits).users())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            duo_admin::Error::Duo(duo_auth::Error::BodyTooLarge { .. })
        ),
        "{err:?}"
    );
    audit.error("body too large", &err);
    hostile_servers.push(server);
    let server = serve(hostile::stalled_body()).await;
    let err = AdminClient::collect(admin(keyed(&server.host), limits).users())
        .await
        .unwrap_err();
    audit.error("stalled", &err);
    hostile_servers.push(server);
    let server = serve(|mut s| {
        Box::pin(async move {
            let body = br#"{"stat":"OK","response":[],"metadata":{"next_offset":99999}}"#;
            answer(&mut s, "200 OK", &[], body).await;
        })
    })
    .await;
    let err = AdminClient::collect(admin(keyed(&server.host), limits).groups())
        .await
        .unwrap_err();
    audit.error("offset does not advance", &err);
    hostile_servers.push(server);
    let server = serve(hostile::redirect("http://192.0.2.1/admin/v1/users".into())).await;
    let err = AdminClient::collect(admin(keyed(&server.host), limits).users())
        .await
        .unwrap_err();
    audit.error("redirect", &err);
    hostile_servers.push(server);

    // Everything the wire carried is a secret to look for.
    secrets.extend(in_traffic(&wire.traffic()));
    for server in &hostile_servers {
        for request in server.requests() {
            secrets.extend(in_traffic(&request.text));
        }
    }
    let logged = captured.text();
    for expected in ["Duo page", "reqwest::connect", "hyper_util"] {
        assert!(
            logged.contains(expected),
            "{expected} missing from the capture"
        );
    }
    audit.text("tracing and log output", logged);
    assert!(secrets.len() > 30, "{} secrets", secrets.len());
    audit.assert_clean(&secrets);
}
