//! Okta rate-limit headers and a pure retry decision.
//!
//! Every Okta response carries `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and
//! `X-Rate-Limit-Reset` (Unix seconds at which the window resets), and a `Date`. On a 429 the
//! wait is `Reset − Date + 1 s`, measured on the **server's** clock so local skew does not
//! matter. The headers can repeat (several limits apply to one endpoint): the earliest reset,
//! the smallest limit and the smallest remaining count win. `Limit = Remaining = 0` marks
//! Okta's *concurrency* limit, where the reset time says nothing: back off instead.
//!
//! [`RetryPolicy::decide`] turns those facts into [`Decision::Retry`] or [`Decision::GiveUp`];
//! it does no IO, reads no clock and draws no randomness (the jitter value is an input).

use std::time::Duration;

/// What the rate-limit headers of one response say.
///
/// Exhaustive on purpose: it is an input of the sans-IO retry decisions, which another HTTP stack
/// fills from its own headers (or with [`RateLimit::from_headers`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-Rate-Limit-Limit` (smallest if repeated).
    pub limit: Option<u64>,
    /// `X-Rate-Limit-Remaining` (smallest if repeated).
    pub remaining: Option<u64>,
    /// `X-Rate-Limit-Reset`, Unix seconds (earliest if repeated).
    pub reset: Option<u64>,
    /// The server's `Date`, Unix seconds.
    pub date: Option<u64>,
}

impl RateLimit {
    /// Reads the headers from `(name, value)` pairs; names are matched case-insensitively,
    /// repeated headers and comma-joined values are both understood, unparseable values ignored.
    ///
    /// ```
    /// use okta_client::rate_limit::RateLimit;
    /// let rl = RateLimit::from_headers([
    ///     ("x-rate-limit-limit", "600"),
    ///     ("X-Rate-Limit-Remaining", "0"),
    ///     ("X-Rate-Limit-Reset", "1700000060, 1700000030"),
    ///     ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
    /// ]);
    /// assert_eq!(rl.reset, Some(1_700_000_030));
    /// assert_eq!(rl.date, Some(1_700_000_000));
    /// assert_eq!(rl.until_reset(), Some(std::time::Duration::from_secs(31)));
    /// ```
    pub fn from_headers<'a, I>(headers: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut rl = RateLimit::default();
        for (name, value) in headers {
            let name = name.trim();
            let slot = if name.eq_ignore_ascii_case("x-rate-limit-limit") {
                &mut rl.limit
            } else if name.eq_ignore_ascii_case("x-rate-limit-remaining") {
                &mut rl.remaining
            } else if name.eq_ignore_ascii_case("x-rate-limit-reset") {
                &mut rl.reset
            } else {
                if name.eq_ignore_ascii_case("date") && rl.date.is_none() {
                    rl.date = parse_http_date(value);
                }
                continue;
            };
            for part in value.split(',') {
                if let Ok(n) = part.trim().parse::<u64>() {
                    *slot = Some(slot.map_or(n, |old| old.min(n)));
                }
            }
        }
        rl
    }

    /// `Limit = Remaining = 0`: Okta's concurrent-request limit, not the per-minute one.
    pub fn is_concurrency_limit(&self) -> bool {
        self.limit == Some(0) && self.remaining == Some(0)
    }

    /// Which limit these headers describe: [`RateLimitKind::Concurrency`] when
    /// `Limit = Remaining = 0`, otherwise [`RateLimitKind::PerMinute`] (also when the headers are
    /// missing: Okta's concurrency limit always says `0` / `0`).
    ///
    /// ```
    /// use okta_client::rate_limit::{RateLimit, RateLimitKind};
    /// let rl = RateLimit::from_headers([("X-Rate-Limit-Limit", "0"), ("X-Rate-Limit-Remaining", "0")]);
    /// assert_eq!(rl.kind(), RateLimitKind::Concurrency);
    /// assert_eq!(RateLimit::default().kind(), RateLimitKind::PerMinute);
    /// ```
    pub fn kind(&self) -> RateLimitKind {
        if self.is_concurrency_limit() {
            RateLimitKind::Concurrency
        } else {
            RateLimitKind::PerMinute
        }
    }

    /// Whether any of `X-Rate-Limit-Limit`, `-Remaining` or `-Reset` was present.
    pub(crate) fn has_limits(&self) -> bool {
        self.limit.is_some() || self.remaining.is_some() || self.reset.is_some()
    }

    /// Proactive slow-down: when `Remaining` has fallen below `below × Limit`, the wait before
    /// the next request that spreads what is left of the budget until the reset,
    /// `(Reset − now) / (Remaining + 1)`. `None` when a header is missing, the budget is above
    /// the threshold, or the reset has passed. `now` is Unix seconds on the local clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use okta_client::rate_limit::RateLimit;
    /// let rl = RateLimit { limit: Some(600), remaining: Some(5), reset: Some(1_060), date: Some(1_000) };
    /// assert_eq!(rl.slow_down(0.1, 1_000), Some(Duration::from_secs(10)));
    /// assert_eq!(rl.slow_down(0.005, 1_000), None);
    /// ```
    pub fn slow_down(&self, below: f64, now: u64) -> Option<Duration> {
        let (limit, remaining, reset) = (self.limit?, self.remaining?, self.reset?);
        if limit == 0 || reset <= now || (remaining as f64) >= below * limit as f64 {
            return None;
        }
        let parts = u32::try_from(remaining.saturating_add(1)).unwrap_or(u32::MAX);
        Some(Duration::from_secs(reset - now) / parts)
    }

    /// `Reset − Date + 1 s` (at least 1 s), when both headers are present.
    pub fn until_reset(&self) -> Option<Duration> {
        let (reset, date) = (self.reset?, self.date?);
        Some(Duration::from_secs(
            reset.saturating_sub(date).saturating_add(1),
        ))
    }
}

/// Which of Okta's limits a 429 hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitKind {
    /// The per-minute budget of the endpoint (or the org): wait for `X-Rate-Limit-Reset`.
    PerMinute,
    /// The org's limit on simultaneous requests (`X-Rate-Limit-Limit = Remaining = 0`): fewer
    /// requests in flight help, waiting for the reset does not. See
    /// [`OktaClientBuilder::max_concurrent_requests`](crate::OktaClientBuilder::max_concurrent_requests).
    Concurrency,
}

/// A 429 answer, as [`Error::rate_limited`](crate::Error::rate_limited) describes it (also after
/// the retries are exhausted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimited {
    /// Which limit was hit.
    pub kind: RateLimitKind,
    /// The rate-limit headers of the last 429 (all `None` if it had none).
    pub limits: RateLimit,
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and the
/// two obsolete forms (RFC 850 and asctime). Returns Unix seconds; `None` if it is not a date.
///
/// ```
/// use okta_client::rate_limit::parse_http_date;
/// assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
/// assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
/// assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
/// assert_eq!(parse_http_date("yesterday"), None);
/// ```
pub fn parse_http_date(s: &str) -> Option<u64> {
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for tok in s.split([' ', ',', '\t']).filter(|t| !t.is_empty()) {
        if tok.contains(':') {
            let mut it = tok.split(':').map(|p| p.parse::<u64>().ok());
            let (h, m, sec) = (it.next()??, it.next()??, it.next()??);
            if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
                return None;
            }
            time = Some(h * 3600 + m * 60 + sec);
        } else if let Some(mo) = month_number(tok) {
            month = Some(mo);
        } else if tok.contains('-') {
            // RFC 850: 06-Nov-94
            let mut it = tok.split('-');
            let (d, mo, y) = (it.next()?, it.next()?, it.next()?);
            day = Some(d.parse::<u64>().ok()?);
            month = Some(month_number(mo)?);
            let y: u64 = y.parse().ok()?;
            year = Some(if y < 100 {
                if y < 70 { 2000 + y } else { 1900 + y }
            } else {
                y
            });
        } else if tok.bytes().all(|c| c.is_ascii_digit()) {
            let n: u64 = tok.parse().ok()?;
            if tok.len() == 4 {
                year = Some(n);
            } else if tok.len() <= 2 {
                day = Some(n);
            } else {
                return None;
            }
        }
        // Weekday names and "GMT" carry nothing we need.
    }
    let (day, month, year, time) = (day?, month?, year?, time?);
    if !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    days.checked_mul(86_400)?.checked_add(time)
}

fn month_number(tok: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = tok.get(..3)?.to_ascii_lowercase();
    if tok.len() != 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .map(|i| i as u64 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date read against the server's
/// `Date` (Unix seconds).
pub fn parse_retry_after(value: &str, server_date: Option<u64>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(Duration::from_secs(at.saturating_sub(server_date?)))
}

/// Statuses worth retrying besides 429: transient server-side failures.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// What [`RetryPolicy::decide`] needs to know about a failed attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResponseFacts {
    /// The HTTP status; `None` when no response arrived (connect error, timeout).
    pub status: Option<u16>,
    /// The response's rate-limit headers.
    pub rate_limit: RateLimit,
    /// `Retry-After`, if the response had one (see [`parse_retry_after`]).
    pub retry_after: Option<Duration>,
    /// Time spent since the first attempt started.
    pub elapsed: Duration,
    /// A uniform random number in `[0, 1)` for jitter (out-of-range values are clamped).
    pub random: f64,
}

/// Why [`RetryPolicy::decide`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The outcome is not one a retry can fix (4xx other than 429, success, …).
    NotRetryable,
    /// `max_retries` retries were already made.
    RetriesExhausted,
    /// Waiting would pass the overall deadline.
    DeadlineExceeded,
}

/// The retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Wait this long, then send the request again (with a fresh DPoP proof and assertion).
    Retry(Duration),
    /// Return the error to the caller.
    GiveUp(GiveUpReason),
}

/// How to retry: a plain value the user can change or turn off.
///
/// Defaults: 4 retries; exponential backoff from 500 ms with full jitter for 5xx, transport
/// errors and the concurrency limit; `Reset − Date + 1 s` plus up to 1 s of jitter for 429s;
/// every wait capped at 60 s; give up rather than go past 120 s in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    deadline: Option<Duration>,
    jitter_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            deadline: Some(Duration::from_secs(120)),
            jitter_window: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Never retry.
    pub fn disabled() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// At most `n` retries (so `n + 1` attempts).
    #[must_use]
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// First backoff step (doubled each retry, before jitter).
    #[must_use]
    pub fn with_base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Cap on any single wait.
    #[must_use]
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Overall deadline measured from the first attempt; `None` for none.
    #[must_use]
    pub fn with_deadline(mut self, d: Option<Duration>) -> Self {
        self.deadline = d;
        self
    }

    /// Spread added after a known reset time so that clients do not all return at once.
    #[must_use]
    pub fn with_jitter_window(mut self, d: Duration) -> Self {
        self.jitter_window = d;
        self
    }

    /// The maximum number of retries.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The cap on any single wait.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Decides what to do after failed attempt number `attempt` (0 for the first request, so
    /// `attempt` retries have been made so far).
    ///
    /// ```
    /// use std::time::Duration;
    /// use okta_client::rate_limit::{Decision, RateLimit, ResponseFacts, RetryPolicy};
    /// let facts = ResponseFacts {
    ///     status: Some(429),
    ///     rate_limit: RateLimit { limit: Some(600), remaining: Some(0), reset: Some(1_700_000_030), date: Some(1_700_000_000) },
    ///     random: 0.5,
    ///     ..ResponseFacts::default()
    /// };
    /// // 30 s to the reset + 1 s + half of the 1 s jitter window.
    /// assert_eq!(RetryPolicy::new().decide(0, &facts), Decision::Retry(Duration::from_millis(31_500)));
    /// ```
    pub fn decide(&self, attempt: u32, facts: &ResponseFacts) -> Decision {
        let retryable = match facts.status {
            None => true,
            Some(429) => true,
            Some(s) => is_transient_status(s),
        };
        if !retryable {
            return Decision::GiveUp(GiveUpReason::NotRetryable);
        }
        if attempt >= self.max_retries {
            return Decision::GiveUp(GiveUpReason::RetriesExhausted);
        }
        let r = if facts.random.is_finite() {
            facts.random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let known_wait = match facts.status {
            Some(429) if !facts.rate_limit.is_concurrency_limit() => {
                facts.rate_limit.until_reset().or(facts.retry_after)
            }
            Some(503) => facts.retry_after,
            _ => None,
        };
        let wait = match known_wait {
            // The server said when: wait that long, plus a little spread.
            Some(floor) => floor.saturating_add(self.jitter_window.mul_f64(r)),
            // Full jitter: uniform in [0, min(cap, base · 2^attempt)].
            None => {
                let exp = self
                    .base_delay
                    .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX));
                exp.min(self.max_delay).mul_f64(r)
            }
        };
        let wait = wait.min(self.max_delay);
        if let Some(deadline) = self.deadline
            && facts.elapsed.saturating_add(wait) > deadline
        {
            return Decision::GiveUp(GiveUpReason::DeadlineExceeded);
        }
        Decision::Retry(wait)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn slow_down_only_below_the_threshold_and_before_the_reset() {
        let rl = |remaining, reset| RateLimit {
            limit: Some(100),
            remaining: Some(remaining),
            reset: Some(reset),
            date: None,
        };
        assert_eq!(
            rl(9, 1_030).slow_down(0.1, 1_000),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            rl(0, 1_030).slow_down(0.1, 1_000),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rl(10, 1_030).slow_down(0.1, 1_000),
            None,
            "at the threshold"
        );
        assert_eq!(rl(1, 1_000).slow_down(0.1, 1_000), None, "reset passed");
        let zero = RateLimit {
            limit: Some(0),
            remaining: Some(0),
            reset: Some(2_000),
            date: None,
        };
        assert_eq!(
            zero.slow_down(0.5, 1_000),
            None,
            "the concurrency limit is the retry policy's"
        );
        assert_eq!(RateLimit::default().slow_down(0.5, 1_000), None);
    }

    use super::*;

    fn facts(status: Option<u16>, rl: RateLimit, random: f64) -> ResponseFacts {
        ResponseFacts {
            status,
            rate_limit: rl,
            random,
            ..ResponseFacts::default()
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(1_582_977_600)
        );
        for bad in [
            "",
            "GMT",
            "Tue, 14 Nov 2023 25:13:20 GMT",
            "Tue, 14 Foo 2023 22:13:20 GMT",
            "Tue, 99 Nov 2023 22:13:20 GMT",
            "14 Nov 2023",
            "1:2:3:4 Nov 14 2023",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn repeated_headers_take_minimum_reset() {
        let rl = RateLimit::from_headers([
            ("X-Rate-Limit-Reset", "1700000090"),
            ("X-Rate-Limit-Reset", "1700000030"),
            ("X-Rate-Limit-Limit", "100"),
            ("X-Rate-Limit-Limit", "50"),
            ("X-Rate-Limit-Remaining", "junk"),
        ]);
        assert_eq!(rl.reset, Some(1_700_000_030));
        assert_eq!(rl.limit, Some(50));
        assert_eq!(rl.remaining, None);
    }

    #[test]
    fn concurrency_limit_backs_off_instead_of_reset() {
        let rl = RateLimit {
            limit: Some(0),
            remaining: Some(0),
            reset: Some(1_700_000_050),
            date: Some(1_700_000_000),
        };
        assert!(rl.is_concurrency_limit());
        let p = RetryPolicy::new();
        // attempt 2: base 500 ms · 4 = 2 s, full jitter 0.25 → 500 ms.
        assert_eq!(
            p.decide(2, &facts(Some(429), rl, 0.25)),
            Decision::Retry(Duration::from_millis(500))
        );
    }

    #[test]
    fn give_up_cases() {
        let p = RetryPolicy::new();
        let rl = RateLimit::default();
        assert_eq!(
            p.decide(0, &facts(Some(400), rl, 0.5)),
            Decision::GiveUp(GiveUpReason::NotRetryable)
        );
        assert_eq!(
            p.decide(0, &facts(Some(200), rl, 0.5)),
            Decision::GiveUp(GiveUpReason::NotRetryable)
        );
        assert_eq!(
            p.decide(4, &facts(Some(503), rl, 0.5)),
            Decision::GiveUp(GiveUpReason::RetriesExhausted)
        );
        assert_eq!(
            RetryPolicy::disabled().decide(0, &facts(Some(429), rl, 0.5)),
            Decision::GiveUp(GiveUpReason::RetriesExhausted)
        );
        let late = ResponseFacts {
            elapsed: Duration::from_secs(119),
            ..facts(None, rl, 0.9)
        };
        assert_eq!(
            p.decide(3, &late),
            Decision::GiveUp(GiveUpReason::DeadlineExceeded)
        );
    }

    #[test]
    fn waits_are_capped_and_jitter_is_clamped() {
        let rl = RateLimit {
            reset: Some(1_000),
            date: Some(0),
            ..RateLimit::default()
        };
        let p = RetryPolicy::new()
            .with_max_delay(Duration::from_secs(10))
            .with_deadline(None);
        assert_eq!(
            p.decide(0, &facts(Some(429), rl, 0.0)),
            Decision::Retry(Duration::from_secs(10))
        );
        let p = RetryPolicy::new()
            .with_deadline(None)
            .with_max_retries(u32::MAX);
        for r in [f64::NAN, -1.0, 7.0, f64::INFINITY] {
            match p.decide(30, &facts(Some(502), RateLimit::default(), r)) {
                Decision::Retry(d) => assert!(d <= Duration::from_secs(60)),
                Decision::GiveUp(g) => panic!("{g:?}"),
            }
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(" 120 ", None),
            Some(Duration::from_secs(120))
        );
        let date = parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", date),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", None),
            None
        );
        assert_eq!(parse_retry_after("soon", date), None);
        let facts = ResponseFacts {
            status: Some(503),
            retry_after: Some(Duration::from_secs(5)),
            random: 0.0,
            ..ResponseFacts::default()
        };
        assert_eq!(
            RetryPolicy::new().decide(0, &facts),
            Decision::Retry(Duration::from_secs(5))
        );
    }

    #[test]
    fn reset_in_the_past_waits_one_second() {
        let rl = RateLimit {
            reset: Some(10),
            date: Some(20),
            ..RateLimit::default()
        };
        assert_eq!(rl.until_reset(), Some(Duration::from_secs(1)));
    }
}
