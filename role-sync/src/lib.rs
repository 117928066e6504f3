//! Role reconciliation engine.
//!
//! **Not built yet.** This crate will map directory groups to portal roles and plan creates,
//! role changes and revocations, with guards against mass revocation. Until then it exports
//! nothing.
#![forbid(unsafe_code)]
