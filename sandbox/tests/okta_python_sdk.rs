//! The official Okta Python SDK (PyPI `okta`, the version `.ci/install-peers` pins) works against
//! the sandbox: private-key mode with DPoP (nonce dance, bound proofs with `ath` on every page),
//! plain private-key mode (Bearer) and an API token (SSWS). It lists every group and every
//! group's members through all pages and must see exactly what the sandbox's directory holds.
//!
//! The SDK signs its client assertion with PyJWT and its DPoP proofs with an RSA-3072 key of its
//! own; the sandbox verifies both with AWS-LC. Skipped (with a message) when the peer venv is
//! missing, failed when `REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use idp_sandbox::Sandbox;
use serde_json::{Value, json};

fn driver() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/okta_sdk_list.py")
}

/// Runs the driver with `config` on stdin, off the async runtime (the sandbox serves meanwhile).
async fn run_sdk(python: std::path::PathBuf, config: Value) -> Value {
    tokio::task::spawn_blocking(move || {
        let out = test_support::run_peer(&python, &driver(), config.to_string().as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the Okta SDK failed:\n{stderr}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad driver output ({e}): {stderr}"))
    })
    .await
    .unwrap()
}

/// What the sandbox's directory holds: group ids in order, each group's member ids.
fn expected(sb: &Sandbox) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let dir = sb.okta();
    let groups: Vec<String> = dir.groups().into_iter().map(|g| g.id).collect();
    let members = groups
        .iter()
        .map(|g| {
            (
                g.clone(),
                dir.members(g).unwrap().into_iter().map(|u| u.id).collect(),
            )
        })
        .collect();
    (groups, members)
}

fn check(sb: &Sandbox, out: &Value) {
    let (groups, members) = expected(sb);
    let got_groups: Vec<String> = serde_json::from_value(out["groups"].clone()).unwrap();
    assert_eq!(got_groups, groups);
    let got_members: BTreeMap<String, Vec<String>> =
        serde_json::from_value(out["members"].clone()).unwrap();
    assert_eq!(got_members, members);
    // Logins as the SDK parsed them from the pages.
    for user in sb.okta().users() {
        assert_eq!(out["logins"][&user.id], user.login.as_str(), "{}", user.id);
    }
}

async fn sandbox() -> Sandbox {
    // 7-per-page listings: Everyone (45 members) takes 7 pages, groups take 2.
    Sandbox::builder()
        .seed(5)
        .users(45)
        .groups(8)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn python_sdk_private_key_with_dpop() {
    let Some(python) = test_support::peer_python("python_sdk_private_key_with_dpop", &["okta"])
    else {
        return;
    };
    let sb = sandbox().await;
    let okta = &sb.credentials().okta;
    let app = &okta.dpop_rsa;
    let out = run_sdk(
        python,
        json!({
            "org_url": okta.org_url, "mode": "PrivateKey", "client_id": app.client_id,
            "private_key": app.key.private_jwk, "kid": app.key.kid, "scopes": app.scopes,
            "dpop": true, "page_limit": 7,
        }),
    )
    .await;
    assert_eq!(out["token_type"], "DPoP");
    check(&sb, &out);
    let c = sb.okta().counters();
    // The nonce dance: one refused, one issued; then the cached token serves every page.
    assert_eq!((c.token_requests, c.tokens_issued), (2, 1), "{c:?}");
    assert!(c.group_members_requests >= 9 + 6, "{c:?}");
}

#[tokio::test]
async fn python_sdk_private_key_bearer_with_pem() {
    let Some(python) =
        test_support::peer_python("python_sdk_private_key_bearer_with_pem", &["okta"])
    else {
        return;
    };
    let sb = sandbox().await;
    let okta = &sb.credentials().okta;
    let app = &okta.bearer_rsa;
    let out = run_sdk(
        python,
        json!({
            "org_url": okta.org_url, "mode": "PrivateKey", "client_id": app.client_id,
            "private_key": app.key.private_pem, "kid": app.key.kid, "scopes": app.scopes,
            "dpop": false, "page_limit": 7,
        }),
    )
    .await;
    assert_eq!(out["token_type"], "Bearer");
    check(&sb, &out);
    assert_eq!(sb.okta().counters().tokens_issued, 1);
}

#[tokio::test]
async fn python_sdk_api_token() {
    let Some(python) = test_support::peer_python("python_sdk_api_token", &["okta"]) else {
        return;
    };
    let sb = sandbox().await;
    let okta = &sb.credentials().okta;
    let out = run_sdk(
        python,
        json!({"org_url": okta.org_url, "mode": "SSWS", "token": okta.api_token, "page_limit": 7}),
    )
    .await;
    check(&sb, &out);
    assert_eq!(sb.okta().counters().token_requests, 0);
}

#[tokio::test]
async fn python_sdk_answers_the_resource_nonce_challenge() {
    let Some(python) =
        test_support::peer_python("python_sdk_answers_the_resource_nonce_challenge", &["okta"])
    else {
        return;
    };
    let sb = sandbox().await;
    sb.okta().set_resource_nonce_required(true);
    let okta = &sb.credentials().okta;
    let app = &okta.dpop_rsa;
    let out = run_sdk(
        python,
        json!({
            "org_url": okta.org_url, "mode": "PrivateKey", "client_id": app.client_id,
            "private_key": app.key.private_jwk, "kid": app.key.kid, "scopes": app.scopes,
            "dpop": true, "page_limit": 7,
        }),
    )
    .await;
    check(&sb, &out);
}
