//! The Okta → `role_sync::Directory` glue, now `okta_client::directory` (feature `role-sync`);
//! re-exported here so that the examples' imports keep working.

pub use okta_client::directory::*;
