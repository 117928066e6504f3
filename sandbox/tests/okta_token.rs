//! The Okta token endpoint and resource-API authentication: what must be accepted and, above
//! all, what must be refused (client assertions, DPoP proofs, nonces, token binding, scopes,
//! admin roles). JWS are built with AWS-LC here; the SDK's own client signs with RustCrypto.
#![allow(clippy::unwrap_used)]

mod okta_helpers;

use okta_helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn bearer_app_gets_a_bearer_token_that_reads_groups() {
    let sb = start(20, 3).await;
    let okta = &sb.credentials().okta;
    let r = token_request(
        &sb,
        &assertion(&okta.bearer_rsa, &okta.token_url),
        "okta.groups.read okta.users.read",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.body["scope"], "okta.groups.read okta.users.read");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.body["access_token"].as_str().unwrap();

    let g = get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.body.as_array().unwrap().len(), 4);
    for h in [
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
        "x-okta-request-id",
        "date",
    ] {
        assert!(g.header(h).is_some(), "missing {h}");
    }
    assert_eq!(g.header("content-type"), Some("application/json"));
    let c = sb.okta().counters();
    assert_eq!(
        (c.token_requests, c.tokens_issued, c.groups_requests),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn replayed_assertion_jti_is_refused() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let a = assertion(&okta.bearer_rsa, &okta.token_url);
    assert_eq!(
        token_request(&sb, &a, "okta.groups.read", None)
            .await
            .status,
        200
    );
    let again = token_request(&sb, &a, "okta.groups.read", None).await;
    assert_eq!(again.status, 401);
    assert_eq!(again.oauth_error(), "invalid_client");
    assert!(
        again.body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );
}

#[tokio::test]
async fn assertion_lifetime_is_enforced() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.bearer_rsa;
    let t = now();
    type Case<'a> = (&'a str, Vec<(&'a str, Value)>, u16);
    let cases: [Case; 6] = [
        (
            "expired",
            vec![("iat", json!(t - 400)), ("exp", json!(t - 10))],
            401,
        ),
        (
            "exp more than an hour ahead",
            vec![("exp", json!(t + 3700))],
            401,
        ),
        ("exp missing", vec![("exp", Value::Null)], 401),
        ("exp not a number", vec![("exp", json!("soon"))], 401),
        ("iat in the future", vec![("iat", json!(t + 600))], 401),
        (
            "fifty minutes, as the Python SDK does",
            vec![("exp", json!(t + 3000))],
            200,
        ),
    ];
    for (name, edit, status) in cases {
        let r = token_request(
            &sb,
            &assertion_with(app, &app.key, &okta.token_url, &edit),
            "okta.groups.read",
            None,
        )
        .await;
        assert_eq!(r.status, status, "{name}: {}", r.text);
        if status == 401 {
            assert_eq!(r.oauth_error(), "invalid_client", "{name}");
        }
    }
}

#[tokio::test]
async fn assertion_audience_keys_and_claims_are_checked() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.bearer_rsa;
    let url = okta.token_url.as_str();
    let bad_aud = [
        format!("{}/oauth2/default/v1/token", okta.org_url),
        format!("{url}/"),
        okta.org_url.clone(),
        url.replace("http://", "https://"),
    ];
    for aud in &bad_aud {
        let r = token_request(
            &sb,
            &assertion_with(app, &app.key, aud, &[]),
            "okta.groups.read",
            None,
        )
        .await;
        assert_eq!(
            (r.status, r.oauth_error()),
            (401, "invalid_client"),
            "aud {aud}: {}",
            r.text
        );
        assert!(r.text.contains("audience"), "{}", r.text);
    }
    // aud as an array holding the token URL is fine (RFC 7519 §4.1.3).
    let r = token_request(
        &sb,
        &assertion_with(app, &app.key, url, &[("aud", json!([url]))]),
        "okta.groups.read",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let t = now();
    let claims = |iss: &str, sub: &str| json!({"iss": iss, "sub": sub, "aud": url, "iat": t, "exp": t + 300, "jti": jti()});
    let own = signer_for(&app.key);
    let other = signer_for(&okta.dpop_rsa.key);
    let hdr = |kid: &str| json!({"alg": "RS256", "kid": kid});
    let id = app.client_id.as_str();
    let cases = [
        (
            "unknown kid",
            sign_jws(&hdr("not-a-key"), &claims(id, id), own.as_ref()),
        ),
        (
            "wrong signing key",
            sign_jws(&hdr(&app.key.kid), &claims(id, id), other.as_ref()),
        ),
        (
            "iss differs from sub",
            sign_jws(&hdr(&app.key.kid), &claims(id, "someone"), own.as_ref()),
        ),
        (
            "unknown client",
            sign_jws(
                &hdr(&app.key.kid),
                &claims("0oanobody", "0oanobody"),
                own.as_ref(),
            ),
        ),
        (
            "alg none",
            format!(
                "{}.",
                sign_jws(&json!({"alg": "none"}), &claims(id, id), own.as_ref())
                    .rsplit_once('.')
                    .unwrap()
                    .0
            ),
        ),
        (
            "alg HS256",
            sign_jws(
                &json!({"alg": "HS256", "kid": app.key.kid}),
                &claims(id, id),
                own.as_ref(),
            ),
        ),
        (
            "alg ES256 on an RSA key",
            sign_jws(
                &json!({"alg": "ES256", "kid": app.key.kid}),
                &claims(id, id),
                own.as_ref(),
            ),
        ),
        (
            "RS384 header, RS256 signature",
            sign_jws(
                &json!({"alg": "RS384", "kid": app.key.kid}),
                &claims(id, id),
                own.as_ref(),
            ),
        ),
        (
            "no jti",
            sign_jws(
                &hdr(&app.key.kid),
                &{
                    let mut c = claims(id, id);
                    c.as_object_mut().unwrap().remove("jti");
                    c
                },
                own.as_ref(),
            ),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
        ("two parts", "eyJhbGciOiJSUzI1NiJ9.e30".to_owned()),
        (
            "payload not JSON",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln".to_owned(),
        ),
    ];
    for (name, jwt) in cases {
        let r = token_request(&sb, &jwt, "okta.groups.read", None).await;
        assert_eq!(
            (r.status, r.oauth_error()),
            (401, "invalid_client"),
            "{name}: {}",
            r.text
        );
    }
    // Several keys: the kid is required; each key verifies only its own algorithm.
    let ec = &okta.dpop_ec;
    let no_kid = sign_jws(
        &json!({"alg": "ES256"}),
        &claims(&ec.client_id, &ec.client_id),
        signer_for(&ec.key).as_ref(),
    );
    let r = token_request(&sb, &no_kid, "okta.groups.read", None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("kid"), "{}", r.text);
}

#[tokio::test]
async fn form_errors_use_okta_statuses() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let a = assertion(&okta.bearer_rsa, &okta.token_url);
    let post = |body: String, ct: &'static str| {
        let url = okta.token_url.clone();
        async move {
            Reply::from(
                reqwest::Client::new()
                    .post(url)
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let form = "application/x-www-form-urlencoded";
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let cases = [
        (
            format!(
                "scope=okta.groups.read&client_assertion_type={}&client_assertion={}",
                enc(JWT_BEARER),
                enc(&a)
            ),
            form,
            400,
            "invalid_request",
        ),
        (
            format!(
                "grant_type=password&client_assertion_type={}&client_assertion={}",
                enc(JWT_BEARER),
                enc(&a)
            ),
            form,
            400,
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&scope=okta.groups.read".to_owned(),
            form,
            401,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials".to_owned(),
            form,
            400,
            "invalid_request",
        ),
        (
            format!(
                "grant_type=client_credentials&client_assertion_type=x&client_assertion={}",
                enc(&a)
            ),
            form,
            401,
            "invalid_client",
        ),
        (
            "{\"grant_type\":\"client_credentials\"}".to_owned(),
            "application/json",
            400,
            "invalid_request",
        ),
        (
            "%ff%fe\u{0}&&==&grant_type".to_owned(),
            form,
            400,
            "invalid_request",
        ),
    ];
    for (body, ct, status, error) in cases {
        let r = post(body.clone(), ct).await;
        assert_eq!(
            (r.status, r.oauth_error()),
            (status, error),
            "{body}: {}",
            r.text
        );
    }
    // client_secret is not how these apps authenticate.
    let r = post(
        format!(
            "grant_type=client_credentials&client_id={}&client_secret=s",
            okta.bearer_rsa.client_id
        ),
        form,
    )
    .await;
    assert_eq!((r.status, r.oauth_error()), (401, "invalid_client"));
}

#[tokio::test]
async fn scopes_are_enforced_per_app() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.bearer_rsa;
    for (scope, ok) in [
        ("okta.groups.read", true),
        ("okta.users.read okta.groups.read", true),
        ("okta.users.manage", false),
        ("okta.made.up", false),
        ("", false),
        ("okta.groups.read openid", false),
    ] {
        let r = token_request(&sb, &assertion(app, &okta.token_url), scope, None).await;
        if ok {
            assert_eq!(r.status, 200, "{scope}: {}", r.text);
        } else {
            assert_eq!(
                (r.status, r.oauth_error()),
                (400, "invalid_scope"),
                "{scope}: {}",
                r.text
            );
        }
    }
    // dpop-ec is granted okta.groups.read only.
    let key = DpopKey::new();
    let ec = &okta.dpop_ec;
    let proof = key.proof("POST", &okta.token_url, None, None);
    let first = token_request(
        &sb,
        &assertion(ec, &okta.token_url),
        "okta.users.read",
        Some(&proof),
    )
    .await;
    let nonce = first.header("dpop-nonce").unwrap().to_owned();
    let r = token_request(
        &sb,
        &assertion(ec, &okta.token_url),
        "okta.users.read",
        Some(&key.proof("POST", &okta.token_url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(
        (r.status, r.oauth_error()),
        (400, "invalid_scope"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn dpop_app_requires_a_proof_and_a_nonce_and_burns_the_jti() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.dpop_rsa;
    let url = &okta.token_url;

    let r = token_request(&sb, &assertion(app, url), "okta.groups.read", None).await;
    assert_eq!(
        (r.status, r.oauth_error()),
        (400, "invalid_dpop_proof"),
        "{}",
        r.text
    );
    assert!(r.text.contains("DPoP proof JWT header is missing"));

    let key = DpopKey::new();
    let a = assertion(app, url);
    let first = token_request(
        &sb,
        &a,
        "okta.groups.read",
        Some(&key.proof("POST", url, None, None)),
    )
    .await;
    assert_eq!(
        (first.status, first.oauth_error()),
        (400, "use_dpop_nonce"),
        "{}",
        first.text
    );
    let nonce = first
        .header("dpop-nonce")
        .expect("DPoP-Nonce header")
        .to_owned();

    // The assertion's jti was burned by the nonce answer.
    let reused = token_request(
        &sb,
        &a,
        "okta.groups.read",
        Some(&key.proof("POST", url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(
        (reused.status, reused.oauth_error()),
        (401, "invalid_client"),
        "{}",
        reused.text
    );

    // A wrong nonce is answered with the right one.
    let wrong = token_request(
        &sb,
        &assertion(app, url),
        "okta.groups.read",
        Some(&key.proof("POST", url, Some("stale"), None)),
    )
    .await;
    assert_eq!((wrong.status, wrong.oauth_error()), (400, "use_dpop_nonce"));
    assert_eq!(wrong.header("dpop-nonce"), Some(nonce.as_str()));

    let ok = token_request(
        &sb,
        &assertion(app, url),
        "okta.groups.read",
        Some(&key.proof("POST", url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["token_type"], "DPoP");
    let c = sb.okta().counters();
    assert_eq!((c.token_requests, c.tokens_issued), (5, 1));
}

#[tokio::test]
async fn token_endpoint_proofs_are_verified() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.dpop_rsa;
    let url = okta.token_url.as_str();
    let key = DpopKey::new();
    let (_, nonce) = dpop_token(&sb, app, &key, "okta.groups.read").await;
    let n = Some(nonce.as_str());
    let t = now();
    let other = DpopKey::new();
    let mut private_jwk = key.public.clone();
    private_jwk["d"] = json!("AAAA");
    let reused = key.proof("POST", url, n, None);
    assert_eq!(
        token_request(&sb, &assertion(app, url), "okta.groups.read", Some(&reused))
            .await
            .status,
        200
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "htu with a query",
            key.proof("POST", &format!("{url}?x=1"), n, None),
        ),
        (
            "htu with a fragment",
            key.proof("POST", &format!("{url}#f"), n, None),
        ),
        (
            "htu of another path",
            key.proof("POST", &url.replace("/v1/", "/v2/"), n, None),
        ),
        ("wrong htm", key.proof("GET", url, n, None)),
        (
            "stale iat",
            key.proof_with("POST", url, n, None, &[("iat", json!(t - 600))]),
        ),
        (
            "iat in the future",
            key.proof_with("POST", url, n, None, &[("iat", json!(t + 600))]),
        ),
        (
            "no iat",
            key.proof_with("POST", url, n, None, &[("iat", Value::Null)]),
        ),
        (
            "no jti",
            key.proof_with("POST", url, n, None, &[("jti", Value::Null)]),
        ),
        ("reused jti", reused),
        (
            "typ JWT",
            key.sign(
                &json!({"typ": "JWT", "alg": "ES256", "jwk": key.public}),
                &json!({"jti": jti(), "htm": "POST", "htu": url, "iat": t, "nonce": nonce}),
            ),
        ),
        (
            "alg HS256",
            key.sign(
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.public}),
                &json!({"jti": jti(), "htm": "POST", "htu": url, "iat": t, "nonce": nonce}),
            ),
        ),
        (
            "no jwk",
            key.sign(
                &json!({"typ": "dpop+jwt", "alg": "ES256"}),
                &json!({"jti": jti(), "htm": "POST", "htu": url, "iat": t, "nonce": nonce}),
            ),
        ),
        (
            "private jwk",
            key.sign(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private_jwk}),
                &json!({"jti": jti(), "htm": "POST", "htu": url, "iat": t, "nonce": nonce}),
            ),
        ),
        (
            "signed by another key",
            other.sign(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public}),
                &json!({"jti": jti(), "htm": "POST", "htu": url, "iat": t, "nonce": nonce}),
            ),
        ),
        ("garbage", "a.b.c".to_owned()),
        ("huge", "A".repeat(20_000)),
    ];
    for (name, proof) in cases {
        let r = token_request(&sb, &assertion(app, url), "okta.groups.read", Some(&proof)).await;
        assert_eq!(
            (r.status, r.oauth_error()),
            (400, "invalid_dpop_proof"),
            "{name}: {}",
            r.text
        );
    }
    // Two DPoP headers.
    let r = Reply::from(
        reqwest::Client::new()
            .post(url)
            .header("DPoP", key.proof("POST", url, n, None))
            .header("DPoP", key.proof("POST", url, n, None))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "okta.groups.read"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion(app, url)),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.oauth_error()), (400, "invalid_dpop_proof"));
}

#[tokio::test]
async fn ec_app_signs_with_either_registered_key() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.dpop_ec;
    assert_eq!(app.key.alg, "ES256");
    assert_eq!(app.other_keys[0].alg, "ES384");
    let key = DpopKey::new();
    let url = &okta.token_url;
    let (_, nonce) = dpop_token(&sb, app, &key, "okta.groups.read").await;
    let a = assertion_with(app, &app.other_keys[0], url, &[]);
    let r = token_request(
        &sb,
        &a,
        "okta.groups.read",
        Some(&key.proof("POST", url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The ES384 key cannot stand in for the ES256 one.
    let swapped = sign_jws(
        &json!({"alg": "ES384", "kid": app.key.kid}),
        &json!({"iss": app.client_id, "sub": app.client_id, "aud": url, "exp": now() + 60, "jti": jti()}),
        signer_for(&app.other_keys[0]).as_ref(),
    );
    let r = token_request(
        &sb,
        &swapped,
        "okta.groups.read",
        Some(&key.proof("POST", url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(
        (r.status, r.oauth_error()),
        (401, "invalid_client"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn nonces_rotate_and_the_previous_one_still_works() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let app = &okta.dpop_rsa;
    let url = &okta.token_url;
    let key = DpopKey::new();
    let (_, first) = dpop_token(&sb, app, &key, "okta.groups.read").await;
    sb.okta().rotate_nonces();
    let r = token_request(
        &sb,
        &assertion(app, url),
        "okta.groups.read",
        Some(&key.proof("POST", url, Some(&first), None)),
    )
    .await;
    assert_eq!(r.status, 200, "previous nonce: {}", r.text);
    sb.okta().rotate_nonces();
    let r = token_request(
        &sb,
        &assertion(app, url),
        "okta.groups.read",
        Some(&key.proof("POST", url, Some(&first), None)),
    )
    .await;
    assert_eq!((r.status, r.oauth_error()), (400, "use_dpop_nonce"));
    assert_ne!(r.header("dpop-nonce"), Some(first.as_str()));
}

#[tokio::test]
async fn dpop_tokens_need_bound_proofs_on_the_resource_api() {
    let sb = start(30, 2).await;
    let okta = &sb.credentials().okta;
    let key = DpopKey::new();
    let (token, _) = dpop_token(
        &sb,
        &okta.dpop_rsa,
        &key,
        "okta.groups.read okta.users.read",
    )
    .await;
    let url = format!("{}/api/v1/groups", sb.http_url());
    let auth = format!("DPoP {token}");
    let t = Some(token.as_str());

    let ok = get(
        &sb,
        "/api/v1/groups?limit=2",
        &auth,
        Some(&key.proof("GET", &url, None, t)),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Proofs are per request: a new one for the next page.
    let next = next_link(&ok).unwrap();
    let ok2 = get_url(&next, &auth, Some(&key.proof("GET", &url, None, t))).await;
    assert_eq!(ok2.status, 200, "{}", ok2.text);

    let reused = key.proof("GET", &url, None, t);
    assert_eq!(
        get(&sb, "/api/v1/groups", &auth, Some(&reused))
            .await
            .status,
        200
    );
    let stale = now() - 600;
    let bad_proofs: Vec<(&str, Option<String>)> = vec![
        (
            "wrong ath",
            Some(key.proof("GET", &url, None, Some("another token"))),
        ),
        ("no ath", Some(key.proof("GET", &url, None, None))),
        ("wrong htm", Some(key.proof("POST", &url, None, t))),
        (
            "htu with a query",
            Some(key.proof("GET", &format!("{url}?limit=2"), None, t)),
        ),
        (
            "htu of another resource",
            Some(key.proof("GET", &format!("{url}/x"), None, t)),
        ),
        (
            "stale iat",
            Some(key.proof_with("GET", &url, None, t, &[("iat", json!(stale))])),
        ),
        ("reused jti", Some(reused)),
        ("no proof", None),
    ];
    for (name, proof) in bad_proofs {
        let r = get(&sb, "/api/v1/groups", &auth, proof.as_deref()).await;
        assert_eq!(
            (r.status, r.oauth_error()),
            (400, "invalid_dpop_proof"),
            "{name}: {}",
            r.text
        );
        let challenge = r.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains(r#"error="invalid_dpop_proof""#),
            "{challenge}"
        );
        assert!(challenge.contains("error_description="), "{challenge}");
    }

    // A proof by another key: the token is bound to `key`.
    let thief = DpopKey::new();
    let r = get(
        &sb,
        "/api/v1/groups",
        &auth,
        Some(&thief.proof("GET", &url, None, t)),
    )
    .await;
    assert_eq!((r.status, r.okta_code()), (401, "E0000011"), "{}", r.text);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    // The DPoP-bound token presented as Bearer.
    let r = get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None).await;
    assert_eq!((r.status, r.okta_code()), (401, "E0000011"), "{}", r.text);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );

    // A Bearer token presented with the DPoP scheme.
    let bearer = bearer_token(&sb, &okta.bearer_rsa, "okta.groups.read").await;
    let r = get(
        &sb,
        "/api/v1/groups",
        &format!("DPoP {bearer}"),
        Some(&key.proof("GET", &url, None, Some(&bearer))),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn resource_server_nonce_challenge() {
    let sb = start(10, 1).await;
    let okta = &sb.credentials().okta;
    let key = DpopKey::new();
    let (token, as_nonce) = dpop_token(&sb, &okta.dpop_rsa, &key, "okta.groups.read").await;
    let url = format!("{}/api/v1/groups", sb.http_url());
    let auth = format!("DPoP {token}");
    sb.okta().set_resource_nonce_required(true);

    let r = get(
        &sb,
        "/api/v1/groups",
        &auth,
        Some(&key.proof("GET", &url, None, Some(&token))),
    )
    .await;
    assert_eq!(
        (r.status, r.oauth_error()),
        (401, "use_dpop_nonce"),
        "{}",
        r.text
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"error="use_dpop_nonce""#)
    );
    let nonce = r.header("dpop-nonce").unwrap().to_owned();
    assert_ne!(nonce, as_nonce, "the resource server keeps its own nonce");

    let r = get(
        &sb,
        "/api/v1/groups",
        &auth,
        Some(&key.proof("GET", &url, Some(&as_nonce), Some(&token))),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = get(
        &sb,
        "/api/v1/groups",
        &auth,
        Some(&key.proof("GET", &url, Some(&nonce), Some(&token))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    sb.okta().set_resource_nonce_required(false);
    let r = get(
        &sb,
        "/api/v1/groups",
        &auth,
        Some(&key.proof("GET", &url, None, Some(&token))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn app_without_admin_role_is_forbidden() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let token = bearer_token(&sb, &okta.no_admin_role, "okta.groups.read okta.users.read").await;
    for path in ["/api/v1/groups", "/api/v1/users/00unobody"] {
        let r = get(&sb, path, &format!("Bearer {token}"), None).await;
        assert_eq!(
            (r.status, r.okta_code()),
            (403, "E0000006"),
            "{path}: {}",
            r.text
        );
        assert!(
            r.body["errorSummary"]
                .as_str()
                .unwrap()
                .contains("permission")
        );
    }
}

#[tokio::test]
async fn missing_scope_is_forbidden() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let token = bearer_token(&sb, &okta.bearer_rsa, "okta.groups.read").await;
    let user = sb.okta().users()[0].id.clone();
    let r = get(
        &sb,
        &format!("/api/v1/users/{user}"),
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!((r.status, r.okta_code()), (403, "E0000006"), "{}", r.text);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );
    let token = bearer_token(&sb, &okta.bearer_rsa, "okta.users.read").await;
    let r = get(
        &sb,
        &format!("/api/v1/users/{user}"),
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None)
            .await
            .status),
        403
    );
}

#[tokio::test]
async fn invalid_credentials_are_401_e0000011() {
    let sb = start(5, 1).await;
    let okta = &sb.credentials().okta;
    let token = bearer_token(&sb, &okta.bearer_rsa, "okta.groups.read").await;
    assert_eq!(
        get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None)
            .await
            .status,
        200
    );
    sb.okta().expire_tokens();
    let expired = get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None).await;
    assert_eq!((expired.status, expired.okta_code()), (401, "E0000011"));
    assert!(
        expired
            .header("www-authenticate")
            .unwrap()
            .contains("expired")
    );
    let no_header = Reply::from(
        reqwest::Client::new()
            .get(format!("{}/api/v1/groups", sb.http_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((no_header.status, no_header.okta_code()), (401, "E0000011"));
    for auth in [
        "SSWS wrong",
        "SSWS",
        "Bearer",
        "Bearer nope",
        "Basic dXNlcjpwYXNz",
        "DPoP nope",
        "gibberish",
        &"Bearer x".repeat(2000),
    ] {
        let r = get(&sb, "/api/v1/groups", auth, None).await;
        assert_eq!(
            (r.status, r.okta_code()),
            (401, "E0000011"),
            "{auth}: {}",
            r.text
        );
    }
    assert_eq!(
        get(&sb, "/api/v1/groups", &ssws(&sb), None).await.status,
        200
    );
    // As Okta's Python SDK 3.x sends it (no space); only for SSWS.
    let glued = format!("SSWS{}", okta.api_token);
    assert_eq!(get(&sb, "/api/v1/groups", &glued, None).await.status, 200);
    let glued_bearer = format!("Bearer{token}");
    assert_eq!(
        get(&sb, "/api/v1/groups", &glued_bearer, None).await.status,
        401
    );
}
