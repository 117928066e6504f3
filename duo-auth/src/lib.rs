//! Duo two-factor authentication for Rust portals.
//!
//! - [`sign`]: Duo's request signing (canonical requests, HMAC-SHA1/SHA-512 v2 and
//!   HMAC-SHA512 v5), byte-identical to Duo's own clients and free of IO.
//! - [`Credentials`]: an application's integration key, secret key and API hostname.
//! - [`client`] (feature `client`, on by default): the async Auth API client — ping, check,
//!   logo, enroll, enroll_status, preauth, auth (sync and async), auth_status, a push-and-wait
//!   helper, and [`AuthClient::verify`] to diagnose credentials before enabling them — on a
//!   [`transport`] with Duo's retry policy ([`retry`]) that `duo-admin` shares.
//! - [`policy`]: pure helpers — username → Duo username mapping, the same-IP skip, prompt
//!   frequency, exclusions — and [`gate`] (feature `client`), which composes them with the
//!   client into Duo-in-front-of-a-login, failing closed unless told otherwise.
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
mod credentials;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
pub mod gate;
#[cfg(feature = "client")]
mod open_enum;
pub mod policy;
pub mod retry;
#[cfg(feature = "client")]
pub mod runtime;
pub mod sign;
#[cfg(feature = "client")]
pub mod transport;
#[cfg(feature = "client")]
pub mod universal;

#[cfg(feature = "client")]
pub use client::{AuthClient, AuthClientBuilder, Diagnosis};
pub use credentials::{Credentials, CredentialsError, SecretKey};
#[cfg(feature = "client")]
pub use error::{DuoError, Error};
