//! Per-endpoint rate limits with Okta's headers, request ids and request counters.
//!
//! Okta budgets requests per endpoint per minute and reports the budget on every response:
//! `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` (epoch seconds when
//! the window ends). A spent budget answers 429 `E0000047` with the same headers. Every response
//! also carries an `X-Okta-Request-Id`, which clients echo in `X-Okta-Retry-For` when retrying.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::OktaState;
use super::time::now_secs;

/// Okta's default budgets are in the hundreds per minute; this is generous enough for tests
/// that do not care and small enough to exhaust on purpose.
pub(crate) const DEFAULT_LIMIT: u32 = 600;
const WINDOW_SECS: i64 = 60;

/// A rate-limited group of Okta endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum OktaEndpoint {
    /// `POST /oauth2/v1/token`.
    Token,
    /// `GET /api/v1/groups` and `GET /api/v1/groups/{id}`.
    Groups,
    /// `GET /api/v1/groups/{id}/users`.
    GroupMembers,
    /// `GET /api/v1/users/{id}`.
    Users,
}

impl OktaEndpoint {
    /// Every endpoint group.
    pub const ALL: [OktaEndpoint; 4] = [
        OktaEndpoint::Token,
        OktaEndpoint::Groups,
        OktaEndpoint::GroupMembers,
        OktaEndpoint::Users,
    ];

    fn index(self) -> usize {
        match self {
            OktaEndpoint::Token => 0,
            OktaEndpoint::Groups => 1,
            OktaEndpoint::GroupMembers => 2,
            OktaEndpoint::Users => 3,
        }
    }

    /// The endpoint group of a request path, if it is one the sandbox serves.
    pub(crate) fn classify(path: &str) -> Option<Self> {
        if path == "/oauth2/v1/token" {
            return Some(OktaEndpoint::Token);
        }
        if let Some(rest) = path.strip_prefix("/api/v1/groups") {
            return match rest
                .trim_end_matches('/')
                .split('/')
                .collect::<Vec<_>>()
                .as_slice()
            {
                [""] | ["", _] => Some(OktaEndpoint::Groups),
                ["", _, "users"] => Some(OktaEndpoint::GroupMembers),
                _ => None,
            };
        }
        path.starts_with("/api/v1/users")
            .then_some(OktaEndpoint::Users)
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u32,
    used: u32,
    reset: i64,
}

/// The budgets.
#[derive(Debug)]
pub(crate) struct RateLimits {
    buckets: [Bucket; 4],
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            buckets: [Bucket {
                limit: DEFAULT_LIMIT,
                used: 0,
                reset: 0,
            }; 4],
        }
    }
}

/// The outcome of taking one request from a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset: i64,
    pub(crate) allowed: bool,
}

impl RateLimits {
    /// Takes one request from `endpoint`'s budget at time `now`.
    pub(crate) fn take(&mut self, endpoint: OktaEndpoint, now: i64) -> Decision {
        let b = &mut self.buckets[endpoint.index()];
        if now >= b.reset {
            b.used = 0;
            b.reset = now + WINDOW_SECS;
        }
        let allowed = b.used < b.limit;
        if allowed {
            b.used += 1;
        }
        Decision {
            limit: b.limit,
            remaining: b.limit.saturating_sub(b.used),
            reset: b.reset,
            allowed,
        }
    }

    /// Sets a per-minute budget (the current window keeps what it has used).
    pub(crate) fn set(&mut self, endpoint: OktaEndpoint, per_minute: u32) {
        self.buckets[endpoint.index()].limit = per_minute;
    }

    /// Starts fresh windows everywhere.
    pub(crate) fn reset(&mut self) {
        for b in &mut self.buckets {
            b.used = 0;
            b.reset = 0;
        }
    }
}

/// What the Okta side has served, for tests that assert "one token POST, not two".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OktaCounters {
    /// Requests that reached `POST /oauth2/v1/token` (whatever the outcome).
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Requests to `/api/v1/groups` and `/api/v1/groups/{id}`.
    pub groups_requests: u64,
    /// Requests to `/api/v1/groups/{id}/users`.
    pub group_members_requests: u64,
    /// Requests to `/api/v1/users/{id}`.
    pub users_requests: u64,
    /// Requests answered 429 because a budget was spent.
    pub rate_limited: u64,
    /// The most Okta requests (token and API, injected faults included) handled at once since
    /// the last reset, counted from arrival until the response is handed back.
    pub max_in_flight: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: [AtomicU64; 4],
    pub(crate) tokens_issued: AtomicU64,
    rate_limited: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Counters {
    fn hit(&self, endpoint: OktaEndpoint) {
        self.hits[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A request arrives (see `record::middleware`).
    pub(crate) fn enter(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
    }

    /// Its response has been handed back (or the request was dropped).
    pub(crate) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn snapshot(&self) -> OktaCounters {
        let hit = |e: OktaEndpoint| self.hits[e.index()].load(Ordering::Relaxed);
        OktaCounters {
            token_requests: hit(OktaEndpoint::Token),
            tokens_issued: self.tokens_issued.load(Ordering::Relaxed),
            groups_requests: hit(OktaEndpoint::Groups),
            group_members_requests: hit(OktaEndpoint::GroupMembers),
            users_requests: hit(OktaEndpoint::Users),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn reset(&self) {
        for h in &self.hits {
            h.store(0, Ordering::Relaxed);
        }
        self.tokens_issued.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
        // Requests still running count again from here.
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Counts, rate-limits and stamps every Okta response.
pub(crate) async fn middleware(
    State(state): State<Arc<OktaState>>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = OktaEndpoint::classify(request.uri().path());
    if endpoint.is_some() {
        let max = state.concurrency_limit.load(Ordering::Relaxed);
        if max > 0 && state.counters.in_flight.load(Ordering::SeqCst) > max {
            if let Some(e) = endpoint {
                state.counters.hit(e);
            }
            state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return concurrency_limited();
        }
    }
    let decision = endpoint.map(|e| {
        state.counters.hit(e);
        state.lock_limits().take(e, now_secs())
    });
    let mut response = match decision {
        Some(d) if !d.allowed => {
            state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            crate::okta_error_body(
                StatusCode::TOO_MANY_REQUESTS,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            )
        }
        _ => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(d) = decision {
        headers.insert("x-rate-limit-limit", HeaderValue::from(d.limit));
        headers.insert("x-rate-limit-remaining", HeaderValue::from(d.remaining));
        headers.insert("x-rate-limit-reset", HeaderValue::from(d.reset));
    }
    if let Ok(id) = HeaderValue::from_str(&crate::random_id(27)) {
        headers.insert("x-okta-request-id", id);
    }
    response
}

/// Okta's answer when the concurrent-request limit is reached: 429 `E0000047` with
/// `X-Rate-Limit-Limit` and `X-Rate-Limit-Remaining` both 0 (the reset says little here).
fn concurrency_limited() -> Response {
    let mut response = crate::okta_error_body(
        StatusCode::TOO_MANY_REQUESTS,
        "E0000047",
        "API call exceeded rate limit due to too many requests.",
    );
    let headers = response.headers_mut();
    headers.insert("x-rate-limit-limit", HeaderValue::from(0u32));
    headers.insert("x-rate-limit-remaining", HeaderValue::from(0u32));
    headers.insert(
        "x-rate-limit-reset",
        HeaderValue::from(now_secs().saturating_add(WINDOW_SECS)),
    );
    // The edge middleware adds the request id.
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        use OktaEndpoint::*;
        assert_eq!(OktaEndpoint::classify("/oauth2/v1/token"), Some(Token));
        assert_eq!(OktaEndpoint::classify("/api/v1/groups"), Some(Groups));
        assert_eq!(OktaEndpoint::classify("/api/v1/groups/00g1"), Some(Groups));
        assert_eq!(
            OktaEndpoint::classify("/api/v1/groups/00g1/users"),
            Some(GroupMembers)
        );
        assert_eq!(OktaEndpoint::classify("/api/v1/users/00u1"), Some(Users));
        assert_eq!(OktaEndpoint::classify("/api/v1/groupsx"), None);
        assert_eq!(OktaEndpoint::classify("/admin/v1/users"), None);
    }

    #[test]
    fn windows() {
        let mut l = RateLimits::default();
        l.set(OktaEndpoint::Groups, 2);
        let a = l.take(OktaEndpoint::Groups, 1000);
        assert_eq!((a.allowed, a.remaining, a.reset), (true, 1, 1060));
        assert!(l.take(OktaEndpoint::Groups, 1001).allowed);
        let c = l.take(OktaEndpoint::Groups, 1059);
        assert_eq!((c.allowed, c.remaining, c.limit), (false, 0, 2));
        assert!(l.take(OktaEndpoint::Token, 1059).allowed);
        assert!(l.take(OktaEndpoint::Groups, 1060).allowed);
    }
}
