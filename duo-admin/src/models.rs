//! The Admin API's objects, with every documented field. Unknown fields of users and admins are
//! kept in `extra`; the objects nested in every user (phones, groups, tokens, WebAuthn
//! credentials) list their documented fields and ignore others, because keeping unknown fields
//! costs a buffering pass per object (it halved import throughput). Unknown enum values are kept
//! in `Other`, so answers from a newer Duo still parse.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use duo_auth::duo_open_enum as open_enum;

pub use duo_auth::client::Capability;

open_enum! {
    /// A user's status.
    pub enum UserStatus {
        /// Must complete secondary authentication.
        Active = "active",
        /// Bypasses secondary authentication.
        Bypass = "bypass",
        /// Cannot log in.
        Disabled = "disabled",
        /// Locked out after failed attempts.
        LockedOut = "locked out",
        /// Marked for deletion.
        PendingDeletion = "pending deletion",
    }
}

open_enum! {
    /// A phone's platform.
    pub enum Platform {
        /// iPhone, iPad.
        AppleIos = "Apple iOS",
        /// Android.
        GoogleAndroid = "Google Android",
        /// Windows Phone.
        WindowsPhone = "Windows Phone",
        /// A phone Duo knows nothing about (landlines, SMS-only phones).
        Unknown = "Unknown",
        /// A generic smartphone.
        Generic = "Generic Smartphone",
    }
}

/// A group, as listed or as embedded in a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Group id.
    pub group_id: String,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub desc: Option<String>,
    /// Status (`Active`, `Bypass`, `Disabled`).
    #[serde(default)]
    pub status: Option<String>,
    /// Whether Duo Mobile passcodes are enabled for the group (legacy setting).
    #[serde(default)]
    pub mobile_otp_enabled: Option<bool>,
    /// Whether Duo Push is enabled (legacy setting).
    #[serde(default)]
    pub push_enabled: Option<bool>,
    /// Whether SMS is enabled (legacy setting).
    #[serde(default)]
    pub sms_enabled: Option<bool>,
    /// Whether voice is enabled (legacy setting).
    #[serde(default)]
    pub voice_enabled: Option<bool>,
}

/// A phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phone {
    /// Phone id.
    pub phone_id: String,
    /// Number (E.164), may be empty.
    #[serde(default)]
    pub number: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// `Mobile`, `Landline`, …
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `Apple iOS`, `Google Android`, …
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Whether Duo Mobile is activated.
    #[serde(default)]
    pub activated: Option<bool>,
    /// What it can do.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The users of the phone (on `/admin/v1/phones`).
    #[serde(default)]
    pub users: Vec<Value>,
    /// Extension.
    #[serde(default)]
    pub extension: Option<String>,
    /// Model (`Apple iPhone 15`, …).
    #[serde(default)]
    pub model: Option<String>,
    /// Whether SMS passcodes have been sent.
    #[serde(default)]
    pub sms_passcodes_sent: Option<bool>,
    /// When Duo Mobile last contacted Duo.
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Disk encryption (`Encrypted`, `Unencrypted`, `Unknown`).
    #[serde(default)]
    pub encrypted: Option<String>,
    /// Fingerprint/biometrics (`Configured`, …).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Screen lock (`Locked`, …).
    #[serde(default)]
    pub screenlock: Option<String>,
    /// Tampering (`Not tampered`, `Tampered`, …).
    #[serde(default)]
    pub tampered: Option<String>,
}

/// A hardware or software token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Token id.
    pub token_id: String,
    /// Serial.
    #[serde(default)]
    pub serial: Option<String>,
    /// Type (`h6`, `h8`, `yk`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A WebAuthn credential (security key or platform authenticator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebAuthnCredential {
    /// The credential's key.
    #[serde(default)]
    pub webauthnkey: Option<String>,
    /// Its name.
    #[serde(default)]
    pub credential_name: Option<String>,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// When it was added (seconds since the epoch).
    #[serde(default)]
    pub date_added: Option<u64>,
}

/// A Duo user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// Full name.
    #[serde(default)]
    pub realname: Option<String>,
    /// Given name.
    #[serde(default)]
    pub firstname: Option<String>,
    /// Family name.
    #[serde(default)]
    pub lastname: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Status.
    pub status: UserStatus,
    /// Aliases (`alias1`…`alias4`, Duo's object form).
    #[serde(default, deserialize_with = "aliases")]
    pub aliases: Vec<String>,
    /// Whether the user has an authenticator.
    #[serde(default)]
    pub is_enrolled: bool,
    /// Last login (seconds since the epoch).
    #[serde(default)]
    pub last_login: Option<u64>,
    /// Created (seconds since the epoch).
    #[serde(default)]
    pub created: Option<u64>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Phones.
    #[serde(default)]
    pub phones: Vec<Phone>,
    /// Tokens.
    #[serde(default)]
    pub tokens: Vec<Token>,
    /// U2F tokens (legacy).
    #[serde(default)]
    pub u2ftokens: Vec<Value>,
    /// WebAuthn credentials.
    #[serde(default)]
    pub webauthncredentials: Vec<WebAuthnCredential>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// The id in the directory the user was synced from.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Last directory sync (seconds since the epoch).
    #[serde(default)]
    pub last_directory_sync: Option<u64>,
    /// Desktop authenticators (Duo Desktop), as Duo sends them.
    #[serde(default)]
    pub desktoptokens: Vec<Value>,
}

/// Duo sends aliases as `{"alias1": "x", …}` (and older answers as a list); read both, in order.
fn aliases<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => {
            let mut pairs: Vec<(String, String)> = map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect();
            pairs.sort();
            pairs.into_iter().map(|(_, v)| v).collect()
        }
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    })
}

/// A member of a group (`/admin/v2/groups/{id}/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
}

/// A Duo administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admin {
    /// Admin id.
    pub admin_id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Role (`Owner`, `Administrator`, `Help Desk`, …).
    #[serde(default)]
    pub role: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<String>,
    /// Last login (seconds since the epoch).
    #[serde(default)]
    pub last_login: Option<u64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NewUser {
    /// Username (required).
    pub username: String,
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realname: Option<String>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    /// `active` (default), `bypass` or `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}
