//! The Universal Prompt client: full round trips against the sandbox (HTTP and HTTPS), every
//! id_token rejection, configuration errors, redaction, a differential check of the authorize
//! URL against PyPI `duo-universal`, and properties of the validator.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::collections::{BTreeMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use duo_auth::Error;
use duo_auth::universal::{
    ContextResult, IdTokenError, PromptResult, UniversalClient, UniversalConfig,
    UniversalConfigError, UniversalError,
};
use hmac::{Hmac, KeyInit, Mac};
use idp_sandbox::Sandbox;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sha2::Sha512;

const CID: &str = "DIXXXXXXXXXXXXXXXXXX";
const SECRET: &str = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
const HOST: &str = "api-test.duosecurity.com";
const REDIRECT: &str = "https://portal.example/duo-callback";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config() -> UniversalConfig {
    UniversalConfig::new(CID, SECRET, HOST, REDIRECT).unwrap()
}

/// A compact JWS with the given header, signed with HMAC-SHA512 (empty signature when `key` is
/// `None`).
fn jws(header: &Value, claims: &Value, key: Option<&str>) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = match key {
        Some(k) => {
            let mut mac = Hmac::<Sha512>::new_from_slice(k.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            B64.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{input}.{signature}")
}

fn hs512(claims: &Value, key: &str) -> String {
    jws(&json!({"alg": "HS512", "typ": "JWT"}), claims, Some(key))
}

/// Decodes a JWT's claims after checking its HS512 signature with `key`.
fn verified_claims(token: &str, key: &str) -> Map<String, Value> {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS512");
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    mac.verify_slice(&B64.decode(parts[2]).unwrap()).unwrap();
    serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap()
}

/// What a rejection case expects of the error.
type Expect = fn(&IdTokenError) -> bool;

fn valid_claims(now: u64) -> Value {
    json!({
        "iss": format!("https://{HOST}/oauth/v1/token"),
        "aud": CID,
        "sub": "jane.doe",
        "exp": now + 300,
        "iat": now,
        "preferred_username": "jane.doe",
        "nonce": "a-nonce-of-enough-length",
        "auth_result": {"result": "allow", "status": "allow", "status_msg": "Login Successful"},
        "auth_context": {
            "txid": "tx-1", "factor": "duo_push", "reason": "user_approved", "result": "success",
            "timestamp": now, "user": {"name": "jane.doe", "key": "DU123"},
            "access_device": {"ip": "192.0.2.1", "hostname": null, "location": {"city": "Ann Arbor"}},
            "brand_new_field": {"x": 1}
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The sandbox round trip.

struct Browser {
    http: reqwest::Client,
}

impl Browser {
    /// Opens the prompt, presses `decision`, returns the callback's `duo_code` and `state`.
    async fn decide(&self, auth_url: &str, decision: &str) -> (String, String) {
        let page = self.http.get(auth_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let start = html.find("action=\"").unwrap() + "action=\"".len();
        let action = &html[start..start + html[start..].find('"').unwrap()];
        assert!(action.starts_with("/oauth/v1/authorize/"), "{action}");
        assert!(html.contains(&format!("name=\"decision\" value=\"{decision}\"")));
        let base = url::Url::parse(auth_url).unwrap();
        let answer = self
            .http
            .post(base.join(action).unwrap())
            .form(&[("decision", decision)])
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_redirection(), "{}", answer.status());
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let callback = url::Url::parse(&location).unwrap();
        let q: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
        (q["duo_code"].clone(), q["state"].clone())
    }
}

async fn round_trip(tls: bool) {
    let sandbox = Sandbox::builder().users(5).tls(tls).start().await.unwrap();
    let app = sandbox.credentials().duo.universal.clone();
    let username = sandbox.duo().users()[0].username.clone();
    let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if tls {
        let ca = reqwest::Certificate::from_pem(sandbox.ca_pem().unwrap().as_bytes()).unwrap();
        http = http.add_root_certificate(ca);
    }
    let http = http.build().unwrap();
    let client = UniversalClient::builder(
        app.client_id.as_str(),
        app.client_secret.as_str(),
        app.api_host.as_str(),
        REDIRECT,
    )
    .loopback_http(!tls)
    .http_client(http.clone())
    .build()
    .unwrap();
    let scheme = if tls { "https" } else { "http" };
    assert_eq!(
        client.config().base_url(),
        format!("{scheme}://{}", app.api_host)
    );
    let browser = Browser { http };

    client.health_check().await.unwrap();
    client.health_check().await.unwrap(); // a fresh jti each time

    // Approve, with a nonce.
    let state = client.generate_state();
    let nonce = client.generate_state();
    let url = client
        .create_auth_url(&username, &state, Some(&nonce))
        .unwrap();
    let (code, returned_state) = browser.decide(&url, "approve").await;
    client.check_state(&state, &returned_state).unwrap();
    assert!(matches!(
        client.check_state(&state, &client.generate_state()),
        Err(UniversalError::StateMismatch)
    ));
    let result = client
        .exchange_code(&code, &username, Some(&nonce))
        .await
        .unwrap();
    assert!(result.is_allowed());
    assert_eq!(result.auth_result.result, PromptResult::Allow);
    assert_eq!(result.preferred_username, username);
    assert_eq!(result.claims["nonce"], nonce.as_str());
    assert_eq!(result.auth_context.result, Some(ContextResult::Success));
    assert_eq!(result.auth_context.factor.as_deref(), Some("duo_push"));
    assert!(
        result
            .auth_context
            .txid
            .as_deref()
            .is_some_and(|t| !t.is_empty())
    );
    let user = result.auth_context.user.as_ref().unwrap();
    assert_eq!(user.name.as_deref(), Some(username.as_str()));
    assert_eq!(
        result
            .auth_context
            .access_device
            .as_ref()
            .unwrap()
            .ip
            .as_deref(),
        Some("127.0.0.1")
    );
    assert!(result.access_token.is_some());
    assert_eq!(result.token_type.as_deref(), Some("Bearer"));
    assert!(!format!("{result:?}").contains(result.access_token.as_ref().unwrap().expose_secret()));

    // The same code again is refused by Duo.
    match client.exchange_code(&code, &username, Some(&nonce)).await {
        Err(UniversalError::TokenRefused { status, error, .. }) => {
            assert_eq!(status, 400);
            assert_eq!(error, "invalid_grant");
        }
        other => panic!("a reused code: {other:?}"),
    }

    // Deny, without a nonce.
    let state = client.generate_state();
    let url = client.create_auth_url(&username, &state, None).unwrap();
    assert!(!url.contains("nonce="));
    let (code, returned_state) = browser.decide(&url, "deny").await;
    client.check_state(&state, &returned_state).unwrap();
    let result = client.exchange_code(&code, &username, None).await.unwrap();
    assert!(!result.is_allowed());
    assert_eq!(result.auth_result.result, PromptResult::Deny);

    // An approved login for one user is not accepted as another user's.
    let state = client.generate_state();
    let url = client.create_auth_url(&username, &state, None).unwrap();
    let (code, _) = browser.decide(&url, "approve").await;
    match client.exchange_code(&code, "someone.else", None).await {
        Err(UniversalError::IdToken(IdTokenError::Username)) => {}
        other => panic!("another user's token: {other:?}"),
    }

    // A wrong (well-formed) secret: the health check and the exchange are refused by Duo.
    let wrong = UniversalClient::builder(
        app.client_id.as_str(),
        "0123456789012345678901234567890123456789",
        app.api_host.as_str(),
        REDIRECT,
    )
    .loopback_http(!tls)
    .http_client(browser.http.clone())
    .build()
    .unwrap();
    match wrong.health_check().await {
        Err(UniversalError::Http(Error::Duo(e))) => assert_eq!(e.status, 400),
        other => panic!("health check with a wrong secret: {other:?}"),
    }
    match wrong.exchange_code("some-code", &username, None).await {
        Err(UniversalError::TokenRefused { error, .. }) => assert_eq!(error, "invalid_client"),
        other => panic!("exchange with a wrong secret: {other:?}"),
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn round_trip_over_loopback_http() {
    round_trip(false).await;
}

#[tokio::test]
async fn round_trip_over_https_with_the_sandbox_ca() {
    round_trip(true).await;
}

#[tokio::test]
async fn unreachable_host_is_a_transport_error() {
    let client = UniversalClient::builder(CID, SECRET, "127.0.0.1:1", REDIRECT)
        .loopback_http(true)
        .build()
        .unwrap();
    let err = client.health_check().await.unwrap_err();
    assert!(
        matches!(err, UniversalError::Http(Error::Transport(_))),
        "{err:?}"
    );
    assert!(err.is_transient());
}

// ---------------------------------------------------------------------------------------------
// The pure core.

#[test]
fn every_rejected_id_token_has_its_own_error() {
    let cfg = config();
    let now = now();
    let nonce = Some("a-nonce-of-enough-length");
    let check = |token: &str| cfg.validate_id_token(token, "jane.doe", nonce, now);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = valid_claims(now);
        f(&mut c);
        hs512(&c, SECRET)
    };

    let ok = check(&hs512(&valid_claims(now), SECRET)).unwrap();
    assert!(ok.is_allowed());
    assert_eq!(ok.auth_context.txid.as_deref(), Some("tx-1"));
    assert_eq!(ok.claims["auth_context"]["brand_new_field"]["x"], 1);
    // Within the leeway.
    assert!(check(&with(&|c| c["exp"] = json!(now - 59))).is_ok());
    assert!(check(&with(&|c| c["iat"] = json!(now + 59))).is_ok());
    // aud as a list, and Python's float times.
    assert!(check(&with(&|c| c["aud"] = json!(["other", CID]))).is_ok());
    assert!(check(&with(&|c| c["exp"] = json!(now as f64 + 299.5))).is_ok());
    // No nonce sent: a token with one is fine.
    assert!(
        cfg.validate_id_token(&hs512(&valid_claims(now), SECRET), "jane.doe", None, now)
            .is_ok()
    );

    let header = json!({"alg": "HS512", "typ": "JWT"});
    let cases: Vec<(&str, String, Expect)> = vec![
        (
            "wrong secret",
            hs512(
                &valid_claims(now),
                "0123456789012345678901234567890123456789",
            ),
            |e| matches!(e, IdTokenError::Signature),
        ),
        (
            "tampered claims",
            {
                let t = hs512(&valid_claims(now), SECRET);
                let parts: Vec<&str> = t.split('.').collect();
                let mut c = valid_claims(now);
                c["preferred_username"] = json!("mallory");
                format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2])
            },
            |e| matches!(e, IdTokenError::Signature),
        ),
        (
            "alg none",
            jws(
                &json!({"alg": "none", "typ": "JWT"}),
                &valid_claims(now),
                None,
            ),
            |e| matches!(e, IdTokenError::Algorithm(a) if a == "none"),
        ),
        (
            "alg HS256",
            jws(&json!({"alg": "HS256"}), &valid_claims(now), Some(SECRET)),
            |e| matches!(e, IdTokenError::Algorithm(a) if a == "HS256"),
        ),
        (
            "wrong aud",
            with(&|c| c["aud"] = json!("DIYYYYYYYYYYYYYYYYYY")),
            |e| matches!(e, IdTokenError::Audience),
        ),
        (
            "wrong iss",
            with(&|c| c["iss"] = json!("https://evil.example/oauth/v1/token")),
            |e| matches!(e, IdTokenError::Issuer { .. }),
        ),
        ("expired", with(&|c| c["exp"] = json!(now - 61)), |e| {
            matches!(e, IdTokenError::Expired { .. })
        }),
        (
            "issued in the future",
            with(&|c| c["iat"] = json!(now + 61)),
            |e| matches!(e, IdTokenError::IssuedInFuture { .. }),
        ),
        (
            "not yet valid",
            with(&|c| c["nbf"] = json!(now + 120)),
            |e| matches!(e, IdTokenError::NotYetValid { .. }),
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            |e| matches!(e, IdTokenError::MissingClaim("exp")),
        ),
        (
            "wrong username",
            with(&|c| c["preferred_username"] = json!("mallory")),
            |e| matches!(e, IdTokenError::Username),
        ),
        (
            "wrong nonce",
            with(&|c| c["nonce"] = json!("another-nonce-of-length")),
            |e| matches!(e, IdTokenError::Nonce),
        ),
        (
            "malformed",
            format!("{}.bm90IGpzb24.", B64.encode(header.to_string())),
            |e| matches!(e, IdTokenError::Malformed(_) | IdTokenError::Signature),
        ),
        ("two parts", "abc.def".to_owned(), |e| {
            matches!(e, IdTokenError::Malformed(_))
        }),
    ];
    let mut kinds = HashSet::new();
    for (name, token, expected) in &cases {
        let err = check(token).expect_err(name);
        assert!(expected(&err), "{name}: {err:?}");
        kinds.insert(std::mem::discriminant(&err));
        // Wrapped for callers of exchange_code, and displayed without secrets.
        let wrapped = UniversalError::from(err);
        assert!(!wrapped.to_string().contains(SECRET));
    }
    // wrong secret, alg, aud, iss, expired, future, nbf, missing, username, nonce, malformed.
    assert_eq!(kinds.len(), 11, "distinct error kinds");
    // Missing nonce when one was sent.
    assert_eq!(
        check(&with(&|c| {
            c.as_object_mut().unwrap().remove("nonce");
        }))
        .unwrap_err(),
        IdTokenError::Nonce
    );
    // A token claiming the loopback-HTTP issuer is refused by an HTTPS client.
    assert!(matches!(
        check(&with(
            &|c| c["iss"] = json!(format!("http://{HOST}/oauth/v1/token"))
        )),
        Err(IdTokenError::Issuer { .. })
    ));
}

#[test]
fn authorize_url_and_request_object() {
    let cfg = config();
    let now = now();
    let state = "s".repeat(22);
    let url = cfg
        .create_auth_url(
            "jane doe+x@example.com",
            &state,
            Some("n".repeat(16).as_str()),
            now,
        )
        .unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(
        format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap(),
            parsed.path()
        ),
        format!("https://{HOST}/oauth/v1/authorize")
    );
    let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let names: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["response_type", "client_id", "request", "nonce"]);
    assert_eq!(q[0].1, "code");
    assert_eq!(q[1].1, CID);
    let claims = verified_claims(&q[2].1, SECRET);
    assert_eq!(
        Value::Object(claims),
        json!({
            "scope": "openid",
            "redirect_uri": REDIRECT,
            "client_id": CID,
            "iss": CID,
            "aud": format!("https://{HOST}"),
            "exp": now + 300,
            "state": state,
            "response_type": "code",
            "duo_uname": "jane doe+x@example.com",
            "use_duo_code_attribute": true,
        })
    );

    // Bounds: state 22..=1024 (ours), nonce 16..=1024, a username.
    let ok = |s: usize, n: Option<usize>| {
        let nonce = n.map(|n| "n".repeat(n));
        cfg.create_auth_url("jane", &"s".repeat(s), nonce.as_deref(), now)
    };
    assert!(ok(22, None).is_ok() && ok(1024, Some(16)).is_ok() && ok(36, Some(1024)).is_ok());
    assert!(matches!(ok(21, None), Err(UniversalError::StateLength(21))));
    assert!(matches!(
        ok(1025, None),
        Err(UniversalError::StateLength(1025))
    ));
    assert!(matches!(
        ok(36, Some(15)),
        Err(UniversalError::NonceLength(15))
    ));
    assert!(matches!(
        ok(36, Some(1025)),
        Err(UniversalError::NonceLength(1025))
    ));
    assert!(matches!(
        cfg.create_auth_url("", &state, None, now),
        Err(UniversalError::EmptyUsername)
    ));
}

#[test]
fn client_assertions_are_fresh_and_well_formed() {
    let client = UniversalClient::builder(CID, SECRET, HOST, REDIRECT)
        .build()
        .unwrap();
    let cfg = client.config();
    let now = now();
    let form = cfg.health_check_form(now, "j".repeat(36).as_str());
    assert_eq!(form[0], ("client_id", CID.to_owned()));
    let claims = verified_claims(&form[1].1, SECRET);
    assert_eq!(
        Value::Object(claims),
        json!({"iss": CID, "sub": CID, "aud": format!("https://{HOST}/oauth/v1/health_check"),
               "exp": now + 300, "jti": "j".repeat(36)})
    );
    let form = cfg
        .token_form("the-code", now, "k".repeat(36).as_str())
        .unwrap();
    let names: Vec<&str> = form.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "code",
            "redirect_uri",
            "client_id",
            "client_assertion_type",
            "client_assertion"
        ]
    );
    assert_eq!(form[0].1, "authorization_code");
    assert_eq!(form[2].1, REDIRECT);
    assert_eq!(
        form[4].1,
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let claims = verified_claims(&form[5].1, SECRET);
    assert_eq!(claims["aud"], format!("https://{HOST}/oauth/v1/token"));
    assert!(matches!(
        cfg.token_form("", now, "k"),
        Err(UniversalError::EmptyCode)
    ));

    // Generated states: 36 alphanumerics, never repeated.
    let states: HashSet<String> = (0..200).map(|_| client.generate_state()).collect();
    assert_eq!(states.len(), 200);
    assert!(
        states
            .iter()
            .all(|s| s.len() >= 36 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
    );
}

#[test]
fn configuration_errors_are_typed() {
    let build = |cid: &str, secret: &str, host: &str, redirect: &str| {
        UniversalClient::builder(cid, secret, host, redirect).build()
    };
    let cfg_err = |r: Result<UniversalClient, UniversalError>| match r {
        Err(UniversalError::Config(e)) => e,
        other => panic!("expected a config error: {other:?}"),
    };
    assert_eq!(
        cfg_err(build("DIXX", SECRET, HOST, REDIRECT)),
        UniversalConfigError::ClientId(4)
    );
    assert_eq!(
        cfg_err(build(CID, "short", HOST, REDIRECT)),
        UniversalConfigError::ClientSecret(5)
    );
    assert!(matches!(
        cfg_err(build(CID, SECRET, "https://api-x.duosecurity.com", REDIRECT)),
        UniversalConfigError::ApiHost { reason, .. } if reason.contains("scheme")
    ));
    assert!(matches!(
        cfg_err(build(CID, SECRET, "", REDIRECT)),
        UniversalConfigError::ApiHost { .. }
    ));
    for bad in [
        "/relative/path",
        "ftp://portal.example/cb",
        "https://portal.example/cb#frag",
        "not a url",
    ] {
        assert!(
            matches!(
                cfg_err(build(CID, SECRET, HOST, bad)),
                UniversalConfigError::RedirectUri { .. }
            ),
            "{bad}"
        );
    }
    // Plain HTTP: only for loopback hosts.
    let err = UniversalClient::builder(CID, SECRET, HOST, REDIRECT)
        .loopback_http(true)
        .build();
    assert_eq!(
        cfg_err(err),
        UniversalConfigError::PlainHttp(HOST.to_owned())
    );
    for host in ["127.0.0.1:8443", "localhost:1", "[::1]:9"] {
        let c = UniversalClient::builder(CID, SECRET, host, "http://127.0.0.1/cb")
            .loopback_http(true)
            .build()
            .unwrap();
        assert_eq!(
            c.config().token_url(),
            format!("http://{host}/oauth/v1/token")
        );
    }
    // Pasted values are trimmed.
    let c = build(
        &format!(" {CID}\n"),
        &format!("{SECRET} "),
        " api-x.duosecurity.com ",
        REDIRECT,
    )
    .unwrap();
    assert_eq!(c.config().client_id(), CID);
    assert_eq!(c.config().client_secret().expose_secret(), SECRET);
}

#[test]
fn debug_never_shows_the_secret() {
    let builder = UniversalClient::builder(CID, SECRET, HOST, REDIRECT);
    let shown_builder = format!("{builder:?}");
    let client = builder.build().unwrap();
    let shown = format!(
        "{client:?} {client:#?} {:?} {shown_builder}",
        client.config()
    );
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("deadbeef"), "{shown}");
    assert!(shown.contains("[redacted]"));
    assert!(shown.contains(CID));
}

#[test]
fn token_answers_that_are_not_tokens() {
    use duo_auth::transport::RawResponse;
    let cfg = config();
    let raw = |status: u16, body: &str| RawResponse {
        status,
        content_type: Some("application/json".to_owned()),
        body: body.as_bytes().to_vec(),
    };
    let now = now();
    let parse = |r: RawResponse| cfg.parse_token_response(&r, "jane.doe", None, now);
    assert!(matches!(
        parse(raw(400, r#"{"error":"invalid_grant","error_description":"used"}"#)),
        Err(UniversalError::TokenRefused { status: 400, ref error, ref description })
            if error == "invalid_grant" && description.as_deref() == Some("used")
    ));
    assert!(matches!(
        parse(raw(400, r#"{"stat":"FAIL","code":40002,"message":"bad"}"#)),
        Err(UniversalError::Http(Error::Duo(_)))
    ));
    assert!(matches!(
        parse(raw(502, "<html>bad gateway</html>")),
        Err(UniversalError::Http(Error::UnexpectedResponse {
            status: 502,
            ..
        }))
    ));
    // A 200 without id_token: the body (which may hold tokens) is not copied into the error.
    match parse(raw(200, r#"{"access_token":"SECRET-TOKEN"}"#)) {
        Err(UniversalError::Http(Error::UnexpectedResponse { body, .. })) => {
            assert!(!body.contains("SECRET-TOKEN"));
        }
        other => panic!("{other:?}"),
    }
    let good = json!({"id_token": hs512(&valid_claims(now), SECRET), "access_token": "at",
                      "expires_in": 3600, "token_type": "Bearer"});
    let r = parse(raw(200, &good.to_string())).unwrap();
    assert_eq!(r.expires_in, Some(3600));
    // Health check answers.
    assert!(
        cfg.parse_health_check(&raw(200, r#"{"stat":"OK"}"#))
            .is_ok()
    );
    assert!(
        cfg.parse_health_check(&raw(200, r#"{"stat":"FAIL","code":40002,"message":"x"}"#))
            .is_err()
    );
    assert!(cfg.parse_health_check(&raw(200, "not json")).is_err());
}

// ---------------------------------------------------------------------------------------------
// Differential: PyPI duo-universal 2.3.1 and PyJWT.

#[test]
fn authorize_url_matches_duo_universal() {
    let Some(python) = test_support::peer_python(
        "authorize_url_matches_duo_universal",
        &["duo_universal", "jwt"],
    ) else {
        return;
    };
    let script = test_support::workspace_root().join("duo-auth/tests/peers/universal_peer.py");
    let cfg =
        UniversalConfig::new(CID, SECRET, HOST, "https://portal.example/cb?x=1&y=a b").unwrap();
    let cases = [
        ("jane.doe", "abcdefghijklmnopqrstuvwxyz0123456789", None),
        (
            "Jöhn Dœ+tag@example.com",
            "state with spaces & symbols/?=;%éü-0123456789",
            Some("nonce-with-~*'!()-0123456789"),
        ),
    ];
    for (username, state, nonce) in cases {
        let now = now();
        let ours = cfg.create_auth_url(username, state, nonce, now).unwrap();
        let assertion = cfg.client_assertion(&cfg.token_url(), now, &"q".repeat(36));
        let input = json!({
            "client_id": CID, "client_secret": SECRET, "api_host": HOST,
            "redirect_uri": cfg.redirect_uri(), "username": username, "state": state,
            "nonce": nonce, "our_url": ours, "our_assertion": assertion,
            "assertion_audience": cfg.token_url(),
        });
        let out = test_support::run_peer(&python, &script, input.to_string().as_bytes());
        let r: Value = serde_json::from_slice(&out.stdout).expect("the peer prints JSON");
        assert!(
            r.get("error").is_none(),
            "peer: {}",
            r["error"].as_str().unwrap_or_default()
        );

        let (theirs, ours) = (&r["theirs"], &r["ours"]);
        assert_eq!(theirs["endpoint"], ours["endpoint"]);
        assert_eq!(theirs["header"], ours["header"]);
        // Same query parameters, same values but the (differently timed) request object.
        let strip = |v: &Value| {
            let mut q = v["query"].as_object().unwrap().clone();
            q.remove("request");
            q
        };
        assert_eq!(strip(theirs), strip(ours));
        assert_eq!(
            ours["query"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            theirs["query"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>()
        );
        // Same claims but exp; exp is now + 300 for both.
        let mut their_claims = theirs["claims"].as_object().unwrap().clone();
        let mut our_claims = ours["claims"].as_object().unwrap().clone();
        let their_exp = their_claims.remove("exp").unwrap().as_f64().unwrap();
        let our_exp = our_claims.remove("exp").unwrap().as_f64().unwrap();
        assert_eq!(their_claims, our_claims);
        assert!((their_exp - our_exp).abs() < 5.0, "{their_exp} {our_exp}");
        assert_eq!(our_exp, (now + 300) as f64);

        // Our client assertion: PyJWT verifies it, with duo-universal's claim names.
        let mut ours_a: Vec<String> = r["assertion"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut theirs_a: Vec<String> = r["their_assertion"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        ours_a.sort();
        theirs_a.sort();
        assert_eq!(ours_a, theirs_a);
        assert_eq!(r["assertion"]["iss"], CID);
        assert_eq!(r["assertion"]["sub"], CID);
        assert_eq!(r["assertion"]["aud"], cfg.token_url().as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "aud",
            "iss",
            "exp",
            "iat",
            "nbf",
            "nonce",
            "preferred_username",
            "auth_result",
            "allow",
            "deny",
            CID,
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "aud",
                    "iss",
                    "exp",
                    "iat",
                    "nbf",
                    "nonce",
                    "preferred_username",
                    "auth_result",
                    "auth_context",
                    "result",
                    "status",
                    "status_msg",
                    "txid",
                    "user",
                    "access_device",
                    "ip",
                    "location",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_never_panics_on_strings(token in ".{0,200}", dots in "[A-Za-z0-9_\\-]{0,40}(\\.[A-Za-z0-9_\\-]{0,40}){0,4}") {
        let cfg = config();
        let _ = cfg.validate_id_token(&token, "jane.doe", Some("a-nonce-of-enough-length"), now());
        let _ = cfg.validate_id_token(&dots, "jane.doe", None, now());
    }

    #[test]
    fn validation_never_panics_on_signed_claims(
        claims in arb_json(),
        mix in any::<bool>(),
        time in prop_oneof![any::<u64>(), (0u64..900).prop_map(|d| now() - 400 + d)],
    ) {
        let cfg = config();
        // Signed with the right key: every check past the signature sees arbitrary claims.
        let mut c = claims;
        if mix && let Value::Object(m) = &mut c {
            let valid = valid_claims(now());
            for (k, v) in valid.as_object().unwrap() {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let token = hs512(&c, SECRET);
        let result = cfg.validate_id_token(&token, "jane.doe", Some("a-nonce-of-enough-length"), time);
        if let Ok(r) = result {
            // Accepted only when every check holds.
            let m = c.as_object().unwrap();
            prop_assert_eq!(m["preferred_username"].as_str(), Some("jane.doe"));
            prop_assert_eq!(m["nonce"].as_str(), Some("a-nonce-of-enough-length"));
            let iss = format!("https://{HOST}/oauth/v1/token");
            prop_assert_eq!(m["iss"].as_str(), Some(iss.as_str()));
            prop_assert!(m["exp"].as_f64().unwrap() > time as f64 - 60.0);
            prop_assert!(m["iat"].as_f64().unwrap() <= time as f64 + 60.0);
            prop_assert_eq!(r.preferred_username, "jane.doe");
        }
    }

    #[test]
    fn token_answers_never_panic(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..256)) {
        use duo_auth::transport::RawResponse;
        let cfg = config();
        let raw = RawResponse { status, content_type: None, body };
        let _ = cfg.parse_token_response(&raw, "jane.doe", None, now());
        let _ = cfg.parse_health_check(&raw);
    }
}
