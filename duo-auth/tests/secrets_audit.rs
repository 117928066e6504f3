//! No Duo secret anywhere a secret must not be: not in anything `tracing` or `log` were told at
//! any level, TRACE included, from this crate or the HTTP stack; not in the `Display`, `Debug`
//! or alternate `Debug` of any error; not in the `Debug` of any credential, configuration,
//! client, request option or result.
//!
//! The flows are real: the Auth API and the Universal Prompt against the sandbox, through a
//! relay that keeps a copy of the traffic, and the bounds against the hostile server. The
//! secrets looked for are the keys given (secret key, client secret, a wrong key of each) and
//! every credential the traffic carried — each `Authorization` header and the signature in it,
//! each client assertion, each access and id token — plus the passcode, the remembered-device
//! token and the activation code. One test in this file: the subscriber is process-wide.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use duo_auth::client::{AuthOptions, Factor, PreauthOptions, PushOptions, UserRef};
use duo_auth::gate::Login;
use duo_auth::retry::RetryPolicy;
use duo_auth::transport::{Limits, TransportConfig};
use duo_auth::universal::UniversalClient;
use duo_auth::{AuthClient, Credentials, SecretKey};
use idp_sandbox::{Fault, FaultKind, Sandbox};
use test_support::hostile::{self, answer, serve};
use test_support::relay::relay;
use test_support::secrets::{Audit, capture_everything, in_traffic};

const REDIRECT: &str = "https://portal.example/duo-callback";
const WRONG_SKEY: &str = "Wr0ngWr0ngWr0ngWr0ngWr0ngWr0ngWr0ngWr0ng";
const PASSCODE: &str = "9081726354453627";
const DEVICE_TOKEN: &str = "tdt-Q2hhbmdlTWVQbGVhc2VJdHNBVG9rZW4";
const HOSTILE_ACCESS_TOKEN: &str = "at-SGVyZUlzQW5BY2Nlc3NUb2tlbkZvclRlc3Rz";

fn auth_client(creds: Credentials, limits: Limits) -> AuthClient {
    AuthClient::builder(creds)
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(10))
        .limits(limits)
        .build()
        .unwrap()
}

/// Opens the prompt at `auth_url`, approves, returns the callback's `duo_code`.
async fn approve(http: &reqwest::Client, auth_url: &str) -> String {
    let html = http
        .get(auth_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("action=\"").unwrap() + "action=\"".len();
    let action = &html[start..start + html[start..].find('"').unwrap()];
    let base = url::Url::parse(auth_url).unwrap();
    let answer = http
        .post(base.join(action).unwrap())
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    let location = answer.headers()["location"].to_str().unwrap();
    let q: BTreeMap<String, String> = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    q["duo_code"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_tracing_errors_or_debug() {
    let captured = capture_everything();
    let mut audit = Audit::new();
    let mut secrets: Vec<String> = [WRONG_SKEY, PASSCODE, DEVICE_TOKEN, HOSTILE_ACCESS_TOKEN]
        .map(str::to_owned)
        .to_vec();

    let sb = Sandbox::builder().users(5).start().await.unwrap();
    let wire = relay(sb.http_addr()).await;
    let app = sb.credentials().duo.auth.clone();
    secrets.push(app.secret_key.clone());
    let username = sb.duo().users()[0].username.clone();
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        wire.host.as_str(),
    )
    .unwrap();
    audit.debug("Credentials", &creds);
    audit.debug("SecretKey", &SecretKey::new(app.secret_key.clone()));
    audit.debug(
        "TransportConfig",
        &TransportConfig::new(creds.clone(), "audit"),
    );
    let builder = AuthClient::builder(creds.clone()).loopback_http(true);
    audit.debug("AuthClientBuilder", &builder);
    let client = builder.build().unwrap();
    audit.debug("AuthClient", &client);
    audit.debug("Transport", client.transport());
    audit.debug("Signer", client.transport().signer());

    // The Auth API, signed with the known key: every call, through the relay.
    client.ping().await.unwrap();
    client.check().await.unwrap();
    audit.debug("Diagnosis", &client.verify().await);
    let user = UserRef::from(username.as_str());
    let options = PreauthOptions {
        trusted_device_token: Some(DEVICE_TOKEN.to_owned()),
        ..PreauthOptions::default()
    };
    audit.debug("PreauthOptions", &options);
    audit.debug("Preauth", &client.preauth(&user, &options).await.unwrap());
    let passcode = Factor::Passcode(PASSCODE.to_owned());
    audit.debug("Factor::Passcode", &passcode);
    let no_options = AuthOptions::default();
    audit.debug(
        "AuthResponse (passcode)",
        &client.auth(&user, &passcode, &no_options).await,
    );
    let pushed = client
        .push_and_wait(
            &user,
            PushOptions::default(),
            &no_options,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    audit.debug("AuthResponse (push)", &pushed);
    let enrollment = client.enroll(None, None).await.unwrap();
    secrets.push(enrollment.activation_code.clone());
    audit.debug("Enrollment", &enrollment);
    let mut login = Login::new(username.as_str(), "192.0.2.1".parse().unwrap());
    login.device_token = Some(DEVICE_TOKEN.to_owned());
    audit.debug("Login", &login);

    // Duo's errors: a wrong key (401), 429, 5xx, a body that is no JSON, one cut short, a
    // connection dropped mid-body.
    let wrong = auth_client(
        Credentials::new(app.integration_key.as_str(), WRONG_SKEY, wire.host.as_str()).unwrap(),
        Limits::default(),
    );
    audit.debug("AuthClient (wrong key)", &wrong);
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.duo_code(), Some(40103), "{err:?}");
    audit.error("401", &err);
    let quick = auth_client(creds.clone(), Limits::default());
    for (kind, what) in [
        (FaultKind::TooManyRequests, "429"),
        (FaultKind::ServerError(503), "503"),
        (FaultKind::InvalidJson, "not JSON"),
        (FaultKind::TruncatedBody, "truncated"),
        (FaultKind::DropConnection, "dropped"),
    ] {
        sb.faults()
            .inject(Fault::new("/auth/v2/check", kind).times(1));
        let err = quick.check().await.unwrap_err();
        audit.error(what, &err);
    }

    // The bounds, against the hostile server (which keeps what it was sent).
    let mut limits = Limits::default();
    limits.max_body_bytes = 64 * 1024;
    limits.stall_timeout = Duration::from_millis(300);
    let mut hostile_servers = Vec::new();
    let keyed = |host: &str| {
        Credentials::new(app.integration_key.as_str(), app.secret_key.as_str(), host).unwrap()
    };
    let server = serve(hostile::sized_body(1 << 20, false)).await;
    let err = auth_client(keyed(&server.host), limits)
        .check()
        .await
        .unwrap_err();
    assert!(
        matches!(err, duo_auth::Error::BodyTooLarge { .. }),
        "{err:?}"
    );
    audit.error("body too large", &err);
    hostile_servers.push(server);
    let server = serve(hostile::stalled_body()).await;
    let err = auth_client(keyed(&server.host), limits)
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, duo_auth::Error::Stalled { .. }), "{err:?}");
    audit.error("stalled", &err);
    hostile_servers.push(server);
    let server = serve(hostile::redirect("http://192.0.2.1/".into())).await;
    let err = auth_client(keyed(&server.host), limits)
        .check()
        .await
        .unwrap_err();
    audit.error("redirect", &err);
    hostile_servers.push(server);
    let silent = serve(hostile::black_hole()).await;
    let client = AuthClient::builder(keyed(&silent.host))
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    audit.error("timeout", &client.check().await.unwrap_err());
    hostile_servers.push(silent);

    // The Universal Prompt: health check, the authorize URL, the code exchange.
    let universal = sb.credentials().duo.universal.clone();
    secrets.push(universal.client_secret.clone());
    let builder = UniversalClient::builder(
        universal.client_id.as_str(),
        universal.client_secret.as_str(),
        wire.host.as_str(),
        REDIRECT,
    )
    .loopback_http(true);
    audit.debug("UniversalClientBuilder", &builder);
    let prompt = builder.build().unwrap();
    audit.debug("UniversalClient", &prompt);
    audit.debug("UniversalConfig", prompt.config());
    prompt.health_check().await.unwrap();
    let state = prompt.generate_state();
    let url = prompt.create_auth_url(&username, &state, None).unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let code = approve(&browser, &url).await;
    let result = prompt.exchange_code(&code, &username, None).await.unwrap();
    assert!(result.access_token.is_some());
    audit.debug("TokenResult", &result);
    // The same code again (refused), another user's login, a wrong secret.
    audit.error(
        "a code used twice",
        &prompt
            .exchange_code(&code, &username, None)
            .await
            .unwrap_err(),
    );
    let code = approve(
        &browser,
        &prompt.create_auth_url(&username, &state, None).unwrap(),
    )
    .await;
    audit.error(
        "another user's token",
        &prompt
            .exchange_code(&code, "someone.else", None)
            .await
            .unwrap_err(),
    );
    let wrong = UniversalClient::builder(
        universal.client_id.as_str(),
        WRONG_SKEY,
        wire.host.as_str(),
        REDIRECT,
    )
    .loopback_http(true)
    .build()
    .unwrap();
    audit.error(
        "health check, wrong secret",
        &wrong.health_check().await.unwrap_err(),
    );
    audit.error(
        "exchange, wrong secret",
        &wrong
            .exchange_code("some-code", &username, None)
            .await
            .unwrap_err(),
    );

    // Token answers that are wrong in every way, each holding an access token.
    for (status, body) in [
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","token_type":"Bearer"}}"#),
        ),
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","id_token":"x.y.z"}}"#),
        ),
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","id_token":17,"expires_in":-1}}"#),
        ),
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}""#),
        ),
        (
            "500 Internal Server Error",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}"}}"#),
        ),
        (
            "401 Unauthorized",
            format!(
                r#"{{"stat":"FAIL","code":40103,"message":"no","access_token":"{HOSTILE_ACCESS_TOKEN}"}}"#
            ),
        ),
    ] {
        let server = serve(move |mut s| {
            let body = body.clone();
            Box::pin(async move {
                let json = [("Content-Type", "application/json")];
                answer(&mut s, status, &json, body.as_bytes()).await;
            })
        })
        .await;
        let prompt = UniversalClient::builder(
            universal.client_id.as_str(),
            universal.client_secret.as_str(),
            server.host.as_str(),
            REDIRECT,
        )
        .loopback_http(true)
        .build()
        .unwrap();
        let err = prompt
            .exchange_code("a-code", &username, None)
            .await
            .unwrap_err();
        audit.error(&format!("token answer {status}"), &err);
        hostile_servers.push(server);
    }

    // Everything the wire carried is a secret to look for; the audit must have seen a lot.
    let traffic = wire.traffic();
    assert!(
        traffic.contains("client_assertion="),
        "the relay saw the exchange"
    );
    secrets.extend(in_traffic(&traffic));
    for server in &hostile_servers {
        for request in server.requests() {
            secrets.extend(in_traffic(&format!(
                "{}\r\n\r\n{}",
                request.text, request.body
            )));
        }
    }
    let logged = captured.text();
    // What was caught: this crate's spans and events, reqwest's `log` records, hyper's events.
    for expected in [
        "duo_push",
        "duo universal prompt request",
        "reqwest::connect",
        "hyper_util",
    ] {
        assert!(
            logged.contains(expected),
            "{expected} missing from the capture"
        );
    }
    audit.text("tracing and log output", logged);
    assert!(secrets.len() > 30, "{} secrets", secrets.len());
    audit.assert_clean(&secrets);
}
