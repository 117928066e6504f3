//! The clock, timer and randomness the HTTP client uses, injectable so tests need not wait.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A boxed future that sleeps.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Time and chance as [`OktaClient`](crate::OktaClient) sees them.
///
/// The default, [`TokioRuntime`], uses the system clock, `tokio::time::sleep` and the thread-local
/// random generator. Tests substitute one that records retry waits instead of sleeping.
pub trait Runtime: Send + Sync + Debug {
    /// The current time: `iat` of assertions and proofs, token expiry, retry deadlines.
    fn now(&self) -> SystemTime;
    /// Waits for `duration` (between retries).
    fn sleep(&self, duration: Duration) -> SleepFuture;
    /// A uniformly distributed number in `[0, 1)` (scales retry jitter).
    fn random(&self) -> f64;
}

/// The real clock, tokio's timer and the thread-local random generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn random(&self) -> f64 {
        rand::random::<f64>()
    }
}

/// Unix seconds of a `SystemTime` (0 before the epoch).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
