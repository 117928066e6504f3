//! The `duo_login_portal` example's sessions attacked over HTTP: the same `start` function its
//! `main` calls, driven with plain requests, Okta and Duo being the in-process sandbox (its SAML
//! sign-in page and Universal Prompt answered over HTTP too). The IdP's POST to the ACS URL is
//! sent without the session cookie, as a browser sends a cross-site POST with a `SameSite=Lax`
//! cookie.
//!
//! - **Sign in with Okta (SAML)**: a user the sync created signs in, one it did not create is
//!   refused with a page that says why (unless just-in-time creation is on and their groups map
//!   to roles), and becomes a user once a sync creates them; a replayed Response is refused, at
//!   the ACS and at the continuation; a Response for another browser's request (login CSRF, or a
//!   stolen one) is refused; a Response Okta signed badly (expired, wrong audience, unknown
//!   certificate, unsigned) is refused; a break-glass account cannot sign in through Okta, and
//!   nobody else with a password.
//! - **Rotation and fixation**: the session id changes at the password step (break-glass), at
//!   "Sign in with Okta", when Okta's answer is accepted, and again after Duo; an id planted
//!   before the sign-in (or made up) opens nothing afterwards.
//! - **Logout** ends the session on the server: a copy of the cookie is useless after it.
//! - **Cookies**: `HttpOnly`, `SameSite=Lax`, `Path=/`; over HTTPS (a public `https://` URL)
//!   also `Secure`, with the `__Host-` prefix, and HSTS.
//! - **CSRF**: every state-changing POST (`/login`, `/logout`, `/duo/push/wait`,
//!   `/duo/enroll/wait`, `/settings/auth`, `/settings/universal`) refuses a missing, wrong or
//!   foreign token with 403 and changes nothing; the right token works.
//! - **No page past Okta or the password without Duo**: direct URLs with a half-signed-in session; a
//!   Universal Prompt answer replayed, presented to another session, or carrying a code Duo
//!   issued for another user.
//! - **Revocation**: a role the role sync removes is gone from existing sessions at their next
//!   request, and a user left with no role is signed out.
#![allow(clippy::unwrap_used)]

#[path = "../examples/duo_login_portal/portal/mod.rs"]
#[allow(dead_code)]
mod portal;
mod portal_support;

use idp_sandbox::okta::NewOktaUser;
use idp_sandbox::saml::SamlFault;
use portal::demo::{ALICE, BOB, CAROL, ERIN};
use portal_support::{
    StoreFile, Visitor, duo_decides, okta_signs_in, query_param, start, start_mode,
};
use reqwest::StatusCode;
use role_sync::{Guard, Policy};

/// A break-glass account: protected, the only kind with a password (`root-password`).
const ROOT: &str = portal::demo::BREAK_GLASS[0].0;

#[tokio::test]
async fn the_session_id_changes_at_each_sign_in_step_and_after_duo() {
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
        .submit_password(ROOT, "root-password", &csrf, &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.set_cookie, None);

    // The attacker gets a genuine anonymous id and plants it in the victim's browser.
    let mut attacker = Visitor::new(&running.url);
    let csrf = attacker.login_form().await;
    let planted = attacker.cookie.clone().unwrap();
    victim.cookie = Some(planted.clone());
    let at_password = victim
        .submit_password(ROOT, "root-password", &csrf, &[])
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

    // Okta, push mode: a new id at "Sign in with Okta" (an id planted before it is dropped),
    // another once Okta's answer is accepted, another once the push is approved.
    let running = start_mode(portal::Mode::Push).await;
    let mut attacker = Visitor::new(&running.url);
    attacker.login_form().await;
    let mut bob = Visitor::new(&running.url);
    bob.cookie = attacker.cookie.clone();
    let planted = bob.cookie.clone().unwrap();
    let idp = bob.saml_start().await;
    let at_start = bob.cookie.clone().unwrap();
    assert_ne!(at_start, planted, "rotated at Sign in with Okta");
    let posted = okta_signs_in(&idp, BOB).await;
    let at_acs = bob.post_to_acs(&posted).await;
    let after_okta = bob.get(&at_acs.location).await;
    assert!(after_okta.redirects_to("/duo/push"), "{after_okta:?}");
    let after_okta = bob.cookie.clone().unwrap();
    assert_ne!(
        after_okta, at_start,
        "rotated once Okta's answer was accepted"
    );
    let pushed = bob.push().await;
    assert!(pushed.body.contains(r#""next":"/""#), "{pushed:?}");
    assert_ne!(bob.cookie.clone().unwrap(), after_okta);
    assert_eq!(bob.get("/").await.status, StatusCode::OK);
    for old in [planted, at_start, after_okta] {
        attacker.cookie = Some(old);
        assert!(attacker.get("/").await.redirects_to("/login"));
    }
    running.shutdown().await;
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let running = start_mode(portal::Mode::Universal).await;
    let mut alice = Visitor::new(&running.url);
    alice.sign_in(ALICE).await;
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
    // "Sign in with Okta" rotates the session to a Secure cookie as well.
    let mut okta = Visitor::new(&format!("http://{}", https.addr));
    let to_okta = okta.get("/saml/login").await;
    assert_eq!(to_okta.status, StatusCode::SEE_OTHER, "{to_okta:?}");
    assert!(to_okta.set_cookie.unwrap().contains("; Secure"));
    // The portal reads that cookie back: the password step goes on to Duo, with a new one.
    let to_duo = visitor
        .submit_password(ROOT, "root-password", &form.csrf(), &[])
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
            .submit_password(ROOT, "root-password", bad, &[])
            .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{bad:?}: {refused:?}"
        );
    }
    let fields = [("username", ROOT), ("password", "root-password")];
    assert_eq!(
        visitor.post("/login", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    let to_duo = visitor
        .submit_password(ROOT, "root-password", &token, &[])
        .await;
    assert_eq!(
        to_duo.status,
        StatusCode::SEE_OTHER,
        "the right token works"
    );

    // The settings forms, as the administrator: a forged save changes nothing.
    let mut alice = Visitor::new(&universal.url);
    alice.sign_in(ALICE).await;
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
    let at_okta = bob.saml(BOB).await;
    assert!(at_okta.redirects_to("/duo/push"), "{at_okta:?}");
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
    let at_okta = carol.saml(CAROL).await;
    assert!(at_okta.redirects_to("/duo/enroll"), "{at_okta:?}");
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
async fn no_page_past_okta_or_the_password_without_duo() {
    // Universal Prompt: Okta vouched for alice (or a break-glass password was right), Duo's
    // prompt is open, and the browser goes straight for the pages behind it instead.
    let universal = start_mode(portal::Mode::Universal).await;
    let mut by_password = Visitor::new(&universal.url);
    by_password.password_prompt(ROOT).await;
    for path in ["/", "/settings", "/duo/continue"] {
        let answer = by_password.get(path).await;
        assert!(answer.redirects_to("/login"), "{path}: {answer:?}");
    }
    let mut attacker = Visitor::new(&universal.url);
    attacker.open_prompt(ALICE).await;
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
    assert!(bob.saml(BOB).await.redirects_to("/duo/push"));
    let mut carol = Visitor::new(&push.url);
    assert!(carol.saml(CAROL).await.redirects_to("/duo/enroll"));
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
    let prompt = alice.open_prompt(ALICE).await;
    let answer = duo_decides(&prompt, true).await;
    assert!(alice.get(&answer).await.redirects_to("/"));
    let replay = alice.get(&answer).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert_eq!(replay.set_cookie, None, "no new session from a replay");
    let mut stranger = Visitor::new(&running.url);
    assert_eq!(stranger.get(&answer).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(stranger.cookie, None);
    let mut attacker = Visitor::new(&running.url);
    attacker.open_prompt(ALICE).await;
    let replay = attacker.get(&answer).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert!(replay.body.contains("does not match"), "{}", replay.body);
    assert!(attacker.get("/").await.redirects_to("/login"));

    // Foreign: the attacker can sign in to Okta as alice, but does not have her phone. It approves its own Duo
    // (bob's) in another browser and presents that answer to alice's pending sign-in.
    let mut attacker = Visitor::new(&running.url);
    attacker.open_prompt(ALICE).await;
    let mut accomplice = Visitor::new(&running.url);
    let bobs = duo_decides(&accomplice.open_prompt(BOB).await, true).await;
    let presented = attacker.get(&bobs).await;
    assert_eq!(presented.status, StatusCode::BAD_REQUEST, "{presented:?}");
    assert_eq!(presented.set_cookie, None);
    assert!(attacker.get("/").await.redirects_to("/login"));

    // A code for another user: this time with alice's own `state` (which her prompt's answer
    // carries, denied) and a code Duo issued for bob's approval.
    let mut attacker = Visitor::new(&running.url);
    let alices_prompt = attacker.open_prompt(ALICE).await;
    let denied = duo_decides(&alices_prompt, false).await;
    let bobs = duo_decides(&accomplice.open_prompt(BOB).await, true).await;
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
    alice.sign_in(ALICE).await;
    let mut bob = Visitor::new(&running.url);
    bob.sign_in(BOB).await;
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
    assert!(store.roles(ALICE).unwrap().is_empty());
    assert!(alice.get("/").await.redirects_to("/login"));
    // A role granted again later does not revive that session.
    store
        .grant(ALICE, "viewer", role_sync::GrantSource::Manual)
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

// --- Sign in with Okta (SAML) -----------------------------------------------------------------

#[tokio::test]
async fn okta_users_the_sync_created_sign_in_and_others_are_refused() {
    let db = StoreFile::new("saml-provisioned");
    let running = start(portal::Options {
        db: Some(db.path().to_owned()),
        ..Default::default()
    })
    .await;
    let sandbox = running.sandbox.as_ref().unwrap();
    let base = running.url.trim_end_matches("/login");

    // The SP's metadata names its entity ID and ACS URL (what the Okta app is set up with).
    let mut visitor = Visitor::new(&running.url);
    let metadata = visitor.get("/saml/metadata").await;
    assert_eq!(metadata.status, StatusCode::OK);
    assert!(
        metadata
            .body
            .contains(&format!(r#"entityID="{base}/saml/metadata""#)),
        "{}",
        metadata.body
    );
    assert!(
        metadata
            .body
            .contains(&format!(r#"Location="{base}/saml/acs""#))
    );

    // alice, whom the sync made an admin, signs in with Okta, then Duo: home, with her roles.
    let mut alice = Visitor::new(&running.url);
    alice.sign_in(ALICE).await;
    let home = alice.get("/").await;
    assert!(home.body.contains(ALICE), "{}", home.body);
    assert!(home.body.contains(r#"<span class="role">admin</span>"#));

    // erin is in Okta, in no mapped group: the sync never created her. Refused before Duo, with
    // a page that says what to do.
    let mut erin = Visitor::new(&running.url);
    let refused = erin.saml(ERIN).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(
        refused.body.contains("not provisioned in this portal"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("add you to a mapped Okta group"));
    assert!(
        refused
            .body
            .contains(&format!(r#"<b id="okta-user">{ERIN}</b>"#))
    );
    assert!(erin.get("/").await.redirects_to("/login"));

    // A new hire, added to Portal Viewers in Okta: refused until a role sync creates them, then
    // on to Duo like anyone.
    let okta = sandbox.okta();
    let frank = "frank@example.com";
    okta.add_user(NewOktaUser::new(frank)).unwrap();
    let viewers = okta.group("Portal Viewers").unwrap();
    okta.add_member(&viewers.id, frank).unwrap();
    let mut visitor = Visitor::new(&running.url);
    assert_eq!(visitor.saml(frank).await.status, StatusCode::FORBIDDEN);
    portal::demo::sync_from_sandbox(sandbox, &db.open())
        .await
        .unwrap();
    visitor.sign_in(frank).await;
    assert!(
        visitor
            .get("/")
            .await
            .body
            .contains(r#"<span class="role">viewer</span>"#)
    );

    // The IdP's log has every sign-in, refused by the portal or not.
    let signed: Vec<String> = sandbox
        .saml()
        .saml_sign_ins()
        .into_iter()
        .map(|s| s.login)
        .collect();
    assert_eq!(signed, [ALICE, ERIN, frank, frank]);
    running.shutdown().await;
}

#[tokio::test]
async fn just_in_time_creation_only_when_asked_for_and_only_with_a_mapped_group() {
    let db = StoreFile::new("saml-jit");
    let running = start(portal::Options {
        db: Some(db.path().to_owned()),
        saml_jit: true,
        ..Default::default()
    })
    .await;
    let okta = running.sandbox.as_ref().unwrap().okta();
    let grace = "grace@example.com";
    okta.add_user(NewOktaUser::new(grace)).unwrap();
    let viewers = okta.group("Portal Viewers").unwrap();
    okta.add_member(&viewers.id, grace).unwrap();
    let store = db.open();
    assert!(!store.has_user(grace).unwrap());
    let mut visitor = Visitor::new(&running.url);
    visitor.open_prompt(grace).await;
    assert_eq!(store.roles(grace).unwrap(), ["viewer"]);
    // As the sync would have granted it: the next sync manages it.
    let portal = store.load().unwrap();
    let grants = portal.user(grace).unwrap().grants();
    assert!(
        grants
            .iter()
            .all(|g| g.source == role_sync::GrantSource::Sync)
    );
    // None of erin's groups maps to a role: still refused, and not created.
    let mut erin = Visitor::new(&running.url);
    assert_eq!(erin.saml(ERIN).await.status, StatusCode::FORBIDDEN);
    assert!(!store.has_user(ERIN).unwrap());
    running.shutdown().await;
}

#[tokio::test]
async fn a_replayed_response_is_refused() {
    let running = start_mode(portal::Mode::Universal).await;
    let mut alice = Visitor::new(&running.url);
    let idp = alice.saml_start().await;
    let posted = okta_signs_in(&idp, ALICE).await;
    let at_acs = alice.post_to_acs(&posted).await;
    let continuation = at_acs.location.clone();
    let to_duo = alice.get(&continuation).await;
    assert!(
        to_duo.location.contains("/oauth/v1/authorize"),
        "{to_duo:?}"
    );

    // Posted again: the request it answers was answered already.
    let again = alice.post_to_acs(&posted).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{again:?}");
    assert!(again.body.contains("already answered"), "{}", again.body);
    // By another browser that has a sign-in of its own pending: the same.
    let mut attacker = Visitor::new(&running.url);
    attacker.saml_start().await;
    let replay = attacker.post_to_acs(&posted).await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN, "{replay:?}");
    // The continuation, once used, opens nothing, in either browser.
    for visitor in [&mut alice, &mut attacker] {
        let reused = visitor.get(&continuation).await;
        assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{reused:?}");
    }
    assert!(attacker.get("/").await.redirects_to("/login"));
    running.shutdown().await;
}

#[tokio::test]
async fn a_response_for_another_browsers_sign_in_is_refused() {
    let running = start_mode(portal::Mode::Universal).await;

    // Login CSRF: the attacker signs in to Okta as itself (bob) in its own browser, then has the
    // victim's browser post that Response (a form on the attacker's page). The Response is
    // genuine; it just answers a sign-in the victim's browser did not start.
    let mut attacker = Visitor::new(&running.url);
    let idp = attacker.saml_start().await;
    let attackers = okta_signs_in(&idp, BOB).await;
    let mut victim = Visitor::new(&running.url);
    victim.saml_start().await;
    let at_acs = victim.post_to_acs(&attackers).await;
    assert_eq!(at_acs.status, StatusCode::SEE_OTHER, "{at_acs:?}");
    let refused = victim.get(&at_acs.location).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(refused.body.contains("did not start"), "{}", refused.body);
    assert!(victim.get("/").await.redirects_to("/login"));
    // Nor can the attacker use it after that.
    assert_eq!(
        attacker.post_to_acs(&attackers).await.status,
        StatusCode::FORBIDDEN
    );

    // Stolen: the victim's Response, presented by the thief's browser (with a sign-in of its
    // own pending) before the victim's browser posts it; or by a browser with no session.
    for thief_starts in [true, false] {
        let idp = victim.saml_start().await;
        let victims = okta_signs_in(&idp, ALICE).await;
        let mut thief = Visitor::new(&running.url);
        if thief_starts {
            thief.saml_start().await;
        }
        let at_acs = thief.post_to_acs(&victims).await;
        let refused = thief.get(&at_acs.location).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
        assert!(thief.get("/").await.redirects_to("/login"));
        assert_eq!(refused.set_cookie, None);
    }
    running.shutdown().await;
}

#[tokio::test]
async fn responses_okta_signed_wrongly_are_refused_with_the_reason() {
    let running = start_mode(portal::Mode::Universal).await;
    let saml = running.sandbox.as_ref().unwrap().saml();
    let app = saml.default_app();
    for (fault, says) in [
        (SamlFault::Expired, "too old"),
        (SamlFault::WrongAudience, "Audience URI"),
        (SamlFault::WrongCertificate, "does not trust"),
        (
            SamlFault::Unsigned,
            "neither the Response nor its Assertion is signed",
        ),
    ] {
        saml.set_fault(app.id(), Some(fault)).unwrap();
        let mut visitor = Visitor::new(&running.url);
        let idp = visitor.saml_start().await;
        let posted = okta_signs_in(&idp, ALICE).await;
        let refused = visitor.post_to_acs(&posted).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{fault:?}: {refused:?}"
        );
        assert!(refused.body.contains(says), "{fault:?}: {}", refused.body);
        assert!(visitor.get("/").await.redirects_to("/login"));
    }
    saml.set_fault(app.id(), None).unwrap();
    Visitor::new(&running.url).open_prompt(ALICE).await;
    running.shutdown().await;
}

#[tokio::test]
async fn passwords_are_for_break_glass_accounts_only_and_those_never_sign_in_with_okta() {
    let db = StoreFile::new("break-glass");
    let running = start(portal::Options {
        db: Some(db.path().to_owned()),
        ..Default::default()
    })
    .await;
    // alice kept a local password from before Okta: the right one is refused, pointing to Okta.
    let store = db.open();
    store.add_user(ALICE, Some("old-password"), false).unwrap();
    let mut alice = Visitor::new(&running.url);
    assert!(
        alice
            .password(ALICE, "old-password")
            .await
            .redirects_to("/login")
    );
    let notice = alice.get("/login").await;
    assert!(
        notice.body.contains("This account signs in with Okta"),
        "{}",
        notice.body
    );
    assert!(alice.get("/").await.redirects_to("/login"));
    // A wrong password is answered as for anyone, with the same hint.
    assert!(alice.password(ALICE, "guess").await.redirects_to("/login"));
    let notice = alice.get("/login").await;
    assert!(
        notice.body.contains("Wrong username or password"),
        "{}",
        notice.body
    );
    assert!(notice.body.contains("break-glass accounts"));
    // The break-glass account's password leads on to Duo.
    Visitor::new(&running.url).password_prompt(ROOT).await;

    // An Okta user whose login is a break-glass account's does not become that account.
    let okta = running.sandbox.as_ref().unwrap().okta();
    okta.add_user(NewOktaUser::new(ROOT)).unwrap();
    let mut impostor = Visitor::new(&running.url);
    let refused = impostor.saml(ROOT).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(
        refused.body.contains("break-glass account"),
        "{}",
        refused.body
    );
    assert!(impostor.get("/").await.redirects_to("/login"));
    running.shutdown().await;
}
