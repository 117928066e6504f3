//! Duo request signing.
#![forbid(unsafe_code)]
