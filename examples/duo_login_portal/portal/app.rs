//! The routes: sign-in with Okta (SAML, in [`saml`]) or, for break-glass accounts only, a
//! password; the second factor (Universal Prompt or Auth API push, with enrollment); the home
//! page with the user's roles; and the administrator's Duo settings.

pub(crate) mod saml;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use duo_auth::client::EnrollStatus;
use duo_auth::gate::{AllowReason, Login, Step};
use duo_auth::policy::UsernameMapping;
use duo_auth::universal::UniversalClient;
use role_sync::{GrantSource, Mapping};
use serde_json::json;

use super::client_ip::TrustedProxies;
use super::html::{esc, page, problem};
use super::session::{Session, Sessions, Stage, csrf_ok};
use super::throttle::{Locked, Throttle};
use super::{
    AuthApp, BoxError, DemoUser, Mode, PortalGate, SharedLastAuth, UniversalApp, auth_client,
    build_gate, universal_client,
};
use duo_okta_sdk::portal::PortalStore;

type Fields = HashMap<String, String>;
type S = State<Arc<AppState>>;

// Where the settings page saves the keys in the portal store. (A real portal would encrypt the
// secrets at rest; the demo store keeps them as they are.)
const AUTH_KEYS: [&str; 3] = ["duo.auth.ikey", "duo.auth.skey", "duo.auth.host"];
const UNIVERSAL_KEYS: [&str; 3] = [
    "duo.universal.client_id",
    "duo.universal.client_secret",
    "duo.universal.api_host",
];

fn saved(store: &PortalStore, keys: [&str; 3]) -> Result<Option<[String; 3]>, BoxError> {
    let [a, b, c] = keys;
    Ok(
        match (store.setting(a)?, store.setting(b)?, store.setting(c)?) {
            (Some(a), Some(b), Some(c)) => Some([a, b, c]),
            _ => None,
        },
    )
}

/// The Auth API keys saved on the settings page, if any.
pub(crate) fn saved_auth_app(store: &PortalStore) -> Result<Option<AuthApp>, BoxError> {
    Ok(saved(store, AUTH_KEYS)?.map(|[ikey, skey, host]| AuthApp { ikey, skey, host }))
}

/// The Web SDK keys saved on the settings page, if any.
pub(crate) fn saved_universal_app(store: &PortalStore) -> Result<Option<UniversalApp>, BoxError> {
    Ok(
        saved(store, UNIVERSAL_KEYS)?.map(|[client_id, client_secret, api_host]| UniversalApp {
            client_id,
            client_secret,
            api_host,
        }),
    )
}

/// What [`AppState::new`] needs.
pub(crate) struct Setup {
    pub(crate) mode: Mode,
    pub(crate) store: PortalStore,
    pub(crate) demo_users: Vec<DemoUser>,
    pub(crate) mapping: UsernameMapping,
    pub(crate) last_auth: SharedLastAuth,
    pub(crate) gate: Option<Arc<PortalGate>>,
    pub(crate) universal: Option<UniversalClient>,
    pub(crate) base_url: String,
    pub(crate) trusted_proxies: TrustedProxies,
    /// "Sign in with Okta"; `None` leaves only the break-glass password form.
    pub(crate) saml: Option<saml::Saml>,
    /// Okta group → portal roles (for just-in-time creation, when on).
    pub(crate) role_mapping: Mapping,
}

/// The Duo clients in use; the settings page swaps them.
struct DuoApps {
    gate: Option<Arc<PortalGate>>,
    universal: Option<UniversalClient>,
}

/// Everything the handlers share.
pub(crate) struct AppState {
    mode: Mode,
    // SQLite; each call is short (checking a password with Argon2 takes a few milliseconds).
    store: PortalStore,
    sessions: Sessions,
    demo_users: Vec<DemoUser>,
    mapping: UsernameMapping,
    last_auth: SharedLastAuth,
    base_url: String,
    /// Served over HTTPS (the public URL says so): `Secure` cookies and HSTS.
    https: bool,
    /// Whose `X-Forwarded-For` names the client (nobody's by default).
    trusted_proxies: TrustedProxies,
    duo: RwLock<DuoApps>,
    /// Failed passwords per account and per source address.
    throttle: Throttle,
    /// Argon2 checks running at once: one per core, on tokio's blocking pool, so that a flood
    /// of logins neither stalls the async workers nor piles up work without bound.
    password_checks: tokio::sync::Semaphore,
    saml: Option<saml::Saml>,
    role_mapping: Mapping,
}

/// How long a password check may wait for a free slot before the portal answers 503.
const PASSWORD_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// How many Argon2 checks may run at once: one per core.
pub(crate) fn password_check_slots() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The largest request body: the portal's forms are a few short fields, so anything bigger is
/// refused (413) before it is buffered.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest path and query (414 beyond): the longest legitimate one is Duo's callback, a
/// code and a state well under 1 KiB.
pub(crate) const MAX_URI_BYTES: usize = 4 * 1024;
/// The most header bytes, names and values together (431 beyond): enough for any browser's
/// cookies and headers here, far below what the HTTP server would otherwise buffer.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

impl AppState {
    pub(crate) fn new(setup: Setup) -> Self {
        let https = setup.base_url.starts_with("https://");
        AppState {
            mode: setup.mode,
            store: setup.store,
            sessions: Sessions::new(https),
            demo_users: setup.demo_users,
            mapping: setup.mapping,
            last_auth: setup.last_auth,
            base_url: setup.base_url,
            https,
            trusted_proxies: setup.trusted_proxies,
            duo: RwLock::new(DuoApps {
                gate: setup.gate,
                universal: setup.universal,
            }),
            throttle: Throttle::default(),
            password_checks: tokio::sync::Semaphore::new(password_check_slots()),
            saml: setup.saml,
            role_mapping: setup.role_mapping,
        }
    }

    /// Checks a password with Argon2 on the blocking pool, at most one per core at a time;
    /// `None` when no slot came free in time (the portal is flooded).
    async fn verify_password(
        self: &Arc<Self>,
        login: &str,
        password: &str,
    ) -> Option<Result<bool, duo_okta_sdk::portal::StoreError>> {
        let permit = tokio::time::timeout(PASSWORD_QUEUE_WAIT, self.password_checks.acquire())
            .await
            .ok()?
            .ok()?;
        let app = self.clone();
        let (login, password) = (login.to_owned(), password.to_owned());
        let checked = tokio::task::spawn_blocking(move || {
            // A span around the costly part, for timing it (and for the test that checks where
            // and how many at once it runs).
            tracing::debug_span!(target: "portal::password", "argon2", login = %login)
                .in_scope(|| app.store().verify_password(&login, &password))
        })
        .await
        .ok();
        drop(permit);
        checked
    }

    fn store(&self) -> &PortalStore {
        &self.store
    }

    fn duo(&self) -> std::sync::RwLockReadGuard<'_, DuoApps> {
        self.duo
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn duo_mut(&self) -> std::sync::RwLockWriteGuard<'_, DuoApps> {
        self.duo
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // Clones out of the lock: never hold it across an `.await`.
    fn gate(&self) -> Option<Arc<PortalGate>> {
        self.duo().gate.clone()
    }

    fn universal(&self) -> Option<UniversalClient> {
        self.duo().universal.clone()
    }
}

/// The portal's routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let https = state.https;
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login_submit))
        .route("/saml/login", get(saml::login))
        // The Response is larger than any form of the portal's own.
        .route(
            "/saml/acs",
            post(saml::acs).layer(DefaultBodyLimit::max(saml::ACS_BODY_BYTES)),
        )
        .route("/saml/continue", get(saml::finish))
        .route("/saml/metadata", get(saml::metadata))
        .route("/logout", post(logout))
        .route("/duo-callback", get(duo_callback))
        .route("/duo/push", get(push_page))
        .route("/duo/push/wait", post(push_wait))
        .route("/duo/enroll", get(enroll_page))
        .route("/duo/enroll/wait", post(enroll_wait))
        .route("/duo/continue", get(enroll_continue))
        .route("/denied", get(denied))
        .route("/settings", get(settings_form))
        .route("/settings/auth", post(save_auth))
        .route("/settings/universal", post(save_universal))
        .route("/static/poll.js", get(poll_js))
        // Outermost last: the security headers go on every answer, the refusals below too.
        .layer(axum::middleware::from_fn(request_limits))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(move |response| {
            security_headers(response, https)
        }))
        .with_state(state)
}

/// Refuses a request line or headers too large for anything the portal serves, before a
/// handler sees them. (Bodies are bounded by [`DefaultBodyLimit`], a malformed form is the
/// `Form` extractor's 4xx, a malformed request line the HTTP server's 400.)
async fn request_limits(request: Request, next: Next) -> Response {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri > MAX_URI_BYTES {
        return problem(
            StatusCode::URI_TOO_LONG,
            "Address too long",
            "This address is longer than any page of the portal.",
        );
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return problem(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request too large",
            "The request's headers are too large (too many cookies?).",
        );
    }
    next.run(request).await
}

fn redirect_with_cookie(app: &AppState, to: &str, session_id: &str) -> Response {
    (
        [(header::SET_COOKIE, app.sessions.set_cookie(session_id))],
        Redirect::to(to),
    )
        .into_response()
}

/// 429 with `Retry-After`, saying neither whether the account exists nor which rule fired.
fn locked_out(locked: Locked) -> Response {
    let seconds = locked.retry_after.as_secs();
    let mut response = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("Too many failed sign-ins. Try again in {seconds} seconds."),
    );
    if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn internal(e: impl std::fmt::Display) -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Portal error",
        &e.to_string(),
    )
}

fn no_session() -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "Session expired",
        "This browser has no session here (expired, or cookies are off): start again.",
    )
}

fn forged() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "Request refused",
        "The form's anti-forgery token does not match this session.",
    )
}

/// Starts a signed-in session; returns its id.
fn sign_in(app: &AppState, old: &str, login: &str, duo: String) -> String {
    let stage = Stage::SignedIn {
        login: login.to_owned(),
        duo,
    };
    app.sessions.rotate(Some(old), stage).0
}

/// Records why access was denied, for `/denied`.
fn set_denied(app: &AppState, session: &str, why: String) {
    app.sessions.update(session, |s| {
        s.stage = Stage::Anonymous;
        s.notice = Some(why);
    });
}

fn deny(app: &AppState, session: &str, why: String) -> Response {
    set_denied(app, session, why);
    Redirect::to("/denied").into_response()
}

// --- Login ---------------------------------------------------------------------------------

async fn login_form(State(app): S, headers: HeaderMap) -> Response {
    let current = app.sessions.get(&headers);
    if let Some((
        _,
        Session {
            stage: Stage::SignedIn { .. },
            ..
        },
    )) = &current
    {
        return Redirect::to("/").into_response();
    }
    // A fresh session for every form (any half-finished sign-in is dropped); it keeps the notice.
    let (id, csrf) = app.sessions.rotate(
        current.as_ref().map(|(id, _)| id.as_str()),
        Stage::Anonymous,
    );
    let notice = app
        .sessions
        .take_notice(&id)
        .map(|n| format!(r#"<p id="notice" class="err">{}</p>"#, esc(&n)))
        .unwrap_or_default();
    let factor = match app.mode {
        Mode::Universal => "Duo Universal Prompt (you are sent to Duo and back)".to_owned(),
        Mode::Push => "Duo Push through the Auth API; after an approval, the same IP address \
                       skips Duo for 12 hours"
            .to_owned(),
    };
    let okta = if app.saml.is_some() {
        r#"<p><a id="sign-in-okta" class="button" href="/saml/login">Sign in with Okta</a></p>"#
    } else {
        r#"<p class="err">Sign-in with Okta is not configured.</p>"#
    };
    let demo = if app.demo_users.is_empty() {
        String::new()
    } else {
        let rows: String = app
            .demo_users
            .iter()
            .map(|u| {
                let how = match u.password {
                    Some(p) => format!("password <code>{}</code>", esc(p)),
                    None => "Okta: pick on the sandbox&#39;s sign-in page".to_owned(),
                };
                format!(
                    "<tr><td>{}</td><td>{how}</td><td>{}</td></tr>",
                    esc(u.login),
                    esc(&u.duo)
                )
            })
            .collect();
        let prompt = match app.mode {
            Mode::Universal => {
                " The sandbox's Universal Prompt has Approve and Deny buttons: click one."
            }
            Mode::Push => "",
        };
        format!(
            r#"<div class="note" id="sandbox"><p><b>Sandbox mode</b>: Okta and Duo are the in-process sandbox, no account needed. Okta's sign-in page lists its directory: pick a user.{prompt}</p>
<table><tr><th>login</th><th>signs in with</th><th>what happens</th></tr>{rows}</table></div>"#
        )
    };
    let body = format!(
        r#"<h1>Sign in</h1>{notice}
{okta}
<p>Then the second factor: {factor}.</p>
<h2>Break-glass accounts</h2>
<p><small>Password sign-in is only for the portal's protected emergency accounts (when Okta is
unavailable). Everyone else signs in with Okta.</small></p>
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}">
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="sign-in">Sign in with a password</button>
</form>
{demo}"#,
        csrf = esc(&csrf),
        factor = esc(&factor),
    );
    let mut response = page(StatusCode::OK, "Sign in", &body);
    if let Ok(v) = header::HeaderValue::from_str(&app.sessions.set_cookie(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn login_submit(
    State(app): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    let Some((sid, session)) = app.sessions.get(&headers) else {
        return no_session();
    };
    if !csrf_ok(&session, form.get("csrf")) {
        return forged();
    }
    // Who is asking: what the per-source lockout counts and the IP skip compares. Never a header
    // the client wrote (see `client_ip`).
    let Some(source) = app.trusted_proxies.client(peer.ip(), &headers) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            "The proxy in front of the portal did not say which address the request came from.",
        );
    };
    let login = form.get("username").map_or("", |u| u.trim()).to_owned();
    let password = form.get("password").map_or("", String::as_str);
    // Locked accounts and sources are refused before any password is checked: no Argon2 work
    // for an attacker, and the right password does not open a locked account either.
    if let Err(locked) = app.throttle.check(&login, source, Instant::now()) {
        return locked_out(locked);
    }
    let Some(verified) = app.verify_password(&login, password).await else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Too many sign-ins at once; try again in a moment.",
        );
    };
    match verified {
        Ok(true) => app.throttle.success(&login),
        Ok(false) => {
            let failure = app.throttle.failure(&login, source, Instant::now());
            tracing::info!(target: "portal::audit", login = %login, source = %source,
                failures = failure.account_failures, "wrong password");
            if let Some(locked_for) = failure.account_locked_for {
                tracing::warn!(target: "portal::audit", login = %login, source = %source,
                    failures = failure.account_failures, locked_secs = locked_for.as_secs(),
                    "account locked after repeated wrong passwords");
            }
            if failure.source_locked {
                tracing::warn!(target: "portal::audit", source = %source,
                    "source address locked out after repeated wrong passwords");
            }
            app.sessions.update(&sid, |s| {
                s.notice = Some(
                    "Wrong username or password. (Password sign-in is for break-glass accounts \
                     only: everyone else signs in with Okta.)"
                        .to_owned(),
                );
            });
            return Redirect::to("/login").into_response();
        }
        Err(e) => return internal(e),
    }
    // Only protected (break-glass) accounts sign in with a password; everyone else's identity
    // is Okta's, so that disabling someone in Okta ends their access. Said only after the right
    // password, so it tells nothing about which accounts exist.
    match app.store().is_protected(&login) {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(target: "portal::audit", login = %login, source = %source,
                "password sign-in refused: not a break-glass account");
            app.sessions.update(&sid, |s| {
                s.notice = Some(
                    "This account signs in with Okta: use \u{201c}Sign in with Okta\u{201d}. \
                     Password sign-in is only for break-glass accounts."
                        .to_owned(),
                );
            });
            return Redirect::to("/login").into_response();
        }
        Err(e) => return internal(e),
    }
    match app.mode {
        Mode::Universal => start_universal(&app, &sid, login),
        Mode::Push => {
            let Some(gate) = app.gate() else {
                return internal("no Auth API application is configured");
            };
            // The same-IP skip compares this address with the last approval's: it must be one
            // the client cannot choose.
            let login = Login::new(login, source);
            let step = gate.begin(&login).await;
            dispatch(&app, &sid, login, step).await
        }
    }
}

async fn logout(State(app): S, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    if let Some((sid, session)) = app.sessions.get(&headers) {
        if !csrf_ok(&session, form.get("csrf")) {
            return forged();
        }
        app.sessions.remove(&sid);
    }
    (
        [(header::SET_COOKIE, app.sessions.clear_cookie())],
        Redirect::to("/login"),
    )
        .into_response()
}

async fn denied(State(app): S, headers: HeaderMap) -> Response {
    let why = app
        .sessions
        .get(&headers)
        .and_then(|(id, _)| app.sessions.take_notice(&id))
        .unwrap_or_else(|| "Duo did not confirm the sign-in.".to_owned());
    problem(
        StatusCode::FORBIDDEN,
        "Access denied",
        &format!("Duo denied access: {why}"),
    )
}

// --- Universal Prompt ----------------------------------------------------------------------

fn start_universal(app: &AppState, sid: &str, login: String) -> Response {
    let Some(client) = app.universal() else {
        return internal("no Web SDK application is configured");
    };
    let duo_username = match app.mapping.duo_username(&login, None) {
        Ok(u) => u,
        Err(e) => return deny(app, sid, e.to_string()),
    };
    // `state` ties Duo's answer to this browser's session; the nonce ties the id_token to it.
    let state = client.generate_state();
    let nonce = client.generate_state();
    let url = match client.create_auth_url(&duo_username, &state, Some(&nonce)) {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let stage = Stage::Universal {
        login,
        duo_username,
        state,
        nonce,
        since: Instant::now(),
    };
    let (id, _) = app.sessions.rotate(Some(sid), stage);
    redirect_with_cookie(app, &url, &id)
}

async fn duo_callback(State(app): S, headers: HeaderMap, Query(query): Query<Fields>) -> Response {
    let refused = |message: &str| problem(StatusCode::BAD_REQUEST, "Sign-in refused", message);
    let Some((sid, session)) = app.sessions.get(&headers) else {
        return refused("This browser has no sign-in in progress here: start again.");
    };
    let Stage::Universal {
        login,
        duo_username,
        state,
        nonce,
        ..
    } = session.stage
    else {
        return refused("No Duo sign-in is in progress for this session: start again.");
    };
    // One callback per sign-in, whatever it holds: a second one finds nothing pending.
    app.sessions.update(&sid, |s| s.stage = Stage::Anonymous);
    let Some(client) = app.universal() else {
        return internal("no Web SDK application is configured");
    };
    let received = query.get("state").map_or("", String::as_str);
    if client.check_state(&state, received).is_err() {
        return refused(
            "The state in Duo's answer does not match the sign-in this browser started, so the \
             answer was not accepted (a forged or replayed callback). Start again.",
        );
    }
    if let Some(error) = query.get("error") {
        let detail = query.get("error_description").map_or("", String::as_str);
        return deny(&app, &sid, format!("{error} {detail}"));
    }
    let code = query.get("duo_code").map_or("", String::as_str);
    match client
        .exchange_code(code, &duo_username, Some(&nonce))
        .await
    {
        Ok(result) if result.is_allowed() => {
            let factor = result
                .auth_context
                .factor
                .as_deref()
                .unwrap_or("a second factor");
            let how = format!("approved in Duo's Universal Prompt ({factor})");
            let id = sign_in(&app, &sid, &login, how);
            redirect_with_cookie(&app, "/", &id)
        }
        Ok(result) => {
            let why = result.auth_result.status_msg.clone();
            deny(
                &app,
                &sid,
                why.unwrap_or_else(|| "the login was refused".to_owned()),
            )
        }
        Err(e) => deny(&app, &sid, format!("Duo's answer was not accepted: {e}")),
    }
}

// --- Auth API: the gate, push and enrollment -----------------------------------------------

fn allow_text(reason: &AllowReason) -> String {
    match reason {
        AllowReason::Approved => "approved a Duo Push".to_owned(),
        AllowReason::SameIp => {
            "Duo skipped: same IP address as your last approval (IP-skip policy)".to_owned()
        }
        AllowReason::DuoAllowed(message) => format!("Duo let you in without a prompt: {message}"),
        AllowReason::SessionVerified => "this session already passed Duo".to_owned(),
        AllowReason::Excluded(_) => "excluded from Duo".to_owned(),
        AllowReason::FailOpen(e) => format!("Duo was unreachable and the gate fails open: {e}"),
        other => format!("{other:?}"),
    }
}

/// Acts on what the gate decided.
async fn dispatch(app: &AppState, sid: &str, login: Login, step: Step) -> Response {
    let since = Instant::now();
    match step {
        Step::Allow(allowed) => {
            let id = sign_in(app, sid, &login.username, allow_text(&allowed.reason));
            redirect_with_cookie(app, "/", &id)
        }
        Step::Deny(denied) => deny(app, sid, denied.message),
        Step::ChooseFactor(challenge) => {
            let stage = Stage::Push {
                login,
                challenge,
                since,
            };
            let (id, _) = app.sessions.rotate(Some(sid), stage);
            redirect_with_cookie(app, "/duo/push", &id)
        }
        Step::Enroll(needed) => {
            let Some(gate) = app.gate() else {
                return internal("no Auth API application is configured");
            };
            match gate.enroll(&needed.duo_username).await {
                Ok(enrollment) => {
                    let stage = Stage::Enrolling {
                        login,
                        enrollment,
                        since,
                    };
                    let (id, _) = app.sessions.rotate(Some(sid), stage);
                    redirect_with_cookie(app, "/duo/enroll", &id)
                }
                // E.g. the user exists in Duo without a device: Duo's own portal can help.
                Err(e) => {
                    let portal = needed
                        .portal_url
                        .map(|u| format!(" Enroll at {u}."))
                        .unwrap_or_default();
                    deny(app, sid, format!("{} ({e}).{portal}", needed.message))
                }
            }
        }
        // Steps added in later versions of the gate: refuse what this portal does not know.
        _ => deny(
            app,
            sid,
            "the Duo gate asked for an unknown step".to_owned(),
        ),
    }
}

fn poll_script(url: &str, csrf: &str) -> String {
    // The script is a file of the portal's own (`/static/poll.js`), so the Content-Security-
    // Policy can refuse every inline script; the page hands it what to poll in data attributes.
    format!(
        r#"<script src="/static/poll.js" data-url="{url}" data-csrf="{csrf}"></script>"#,
        url = esc(url),
        csrf = esc(csrf),
    )
}

/// Long-polls the URL its tag names until the server names the next page.
const POLL_JS: &str = r#"(() => {
  const { url, csrf } = document.currentScript.dataset;
  (async () => {
    for (;;) {
      try {
        const r = await fetch(url, {method: "POST",
          headers: {"Content-Type": "application/x-www-form-urlencoded"},
          body: "csrf=" + encodeURIComponent(csrf)});
        const j = await r.json();
        if (j.next) { location.replace(j.next); return; }
      } catch (e) { await new Promise(ok => setTimeout(ok, 2000)); }
    }
  })();
})();
"#;

async fn poll_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        POLL_JS,
    )
        .into_response()
}

/// The headers every answer carries: a Content-Security-Policy with no inline script, no
/// framing (clickjacking), no MIME sniffing, no referrer beyond the portal, and no caching of
/// pages that show a user's data.
async fn security_headers(mut response: Response, https: bool) -> Response {
    const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
        img-src 'self' https: http://127.0.0.1:*; object-src 'none'; base-uri 'none'; \
        frame-ancestors 'none'";
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    // Over HTTPS, browsers are told never to try plain HTTP here again (where the cookie could
    // be stripped of its protection or a page rewritten). Over plain HTTP it would be ignored.
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            header::HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

async fn push_page(State(app): S, headers: HeaderMap) -> Response {
    let Some((_, session)) = app.sessions.get(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let Stage::Push { challenge, .. } = &session.stage else {
        return Redirect::to("/login").into_response();
    };
    let device = challenge
        .devices
        .iter()
        .find_map(|d| d.display_name.clone())
        .unwrap_or_else(|| "your phone".to_owned());
    let body = format!(
        r#"<h1>Check your phone</h1>
<p id="status">Sending a Duo Push to {device}: approve it there.</p>
{script}"#,
        device = esc(&device),
        script = poll_script("/duo/push/wait", &session.csrf),
    );
    page(StatusCode::OK, "Duo Push", &body)
}

fn next(to: &str) -> Response {
    Json(json!({ "next": to })).into_response()
}

async fn push_wait(State(app): S, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let Some((sid, session)) = app.sessions.get(&headers) else {
        return next("/login");
    };
    if !csrf_ok(&session, form.get("csrf")) {
        return (StatusCode::FORBIDDEN, next("/login")).into_response();
    }
    let Stage::Push {
        login, challenge, ..
    } = session.stage
    else {
        return next("/login");
    };
    // One push per password: a reloaded page does not send another.
    app.sessions.update(&sid, |s| s.stage = Stage::Anonymous);
    let Some(gate) = app.gate() else {
        return internal("no Auth API application is configured");
    };
    // Send the push and poll `auth_status` until the person answers; past Duo's own 60 s push
    // timeout the gate reports a denial.
    match gate.push(&login, &challenge, Duration::from_secs(75)).await {
        Step::Allow(allowed) => {
            let id = sign_in(&app, &sid, &login.username, allow_text(&allowed.reason));
            let cookie = app.sessions.set_cookie(&id);
            ([(header::SET_COOKIE, cookie)], next("/")).into_response()
        }
        Step::Deny(denied) => {
            set_denied(&app, &sid, denied.message);
            next("/denied")
        }
        _ => {
            set_denied(&app, &sid, "unexpected answer from the Duo gate".to_owned());
            next("/denied")
        }
    }
}

async fn enroll_page(State(app): S, headers: HeaderMap) -> Response {
    let Some((_, session)) = app.sessions.get(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let Stage::Enrolling {
        login, enrollment, ..
    } = &session.stage
    else {
        return Redirect::to("/login").into_response();
    };
    let link = enrollment
        .activation_url
        .as_deref()
        .map(|u| {
            format!(
                r#"<p>On the phone itself, open <a href="{}">this link</a> instead.</p>"#,
                esc(u)
            )
        })
        .unwrap_or_default();
    let sandbox = if app.demo_users.is_empty() {
        ""
    } else {
        r#"<p class="note">Sandbox: the activation completes by itself a few seconds after the code is shown.</p>"#
    };
    let body = format!(
        r#"<h1>Activate Duo Mobile</h1>
<p>Your account <b>{user}</b> is not enrolled in Duo yet. Scan this code with the Duo Mobile app:</p>
<p><img id="qr" src="{qr}" width="200" height="200" alt="Duo activation QR code" style="image-rendering:pixelated;border:1px solid #999"></p>
{link}{sandbox}
<p id="status">Waiting for the activation…</p>
{script}"#,
        user = esc(&login.username),
        qr = esc(&enrollment.activation_barcode),
        script = poll_script("/duo/enroll/wait", &session.csrf),
    );
    page(StatusCode::OK, "Activate Duo Mobile", &body)
}

async fn enroll_wait(State(app): S, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let Some((sid, session)) = app.sessions.get(&headers) else {
        return next("/login");
    };
    if !csrf_ok(&session, form.get("csrf")) {
        return (StatusCode::FORBIDDEN, next("/login")).into_response();
    }
    let Stage::Enrolling {
        login, enrollment, ..
    } = session.stage
    else {
        return next("/login");
    };
    let Some(gate) = app.gate() else {
        return internal("no Auth API application is configured");
    };
    // Ask Duo every second for up to 20 s; the page asks again after that.
    let status = gate
        .await_enrollment(&enrollment, Duration::from_secs(1), Duration::from_secs(20))
        .await;
    match status {
        Ok(EnrollStatus::Success) => {
            app.sessions.update(&sid, |s| {
                s.stage = Stage::Enrolled {
                    login,
                    since: Instant::now(),
                };
            });
            next("/duo/continue")
        }
        Ok(EnrollStatus::Waiting) => Json(json!({ "status": "waiting" })).into_response(),
        Ok(other) => {
            set_denied(
                &app,
                &sid,
                format!("the activation is {other}: sign in again"),
            );
            next("/denied")
        }
        Err(e) => {
            set_denied(
                &app,
                &sid,
                format!("Duo could not check the activation: {e}"),
            );
            next("/denied")
        }
    }
}

/// After the activation: through the gate again (now Duo offers the new phone).
async fn enroll_continue(State(app): S, headers: HeaderMap) -> Response {
    let Some((sid, session)) = app.sessions.get(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let Stage::Enrolled { login, .. } = session.stage else {
        return Redirect::to("/login").into_response();
    };
    let Some(gate) = app.gate() else {
        return internal("no Auth API application is configured");
    };
    let step = gate.begin(&login).await;
    dispatch(&app, &sid, login, step).await
}

// --- Home ----------------------------------------------------------------------------------

/// A signed-in user, as the store has them now.
struct SignedIn {
    session: Session,
    login: String,
    duo: String,
    roles: Vec<String>,
}

/// The signed-in user of this request, or where to send the browser instead: the login form for
/// anyone who has not passed both the password and Duo.
///
/// The roles are read from the store at every request, not remembered from the sign-in: a role
/// the role sync removed is gone from the next page on, and a user the sync left with no role
/// at all (removed from every mapped group, deactivated in Okta) is signed out on the spot, in
/// every session they have.
// The refusal is built once per refused request: its size does not matter.
#[allow(clippy::result_large_err)]
fn signed_in(app: &AppState, headers: &HeaderMap) -> Result<SignedIn, Response> {
    let to_login = || Redirect::to("/login").into_response();
    let (id, session) = app.sessions.get(headers).ok_or_else(to_login)?;
    let Stage::SignedIn { login, duo } = &session.stage else {
        return Err(to_login());
    };
    let (login, duo) = (login.clone(), duo.clone());
    let roles = app.store().roles(&login).map_err(internal)?;
    if roles.is_empty() {
        tracing::warn!(target: "portal::audit", login = %login,
            "session ended: the user holds no role any more");
        app.sessions.update(&id, |s| {
            s.stage = Stage::Anonymous;
            s.notice = Some("Your access to this portal has been withdrawn.".to_owned());
        });
        return Err(to_login());
    }
    Ok(SignedIn {
        session,
        login,
        duo,
        roles,
    })
}

async fn home(State(app): S, headers: HeaderMap) -> Response {
    let SignedIn {
        session,
        login,
        duo,
        ..
    } = match signed_in(&app, &headers) {
        Ok(user) => user,
        Err(response) => return response,
    };
    // Roles as the last role sync left them (and grants made by hand, which it never touches).
    let user = match app.store().load() {
        Ok(portal) => portal.user(&login).cloned(),
        Err(e) => return internal(e),
    };
    // The name as the directory spells it (Okta's data: escaped like everything else shown).
    let name = user
        .as_ref()
        .map_or_else(|| login.clone(), |u| u.login().as_str().to_owned());
    let grants = user.map(|u| u.grants().to_vec()).unwrap_or_default();
    let last_sync = match app.store().sync_log(1) {
        Ok(log) => log.into_iter().next().map_or_else(
            || "none yet".to_owned(),
            |(fingerprint, summary)| format!("{summary} (plan {fingerprint})"),
        ),
        Err(e) => return internal(e),
    };
    let roles: String = grants
        .iter()
        .map(|g| {
            let source = match g.source {
                GrantSource::Sync => "from the Okta group sync",
                GrantSource::Manual => "granted by hand",
            };
            format!(
                r#"<li><span class="role">{}</span> <small>({source})</small></li>"#,
                esc(&g.role)
            )
        })
        .collect();
    let roles = if roles.is_empty() {
        "<li>none</li>".to_owned()
    } else {
        roles
    };
    let settings = if grants.iter().any(|g| g.role == "admin") {
        r#"<p><a id="settings" href="/settings">Duo settings</a> (administrators)</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"<h1>Welcome, <span id="user">{user}</span></h1>
<p id="duo" class="ok">Second factor: {duo}.</p>
<h2>Your roles</h2><ul id="roles">{roles}</ul>
<p id="last-sync"><small>Last role sync: {last_sync}</small></p>
{settings}
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{csrf}"><button id="logout">Sign out</button></form>"#,
        user = esc(&name),
        duo = esc(&duo),
        last_sync = esc(&last_sync),
        csrf = esc(&session.csrf),
    );
    page(StatusCode::OK, "Home", &body)
}

// --- Settings ------------------------------------------------------------------------------

/// The signed-in administrator, or the response that refuses the request.
// The refusal is built once per refused request: its size does not matter.
#[allow(clippy::result_large_err)]
fn admin(app: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let SignedIn { session, roles, .. } = signed_in(app, headers)?;
    if !roles.iter().any(|r| r == "admin") {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "Administrators only",
            "The Duo settings need the admin role.",
        ));
    }
    Ok(session)
}

fn settings_page(
    app: &AppState,
    session: &Session,
    result: Option<Result<String, String>>,
) -> Response {
    let store = app.store();
    let (auth, universal) = match (saved_auth_app(store), saved_universal_app(store)) {
        (Ok(a), Ok(u)) => (a, u),
        (Err(e), _) | (_, Err(e)) => return internal(e),
    };
    let result = match result {
        Some(Ok(m)) => format!(r#"<p id="result" class="ok">{}</p>"#, esc(&m)),
        Some(Err(m)) => format!(r#"<p id="result" class="err">{}</p>"#, esc(&m)),
        None => String::new(),
    };
    let saved = |what: Option<(String, String)>| match what {
        Some((id, host)) => format!(
            "Saved: <code>{}</code> at <code>{}</code>.",
            esc(&id),
            esc(&host)
        ),
        None => "Nothing saved: the portal uses the keys it started with.".to_owned(),
    };
    let body = format!(
        r#"<h1>Duo settings</h1>{result}
<p>Keys are checked with Duo before they are saved: a wrong key, hostname or clock is named and
nothing changes.</p>
<h2>Auth API application</h2><p>For push mode and enrollment. {auth_saved}</p>
<form method="post" action="/settings/auth"><input type="hidden" name="csrf" value="{csrf}">
<label>Integration key <input id="ikey" name="ikey" size="24"></label>
<label>Secret key <input id="skey" name="skey" type="password" size="44"></label>
<label>API hostname <input id="host" name="host" size="36" placeholder="api-xxxxxxxx.duosecurity.com"></label>
<button id="save-auth">Verify and save</button></form>
<h2>Web SDK application (Universal Prompt)</h2><p>{universal_saved}</p>
<form method="post" action="/settings/universal"><input type="hidden" name="csrf" value="{csrf}">
<label>Client ID <input id="client_id" name="client_id" size="24"></label>
<label>Client secret <input id="client_secret" name="client_secret" type="password" size="44"></label>
<label>API hostname <input id="api_host" name="api_host" size="36"></label>
<button id="save-universal">Verify and save</button></form>
<p><a href="/">Back</a></p>"#,
        csrf = esc(&session.csrf),
        auth_saved = saved(auth.map(|a| (a.ikey, a.host))),
        universal_saved = saved(universal.map(|u| (u.client_id, u.api_host))),
    );
    page(StatusCode::OK, "Duo settings", &body)
}

async fn settings_form(State(app): S, headers: HeaderMap) -> Response {
    match admin(&app, &headers) {
        Ok(session) => settings_page(&app, &session, None),
        Err(response) => response,
    }
}

fn field(form: &Fields, name: &str) -> String {
    form.get(name).map_or("", |v| v.trim()).to_owned()
}

async fn save_auth(State(app): S, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let session = match admin(&app, &headers) {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !csrf_ok(&session, form.get("csrf")) {
        return forged();
    }
    let candidate = AuthApp {
        ikey: field(&form, "ikey"),
        skey: field(&form, "skey"),
        host: field(&form, "host"),
    };
    let client = match auth_client(&candidate) {
        Ok(c) => c,
        Err(e) => return settings_page(&app, &session, Some(Err(format!("Not saved: {e}")))),
    };
    // ping + check: names a wrong key, an unknown host, a skewed clock or the wrong app type.
    let diagnosis = client.verify().await;
    if !diagnosis.is_ok() {
        let message = format!("Not saved: {diagnosis}.");
        return settings_page(&app, &session, Some(Err(message)));
    }
    let values = [&candidate.ikey, &candidate.skey, &candidate.host];
    let stored = AUTH_KEYS
        .iter()
        .zip(values)
        .try_for_each(|(k, v)| app.store().set_setting(k, v));
    if let Err(e) = stored {
        return internal(e);
    }
    app.duo_mut().gate = Some(Arc::new(build_gate(client, &app.mapping, &app.last_auth)));
    settings_page(&app, &session, Some(Ok(format!("Saved. {diagnosis}."))))
}

async fn save_universal(State(app): S, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let session = match admin(&app, &headers) {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !csrf_ok(&session, form.get("csrf")) {
        return forged();
    }
    let candidate = UniversalApp {
        client_id: field(&form, "client_id"),
        client_secret: field(&form, "client_secret"),
        api_host: field(&form, "api_host"),
    };
    let client = match universal_client(&candidate, &app.base_url) {
        Ok(c) => c,
        Err(e) => return settings_page(&app, &session, Some(Err(format!("Not saved: {e}")))),
    };
    if let Err(e) = client.health_check().await {
        let message = format!("Not saved: Duo's health check refused these keys: {e}");
        return settings_page(&app, &session, Some(Err(message)));
    }
    let values = [
        &candidate.client_id,
        &candidate.client_secret,
        &candidate.api_host,
    ];
    let stored = UNIVERSAL_KEYS
        .iter()
        .zip(values)
        .try_for_each(|(k, v)| app.store().set_setting(k, v));
    if let Err(e) = stored {
        return internal(e);
    }
    app.duo_mut().universal = Some(client);
    settings_page(
        &app,
        &session,
        Some(Ok("Saved: Duo's health check accepted the keys.".to_owned())),
    )
}
