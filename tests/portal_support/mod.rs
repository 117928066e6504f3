//! What the portal tests share: a visitor that carries its session cookie by hand (so a test can
//! copy, plant or replay it, and leave it off the IdP's cross-site POST as a browser does), the
//! sandbox's Okta sign-in page, Universal Prompt and push driven over plain HTTP, and a portal
//! store file the test can open beside the running portal (as the role sync does).
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use idp_sandbox::saml::{PostedResponse, SignInForm};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};

use crate::portal;

/// Starts the portal on a free port with the sandbox as Duo.
pub(crate) async fn start(options: portal::Options) -> portal::Running {
    portal::start(portal::Options {
        port: 0,
        tenant: None,
        ..options
    })
    .await
    .unwrap()
}

/// Starts the portal in `mode` with an in-memory store.
pub(crate) async fn start_mode(mode: portal::Mode) -> portal::Running {
    start(portal::Options {
        mode,
        ..Default::default()
    })
    .await
}

/// The portal's store in a file of its own, removed when dropped: the portal and the test
/// open it side by side.
pub(crate) struct StoreFile(pub(crate) PathBuf);

impl StoreFile {
    pub(crate) fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("portal-test-{name}-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        StoreFile(path)
    }

    pub(crate) fn open(&self) -> duo_okta_sdk::portal::PortalStore {
        duo_okta_sdk::portal::PortalStore::open(&self.0).unwrap()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StoreFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// `Location`, or empty.
    pub(crate) location: String,
    /// `Set-Cookie`, whole, if any.
    pub(crate) set_cookie: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The header's value, or a panic naming it.
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {self:?}"))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Whether the answer is the redirect to `to`.
    pub(crate) fn redirects_to(&self, to: &str) -> bool {
        self.status == StatusCode::SEE_OTHER && self.location == to
    }

    /// The anti-CSRF token of the page's forms (or of its polling script).
    pub(crate) fn csrf(&self) -> String {
        for marker in [r#"name="csrf" value=""#, r#"data-csrf=""#] {
            if let Some(at) = self.body.find(marker) {
                let at = at + marker.len();
                return self.body[at..at + self.body[at..].find('"').unwrap()].to_owned();
            }
        }
        panic!(
            "no CSRF token in the page (HTTP {}): {}",
            self.status, self.body
        )
    }
}

/// One browser: its session cookie (`name=value`), carried by hand.
pub(crate) struct Visitor {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookie: Option<String>,
}

impl Visitor {
    /// A visitor of the portal at `url` (its `/login` URL or its base).
    pub(crate) fn new(url: &str) -> Self {
        Self::build(url, reqwest::Client::builder())
    }

    /// A visitor whose connections come from `source` (any address of 127.0.0.0/8 is this
    /// machine's loopback: each test can be its own "client address").
    pub(crate) fn from_address(url: &str, source: IpAddr) -> Self {
        Self::build(url, reqwest::Client::builder().local_address(source))
    }

    fn build(url: &str, builder: reqwest::ClientBuilder) -> Self {
        Visitor {
            http: builder
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: url.trim_end_matches("/login").to_owned(),
            cookie: None,
        }
    }

    /// The session id alone (the cookie's value).
    pub(crate) fn session_id(&self) -> String {
        let cookie = self.cookie.as_deref().expect("no session cookie");
        cookie.split_once('=').unwrap().1.to_owned()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends the request with the session cookie; keeps what the answer sets.
    pub(crate) async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(c) => request.header(COOKIE, c),
            None => request,
        };
        self.send_as_is(request).await
    }

    /// Sends the request without the session cookie (as a browser sends a cross-site POST with
    /// a `SameSite=Lax` cookie); keeps what the answer sets.
    pub(crate) async fn send_as_is(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned());
        if let Some(set) = &set_cookie {
            let pair = set.split(';').next().unwrap().trim().to_owned();
            self.cookie = if set.contains("Max-Age=0") {
                None
            } else {
                Some(pair)
            };
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status,
            location,
            set_cookie,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(self.url(path));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(self.url(path)).form(form);
        self.send(request).await
    }

    /// The login form's CSRF token (a fresh session comes with the form).
    pub(crate) async fn login_form(&mut self) -> String {
        self.get("/login").await.csrf()
    }

    /// The password step: the form, then the submission.
    pub(crate) async fn password(&mut self, login: &str, password: &str) -> Answer {
        let csrf = self.login_form().await;
        self.submit_password(login, password, &csrf, &[]).await
    }

    /// Submits the password form with this token and extra headers.
    pub(crate) async fn submit_password(
        &mut self,
        login: &str,
        password: &str,
        csrf: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.http.post(self.url("/login")).form(&[
            ("username", login),
            ("password", password),
            ("csrf", csrf),
        ]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// "Sign in with Okta": the portal's redirect to the IdP (the URL with the AuthnRequest).
    pub(crate) async fn saml_start(&mut self) -> String {
        let answer = self.get("/saml/login").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
        assert!(answer.location.contains("SAMLRequest="), "{answer:?}");
        answer.location
    }

    /// Okta's page posts the Response to the ACS URL: cross-site, so without the session cookie.
    pub(crate) async fn post_to_acs(&mut self, posted: &PostedResponse) -> Answer {
        let request = self
            .http
            .post(&posted.acs_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(posted.body());
        self.send_as_is(request).await
    }

    /// The whole SAML sign-in of `login` up to the answer of `/saml/continue` (Duo next, or a
    /// refusal).
    pub(crate) async fn saml(&mut self, login: &str) -> Answer {
        let idp = self.saml_start().await;
        let posted = okta_signs_in(&idp, login).await;
        let at_acs = self.post_to_acs(&posted).await;
        assert_eq!(at_acs.status, StatusCode::SEE_OTHER, "{at_acs:?}");
        assert!(
            at_acs.location.starts_with("/saml/continue?t="),
            "{at_acs:?}"
        );
        assert_eq!(at_acs.set_cookie, None, "the ACS sets no cookie");
        self.get(&at_acs.location).await
    }

    /// Universal Prompt mode: the SAML sign-in of an Okta user; the URL of Duo's prompt.
    pub(crate) async fn open_prompt(&mut self, login: &str) -> String {
        let answer = self.saml(login).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
        assert!(
            answer.location.contains("/oauth/v1/authorize"),
            "{answer:?}"
        );
        answer.location
    }

    /// Universal Prompt mode: the password step of a break-glass account (`{login}-password`);
    /// the URL of Duo's prompt.
    pub(crate) async fn password_prompt(&mut self, login: &str) -> String {
        let answer = self.password(login, &format!("{login}-password")).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
        assert!(
            answer.location.contains("/oauth/v1/authorize"),
            "{answer:?}"
        );
        answer.location
    }

    /// Universal Prompt mode, all the way: Okta (SAML), Approve in Duo's prompt, the callback.
    pub(crate) async fn sign_in(&mut self, login: &str) -> Answer {
        let prompt = self.open_prompt(login).await;
        let callback = duo_decides(&prompt, true).await;
        let home = self.get(&callback).await;
        assert!(home.redirects_to("/"), "{login}: {home:?}");
        home
    }

    /// Push mode: the password step, then the push (approved by the sandbox); the answer of
    /// the push page's poll.
    pub(crate) async fn push(&mut self) -> Answer {
        let page = self.get("/duo/push").await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let csrf = page.csrf();
        self.post("/duo/push/wait", &[("csrf", &csrf)]).await
    }
}

/// Okta (the sandbox's IdP, at the URL the portal redirected to) signs `login` in: its sign-in
/// page, the user picked; the page that posts the Response, read.
pub(crate) async fn okta_signs_in(idp_url: &str, login: &str) -> PostedResponse {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(idp_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let form = SignInForm::parse(&page.text().await.unwrap()).expect("the sign-in page");
    let action = reqwest::Url::parse(idp_url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    let answer = http
        .post(action)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.body(login))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let html = answer.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    PostedResponse::parse(&html).expect("the auto-posting form")
}

/// Someone answers Duo's (sandbox) prompt at `prompt`; the URL Duo sends the browser back to
/// (the portal's callback with `duo_code` and `state`), not followed.
pub(crate) async fn duo_decides(prompt: &str, approve: bool) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(prompt).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let marker = r#"action=""#;
    let at = html.find(marker).unwrap() + marker.len();
    let action = &html[at..at + html[at..].find('"').unwrap()];
    let duo = reqwest::Url::parse(prompt).unwrap().join(action).unwrap();
    let decision = if approve { "approve" } else { "deny" };
    let answer = http
        .post(duo)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("decision={decision}"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_redirection(), "{answer:?}");
    answer.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// A query parameter of a URL.
pub(crate) fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}
