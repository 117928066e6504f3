//! The `duo_login_portal` example's sessions attacked over HTTP: the same `start` function its
//! `main` calls, driven with plain requests, Duo being the in-process sandbox (its Universal
//! Prompt answered over HTTP too).
//!
//! - **Rotation and fixation**: the session id changes at the password step and again after Duo;
//!   an id planted before the sign-in (or made up) opens nothing afterwards.
//! - **Logout** ends the session on the server: a copy of the cookie is useless after it.
//! - **Cookies**: `HttpOnly`, `SameSite=Lax`, `Path=/`; over HTTPS (a public `https://` URL)
//!   also `Secure`, with the `__Host-` prefix, and HSTS.
//! - **CSRF**: every state-changing POST (`/login`, `/logout`, `/duo/push/wait`,
//!   `/duo/enroll/wait`, `/settings/auth`, `/settings/universal`) refuses a missing, wrong or
//!   foreign token with 403 and changes nothing; the right token works.
//! - **No page past the password without Duo**: direct URLs with a half-signed-in session; a
//!   Universal Prompt answer replayed, presented to another session, or carrying a code Duo
//!   issued for another user.
//! - **Revocation**: a role the role sync removes is gone from existing sessions at their next
//!   request, and a user left with no role is signed out.
#![allow(clippy::unwrap_used)]

#[path = "../examples/duo_login_portal/portal/mod.rs"]
#[allow(dead_code)]
mod portal;
mod portal_support;

use portal_support::{StoreFile, Visitor, duo_decides, query_param, start, start_mode};
use reqwest::StatusCode;
use role_sync::{Guard, Policy};

#[tokio::test]
async fn the_session_id_changes_at_the_password_and_after_duo() {
    let running = start_mode(portal::Mode::Universal).await;
    let mut victim = Visitor::new(&running.url);

    // An id the portal never issued is not adopted: the form comes with a new one, and a
    // password posted under the made-up one is refused.
    victim.cookie = Some("portal_session=chosen-by-the-attacker".to_owned());
    let csrf = victim.login_form().await;
    assert_ne!(victim.session_id(), "chosen-by-the-attacker");
    let mut forger = Visitor::new(&running.url);
    forger.cookie = Some("portal_session=chosen-by-the-attacker".to_owned());
    let refused = forger
        .submit_password("alice", "alice-password", &csrf, &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.set_cookie, None);

    // The attacker gets a genuine anonymous id and plants it in the victim's browser.
    let mut attacker = Visitor::new(&running.url);
    let csrf = attacker.login_form().await;
    let planted = attacker.cookie.clone().unwrap();
    victim.cookie = Some(planted.clone());
    let at_password = victim
        .submit_password("alice", "alice-password", &csrf, &[])
        .await;
    assert_eq!(at_password.status, StatusCode::SEE_OTHER);
    let after_password = victim.cookie.clone().unwrap();
    assert_ne!(after_password, planted, "rotated at the password step");

    let callback = duo_decides(&at_password.location, true).await;
    let home = victim.get(&callback).await;
    assert!(home.redirects_to("/"), "{home:?}");
    let after_duo = victim.cookie.clone().unwrap();
    assert_ne!(after_duo, after_password, "rotated again after Duo");
    assert_eq!(victim.get("/").await.status, StatusCode::OK);

    // Neither earlier id opens anything now.
    for old in [planted, after_password] {
        attacker.cookie = Some(old.clone());
        let home = attacker.get("/").await;
        assert!(home.redirects_to("/login"), "{old}: {home:?}");
        assert!(attacker.get("/settings").await.redirects_to("/login"));
    }
    running.shutdown().await;

    // Push mode alike: a new id at the password step, another once the push is approved.
    let running = start_mode(portal::Mode::Push).await;
    let mut bob = Visitor::new(&running.url);
    let csrf = bob.login_form().await;
    let before = bob.cookie.clone().unwrap();
    let at_password = bob.submit_password("bob", "bob-password", &csrf, &[]).await;
    assert!(at_password.redirects_to("/duo/push"), "{at_password:?}");
    let after_password = bob.cookie.clone().unwrap();
    assert_ne!(after_password, before);
    let pushed = bob.push().await;
    assert!(pushed.body.contains(r#""next":"/""#), "{pushed:?}");
    assert_ne!(bob.cookie.clone().unwrap(), after_password);
    assert_eq!(bob.get("/").await.status, StatusCode::OK);
    let mut attacker = Visitor::new(&running.url);
    for old in [before, after_password] {
        attacker.cookie = Some(old);
        assert!(attacker.get("/").await.redirects_to("/login"));
    }
    running.shutdown().await;
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let running = start_mode(portal::Mode::Universal).await;
    let mut alice = Visitor::new(&running.url);
    alice.sign_in("alice").await;
    let home = alice.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let copied = alice.cookie.clone().unwrap();

    // Without the form's token the logout is refused (a cross-site form cannot sign anyone out)
    // and the session lives on.
    let refused = alice.post("/logout", &[("csrf", "wrong")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(alice.get("/").await.status, StatusCode::OK);

    let out = alice.post("/logout", &[("csrf", &home.csrf())]).await;
    assert!(out.redirects_to("/login"), "{out:?}");
    assert!(
        out.set_cookie.as_deref().unwrap().contains("Max-Age=0"),
        "{out:?}"
    );
    // The browser forgot its cookie; a copy of it is worth nothing either: the session is gone
    // from the server.
    let mut thief = Visitor::new(&running.url);
    thief.cookie = Some(copied);
    assert!(thief.get("/").await.redirects_to("/login"));
    assert!(thief.get("/settings").await.redirects_to("/login"));
    running.shutdown().await;
}

#[tokio::test]
async fn cookies_are_httponly_samesite_and_over_https_secure() {
    let plain = start_mode(portal::Mode::Universal).await;
    let mut visitor = Visitor::new(&plain.url);
    let form = visitor.get("/login").await;
    let cookie = form.set_cookie.clone().unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    // Over plain HTTP a `Secure` cookie would never come back: the loopback demo sends none.
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(form.headers.get("strict-transport-security").is_none());
    plain.shutdown().await;

    // Behind a TLS-terminating proxy: the public URL is https.
    let https = start(portal::Options {
        public_url: Some("https://portal.example.test".to_owned()),
        ..Default::default()
    })
    .await;
    assert_eq!(https.url, "https://portal.example.test/login");
    let mut visitor = Visitor::new(&format!("http://{}", https.addr));
    let form = visitor.get("/login").await;
    let cookie = form.set_cookie.clone().unwrap();
    assert!(cookie.starts_with("__Host-portal_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(
        form.header("strict-transport-security")
            .starts_with("max-age=")
    );
    // The portal reads that cookie back: the password step goes on to Duo, with a new one.
    let to_duo = visitor
        .submit_password("alice", "alice-password", &form.csrf(), &[])
        .await;
    assert_eq!(to_duo.status, StatusCode::SEE_OTHER, "{to_duo:?}");
    assert!(to_duo.set_cookie.unwrap().contains("; Secure"));
    https.shutdown().await;
}

#[tokio::test]
async fn every_state_changing_post_checks_the_csrf_token() {
    let db = StoreFile::new("csrf");
    let universal = start(portal::Options {
        db: Some(db.path().to_owned()),
        ..Default::default()
    })
    .await;
    let sandbox = universal.sandbox.as_ref().unwrap();

    // The password form: missing, wrong, or another session's token.
    let mut other = Visitor::new(&universal.url);
    let others_token = other.login_form().await;
    let mut visitor = Visitor::new(&universal.url);
    let token = visitor.login_form().await;
    for bad in ["", "wrong", &others_token] {
        let refused = visitor
            .submit_password("alice", "alice-password", bad, &[])
            .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{bad:?}: {refused:?}"
        );
    }
    let fields = [("username", "alice"), ("password", "alice-password")];
    assert_eq!(
        visitor.post("/login", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    let to_duo = visitor
        .submit_password("alice", "alice-password", &token, &[])
        .await;
    assert_eq!(
        to_duo.status,
        StatusCode::SEE_OTHER,
        "the right token works"
    );

    // The settings forms, as the administrator: a forged save changes nothing.
    let mut alice = Visitor::new(&universal.url);
    alice.sign_in("alice").await;
    let csrf = alice.get("/settings").await.csrf();
    let auth = &sandbox.credentials().duo.auth;
    let web = &sandbox.credentials().duo.universal;
    let auth_fields = [
        ("ikey", auth.integration_key.as_str()),
        ("skey", auth.secret_key.as_str()),
        ("host", auth.api_host.as_str()),
    ];
    let web_fields = [
        ("client_id", web.client_id.as_str()),
        ("client_secret", web.client_secret.as_str()),
        ("api_host", web.api_host.as_str()),
    ];
    for (path, fields) in [
        ("/settings/auth", &auth_fields),
        ("/settings/universal", &web_fields),
    ] {
        for bad in [None, Some("wrong"), Some(others_token.as_str())] {
            let mut form = fields.to_vec();
            form.extend(bad.map(|t| ("csrf", t)));
            let refused = alice.post(path, &form).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path} {bad:?}");
        }
    }
    let store = db.open();
    assert_eq!(store.setting("duo.auth.ikey").unwrap(), None);
    assert_eq!(store.setting("duo.universal.client_id").unwrap(), None);
    let mut form = auth_fields.to_vec();
    form.push(("csrf", &csrf));
    let saved = alice.post("/settings/auth", &form).await;
    assert!(
        saved.body.contains(r#"id="result" class="ok""#),
        "{saved:?}"
    );
    assert_eq!(
        store.setting("duo.auth.ikey").unwrap().as_deref(),
        Some(auth.integration_key.as_str())
    );
    // The logout form: refused without the token, the session intact (tested at length in
    // `logout_ends_the_session_on_the_server`).
    assert_eq!(
        alice.post("/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(alice.get("/").await.status, StatusCode::OK);
    universal.shutdown().await;

    // Push mode: the push and the enrollment are sent only with the page's token.
    let push = start_mode(portal::Mode::Push).await;
    let mut bob = Visitor::new(&push.url);
    let at_password = bob.password("bob", "bob-password").await;
    assert!(at_password.redirects_to("/duo/push"), "{at_password:?}");
    let csrf = bob.get("/duo/push").await.csrf();
    for bad in [&[("csrf", "wrong")][..], &[]] {
        let refused = bob.post("/duo/push/wait", bad).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
        // Nothing was spent: the push page is still there.
        assert_eq!(bob.get("/duo/push").await.status, StatusCode::OK);
    }
    let pushed = bob.post("/duo/push/wait", &[("csrf", &csrf)]).await;
    assert!(pushed.body.contains(r#""next":"/""#), "{pushed:?}");

    let duo = push.sandbox.as_ref().unwrap().duo();
    duo.set_enroll_delay(std::time::Duration::ZERO);
    let mut carol = Visitor::new(&push.url);
    let at_password = carol.password("carol", "carol-password").await;
    assert!(at_password.redirects_to("/duo/enroll"), "{at_password:?}");
    let csrf = carol.get("/duo/enroll").await.csrf();
    let refused = carol.post("/duo/enroll/wait", &[("csrf", "wrong")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(carol.get("/duo/enroll").await.status, StatusCode::OK);
    let enrolled = carol.post("/duo/enroll/wait", &[("csrf", &csrf)]).await;
    assert!(
        enrolled.body.contains(r#""next":"/duo/continue""#),
        "{enrolled:?}"
    );
    push.shutdown().await;
}

#[tokio::test]
async fn no_page_past_the_password_without_duo() {
    // Universal Prompt: the password is right, Duo's prompt is open, and the browser goes
    // straight for the pages behind it instead.
    let universal = start_mode(portal::Mode::Universal).await;
    let mut attacker = Visitor::new(&universal.url);
    attacker.open_prompt("alice").await;
    for path in [
        "/",
        "/settings",
        "/duo/continue",
        "/duo/push",
        "/duo/enroll",
    ] {
        let answer = attacker.get(path).await;
        assert!(answer.redirects_to("/login"), "{path}: {answer:?}");
    }
    // A callback without Duo's answer, or with a made-up one.
    for query in ["", "?state=x&duo_code=y", "?error=none"] {
        let answer = attacker.get(&format!("/duo-callback{query}")).await;
        assert!(answer.status.is_client_error(), "{query}: {answer:?}");
        assert!(attacker.get("/").await.redirects_to("/login"));
    }
    universal.shutdown().await;

    // Push mode: at the push page, at the activation page.
    let push = start_mode(portal::Mode::Push).await;
    push.sandbox
        .as_ref()
        .unwrap()
        .duo()
        .set_enroll_delay(std::time::Duration::from_secs(3600));
    let mut bob = Visitor::new(&push.url);
    assert!(
        bob.password("bob", "bob-password")
            .await
            .redirects_to("/duo/push")
    );
    let mut carol = Visitor::new(&push.url);
    assert!(
        carol
            .password("carol", "carol-password")
            .await
            .redirects_to("/duo/enroll")
    );
    for visitor in [&mut bob, &mut carol] {
        for path in ["/", "/settings", "/duo/continue"] {
            let answer = visitor.get(path).await;
            assert!(answer.redirects_to("/login"), "{path}: {answer:?}");
        }
    }
    push.shutdown().await;
}

#[tokio::test]
async fn a_duo_answer_counts_once_and_only_for_its_own_sign_in() {
    let running = start_mode(portal::Mode::Universal).await;

    // Replayed: alice's genuine answer, used, then presented again — with her new cookie, with
    // none, and in another browser that has a sign-in of its own pending.
    let mut alice = Visitor::new(&running.url);
    let prompt = alice.open_prompt("alice").await;
    let answer = duo_decides(&prompt, true).await;
    assert!(alice.get(&answer).await.redirects_to("/"));
    let replay = alice.get(&answer).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert_eq!(replay.set_cookie, None, "no new session from a replay");
    let mut stranger = Visitor::new(&running.url);
    assert_eq!(stranger.get(&answer).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(stranger.cookie, None);
    let mut attacker = Visitor::new(&running.url);
    attacker.open_prompt("alice").await;
    let replay = attacker.get(&answer).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert!(replay.body.contains("does not match"), "{}", replay.body);
    assert!(attacker.get("/").await.redirects_to("/login"));

    // Foreign: the attacker knows alice's password, not her phone. It approves its own Duo
    // (bob's) in another browser and presents that answer to alice's pending sign-in.
    let mut attacker = Visitor::new(&running.url);
    attacker.open_prompt("alice").await;
    let mut accomplice = Visitor::new(&running.url);
    let bobs = duo_decides(&accomplice.open_prompt("bob").await, true).await;
    let presented = attacker.get(&bobs).await;
    assert_eq!(presented.status, StatusCode::BAD_REQUEST, "{presented:?}");
    assert_eq!(presented.set_cookie, None);
    assert!(attacker.get("/").await.redirects_to("/login"));

    // A code for another user: this time with alice's own `state` (which her prompt's answer
    // carries, denied) and a code Duo issued for bob's approval.
    let mut attacker = Visitor::new(&running.url);
    let alices_prompt = attacker.open_prompt("alice").await;
    let denied = duo_decides(&alices_prompt, false).await;
    let bobs = duo_decides(&accomplice.open_prompt("bob").await, true).await;
    let forged = format!(
        "/duo-callback?state={}&duo_code={}",
        query_param(&denied, "state"),
        query_param(&bobs, "duo_code"),
    );
    let presented = attacker.get(&forged).await;
    assert!(presented.redirects_to("/denied"), "{presented:?}");
    assert_eq!(presented.set_cookie, None);
    let why = attacker.get("/denied").await;
    assert!(why.body.contains("was not accepted"), "{}", why.body);
    assert!(attacker.get("/").await.redirects_to("/login"));
    running.shutdown().await;
}

#[tokio::test]
async fn roles_the_sync_revokes_are_gone_from_existing_sessions() {
    let db = StoreFile::new("revoke");
    let running = start(portal::Options {
        db: Some(db.path().to_owned()),
        ..Default::default()
    })
    .await;
    let mut alice = Visitor::new(&running.url);
    alice.sign_in("alice").await;
    let mut bob = Visitor::new(&running.url);
    bob.sign_in("bob").await;
    assert!(
        alice
            .get("/")
            .await
            .body
            .contains(r#"<span class="role">admin</span>"#)
    );
    assert_eq!(alice.get("/settings").await.status, StatusCode::OK);

    let signed_in = alice.cookie.clone();

    // A sync moves alice from Portal Admins to Portal Viewers (leaving Portal Admins empty: a
    // guard the operator overrides after reading the plan): her open session loses admin at its
    // next request.
    let store = db.open();
    let mapping = portal::demo::role_mapping();
    let mut members = portal::demo::MEMBERSHIPS.to_vec();
    members[0].0 = "Portal Viewers";
    portal::demo::sync_roles(
        &store,
        &mapping,
        &portal::demo::directory(&members),
        &Policy::default().allow(Guard::EmptySource),
    )
    .unwrap();
    let home = alice.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        !home.body.contains(r#"<span class="role">admin</span>"#),
        "{}",
        home.body
    );
    assert!(!home.body.contains(r#"href="/settings""#));
    assert_eq!(alice.get("/settings").await.status, StatusCode::FORBIDDEN);

    // alice leaves every mapped group (deactivated in Okta, say): the sync revokes her last
    // role and her session ends at its next request, for good.
    portal::demo::sync_roles(
        &store,
        &mapping,
        &portal::demo::directory(&members[1..]),
        &Policy::default()
            .allow(Guard::EmptySource)
            .allow(Guard::Revocations),
    )
    .unwrap();
    assert!(store.roles("alice").unwrap().is_empty());
    assert!(alice.get("/").await.redirects_to("/login"));
    // A role granted again later does not revive that session.
    store
        .grant("alice", "viewer", role_sync::GrantSource::Manual)
        .unwrap();
    alice.cookie = signed_in;
    assert!(alice.get("/").await.redirects_to("/login"));
    assert!(alice.get("/settings").await.redirects_to("/login"));
    let notice = alice.get("/login").await;
    assert!(notice.body.contains("withdrawn"), "{}", notice.body);
    // bob, whom neither sync changed, is still signed in.
    assert_eq!(bob.get("/").await.status, StatusCode::OK);
    running.shutdown().await;
}
