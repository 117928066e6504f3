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

/// Duo sends aliases as `{"alias1": "x", …}` (and older answers as a list); read both, in order
/// of their keys, skipping anything that is not a string. Read without building a tree.
pub(crate) fn aliases<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Aliases;
    impl<'de> serde::de::Visitor<'de> for Aliases {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("aliases as an object or a list")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, StringOrOther>()? {
                if let StringOrOther::String(v) = v {
                    pairs.push((k, v));
                }
            }
            pairs.sort();
            Ok(pairs.into_iter().map(|(_, v)| v).collect())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<StringOrOther>()? {
                if let StringOrOther::String(v) = v {
                    out.push(v);
                }
            }
            Ok(out)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Aliases)
}

/// A string, or any other JSON value (skipped without being built).
enum StringOrOther {
    String(String),
    Other,
}

impl<'de> Deserialize<'de> for StringOrOther {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StringOrOther;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StringOrOther, E> {
                Ok(StringOrOther::String(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<StringOrOther, E> {
                Ok(StringOrOther::String(v))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<StringOrOther, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringOrOther, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(StringOrOther::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StringOrOther, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(StringOrOther::Other)
            }
        }
        d.deserialize_any(V)
    }
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
