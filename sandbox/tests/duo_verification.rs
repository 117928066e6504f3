//! The sandbox verifies Duo requests as Duo does: each failure gets Duo's own code and status.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod duo_support;

use duo_auth::sign::{Request, SignatureVersion};
use duo_support::{call, date_offset, now, send, signer};
use idp_sandbox::Sandbox;

#[tokio::test]
async fn signed_requests_pass_and_every_kind_of_bad_one_gets_duos_answer() {
    let sandbox = Sandbox::builder().users(20).start().await.expect("start");
    let creds = &sandbox.credentials().duo;
    let check = Request::get("/auth/v2/check");

    // Good signatures: v5, v2 with SHA-512 and with SHA-1.
    for version in [
        SignatureVersion::V5,
        SignatureVersion::V2Sha512,
        SignatureVersion::V2Sha1,
    ] {
        let (status, body) = call(&signer(&creds.auth, version), &check, &now()).await;
        assert_eq!(status, 200, "{version:?}: {body}");
        assert_eq!(body["stat"], "OK");
        assert!(body["response"]["time"].as_u64().is_some());
    }

    let auth = signer(&creds.auth, SignatureVersion::V5);
    // Tampered signature: one hex digit changed.
    let signed = auth.sign(&check, &now()).expect("sign");
    let (status, body) = send(auth.credentials().api_host(), &signed, |mut h| {
        let value = h["authorization"].to_str().unwrap().to_owned();
        let decoded = base64_decode(&value[6..]);
        let mut tampered = decoded.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'a' { 'b' } else { 'a' });
        h.insert(
            "authorization",
            format!("Basic {}", base64_encode(&tampered))
                .parse()
                .unwrap(),
        );
        h
    })
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (401, Some(40103)),
        "{body}"
    );
    assert_eq!(body["stat"], "FAIL");

    // A changed parameter after signing.
    let signed = auth
        .sign(&Request::get("/auth/v2/check").param("a", "1"), &now())
        .expect("sign");
    let url = format!("http://{}/auth/v2/check?a=2", auth.credentials().api_host());
    let mut req = reqwest::Client::new().get(url);
    for (n, v) in signed.headers() {
        req = req.header(n.as_ref(), v);
    }
    let response = req.send().await.unwrap();
    assert_eq!(response.status(), 401);

    // Stale and future dates: outside Duo's five minutes.
    for offset in [-400, 400] {
        let (status, body) = call(&auth, &check, &date_offset(offset)).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (401, Some(40105)),
            "offset {offset}: {body}"
        );
    }
    // Within the window is fine.
    let (status, _) = call(&auth, &check, &date_offset(-200)).await;
    assert_eq!(status, 200);

    // Unknown integration key.
    let mut bogus = creds.auth.clone();
    bogus.integration_key = "DIXXXXXXXXXXXXXXXXXX".to_owned();
    let (status, body) = call(&signer(&bogus, SignatureVersion::V5), &check, &now()).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (401, Some(40102)),
        "{body}"
    );

    // Wrong secret key with a known integration key.
    let mut wrong = creds.auth.clone();
    wrong.secret_key = "not-the-secret".to_owned();
    let (status, body) = call(&signer(&wrong, SignatureVersion::V5), &check, &now()).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (401, Some(40103)),
        "{body}"
    );

    // No credentials at all.
    let response = reqwest::get(format!("http://{}/auth/v2/check", creds.auth.api_host))
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 40101);

    // Admin keys on the Auth API, Auth keys on the Admin API: wrong integration type.
    let (status, body) = call(&signer(&creds.admin, SignatureVersion::V5), &check, &now()).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(40301)),
        "{body}"
    );
    let users = Request::get("/admin/v1/users");
    let (status, body) = call(&auth, &users, &now()).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(40301)),
        "{body}"
    );

    // A read-only Admin application may list users but not admins or create users.
    let read_only = signer(&creds.admin_read_only, SignatureVersion::V5);
    assert_eq!(call(&read_only, &users, &now()).await.0, 200);
    let (status, body) = call(&read_only, &Request::get("/admin/v1/admins"), &now()).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(40301)),
        "{body}"
    );
    let create = Request::post("/admin/v1/users").param("username", "new.person");
    assert_eq!(call(&read_only, &create, &now()).await.1["code"], 40301);

    // /admin/v2 endpoints need v5: a valid v2 signature is refused.
    let admin_v2 = signer(&creds.admin, SignatureVersion::V2Sha512);
    let (status, body) = call(&admin_v2, &Request::get("/admin/v1/groups"), &now()).await;
    assert_eq!(status, 200, "v2 is fine on v1 endpoints: {body}");
    let group_id = body["response"][0]["group_id"].as_str().unwrap().to_owned();
    let members = Request::get(format!("/admin/v2/groups/{group_id}/users"));
    let (status, body) = call(&admin_v2, &members, &now()).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (401, Some(40103)),
        "{body}"
    );
    let admin = signer(&creds.admin, SignatureVersion::V5);
    assert_eq!(call(&admin, &members, &now()).await.0, 200);

    // Unsigned ping works without credentials.
    let body: serde_json::Value =
        reqwest::get(format!("http://{}/auth/v2/ping", creds.auth.api_host))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(body["stat"], "OK");
    sandbox.shutdown().await;
}

fn base64_decode(s: &str) -> String {
    use base64::Engine as _;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
