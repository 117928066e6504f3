//! The official Duo clients (PyPI `duo-client`, `duo-universal`) work against the sandbox:
//! Auth API (ping, check, preauth, auth), Admin API (users, every page), and the Universal
//! Prompt round trip over HTTPS (health check, authorize, approve/deny, code exchange).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use idp_sandbox::Sandbox;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_duo_clients_succeed_against_the_sandbox() {
    let Some(python) = test_support::peer_python(
        "official_duo_clients_succeed_against_the_sandbox",
        &["duo_client", "duo_universal", "requests"],
    ) else {
        return;
    };
    let sandbox = Sandbox::builder()
        .users(230)
        .tls(true)
        .start()
        .await
        .expect("start");
    let ca_file = std::env::temp_dir().join(format!("idp-sandbox-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, sandbox.ca_pem().unwrap()).unwrap();
    let duo = sandbox.duo();
    let user = duo
        .users()
        .into_iter()
        .find(|u| u.status == "active" && !u.phones.is_empty())
        .unwrap();
    let creds = &sandbox.credentials().duo;
    let config = json!({
        "auth": creds.auth,
        "admin": creds.admin,
        "universal": creds.universal,
        "ca_file": ca_file,
        "username": user.username,
        "passcode": user.passcode,
        "redirect_uri": "https://portal.example/duo-callback",
        "paging_limit": 100,
    });
    let script = test_support::workspace_root().join("sandbox/tests/peers/duo_official.py");
    let out = tokio::task::spawn_blocking(move || {
        test_support::run_peer(&python, &script, config.to_string().as_bytes())
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&ca_file);
    let r: Value = serde_json::from_slice(&out.stdout).expect("driver prints JSON");
    for key in ["duo_client_error", "duo_universal_error"] {
        assert!(
            r.get(key).is_none(),
            "{key}: {}",
            r[key].as_str().unwrap_or_default()
        );
    }

    // duo-client, Auth API.
    assert!(r["ping"]["time"].is_u64());
    assert!(r["check"]["time"].is_u64());
    assert!(r["check_v2"]["time"].is_u64());
    assert_eq!(r["preauth"]["result"], "auth");
    assert_eq!(r["auth_push"]["result"], "allow");
    assert_eq!(r["auth_passcode"]["result"], "allow");
    assert_eq!(r["bad_secret"]["status"], 401);
    assert_eq!(r["bad_secret"]["data"]["code"], 40103);

    // duo-client, Admin API: every user, in the sandbox's order, over three pages.
    let ids: Vec<String> = serde_json::from_value(r["admin_user_ids"].clone()).unwrap();
    let expected: Vec<String> = duo.users().into_iter().map(|u| u.user_id).collect();
    assert_eq!(ids.len(), 230);
    assert_eq!(ids, expected);

    // duo-universal over HTTPS.
    assert_eq!(r["health_check"]["stat"], "OK");
    let approved = &r["token_approve"];
    assert_eq!(approved["auth_result"]["result"], "allow");
    assert_eq!(approved["preferred_username"], user.username.as_str());
    assert_eq!(r["token_deny"]["auth_result"]["result"], "deny");
    assert_ne!(r["reuse_approve"], "accepted", "a duo_code works once");
    assert!(r["auth_urls"][0].as_str().unwrap().starts_with(&format!(
        "https://{}/oauth/v1/authorize?",
        creds.universal.api_host
    )));
    sandbox.shutdown().await;
}
