//! When to retry a Duo request, as a pure value.
//!
//! Duo's own clients retry only `429 Too Many Requests`, waiting 1, 2, 4, 8, 16 and 32 seconds,
//! each plus a uniform jitter below one second — seven requests in all, after which the 429
//! reaches the caller. Duo sends no rate-limit headers, so there is nothing better to honour.
//! [`RetryPolicy::default`] is exactly that schedule; it can be tuned, extended to 5xx answers
//! and network failures, or switched off. The decision is a pure function of the attempt
//! number, what happened and a random number, so tests need no clock.

use std::time::Duration;

/// What happened to one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attempt {
    /// The server answered with this HTTP status.
    Status(u16),
    /// No usable answer: connection refused or reset, timeout, truncated body.
    Transport,
}

/// How to retry rate-limited (and optionally failed) requests.
///
/// ```
/// use std::time::Duration;
/// use duo_auth::retry::{Attempt, RetryPolicy};
/// let policy = RetryPolicy::default();
/// // The first retry of a 429 waits 1 s plus jitter; a 400 is never retried.
/// assert_eq!(policy.delay(0, Attempt::Status(429), 0.5), Some(Duration::from_millis(1500)));
/// assert_eq!(policy.delay(0, Attempt::Status(400), 0.5), None);
/// // After six retries the 429 reaches the caller.
/// assert_eq!(policy.delay(6, Attempt::Status(429), 0.0), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// How many times to retry after the first attempt (Duo's clients: 6).
    pub max_retries: u32,
    /// The first wait (Duo's clients: 1 s).
    pub initial_delay: Duration,
    /// Each wait is the previous one times this (Duo's clients: 2).
    pub factor: u32,
    /// No base wait exceeds this (Duo's clients: 32 s).
    pub max_delay: Duration,
    /// A uniform random amount in `[0, jitter)` added to every wait (Duo's clients: 1 s).
    pub jitter: Duration,
    /// Also retry `500`, `502`, `503` and `504` answers.
    pub retry_server_errors: bool,
    /// Also retry transport failures (refused or reset connections, timeouts, cut-off bodies).
    /// Off by default: a request that timed out may have been acted on (an `auth` may have
    /// pushed), so repeating it is the caller's choice.
    pub retry_transport_errors: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 6,
            initial_delay: Duration::from_secs(1),
            factor: 2,
            max_delay: Duration::from_secs(32),
            jitter: Duration::from_secs(1),
            retry_server_errors: false,
            retry_transport_errors: false,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0-based) after `what`, or `None` to give up.
    /// `random` is a number in `[0, 1)` that scales the jitter.
    pub fn delay(&self, retry: u32, what: Attempt, random: f64) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        let retryable = match what {
            Attempt::Status(429) => true,
            Attempt::Status(500 | 502 | 503 | 504) => self.retry_server_errors,
            Attempt::Status(_) => false,
            Attempt::Transport => self.retry_transport_errors,
        };
        if !retryable {
            return None;
        }
        let base = self
            .initial_delay
            .checked_mul(self.factor.checked_pow(retry).unwrap_or(u32::MAX))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Some(base + self.jitter.mul_f64(random))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duo_schedule() {
        let p = RetryPolicy::default();
        let waits: Vec<Option<Duration>> = (0..8)
            .map(|i| p.delay(i, Attempt::Status(429), 0.0))
            .collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(
            waits,
            [
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(32),
                None,
                None
            ]
        );
        assert_eq!(
            p.delay(5, Attempt::Status(429), 0.999),
            Some(Duration::from_millis(32_999))
        );
        assert_eq!(p.delay(0, Attempt::Status(503), 0.0), None);
        assert_eq!(p.delay(0, Attempt::Transport, 0.0), None);
        assert_eq!(
            RetryPolicy::none().delay(0, Attempt::Status(429), 0.0),
            None
        );
    }

    #[test]
    fn extended_and_capped() {
        let p = RetryPolicy {
            retry_server_errors: true,
            retry_transport_errors: true,
            max_retries: 40,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.delay(0, Attempt::Status(503), 0.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.delay(0, Attempt::Transport, 0.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(p.delay(0, Attempt::Status(501), 0.0), None);
        // Huge exponents and odd random values neither overflow nor panic.
        assert_eq!(
            p.delay(39, Attempt::Status(429), f64::NAN),
            Some(Duration::from_secs(32))
        );
        assert_eq!(
            p.delay(39, Attempt::Status(429), 7.0),
            Some(Duration::from_secs(33))
        );
    }
}
