//! Okta org API client.
//!
//! **Not built yet.** This crate will hold the three Okta auth types (API token, scoped OAuth 2.0
//! token with `private_key_jwt`, scoped DPoP token), a token cache, and group and member listing
//! as streams. Until then it exports nothing.
#![forbid(unsafe_code)]
