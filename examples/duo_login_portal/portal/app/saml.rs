//! "Sign in with Okta": the portal as a SAML 2.0 service provider (`saml-sp`), then Duo.
//!
//! ```text
//! GET  /saml/login     → 302 to Okta with an AuthnRequest; the session remembers its ID
//! POST /saml/acs       ← Okta's page posts the signed Response (cross-site, no cookie)
//!                      → 303 to /saml/continue?t=HANDLE
//! GET  /saml/continue  ← the same browser, top-level and same-site: the cookie is back
//!                      → the Response must answer the request this session started
//!                      → known user: Duo (Universal Prompt or push); unknown: refused
//! GET  /saml/metadata  the SP's metadata (its URL is also the SP's entity ID)
//! ```
//!
//! # Why the sign-in finishes on a second request
//!
//! The session cookie is `SameSite=Lax`, so the browser does not send it with the IdP's POST to
//! the ACS URL (a cross-site POST from Okta's domain). The ACS handler therefore cannot know
//! which browser is posting. It does everything that needs no browser: `saml-sp` checks the
//! Response (signature, issuer, audience, times, recipient) and takes its `InResponseTo` out of
//! the pending requests (once: a replay is refused), and records the Assertion ID (a replayed
//! Assertion is refused). The verified login is then parked server-side under a fresh random
//! handle for two minutes, and the browser is sent to `/saml/continue?t=HANDLE` with a 303.
//! That GET is a top-level navigation, so the `Lax` cookie comes with it; there the portal
//! requires this browser's session to be the one that started the request the Response
//! answers (`Stage::Saml` holds its ID), takes the handle once, and only then looks the user up
//! and goes on to Duo.
//!
//! So a Response is bound to the browser that asked for it: one captured or obtained for
//! another browser's request (login CSRF: an attacker's own Response pushed into a victim's
//! browser; or a victim's Response replayed from the attacker's) reaches `/saml/continue` with
//! a session that did not start that request, and is refused. The handle is not a credential
//! on its own: without the session that started the request it opens nothing.
//!
//! The alternative — a second, short-lived `SameSite=None; Secure` cookie set at
//! `/saml/login` and read at the ACS — works only over HTTPS (browsers refuse `SameSite=None`
//! without `Secure`), so the plain-HTTP loopback demo could not use it, and it would weaken the
//! one property `Lax` buys. The redirect costs one round trip and works over both.
//!
//! The ACS POST carries no CSRF token (Okta's page cannot know it): the binding above is its
//! protection. Just-in-time creation of users the sync did not create is off unless
//! `--saml-jit` is given.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use duo_auth::gate::Login;
use role_sync::{GrantSource, Mapping};
use saml_sp::{IdpMetadata, PendingLogins, ReplayCache, RequestId, SamlLogin, ServiceProvider};

use super::super::html::{esc, page, problem};
use super::super::session::{Session, Stage};
use super::super::{BoxError, Mode};
use super::{AppState, Fields, S, dispatch, internal, start_universal};

/// How long a verified Response waits for its browser at `/saml/continue` (the browser follows
/// the 303 at once; the margin is for a slow machine).
const VOUCHED_LIFETIME: Duration = Duration::from_secs(120);
/// The most sign-ins waiting at once: pending requests and verified Responses each.
const CAPACITY: usize = 10_000;
/// The largest ACS body: `saml-sp`'s default Response limit (256 KiB) in base64, then
/// form-encoded (`+`, `/` and `=` take three bytes each), with room to spare.
pub(crate) const ACS_BODY_BYTES: usize = 1024 * 1024;

/// Where the IdP's metadata comes from.
#[derive(Debug, Clone)]
pub(crate) enum IdpSource {
    /// Okta's metadata URL (`OKTA_SAML_METADATA_URL`), fetched at start.
    Url(String),
    /// A file with the metadata XML (`OKTA_SAML_METADATA`).
    File(PathBuf),
}

impl IdpSource {
    /// Reads the IdP's metadata.
    pub(crate) async fn load(&self) -> Result<IdpMetadata, BoxError> {
        let xml = match self {
            IdpSource::Url(url) => {
                let parsed = reqwest::Url::parse(url)?;
                let loopback = parsed
                    .host_str()
                    .is_some_and(super::super::is_loopback_host);
                // Metadata carries the keys every login is checked with: only over HTTPS
                // (plain HTTP is for the loopback sandbox).
                if parsed.scheme() != "https" && !loopback {
                    return Err(format!("the IdP metadata URL {url} is not https").into());
                }
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(15))
                    .build()?;
                let response = client.get(parsed).send().await?.error_for_status()?;
                response.text().await?
            }
            IdpSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        Ok(IdpMetadata::parse(&xml)?)
    }
}

/// A verified Response waiting for its browser.
struct Vouched {
    login: SamlLogin,
    at: Instant,
}

/// The SAML side of the portal: the SP and the state kept between requests.
pub(crate) struct Saml {
    sp: ServiceProvider,
    pending: Mutex<PendingLogins>,
    replay: Mutex<ReplayCache>,
    vouched: Mutex<HashMap<String, Vouched>>,
    /// Create unknown users whose Okta groups map to roles (off by default).
    jit: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Saml {
    /// The SP `{base_url}/saml/metadata` (entity ID) with its ACS at `{base_url}/saml/acs`.
    pub(crate) fn new(base_url: &str, idp: IdpMetadata, jit: bool) -> Result<Self, BoxError> {
        let sp = ServiceProvider::builder(entity_id(base_url), acs_url(base_url), idp).build()?;
        Ok(Saml {
            sp,
            pending: Mutex::new(PendingLogins::new(CAPACITY)),
            replay: Mutex::new(ReplayCache::new(CAPACITY)),
            vouched: Mutex::default(),
            jit,
        })
    }

    fn park(&self, login: SamlLogin) -> String {
        let handle = super::super::session::random();
        let mut vouched = lock(&self.vouched);
        vouched.retain(|_, v| v.at.elapsed() < VOUCHED_LIFETIME);
        if vouched.len() >= CAPACITY
            && let Some(oldest) = vouched
                .iter()
                .min_by_key(|(_, v)| v.at)
                .map(|(k, _)| k.clone())
        {
            vouched.remove(&oldest);
        }
        vouched.insert(
            handle.clone(),
            Vouched {
                login,
                at: Instant::now(),
            },
        );
        handle
    }

    fn take(&self, handle: &str) -> Option<SamlLogin> {
        lock(&self.vouched)
            .remove(handle)
            .filter(|v| v.at.elapsed() < VOUCHED_LIFETIME)
            .map(|v| v.login)
    }
}

/// The SP's entity ID (Okta: "Audience URI (SP Entity ID)"): its metadata URL.
pub(crate) fn entity_id(base_url: &str) -> String {
    format!("{base_url}/saml/metadata")
}

/// The ACS URL (Okta: "Single sign-on URL").
pub(crate) fn acs_url(base_url: &str) -> String {
    format!("{base_url}/saml/acs")
}

// The refusal is built once per refused request: its size does not matter.
#[allow(clippy::result_large_err)]
fn saml(app: &AppState) -> Result<&Saml, Response> {
    app.saml.as_ref().ok_or_else(|| {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Okta is not configured",
            "This portal has no SAML IdP: set OKTA_SAML_METADATA_URL.",
        )
    })
}

/// `GET /saml/login`: off to Okta with an AuthnRequest; this session now waits for its answer.
pub(super) async fn login(State(app): S, headers: HeaderMap) -> Response {
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
    let saml = match saml(&app) {
        Ok(s) => s,
        Err(response) => return response,
    };
    let now = SystemTime::now();
    // The request ID is what binds the Response to this browser: 128 bits from a CSPRNG.
    let id = RequestId::from_random(rand::random());
    let request = match saml.sp.login_request(id, now, None) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    if let Err(e) = lock(&saml.pending).insert(&request, now) {
        tracing::warn!(target: "portal::audit", error = %e, "SAML sign-in not started");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Too many sign-ins are in progress; try again in a moment.",
        );
    }
    // A fresh session id for the sign-in (any half-finished one is dropped; a notice stays).
    let stage = Stage::Saml {
        request_id: request.request_id.as_str().to_owned(),
        since: Instant::now(),
    };
    let (sid, _) = app
        .sessions
        .rotate(current.as_ref().map(|(id, _)| id.as_str()), stage);
    super::redirect_with_cookie(&app, &request.url, &sid)
}

/// `POST /saml/acs`: the IdP's page posts the Response here, without the session cookie (see
/// the module docs). Verified Responses wait for their browser at `/saml/continue`.
pub(super) async fn acs(State(app): S, Form(form): Form<Fields>) -> Response {
    let saml = match saml(&app) {
        Ok(s) => s,
        Err(response) => return response,
    };
    let response = form.get("SAMLResponse").map_or("", String::as_str);
    let relay_state = form.get("RelayState").map(String::as_str);
    let accepted = {
        let mut pending = lock(&saml.pending);
        let mut replay = lock(&saml.replay);
        saml.sp.accept(
            response,
            relay_state,
            SystemTime::now(),
            &mut *pending,
            &mut *replay,
        )
    };
    match accepted {
        Ok(login) => {
            tracing::info!(target: "portal::audit", login = %login.name_id,
                request = login.in_response_to.as_deref().unwrap_or("-"),
                "SAML Response accepted; waiting for the browser that asked");
            let to = format!("/saml/continue?t={}", saml.park(login));
            Redirect::to(&to).into_response()
        }
        Err(e) => {
            // The error names the failed check and the setting to fix: for the operator.
            tracing::warn!(target: "portal::audit", error = %e, "SAML Response refused");
            refused(
                StatusCode::FORBIDDEN,
                "Okta's answer was not accepted, so nobody was signed in. Start again.",
                Some(&e.to_string()),
            )
        }
    }
}

fn refused(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    // The check that failed is shown to help whoever sets the portal up (it names an Okta
    // setting); it says nothing an attacker holding the Response does not know.
    let detail = detail
        .map(|d| {
            format!(
                r#"<details><summary>Why</summary><p id="detail"><small>{}</small></p></details>"#,
                esc(d)
            )
        })
        .unwrap_or_default();
    page(
        status,
        "Sign-in refused",
        &format!(
            r#"<h1>Sign-in refused</h1><p id="message" class="err">{}</p>{detail}<p><a href="/login">Back to sign-in</a></p>"#,
            esc(message)
        ),
    )
}

/// `GET /saml/continue?t=HANDLE`: the browser that started the sign-in, with its cookie.
pub(super) async fn finish(
    State(app): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<Fields>,
) -> Response {
    let saml = match saml(&app) {
        Ok(s) => s,
        Err(response) => return response,
    };
    let handle = query.get("t").map_or("", String::as_str);
    // Taken whatever happens next: a verified Response is used once, by one browser.
    let Some(login) = saml.take(handle) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This sign-in link was used already or has expired. Start again.",
            None,
        );
    };
    let another_browser = || {
        tracing::warn!(target: "portal::audit", login = %login.name_id,
            "SAML Response refused: presented by a browser that did not start its sign-in");
        refused(
            StatusCode::FORBIDDEN,
            "Okta's answer belongs to a sign-in this browser did not start, so it was not \
             accepted. Start again from this browser.",
            None,
        )
    };
    let Some((sid, session)) = app.sessions.get(&headers) else {
        return another_browser();
    };
    let Stage::Saml { request_id, .. } = &session.stage else {
        return another_browser();
    };
    if login.in_response_to.as_deref() != Some(request_id.as_str()) {
        return another_browser();
    }
    // One Response per sign-in: the session waits for nothing any more.
    app.sessions.update(&sid, |s| s.stage = Stage::Anonymous);
    let name = login.name_id.clone();
    if let Err(response) = provisioned(&app, saml, &login) {
        return response;
    }
    tracing::info!(target: "portal::audit", login = %name, "signed in with Okta; Duo next");
    match app.mode {
        Mode::Universal => start_universal(&app, &sid, name),
        Mode::Push => {
            let Some(gate) = app.gate() else {
                return internal("no Auth API application is configured");
            };
            // The address of this request, as the password step takes it: never a header the
            // client wrote (see `client_ip`).
            let Some(source) = app.trusted_proxies.client(peer.ip(), &headers) else {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "Unknown client",
                    "The proxy in front of the portal did not say which address the request \
                     came from.",
                );
            };
            let login = Login::new(name, source);
            let step = gate.begin(&login).await;
            dispatch(&app, &sid, login, step).await
        }
    }
}

/// Whether the user Okta vouched for may go on to Duo: a portal user (as the role sync made
/// them) with a role, and not a break-glass account. With `--saml-jit`, an unknown user whose
/// Okta groups map to roles is created first.
// The refusal is built once per refused request: its size does not matter.
#[allow(clippy::result_large_err)]
fn provisioned(app: &AppState, saml: &Saml, login: &SamlLogin) -> Result<(), Response> {
    let name = login.name_id.as_str();
    let store = app.store();
    let exists = store.has_user(name).map_err(internal)?;
    if exists && store.is_protected(name).map_err(internal)? {
        // Break-glass accounts are for when Okta is unavailable or wrong: an Okta user who
        // happens to carry the same login must not become one.
        tracing::warn!(target: "portal::audit", login = %name,
            "SAML sign-in refused: a break-glass account");
        return Err(refused(
            StatusCode::FORBIDDEN,
            "This is a break-glass account: it signs in with its password only, never \
             through Okta.",
            None,
        ));
    }
    if !exists && saml.jit {
        let roles = mapped_roles(&app.role_mapping, login.groups());
        if !roles.is_empty() {
            create_just_in_time(app, name, &roles).map_err(internal)?;
            tracing::info!(target: "portal::audit", login = %name, roles = ?roles,
                "created just in time from the SAML groups");
            return Ok(());
        }
    }
    let has_role = exists && !store.roles(name).map_err(internal)?.is_empty();
    if has_role {
        return Ok(());
    }
    tracing::warn!(target: "portal::audit", login = %name, exists,
        "SAML sign-in refused: not provisioned in the portal");
    Err(not_provisioned(name))
}

fn not_provisioned(name: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Not provisioned",
        &format!(
            r#"<h1>Not provisioned</h1>
<p id="message" class="err">Okta signed you in as <b id="okta-user">{}</b>, but your Okta account is not provisioned in this portal: ask an administrator to add you to a mapped Okta group. The next role sync gives you access.</p>
<p><a href="/login">Back to sign-in</a></p>"#,
            esc(name)
        ),
    )
}

/// The roles the mapping grants for these Okta groups.
fn mapped_roles(mapping: &Mapping, groups: &[String]) -> Vec<String> {
    let mut roles: Vec<String> = groups
        .iter()
        .flat_map(|g| mapping.roles(g).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

fn create_just_in_time(app: &AppState, login: &str, roles: &[String]) -> Result<(), BoxError> {
    let store = app.store();
    store.add_user(login, None, false)?;
    for role in roles {
        // As the sync would grant them: the next sync keeps or removes them.
        store.grant(login, role, GrantSource::Sync)?;
    }
    Ok(())
}

/// `GET /saml/metadata`: the SP's metadata, to upload to the IdP (or read its values from).
pub(super) async fn metadata(State(app): S) -> Response {
    match saml(&app) {
        Ok(saml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            saml.sp.metadata_xml(),
        )
            .into_response(),
        Err(response) => response,
    }
}
