//! Server-side sessions behind an opaque cookie.
//!
//! The cookie holds only a random id (36 letters and digits from a CSPRNG, ~214 bits), so it
//! needs no signature: guessing one is hopeless, and everything the portal believes about the
//! browser stays on the server. The id changes whenever the user's privileges do (after the
//! password, after Duo) so an id planted before login is worth nothing afterwards.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use duo_auth::client::Enrollment;
use duo_auth::gate::{Challenge, Login};

/// The cookie's name over plain HTTP (the loopback demo).
pub(crate) const COOKIE_NAME: &str = "portal_session";
/// The cookie's name over HTTPS. Browsers accept a `__Host-` cookie only with `Secure`,
/// `Path=/` and no `Domain`, so a sibling subdomain or a plain-HTTP page cannot plant one (a
/// cookie-tossing session fixation).
pub(crate) const SECURE_COOKIE_NAME: &str = "__Host-portal_session";
/// Sessions are forgotten after this long, signed in or not.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// A half-finished second factor (Universal Prompt open, push pending…) expires sooner.
pub(crate) const PENDING_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Where a browser is in the sign-in.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// Nothing yet (the login form).
    Anonymous,
    /// "Sign in with Okta": this browser was sent to the IdP with the AuthnRequest
    /// `request_id`. Only a Response to that request completes the sign-in in this session.
    Saml { request_id: String, since: Instant },
    /// Password accepted, Duo's Universal Prompt is open; `state` and `nonce` were sent to Duo.
    Universal {
        login: String,
        duo_username: String,
        state: String,
        nonce: String,
        since: Instant,
    },
    /// Password accepted, a push is to be sent (Auth API mode).
    Push {
        login: Login,
        challenge: Challenge,
        since: Instant,
    },
    /// Password accepted, the user is activating Duo Mobile (Auth API mode).
    Enrolling {
        login: Login,
        enrollment: Enrollment,
        since: Instant,
    },
    /// Duo confirmed the activation: the next step is the gate again.
    Enrolled { login: Login, since: Instant },
    /// Fully signed in.
    SignedIn { login: String, duo: String },
}

impl Stage {
    /// When a pending second factor started, if one is pending.
    fn pending_since(&self) -> Option<Instant> {
        match self {
            Stage::Saml { since, .. }
            | Stage::Universal { since, .. }
            | Stage::Push { since, .. }
            | Stage::Enrolling { since, .. }
            | Stage::Enrolled { since, .. } => Some(*since),
            Stage::Anonymous | Stage::SignedIn { .. } => None,
        }
    }
}

/// One browser's session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The anti-CSRF token every form of this session carries.
    pub(crate) csrf: String,
    /// Where the browser is.
    pub(crate) stage: Stage,
    /// A message for the next page (why access was denied…).
    pub(crate) notice: Option<String>,
    created: Instant,
}

/// All sessions, in memory (a real portal would use its database or a cache).
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// Whether the browser reaches the portal over HTTPS (then the cookie is `Secure`).
    secure: bool,
}

pub(crate) fn random() -> String {
    duo_auth::universal::generate_state()
}

impl Sessions {
    /// No sessions yet; `secure` when the browser reaches the portal over HTTPS (directly or
    /// through a TLS-terminating proxy).
    pub(crate) fn new(secure: bool) -> Self {
        Sessions {
            map: Mutex::default(),
            secure,
        }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    /// The `Set-Cookie` value for a session id: not readable from JavaScript (`HttpOnly`), not
    /// sent on cross-site subrequests or POSTs (`SameSite=Lax`) — so not on the IdP's POST to
    /// the ACS URL either, which is why the SAML sign-in finishes on a same-site GET
    /// (`/saml/continue`) — but sent on top-level navigations such as the redirect back from
    /// Duo, which the Universal Prompt callback needs; and, over HTTPS, never sent over plain
    /// HTTP (`Secure`), where anyone on the path could read it.
    pub(crate) fn set_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.cookie_name()
        )
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub(crate) fn clear_cookie(&self) -> String {
        self.set_cookie("") + "; Max-Age=0"
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session named by the request's cookie, if it exists and has not expired. A pending
    /// second factor that is too old falls back to [`Stage::Anonymous`].
    pub(crate) fn get(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, self.cookie_name())?;
        let mut map = self.lock();
        map.retain(|_, s| s.created.elapsed() < SESSION_LIFETIME);
        let session = map.get_mut(&id)?;
        if session
            .stage
            .pending_since()
            .is_some_and(|t| t.elapsed() > PENDING_LIFETIME)
        {
            session.stage = Stage::Anonymous;
            session.notice = Some("The sign-in took too long: start again.".to_owned());
        }
        Some((id, session.clone()))
    }

    /// Starts a new session (dropping `old`, if any) and returns its id and CSRF token.
    pub(crate) fn rotate(&self, old: Option<&str>, stage: Stage) -> (String, String) {
        let mut map = self.lock();
        let notice = old.and_then(|o| map.remove(o)).and_then(|s| s.notice);
        let (id, csrf) = (random(), random());
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                stage,
                notice,
                created: Instant::now(),
            },
        );
        (id, csrf)
    }

    /// Changes a session in place; false when it is gone.
    pub(crate) fn update(&self, id: &str, change: impl FnOnce(&mut Session)) -> bool {
        match self.lock().get_mut(id) {
            Some(s) => {
                change(s);
                true
            }
            None => false,
        }
    }

    /// Takes the session's notice (it is shown once).
    pub(crate) fn take_notice(&self, id: &str) -> Option<String> {
        self.lock().get_mut(id).and_then(|s| s.notice.take())
    }

    /// Forgets a session (logout).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The session id from the `Cookie` header.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// Compares a submitted CSRF token with the session's, without an early exit.
pub(crate) fn csrf_ok(session: &Session, submitted: Option<&String>) -> bool {
    let Some(submitted) = submitted else {
        return false;
    };
    let (a, b) = (session.csrf.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
