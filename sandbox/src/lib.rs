//! A loopback Duo + Okta emulator.
//!
//! **Not built yet.** This crate will serve the Duo Auth API, Duo Admin API, the Duo Universal
//! Prompt and Okta's org API on loopback, verifying requests the way the real services do
//! (signatures, dates, client assertions, DPoP proofs and nonces), with generated organisations,
//! rate limits and fault injection. Until then it exports nothing.
#![forbid(unsafe_code)]
