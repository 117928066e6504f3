//! The result of an accepted Response.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// The format of a [`SamlLogin::name_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameIdFormat {
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress` (Okta: "EmailAddress").
    EmailAddress,
    /// `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`, or no `Format` at all
    /// (Okta's default: the app's username, often the email address).
    Unspecified,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:persistent`: an opaque, stable pseudonym.
    Persistent,
    /// `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`: changes every login; do not
    /// key accounts on it.
    Transient,
    /// Any other format URI, as written.
    Other(String),
}

impl NameIdFormat {
    pub(crate) fn from_uri(uri: Option<&str>) -> Self {
        match uri.map(str::trim) {
            None | Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified") => {
                Self::Unspecified
            }
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress") => Self::EmailAddress,
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent") => Self::Persistent,
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient") => Self::Transient,
            Some(other) => Self::Other(other.to_string()),
        }
    }

    /// The format's URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::EmailAddress => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            Self::Other(s) => s,
        }
    }
}

/// A login the IdP vouched for: every value read from the signed element.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SamlLogin {
    /// The Subject's `NameID`, whole (a comment inside it cannot cut it short).
    pub name_id: String,
    /// Its format.
    pub name_id_format: NameIdFormat,
    /// The `AuthnStatement`'s `SessionIndex` (needed for a later single logout).
    pub session_index: Option<String>,
    /// Attribute statements: attribute `Name` → its values, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The Assertion's Issuer (the IdP's entity ID).
    pub issuer: String,
    /// The request this login answers; `None` for an IdP-initiated login.
    pub in_response_to: Option<String>,
    /// When the user authenticated at the IdP.
    pub authn_instant: Option<SystemTime>,
    /// When the IdP wants the SP's session to end at the latest.
    pub session_not_on_or_after: Option<SystemTime>,
    /// The RelayState posted with the Response. For an IdP-initiated login it comes from the
    /// IdP's configuration (or anyone who posts): never redirect to it without checking it is
    /// one of your own paths.
    pub relay_state: Option<String>,
    /// The Assertion's ID (recorded in the replay cache).
    pub assertion_id: String,
}

impl SamlLogin {
    /// The values of the `groups` attribute (Okta's usual group attribute statement name), or
    /// nothing.
    pub fn groups(&self) -> &[String] {
        self.attribute("groups")
    }

    /// The values of an attribute, or nothing.
    pub fn attribute(&self, name: &str) -> &[String] {
        self.attributes.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}
