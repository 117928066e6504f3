//! The Duo side of the sandbox: the Auth API, the Admin API and the Universal Prompt.
//!
//! Every signed request is verified as Duo verifies it: the integration key must be
//! known and of the right application type (an Admin key on the Auth API gets 40301), the date
//! within five minutes (40105), the v5 or v2 signature recomputed from the bytes received
//! (40103). Admin applications carry Duo's permission grants; an endpoint outside them answers
//! 40301.

// Handlers and their helpers return the error *response* itself as `Err`; it is built once per
// failed request, so its size does not matter here.
#![allow(clippy::result_large_err)]

mod admin_api;
mod auth_api;
pub(crate) mod envelope;
mod logs;
mod state;
mod universal;
mod verify;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use state::{Account, App, AppKind};
pub use state::{AdminPermission, Behaviour};
use verify::{Incoming, Needs, Verified};

use crate::origin::Origin;
use crate::{Faults, OrgSpec};

/// The Duo account's state: applications (fixed at start) and the account (behind one lock).
#[derive(Debug)]
pub(crate) struct DuoState {
    pub(crate) apps: HashMap<String, App>,
    auth_ikey: String,
    admin_ikey: String,
    limited_admin_ikey: String,
    pub(crate) universal_client_id: String,
    pub(crate) universal_secret: String,
    account: Mutex<Account>,
    pub(crate) faults: Mutex<Option<Faults>>,
    /// Duo requests being handled now (see [`edge_middleware`]).
    in_flight: AtomicU64,
    /// The most Duo requests handled at once since the start or the last
    /// [`DuoAccount::reset_max_in_flight`].
    max_in_flight: AtomicU64,
    /// `auth_status` long polls held now, waiting for their transaction's answer.
    pub(crate) waiting_polls: AtomicU64,
    /// Woken when pending transactions are answered ahead of their script
    /// ([`DuoAccount::answer_pending`]), so that requests waiting on them look again.
    pub(crate) answered: tokio::sync::Notify,
}

impl DuoState {
    pub(crate) fn new(spec: &OrgSpec) -> Self {
        let mut apps = HashMap::new();
        let mut add = |prefix: &str, kind: AppKind| {
            let ikey = format!("{prefix}{}", crate::random_id(18).to_ascii_uppercase());
            apps.insert(
                ikey.clone(),
                App {
                    kind,
                    skey: state::secret(),
                },
            );
            ikey
        };
        let all = HashSet::from([
            AdminPermission::ReadInformation,
            AdminPermission::ReadResource,
            AdminPermission::WriteResource,
            AdminPermission::Administrators,
            AdminPermission::Settings,
        ]);
        let auth_ikey = add("DI", AppKind::Auth);
        let admin_ikey = add("DI", AppKind::Admin(all));
        let limited_admin_ikey = add(
            "DI",
            AppKind::Admin(HashSet::from([AdminPermission::ReadResource])),
        );
        let mut account = state::generate(spec);
        account.logs = logs::Logs::generate(spec.seed, &account, auth_ikey.clone());
        Self {
            apps,
            auth_ikey,
            admin_ikey,
            limited_admin_ikey,
            universal_client_id: format!("DI{}", crate::random_id(18).to_ascii_uppercase()),
            universal_secret: state::secret(),
            account: Mutex::new(account),
            faults: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            waiting_polls: AtomicU64::new(0),
            answered: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn account(&self) -> MutexGuard<'_, Account> {
        // A poisoned lock only means a panic in another request; the data stays usable.
        self.account
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn app(&self, ikey: &str) -> DuoApplication {
        let skey = self
            .apps
            .get(ikey)
            .map(|a| a.skey.clone())
            .unwrap_or_default();
        DuoApplication {
            integration_key: ikey.to_owned(),
            secret_key: skey,
            api_host: String::new(),
        }
    }

    pub(crate) fn credentials(&self, api_host: &str, universal_host: &str) -> DuoCredentials {
        let with_host = |mut a: DuoApplication| {
            a.api_host = api_host.to_owned();
            a
        };
        DuoCredentials {
            auth: with_host(self.app(&self.auth_ikey)),
            admin: with_host(self.app(&self.admin_ikey)),
            admin_read_only: with_host(self.app(&self.limited_admin_ikey)),
            universal: UniversalApplication {
                client_id: self.universal_client_id.clone(),
                client_secret: self.universal_secret.clone(),
                api_host: universal_host.to_owned(),
            },
        }
    }
}

/// A Duo application's credentials.
#[derive(Debug, Clone, Serialize)]
pub struct DuoApplication {
    /// Integration key.
    pub integration_key: String,
    /// Secret key (a throw-away test value made at start).
    pub secret_key: String,
    /// API hostname with port (`127.0.0.1:PORT`).
    pub api_host: String,
}

/// A Duo Universal Prompt (Web SDK) application.
#[derive(Debug, Clone, Serialize)]
pub struct UniversalApplication {
    /// Client id (20 characters).
    pub client_id: String,
    /// Client secret (40 characters; a throw-away test value).
    pub client_secret: String,
    /// API hostname with port; the HTTPS listener's when TLS is on (Duo's official client only
    /// speaks HTTPS).
    pub api_host: String,
}

/// The Duo applications of the sandbox.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DuoCredentials {
    /// An Auth API application.
    pub auth: DuoApplication,
    /// An Admin API application with every permission.
    pub admin: DuoApplication,
    /// An Admin API application with only "Grant read resource".
    pub admin_read_only: DuoApplication,
    /// A Universal Prompt application.
    pub universal: UniversalApplication,
}

/// A summary of one Duo user, for tests' assertions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuoUserSummary {
    /// Duo user id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Email.
    pub email: String,
    /// Status (`active`, `bypass`, `disabled`, `locked out`).
    pub status: String,
    /// Phone ids.
    pub phones: Vec<String>,
    /// The passcode the user's authenticator shows.
    pub passcode: String,
}

/// A handle on the Duo account while the sandbox runs: users, behaviours, timings.
#[derive(Debug, Clone)]
pub struct DuoAccount {
    state: Arc<DuoState>,
}

impl DuoAccount {
    pub(crate) fn new(state: Arc<DuoState>) -> Self {
        Self { state }
    }

    /// Every Duo user, in the Admin API's order.
    pub fn users(&self) -> Vec<DuoUserSummary> {
        self.state
            .account()
            .users
            .iter()
            .map(|u| DuoUserSummary {
                user_id: u.user_id.clone(),
                username: u.username.clone(),
                aliases: u.aliases.clone(),
                email: u.email.clone(),
                status: u.status.clone(),
                phones: u.phones.clone(),
                passcode: u.passcode.clone(),
            })
            .collect()
    }

    /// The user with this username or alias.
    pub fn user(&self, name: &str) -> Option<DuoUserSummary> {
        self.users().into_iter().find(|u| {
            u.username.eq_ignore_ascii_case(name)
                || u.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// How the user answers pushes and calls from now on. Returns false for an unknown user.
    pub fn set_behaviour(&self, username: &str, behaviour: Behaviour) -> bool {
        let mut account = self.state.account();
        match account.find_by_name(username) {
            Some(i) => {
                account.users[i].behaviour = behaviour;
                true
            }
            None => false,
        }
    }

    /// Sets a user's status (`active`, `bypass`, `disabled`, `locked out`).
    pub fn set_status(&self, username: &str, status: &str) -> bool {
        let mut account = self.state.account();
        match account.find_by_name(username) {
            Some(i) => {
                account.users[i].status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// Adds an alias to a user.
    pub fn add_alias(&self, username: &str, alias: &str) -> bool {
        let mut account = self.state.account();
        match account.find_by_name(username) {
            Some(i) => {
                account.users[i].aliases.push(alias.to_owned());
                true
            }
            None => false,
        }
    }

    /// Deletes a user (as if removed in the Admin Panel between two pages of a listing).
    pub fn delete_user(&self, username: &str) -> bool {
        let mut account = self.state.account();
        match account.find_by_name(username) {
            Some(i) => {
                account.users.remove(i);
                true
            }
            None => false,
        }
    }

    /// How long an unanswered push waits before timing out (default 60 s, as Duo).
    pub fn set_push_timeout(&self, timeout: Duration) {
        self.state.account().push_timeout = timeout;
    }

    /// How long after `enroll` the activation completes (default 2 s). `enroll_status` compares
    /// the time since `enroll` with the delay in force when it is asked, so a change applies to
    /// activations already under way too: a long delay keeps one waiting, and zero completes it
    /// at the next poll.
    pub fn set_enroll_delay(&self, delay: Duration) {
        self.state.account().enroll_delay = delay;
    }

    /// Answers the user's pending push and phone transactions now, as if the person tapped
    /// Approve (`approve`) or Deny, whatever their [`Behaviour`] had scripted; `auth_status` long
    /// polls and synchronous `auth` calls waiting on them return at once. Transactions already
    /// answered or timed out keep their answer. Returns how many were answered (0 for an
    /// unknown user).
    pub fn answer_pending(&self, username: &str, approve: bool) -> usize {
        let answered = {
            let mut account = self.state.account();
            let Some(i) = account.find_by_name(username) else {
                return 0;
            };
            let user_id = account.users[i].user_id.clone();
            let now = Instant::now();
            let outcome = if approve {
                state::Outcome::Allow
            } else {
                state::Outcome::Deny
            };
            let mut answered = 0;
            for tx in account.transactions.values_mut() {
                if tx.user_id == user_id && now < tx.started + tx.after {
                    tx.outcome = outcome;
                    tx.after = now - tx.started;
                    answered += 1;
                }
            }
            answered
        };
        self.state.answered.notify_waiters();
        answered
    }

    /// How many `auth_status` long polls are held now, waiting for their transaction's answer
    /// (a poll is held from the second one on, until the answer or 20 s pass). A test can wait
    /// for one to be held before it answers ([`answer_pending`](Self::answer_pending)).
    pub fn waiting_polls(&self) -> u64 {
        self.state.waiting_polls.load(Ordering::SeqCst)
    }

    /// How many signed requests the Duo side has answered.
    pub fn requests(&self) -> u64 {
        self.state.account().requests
    }

    /// How many Duo requests (Auth API, Admin API, Universal Prompt) are being handled now,
    /// counted from their arrival until their response is handed back — including time spent
    /// in injected faults (latency, a [`FaultKind::Hold`](crate::FaultKind::Hold)) and requests
    /// whose signature is refused. A request whose client hangs up stops counting when the
    /// sandbox notices. Zero means every request that has arrived has been answered or dropped.
    pub fn in_flight(&self) -> u64 {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most Duo requests that were in flight at once (as [`in_flight`](Self::in_flight)
    /// counts them) since the sandbox started or [`reset_max_in_flight`](Self::reset_max_in_flight):
    /// what a test of a client's concurrency bound reads.
    pub fn max_in_flight(&self) -> u64 {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Starts [`max_in_flight`](Self::max_in_flight) again from the requests in flight now.
    pub fn reset_max_in_flight(&self) {
        let now = self.state.in_flight.load(Ordering::SeqCst);
        self.state.max_in_flight.store(now, Ordering::SeqCst);
    }
}

/// Leaves the Duo in-flight gauge however the request ends (a dropped connection included).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps the Duo side's in-flight gauge ([`DuoAccount::in_flight`]). It wraps everything else,
/// fault injection included (`lib.rs` adds it as an outermost layer); Okta requests pass through
/// uncounted (the Okta edge has its own gauge).
pub(crate) async fn edge_middleware(
    State(state): State<Arc<DuoState>>,
    request: Request,
    next: Next,
) -> Response {
    if crate::okta::is_okta(request.uri().path()) {
        return next.run(request).await;
    }
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _gauge = InFlight(&state.in_flight);
    next.run(request).await
}

/// One Duo API call: everything a handler needs to verify and answer it.
pub(crate) struct Call {
    pub(crate) origin: Origin,
    pub(crate) method: http::Method,
    pub(crate) uri: http::Uri,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let origin =
            <Origin as axum::extract::FromRequestParts<S>>::from_request_parts(&mut parts, state)
                .await
                .unwrap_or_else(|e| match e {});
        let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
            .await
            .map_err(|_| {
                envelope::fail(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    41301,
                    "Request body too large",
                    None,
                )
            })?;
        Ok(Call {
            origin,
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

impl Call {
    pub(crate) fn verify(&self, state: &DuoState, needs: Needs) -> Result<Verified, Response> {
        let result = verify::verify(
            state,
            Incoming {
                method: &self.method,
                path: self.uri.path(),
                query: self.uri.query().unwrap_or_default(),
                headers: &self.headers,
                body: &self.body,
                hostname: self.origin.hostname(),
            },
            needs,
        );
        if result.is_ok() {
            state.account().requests += 1;
        }
        result
    }
}

/// The Duo routes.
pub(crate) fn router(state: Arc<DuoState>, faults: Faults) -> Router {
    *state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(faults);
    Router::new()
        .merge(auth_api::routes())
        .merge(admin_api::routes())
        .merge(universal::routes())
        .with_state(state)
}
