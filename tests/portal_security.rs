//! The `duo_login_portal` example attacked over HTTP, as integrators will copy it: the same
//! `start` function its `main` calls, driven with plain requests (no browser).
//!
//! Brute force: an account locks at the fifth wrong password in a row (429 with `Retry-After`,
//! the right password refused too, an unknown login locked the same way so that a lockout tells
//! nothing about which accounts exist), and the other accounts keep working.
#![allow(clippy::unwrap_used)]

#[path = "../examples/duo_login_portal/portal/mod.rs"]
#[allow(dead_code)]
mod portal;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};

/// One visitor: its session cookie, carried by hand.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Visitor {
    fn new(base: &str) -> Self {
        Visitor {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.trim_end_matches("/login").to_owned(),
            cookie: None,
        }
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
    }

    /// The login form; its CSRF token.
    async fn form(&mut self) -> String {
        let mut request = self.http.get(format!("{}/login", self.base));
        if let Some(c) = &self.cookie {
            request = request.header(COOKIE, c);
        }
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        let status = response.status();
        let html = response.text().await.unwrap();
        let at = html
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no CSRF field in the form (HTTP {status}): {html}"))
            + 19;
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    }

    /// Submits the password step; the answer's status, `Location` and `Retry-After`.
    async fn sign_in(&mut self, login: &str, password: &str) -> (StatusCode, String, Option<u64>) {
        let csrf = self.form().await;
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, self.cookie.clone().unwrap())
            .form(&[("username", login), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        self.keep_cookie(&response);
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let retry = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().parse().unwrap());
        (response.status(), location, retry)
    }
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_not_the_others() {
    let running = portal::start(portal::Options {
        mode: portal::Mode::Universal,
        port: 0,
        db: None,
        tenant: None,
    })
    .await
    .unwrap();
    let mut attacker = Visitor::new(&running.url);

    // Five wrong passwords: each answered as an ordinary "wrong password" (back to the form);
    // the fifth locks the account for 30 s …
    for _ in 0..5 {
        let (status, location, _) = attacker.sign_in("alice", "guess").await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/login")
        );
    }
    let (status, _, retry) = attacker.sign_in("alice", "alice-password").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused too"
    );
    assert!(matches!(retry, Some(1..=30)), "{retry:?}");
    // … whoever asks, and whatever the case of the login.
    let mut owner = Visitor::new(&running.url);
    let (status, _, _) = owner.sign_in("ALICE", "alice-password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Another account signs in (the password step passes: on to Duo's prompt).
    let (status, location, _) = owner.sign_in("bob", "bob-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.contains("/frame/") || location.contains("authorize"),
        "{location}"
    );

    // A login that does not exist locks exactly like one that does.
    for _ in 0..5 {
        let (status, _, _) = attacker.sign_in("no.such.user", "guess").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, _, retry) = attacker.sign_in("no.such.user", "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());

    running.shutdown().await;
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let running = portal::start(portal::Options {
        mode: portal::Mode::Push,
        port: 0,
        db: None,
        tenant: None,
    })
    .await
    .unwrap();
    let base = running.url.trim_end_matches("/login").to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/login",
        "/",
        "/settings",
        "/static/poll.js",
        "/no-such-page",
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
        };
        let csp = header("content-security-policy");
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert_eq!(
            script_src, "script-src 'self'",
            "{path}: inline scripts refused"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("cache-control"), "no-store");
        assert_eq!(header("referrer-policy"), "same-origin");
    }
    // No page of the portal has an inline script left (the CSP would block it).
    let login = http.get(format!("{base}/login")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    running.shutdown().await;
}
