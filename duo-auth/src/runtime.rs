//! The clock, timer and randomness the clients use, injectable so tests need not wait.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// A boxed future that sleeps.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Time and chance as the clients see them. The default, [`TokioRuntime`], uses the system
/// clock, `tokio::time::sleep` and a thread-local random generator; tests substitute one that
/// records sleeps instead of waiting, or a clock that is off by some minutes.
pub trait Runtime: Send + Sync + Debug {
    /// The current time (signs the `Date` header).
    fn now(&self) -> SystemTime;
    /// Waits for `duration`.
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
