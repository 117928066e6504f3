//! Fixtures for the examples in this crate's documentation; not part of its API.
//!
//! An Okta-shaped IdP's metadata and one Response it signed (made with the workspace's
//! sandbox IdP; the private key was not kept), answering the request
//! `RequestId::from_random([0x2a; 16])` of the SP `https://portal.example.com/saml`.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

/// The IdP's metadata (`http://www.okta.com/exk1fxp7sMaWVNcGy0h8`, one certificate).
pub fn okta_metadata() -> String {
    include_str!("okta-metadata.xml").to_string()
}

/// The signed Response, base64 as it is posted.
pub fn okta_response_base64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(include_str!("okta-response.xml"))
}

/// 2024-05-01T12:00:00Z, when the login started; the Response was issued 20 s later and
/// is valid for 5 minutes.
pub fn login_started() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800)
}

/// The SP of the examples, and [`login_started`].
pub fn service_provider() -> (crate::ServiceProvider, SystemTime) {
    let idp = crate::IdpMetadata::parse(&okta_metadata()).expect("fixture");
    let sp = crate::ServiceProvider::builder(
        "https://portal.example.com/saml",
        "https://portal.example.com/saml/acs",
        idp,
    )
    .build()
    .expect("fixture");
    (sp, login_started())
}
