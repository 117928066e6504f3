//! The Okta side of the sandbox: the org authorization server's token endpoint and the Groups
//! API, verified like Okta verifies them.
//!
//! * `POST /oauth2/v1/token` — client credentials with `private_key_jwt` (RFC 7523) checked
//!   against each service app's registered keys, DPoP (RFC 9449) with server nonces for the apps
//!   that require it, scopes checked against the app's grants.
//! * `GET /api/v1/groups`, `/api/v1/groups/{id}`, `/api/v1/groups/{id}/users`,
//!   `/api/v1/users/{id}` — authenticated with an API token (`SSWS`), a Bearer token, or a DPoP
//!   token with a proof bound to it; paged with opaque cursors in `Link` headers.
//! * Every response carries Okta's rate-limit headers and a request id; budgets are per endpoint
//!   and per minute, and a spent budget answers 429 `E0000047`.
//!
//! The directory is generated from the org seed (person `i` is Okta user `i`) and can be changed
//! while the sandbox runs through [`OktaDirectory`], so tests can simulate a directory that moves
//! between two syncs.

mod api;
mod apps;
mod directory;
mod dpop;
mod jose;
mod limits;
mod record;
mod search;
mod syslog;
mod time;
mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;

use crate::{Faults, OrgSpec};

pub use apps::{OktaAppKey, OktaCredentials, OktaServiceApp};
pub use directory::{
    DirectoryError, NewOktaUser, OktaGroup, OktaGroupType, OktaUser, OktaUserStatus,
};
pub use limits::{OktaCounters, OktaEndpoint};
pub use record::OktaRequest;
pub(crate) use record::is_okta;
/// The edge middleware (request ids on every Okta response, the in-flight gauge, the request
/// log). It must wrap everything else, fault injection included, so `lib.rs` adds it as the
/// outermost layer of the whole app; requests to other paths pass through untouched.
pub(crate) use record::middleware as edge_middleware;

/// Access tokens live an hour, as Okta's org authorization server issues them (tests can
/// shorten it: `OktaDirectory::set_token_lifetime`).
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 3600;

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// Index into [`OktaState::apps`].
    pub(crate) app: usize,
    pub(crate) scopes: Vec<String>,
    /// The RFC 7638 thumbprint of the DPoP key it is bound to (`cnf.jkt`); None for Bearer.
    pub(crate) jkt: Option<String>,
    pub(crate) expires_at: i64,
}

/// Issued tokens, pruned of expired ones as new ones are added.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
}

impl TokenStore {
    pub(crate) fn insert(&mut self, token: String, issued: IssuedToken) {
        if self.tokens.len() >= 4096 {
            let now = time::now_secs();
            self.tokens.retain(|_, t| t.expires_at > now);
        }
        self.tokens.insert(token, issued);
    }

    pub(crate) fn get(&self, token: &str) -> Option<&IssuedToken> {
        self.tokens.get(token)
    }
}

/// The Okta org's state.
#[derive(Debug)]
pub(crate) struct OktaState {
    pub(crate) apps: Vec<apps::App>,
    pub(crate) api_token: String,
    directory: RwLock<directory::Directory>,
    tokens: Mutex<TokenStore>,
    assertion_jtis: Mutex<dpop::ReplayCache>,
    proof_jtis: Mutex<dpop::ReplayCache>,
    /// The token endpoint's nonce.
    as_nonce: Mutex<dpop::NonceState>,
    /// The resource server's nonce, demanded only when `rs_nonce_required` is on.
    rs_nonce: Mutex<dpop::NonceState>,
    rs_nonce_required: AtomicBool,
    /// The resource API refuses every access token (`reject_access_tokens`).
    reject_tokens: AtomicBool,
    /// `expires_in` of newly issued access tokens, seconds.
    pub(crate) token_lifetime: AtomicI64,
    /// Okta's concurrency limit: at most this many Okta requests in flight (0: none).
    pub(crate) concurrency_limit: AtomicU64,
    limits: Mutex<limits::RateLimits>,
    pub(crate) counters: limits::Counters,
    /// The request log of the edge middleware.
    edge: record::Edge,
    /// The System Log and the portal's SAML app.
    access: Mutex<syslog::Access>,
    /// The org's SAML apps (the sandbox as Okta's SAML IdP).
    pub(crate) saml: crate::saml::IdpState,
}

/// Locks a mutex; a poisoned lock only means a panic elsewhere and the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OktaState {
    /// Generates the directory and the service apps.
    pub(crate) fn new(spec: &OrgSpec) -> Self {
        // Key generation fails only if AWS-LC itself is broken; there is no sandbox without keys.
        #[allow(clippy::expect_used)]
        let apps =
            apps::generate_apps().expect("AWS-LC could not generate the Okta service app keys");
        let directory = directory::Directory::generate(spec.seed, spec.users, spec.groups);
        let access = syslog::Access {
            app: Some(syslog::portal_app(
                spec.seed,
                directory.group_ids_named(&["Portal Admins", "Portal Users"]),
            )),
            ..syslog::Access::default()
        };
        Self {
            apps,
            api_token: apps::api_token(),
            directory: RwLock::new(directory),
            tokens: Mutex::default(),
            assertion_jtis: Mutex::default(),
            proof_jtis: Mutex::default(),
            as_nonce: Mutex::default(),
            rs_nonce: Mutex::default(),
            rs_nonce_required: AtomicBool::new(false),
            reject_tokens: AtomicBool::new(false),
            token_lifetime: AtomicI64::new(TOKEN_LIFETIME_SECS),
            concurrency_limit: AtomicU64::new(0),
            limits: Mutex::default(),
            counters: limits::Counters::default(),
            edge: record::Edge::default(),
            access: Mutex::new(access),
            saml: crate::saml::IdpState::new(spec),
        }
    }

    pub(crate) fn lock_access(&self) -> MutexGuard<'_, syslog::Access> {
        lock(&self.access)
    }

    /// What clients need, for an org reached at `org_url`.
    pub(crate) fn credentials(&self, org_url: &str) -> OktaCredentials {
        let app = |i: usize| self.apps[i].public.clone();
        OktaCredentials {
            org_url: org_url.to_owned(),
            token_url: format!("{org_url}/oauth2/v1/token"),
            api_token: self.api_token.clone(),
            bearer_rsa: app(0),
            dpop_rsa: app(1),
            dpop_ec: app(2),
            no_admin_role: app(3),
        }
    }

    pub(crate) fn read_directory(&self) -> RwLockReadGuard<'_, directory::Directory> {
        self.directory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_directory(&self) -> RwLockWriteGuard<'_, directory::Directory> {
        self.directory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn lock_tokens(&self) -> MutexGuard<'_, TokenStore> {
        lock(&self.tokens)
    }

    pub(crate) fn lock_assertion_jtis(&self) -> MutexGuard<'_, dpop::ReplayCache> {
        lock(&self.assertion_jtis)
    }

    pub(crate) fn lock_proof_jtis(&self) -> MutexGuard<'_, dpop::ReplayCache> {
        lock(&self.proof_jtis)
    }

    pub(crate) fn lock_as_nonce(&self) -> MutexGuard<'_, dpop::NonceState> {
        lock(&self.as_nonce)
    }

    pub(crate) fn lock_rs_nonce(&self) -> MutexGuard<'_, dpop::NonceState> {
        lock(&self.rs_nonce)
    }

    pub(crate) fn rs_nonce_required(&self) -> bool {
        self.rs_nonce_required.load(Ordering::Relaxed)
    }

    pub(crate) fn rejects_tokens(&self) -> bool {
        self.reject_tokens.load(Ordering::Relaxed)
    }

    pub(crate) fn lock_limits(&self) -> MutexGuard<'_, limits::RateLimits> {
        lock(&self.limits)
    }
}

/// What the Okta handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) state: Arc<OktaState>,
    pub(crate) faults: Faults,
}

/// The Okta routes.
pub(crate) fn router(state: Arc<OktaState>, faults: Faults) -> Router {
    let ctx = Ctx {
        state: state.clone(),
        faults,
    };
    Router::new()
        .route("/oauth2/v1/token", post(token::token))
        .route("/api/v1/groups", get(api::list_groups))
        .route("/api/v1/groups/{id}", get(api::get_group))
        .route("/api/v1/groups/{id}/users", get(api::list_members))
        .route("/api/v1/users/{id}", get(api::get_user))
        .merge(api::access_routes())
        .merge(crate::saml::routes())
        .with_state(ctx)
        .layer(axum::middleware::from_fn_with_state(
            state,
            limits::middleware,
        ))
}

/// A JSON response with a body already serialized.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// An OAuth 2.0 error (`{"error","error_description"}`), as the token endpoint and DPoP
/// challenges answer.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    json_response(status, body.to_string())
}

/// A handle to change the Okta directory and the org's behaviour while the sandbox runs.
#[derive(Debug, Clone)]
pub struct OktaDirectory {
    state: Arc<OktaState>,
}

impl OktaDirectory {
    pub(crate) fn new(state: Arc<OktaState>) -> Self {
        Self { state }
    }

    /// Every user, in creation order.
    pub fn users(&self) -> Vec<OktaUser> {
        self.state.read_directory().users()
    }

    /// The user with this id or login (logins compare case-insensitively).
    pub fn user(&self, id_or_login: &str) -> Option<OktaUser> {
        self.state.read_directory().user(id_or_login)
    }

    /// Every group, in creation order (`Everyone` first).
    pub fn groups(&self) -> Vec<OktaGroup> {
        self.state.read_directory().groups()
    }

    /// The group with this id or exact name.
    pub fn group(&self, id_or_name: &str) -> Option<OktaGroup> {
        self.state.read_directory().group(id_or_name)
    }

    /// A group's members, in the order the API pages them.
    pub fn members(&self, group_id: &str) -> Result<Vec<OktaUser>, DirectoryError> {
        self.state.read_directory().members(group_id)
    }

    /// Adds a user (also to `Everyone`).
    pub fn add_user(&self, user: NewOktaUser) -> Result<OktaUser, DirectoryError> {
        self.state.write_directory().add_user(user)
    }

    /// Deletes a user and its memberships.
    pub fn remove_user(&self, id_or_login: &str) -> Result<OktaUser, DirectoryError> {
        self.state.write_directory().remove_user(id_or_login)
    }

    /// Changes a user's status (suspend, deactivate, unlock, …).
    pub fn set_status(
        &self,
        id_or_login: &str,
        status: OktaUserStatus,
    ) -> Result<(), DirectoryError> {
        self.state.write_directory().set_status(id_or_login, status)
    }

    /// Changes a user's login (and its email when the email was the login).
    pub fn set_login(&self, id_or_login: &str, login: &str) -> Result<(), DirectoryError> {
        self.state.write_directory().set_login(id_or_login, login)
    }

    /// Adds a user to a group; false when it was already a member.
    pub fn add_member(&self, group_id: &str, user: &str) -> Result<bool, DirectoryError> {
        self.state.write_directory().add_member(group_id, user)
    }

    /// Removes a user from a group; false when it was not a member.
    pub fn remove_member(&self, group_id: &str, user: &str) -> Result<bool, DirectoryError> {
        self.state.write_directory().remove_member(group_id, user)
    }

    /// Creates an `OKTA_GROUP`.
    pub fn create_group(&self, name: &str, description: Option<&str>) -> OktaGroup {
        self.state.write_directory().create_group(name, description)
    }

    /// Renames a group.
    pub fn rename_group(&self, group_id: &str, name: &str) -> Result<(), DirectoryError> {
        self.state.write_directory().rename_group(group_id, name)
    }

    /// Deletes a group (not `Everyone`).
    pub fn delete_group(&self, group_id: &str) -> Result<(), DirectoryError> {
        self.state.write_directory().delete_group(group_id)
    }

    /// Sets an endpoint's budget in requests per minute (default 600). The current window keeps
    /// what it has already used.
    pub fn set_rate_limit(&self, endpoint: OktaEndpoint, per_minute: u32) {
        self.state.lock_limits().set(endpoint, per_minute);
    }

    /// Starts a fresh rate-limit window for every endpoint.
    pub fn reset_rate_limits(&self) {
        self.state.lock_limits().reset();
    }

    /// Makes the resource API demand a server nonce in DPoP proofs (RFC 9449 §9): proofs without
    /// the current nonce get 401 `use_dpop_nonce` with a `DPoP-Nonce` header.
    pub fn set_resource_nonce_required(&self, on: bool) {
        self.state.rs_nonce_required.store(on, Ordering::Relaxed);
    }

    /// How often the token endpoint's and the resource server's nonces rotate (default 24 h, as
    /// at Okta); the previous nonce stays acceptable.
    pub fn set_nonce_rotation(&self, every: Duration) {
        self.state.lock_as_nonce().set_rotation(every);
        self.state.lock_rs_nonce().set_rotation(every);
    }

    /// Rotates both nonces now (the previous one stays acceptable until the next rotation).
    pub fn rotate_nonces(&self) {
        self.state.lock_as_nonce().rotate();
        self.state.lock_rs_nonce().rotate();
    }

    /// Expires every issued access token now (clients must fetch new ones).
    pub fn expire_tokens(&self) {
        let now = time::now_secs();
        for t in self.state.lock_tokens().tokens.values_mut() {
            t.expires_at = t.expires_at.min(now - 1);
        }
    }

    /// Makes the resource API refuse every access token with 401 `invalid_token` (as after the
    /// app's tokens were revoked), however fresh; the token endpoint still issues them. API
    /// tokens (`SSWS`) are not affected.
    pub fn reject_access_tokens(&self, on: bool) {
        self.state.reject_tokens.store(on, Ordering::Relaxed);
    }

    /// The lifetime (`expires_in`) of access tokens issued from now on (default one hour, as at
    /// Okta; at least one second). Tokens already issued keep theirs.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX).max(1);
        self.state.token_lifetime.store(secs, Ordering::Relaxed);
    }

    /// Okta's concurrency limit (`None`, the default, for none): a rate-limited Okta request
    /// (token endpoint or API) arriving while more than `max` Okta requests are in flight —
    /// itself included, counted as [`OktaCounters::max_in_flight`] counts them, injected latency
    /// included — is answered 429 `E0000047` with `X-Rate-Limit-Limit: 0`,
    /// `X-Rate-Limit-Remaining: 0` and a reset a minute ahead, as Okta signals its concurrent
    /// rate limit. Such answers count in [`OktaCounters::rate_limited`].
    pub fn set_concurrency_limit(&self, max: Option<u32>) {
        let max = max.map_or(0, |m| u64::from(m.max(1)));
        self.state.concurrency_limit.store(max, Ordering::Relaxed);
    }

    /// Starts (or stops) logging every Okta request with its headers, form body and answer; see
    /// [`requests`](Self::requests). Off by default; the log keeps the latest 100,000 requests.
    pub fn record_requests(&self, on: bool) {
        self.state.edge.recording.store(on, Ordering::Relaxed);
    }

    /// The requests logged since recording started (or the log was cleared), in arrival order:
    /// what the client sent (headers as received, e.g. `X-Okta-Retry-For`) and what it got
    /// back (status, `X-Okta-Request-Id`). Requests still being answered are not there yet.
    pub fn requests(&self) -> Vec<OktaRequest> {
        self.state.edge.requests()
    }

    /// Empties the request log (recording stays as it is).
    pub fn clear_requests(&self) {
        self.state.edge.clear();
    }

    /// What has been served so far.
    pub fn counters(&self) -> OktaCounters {
        self.state.counters.snapshot()
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        self.state.counters.reset();
    }
}
