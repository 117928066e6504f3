//! Fault injection: make a route slow, rate-limited, failing or broken on purpose.
//!
//! Faults are rules matched against each request's method and path (a path prefix). A rule can
//! fire on every match or a fixed number of times, optionally after letting the first N matches
//! through. They are set when the sandbox starts (`SandboxBuilder::fault`, `--faults` on the
//! command line) and changed while it runs (`Sandbox::faults`). Tests use them to prove that
//! clients retry, give up and report as they should.
//!
//! Two kinds hand over between a test and the requests it causes without any timing:
//! [`FaultKind::Hold`] keeps requests waiting until the test [releases](Faults::release) them,
//! and [`FaultKind::Barrier`] keeps them waiting until a given number have arrived. A held
//! request has arrived and counts as in flight (the Okta gauge, [`crate::DuoAccount::in_flight`])
//! but has not reached its handler yet; [`Faults::held`] and [`Faults::until_held`] tell a test
//! when it is there.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Wait this long before handling the request.
    Latency(Duration),
    /// Answer `429 Too Many Requests` in the service's own shape (Duo envelope with code 42901;
    /// Okta `E0000047` with `X-Rate-Limit-*` headers saying the budget resets in a second).
    TooManyRequests,
    /// Answer with this 5xx status in the service's own error shape.
    ServerError(u16),
    /// Send the headers and half the body, then drop the connection.
    DropConnection,
    /// Send a complete response whose JSON body is cut in half.
    TruncatedBody,
    /// Send `200 OK` with a body that is not JSON.
    InvalidJson,
    /// Paged listings: the next-page pointer repeats the current one (Duo `next_offset` does
    /// not advance; Okta's `next` link repeats the cursor).
    RepeatCursor,
    /// Hold the request, before its handler sees it, until the test lets it go with
    /// [`Faults::release`] (or [`Faults::clear`], or the sandbox stops). Meanwhile the test can
    /// wait until it is held ([`Faults::until_held`]) and act while the request is provably in
    /// flight and unanswered. There is no time limit: guard the test's own waits. Not available
    /// on the command line, where nothing could release it.
    Hold,
    /// Hold matching requests until this many have arrived (counted from the rule's first
    /// firing), then let them all go on at once; later matches go on at once too. A client that
    /// may have `n` requests in flight thus provably reaches `n`. Use `times(n)` to apply it to
    /// one cohort only. A held request waits at most [`BARRIER_TIMEOUT`]: if the others never
    /// come, it goes on anyway, so that a test asserting the concurrency fails instead of
    /// hanging.
    Barrier(u32),
}

/// The longest a request waits at a [`FaultKind::Barrier`] for the others: a liveness guard
/// only, far beyond any real wait.
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// A fault rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `None` matches every method.
    pub method: Option<http::Method>,
    /// A path prefix such as `/admin/v1/users` or `/api/v1/groups`.
    pub path_prefix: String,
    /// What happens.
    pub kind: FaultKind,
    /// How many times it fires; `None` for every matching request.
    pub times: Option<u32>,
    /// How many matching requests pass untouched before it starts firing.
    pub after: u32,
}

impl Fault {
    /// A fault on every request whose path starts with `path_prefix`, firing every time.
    pub fn new(path_prefix: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            method: None,
            path_prefix: path_prefix.into(),
            kind,
            times: None,
            after: 0,
        }
    }

    /// Only for this method.
    pub fn method(mut self, method: http::Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Fire this many times, then stop.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Let the first `n` matching requests through first.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }

    fn matches(&self, method: &http::Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && path.starts_with(&self.path_prefix)
    }
}

/// Why a fault specification could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid fault {spec:?}: {reason} (format: [METHOD ]PATH=KIND[xTIMES][@AFTER], KIND one of latency:MS, 429, 500..599, drop, truncate, badjson, repeat-cursor, barrier:N)"
)]
pub struct FaultParseError {
    spec: String,
    reason: &'static str,
}

impl FromStr for Fault {
    type Err = FaultParseError;

    /// Parses `[METHOD ]PATH=KIND[xTIMES][@AFTER]`, e.g. `GET /admin/v1/users=429x3`,
    /// `/api/v1/groups=latency:250`, `/admin/v1/users=truncate@2`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason| FaultParseError {
            spec: spec.to_owned(),
            reason,
        };
        let (target, action) = spec
            .trim()
            .split_once('=')
            .ok_or_else(|| err("missing '='"))?;
        let (method, path) = match target.trim().split_once(' ') {
            Some((m, p)) => (
                Some(
                    http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| err("bad method"))?,
                ),
                p.trim(),
            ),
            None => (None, target.trim()),
        };
        if !path.starts_with('/') {
            return Err(err("the path must start with '/'"));
        }
        let (action, after) = match action.split_once('@') {
            Some((a, n)) => (a, n.parse().map_err(|_| err("bad @AFTER count"))?),
            None => (action, 0),
        };
        let (kind, times) = match action.rsplit_once('x') {
            Some((k, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (k, Some(n.parse().map_err(|_| err("bad xTIMES count"))?))
            }
            _ => (action, None),
        };
        let kind = match kind {
            "429" => FaultKind::TooManyRequests,
            "drop" => FaultKind::DropConnection,
            "truncate" => FaultKind::TruncatedBody,
            "badjson" => FaultKind::InvalidJson,
            "repeat-cursor" => FaultKind::RepeatCursor,
            k if k.starts_with("latency:") => FaultKind::Latency(Duration::from_millis(
                k["latency:".len()..]
                    .parse()
                    .map_err(|_| err("bad latency milliseconds"))?,
            )),
            k if k.starts_with("barrier:") => FaultKind::Barrier(
                k["barrier:".len()..]
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| err("bad barrier count"))?,
            ),
            k => match k.parse::<u16>() {
                Ok(code @ 500..=599) => FaultKind::ServerError(code),
                _ => return Err(err("unknown kind")),
            },
        };
        Ok(Fault {
            method,
            path_prefix: path.to_owned(),
            kind,
            times,
            after,
        })
    }
}

#[derive(Debug)]
struct Armed {
    fault: Fault,
    seen: u32,
    fired: u32,
    gate: Arc<Gate>,
}

/// Where a [`FaultKind::Hold`] or [`FaultKind::Barrier`] rule keeps its requests.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Requests waiting here now.
    held: AtomicU32,
    /// Requests the rule has fired on so far (a barrier opens when this reaches its count).
    arrived: AtomicU32,
    /// Released (a hold) or cleared away (either kind).
    open: AtomicBool,
}

/// A rule that fired on a request: what to do, and the rule's gate.
#[derive(Debug)]
pub(crate) struct Fired {
    pub(crate) kind: FaultKind,
    gate: Arc<Gate>,
}

/// The live set of fault rules, shared by the server and the [`Sandbox`](crate::Sandbox) handle.
#[derive(Debug, Clone)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Armed>>>,
    /// Touched whenever a request starts or stops being held or a gate opens; held requests
    /// and [`Faults::until_held`] wait on it.
    changed: Arc<tokio::sync::watch::Sender<()>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rules: Arc::default(),
            changed: Arc::new(tokio::sync::watch::Sender::new(())),
        }
    }
}

/// Counts a request as held for as long as it waits (including when it is dropped while
/// waiting, e.g. because its client hung up).
struct Holding<'a> {
    gate: &'a Gate,
    changed: &'a tokio::sync::watch::Sender<()>,
}

impl<'a> Holding<'a> {
    fn new(gate: &'a Gate, changed: &'a tokio::sync::watch::Sender<()>) -> Self {
        gate.held.fetch_add(1, Ordering::SeqCst);
        changed.send_modify(|()| {});
        Self { gate, changed }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.gate.held.fetch_sub(1, Ordering::SeqCst);
        self.changed.send_modify(|()| {});
    }
}

impl Faults {
    /// Adds a rule.
    pub fn inject(&self, fault: Fault) {
        self.lock().push(Armed {
            fault,
            seen: 0,
            fired: 0,
            gate: Arc::default(),
        });
    }

    /// Removes every rule; requests held by [`FaultKind::Hold`] or [`FaultKind::Barrier`] rules
    /// go on.
    pub fn clear(&self) {
        for armed in self.lock().drain(..) {
            armed.gate.open.store(true, Ordering::SeqCst);
        }
        self.changed.send_modify(|()| {});
    }

    /// Releases the [`FaultKind::Hold`] rules whose path prefix starts with `path_prefix`: the
    /// requests they hold go on, and so do later matches (a released rule no longer fires).
    /// Returns how many requests were held.
    pub fn release(&self, path_prefix: &str) -> u32 {
        let released = self
            .lock()
            .iter()
            .filter(|a| {
                a.fault.kind == FaultKind::Hold && a.fault.path_prefix.starts_with(path_prefix)
            })
            .map(|a| {
                a.gate.open.store(true, Ordering::SeqCst);
                a.gate.held.load(Ordering::SeqCst)
            })
            .sum();
        self.changed.send_modify(|()| {});
        released
    }

    /// How many requests rules matching `path_prefix` (as for [`fired`](Self::fired)) hold
    /// now, at a [`FaultKind::Hold`] or a [`FaultKind::Barrier`].
    pub fn held(&self, path_prefix: &str) -> u32 {
        self.lock()
            .iter()
            .filter(|a| a.fault.path_prefix.starts_with(path_prefix))
            .map(|a| a.gate.held.load(Ordering::SeqCst))
            .sum()
    }

    /// Waits until rules matching `path_prefix` hold at least `n` requests at once (see
    /// [`held`](Self::held)). It waits for as long as that takes: put a time limit on it.
    pub async fn until_held(&self, path_prefix: &str, n: u32) {
        // Subscribed before looking: a change after the look wakes the wait.
        let mut changed = self.changed.subscribe();
        while self.held(path_prefix) < n {
            // The sender lives in `self`: `changed` cannot fail while this borrow lasts.
            let _ = changed.changed().await;
        }
    }

    /// Holds a request that a `Hold` or `Barrier` rule fired on until its gate opens.
    async fn hold(&self, fired: &Fired) {
        let gate = &*fired.gate;
        let barrier = match fired.kind {
            FaultKind::Barrier(n) => Some(n),
            _ => None,
        };
        let mut changed = self.changed.subscribe();
        let _holding = Holding::new(gate, &self.changed);
        let open = || {
            gate.open.load(Ordering::SeqCst)
                || barrier.is_some_and(|n| gate.arrived.load(Ordering::SeqCst) >= n)
        };
        let wait = async {
            while !open() {
                let _ = changed.changed().await;
            }
        };
        match barrier {
            None => wait.await,
            Some(n) => {
                if tokio::time::timeout(BARRIER_TIMEOUT, wait).await.is_err() {
                    tracing::warn!(
                        parties = n,
                        arrived = gate.arrived.load(Ordering::SeqCst),
                        "barrier timed out; letting the request go on"
                    );
                }
            }
        }
    }

    /// How many times rules matching `path_prefix` have fired so far.
    pub fn fired(&self, path_prefix: &str) -> u32 {
        self.lock()
            .iter()
            .filter(|a| a.fault.path_prefix.starts_with(path_prefix))
            .map(|a| a.fired)
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        // A poisoned lock only means a panic elsewhere; the rules themselves stay valid.
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the first rule that fires for this request. `handler_level` selects the kinds a
    /// handler applies itself (`RepeatCursor`) instead of the middleware.
    pub(crate) fn take(
        &self,
        method: &http::Method,
        path: &str,
        handler_level: bool,
    ) -> Option<Fired> {
        let mut rules = self.lock();
        for armed in rules.iter_mut() {
            let is_handler_kind = armed.fault.kind == FaultKind::RepeatCursor;
            if is_handler_kind != handler_level || !armed.fault.matches(method, path) {
                continue;
            }
            // A released hold is spent: its matches pass untouched.
            if armed.fault.kind == FaultKind::Hold && armed.gate.open.load(Ordering::SeqCst) {
                continue;
            }
            armed.seen += 1;
            if armed.seen <= armed.fault.after {
                continue;
            }
            if armed.fault.times.is_some_and(|t| armed.fired >= t) {
                continue;
            }
            armed.fired += 1;
            armed.gate.arrived.fetch_add(1, Ordering::SeqCst);
            return Some(Fired {
                kind: armed.fault.kind.clone(),
                gate: armed.gate.clone(),
            });
        }
        None
    }
}

/// Whether a path belongs to the Okta side (its errors are shaped differently).
fn is_okta(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/oauth2/")
}

fn service_error(path: &str, status: StatusCode) -> Response {
    if is_okta(path) {
        let (code, summary) = if status == StatusCode::TOO_MANY_REQUESTS {
            (
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            )
        } else {
            ("E0000009", "Internal Server Error")
        };
        let mut response = crate::okta_error_body(status, code, summary);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() + 1);
            let headers = response.headers_mut();
            headers.insert("x-rate-limit-limit", http::HeaderValue::from(600u32));
            headers.insert("x-rate-limit-remaining", http::HeaderValue::from(0u32));
            headers.insert("x-rate-limit-reset", http::HeaderValue::from(reset));
        }
        response
    } else {
        let (code, message) = if status == StatusCode::TOO_MANY_REQUESTS {
            (42901, "Too Many Requests")
        } else {
            (50001, "Internal server error")
        };
        crate::duo::envelope::fail(status, code, message, None)
    }
}

/// The middleware that applies transport-level faults.
pub(crate) async fn middleware(
    State(faults): State<Faults>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let Some(fired) = faults.take(request.method(), &path, false) else {
        return next.run(request).await;
    };
    let kind = fired.kind.clone();
    tracing::debug!(?kind, %path, "injecting fault");
    match kind {
        FaultKind::Hold | FaultKind::Barrier(_) => {
            faults.hold(&fired).await;
            next.run(request).await
        }
        FaultKind::Latency(d) => {
            tokio::time::sleep(d).await;
            next.run(request).await
        }
        FaultKind::TooManyRequests => service_error(&path, StatusCode::TOO_MANY_REQUESTS),
        FaultKind::ServerError(code) => service_error(
            &path,
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ),
        FaultKind::InvalidJson => (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            "<html>not json{",
        )
            .into_response(),
        FaultKind::TruncatedBody | FaultKind::DropConnection => {
            let response = next.run(request).await;
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            if kind == FaultKind::TruncatedBody {
                parts.headers.remove(http::header::CONTENT_LENGTH);
                return Response::from_parts(parts, Body::from(half));
            }
            // Promise the whole body, send half, then fail the stream: the connection is cut.
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(bytes.len()),
            );
            // A short pause lets the headers and the first half reach the client before the
            // connection is cut, as when a proxy or the server dies mid-response.
            let stream = futures::stream::unfold((0u8, half), |(step, half)| async move {
                match step {
                    0 => Some((Ok::<Bytes, std::io::Error>(half), (1, Bytes::new()))),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let cut =
                            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: drop");
                        Some((Err(cut), (2, Bytes::new())))
                    }
                    _ => None,
                }
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
        FaultKind::RepeatCursor => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let f: Fault = "GET /admin/v1/users=429x3@2".parse().unwrap();
        assert_eq!(f.method, Some(http::Method::GET));
        assert_eq!(f.path_prefix, "/admin/v1/users");
        assert_eq!(f.kind, FaultKind::TooManyRequests);
        assert_eq!((f.times, f.after), (Some(3), 2));
        let f: Fault = "/api/v1/groups=latency:250".parse().unwrap();
        assert_eq!(f.kind, FaultKind::Latency(Duration::from_millis(250)));
        assert_eq!(f.times, None);
        assert_eq!(
            "/x=503x1".parse::<Fault>().unwrap().kind,
            FaultKind::ServerError(503)
        );
        assert_eq!(
            "POST /x=barrier:3x3".parse::<Fault>().unwrap(),
            Fault::new("/x", FaultKind::Barrier(3))
                .method(http::Method::POST)
                .times(3)
        );
        assert!("/x=barrier:0".parse::<Fault>().is_err());
        // Nothing on the command line could release a hold.
        assert!("/x=hold".parse::<Fault>().is_err());
        assert!("/x=404".parse::<Fault>().is_err());
        assert!("x=429".parse::<Fault>().is_err());
        assert!("/x".parse::<Fault>().is_err());
    }

    #[test]
    fn counts_after_and_times() {
        let faults = Faults::default();
        faults.inject(
            Fault::new("/a", FaultKind::TooManyRequests)
                .times(2)
                .after(1),
        );
        let m = http::Method::GET;
        let fired: Vec<bool> = (0..5)
            .map(|_| faults.take(&m, "/a/b", false).is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert_eq!(faults.fired("/a"), 2);
        assert!(faults.take(&m, "/b", false).is_none());
    }

    /// Polls a future once: whether it is still waiting.
    fn pending<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> bool {
        let waker = futures::task::noop_waker();
        f.poll(&mut std::task::Context::from_waker(&waker))
            .is_pending()
    }

    #[tokio::test]
    async fn a_hold_keeps_requests_until_released() {
        let faults = Faults::default();
        faults.inject(Fault::new("/a", FaultKind::Hold).after(1));
        let m = http::Method::GET;
        assert!(faults.take(&m, "/a", false).is_none(), "the first goes by");
        let (one, two) = (
            faults.take(&m, "/a/1", false).unwrap(),
            faults.take(&m, "/a/2", false).unwrap(),
        );
        assert_eq!(one.kind, FaultKind::Hold);
        let mut first = std::pin::pin!(faults.hold(&one));
        let mut second = std::pin::pin!(faults.hold(&two));
        assert!(pending(first.as_mut()) && pending(second.as_mut()));
        assert_eq!((faults.held("/a"), faults.held("/b")), (2, 0));
        let mut until = std::pin::pin!(faults.until_held("/a", 2));
        assert!(!pending(until.as_mut()), "two are held");
        let mut until = std::pin::pin!(faults.until_held("/a", 3));
        assert!(pending(until.as_mut()));
        assert!(pending(first.as_mut()), "still held");

        assert_eq!(faults.release("/a"), 2);
        first.await;
        assert_eq!(faults.held("/a"), 1);
        second.await;
        assert_eq!(faults.held("/a"), 0);
        assert_eq!(faults.fired("/a"), 2);
        assert!(
            faults.take(&m, "/a", false).is_none(),
            "a released hold is spent"
        );
        assert_eq!(faults.fired("/a"), 2);
    }

    #[tokio::test]
    async fn a_dropped_request_is_no_longer_held_and_clear_lets_requests_go() {
        let faults = Faults::default();
        faults.inject(Fault::new("/a", FaultKind::Hold));
        let m = http::Method::GET;
        let fired = faults.take(&m, "/a", false).unwrap();
        {
            let mut held = std::pin::pin!(faults.hold(&fired));
            assert!(pending(held.as_mut()));
            assert_eq!(faults.held("/a"), 1);
        }
        assert_eq!(faults.held("/a"), 0, "its client hung up");

        let mut held = std::pin::pin!(faults.hold(&fired));
        assert!(pending(held.as_mut()));
        faults.clear();
        held.await;
        assert!(faults.take(&m, "/a", false).is_none());
    }

    #[tokio::test]
    async fn a_barrier_lets_requests_go_once_enough_have_arrived() {
        let faults = Faults::default();
        faults.inject(Fault::new("/a", FaultKind::Barrier(3)).times(3));
        let m = http::Method::GET;
        let take = || faults.take(&m, "/a", false).unwrap();
        let (one, two) = (take(), take());
        let mut first = std::pin::pin!(faults.hold(&one));
        let mut second = std::pin::pin!(faults.hold(&two));
        assert!(pending(first.as_mut()) && pending(second.as_mut()));
        assert_eq!(faults.held("/a"), 2);
        // A release is for holds only.
        assert_eq!(faults.release("/a"), 0);
        assert!(pending(first.as_mut()));

        let three = take();
        faults.hold(&three).await;
        first.await;
        second.await;
        assert_eq!(faults.held("/a"), 0);
        assert!(faults.take(&m, "/a", false).is_none(), "times(3)");
    }

    #[tokio::test(start_paused = true)]
    async fn a_barrier_gives_up_after_its_timeout() {
        let faults = Faults::default();
        faults.inject(Fault::new("/a", FaultKind::Barrier(2)));
        let fired = faults.take(&http::Method::GET, "/a", false).unwrap();
        let started = tokio::time::Instant::now();
        faults.hold(&fired).await;
        assert_eq!(started.elapsed(), BARRIER_TIMEOUT);
        assert_eq!(faults.held("/a"), 0);
    }
}
