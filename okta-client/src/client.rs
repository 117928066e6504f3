//! The async HTTP client: builder, token cache, DPoP, retries and rate limits.
//!
//! [`OktaClient`] is a thin shell around the sans-IO core: the core builds assertions, proofs
//! and retry decisions; this module sends them with `reqwest`, keeps the access token and the
//! DPoP nonces, and waits with an injectable [`Runtime`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, USER_AGENT};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tracing::Instrument as _;

use crate::credentials::{Credentials, Dpop};
use crate::domain::OktaDomain;
use crate::error::{Error, Result};
use crate::rate_limit::{Decision, GiveUpReason, RateLimit, ResponseFacts, RetryPolicy};
use crate::runtime::{Runtime, TokioRuntime, unix_secs};

/// The longest `expires_in` taken from a token endpoint: a year, far past the day Okta allows.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(366 * 86_400);

/// How many times a `use_dpop_nonce` answer from the token endpoint is answered.
const MAX_NONCE_RETRIES: u32 = 2;

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("okta-client-rust/", env!("CARGO_PKG_VERSION"));

/// Configures an [`OktaClient`].
///
/// Defaults: the org authorization server, a 30 s timeout per request, [`RetryPolicy::new`],
/// tokens refreshed 5 minutes before they expire, member pages of 200, no concurrency limit.
#[must_use]
pub struct OktaClientBuilder {
    domain: OktaDomain,
    credentials: Credentials,
    authorization_server: Option<String>,
    timeout: Duration,
    http: Option<reqwest::Client>,
    user_agent: String,
    retry: RetryPolicy,
    runtime: Arc<dyn Runtime>,
    refresh_ahead: Duration,
    member_page_limit: u32,
    max_concurrent_requests: Option<usize>,
    slow_down_below: Option<f64>,
    limits: Limits,
}

/// What one answer may cost at most, whatever the server (or a proxy on the way) does: its size,
/// how long its body may stall, how long connecting may take, and how many pages one listing
/// may follow. How long a call may go on retrying is the [`RetryPolicy`]'s (below). Each bound
/// that trips is a typed [`Error`] naming it.
///
/// | Bound | Default | Why this value |
/// |---|---|---|
/// | [`max_body_bytes`](Self::max_body_bytes) | 16 MiB | Okta's largest page, 1,000 users, is about 2 MiB: 8 times that. |
/// | [`stall_timeout`](Self::stall_timeout) | 20 s | Okta sends a body in well under a second; 20 s without a byte is a stuck connection, named as such before the 30 s attempt timeout ends it anyway. |
/// | [`connect_timeout`](Self::connect_timeout) | 3.1 s | As the AWS SDKs' standard defaults: past the first SYN retransmission, a host that has not answered is down or filtered. |
/// | [`max_pages`](Self::max_pages) | 100,000 | 20 million members at the default page size of 200, more than an org holds. |
///
/// What that makes of a call, with the attempt timeout (30 s by default,
/// [`OktaClientBuilder::timeout`]; it runs from connecting to the body's last byte, so a body
/// that trickles in a byte at a time is cut there too) and the default [`RetryPolicy`]:
///
/// * **Memory:** the answer being read holds at most `max_body_bytes`, refused as it streams in
///   (or at once when `Content-Length` announces more), error answers included. Measured: a
///   server sending 1 GiB raises the peak resident set by about 17 MiB.
/// * **Requests:** at most 5 per request (4 retries), plus one answer to a DPoP nonce
///   challenge, plus one fetch of a new access token when Okta refuses the current one; a
///   token fetch is itself at most 5 POSTs plus 2 nonce answers.
/// * **Waits:** each at most the policy's `max_delay` (60 s), whatever `Retry-After`,
///   `X-Rate-Limit-Reset` or the backoff say (and so is each wait of
///   [`slow_down_below`](OktaClientBuilder::slow_down_below)); no retry starts whose wait would
///   end past the policy's deadline, 120 s from the first attempt.
/// * **Time:** a request ends within the deadline plus one attempt (150 s), or, when it must
///   also fetch an access token (at most 150 s more each, and at most twice), within about
///   390 s in the worst case. A listing follows at most `max_pages` pages, each such a request.
/// * **Redirects:** never followed by the HTTP client built here (Okta's API does not
///   redirect; a redirect followed would carry the token or the client assertion elsewhere):
///   the redirect is the answer, an error with its status. A `Link: next` is followed only to
///   the org's own origin; a link that leaves it, or repeats a page, is [`Error::Paging`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest answer body read (default 16 MiB), error answers included: a larger one is
    /// refused while it streams in ([`Error::BodyTooLarge`]), never buffered whole.
    pub max_body_bytes: usize,
    /// The longest a body may go without a byte (default 20 s): then [`Error::Stalled`], which
    /// the policy may retry like a cut connection.
    pub stall_timeout: Duration,
    /// The connect timeout of the HTTP client built here (default 3.1 s, as the AWS SDKs); a
    /// client given with `http_client` keeps its own.
    pub connect_timeout: Duration,
    /// The most pages one listing follows (default 100,000: 20 million members at the default
    /// page size, more than an org holds). A `next` link that never runs out is then
    /// [`Error::Paging`] instead of an endless listing.
    pub max_pages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            stall_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_millis(3100),
            max_pages: 100_000,
        }
    }
}

impl fmt::Debug for OktaClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OktaClientBuilder")
            .field("domain", &self.domain)
            .field("credentials", &self.credentials)
            .field("authorization_server", &self.authorization_server)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl OktaClientBuilder {
    /// Uses a custom authorization server (`/oauth2/{id}/v1/token`) instead of the org one.
    /// Custom servers cannot mint `okta.*` scopes; use this for your own APIs only.
    pub fn authorization_server(mut self, id: impl Into<String>) -> Self {
        self.authorization_server = Some(id.into());
        self
    }

    /// The timeout of each request, connect to last byte (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A caller-built `reqwest::Client` (shared connection pool, proxies, TLS roots).
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`, as the client built here
    /// is: reqwest follows redirects by default, and although it drops `Authorization` when a
    /// redirect leaves the origin, it keeps the `DPoP` proof, and a 307 or 308 sends a token
    /// request's body — the client assertion — again wherever it points. Its connect timeout
    /// and its `https_only` are its own ([`Limits::connect_timeout`] applies only to the client
    /// built here); the body cap, stall timeout and page bound apply to both.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The `User-Agent` header (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The retry policy for 429s, 5xx and transport failures ([`RetryPolicy::disabled`] turns
    /// retries off).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The clock, timer and randomness (default [`TokioRuntime`]).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// How long before expiry a cached token is replaced (default 5 min; at most half the
    /// token's lifetime is used).
    ///
    /// Inside that window the token is still valid: the first request to notice fetches the
    /// next token, and every other request meanwhile goes on with the current one instead of
    /// waiting. Only requests without a valid token (none yet, expired, refused with
    /// `invalid_token`) wait, all of them for the same single fetch. If the early fetch fails,
    /// the current token stays in use (a `warn` event says why) and the next early attempt is
    /// made 30 s later at the soonest; once the token has expired, a failing fetch is the
    /// requests' error.
    pub fn refresh_ahead(mut self, ahead: Duration) -> Self {
        self.refresh_ahead = ahead;
        self
    }

    /// The `limit` asked for on group member pages (default 200, as Okta recommends; 1..=1000).
    pub fn member_page_limit(mut self, limit: u32) -> Self {
        self.member_page_limit = limit;
        self
    }

    /// At most this many requests in flight at once from this client (Okta's concurrency limit
    /// is per org); `None` for no limit.
    pub fn max_concurrent_requests(mut self, n: Option<usize>) -> Self {
        self.max_concurrent_requests = n;
        self
    }

    /// Slow down before Okta says 429: when the last response's `X-Rate-Limit-Remaining` is
    /// below this fraction of `X-Rate-Limit-Limit`, wait `(Reset − now) / (Remaining + 1)` before
    /// each request, spreading what is left of the budget until the reset. Off by default. The
    /// headers are those of the last response, whatever its endpoint (Okta's budgets are per
    /// endpoint family), so this is a brake, not an exact accountant. Each wait is capped at the
    /// retry policy's [`max_delay`](RetryPolicy::max_delay) (60 s by default), whatever the
    /// headers say.
    pub fn slow_down_below(mut self, fraction: Option<f64>) -> Self {
        self.slow_down_below = fraction.filter(|f| f.is_finite() && *f > 0.0);
        self
    }

    /// The bounds of every answer: body size, stall, connect timeout (see [`Limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<OktaClient> {
        let token_url = match &self.authorization_server {
            Some(id) => self.domain.custom_token_url(id)?,
            None => self.domain.org_token_url(),
        };
        if !(1..=1000).contains(&self.member_page_limit) {
            return Err(Error::InvalidConfig(format!(
                "member page limit {} must be between 1 and 1000",
                self.member_page_limit
            )));
        }
        if self.max_concurrent_requests == Some(0) {
            return Err(Error::InvalidConfig(
                "max_concurrent_requests must be at least 1".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig("the timeout must not be zero".into()));
        }
        let http = match self.http {
            Some(c) => c,
            // No redirects: Okta's API does not redirect, and a redirect followed would carry
            // the token (or the client assertion) to wherever it points.
            None => reqwest::Client::builder()
                .https_only(!self.domain.is_loopback())
                .connect_timeout(self.limits.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::InvalidConfig(format!("cannot build the HTTP client: {e}")))?,
        };
        Ok(OktaClient {
            inner: Arc::new(Inner {
                http,
                domain: self.domain,
                credentials: self.credentials,
                token_url,
                timeout: self.timeout,
                user_agent: self.user_agent,
                retry: self.retry,
                runtime: self.runtime,
                refresh_ahead: self.refresh_ahead,
                member_page_limit: self.member_page_limit,
                limiter: self
                    .max_concurrent_requests
                    .map(tokio::sync::Semaphore::new),
                token: Mutex::new(TokenSlot::default()),
                refresh: tokio::sync::Mutex::new(()),
                as_nonce: Mutex::new(None),
                rs_nonce: Mutex::new(None),
                last_rate_limit: Mutex::new(None),
                token_requests: AtomicU64::new(0),
                slow_down_below: self.slow_down_below,
                limits: self.limits,
            }),
        })
    }
}

/// The async Okta client. Cheap to clone; clones share the token cache, nonces and limits.
///
/// ```no_run
/// # async fn demo() -> Result<(), okta_client::Error> {
/// use futures::TryStreamExt as _;
/// use okta_client::{ApiToken, GroupQuery, OktaClient};
/// let client = OktaClient::builder("https://dev-123456.okta.com".parse()?, ApiToken::new("00abc")?)
///     .build()?;
/// let groups: Vec<_> = client.list_groups(&GroupQuery::new().q("eng")).try_collect().await?;
/// for g in &groups {
///     let members = client.group_members(&g.id).await?;
///     println!("{}: {} members", g.profile.name, members.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OktaClient {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for OktaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OktaClient")
            .field("domain", &self.inner.domain)
            .field("token_url", &self.inner.token_url)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) domain: OktaDomain,
    credentials: Credentials,
    token_url: String,
    timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    runtime: Arc<dyn Runtime>,
    refresh_ahead: Duration,
    pub(crate) member_page_limit: u32,
    limiter: Option<tokio::sync::Semaphore>,
    /// The cached access token (held only to read or replace it, never across a fetch).
    token: Mutex<TokenSlot>,
    /// Held by the one caller fetching a token, across the fetch and its retry waits, so that
    /// one fetch serves every concurrent caller. Callers that still have a valid token never
    /// wait for it.
    refresh: tokio::sync::Mutex<()>,
    /// The token endpoint's last `DPoP-Nonce`.
    as_nonce: Mutex<Option<String>>,
    /// The resource server's last `DPoP-Nonce`.
    rs_nonce: Mutex<Option<String>>,
    last_rate_limit: Mutex<Option<RateLimit>>,
    slow_down_below: Option<f64>,
    token_requests: AtomicU64,
    pub(crate) limits: Limits,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How an access token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// `Authorization: Bearer …`.
    Bearer,
    /// `Authorization: DPoP …` plus a `DPoP` proof bound to the token.
    Dpop,
}

/// The token cache.
#[derive(Default)]
struct TokenSlot {
    current: Option<Arc<AccessToken>>,
    /// After an early refresh failed: no new early attempt before this time.
    early_retry_at: Option<SystemTime>,
}

/// After a failed refresh ahead of expiry, the still-valid token is kept and the next early
/// attempt waits this long (an expired token is replaced on demand, whatever this says).
const EARLY_REFRESH_BACKOFF: Duration = Duration::from_secs(30);

/// A cached access token. Debug hides the token.
pub(crate) struct AccessToken {
    value: SecretString,
    token_type: TokenType,
    issued_at: SystemTime,
    expires_at: SystemTime,
    scope: Option<String>,
}

/// What is known about the current access token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// `token_type` as issued.
    pub token_type: TokenType,
    /// When it expires (issue time plus `expires_in`, on the client's clock).
    pub expires_at: SystemTime,
    /// The granted scopes, as the token endpoint listed them.
    pub scope: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
    scope: Option<String>,
}

/// A response read to the end.
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
    }

    fn rate_limit(&self) -> RateLimit {
        RateLimit::from_headers(
            self.headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        )
    }

    fn error(&self) -> Error {
        Error::from_http(
            self.status,
            self.headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
            &self.body,
        )
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        self.header("x-okta-request-id").map(str::to_string)
    }

    fn dpop_nonce(&self) -> Option<String> {
        self.header("dpop-nonce")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    }
}

/// The headers a retried request carries: `X-Okta-Retry-For` (the `X-Okta-Request-Id` of the
/// answer that caused the retry, when there was one) and `X-Okta-Retry-Count`. Nothing on a
/// first attempt.
///
/// ```
/// use okta_client::client::retry_headers;
/// assert!(retry_headers(None, 0).is_empty());
/// assert_eq!(
///     retry_headers(Some("reqAbc"), 2),
///     [("X-Okta-Retry-For", "reqAbc".to_string()), ("X-Okta-Retry-Count", "2".to_string())]
/// );
/// ```
pub fn retry_headers(retry_for: Option<&str>, retry_count: u32) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if retry_count == 0 {
        return out;
    }
    if let Some(id) =
        retry_for.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()))
    {
        out.push(("X-Okta-Retry-For", id.to_string()));
    }
    out.push(("X-Okta-Retry-Count", retry_count.to_string()));
    out
}

/// What to put in `Authorization` for one request.
enum Auth {
    Ssws(SecretString),
    Token(Arc<AccessToken>),
}

/// The state of one logical request across its attempts.
struct Attempts {
    start: SystemTime,
    /// Retries granted by the policy so far.
    retries: u32,
    /// Requests sent.
    sent: u32,
    retry_for: Option<String>,
}

impl OktaClient {
    /// Starts configuring a client for the org at `domain` with these credentials
    /// ([`ApiToken`](crate::ApiToken), [`PrivateKeyJwt`](crate::PrivateKeyJwt) or [`Dpop`]).
    pub fn builder(domain: OktaDomain, credentials: impl Into<Credentials>) -> OktaClientBuilder {
        OktaClientBuilder {
            domain,
            credentials: credentials.into(),
            authorization_server: None,
            timeout: Duration::from_secs(30),
            http: None,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            retry: RetryPolicy::new(),
            runtime: Arc::new(TokioRuntime),
            refresh_ahead: Duration::from_secs(300),
            member_page_limit: 200,
            max_concurrent_requests: None,
            slow_down_below: None,
            limits: Limits::default(),
        }
    }

    /// The org.
    pub fn domain(&self) -> &OktaDomain {
        &self.inner.domain
    }

    /// The token endpoint used for scoped tokens.
    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    /// The rate-limit headers of the last response seen (any endpoint).
    pub fn last_rate_limit(&self) -> Option<RateLimit> {
        *lock(&self.inner.last_rate_limit)
    }

    /// How many token requests (POSTs to the token endpoint) this client has sent.
    pub fn token_requests_sent(&self) -> u64 {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// Makes sure a valid access token is cached (fetching one if needed) and describes it;
    /// `None` for API-token clients, which have nothing to fetch.
    pub async fn token_info(&self) -> Result<Option<TokenInfo>> {
        match self.authorization().await? {
            Auth::Ssws(_) => Ok(None),
            Auth::Token(t) => Ok(Some(TokenInfo {
                token_type: t.token_type,
                expires_at: t.expires_at,
                scope: t.scope.clone(),
            })),
        }
    }

    /// Drops the cached access token; the next request fetches a new one.
    pub async fn clear_token(&self) {
        *lock(&self.inner.token) = TokenSlot::default();
    }

    fn dpop(&self) -> Option<&Dpop> {
        match &self.inner.credentials {
            Credentials::Dpop(d) => Some(d),
            _ => None,
        }
    }

    fn now_secs(&self) -> u64 {
        unix_secs(self.inner.runtime.now())
    }

    /// The `Authorization` to use: the API token, or the cached access token.
    ///
    /// * A fresh token is used as is.
    /// * A token inside its refresh-ahead window but still valid: the first caller to notice
    ///   fetches the next one (and uses it); every other caller meanwhile keeps using the current
    ///   token without waiting. If that early fetch fails, the current token stays in use and the
    ///   next early attempt waits [`EARLY_REFRESH_BACKOFF`].
    /// * No valid token (none yet, expired, or dropped after `invalid_token`): the caller waits
    ///   for the fetch in flight, or starts it; one fetch serves all of them.
    async fn authorization(&self) -> Result<Auth> {
        if let Credentials::ApiToken(t) = &self.inner.credentials {
            return Ok(Auth::Ssws(t.authorization_header()));
        }
        let now = self.inner.runtime.now();
        let (current, early_allowed) = {
            let slot = lock(&self.inner.token);
            (
                slot.current.clone(),
                slot.early_retry_at.is_none_or(|at| now >= at),
            )
        };
        if let Some(t) = current {
            if self.is_fresh(&t, now) {
                return Ok(Auth::Token(t));
            }
            if now < t.expires_at {
                // Still valid, due for replacement: one caller replaces it, nobody waits.
                if !early_allowed {
                    return Ok(Auth::Token(t));
                }
                let Ok(_refreshing) = self.inner.refresh.try_lock() else {
                    return Ok(Auth::Token(t));
                };
                return self.refresh_early(t).await;
            }
        }
        let _refreshing = self.inner.refresh.lock().await;
        // Whoever held the lock may have stored a token meanwhile.
        let now = self.inner.runtime.now();
        if let Some(t) = lock(&self.inner.token).current.clone()
            && now < t.expires_at
        {
            return Ok(Auth::Token(t));
        }
        let token = Arc::new(self.fetch_token().await?);
        let mut slot = lock(&self.inner.token);
        slot.current = Some(token.clone());
        slot.early_retry_at = None;
        Ok(Auth::Token(token))
    }

    /// Replaces `old` (valid, inside its refresh-ahead window) while holding the refresh lock;
    /// keeps it if the fetch fails and it is still valid and cached.
    async fn refresh_early(&self, old: Arc<AccessToken>) -> Result<Auth> {
        let now = self.inner.runtime.now();
        if let Some(t) = lock(&self.inner.token).current.clone()
            && !Arc::ptr_eq(&t, &old)
            && self.is_fresh(&t, now)
        {
            // Replaced between our look and the lock.
            return Ok(Auth::Token(t));
        }
        tracing::debug!("refreshing the access token ahead of its expiry");
        match self.fetch_token().await {
            Ok(token) => {
                let token = Arc::new(token);
                let mut slot = lock(&self.inner.token);
                slot.current = Some(token.clone());
                slot.early_retry_at = None;
                Ok(Auth::Token(token))
            }
            Err(e) => {
                let now = self.inner.runtime.now();
                let mut slot = lock(&self.inner.token);
                let still_cached = slot.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &old));
                if still_cached && now < old.expires_at {
                    tracing::warn!(
                        error = %e,
                        "early access-token refresh failed; the current token stays in use"
                    );
                    slot.early_retry_at = Some(now + EARLY_REFRESH_BACKOFF);
                    Ok(Auth::Token(old))
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Outside the refresh-ahead window (`refresh_ahead`, at most half the token's lifetime).
    fn is_fresh(&self, t: &AccessToken, now: SystemTime) -> bool {
        let lifetime = t.expires_at.duration_since(t.issued_at).unwrap_or_default();
        let ahead = self.inner.refresh_ahead.min(lifetime / 2);
        now + ahead < t.expires_at
    }

    /// Drops `token` from the cache unless another caller already replaced it.
    fn invalidate(&self, token: &Arc<AccessToken>) {
        let mut slot = lock(&self.inner.token);
        if slot.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, token)) {
            slot.current = None;
        }
    }

    /// Waits as [`OktaClientBuilder::slow_down_below`] asks, given the last response's limits.
    async fn slow_down(&self) {
        let Some(fraction) = self.inner.slow_down_below else {
            return;
        };
        let last = *lock(&self.inner.last_rate_limit);
        // The headers are the server's word: a reset years away must not stall every request
        // for years. The policy's cap on a retry's wait caps this one too.
        if let Some(wait) = last
            .and_then(|rl| rl.slow_down(fraction, self.now_secs()))
            .map(|wait| wait.min(self.inner.retry.max_delay()))
        {
            tracing::debug!(?wait, "rate limit running low: slowing down");
            self.inner.runtime.sleep(wait).await;
        }
    }

    fn note(&self, raw: &Raw) {
        let rl = raw.rate_limit();
        if rl.has_limits() {
            *lock(&self.inner.last_rate_limit) = Some(rl);
        }
    }

    fn classify(&self, e: &reqwest::Error) -> Error {
        if e.is_timeout() {
            return Error::Timeout(self.inner.timeout);
        }
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport(msg)
    }

    async fn send_raw(&self, rb: reqwest::RequestBuilder) -> Result<Raw> {
        let _permit = match &self.inner.limiter {
            Some(s) => Some(
                s.acquire()
                    .await
                    .map_err(|_| Error::InvalidConfig("the request limiter is closed".into()))?,
            ),
            None => None,
        };
        let response = rb
            .timeout(self.inner.timeout)
            .send()
            .await
            .map_err(|e| self.classify(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        Ok(Raw {
            status,
            headers,
            body,
        })
    }

    /// The body, chunk by chunk, refused as soon as it passes the cap (or at once when its
    /// `Content-Length` says it will) and when no byte arrives for the stall timeout: a hostile
    /// server cannot make the client buffer more than the cap or wait forever on a trickle.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>> {
        let limits = &self.inner.limits;
        let too_large = || Error::BodyTooLarge {
            limit: limits.max_body_bytes,
        };
        let announced = response.content_length().unwrap_or(0);
        if usize::try_from(announced).map_or(true, |n| n > limits.max_body_bytes) {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = tokio::time::timeout(limits.stall_timeout, response.chunk())
            .await
            .map_err(|_| Error::Stalled {
                after: limits.stall_timeout,
            })?
            .map_err(|e| self.classify(&e))?
        {
            if body.len() + chunk.len() > limits.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn base_request(&self, rb: reqwest::RequestBuilder, a: &Attempts) -> reqwest::RequestBuilder {
        let mut rb = rb
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, &self.inner.user_agent);
        for (name, value) in retry_headers(a.retry_for.as_deref(), a.retries) {
            rb = rb.header(name, value);
        }
        rb
    }

    /// After a failed attempt: waits and returns `Ok(())` to retry, or the error to return.
    async fn after_failure(
        &self,
        a: &mut Attempts,
        err: Error,
        raw: Option<&Raw>,
        what: &str,
    ) -> Result<()> {
        let status = match (&err, raw) {
            // A cut or garbled success body is a transport problem: retry like one.
            (Error::Decode { .. }, _) | (_, None) => None,
            (_, Some(r)) => Some(r.status),
        };
        let rate_limit = raw.map(Raw::rate_limit).unwrap_or_default();
        let retry_after = raw
            .and_then(|r| r.header("retry-after"))
            .and_then(|v| crate::rate_limit::parse_retry_after(v, rate_limit.date));
        let facts = ResponseFacts {
            status,
            rate_limit,
            retry_after,
            elapsed: self
                .inner
                .runtime
                .now()
                .duration_since(a.start)
                .unwrap_or_default(),
            random: self.inner.runtime.random(),
        };
        match self.inner.retry.decide(a.retries, &facts) {
            Decision::Retry(wait) => {
                tracing::debug!(
                    what,
                    status,
                    retry = a.retries + 1,
                    wait_ms = wait.as_millis() as u64,
                    error = %err,
                    "retrying Okta request"
                );
                // `X-Okta-Retry-For` names the *original* failed request, as Okta's SDKs send
                // it: the first answer with a request id, kept for every later retry.
                if a.retry_for.is_none() {
                    a.retry_for = raw.and_then(Raw::request_id);
                }
                self.inner.runtime.sleep(wait).await;
                a.retries += 1;
                Ok(())
            }
            Decision::GiveUp(GiveUpReason::NotRetryable) => Err(err),
            Decision::GiveUp(_) if a.sent <= 1 && self.inner.retry.max_retries() == 0 => Err(err),
            Decision::GiveUp(reason) => Err(Error::RetriesExhausted {
                attempts: a.sent,
                reason,
                last: Box::new(err),
            }),
        }
    }

    /// Fetches a token inside an `okta.token` span that ends with the number of POSTs sent
    /// (`requests`), the `use_dpop_nonce` answers followed (`nonce_retries`) and the
    /// `token_type` issued.
    async fn fetch_token(&self) -> Result<AccessToken> {
        let span = tracing::debug_span!(
            "okta.token",
            token_url = %self.inner.token_url,
            dpop = self.dpop().is_some(),
            requests = tracing::field::Empty,
            nonce_retries = tracing::field::Empty,
            token_type = tracing::field::Empty,
        );
        let mut a = Attempts {
            start: self.inner.runtime.now(),
            retries: 0,
            sent: 0,
            retry_for: None,
        };
        let mut nonce_retries = 0;
        let result = self
            .fetch_token_attempts(&mut a, &mut nonce_retries)
            .instrument(span.clone())
            .await;
        span.record("requests", a.sent);
        span.record("nonce_retries", nonce_retries);
        if let Ok(t) = &result {
            span.record("token_type", tracing::field::debug(t.token_type));
        }
        result
    }

    async fn fetch_token_attempts(
        &self,
        a: &mut Attempts,
        nonce_retries: &mut u32,
    ) -> Result<AccessToken> {
        let dpop = self.dpop();
        let url = self.inner.token_url.as_str();
        loop {
            let now = self.inner.runtime.now();
            let iat = unix_secs(now);
            let req = match &self.inner.credentials {
                Credentials::PrivateKeyJwt(c) => c.token_request(url, iat)?,
                Credentials::Dpop(d) => {
                    let nonce = lock(&self.inner.as_nonce).clone();
                    d.token_request(url, iat, nonce.as_deref())?
                }
                _ => {
                    return Err(Error::InvalidConfig(
                        "these credentials do not use OAuth tokens".into(),
                    ));
                }
            };
            let mut rb = self
                .base_request(self.inner.http.post(req.url()), a)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(req.form_body());
            if let Some(proof) = req.dpop_header() {
                rb = rb.header("DPoP", proof);
            }
            a.sent += 1;
            self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
            let raw = match self.send_raw(rb).await {
                Ok(raw) => raw,
                // A stalled body is a cut connection that has not closed yet.
                Err(e @ (Error::Transport(_) | Error::Timeout(_) | Error::Stalled { .. })) => {
                    self.after_failure(a, e, None, "token").await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.note(&raw);
            tracing::trace!(
                status = raw.status,
                request_id = raw.request_id().as_deref(),
                attempt = a.sent,
                "token endpoint answered"
            );
            let nonce = raw.dpop_nonce();
            if dpop.is_some()
                && let Some(n) = &nonce
            {
                *lock(&self.inner.as_nonce) = Some(n.clone());
            }
            if (200..300).contains(&raw.status) {
                match parse_token(&raw, now) {
                    Ok(t) => {
                        tracing::debug!(
                            token_type = ?t.token_type,
                            requests = a.sent,
                            "fetched an Okta access token"
                        );
                        return Ok(t);
                    }
                    Err(e) => {
                        self.after_failure(a, e, Some(&raw), "token").await?;
                        continue;
                    }
                }
            }
            // A token endpoint's answer may hold a token whatever its status: its body is never
            // copied into the error (Okta's OAuth error members are still read from it).
            let err = match raw.error() {
                Error::Http {
                    status, request_id, ..
                } => Error::Http {
                    status,
                    body: None,
                    request_id,
                },
                err => err,
            };
            if err.is_use_dpop_nonce()
                && dpop.is_some()
                && nonce.is_some()
                && *nonce_retries < MAX_NONCE_RETRIES
            {
                *nonce_retries += 1;
                continue;
            }
            self.after_failure(a, err, Some(&raw), "token").await?;
        }
    }

    /// GETs `url` (absolute, on the org), authenticating and retrying as configured, and hands
    /// a 2xx answer to `parse` (a parse failure is retried like a cut connection).
    pub(crate) async fn get_with<T>(
        &self,
        url: &str,
        parse: impl Fn(&Raw) -> Result<T>,
    ) -> Result<T> {
        let mut a = Attempts {
            start: self.inner.runtime.now(),
            retries: 0,
            sent: 0,
            retry_for: None,
        };
        let mut refetched = false;
        let mut nonce_answered = false;
        loop {
            self.slow_down().await;
            let auth = self.authorization().await?;
            let mut rb = self.base_request(self.inner.http.get(url), &a);
            match &auth {
                Auth::Ssws(h) => rb = rb.header(AUTHORIZATION, h.expose_secret()),
                Auth::Token(t) => match (t.token_type, self.dpop()) {
                    (TokenType::Bearer, _) => {
                        rb =
                            rb.header(AUTHORIZATION, format!("Bearer {}", t.value.expose_secret()));
                    }
                    (TokenType::Dpop, Some(d)) => {
                        let nonce = lock(&self.inner.rs_nonce).clone();
                        let proof = d.resource_proof(
                            "GET",
                            url,
                            t.value.expose_secret(),
                            nonce.as_deref(),
                            self.now_secs(),
                        )?;
                        rb = rb
                            .header(AUTHORIZATION, format!("DPoP {}", t.value.expose_secret()))
                            .header("DPoP", proof);
                    }
                    (TokenType::Dpop, None) => {
                        return Err(Error::InvalidConfig(
                            "the token endpoint issued a DPoP-bound token but the client has \
                             no DPoP key; configure Dpop credentials"
                                .into(),
                        ));
                    }
                },
            }
            a.sent += 1;
            let raw = match self.send_raw(rb).await {
                Ok(raw) => raw,
                // A stalled body is a cut connection that has not closed yet.
                Err(e @ (Error::Transport(_) | Error::Timeout(_) | Error::Stalled { .. })) => {
                    self.after_failure(&mut a, e, None, url).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.note(&raw);
            tracing::trace!(
                url,
                status = raw.status,
                request_id = raw.request_id().as_deref(),
                attempt = a.sent,
                "Okta answered"
            );
            let nonce = raw.dpop_nonce();
            if self.dpop().is_some()
                && let Some(n) = &nonce
            {
                *lock(&self.inner.rs_nonce) = Some(n.clone());
            }
            if (200..300).contains(&raw.status) {
                match parse(&raw) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        self.after_failure(&mut a, e, Some(&raw), url).await?;
                        continue;
                    }
                }
            }
            let err = raw.error();
            if let Auth::Token(t) = &auth {
                if err.is_use_dpop_nonce()
                    && t.token_type == TokenType::Dpop
                    && nonce.is_some()
                    && !nonce_answered
                {
                    nonce_answered = true;
                    continue;
                }
                if err.is_invalid_token() && !refetched {
                    tracing::debug!("access token refused; fetching a new one");
                    refetched = true;
                    self.invalidate(t);
                    continue;
                }
            }
            self.after_failure(&mut a, err, Some(&raw), url).await?;
        }
    }
}

fn parse_token(raw: &Raw, issued_at: SystemTime) -> Result<AccessToken> {
    let decode = |reason: String| Error::Decode {
        status: raw.status,
        reason,
        request_id: raw.request_id(),
    };
    let t: TokenResponse = serde_json::from_slice(&raw.body)
        .map_err(|e| decode(format!("not a token response: {e}")))?;
    let token_type = if t.token_type.eq_ignore_ascii_case("dpop") {
        TokenType::Dpop
    } else if t.token_type.eq_ignore_ascii_case("bearer") {
        TokenType::Bearer
    } else {
        return Err(decode(format!("unknown token_type {:?}", t.token_type)));
    };
    if t.access_token.is_empty() || t.access_token.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(decode(
            "the access token is empty or not printable ASCII".into(),
        ));
    }
    // Okta's access tokens live 5 minutes to a day; a lifetime of nothing, or beyond any clock
    // (`SystemTime + Duration` would panic), is a broken answer, not a token to cache.
    let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600));
    let expires_at = (!lifetime.is_zero() && lifetime <= MAX_TOKEN_LIFETIME)
        .then(|| issued_at.checked_add(lifetime))
        .flatten()
        .ok_or_else(|| {
            decode(format!(
                "expires_in {} is not a token lifetime (1 s to {} days)",
                lifetime.as_secs(),
                MAX_TOKEN_LIFETIME.as_secs() / 86_400
            ))
        })?;
    Ok(AccessToken {
        value: SecretString::from(t.access_token),
        token_type,
        issued_at,
        expires_at,
        scope: t.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_headers_only_on_retries_and_only_clean_ids() {
        assert!(retry_headers(Some("abc"), 0).is_empty());
        assert_eq!(
            retry_headers(None, 1),
            [("X-Okta-Retry-Count", "1".to_string())]
        );
        assert_eq!(
            retry_headers(Some("bad id\n"), 3),
            [("X-Okta-Retry-Count", "3".to_string())]
        );
        assert_eq!(
            retry_headers(Some("XyZ-123"), 1)[0],
            ("X-Okta-Retry-For", "XyZ-123".to_string())
        );
    }

    #[test]
    fn token_responses() {
        let raw = |body: &str| Raw {
            status: 200,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let t = parse_token(
            &raw(r#"{"token_type":"DPoP","expires_in":60,"access_token":"abc","scope":"s"}"#),
            now,
        )
        .unwrap();
        assert_eq!(t.token_type, TokenType::Dpop);
        assert_eq!(t.expires_at, now + Duration::from_secs(60));
        for bad in [
            "",
            "{",
            r#"{"token_type":"MAC","access_token":"abc"}"#,
            r#"{"token_type":"Bearer","access_token":"a b"}"#,
            r#"{"token_type":"Bearer"}"#,
            // Lifetimes of nothing or beyond any clock: typed errors, never a panic.
            r#"{"token_type":"Bearer","access_token":"abc","expires_in":0}"#,
            r#"{"token_type":"Bearer","access_token":"abc","expires_in":18446744073709551615}"#,
            r#"{"token_type":"Bearer","access_token":"abc","expires_in":31708800}"#,
            r#"{"token_type":"Bearer","access_token":"abc","expires_in":-1}"#,
            r#"{"token_type":"Bearer","access_token":"abc","expires_in":"soon"}"#,
            r#"{"token_type":"Bearer","access_token":"abc","expires_in":1e400}"#,
        ] {
            assert!(matches!(
                parse_token(&raw(bad), now),
                Err(Error::Decode { .. })
            ));
        }
    }
}
