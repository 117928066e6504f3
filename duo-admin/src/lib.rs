//! Duo Admin API client.
//!
//! **Not built yet.** This crate will hold the Admin API client (users, phones, groups, admins)
//! with transparent `limit`/`offset` paging as streams and rate-limit backoff, built on
//! `duo-auth`'s v5 signer, and an importer that matches existing Duo users and their
//! authenticators to portal users. Until then it exports nothing.
#![forbid(unsafe_code)]
