//! Waiting in tests without making the verdict depend on time: a hand-over point polled until
//! it holds, and a call that must end on its own. Their 30 s and 60 s limits only make a test
//! that is truly stuck fail instead of hanging; a slow machine never changes what they decide.

use std::future::Future;
use std::time::{Duration, Instant};

/// Waits until `done()` holds, looking every few milliseconds; panics, naming `what`, if it still
/// does not after 30 s.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still waiting after 30 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs a call that must fail on its own (within 60 s) and returns its error and how long it
/// took; panics if it succeeds or hangs.
pub async fn ends_in_error<T: std::fmt::Debug, E>(
    call: impl Future<Output = Result<T, E>>,
) -> (E, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(60), call).await {
        Ok(Err(e)) => (e, started.elapsed()),
        Ok(Ok(value)) => panic!("expected an error, got {value:?}"),
        Err(_) => panic!("the call did not end on its own within 60 s"),
    }
}
