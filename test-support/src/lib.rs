//! Test-only helpers shared by the workspace's crates.
//!
//! Differential tests run the official Duo and Okta clients (PyPI `duo-client`, `duo-universal`,
//! `okta`, `jwcrypto`) and, for SAML, `signxml` as peers. They live in a virtualenv that `.ci/run` creates at
//! `target/peers/venv`; `PEERS_PYTHON` may name another interpreter. With `REQUIRE_PEERS=1` (as
//! in CI) a missing peer is a test failure; without it the test prints that it skipped and how to
//! install the peers, so `cargo test --workspace` still passes on a bare machine.
//!
//! [`hostile`] is a raw TCP server that misbehaves on purpose, for the clients' bounds;
//! [`memory`] measures what a case costs at its peak, in a process of its own; [`relay`] keeps a
//! copy of what a client and the sandbox said to each other, and [`secrets`] looks for the
//! credentials found there in everything logged and formatted; [`wait`] waits on hand-over
//! points without letting time decide a verdict.
#![forbid(unsafe_code)]

pub mod hostile;
pub mod memory;
pub mod relay;
pub mod secrets;
pub mod wait;

use std::path::PathBuf;
use std::process::Command;

/// The command that installs the peers, printed when a peer is missing.
pub const INSTALL_HINT: &str = "install the peers with `bash .ci/install-peers` \
     (creates target/peers/venv with duo-client, duo-universal, okta, jwcrypto, signxml), \
     or point PEERS_PYTHON at a Python that has them";

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // CARGO_MANIFEST_DIR of this crate is <root>/test-support.
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Whether missing peers must fail the test (`REQUIRE_PEERS=1`, set by CI).
pub fn peers_required() -> bool {
    std::env::var("REQUIRE_PEERS").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A Python interpreter that can import every module in `modules`, or `None`.
///
/// When `None` is returned the caller should return early from its test; this function has
/// already printed the skip message. With `REQUIRE_PEERS=1` it panics instead, failing the test.
pub fn peer_python(test: &str, modules: &[&str]) -> Option<PathBuf> {
    let candidate = match std::env::var_os("PEERS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("target/peers/venv/bin/python"),
    };
    let probe = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = Command::new(&candidate)
        .args(["-c", &probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    let msg = format!(
        "{test}: SKIPPED: Python peer modules {modules:?} not found at {}; {INSTALL_HINT}",
        candidate.display()
    );
    if peers_required() {
        panic!("{msg} (REQUIRE_PEERS=1 makes this a failure)");
    }
    eprintln!("{msg}");
    None
}

/// Runs a peer script with `python`, writing `input` to its standard input, and returns its
/// output once it exits. Panics (failing the test) if the interpreter cannot be started.
/// Blocking: from async tests call it through `spawn_blocking` so servers keep running.
pub fn run_peer(
    python: &std::path::Path,
    script: &std::path::Path,
    input: &[u8],
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} {}: {e}",
                python.display(),
                script.display()
            )
        });
    if let Some(mut stdin) = child.stdin.take() {
        // A peer that exits early closes its stdin; its output then tells what went wrong.
        let _ = stdin.write_all(input);
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {}: {e}", script.display()))
}

/// [`run_peer`] for the peers that speak JSON: `input` on standard input, the JSON the script
/// prints returned. Panics (failing the test or bench) with the script's standard error if it
/// fails or prints something else. Blocking, like [`run_peer`]: a multi-threaded runtime's
/// workers go on serving meanwhile.
pub fn run_peer_json(
    python: &std::path::Path,
    script: &std::path::Path,
    input: &serde_json::Value,
) -> serde_json::Value {
    let out = run_peer(python, script, input.to_string().as_bytes());
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}): {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A JSON peer's `"seconds"` (one timed run each) as durations.
pub fn peer_seconds(output: &serde_json::Value) -> Vec<std::time::Duration> {
    output["seconds"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"seconds\" in the peer's output: {output}"))
        .iter()
        .map(|s| std::time::Duration::from_secs_f64(s.as_f64().expect("seconds")))
        .collect()
}
