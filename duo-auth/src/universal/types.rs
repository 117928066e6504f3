//! What the `id_token` says about an authentication.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::SecretKey;
use crate::open_enum::open_enum;

open_enum! {
    /// `auth_result.result`: the decision. Only [`PromptResult::Allow`] lets the person in.
    pub enum PromptResult {
        /// The second factor succeeded.
        Allow = "allow",
        /// The person was refused.
        Deny = "deny",
    }
}

open_enum! {
    /// `auth_result.status`: the detail of the decision.
    pub enum PromptStatus {
        /// Allowed.
        Allow = "allow",
        /// Denied.
        Deny = "deny",
        /// The person reported the request as fraudulent.
        Fraud = "fraud",
    }
}

open_enum! {
    /// `auth_context.result`: the outcome as Duo's authentication log records it.
    pub enum ContextResult {
        /// The authentication succeeded.
        Success = "success",
        /// The authentication was denied.
        Denied = "denied",
        /// The authentication failed.
        Failure = "failure",
        /// An error occurred.
        Error = "error",
        /// Reported as fraud.
        Fraud = "fraud",
    }
}

/// A field that is `None` when missing, `null` or of an unexpected type, so an odd
/// `auth_context` never hides the decision.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// `auth_result`: the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptAuthResult {
    /// `allow` or `deny`.
    pub result: PromptResult,
    /// The detail (`allow`, `deny`, `fraud`, …).
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<PromptStatus>,
    /// A message for people.
    #[serde(default, deserialize_with = "lenient")]
    pub status_msg: Option<String>,
}

/// A place, as Duo geolocates it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Location {
    /// City.
    #[serde(default, deserialize_with = "lenient")]
    pub city: Option<String>,
    /// State or region.
    #[serde(default, deserialize_with = "lenient")]
    pub state: Option<String>,
    /// Country.
    #[serde(default, deserialize_with = "lenient")]
    pub country: Option<String>,
}

/// The device the person signed in from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessDevice {
    /// IP address.
    #[serde(default, deserialize_with = "lenient")]
    pub ip: Option<String>,
    /// Host name.
    #[serde(default, deserialize_with = "lenient")]
    pub hostname: Option<String>,
    /// Where it is.
    #[serde(default, deserialize_with = "lenient")]
    pub location: Option<Location>,
    /// Browser.
    #[serde(default, deserialize_with = "lenient")]
    pub browser: Option<String>,
    /// Browser version.
    #[serde(default, deserialize_with = "lenient")]
    pub browser_version: Option<String>,
    /// Operating system.
    #[serde(default, deserialize_with = "lenient")]
    pub os: Option<String>,
    /// Operating system version.
    #[serde(default, deserialize_with = "lenient")]
    pub os_version: Option<String>,
}

/// The device that approved (a phone, a token).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthDevice {
    /// IP address.
    #[serde(default, deserialize_with = "lenient")]
    pub ip: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// Where it is.
    #[serde(default, deserialize_with = "lenient")]
    pub location: Option<Location>,
}

/// The Duo user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContextUser {
    /// Username.
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// Duo user id.
    #[serde(default, deserialize_with = "lenient")]
    pub key: Option<String>,
}

/// The Duo application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContextApplication {
    /// The application's key (the client id).
    #[serde(default, deserialize_with = "lenient")]
    pub key: Option<String>,
    /// Its name.
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
}

/// `auth_context`: Duo's log entry of the authentication. Every field is optional; unknown
/// fields are kept in [`TokenResult::claims`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthContext {
    /// Transaction id.
    #[serde(default, deserialize_with = "lenient")]
    pub txid: Option<String>,
    /// The factor used (`duo_push`, `passcode`, …).
    #[serde(default, deserialize_with = "lenient")]
    pub factor: Option<String>,
    /// Why it ended so (`user_approved`, `user_marked_fraud`, …).
    #[serde(default, deserialize_with = "lenient")]
    pub reason: Option<String>,
    /// The outcome.
    #[serde(default, deserialize_with = "lenient")]
    pub result: Option<ContextResult>,
    /// The event type (`authentication`).
    #[serde(default, deserialize_with = "lenient")]
    pub event_type: Option<String>,
    /// When (Unix seconds).
    #[serde(default, deserialize_with = "lenient")]
    pub timestamp: Option<f64>,
    /// The user.
    #[serde(default, deserialize_with = "lenient")]
    pub user: Option<ContextUser>,
    /// The device signed in from.
    #[serde(default, deserialize_with = "lenient")]
    pub access_device: Option<AccessDevice>,
    /// The device that approved.
    #[serde(default, deserialize_with = "lenient")]
    pub auth_device: Option<AuthDevice>,
    /// The application.
    #[serde(default, deserialize_with = "lenient")]
    pub application: Option<ContextApplication>,
}

/// A validated code exchange: the decision, its context, and every claim of the `id_token`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenResult {
    /// The decision. Check [`is_allowed`](Self::is_allowed).
    pub auth_result: PromptAuthResult,
    /// Duo's log entry of the authentication.
    pub auth_context: AuthContext,
    /// The user who authenticated (already checked to be the expected one).
    pub preferred_username: String,
    /// Every claim of the `id_token`, as sent.
    pub claims: Map<String, Value>,
    /// The `access_token` of the answer (unset when only an `id_token` was validated).
    pub access_token: Option<SecretKey>,
    /// `expires_in` of the answer.
    pub expires_in: Option<u64>,
    /// `token_type` of the answer.
    pub token_type: Option<String>,
}

impl TokenResult {
    /// Whether Duo allowed the person (`auth_result.result == "allow"`).
    pub fn is_allowed(&self) -> bool {
        self.auth_result.result == PromptResult::Allow
    }
}
