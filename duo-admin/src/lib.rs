//! Duo Admin API client: users, phones, groups, group members and admins, every page of them,
//! as streams; the authentication and administrator logs as resumable, paced walks
//! ([`logs`]); account information; and [`AdminClient::get`] / [`AdminClient::pages`] for any
//! other read.
//!
//! Built on `duo-auth`'s transport: requests are signed with v5 (required by `/admin/v2`), 429s
//! are retried on Duo's schedule, errors are `duo_auth::Error` with Duo's own code and message.
//! Paged endpoints follow `metadata.next_offset` until it is absent, asking for the page size
//! you choose (capped at Duo's maximum; the server may return fewer) and failing with
//! [`Error::OffsetDidNotAdvance`] rather than looping if the server repeats an offset, and
//! with [`Error::TooManyPages`] when it names a next page after
//! [`Limits::max_pages`](duo_auth::transport::Limits::max_pages) of them (100,000 by default).
//!
//! ```no_run
//! # async fn demo() -> Result<(), duo_admin::Error> {
//! use futures::TryStreamExt;
//! let creds = duo_auth::Credentials::new("DI…", "…", "api-xxxxxxxx.duosecurity.com")?;
//! let admin = duo_admin::AdminClient::builder(creds).build()?;
//! let mut users = admin.users();
//! while let Some(user) = users.try_next().await? {
//!     println!("{} {:?}", user.username, user.status);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod import;
pub mod logs;
pub mod models;
pub mod pacing;
mod paging;
pub mod review;

use std::sync::Arc;
use std::time::Duration;

use duo_auth::Credentials;
use duo_auth::retry::RetryPolicy;
use duo_auth::runtime::Runtime;
use duo_auth::sign::{Request, SignatureVersion};
use duo_auth::transport::{Transport, TransportConfig};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use logs::{
    AdminLogCheckpoint, AdminLogEvent, AdminLogWalk, AuthLogCheckpoint, AuthLogEvent, AuthLogWalk,
    LogPacing, LogWindow,
};
pub use models::{
    Admin, BypassCode, Capability, DesktopAuthenticator, Group, GroupMember, InfoSummary, NewUser,
    Phone, Token, User, UserStatus, WebAuthnCredential,
};

/// The default user agent.
pub const USER_AGENT: &str = concat!("duo-okta-sdk/", env!("CARGO_PKG_VERSION"), " duo-admin");

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Duo answered with an error, or could not be reached (see `duo_auth::Error`).
    #[error(transparent)]
    Duo(#[from] duo_auth::Error),
    /// The credentials were refused.
    #[error(transparent)]
    Credentials(#[from] duo_auth::CredentialsError),
    /// The listing kept changing while it was read (`total_objects` moved between pages) after
    /// every restart: a complete, consistent read was not possible.
    #[error("listing {path} changed during every one of {attempts} reads")]
    ListingUnstable {
        /// The endpoint.
        path: String,
        /// Walks tried.
        attempts: u32,
    },
    /// A paged listing's `next_offset` did not move past the current offset: following it would
    /// loop forever or repeat users.
    #[error("paging {path}: next_offset {next} does not advance past offset {offset}")]
    OffsetDidNotAdvance {
        /// The endpoint.
        path: String,
        /// The offset requested.
        offset: u64,
        /// The `next_offset` Duo returned.
        next: u64,
    },
    /// A paged listing still named a next page after
    /// [`Limits::max_pages`](duo_auth::transport::Limits::max_pages) pages: paging metadata
    /// that never ends, stopped instead of followed for ever.
    #[error(
        "paging {path}: next_offset {next} after {pages} pages, the most a listing follows \
         (Limits::max_pages)"
    )]
    TooManyPages {
        /// The endpoint.
        path: String,
        /// Pages listed, the limit.
        pages: u64,
        /// The `next_offset` of the last page, not followed.
        next: u64,
    },
    /// A page's request was cancelled from outside the listing (its tokio runtime is shutting
    /// down).
    #[error("a page request was cancelled (the runtime is shutting down)")]
    Cancelled,
    /// A log's `next_offset` cursor did not move forward: following it would loop or repeat
    /// events.
    #[error("paging {path}: next_offset {next} does not advance past {cursor}")]
    CursorDidNotAdvance {
        /// The endpoint.
        path: String,
        /// The cursor requested (`ts,txid`).
        cursor: String,
        /// The cursor Duo returned.
        next: String,
    },
    /// A log walk resumed from a checkpoint found the log changed where the checkpoint points
    /// (the events it handed over are not there any more): resuming could skip or repeat events.
    #[error("resuming {path} from a checkpoint: {reason}")]
    CheckpointMismatch {
        /// The endpoint.
        path: String,
        /// What did not match.
        reason: String,
    },
    /// The administrator log holds more events within two seconds than one answer carries
    /// (1,000): asking from a timestamp cannot get past them.
    #[error(
        "{path}: more than 1000 events around timestamp {timestamp}; the log cannot be paged past them"
    )]
    LogStuck {
        /// The endpoint.
        path: String,
        /// The timestamp (seconds) the walk is stuck at.
        timestamp: u64,
    },
    /// A path given to [`AdminClient::get`] or [`AdminClient::pages`] is not a path of the
    /// API host: the signed request goes only to the configured host.
    #[error("{path:?} is not an Admin API path: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl Error {
    /// Duo's error code, if Duo answered with one.
    pub fn duo_code(&self) -> Option<u32> {
        match self {
            Error::Duo(e) => e.duo_code(),
            _ => None,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The offset asked for.
    pub offset: u64,
    /// `metadata.next_offset`, absent on the last page.
    pub next_offset: Option<u64>,
    /// `metadata.total_objects`, when Duo sends it.
    pub total_objects: Option<u64>,
}

/// Duo's page-size limits: users 300; everything else 500.
pub(crate) const USERS_MAX: u32 = 300;
const OTHERS_MAX: u32 = 500;

/// Configures an [`AdminClient`].
#[derive(Debug)]
pub struct AdminClientBuilder {
    config: TransportConfig,
    account_id: Option<String>,
    page_size: Option<u32>,
    page_retries: u32,
    pacing: Option<pacing::Pacing>,
    log_pacing: logs::LogPacing,
    prefetch: bool,
    page_concurrency: usize,
}

/// How many page requests of one listing may be in flight at once by default (see
/// [`AdminClientBuilder::page_concurrency`] for what it is based on).
pub const DEFAULT_PAGE_CONCURRENCY: usize = 8;

/// The most page requests of one listing [`AdminClientBuilder::page_concurrency`] allows in
/// flight: larger values are lowered to it.
pub const MAX_PAGE_CONCURRENCY: usize = 64;

impl AdminClientBuilder {
    /// How often the log endpoints may be asked (default: at most once a minute each, as Duo
    /// asks; see [`logs`]). Applies to log walks whether or not [`pacing`](Self::pacing) is on.
    pub fn log_pacing(mut self, pacing: logs::LogPacing) -> Self {
        self.log_pacing = pacing;
        self
    }

    /// Fetch the next pages of a listing while the current one is decoded (default on).
    ///
    /// Duo's `metadata.next_offset` and `total_objects` are read from the bytes at the end (or
    /// the start) of a page's body as soon as it has arrived, and the next pages are requested
    /// at once, by a task of the listing's own (so a slow consumer of the stream does not hold
    /// up the requests): the page at `next_offset` when that is all the body names; every
    /// remaining offset of the listing, [`page_concurrency`](Self::page_concurrency) requests
    /// at a time, when it names the total too. Each page is decoded on tokio's blocking pool, so
    /// pages decode at the same time, and at most four pages beyond those in flight wait for
    /// the consumer. The listing follows the `next_offset` of each fully decoded page: a
    /// prefetched page at any other offset is dropped (and its request cancelled), so what is
    /// listed is exactly what sequential paging lists. Off, or outside a tokio runtime, pages are
    /// fetched and decoded one after the other.
    pub fn prefetch(mut self, on: bool) -> Self {
        self.prefetch = on;
        self
    }

    /// How many page requests of one listing may be in flight at once (default
    /// [`DEFAULT_PAGE_CONCURRENCY`], 8; 1 asks for one page after the other, as Duo's own
    /// clients do; at most [`MAX_PAGE_CONCURRENCY`]). Needs [`prefetch`](Self::prefetch).
    ///
    /// Duo pages by offset, and the first page's `metadata.total_objects` gives every offset of
    /// the listing, so against a Duo tens of milliseconds away the rest of the pages can be on
    /// their way together instead of each waiting for the one before: an import of 100,000
    /// users is 334 pages of 300, 334 round trips one after the other, 43 at 8 in flight.
    /// What is listed does not change: pages are handed over in order, each page's own
    /// `next_offset` is still what the walk follows (a page at any other offset is dropped), and
    /// `total_objects` moving between pages still restarts an [import](import::import).
    ///
    /// Why 8: Duo publishes no request rate for the Admin API's listings and answers 429 when a
    /// client goes too fast (its rate-limits page, duo.com/docs/rate-limits, lists object limits
    /// only). The figure Duo's staff gave for "get page of objects" is 200 requests a minute
    /// (duo_client_python issue #101, 2019), a rate that Duo's own sequential client already
    /// exceeds in bursts at tens of milliseconds a page (a 100,000-user import is 334 pages:
    /// ~17 s one after the other at 50 ms, ~2.3 s at 8 in flight — above that figure either
    /// way). So the walk backs off as soon as Duo pushes back: its first retried request (a
    /// 429 waited out on Duo's schedule, or a page fetched again after a 5xx or a cut
    /// connection) drops it to one request at a time for the rest of the listing, and for
    /// the rest of an [import](import::import) when it restarts. For a tenant shared with other
    /// integrations, lower it, or set [`pacing`](Self::pacing): both apply.
    pub fn page_concurrency(mut self, n: usize) -> Self {
        self.page_concurrency = n.clamp(1, MAX_PAGE_CONCURRENCY);
        self
    }

    /// Pace requests on the client side (off by default; see [`pacing`]).
    pub fn pacing(mut self, pacing: pacing::Pacing) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// How many times a page that failed transiently (cut connection, truncated body, 5xx) is
    /// fetched again before the listing fails (default 2; 429s are the retry policy's).
    pub fn page_retries(mut self, n: u32) -> Self {
        self.page_retries = n;
        self
    }

    /// The signature version (default v5; the Admin API accepts v2 as well).
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.config = self.config.signature_version(version);
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.config = self.config.user_agent(user_agent);
        self
    }

    /// The timeout of each request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.timeout(timeout);
        self
    }

    /// The retry policy (default: Duo's own, 429 only).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config = self.config.retry_policy(policy);
        self
    }

    /// A caller-built `reqwest::Client`.
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`, as the client built here
    /// is: reqwest follows redirects by default, and although it drops `Authorization` when a
    /// redirect leaves the origin, a 307 or 308 sends the request's body again wherever it
    /// points. Its connect timeout is its own ([`Limits::connect_timeout`](duo_auth::transport::Limits::connect_timeout) applies only to the
    /// client built here); the body cap, stall timeout and retry budget and page bound apply to both.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.config = self.config.http_client(client);
        self
    }

    /// The clock, timer and randomness.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.config = self.config.runtime(runtime);
        self
    }

    /// Plain HTTP for a loopback API host (a local sandbox).
    pub fn loopback_http(mut self, on: bool) -> Self {
        self.config = self.config.loopback_http(on);
        self
    }

    /// Act on a child account (Accounts API parents): adds `account_id` to every request.
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// The page size to ask for (default: each endpoint's maximum, 300 for users and 500 for
    /// the others; larger values are capped there).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size.max(1));
        self
    }

    /// The bounds of every call, whatever the server does: the largest body read, how long a
    /// body may stall, how long a call may go on retrying, the connect timeout (see
    /// [`Limits`](duo_auth::transport::Limits) for the defaults).
    pub fn limits(mut self, limits: duo_auth::transport::Limits) -> Self {
        self.config = self.config.limits(limits);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<AdminClient, Error> {
        Ok(AdminClient {
            inner: Arc::new(Inner {
                transport: self.config.build()?,
                account_id: self.account_id,
                page_size: self.page_size,
                page_retries: self.page_retries,
                pacer: self.pacing.map(pacing::Pacer::new),
                log_pacer: logs::LogPacer::new(self.log_pacing),
                prefetch: self.prefetch,
                page_concurrency: self.page_concurrency,
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    account_id: Option<String>,
    page_size: Option<u32>,
    page_retries: u32,
    pacer: Option<pacing::Pacer>,
    log_pacer: logs::LogPacer,
    prefetch: bool,
    page_concurrency: usize,
}

/// A client of the Duo Admin API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdminClient {
    inner: Arc<Inner>,
}

impl AdminClient {
    /// A builder for an Admin API application's credentials.
    pub fn builder(credentials: Credentials) -> AdminClientBuilder {
        AdminClientBuilder {
            config: TransportConfig::new(credentials, USER_AGENT),
            account_id: None,
            page_size: None,
            page_retries: 2,
            pacing: None,
            log_pacing: logs::LogPacing::default(),
            prefetch: true,
            page_concurrency: DEFAULT_PAGE_CONCURRENCY,
        }
    }

    fn request(&self, request: Request) -> Request {
        match &self.inner.account_id {
            Some(id) => request.param("account_id", id.as_str()),
            None => request,
        }
    }

    async fn pace(&self, request: &Request) {
        if let Some(pacer) = &self.inner.pacer {
            let runtime = self.inner.transport.runtime();
            let class = pacing::EndpointClass::of(request.method(), request.path());
            let wait = pacer.reserve(class, runtime.now());
            if !wait.is_zero() {
                tracing::trace!(?wait, path = request.path(), "pacing");
                runtime.sleep(wait).await;
            }
        }
    }

    /// Sends a request (paced when pacing is on) and reads the envelope.
    async fn call(&self, request: Request) -> Result<duo_auth::transport::Envelope, Error> {
        if let Some(pacer) = &self.inner.pacer {
            let runtime = self.inner.transport.runtime();
            let class = pacing::EndpointClass::of(request.method(), request.path());
            let wait = pacer.reserve(class, runtime.now());
            if !wait.is_zero() {
                tracing::trace!(?wait, path = request.path(), "pacing");
                runtime.sleep(wait).await;
            }
        }
        Ok(self
            .inner
            .transport
            .call(&self.request(request), None)
            .await?)
    }

    async fn call_typed<T: DeserializeOwned>(&self, request: Request) -> Result<T, Error> {
        Ok(self.call(request).await?.decode()?)
    }

    /// One page, re-fetched up to `page_retries` times when it fails in a way that may pass
    /// (a cut connection, a truncated body, a 5xx) — the transport has already retried 429s.
    /// `arrival` (a prefetching walk's) is told the page's [`paging::Hint`] as read from its
    /// body's bytes as soon as the body has arrived, before it is decoded, and gives the
    /// request's place in flight back then (see [`AdminClientBuilder::prefetch`]). A re-fetch
    /// is a push-back too: the walk drops to one request at a time, and the re-fetch waits for
    /// a place like any other request.
    async fn fetch_page<D: paging::Decode>(
        &self,
        walk: &paging::Walk<D>,
        offset: u64,
        mut arrival: Option<paging::Arrival>,
    ) -> Result<Page<D::Item>, Error> {
        let mut attempt = 0u32;
        loop {
            match self.fetch_page_once(walk, offset, &mut arrival).await {
                Err(Error::Duo(ref e))
                    if e.is_transient()
                        && !matches!(e, duo_auth::Error::RateLimited { .. })
                        && attempt < self.inner.page_retries =>
                {
                    attempt += 1;
                    let wait = Duration::from_secs(1 << attempt.min(5));
                    tracing::debug!(path = &*walk.path, offset, attempt, error = %e, "re-fetching a Duo page");
                    walk.requests.slow_down();
                    self.inner.transport.runtime().sleep(wait).await;
                    if let Some(arrival) = arrival.as_mut() {
                        arrival.again(&walk.requests).await;
                    }
                }
                other => return other,
            }
        }
    }

    async fn fetch_page_once<D: paging::Decode>(
        &self,
        walk: &paging::Walk<D>,
        offset: u64,
        arrival: &mut Option<paging::Arrival>,
    ) -> Result<Page<D::Item>, Error> {
        let path = &*walk.path;
        let request = Request::get(path)
            .params(walk.params.iter().cloned())
            .param("limit", walk.limit.to_string())
            .param("offset", offset.to_string());
        self.pace(&request).await;
        let (raw, attempts) = self
            .inner
            .transport
            .send(&self.request(request), None)
            .await?;
        if attempts > 1 {
            // Retried: the service pushed back (a 429, or a failure the retry policy retries).
            walk.requests.slow_down();
        }
        // A prefetching walk decodes on tokio's blocking pool: a page takes milliseconds of CPU,
        // which on a runtime worker would hold up the IO of the pages being fetched meanwhile.
        let aside = arrival.is_some();
        if raw.status == 200
            && let Some(arrival) = arrival.as_mut()
        {
            arrival.arrived(paging::metadata_hint(&raw.body));
        }
        let decoder = Arc::clone(&walk.decoder);
        let decode = move || decoder.decode(&raw, attempts);
        let (items, metadata) = if aside {
            tokio::task::spawn_blocking(decode)
                .await
                .map_err(|e| match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => Error::Cancelled,
                })??
        } else {
            decode()?
        };
        let number = |v: &Value| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        };
        let next = match metadata.get("next_offset") {
            None | Some(Value::Null) => None,
            Some(v) => match number(v) {
                Some(n) if n > offset => Some(n),
                Some(n) => {
                    return Err(Error::OffsetDidNotAdvance {
                        path: path.to_owned(),
                        offset,
                        next: n,
                    });
                }
                None => {
                    return Err(Error::Duo(duo_auth::Error::UnexpectedResponse {
                        status: 200,
                        reason: "metadata.next_offset is not a number".to_owned(),
                        body: v.to_string(),
                    }));
                }
            },
        };
        let total = metadata.get("total_objects").and_then(number);
        tracing::debug!(path, offset, count = items.len(), ?next, ?total, "Duo page");
        Ok(Page {
            items,
            offset,
            next_offset: next,
            total_objects: total,
        })
    }

    /// Every page of a paged endpoint, as a stream (prefetching when on; see
    /// [`AdminClientBuilder::prefetch`]). Dropping the stream cancels what is in flight.
    fn typed_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: String,
        params: Vec<(String, String)>,
        max: u32,
    ) -> impl Stream<Item = Result<Page<T>, Error>> + Send + 'static {
        self.decoded_pages(path, params, max, Arc::new(paging::Typed::<T>::new()))
    }

    /// A new bound on one listing's requests in flight, at the client's `page_concurrency`.
    pub(crate) fn page_requests(&self) -> Arc<paging::Concurrency> {
        paging::Concurrency::new(self.inner.page_concurrency)
    }

    /// [`Self::pages`], each page's body read by `decoder`.
    pub(crate) fn decoded_pages<D: paging::Decode>(
        &self,
        path: String,
        params: Vec<(String, String)>,
        max: u32,
        decoder: Arc<D>,
    ) -> impl Stream<Item = Result<Page<D::Item>, Error>> + Send + 'static {
        self.decoded_pages_with(path, params, max, decoder, self.page_requests())
    }

    /// [`Self::decoded_pages`] with the bound on requests in flight given: a walk that lists
    /// again (an import's restart) keeps a bound lowered by a push-back.
    pub(crate) fn decoded_pages_with<D: paging::Decode>(
        &self,
        path: String,
        params: Vec<(String, String)>,
        max: u32,
        decoder: Arc<D>,
        requests: Arc<paging::Concurrency>,
    ) -> impl Stream<Item = Result<Page<D::Item>, Error>> + Send + 'static {
        let limit = self.inner.page_size.unwrap_or(max).min(max);
        let prefetch = self.inner.prefetch && tokio::runtime::Handle::try_current().is_ok();
        let walk = paging::Walk {
            client: self.clone(),
            path: Arc::from(path),
            params: Arc::from(params),
            limit,
            prefetch,
            decoder,
            max_pages: self.inner.transport.limits().max_pages,
            requests,
        };
        futures::stream::try_unfold(
            (walk, Some(0u64), None::<paging::Ahead<D::Item>>, 0u64),
            |(walk, offset, ahead, listed)| async move {
                let Some(offset) = offset else {
                    return Ok(None);
                };
                let (page, ahead) = walk.page(offset, ahead, listed).await?;
                let listed = listed + 1;
                let next = page.next_offset;
                if let Some(next) = next
                    && listed >= walk.max_pages
                {
                    return Err(Error::TooManyPages {
                        path: walk.path.to_string(),
                        pages: listed,
                        next,
                    });
                }
                Ok(Some((page, (walk, next, ahead, listed))))
            },
        )
    }

    /// Every item of a paged endpoint, as a stream.
    fn paged<T: DeserializeOwned + Send + 'static>(
        &self,
        path: String,
        params: Vec<(String, String)>,
        max: u32,
    ) -> impl Stream<Item = Result<T, Error>> + Send + Unpin + 'static {
        // Boxed so that callers can `.try_next()` without pinning; one allocation per listing.
        self.typed_pages(path, params, max)
            .map_ok(|page: Page<T>| futures::stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Every user, page by page, with Duo's paging metadata (for callers that check the listing
    /// stayed consistent, like the [`import`] module).
    pub fn user_pages(
        &self,
    ) -> impl Stream<Item = Result<Page<User>, Error>> + Send + Unpin + 'static {
        self.typed_pages("/admin/v1/users".into(), Vec::new(), USERS_MAX)
            .boxed()
    }

    /// Collects a stream into a vector (for small listings).
    pub async fn collect<T>(stream: impl Stream<Item = Result<T, Error>>) -> Result<Vec<T>, Error> {
        stream.try_collect().await
    }

    /// Every user.
    pub fn users(&self) -> impl Stream<Item = Result<User, Error>> + Send + Unpin + 'static {
        self.paged("/admin/v1/users".into(), Vec::new(), USERS_MAX)
    }

    /// Users whose username *or alias* is `username` (Duo returns a list).
    pub async fn users_by_username(&self, username: &str) -> Result<Vec<User>, Error> {
        self.call_typed(Request::get("/admin/v1/users").param("username", username))
            .await
    }

    /// Users with this email address.
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<User>, Error> {
        self.call_typed(Request::get("/admin/v1/users").param("email", email))
            .await
    }

    /// Users with these usernames (sent as a JSON array, as Duo expects).
    pub fn users_by_usernames(
        &self,
        usernames: &[String],
    ) -> impl Stream<Item = Result<User, Error>> + Send + Unpin + 'static {
        let list = serde_json::to_string(usernames).unwrap_or_else(|_| "[]".to_owned());
        self.paged(
            "/admin/v1/users".into(),
            vec![("username_list".into(), list)],
            USERS_MAX,
        )
    }

    /// Users with these ids.
    pub fn users_by_ids(
        &self,
        user_ids: &[String],
    ) -> impl Stream<Item = Result<User, Error>> + Send + Unpin + 'static {
        let list = serde_json::to_string(user_ids).unwrap_or_else(|_| "[]".to_owned());
        self.paged(
            "/admin/v1/users".into(),
            vec![("user_id_list".into(), list)],
            USERS_MAX,
        )
    }

    /// One user.
    pub async fn user(&self, user_id: &str) -> Result<User, Error> {
        let path = format!(
            "/admin/v1/users/{}",
            duo_auth::sign::encode_path_segment(user_id)
        );
        self.call_typed(Request::get(path)).await
    }

    /// A user's phones.
    pub fn user_phones(
        &self,
        user_id: &str,
    ) -> impl Stream<Item = Result<Phone, Error>> + Send + Unpin + 'static {
        let path = format!(
            "/admin/v1/users/{}/phones",
            duo_auth::sign::encode_path_segment(user_id)
        );
        self.paged(path, Vec::new(), OTHERS_MAX)
    }

    /// A user's groups.
    pub fn user_groups(
        &self,
        user_id: &str,
    ) -> impl Stream<Item = Result<Group, Error>> + Send + Unpin + 'static {
        let path = format!(
            "/admin/v1/users/{}/groups",
            duo_auth::sign::encode_path_segment(user_id)
        );
        self.paged(path, Vec::new(), OTHERS_MAX)
    }

    /// Every group.
    pub fn groups(&self) -> impl Stream<Item = Result<Group, Error>> + Send + Unpin + 'static {
        self.paged("/admin/v1/groups".into(), Vec::new(), OTHERS_MAX)
    }

    /// A group's members (the v2 endpoint).
    pub fn group_members(
        &self,
        group_id: &str,
    ) -> impl Stream<Item = Result<GroupMember, Error>> + Send + Unpin + 'static {
        let path = format!(
            "/admin/v2/groups/{}/users",
            duo_auth::sign::encode_path_segment(group_id)
        );
        self.paged(path, Vec::new(), OTHERS_MAX)
    }

    /// Every phone.
    pub fn phones(&self) -> impl Stream<Item = Result<Phone, Error>> + Send + Unpin + 'static {
        self.paged("/admin/v1/phones".into(), Vec::new(), OTHERS_MAX)
    }

    /// Every administrator (needs the "Grant administrators" permission).
    pub fn admins(&self) -> impl Stream<Item = Result<Admin, Error>> + Send + Unpin + 'static {
        self.paged("/admin/v1/admins".into(), Vec::new(), OTHERS_MAX)
    }

    /// Creates a user.
    pub async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        let body = serde_json::to_value(user).unwrap_or(Value::Null);
        self.call_typed(Request::post("/admin/v1/users").json(body))
            .await
    }

    /// Creates several users in one request (`users` travels as a JSON *string*, as Duo wants).
    pub async fn bulk_create(&self, users: &[NewUser]) -> Result<Vec<User>, Error> {
        let list = serde_json::to_string(users).unwrap_or_else(|_| "[]".to_owned());
        let request = Request::post("/admin/v1/users/bulk_create").param("users", list);
        self.call_typed(request).await
    }

    /// Adds a user to a group.
    pub async fn add_user_to_group(&self, user_id: &str, group_id: &str) -> Result<(), Error> {
        let path = format!(
            "/admin/v1/users/{}/groups",
            duo_auth::sign::encode_path_segment(user_id)
        );
        let _: Value = self
            .call_typed(Request::post(path).param("group_id", group_id))
            .await?;
        Ok(())
    }

    /// Creates a user and emails them an enrollment link.
    pub async fn enroll_user(&self, username: &str, email: &str) -> Result<(), Error> {
        let request = Request::post("/admin/v1/users/enroll")
            .param("username", username)
            .param("email", email);
        let _: Value = self.call_typed(request).await?;
        Ok(())
    }

    /// Every administrator, with their role (an alias of [`admins`](Self::admins) for access
    /// reviews: [`Admin::role`] is Duo's role name, `Owner`, `Administrator`, `Help Desk`, …).
    pub fn admins_with_roles(
        &self,
    ) -> impl Stream<Item = Result<Admin, Error>> + Send + Unpin + 'static {
        self.admins()
    }

    /// One administrator.
    pub async fn admin(&self, admin_id: &str) -> Result<Admin, Error> {
        let path = format!(
            "/admin/v1/admins/{}",
            duo_auth::sign::encode_path_segment(admin_id)
        );
        self.call_typed(Request::get(path)).await
    }

    /// The account summary: counts of administrators, applications, users and telephony
    /// credits (needs "Grant read information").
    pub async fn info_summary(&self) -> Result<InfoSummary, Error> {
        self.call_typed(Request::get("/admin/v1/info/summary"))
            .await
    }

    /// A user's bypass codes (their metadata: Duo never shows a code again).
    pub fn user_bypass_codes(
        &self,
        user_id: &str,
    ) -> impl Stream<Item = Result<BypassCode, Error>> + Send + Unpin + 'static {
        let path = format!(
            "/admin/v1/users/{}/bypass_codes",
            duo_auth::sign::encode_path_segment(user_id)
        );
        self.paged(path, Vec::new(), OTHERS_MAX)
    }

    /// Every bypass code of the account.
    pub fn bypass_codes(
        &self,
    ) -> impl Stream<Item = Result<BypassCode, Error>> + Send + Unpin + 'static {
        self.paged("/admin/v1/bypass_codes".into(), Vec::new(), OTHERS_MAX)
    }

    /// Every Duo Desktop authenticator of the account (each names its user).
    pub fn desktop_authenticators(
        &self,
    ) -> impl Stream<Item = Result<DesktopAuthenticator, Error>> + Send + Unpin + 'static {
        self.paged(
            "/admin/v1/desktop_authenticators".into(),
            Vec::new(),
            OTHERS_MAX,
        )
    }

    /// Any Admin API read the crate does not wrap: `GET path` with `params`, signed, paced and
    /// retried like every call here, Duo's `response` member read as a `T`.
    ///
    /// `path` is a path on the API host (`/admin/v1/…`); anything else — a URL, another host,
    /// a query string — is refused with [`Error::InvalidPath`] before anything is sent, so the
    /// signed request never leaves the host it is signed for.
    ///
    /// ```no_run
    /// # async fn demo(admin: duo_admin::AdminClient) -> Result<(), duo_admin::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Settings { lockout_threshold: u32 }
    /// let s: Settings = admin.get("/admin/v1/settings", &[]).await?;
    /// println!("lockout after {} failures", s.lockout_threshold);
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<T, Error> {
        check_path(path)?;
        let request = Request::get(path).params(
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.call_typed(request).await
    }

    /// Any offset-paged Admin API listing the crate does not wrap, as a stream of `T`: every
    /// page followed through `metadata.next_offset` with the same paging, prefetch, page
    /// retries, pacing and [`Limits::max_pages`](duo_auth::transport::Limits::max_pages) bound
    /// as the built-in listings. Pages of 300 are asked for (the smallest of Duo's maximums)
    /// unless [`AdminClientBuilder::page_size`] or a `limit` in `params` says otherwise.
    /// `path` is checked as [`get`](Self::get) checks it; a refused path is the stream's only
    /// item.
    ///
    /// ```no_run
    /// # async fn demo(admin: duo_admin::AdminClient) -> Result<(), duo_admin::Error> {
    /// use futures::TryStreamExt;
    /// let tokens: Vec<serde_json::Value> = admin.pages("/admin/v1/tokens", &[]).try_collect().await?;
    /// println!("{} hardware tokens", tokens.len());
    /// # Ok(()) }
    /// ```
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> impl Stream<Item = Result<T, Error>> + Send + Unpin + 'static {
        if let Err(e) = check_path(path) {
            return futures::stream::once(futures::future::ready(Err(e))).boxed();
        }
        let limit = params
            .iter()
            .find(|(k, _)| *k == "limit")
            .and_then(|(_, v)| v.parse::<u32>().ok());
        let params = params
            .iter()
            .filter(|(k, _)| !matches!(*k, "limit" | "offset"))
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.paged(path.to_owned(), params, limit.unwrap_or(USERS_MAX).max(1))
            .boxed()
    }
}

/// Refuses anything but a path on the API host: the request is signed for that host, and a URL
/// or a scheme-relative `//host/…` would carry the signature elsewhere.
fn check_path(path: &str) -> Result<(), Error> {
    let refuse = |reason| {
        Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if !path.starts_with('/') {
        return refuse("it must start with '/' (a URL or a relative path is not one)");
    }
    if path.starts_with("//") {
        return refuse("'//' names another host");
    }
    if path.contains(['?', '#']) {
        return refuse("the query goes in `params`, and a fragment is never sent");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
    {
        return refuse("it holds a space, a backslash or a control character");
    }
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return refuse("dot segments would leave the path signed");
    }
    Ok(())
}

/// The crate's README, compiled and run as doctests so that its examples keep working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
