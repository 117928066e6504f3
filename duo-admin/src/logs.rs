//! Duo's logs as streams over a time window: the authentication log (`/admin/v2/logs/
//! authentication`) and the administrator log (`/admin/v1/logs/administrator`).
//!
//! A log walk hands over every event of its window exactly once, in Duo's order, whatever
//! happens on the way:
//!
//! * **Faults.** A page that fails in a way that may pass (a cut connection, a truncated body, a
//!   5xx) is fetched again from the same cursor, [`page_retries`] times; 429s are retried on
//!   Duo's schedule first. Nothing of a failed page is handed over, so a retry cannot repeat an
//!   event.
//! * **Restarts.** [`LogWalk::checkpoint`] is the walk's position after the last event handed
//!   over: a plain serde value to store anywhere. A walk started from it
//!   ([`AdminClient::authentication_log_from`], [`AdminClient::administrator_log_from`]) goes
//!   on with the next event, never one already handed over.
//! * **Pacing.** Duo asks that logs be requested no more than once a minute (its Admin API
//!   documentation, in the authentication and administrator log sections); a walk waits
//!   [`LogPacing::min_interval`] between two requests to one log endpoint, whichever walk of
//!   the client makes them (60 s by default; [`AdminClientBuilder::log_pacing`] changes it). At
//!   that pace a walk reads 1,000 events a minute: a window of a million events is 17 hours of
//!   walking, and `LogPacing::every(Duration::ZERO)` is for accounts whose owner accepts 429s.
//!
//! **The authentication log (v2)** pages with a cursor: Duo's `metadata.next_offset` is a pair,
//! the timestamp in milliseconds and the `txid` of the event it follows, sent back as
//! `next_offset=ts,txid`; `mintime` and `maxtime` (milliseconds, both inclusive) are required,
//! and a page holds up to 1,000 events. The walk asks for `sort=ts:asc`, so that its checkpoint
//! (the cursor of the current page and how many of its events were handed over) also means
//! "everything before is done". A cursor that does not advance is
//! [`Error::CursorDidNotAdvance`]. Duo makes events available two minutes after they happen:
//! a window ending less than two minutes ago may gain events after it was walked.
//!
//! **The administrator log (v1)** has no cursor: it answers the 1,000 earliest events from
//! `mintime` (seconds) on. The walk asks again from the last timestamp it handed over — minus
//! one second, so that it loses nothing whether Duo reads `mintime` as inclusive (as its Python
//! client says) or exclusive (as its API reference reads) — and skips what it already handed
//! over: every event before that second, and, of the events of that second, those it already
//! handed over (compared by content, as many times as it handed each over: two identical
//! events in one second are two events). A page of 1,000 events that brings nothing new —
//! more than 1,000 events within two seconds — is [`Error::LogStuck`]. The walk ends at the
//! first page of fewer than 1,000 events (it has caught up with the log) or at the window's
//! end; its checkpoint then resumes where it stopped, which makes it a tail.
//!
//! [`page_retries`]: crate::AdminClientBuilder::page_retries
//! [`AdminClientBuilder::log_pacing`]: crate::AdminClientBuilder::log_pacing
//! [`AdminClient::authentication_log_from`]: crate::AdminClient::authentication_log_from
//! [`AdminClient::administrator_log_from`]: crate::AdminClient::administrator_log_from

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use duo_auth::sign::Request;
use futures::Stream;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{AdminClient, Error};

/// The authentication log endpoint.
pub const AUTHENTICATION_LOG: &str = "/admin/v2/logs/authentication";
/// The administrator log endpoint.
pub const ADMINISTRATOR_LOG: &str = "/admin/v1/logs/administrator";
/// The most events Duo returns in one page of either log.
pub const MAX_LOG_PAGE: u32 = 1000;

/// How often a log endpoint may be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogPacing {
    /// The least time between two requests to one log endpoint (default 60 s, Duo's "no more
    /// than once per minute").
    pub min_interval: Duration,
}

impl Default for LogPacing {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(60),
        }
    }
}

impl LogPacing {
    /// At most one request per `interval` to each log endpoint (`Duration::ZERO`: no pacing).
    ///
    /// ```
    /// let fast = duo_admin::logs::LogPacing::every(std::time::Duration::ZERO);
    /// assert_eq!(fast.min_interval, std::time::Duration::ZERO);
    /// assert_eq!(duo_admin::logs::LogPacing::default().min_interval.as_secs(), 60);
    /// ```
    pub fn every(interval: Duration) -> Self {
        Self {
            min_interval: interval,
        }
    }
}

/// When each log endpoint may be asked next (shared by the client's walks).
#[derive(Debug, Default)]
pub(crate) struct LogPacer {
    pacing: LogPacing,
    next: Mutex<HashMap<&'static str, SystemTime>>,
}

impl LogPacer {
    pub(crate) fn new(pacing: LogPacing) -> Self {
        Self {
            pacing,
            next: Mutex::default(),
        }
    }

    /// Reserves the next slot of `endpoint` and says how long to wait for it.
    pub(crate) fn reserve(&self, endpoint: &'static str, now: SystemTime) -> Duration {
        if self.pacing.min_interval.is_zero() {
            return Duration::ZERO;
        }
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = next
            .get(endpoint)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now);
        next.insert(endpoint, slot + self.pacing.min_interval);
        slot.duration_since(now).unwrap_or_default()
    }
}

/// The user of an authentication event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthLogUser {
    /// Username.
    #[serde(default)]
    pub name: Option<String>,
    /// User id (`DU…`).
    #[serde(default)]
    pub key: Option<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The application of an authentication event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthLogApplication {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Integration key.
    #[serde(default)]
    pub key: Option<String>,
}

/// An authentication log event (v2), with the fields Duo documents; fields it adds later are
/// ignored (keeping them would cost a buffering pass per event, which halves a walk's rate —
/// read a page with [`AdminClient::get`] as a [`serde_json::Value`] to see them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthLogEvent {
    /// The transaction id: unique per event, part of the log's cursor.
    #[serde(default)]
    pub txid: String,
    /// When (seconds since the epoch).
    #[serde(default)]
    pub timestamp: u64,
    /// When, ISO 8601 with microseconds.
    #[serde(default)]
    pub isotimestamp: Option<String>,
    /// `authentication` or `enrollment`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// `duo_push`, `passcode`, `phone_call`, …
    #[serde(default)]
    pub factor: Option<String>,
    /// `success`, `denied`, `fraud`.
    #[serde(default)]
    pub result: Option<String>,
    /// Why (`user_approved`, `invalid_passcode`, `no_response`, …).
    #[serde(default)]
    pub reason: Option<String>,
    /// The user.
    #[serde(default)]
    pub user: Option<AuthLogUser>,
    /// The application.
    #[serde(default)]
    pub application: Option<AuthLogApplication>,
    /// The user's email.
    #[serde(default)]
    pub email: Option<String>,
    /// The access device (browser, IP, location, …), as Duo sends it.
    #[serde(default)]
    pub access_device: Option<Value>,
    /// The authentication device, as Duo sends it.
    #[serde(default)]
    pub auth_device: Option<Value>,
    /// The alias used to sign in, if any.
    #[serde(default)]
    pub alias: Option<String>,
    /// Whether the endpoint was trusted (`trusted`, `not trusted`, …).
    #[serde(default)]
    pub trusted_endpoint_status: Option<String>,
    /// Out-of-date software found on the access device, as Duo sends it.
    #[serde(default)]
    pub ood_software: Option<Value>,
    /// Duo's risk assessments, as Duo sends them.
    #[serde(default)]
    pub adaptive_trust_assessments: Option<Value>,
}

/// An administrator log event (v1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminLogEvent {
    /// What was done (`user_update`, `admin_login`, …).
    #[serde(default)]
    pub action: String,
    /// Details, a JSON object in a string as Duo sends it.
    #[serde(default)]
    pub description: Option<String>,
    /// The object acted on.
    #[serde(default)]
    pub object: Option<String>,
    /// When (seconds since the epoch).
    #[serde(default)]
    pub timestamp: u64,
    /// When, ISO 8601.
    #[serde(default)]
    pub isotimestamp: Option<String>,
    /// The administrator (or `API`).
    #[serde(default)]
    pub username: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A window of the authentication log, in milliseconds since the epoch, both ends included
/// (Duo's `mintime` and `maxtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogWindow {
    /// `mintime`, ms.
    pub mintime_ms: u64,
    /// `maxtime`, ms.
    pub maxtime_ms: u64,
}

impl LogWindow {
    /// The window from `mintime_ms` to `maxtime_ms`.
    pub fn new(mintime_ms: u64, maxtime_ms: u64) -> Self {
        Self {
            mintime_ms,
            maxtime_ms,
        }
    }

    /// The window between two instants (Duo wants `mintime` < `maxtime`).
    pub fn between(from: SystemTime, to: SystemTime) -> Self {
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        Self::new(ms(from), ms(to))
    }
}

/// Duo's authentication-log cursor: the timestamp (ms, kept as Duo wrote it) and the txid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogCursor {
    /// Milliseconds since the epoch, as Duo wrote them.
    pub ts: String,
    /// The txid.
    pub txid: String,
}

impl LogCursor {
    fn param(&self) -> String {
        format!("{},{}", self.ts, self.txid)
    }

    fn ts_ms(&self) -> u64 {
        self.ts.parse().unwrap_or(0)
    }
}

/// Where an authentication-log walk is: resume a walk from it with
/// [`AdminClient::authentication_log_from`].
///
/// ```
/// use duo_admin::logs::{AuthLogCheckpoint, LogWindow};
/// let start = AuthLogCheckpoint::new(LogWindow::new(1_700_000_000_000, 1_700_003_600_000));
/// let stored = serde_json::to_string(&start).unwrap();
/// let back: AuthLogCheckpoint = serde_json::from_str(&stored).unwrap();
/// assert_eq!(back, start);
/// assert!(!back.done);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthLogCheckpoint {
    /// The window walked.
    pub window: LogWindow,
    /// Filters sent with every request (`users`, `results`, `factors`, … as Duo names them).
    #[serde(default)]
    pub filters: Vec<(String, String)>,
    /// The cursor of the page being read (`None`: the first page).
    pub page: Option<LogCursor>,
    /// How many events of that page were handed over.
    pub taken: u32,
    /// The txid of the last of them (checked when resuming: the page must not have changed).
    pub last_txid: Option<String>,
    /// Every event of the window has been handed over.
    pub done: bool,
}

impl AuthLogCheckpoint {
    /// The start of a walk over `window`.
    pub fn new(window: LogWindow) -> Self {
        Self {
            window,
            filters: Vec::new(),
            page: None,
            taken: 0,
            last_txid: None,
            done: false,
        }
    }

    /// Adds a filter parameter (`users`, `applications`, `results`, `factors`, `event_types`, …;
    /// repeat it for several values, as Duo takes lists).
    #[must_use]
    pub fn filter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.filters.push((name.into(), value.into()));
        self
    }
}

/// Where an administrator-log walk is: resume a walk from it with
/// [`AdminClient::administrator_log_from`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminLogCheckpoint {
    /// The window's start (seconds, included).
    pub mintime: u64,
    /// The window's end (seconds, included); `None` for "until the log's end".
    pub maxtime: Option<u64>,
    /// The timestamp of the last event handed over.
    pub last_timestamp: Option<u64>,
    /// The events of that second already handed over, as canonical JSON (one entry per event:
    /// two identical events are two entries).
    pub seen_at_last: Vec<String>,
    /// The window's end was passed.
    pub done: bool,
}

impl AdminLogCheckpoint {
    /// The start of a walk from `mintime` (seconds) to `maxtime`, or to the log's end.
    ///
    /// ```
    /// let cp = duo_admin::logs::AdminLogCheckpoint::new(1_700_000_000, None);
    /// assert_eq!(cp.last_timestamp, None);
    /// ```
    pub fn new(mintime: u64, maxtime: Option<u64>) -> Self {
        Self {
            mintime,
            maxtime,
            last_timestamp: None,
            seen_at_last: Vec::new(),
            done: false,
        }
    }
}

/// A log walk: a stream of events that knows its [`checkpoint`](Self::checkpoint). Dropping it
/// cancels what is in flight.
pub struct LogWalk<T, C> {
    inner: BoxStream<'static, Result<T, Error>>,
    checkpoint: Arc<Mutex<C>>,
}

impl<T, C: std::fmt::Debug> std::fmt::Debug for LogWalk<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWalk")
            .field("checkpoint", &*lock(&self.checkpoint))
            .finish_non_exhaustive()
    }
}

/// A walk of the authentication log.
pub type AuthLogWalk = LogWalk<AuthLogEvent, AuthLogCheckpoint>;
/// A walk of the administrator log.
pub type AdminLogWalk = LogWalk<AdminLogEvent, AdminLogCheckpoint>;

fn lock<C>(m: &Mutex<C>) -> std::sync::MutexGuard<'_, C> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T, C: Clone> LogWalk<T, C> {
    /// The position after the last event handed over (store it; resume from it).
    pub fn checkpoint(&self) -> C {
        lock(&self.checkpoint).clone()
    }
}

impl<T, C> Stream for LogWalk<T, C> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// One authentication-log page, as Duo nests it in `response`.
#[derive(Deserialize)]
struct AuthPage {
    #[serde(default)]
    authlogs: Vec<AuthLogEvent>,
    #[serde(default)]
    metadata: Value,
}

/// `metadata.next_offset`: absent or null on the last page, else `[ts, txid]` (strings or a
/// number for the time); anything else is an error.
fn parse_cursor(metadata: &Value) -> Result<Option<LogCursor>, Error> {
    let bad = |v: &Value| {
        Error::Duo(duo_auth::Error::UnexpectedResponse {
            status: 200,
            reason: "metadata.next_offset is not a [timestamp, txid] pair".to_owned(),
            body: v.to_string(),
        })
    };
    match metadata.get("next_offset") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Array(pair)) => match pair.as_slice() {
            [ts, Value::String(txid)] if !txid.is_empty() => {
                let ts = match ts {
                    Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                        s.clone()
                    }
                    Value::Number(n) if n.as_u64().is_some() => n.to_string(),
                    _ => return Err(bad(v)),
                };
                Ok(Some(LogCursor {
                    ts,
                    txid: txid.clone(),
                }))
            }
            _ => Err(bad(v)),
        },
        Some(v) => Err(bad(v)),
    }
}

struct AuthWalkState {
    client: AdminClient,
    checkpoint: Arc<Mutex<AuthLogCheckpoint>>,
    buffer: VecDeque<AuthLogEvent>,
    /// The cursor of the page after the buffered one (`None`: the buffered page was the last).
    next: Option<LogCursor>,
    /// A page must be fetched before anything is handed over (at the start or after a page).
    fetch: Option<Option<LogCursor>>,
    /// Events of the first fetched page to skip (a resumed walk).
    skip: Option<(u32, Option<String>)>,
    pages: u64,
}

impl AdminClient {
    /// Every event of the authentication log in `window`, oldest first (see [`crate::logs`]).
    ///
    /// ```no_run
    /// # async fn demo(admin: duo_admin::AdminClient) -> Result<(), duo_admin::Error> {
    /// use futures::TryStreamExt;
    /// use duo_admin::logs::LogWindow;
    /// let mut walk = admin.authentication_log(LogWindow::new(1_700_000_000_000, 1_700_086_400_000));
    /// while let Some(event) = walk.try_next().await? {
    ///     println!("{} {:?} {:?}", event.txid, event.factor, event.result);
    ///     // Store `walk.checkpoint()` from time to time to resume after a restart.
    /// }
    /// # Ok(()) }
    /// ```
    pub fn authentication_log(&self, window: LogWindow) -> AuthLogWalk {
        self.authentication_log_from(AuthLogCheckpoint::new(window))
    }

    /// The authentication log from a checkpoint: every event after the last one handed over
    /// when the checkpoint was taken, exactly once.
    pub fn authentication_log_from(&self, checkpoint: AuthLogCheckpoint) -> AuthLogWalk {
        let done = checkpoint.done;
        let skip = (checkpoint.taken > 0).then(|| (checkpoint.taken, checkpoint.last_txid.clone()));
        let first = checkpoint.page.clone();
        let shared = Arc::new(Mutex::new(checkpoint));
        let state = AuthWalkState {
            client: self.clone(),
            checkpoint: Arc::clone(&shared),
            buffer: VecDeque::new(),
            next: None,
            fetch: (!done).then_some(first),
            skip,
            pages: 0,
        };
        let inner = futures::stream::try_unfold(state, |mut st| async move {
            loop {
                if let Some(event) = st.buffer.pop_front() {
                    let mut cp = lock(&st.checkpoint);
                    cp.taken += 1;
                    cp.last_txid = Some(event.txid.clone());
                    if st.buffer.is_empty() && st.next.is_none() {
                        cp.done = true;
                    }
                    drop(cp);
                    return Ok(Some((event, st)));
                }
                let cursor = match st.fetch.take() {
                    Some(cursor) => cursor,
                    None => match st.next.take() {
                        Some(next) => {
                            let mut cp = lock(&st.checkpoint);
                            cp.page = Some(next.clone());
                            cp.taken = 0;
                            cp.last_txid = None;
                            Some(next)
                        }
                        None => {
                            lock(&st.checkpoint).done = true;
                            return Ok(None);
                        }
                    },
                };
                if st.pages >= st.client.inner.transport.limits().max_pages {
                    return Err(Error::TooManyPages {
                        path: AUTHENTICATION_LOG.to_owned(),
                        pages: st.pages,
                        next: cursor.as_ref().map_or(0, LogCursor::ts_ms),
                    });
                }
                let (window, filters) = {
                    let cp = lock(&st.checkpoint);
                    (cp.window, cp.filters.clone())
                };
                let page = st
                    .client
                    .auth_log_page(window, &filters, cursor.as_ref())
                    .await?;
                st.pages += 1;
                let next = parse_cursor(&page.metadata)?;
                if let (Some(n), Some(c)) = (&next, &cursor)
                    && (n == c || n.ts_ms() < c.ts_ms())
                {
                    return Err(Error::CursorDidNotAdvance {
                        path: AUTHENTICATION_LOG.to_owned(),
                        cursor: c.param(),
                        next: n.param(),
                    });
                }
                let mut events = VecDeque::from(page.authlogs);
                if let Some((n, txid)) = st.skip.take() {
                    let n = n as usize;
                    let matches = n <= events.len()
                        && txid
                            .as_deref()
                            .is_none_or(|t| events.get(n - 1).is_some_and(|e| e.txid == t));
                    if !matches {
                        return Err(Error::CheckpointMismatch {
                            path: AUTHENTICATION_LOG.to_owned(),
                            reason: format!(
                                "the page at the checkpoint no longer has event {n} with txid {}",
                                txid.unwrap_or_default()
                            ),
                        });
                    }
                    events.drain(..n);
                }
                st.buffer = events;
                st.next = next;
            }
        });
        LogWalk {
            inner: Box::pin(inner),
            checkpoint: shared,
        }
    }

    /// One page of the authentication log at `cursor`, re-fetched as a listing's page is.
    async fn auth_log_page(
        &self,
        window: LogWindow,
        filters: &[(String, String)],
        cursor: Option<&LogCursor>,
    ) -> Result<AuthPage, Error> {
        let mut request = Request::get(AUTHENTICATION_LOG)
            .param("mintime", window.mintime_ms.to_string())
            .param("maxtime", window.maxtime_ms.to_string())
            .param("limit", MAX_LOG_PAGE.to_string())
            .param("sort", "ts:asc")
            .params(filters.iter().cloned());
        if let Some(c) = cursor {
            request = request.param("next_offset", c.param());
        }
        self.log_request(AUTHENTICATION_LOG, request, |raw, attempts| {
            let (page, _) = duo_auth::transport::parse_typed::<AuthPage>(raw, attempts)?;
            Ok(page)
        })
        .await
    }

    /// Sends a log request, paced by the client's log pacing and re-fetched up to
    /// `page_retries` times when it fails in a way that may pass.
    pub(crate) async fn log_request<T>(
        &self,
        endpoint: &'static str,
        request: Request,
        parse: impl Fn(&duo_auth::transport::RawResponse, u32) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut attempt = 0u32;
        loop {
            let runtime = self.inner.transport.runtime();
            let wait = self.inner.log_pacer.reserve(endpoint, runtime.now());
            if !wait.is_zero() {
                tracing::trace!(?wait, endpoint, "pacing a log request");
                runtime.sleep(wait).await;
            }
            let result = match self
                .inner
                .transport
                .send(&self.request(request.clone()), None)
                .await
            {
                Ok((raw, attempts)) => parse(&raw, attempts),
                Err(e) => Err(Error::Duo(e)),
            };
            match result {
                Err(Error::Duo(ref e))
                    if e.is_transient()
                        && !matches!(e, duo_auth::Error::RateLimited { .. })
                        && attempt < self.inner.page_retries =>
                {
                    attempt += 1;
                    tracing::debug!(endpoint, attempt, error = %e, "re-fetching a Duo log page");
                    self.inner
                        .transport
                        .runtime()
                        .sleep(Duration::from_secs(1 << attempt.min(5)))
                        .await;
                }
                other => return other,
            }
        }
    }

    /// Every event of the administrator log from `mintime` (seconds, included) to `maxtime`
    /// (included) or, without one, to the log's end; oldest first (see [`crate::logs`]).
    pub fn administrator_log(&self, mintime: u64, maxtime: Option<u64>) -> AdminLogWalk {
        self.administrator_log_from(AdminLogCheckpoint::new(mintime, maxtime))
    }

    /// The administrator log from a checkpoint: every event after those handed over when the
    /// checkpoint was taken, exactly once. A walk that reached the log's end ends; another walk
    /// from its checkpoint later hands over what was logged since.
    pub fn administrator_log_from(&self, checkpoint: AdminLogCheckpoint) -> AdminLogWalk {
        struct St {
            client: AdminClient,
            checkpoint: Arc<Mutex<AdminLogCheckpoint>>,
            buffer: VecDeque<Fresh>,
            /// Whether to ask again once the buffer is handed over.
            more: bool,
            /// The window's end was met on the last page.
            passed: bool,
            pages: u64,
        }
        let done = checkpoint.done;
        let shared = Arc::new(Mutex::new(checkpoint));
        let state = St {
            client: self.clone(),
            checkpoint: Arc::clone(&shared),
            buffer: VecDeque::new(),
            more: !done,
            passed: false,
            pages: 0,
        };
        let inner = futures::stream::try_unfold(state, |mut st| async move {
            loop {
                if let Some(fresh) = st.buffer.pop_front() {
                    let mut cp = lock(&st.checkpoint);
                    if cp.last_timestamp == Some(fresh.event.timestamp) {
                        cp.seen_at_last.push(fresh.fingerprint);
                    } else {
                        cp.last_timestamp = Some(fresh.event.timestamp);
                        cp.seen_at_last = vec![fresh.fingerprint];
                    }
                    if st.buffer.is_empty() && st.passed {
                        cp.done = true;
                    }
                    drop(cp);
                    return Ok(Some((fresh.event, st)));
                }
                if st.passed {
                    lock(&st.checkpoint).done = true;
                    return Ok(None);
                }
                if !st.more {
                    return Ok(None);
                }
                if st.pages >= st.client.inner.transport.limits().max_pages {
                    return Err(Error::TooManyPages {
                        path: ADMINISTRATOR_LOG.to_owned(),
                        pages: st.pages,
                        next: lock(&st.checkpoint).last_timestamp.unwrap_or(0),
                    });
                }
                let cp = lock(&st.checkpoint).clone();
                let from = cp.last_timestamp.unwrap_or(cp.mintime).max(cp.mintime);
                // One second before: whether Duo reads `mintime` as inclusive or exclusive,
                // every event of the second `from` comes back (those before are skipped).
                let request = Request::get(ADMINISTRATOR_LOG)
                    .param("mintime", from.saturating_sub(1).to_string());
                let page: Vec<Value> = st
                    .client
                    .log_request(ADMINISTRATOR_LOG, request, |raw, attempts| {
                        Ok(duo_auth::transport::parse_typed::<Vec<Value>>(raw, attempts)?.0)
                    })
                    .await?;
                st.pages += 1;
                let full = page.len() >= MAX_LOG_PAGE as usize;
                let (fresh, passed) = admin_log_new_events(&cp, page)?;
                if full && fresh.is_empty() && !passed {
                    return Err(Error::LogStuck {
                        path: ADMINISTRATOR_LOG.to_owned(),
                        timestamp: from,
                    });
                }
                st.more = full;
                st.passed = passed;
                st.buffer = fresh.into();
            }
        });
        LogWalk {
            inner: Box::pin(inner),
            checkpoint: shared,
        }
    }
}

/// An administrator event not handed over yet, with its fingerprint.
struct Fresh {
    event: AdminLogEvent,
    fingerprint: String,
}

/// The events of an administrator-log page that the checkpoint has not handed over, in order,
/// and whether the page passed the window's end.
///
/// Skipped: events before the window or before the checkpoint's second, and, in that second,
/// as many copies of each event as the checkpoint handed over (by canonical JSON: serde_json's
/// maps are ordered by key, so one event always prints the same).
fn admin_log_new_events(
    cp: &AdminLogCheckpoint,
    page: Vec<Value>,
) -> Result<(Vec<Fresh>, bool), Error> {
    let mut skip: HashMap<&str, usize> = HashMap::new();
    for fp in &cp.seen_at_last {
        *skip.entry(fp.as_str()).or_default() += 1;
    }
    let mut fresh = Vec::new();
    for value in page {
        let fingerprint = value.to_string();
        let event: AdminLogEvent = serde_json::from_value(value).map_err(|e| {
            Error::Duo(duo_auth::Error::UnexpectedResponse {
                status: 200,
                reason: format!("an administrator log event does not have the expected shape: {e}"),
                body: fingerprint.clone(),
            })
        })?;
        let ts = event.timestamp;
        if cp.maxtime.is_some_and(|max| ts > max) {
            return Ok((fresh, true));
        }
        if ts < cp.mintime || cp.last_timestamp.is_some_and(|last| ts < last) {
            continue;
        }
        if cp.last_timestamp == Some(ts)
            && let Some(n) = skip.get_mut(fingerprint.as_str())
            && *n > 0
        {
            *n -= 1;
            continue;
        }
        fresh.push(Fresh { event, fingerprint });
    }
    Ok((fresh, false))
}
