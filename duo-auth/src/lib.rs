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
//! - [`universal`] (feature `client`): the Universal Prompt (OIDC): state, authorize URL, code
//!   exchange and `id_token` validation.
//!
//! # Design
//!
//! The crate is layered so that each layer can be used, and tested, without the ones above it:
//!
//! 1. **Sans-IO core.** [`sign`] turns a [`sign::Request`] and a date string into the exact
//!    bytes to send and the `Authorization` header; [`policy`] decides from plain data; the
//!    Universal Prompt's [`universal::UniversalConfig`] builds and checks JWTs with time and
//!    randomness passed in. None of them reads a clock, a socket or the environment, so they are
//!    deterministic under test and usable from any HTTP stack.
//! 2. **Transport.** [`transport`] signs, sends with reqwest (rustls), reads Duo's envelope
//!    (`stat`, `response`, `code`, `message`, `message_detail`) into typed values or one
//!    [`Error`], and retries per a [`retry::RetryPolicy`] (Duo's schedule by default: 429 only,
//!    1 s doubling to 32 s, plus jitter). Time, sleeping and randomness go through
//!    [`runtime::Runtime`], which tests replace to check waits exactly.
//! 3. **Clients and flows.** [`AuthClient`] maps each endpoint to typed requests and responses
//!    with open enums (an unknown value from Duo is kept, never a panic); [`gate::Gate`] strings
//!    the policy and the client into the login flow a portal needs.
//!
//! Secrets ([`SecretKey`], the Universal client secret) print as `[redacted]` and are zeroized
//! on drop; the `Authorization` header is redacted from `Debug`; nothing secret is logged.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use duo_auth::client::{PreauthOptions, PreauthResult, UserRef};
//! use duo_auth::{AuthClient, Credentials};
//!
//! let creds = Credentials::new("DIXXXXXXXXXXXXXXXXXX", "<secret key>", "api-xxxxxxxx.duosecurity.com")?;
//! let client = AuthClient::builder(creds).build()?;
//! let preauth = client
//!     .preauth(&UserRef::Username("jane.doe".into()), &PreauthOptions::default())
//!     .await?;
//! if preauth.result == PreauthResult::Allow {
//!     println!("Duo lets jane.doe in without a second factor");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod credentials;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod gate;
#[cfg(feature = "client")]
mod open_enum;
pub mod policy;
pub mod retry;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod runtime;
pub mod sign;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod transport;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod universal;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{AuthClient, AuthClientBuilder, Diagnosis};
pub use credentials::{Credentials, CredentialsError, SecretKey};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use error::{DuoError, Error};

/// The crate's README, compiled and run as doctests so that its examples keep working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
