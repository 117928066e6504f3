//! Support code shared by the workspace's runnable examples and benchmarks.
//!
//! This package is not published: it exists so that `cargo run --example NAME` and
//! `cargo bench` work from the repository root.
#![forbid(unsafe_code)]

// The README's Rust snippets are compiled (and the `no_run`-free ones run) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod config;
pub mod okta_sync;
pub mod portal;

/// Process memory figures from `/proc/self/status` (Linux), for the benchmarks' peak-memory
/// reports. Elsewhere every reading is `None`.
pub mod memory {
    /// A `/proc/self/status` field in KiB (`"VmRSS:"`, `"VmHWM:"`).
    pub fn status_kib(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0); whether it worked.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// The current resident set size, KiB.
    pub fn rss_kib() -> Option<u64> {
        status_kib("VmRSS:")
    }

    /// The peak resident set size since the last reset, KiB.
    pub fn peak_kib() -> Option<u64> {
        status_kib("VmHWM:")
    }

    /// KiB as MiB for a report, or `n/a`.
    pub fn mib(kib: Option<u64>) -> String {
        kib.map_or_else(
            || "n/a".to_owned(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        )
    }
}
