//! No panic on any response body, and secrets never in Debug output or tracing events.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use duo_auth::client::{AuthResponse, Device, EnrollStatus, Enrollment, Preauth, Time};
use duo_auth::transport::{RawResponse, parse_envelope};
use proptest::prelude::*;
use serde_json::Value;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("allow"),
            Just("deny"),
            Just("auth"),
            Just("enroll"),
            Just("waiting"),
            Just("push")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("result"),
                        Just("status"),
                        Just("status_msg"),
                        Just("devices"),
                        Just("capabilities"),
                        Just("device"),
                        Just("time"),
                        Just("stat"),
                        Just("response"),
                        Just("code"),
                        Just("message")
                    ]
                    .prop_map(str::to_owned),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn envelope_parsing_never_panics(body in prop::collection::vec(any::<u8>(), 0..256), status in 0u16..700) {
        let _ = parse_envelope(&RawResponse { status, content_type: None, body }, 1);
    }

    #[test]
    fn decoders_never_panic(v in arbitrary_json(), status in prop_oneof![Just(200u16), Just(400), Just(429), Just(503)]) {
        let wrapped = serde_json::json!({"stat": "OK", "response": v.clone()});
        let _ = parse_envelope(&RawResponse { status, content_type: None, body: wrapped.to_string().into_bytes() }, 1);
        let _ = parse_envelope(&RawResponse { status, content_type: None, body: v.to_string().into_bytes() }, 1);
        let _ = serde_json::from_value::<Preauth>(v.clone());
        let _ = serde_json::from_value::<AuthResponse>(v.clone());
        let _ = serde_json::from_value::<Device>(v.clone());
        let _ = serde_json::from_value::<Enrollment>(v.clone());
        let _ = serde_json::from_value::<EnrollStatus>(v.clone());
        let _ = serde_json::from_value::<Time>(v);
    }
}

/// A writer that keeps everything the tracing subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_stay_out_of_debug_and_tracing() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (secret, debug) = rt.block_on(async {
        let sandbox = idp_sandbox::Sandbox::builder()
            .users(5)
            .fault(
                idp_sandbox::Fault::new("/auth/v2/check", idp_sandbox::FaultKind::TooManyRequests)
                    .times(1),
            )
            .start()
            .await
            .unwrap();
        let app = sandbox.credentials().duo.auth.clone();
        let creds = duo_auth::Credentials::new(
            app.integration_key.as_str(),
            app.secret_key.as_str(),
            app.api_host.as_str(),
        )
        .unwrap();
        let client = duo_auth::AuthClient::builder(creds.clone())
            .loopback_http(true)
            .retry_policy(duo_auth::retry::RetryPolicy {
                initial_delay: std::time::Duration::from_millis(1),
                jitter: std::time::Duration::ZERO,
                ..Default::default()
            })
            .build()
            .unwrap();
        client.check().await.unwrap();
        let _ = client
            .preauth(
                &duo_auth::client::UserRef::Username("x".into()),
                &Default::default(),
            )
            .await;
        let gate = duo_auth::gate::Gate::builder(
            client.clone(),
            duo_auth::policy::ip::InMemoryLastAuthStore::default(),
        )
        .build();
        let signed = client
            .transport()
            .signer()
            .sign(&duo_auth::sign::Request::get("/x"), "d")
            .unwrap();
        let debug = format!(
            "{creds:?} {client:?} {gate:?} {signed:?} {:?}",
            client.transport()
        );
        sandbox.shutdown().await;
        (app.secret_key, debug)
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying Duo request"),
        "tracing was captured: {logs}"
    );
    for (what, text) in [("Debug output", &debug), ("tracing output", &logs)] {
        assert!(!text.contains(&secret), "the secret key leaked into {what}");
        assert!(
            !text.contains("Authorization: Basic") && !text.contains("Basic RE"),
            "an Authorization header leaked into {what}"
        );
    }
    assert!(debug.contains("[redacted]"));
}

/// The first-hour mistake: the sandbox's plain-HTTP port without `loopback_http(true)`. The
/// client speaks TLS to it; the error must say what to change, not only "handshake failed".
#[tokio::test]
async fn https_to_a_plain_http_loopback_host_names_loopback_http() {
    let sandbox = idp_sandbox::Sandbox::builder()
        .users(1)
        .start()
        .await
        .unwrap();
    let app = &sandbox.credentials().duo.auth;
    let creds = duo_auth::Credentials::try_from(app).unwrap();
    let client = duo_auth::AuthClient::builder(creds.clone())
        .retry_policy(duo_auth::retry::RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.check().await.unwrap_err();
    assert!(matches!(err, duo_auth::Error::Transport(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(".loopback_http(true)"), "{text}");

    // With it, the same credentials work; a refused plain-HTTP connection carries no hint.
    let client = duo_auth::AuthClient::builder(creds)
        .loopback_http(true)
        .build()
        .unwrap();
    client.check().await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = closed.local_addr().unwrap().to_string();
    drop(closed);
    let nobody = duo_auth::Credentials::new("DIXX", "s", host.as_str()).unwrap();
    let err = duo_auth::AuthClient::builder(nobody)
        .retry_policy(duo_auth::retry::RetryPolicy::none())
        .loopback_http(true)
        .build()
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, duo_auth::Error::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains("loopback_http"), "{err}");
}
