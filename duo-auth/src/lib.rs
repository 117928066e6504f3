//! Duo two-factor authentication for Rust portals.
//!
//! This crate holds the foundation the other Duo pieces rest on: [`sign`], Duo's request
//! signing (canonical requests, HMAC-SHA1/SHA-512 v2 and HMAC-SHA512 v5), byte-identical to
//! Duo's own clients and free of IO, and [`Credentials`] for an application's integration key,
//! secret key and API hostname. The Auth API client, the Universal Prompt and the 2FA policy
//! helpers build on it.
#![forbid(unsafe_code)]

mod credentials;
pub mod sign;

pub use credentials::{Credentials, CredentialsError, SecretKey};
