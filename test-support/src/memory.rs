//! How much memory one piece of a test costs at its peak, measured in a process of its own.
//!
//! The peak resident set (`VmHWM`) belongs to the whole process, and the test harness runs the
//! tests of a binary side by side: measured in place, a case would be charged for its neighbours.
//! [`peak_growth`] therefore runs the case again in a child process — the same test binary,
//! filtered to the one test — where nothing else runs, and reads there how far the peak rose
//! above the resident set at [`Probe::start`]. Bytes, not time: a slow machine does not change
//! the figure. Linux only (it reads `/proc/self/status`); elsewhere the test says it skipped.

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Set in the child's environment to the name of the test it runs.
pub const CHILD_ENV: &str = "TEST_SUPPORT_MEMORY_CASE";

/// How the child tells the parent its figure, on a line of its own.
const MARKER: &str = "test-support peak growth bytes: ";

/// Marks where the measured part of a case starts.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    baseline: Arc<AtomicU64>,
}

impl Probe {
    /// From here on: the setup before (server, client, runtime) is not charged to the case. Also
    /// resets the kernel's peak to the current resident set where the kernel allows it, so that
    /// memory the setup took and gave back is not counted either.
    pub fn start(&self) {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        if let Some(rss) = status_bytes("VmRSS") {
            self.baseline.store(rss, Ordering::SeqCst);
        }
    }
}

/// A field of `/proc/self/status` (`VmRSS`, `VmHWM`, given there in kB), in bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())?;
    Some(kib * 1024)
}

/// Runs `case` in a child process of this test binary and returns how many bytes its peak
/// resident set rose above the resident set at [`Probe::start`] (at the case's start if it never
/// calls it). `test` is the calling test's name as the harness knows it (the function's name
/// for a test at the top of an integration-test file): the child runs that test alone, and there
/// the same call runs `case` on a current-thread tokio runtime instead of starting another child.
/// A failure in the child (a failed assertion in `case`) fails the calling test with the child's
/// output. `None` in the child itself (its figure goes to the parent), and, after saying so,
/// where `/proc/self/status` cannot be read.
pub fn peak_growth<Fut: Future<Output = ()>>(
    test: &str,
    case: impl FnOnce(Probe) -> Fut,
) -> Option<u64> {
    if status_bytes("VmHWM").is_none() {
        eprintln!("{test}: SKIPPED: no /proc/self/status to read the peak resident set from");
        return None;
    }
    if std::env::var(CHILD_ENV).is_ok_and(|t| t == test) {
        run_here(case);
        // The parent reads the figure; this process's own verdict is its exit status.
        return None;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("this test binary's path: {e}"));
    let output = Command::new(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{test} failed in its child process ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let growth = stdout
        .lines()
        .find_map(|l| l.strip_prefix(MARKER))
        .and_then(|n| n.trim().parse().ok());
    match growth {
        Some(growth) => Some(growth),
        None => panic!(
            "the child process did not run {test} (is that the test's exact name?):\n{stdout}\n{stderr}"
        ),
    }
}

fn run_here<Fut: Future<Output = ()>>(case: impl FnOnce(Probe) -> Fut) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a tokio runtime: {e}"));
    let probe = Probe::default();
    probe.start();
    runtime.block_on(case(probe.clone()));
    let peak = status_bytes("VmHWM").unwrap_or_default();
    let growth = peak.saturating_sub(probe.baseline.load(Ordering::SeqCst));
    println!("\n{MARKER}{growth}");
}
