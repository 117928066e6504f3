//! No Okta secret anywhere a secret must not be: not in anything `tracing` or `log` were told at
//! any level, TRACE included, from this crate or the HTTP stack; not in the `Display`, `Debug`
//! or alternate `Debug` of any error; not in the `Debug` of any credential, key, configuration,
//! client or token request.
//!
//! The flows are real, against the sandbox: SSWS, `private_key_jwt` and DPoP (nonce challenge,
//! expired token, retries), then every kind of failure — 401, 429, 5xx, malformed bodies, and
//! against the hostile server the bounds (body cap, stall, paging) and token answers that are
//! wrong in every way. The secrets looked for are the API tokens and keys given, and every
//! credential that went over the wire (the sandbox's request log, the hostile server's record):
//! `Authorization` values, access tokens, client assertions, DPoP proofs and their signatures.
//! One test in this file: the subscriber is process-wide.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use idp_sandbox::okta::OktaRequest;
use idp_sandbox::{Fault, FaultKind, Sandbox};
use okta_client::key::PrivateKey;
use okta_client::rate_limit::RetryPolicy;
use okta_client::{
    ApiToken, Credentials, Dpop, GroupQuery, Limits, OktaClient, OktaDomain, PrivateKeyJwt,
};
use test_support::hostile::{self, answer, serve};
use test_support::secrets::{Audit, capture_everything, in_key, in_traffic};

const WRONG_TOKEN: &str = "00WrongWrongWrongWrongWrongWrongWrongWrong";
const HOSTILE_ACCESS_TOKEN: &str = "eyJhbGciOiJub25lIn0.SG9zdGlsZUFjY2Vzc1Rva2Vu.c2lnbmF0dXJl";

/// What went over the wire to the sandbox, as raw text for [`in_traffic`].
fn logged_traffic(log: &[OktaRequest]) -> String {
    let mut out = String::new();
    for r in log {
        for name in ["authorization", "dpop"] {
            if let Some(v) = r.header(name) {
                out.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        if let Some(a) = r.form_param("client_assertion") {
            out.push_str(&format!("\r\nclient_assertion={a}\r\n"));
        }
    }
    out
}

fn no_retries() -> RetryPolicy {
    RetryPolicy::new().with_max_retries(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_tracing_errors_or_debug() {
    let captured = capture_everything();
    let mut audit = Audit::new();
    let mut secrets: Vec<String> = vec![WRONG_TOKEN.to_owned(), HOSTILE_ACCESS_TOKEN.to_owned()];

    let sb = Sandbox::builder()
        .seed(5)
        .users(40)
        .groups(3)
        .start()
        .await
        .unwrap();
    sb.okta().record_requests(true);
    let creds = sb.credentials().okta.clone();
    let domain: OktaDomain = creds.org_url.parse().unwrap();
    secrets.push(creds.api_token.clone());
    let quick = RetryPolicy::new().with_base_delay(Duration::from_millis(1));

    // SSWS: a listing through a 429.
    let token = ApiToken::new(&creds.api_token).unwrap();
    audit.debug("ApiToken", &token);
    let builder = OktaClient::builder(domain.clone(), token.clone()).retry_policy(quick);
    audit.debug("OktaClientBuilder (SSWS)", &builder);
    let ssws = builder.build().unwrap();
    audit.debug("OktaClient (SSWS)", &ssws);
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::TooManyRequests).times(1));
    let groups = ssws.groups(&GroupQuery::new().limit(2)).await.unwrap();
    let gid = groups[0].id.clone();

    // private_key_jwt with the PEM key.
    let app = &creds.bearer_rsa;
    secrets.extend(in_key(&app.key.private_pem, Some(&app.key.private_jwk)));
    let key = PrivateKey::from_pem(&app.key.private_pem)
        .unwrap()
        .with_kid(&app.key.kid);
    audit.debug("PrivateKey (PEM)", &key);
    let jwt_builder = PrivateKeyJwt::builder(&app.client_id, key).scopes(&app.scopes);
    audit.debug("PrivateKeyJwtBuilder", &jwt_builder);
    let jwt = jwt_builder.build().unwrap();
    audit.debug("PrivateKeyJwt", &jwt);
    let request = jwt
        .token_request(&format!("{}/oauth2/v1/token", creds.org_url), 1_700_000_000)
        .unwrap();
    secrets.extend(in_traffic(&format!("\r\n{}", request.form_body())));
    audit.debug("TokenRequest", &request);
    let bearer = OktaClient::builder(domain.clone(), jwt.clone())
        .retry_policy(quick)
        .build()
        .unwrap();
    audit.debug("OktaClient (private_key_jwt)", &bearer);
    bearer.group_members(&gid).await.unwrap();
    audit.debug("TokenInfo", &bearer.token_info().await.unwrap());

    // DPoP with the JWK key and a proof key of our own: nonce challenges, an expired token,
    // a 503 retried, a snapshot.
    let app = &creds.dpop_rsa;
    secrets.extend(in_key(&app.key.private_pem, Some(&app.key.private_jwk)));
    let proof_key = PrivateKey::generate_p256().unwrap();
    secrets.extend(in_key(&proof_key.to_pkcs8_pem().unwrap(), None));
    let client_key = PrivateKey::from_jwk(&app.key.private_jwk).unwrap();
    audit.debug("PrivateKey (JWK)", &client_key);
    let client_auth = PrivateKeyJwt::builder(&app.client_id, client_key)
        .scopes(&app.scopes)
        .build()
        .unwrap();
    let dpop_builder = Dpop::builder(client_auth).dpop_key(proof_key);
    audit.debug("DpopBuilder", &dpop_builder);
    let dpop_creds = dpop_builder.build().unwrap();
    audit.debug("Dpop", &dpop_creds);
    audit.debug("Credentials", &Credentials::from(dpop_creds.clone()));
    let request = dpop_creds
        .token_request(
            &format!("{}/oauth2/v1/token", creds.org_url),
            1_700_000_000,
            Some("n"),
        )
        .unwrap();
    secrets.extend(in_traffic(&format!(
        "DPoP: {}\r\n\r\n{}",
        request.dpop_header().unwrap(),
        request.form_body()
    )));
    audit.debug("TokenRequest (DPoP)", &request);
    let dpop = OktaClient::builder(domain.clone(), dpop_creds)
        .member_page_limit(7)
        .retry_policy(quick)
        .build()
        .unwrap();
    audit.debug("OktaClient (DPoP)", &dpop);
    sb.okta().set_resource_nonce_required(true);
    dpop.token_info().await.unwrap();
    sb.okta().expire_tokens();
    sb.faults().inject(
        Fault::new("/api/v1/groups/", FaultKind::ServerError(503))
            .after(1)
            .times(1),
    );
    let ids: Vec<String> = sb.okta().groups().into_iter().map(|g| g.id).collect();
    audit.debug(
        "DirectorySnapshot",
        &dpop.directory_snapshot(&ids, 2).await.unwrap(),
    );

    // Okta's errors: a wrong token (401), a wrong client key (invalid_client), 429 and 5xx
    // with retries off, a body that is no JSON, one cut short, a connection dropped mid-body.
    let wrong = OktaClient::builder(domain.clone(), ApiToken::new(WRONG_TOKEN).unwrap())
        .retry_policy(no_retries())
        .build()
        .unwrap();
    let err = wrong.groups(&GroupQuery::default()).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err:?}");
    audit.error("401", &err);
    let stranger = PrivateKey::generate_p256().unwrap();
    secrets.extend(in_key(&stranger.to_pkcs8_pem().unwrap(), None));
    let unknown = OktaClient::builder(
        domain.clone(),
        PrivateKeyJwt::builder(&creds.bearer_rsa.client_id, stranger)
            .scopes(&creds.bearer_rsa.scopes)
            .build()
            .unwrap(),
    )
    .retry_policy(no_retries())
    .build()
    .unwrap();
    audit.error(
        "a key Okta does not know",
        &unknown.groups(&GroupQuery::default()).await.unwrap_err(),
    );
    let plain = OktaClient::builder(domain.clone(), token.clone())
        .retry_policy(no_retries())
        .build()
        .unwrap();
    for (kind, what) in [
        (FaultKind::TooManyRequests, "429"),
        (FaultKind::ServerError(500), "500"),
        (FaultKind::InvalidJson, "not JSON"),
        (FaultKind::TruncatedBody, "truncated"),
        (FaultKind::DropConnection, "dropped"),
        (FaultKind::RepeatCursor, "a cursor that repeats"),
    ] {
        sb.faults()
            .inject(Fault::new("/api/v1/groups", kind).times(1));
        let err = plain.groups(&GroupQuery::new().limit(1)).await.unwrap_err();
        audit.error(what, &err);
    }

    // The bounds, against the hostile server (which keeps what it was sent).
    let mut hostile_servers = Vec::new();
    let mut limits = Limits::default();
    limits.max_body_bytes = 64 * 1024;
    limits.stall_timeout = Duration::from_millis(300);
    limits.max_pages = 2;
    let against = |host: &str, credentials: Credentials| {
        OktaClient::builder(format!("http://{host}").parse().unwrap(), credentials)
            .retry_policy(no_retries())
            .limits(limits)
            .build()
            .unwrap()
    };
    let server = serve(hostile::sized_body(1 << 20, false)).await;
    let err = against(&server.host, token.clone().into())
        .groups(&GroupQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, okta_client::Error::BodyTooLarge { .. }),
        "{err:?}"
    );
    audit.error("body too large", &err);
    hostile_servers.push(server);
    let server = serve(hostile::stalled_body()).await;
    let err = against(&server.host, token.clone().into())
        .groups(&GroupQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, okta_client::Error::Stalled { .. }), "{err:?}");
    audit.error("stalled", &err);
    hostile_servers.push(server);
    for link in [
        "<http://192.0.2.1/api/v1/groups?after=x>; rel=\"next\"",
        "</api/v1/groups?after=again>; rel=\"next\"",
    ] {
        let server = serve(move |mut s| {
            Box::pin(async move {
                let body =
                    br#"[{"id":"00g1","type":"OKTA_GROUP","profile":{"name":"Engineering"}}]"#;
                let headers = [("Content-Type", "application/json"), ("Link", link)];
                answer(&mut s, "200 OK", &headers, body).await;
            })
        })
        .await;
        let err = against(&server.host, token.clone().into())
            .groups(&GroupQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(err, okta_client::Error::Paging { .. }), "{err:?}");
        audit.error("paging", &err);
        hostile_servers.push(server);
    }
    let server = serve(hostile::redirect("http://192.0.2.1/api/v1/groups".into())).await;
    let err = against(&server.host, token.clone().into())
        .groups(&GroupQuery::default())
        .await
        .unwrap_err();
    audit.error("redirect", &err);
    hostile_servers.push(server);

    // Token answers wrong in every way, each with an access token in it (private_key_jwt, so
    // that each request carries a client assertion the hostile server keeps).
    for (status, body) in [
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}"}}"#),
        ),
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","token_type":"MAC"}}"#),
        ),
        (
            "200 OK",
            format!(
                r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","token_type":"Bearer","expires_in":18446744073709551615}}"#
            ),
        ),
        (
            "200 OK",
            format!(
                r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","token_type":"Bearer","expires_in":0}}"#
            ),
        ),
        (
            "200 OK",
            format!(
                r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}","token_type":"Bearer","expires_in":"soon"}}"#
            ),
        ),
        (
            "200 OK",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN} x","token_type":"Bearer"}}"#),
        ),
        (
            "200 OK",
            format!(r#"{{"token_type":"Bearer","access_token":"{HOSTILE_ACCESS_TOKEN}""#),
        ),
        (
            "200 OK",
            format!(r#"{{"access_token":["{HOSTILE_ACCESS_TOKEN}"],"token_type":"Bearer"}}"#),
        ),
        (
            "500 Internal Server Error",
            format!(r#"{{"access_token":"{HOSTILE_ACCESS_TOKEN}"}}"#),
        ),
        (
            "400 Bad Request",
            format!(r#"{{"error":"invalid_client","access_token":"{HOSTILE_ACCESS_TOKEN}"}}"#),
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
        let err = against(&server.host, jwt.clone().into())
            .groups(&GroupQuery::default())
            .await
            .unwrap_err();
        audit.error(&format!("token answer {status}"), &err);
        hostile_servers.push(server);
    }

    // Everything the wire carried is a secret to look for.
    let log = sb.okta().requests();
    assert!(
        log.iter().any(|r| r.header("dpop").is_some()),
        "DPoP proofs were sent"
    );
    secrets.extend(in_traffic(&logged_traffic(&log)));
    for server in &hostile_servers {
        for request in server.requests() {
            secrets.extend(in_traffic(&format!(
                "{}\r\n\r\n{}",
                request.text, request.body
            )));
        }
    }
    let logged = captured.text();
    for expected in [
        "okta.token",
        "okta.list",
        "retrying Okta request",
        "reqwest::connect",
        "hyper_util",
    ] {
        assert!(
            logged.contains(expected),
            "{expected} missing from the capture"
        );
    }
    audit.text("tracing and log output", logged);
    assert!(secrets.len() > 50, "{} secrets", secrets.len());
    audit.assert_clean(&secrets);
}
