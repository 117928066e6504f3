//! A sans-IO SAML 2.0 Service Provider.
//!
//! placeholder docs
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
pub mod doc_support;
mod error;
mod login;
mod metadata;
mod request;
mod sp;
mod store;
mod time;
mod verify;
mod xml;

pub use error::SamlError;
pub use login::{NameIdFormat, SamlLogin};
pub use metadata::{IdpMetadata, SigningCertificate};
pub use request::{LoginRedirect, RequestId};
pub use sp::{
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_LIFETIME, MAX_CLOCK_SKEW,
    ServiceProvider, ServiceProviderBuilder,
};
pub use store::{PendingLogin, PendingLogins, PendingStore, ReplayCache, ReplayStore};
