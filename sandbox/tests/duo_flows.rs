//! Auth API and Admin API behaviour of the sandbox: scripted users, enrollment, paging, faults.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod duo_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use duo_auth::sign::{Request, SignatureVersion};
use duo_support::{call, now, signer};
use idp_sandbox::duo::Behaviour;
use idp_sandbox::{Fault, FaultKind, Sandbox};
use serde_json::Value;
use test_support::wait::eventually;

async fn post(s: &duo_auth::sign::Signer, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let req =
        Request::post(path).params(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    call(s, &req, &now()).await
}

#[tokio::test]
async fn preauth_and_auth_follow_each_users_script() {
    let sandbox = Sandbox::builder().users(60).start().await.expect("start");
    let auth = signer(&sandbox.credentials().duo.auth, SignatureVersion::V5);
    let duo = sandbox.duo();
    let users = duo.users();
    let active = users
        .iter()
        .find(|u| u.status == "active" && !u.phones.is_empty())
        .unwrap()
        .clone();
    let unenrolled = users
        .iter()
        .find(|u| u.status == "active" && u.phones.is_empty())
        .unwrap()
        .clone();
    let bypass = users.iter().find(|u| u.status == "bypass").unwrap().clone();
    let disabled = users
        .iter()
        .find(|u| u.status == "disabled")
        .unwrap()
        .clone();

    let result = |body: &Value| {
        body["response"]["result"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (_, body) = post(&auth, "/auth/v2/preauth", &[("username", &active.username)]).await;
    assert_eq!(result(&body), "auth", "{body}");
    let devices = body["response"]["devices"].as_array().unwrap();
    assert!(devices.iter().any(|d| {
        d["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "push")
    }));
    assert_eq!(
        result(
            &post(
                &auth,
                "/auth/v2/preauth",
                &[("username", &unenrolled.username)]
            )
            .await
            .1
        ),
        "enroll"
    );
    assert_eq!(
        result(
            &post(&auth, "/auth/v2/preauth", &[("username", "nobody.at.all")])
                .await
                .1
        ),
        "enroll"
    );
    assert_eq!(
        result(
            &post(&auth, "/auth/v2/preauth", &[("username", &bypass.username)])
                .await
                .1
        ),
        "allow"
    );
    assert_eq!(
        result(
            &post(
                &auth,
                "/auth/v2/preauth",
                &[("username", &disabled.username)]
            )
            .await
            .1
        ),
        "deny"
    );
    assert_eq!(
        result(
            &post(&auth, "/auth/v2/preauth", &[("user_id", &active.user_id)])
                .await
                .1
        ),
        "auth"
    );
    let (status, body) = post(
        &auth,
        "/auth/v2/preauth",
        &[("username", "a"), ("user_id", "b")],
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(40002)));

    // Aliases log in as the user.
    duo.add_alias(&active.username, "jdoe-alias");
    assert_eq!(
        result(
            &post(&auth, "/auth/v2/preauth", &[("username", "JDOE-ALIAS")])
                .await
                .1
        ),
        "auth"
    );

    // Push approved, denied, timed out.
    let push = [
        ("username", active.username.as_str()),
        ("factor", "push"),
        ("device", "auto"),
    ];
    let (_, body) = post(&auth, "/auth/v2/auth", &push).await;
    assert_eq!(body["response"]["result"], "allow", "{body}");
    let token = body["response"]["trusted_device_token"]
        .as_str()
        .unwrap()
        .to_owned();
    duo.set_behaviour(&active.username, Behaviour::Deny);
    let (_, body) = post(&auth, "/auth/v2/auth", &push).await;
    assert_eq!(
        (
            body["response"]["result"].as_str(),
            body["response"]["status"].as_str()
        ),
        (Some("deny"), Some("deny"))
    );
    duo.set_push_timeout(Duration::from_millis(300));
    duo.set_behaviour(&active.username, Behaviour::Timeout);
    let started = Instant::now();
    let (_, body) = post(&auth, "/auth/v2/auth", &push).await;
    assert_eq!(body["response"]["status"], "timeout", "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "sync auth waits for the answer"
    );

    // The trusted device token from the approval makes preauth allow.
    let (_, body) = post(
        &auth,
        "/auth/v2/preauth",
        &[
            ("username", &active.username),
            ("trusted_device_token", &token),
        ],
    )
    .await;
    assert_eq!(result(&body), "allow");

    // Passcodes.
    let good = [
        ("username", active.username.as_str()),
        ("factor", "passcode"),
        ("passcode", active.passcode.as_str()),
    ];
    assert_eq!(
        post(&auth, "/auth/v2/auth", &good).await.1["response"]["result"],
        "allow"
    );
    let bad = [
        ("username", active.username.as_str()),
        ("factor", "passcode"),
        ("passcode", "000000x"),
    ];
    assert_eq!(
        post(&auth, "/auth/v2/auth", &bad).await.1["response"]["result"],
        "deny"
    );

    // Async push, long-polled through auth_status. By the script the person approves in an
    // hour: the first poll answers "waiting" at once, the second is held — and the test answers
    // for the person while it is.
    duo.set_push_timeout(Duration::from_secs(7200));
    duo.set_behaviour(
        &active.username,
        Behaviour::ApproveAfter(Duration::from_secs(3600)),
    );
    let async_push = [
        ("username", active.username.as_str()),
        ("factor", "push"),
        ("device", "auto"),
        ("async", "1"),
    ];
    let (_, body) = post(&auth, "/auth/v2/auth", &async_push).await;
    let txid = body["response"]["txid"].as_str().unwrap().to_owned();
    let status = |txid: &str| {
        let req = Request::get("/auth/v2/auth_status").param("txid", txid);
        let auth = &auth;
        async move { call(auth, &req, &now()).await.1 }
    };
    assert_eq!(status(&txid).await["response"]["result"], "waiting");
    let answer = async {
        eventually("the second poll is held", || duo.waiting_polls() == 1).await;
        assert_eq!(duo.answer_pending(&active.username, true), 1);
    };
    // Unanswered, the poll would be held for its full 20 s; answered, it returns at once. The
    // 15 s limit tells the two apart with a margin no scheduling delay comes near.
    let (body, ()) = tokio::time::timeout(
        Duration::from_secs(15),
        futures::future::join(status(&txid), answer),
    )
    .await
    .expect("the held poll returns as soon as the push is answered");
    assert_eq!(body["response"]["result"], "allow", "{body}");
    assert_eq!(duo.waiting_polls(), 0);
    assert_eq!(
        duo.answer_pending(&active.username, false),
        0,
        "nothing is pending any more"
    );

    // A synchronous push is answered the same way while it waits: Deny, ahead of the script.
    let answer = eventually("a pending push to answer", || {
        duo.answer_pending(&active.username, false) == 1
    });
    let ((_, body), ()) = tokio::time::timeout(
        Duration::from_secs(15),
        futures::future::join(post(&auth, "/auth/v2/auth", &push), answer),
    )
    .await
    .expect("the synchronous auth returns as soon as the push is answered");
    assert_eq!(
        (
            body["response"]["result"].as_str(),
            body["response"]["status"].as_str()
        ),
        (Some("deny"), Some("deny")),
        "{body}"
    );
    assert_eq!(status("no-such-txid").await["code"], 40002);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn enrollment_completes_after_the_configured_delay() {
    let sandbox = Sandbox::builder().users(5).start().await.expect("start");
    let auth = signer(&sandbox.credentials().duo.auth, SignatureVersion::V5);
    // An hour: the activation is waiting for as long as the test looks at it.
    sandbox.duo().set_enroll_delay(Duration::from_secs(3600));
    let (_, body) = post(&auth, "/auth/v2/enroll", &[("username", "newcomer")]).await;
    let r = &body["response"];
    let (user_id, code) = (
        r["user_id"].as_str().unwrap(),
        r["activation_code"].as_str().unwrap(),
    );
    assert!(
        r["activation_barcode"]
            .as_str()
            .unwrap()
            .starts_with("http://")
    );
    let qr = reqwest::get(r["activation_barcode"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&qr[..8], b"\x89PNG\r\n\x1a\n");
    let enroll_status = |code: &str| {
        let auth = &auth;
        let (uid, code) = (user_id.to_owned(), code.to_owned());
        async move {
            post(
                auth,
                "/auth/v2/enroll_status",
                &[("user_id", &uid), ("activation_code", &code)],
            )
            .await
            .1
        }
    };
    assert_eq!(enroll_status(code).await["response"], "waiting");
    assert_eq!(enroll_status("duo://wrong").await["response"], "invalid");
    let (_, body) = post(&auth, "/auth/v2/preauth", &[("username", "newcomer")]).await;
    assert_eq!(
        body["response"]["result"], "enroll",
        "not activated yet: {body}"
    );
    // The delay is read when the status is asked for: once it has passed, the activation is
    // complete.
    sandbox.duo().set_enroll_delay(Duration::ZERO);
    assert_eq!(enroll_status(code).await["response"], "success");
    sandbox.duo().set_enroll_delay(Duration::from_secs(3600));
    assert_eq!(
        enroll_status(code).await["response"],
        "success",
        "a completed activation stays complete"
    );
    let (_, body) = post(&auth, "/auth/v2/preauth", &[("username", "newcomer")]).await;
    assert_eq!(
        body["response"]["result"], "auth",
        "enrolled users can authenticate: {body}"
    );
    let (status, body) = post(&auth, "/auth/v2/enroll", &[("username", "newcomer")]).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(40003)));

    let logo = call(&auth, &Request::get("/auth/v2/logo"), &now()).await;
    assert_eq!(logo.0, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn admin_users_page_by_offset_and_filters_match_aliases() {
    let sandbox = Sandbox::builder().users(650).start().await.expect("start");
    let admin = signer(&sandbox.credentials().duo.admin, SignatureVersion::V5);
    let mut offset = 0u64;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let req = Request::get("/admin/v1/users")
            .param("limit", "1000")
            .param("offset", offset.to_string());
        let (status, body) = call(&admin, &req, &now()).await;
        assert_eq!(status, 200, "{body}");
        let page = body["response"].as_array().unwrap();
        assert!(page.len() <= 300, "limit is capped at Duo's maximum");
        seen.extend(
            page.iter()
                .map(|u| u["user_id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        assert_eq!(body["metadata"]["total_objects"], 650);
        match body["metadata"]["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 650);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 650);
    let expected: Vec<String> = sandbox
        .duo()
        .users()
        .into_iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(seen, expected, "the Admin API order is the account's order");

    // Default limit 100.
    let (_, body) = call(&admin, &Request::get("/admin/v1/users"), &now()).await;
    assert_eq!(body["response"].as_array().unwrap().len(), 100);

    // username matches aliases too.
    let with_alias = sandbox
        .duo()
        .users()
        .into_iter()
        .find(|u| !u.aliases.is_empty())
        .unwrap();
    let (_, body) = call(
        &admin,
        &Request::get("/admin/v1/users").param("username", &with_alias.aliases[0]),
        &now(),
    )
    .await;
    let found = body["response"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["user_id"], with_alias.user_id.as_str());
    assert_eq!(
        found[0]["aliases"]["alias1"],
        with_alias.aliases[0].as_str()
    );
    let list = serde_json::json!([with_alias.username, "nobody"]).to_string();
    let (_, body) = call(
        &admin,
        &Request::get("/admin/v1/users").param("username_list", list),
        &now(),
    )
    .await;
    assert_eq!(body["response"].as_array().unwrap().len(), 1);

    // A user by id, and a missing one.
    let (_, body) = call(
        &admin,
        &Request::get(format!("/admin/v1/users/{}", with_alias.user_id)),
        &now(),
    )
    .await;
    assert_eq!(body["response"]["username"], with_alias.username.as_str());
    let (status, body) = call(&admin, &Request::get("/admin/v1/users/DUNOPE"), &now()).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(40401)));

    // Create, duplicate, bulk create (users is a JSON string).
    let (status, body) = post(
        &admin,
        "/admin/v1/users",
        &[("username", "created.one"), ("email", "c@example.com")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&admin, "/admin/v1/users", &[("username", "created.one")]).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(40003)));
    let users = serde_json::json!([{"username": "bulk.a"}, {"username": "bulk.b", "email": "b@example.com"}]).to_string();
    let (status, body) = post(&admin, "/admin/v1/users/bulk_create", &[("users", &users)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"].as_array().unwrap().len(), 2);
    sandbox.shutdown().await;
}

/// Every user of `/admin/v1/users`, page by page (300 a page), as JSON.
async fn list_all(admin: &duo_auth::sign::Signer) -> Vec<Value> {
    let mut all = Vec::new();
    let mut offset = 0u64;
    loop {
        let req = Request::get("/admin/v1/users")
            .param("limit", "300")
            .param("offset", offset.to_string());
        let (status, body) = call(admin, &req, &now()).await;
        assert_eq!(status, 200, "{body}");
        all.extend(body["response"].as_array().unwrap().iter().cloned());
        match body["metadata"]["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => return all,
        }
    }
}

#[tokio::test]
async fn the_user_listing_follows_every_change_to_the_account() {
    // The listing serves users rendered once and kept until the account changes: it must say
    // exactly what the single-user endpoint (rendered afresh each time) says, after any change.
    let sandbox = Sandbox::builder()
        .users(650)
        .groups(4)
        .start()
        .await
        .expect("start");
    let admin = signer(&sandbox.credentials().duo.admin, SignatureVersion::V5);
    let auth = signer(&sandbox.credentials().duo.auth, SignatureVersion::V5);
    let duo = sandbox.duo();
    let agrees = |listed: Vec<Value>| {
        let admin = &admin;
        async move {
            for u in &listed {
                let id = u["user_id"].as_str().unwrap();
                let (status, one) = call(
                    admin,
                    &Request::get(format!("/admin/v1/users/{id}")),
                    &now(),
                )
                .await;
                assert_eq!(status, 200);
                assert_eq!(&one["response"], u, "{id}");
            }
            listed
        }
    };
    let before = list_all(&admin).await;
    assert_eq!(before.len(), 650);
    let ids: Vec<String> = duo.users().into_iter().map(|u| u.user_id).collect();
    let listed: Vec<&str> = before
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids);
    // Spot checks of the rendering against the account itself (the full comparison with the
    // single-user endpoint runs after the changes, on fewer requests).
    let target = &duo.users()[10];
    assert_eq!(before[10]["username"], target.username.as_str());
    assert_eq!(before[10]["email"], target.email.as_str());

    // Changes through the test handle.
    assert!(duo.set_status(&target.username, "disabled"));
    assert!(duo.add_alias(&target.username, "renamed.alias"));
    let victim = duo.users()[20].username.clone();
    assert!(duo.delete_user(&victim));
    // Through the Admin API: a new user, a group membership.
    let (status, _) = post(&admin, "/admin/v1/users", &[("username", "late.arrival")]).await;
    assert_eq!(status, 200);
    let (_, groups) = call(&admin, &Request::get("/admin/v1/groups"), &now()).await;
    let group_id = groups["response"][0]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = duo.users()[30].clone();
    let (status, body) = post(
        &admin,
        &format!("/admin/v1/users/{}/groups", member.user_id),
        &[("group_id", &group_id)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Through the Auth API: logging in changes the user too.
    let (status, body) = post(
        &auth,
        "/auth/v2/auth",
        &[
            ("username", &member.username),
            ("factor", "auto"),
            ("device", "auto"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let after = agrees(list_all(&admin).await).await;
    assert_eq!(after.len(), 650, "one deleted, one created");
    let by_name = |name: &str| {
        after
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let changed = by_name(&target.username);
    assert_eq!(changed["status"], "disabled");
    assert!(
        changed["aliases"]
            .as_object()
            .unwrap()
            .values()
            .any(|a| a == "renamed.alias")
    );
    assert!(after.iter().all(|u| u["username"] != victim.as_str()));
    assert_eq!(after.last().unwrap()["username"], "late.arrival");
    let joined = by_name(&member.username);
    assert!(
        joined["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group_id"] == group_id.as_str())
    );
    let was = before
        .iter()
        .find(|u| u["user_id"] == member.user_id.as_str())
        .unwrap();
    assert_ne!(joined["last_login"], was["last_login"], "the login shows");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn faults_are_injected_per_route() {
    let sandbox = Sandbox::builder()
        .users(250)
        .fault(Fault::new("/admin/v1/users", FaultKind::TooManyRequests).times(2))
        .start()
        .await
        .expect("start");
    let admin = signer(&sandbox.credentials().duo.admin, SignatureVersion::V5);
    let users = Request::get("/admin/v1/users");
    for _ in 0..2 {
        let (status, body) = call(&admin, &users, &now()).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (429, Some(42901)),
            "{body}"
        );
    }
    assert_eq!(call(&admin, &users, &now()).await.0, 200);

    sandbox
        .faults()
        .inject(Fault::new("/admin/v1/users", FaultKind::RepeatCursor).times(1));
    let (_, body) = call(&admin, &users, &now()).await;
    assert_eq!(
        body["metadata"]["next_offset"], 0,
        "the cursor does not advance"
    );
    let (_, body) = call(&admin, &users, &now()).await;
    assert_eq!(body["metadata"]["next_offset"], 100);

    sandbox
        .faults()
        .inject(Fault::new("/admin/v1/groups", FaultKind::ServerError(503)).times(1));
    let (status, body) = call(&admin, &Request::get("/admin/v1/groups"), &now()).await;
    assert_eq!((status, body["code"].as_u64()), (503, Some(50001)));

    sandbox
        .faults()
        .inject(Fault::new("/admin/v1/groups", FaultKind::TruncatedBody).times(1));
    let (status, body) = call(&admin, &Request::get("/admin/v1/groups"), &now()).await;
    assert_eq!(
        (status, body),
        (200, Value::Null),
        "truncated JSON does not parse"
    );

    sandbox
        .faults()
        .inject(Fault::new("/admin/v1/phones", FaultKind::DropConnection).times(1));
    let signed = admin
        .sign(&Request::get("/admin/v1/phones"), &now())
        .unwrap();
    let mut req = reqwest::Client::new().get(format!(
        "http://{}{}",
        admin.credentials().api_host(),
        signed.path_and_query()
    ));
    for (n, v) in signed.headers() {
        req = req.header(n.as_ref(), v);
    }
    let response = req.send().await.expect("headers arrive");
    assert!(response.bytes().await.is_err(), "the body is cut off");

    sandbox.faults().inject(
        Fault::new(
            "/auth/v2/check",
            FaultKind::Latency(Duration::from_millis(300)),
        )
        .times(1),
    );
    let auth = signer(&sandbox.credentials().duo.auth, SignatureVersion::V5);
    let started = Instant::now();
    assert_eq!(
        call(&auth, &Request::get("/auth/v2/check"), &now()).await.0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A held request has arrived — it counts as in flight — but its handler has not seen it;
    // released, it is answered.
    let duo = sandbox.duo();
    let faults = sandbox.faults();
    faults.inject(Fault::new("/auth/v2/check", FaultKind::Hold).times(1));
    let answered = duo.requests();
    let observe = async {
        tokio::time::timeout(
            Duration::from_secs(30),
            faults.until_held("/auth/v2/check", 1),
        )
        .await
        .expect("the check is held");
        assert_eq!(duo.in_flight(), 1);
        assert_eq!(duo.requests(), answered, "held before its handler");
        assert_eq!(faults.release("/auth/v2"), 1);
    };
    let ((status, _), ()) = futures::future::join(
        call(&auth, &Request::get("/auth/v2/check"), &now()),
        observe,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!((duo.requests(), duo.in_flight()), (answered + 1, 0));
    // Fired: the latency rule above once, the hold once.
    assert_eq!((faults.held("/"), faults.fired("/auth/v2/check")), (0, 2));
    sandbox.shutdown().await;
}
