//! The Okta edge: the outermost layer around every Okta request (outside fault injection), so
//! that what it sees is what went over the wire.
//!
//! * It stamps an `X-Okta-Request-Id` on every Okta response that lacks one (answers made up by
//!   injected faults included), as Okta does on every response.
//! * It keeps the in-flight gauge: how many Okta requests are being handled now and the most at
//!   once since the counters were reset ([`OktaCounters::max_in_flight`]). A request counts from
//!   its arrival until its response is handed back, injected latency included.
//! * When asked ([`OktaDirectory::record_requests`]), it logs each request's method, path,
//!   query, headers and form body with the response's status, headers and request id
//!   ([`OktaRequest`]), so tests can check headers such as `X-Okta-Retry-For` on the wire.
//!
//! [`OktaCounters::max_in_flight`]: super::OktaCounters::max_in_flight
//! [`OktaDirectory::record_requests`]: super::OktaDirectory::record_requests

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

use super::limits::Counters;
use super::{OktaState, lock};

/// The log keeps at most this many requests (the oldest are dropped first).
const LOG_CAPACITY: usize = 100_000;
/// Form bodies above this size are refused while recording (token requests are a few KiB).
const MAX_RECORDED_BODY: usize = 1 << 20;

/// One Okta request as the sandbox received it, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OktaRequest {
    /// Arrival order, from 0 (across resets of the log).
    pub seq: u64,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/api/v1/groups`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The request headers in order, names lower-cased (secrets included: this is a sandbox).
    pub headers: Vec<(String, String)>,
    /// The body of a `POST` (the token endpoint's form), lossy UTF-8.
    pub body: Option<String>,
    /// The response status.
    pub status: u16,
    /// The response headers in order, names lower-cased.
    pub response_headers: Vec<(String, String)>,
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl OktaRequest {
    /// The first request header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The first response header of that name (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }

    /// The response's `X-Okta-Request-Id`.
    pub fn request_id(&self) -> Option<&str> {
        self.response_header("x-okta-request-id")
    }

    /// A field of a form-encoded body (`client_assertion`, `scope`, …).
    pub fn form_param(&self, name: &str) -> Option<String> {
        let body = self.body.as_deref()?;
        url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The request log.
#[derive(Debug, Default)]
pub(crate) struct Edge {
    seq: AtomicU64,
    pub(crate) recording: AtomicBool,
    log: std::sync::Mutex<VecDeque<OktaRequest>>,
}

impl Edge {
    pub(crate) fn requests(&self) -> Vec<OktaRequest> {
        let mut all: Vec<OktaRequest> = lock(&self.log).iter().cloned().collect();
        all.sort_by_key(|r| r.seq);
        all
    }

    pub(crate) fn clear(&self) {
        lock(&self.log).clear();
    }

    fn push(&self, entry: OktaRequest) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

/// Leaves the gauge however the request ends (including a dropped connection).
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn enter(counters: &'a Counters) -> Self {
        counters.enter();
        InFlight(counters)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Whether a path is served by the Okta side.
pub(crate) fn is_okta(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/oauth2/")
}

fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The middleware; see the module docs.
pub(crate) async fn middleware(
    State(state): State<Arc<OktaState>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_okta(request.uri().path()) {
        return next.run(request).await;
    }
    let edge = &state.edge;
    let seq = edge.seq.fetch_add(1, Ordering::Relaxed);
    let _gauge = InFlight::enter(&state.counters);
    let recording = edge.recording.load(Ordering::Relaxed);
    let (request, seen) = if recording {
        let (parts, body) = request.into_parts();
        let (body, bytes) = if parts.method == http::Method::POST {
            match axum::body::to_bytes(body, MAX_RECORDED_BODY).await {
                Ok(b) => (Body::from(b.clone()), Some(b)),
                Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
            }
        } else {
            (body, None)
        };
        let seen = OktaRequest {
            seq,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: pairs(&parts.headers),
            body: bytes
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            status: 0,
            response_headers: Vec::new(),
        };
        (Request::from_parts(parts, body), Some(seen))
    } else {
        (request, None)
    };
    let mut response = next.run(request).await;
    if !response.headers().contains_key("x-okta-request-id")
        && let Ok(id) = HeaderValue::from_str(&crate::random_id(27))
    {
        response.headers_mut().insert("x-okta-request-id", id);
    }
    if let Some(mut seen) = seen {
        seen.status = response.status().as_u16();
        seen.response_headers = pairs(response.headers());
        edge.push(seen);
    }
    response
}
