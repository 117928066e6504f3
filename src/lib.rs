//! Support code shared by the workspace's runnable examples and benchmarks.
//!
//! This package is not published: it exists so that `cargo run --example NAME` and
//! `cargo bench` work from the repository root.
#![forbid(unsafe_code)]
