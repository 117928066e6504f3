//! Okta org API client: the sans-IO core.
//!
//! This crate turns Okta credentials and responses into bytes and decisions, with no network
//! and no hidden clock: time is an input (Unix seconds), randomness comes from the OS CSPRNG or
//! a caller-supplied one. [`OktaClient`] is the async shell around it (reqwest + tokio).
//!
//! * [`key`]: RSA (≥ 2048 bits) and EC P-256/P-384 private keys from JWK or PEM, public JWKs,
//!   RFC 7638 thumbprints.
//! * [`jws`], [`assertion`], [`dpop`]: compact JWS, RFC 7523 client assertions, RFC 9449 proofs.
//! * [`credentials`]: [`ApiToken`], [`PrivateKeyJwt`], [`Dpop`] and the token request.
//! * [`domain`]: [`OktaDomain`], the validated org URL and token endpoints.
//! * [`link`]: RFC 8288 `Link` parsing for paging.
//! * [`rate_limit`]: `X-Rate-Limit-*` headers and the retry decision.
//! * [`error`]: the crate's [`Error`] and the classifier for Okta error responses.
//! * [`client`]: [`OktaClient`]: token cache, DPoP nonces, retries and rate limits.
//! * [`groups`], [`model`]: groups and members as streams, typed [`Group`] and [`User`], and a
//!   complete-or-error [`DirectorySnapshot`].
//! * [`access`]: users (search, filter, `lastLogin`), a user's groups, the System Log (a walk
//!   and a poll), app assignments, and the escape hatches [`OktaClient::get`] and
//!   [`OktaClient::pages`] for any other read.
//! * [`runtime`]: the injectable clock, timer and randomness.
//! * `directory` (feature `role-sync`): mapped Okta groups into a `role_sync::Directory`
//!   (group names resolved to ids, ambiguous names refused, statuses mapped).
//!
//! Token cache: one token fetch serves every concurrent caller. A token is replaced ahead of
//! its expiry ([`OktaClientBuilder::refresh_ahead`]); while it is still valid, only the caller
//! that fetches its successor waits, the others keep using it.
//!
//! Errors: [`Error`] says which shape Okta answered in — an Okta error object (with the
//! `WWW-Authenticate` challenge that came with it, e.g. why a token was refused), an OAuth
//! error, a challenge alone, or an empty/unknown body — and keeps the answer's
//! `X-Okta-Request-Id` ([`Error::request_id`]) and rate-limit headers; [`Error::rate_limited`]
//! tells a per-minute 429 from Okta's concurrency limit, also after the retries are exhausted.
//!
//! Tracing: a token fetch runs in an `okta.token` span (`requests`, `nonce_retries`,
//! `token_type`), a listing in `okta.list` (`path`, `pages`, `items`), a snapshot in
//! `okta.directory_snapshot` (`groups`, `members`) with one `okta.group_members` per group
//! (`pages`, `members`); retries are `debug` events, answers `trace` events. No token, client
//! assertion, DPoP proof or key ever goes into a span or an event.
//!
//! ```
//! use okta_client::{Dpop, OktaDomain, PrivateKeyJwt, key::PrivateKey};
//! let domain: OktaDomain = "https://dev-123456.okta.com".parse()?;
//! let client = PrivateKeyJwt::builder("0oa1client", PrivateKey::generate_p256()?)
//!     .scope("okta.groups.read")
//!     .build()?;
//! let dpop = Dpop::builder(client).build()?;
//! let req = dpop.token_request(&domain.org_token_url(), 1_700_000_000, None)?;
//! assert_eq!(req.url(), "https://dev-123456.okta.com/oauth2/v1/token");
//! # Ok::<(), okta_client::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access;
pub mod assertion;
mod b64;
pub mod client;
pub mod credentials;
#[cfg(feature = "role-sync")]
#[cfg_attr(docsrs, doc(cfg(feature = "role-sync")))]
pub mod directory;
pub mod domain;
pub mod dpop;
pub mod error;
pub mod groups;
pub mod jws;
pub mod key;
pub mod link;
pub mod model;
pub mod rate_limit;
pub mod runtime;

pub use access::{AppGroup, AppUser, LogEvent, LogPoll, LogQuery, UserQuery};
pub use client::{Limits, OktaClient, OktaClientBuilder, TokenInfo, TokenType};
pub use credentials::{ApiToken, Credentials, Dpop, PrivateKeyJwt};
pub use domain::OktaDomain;
pub use error::{Error, Result};
pub use groups::{DirectorySnapshot, GroupQuery};
pub use model::{Group, GroupProfile, GroupType, User, UserProfile, UserStatus};
pub use runtime::{Runtime, TokioRuntime};

/// The crate's README, compiled and run as doctests so that its examples keep working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
