//! The Admin API's objects, with every documented field. Unknown fields of users and admins are
//! kept in `extra`; the objects nested in every user (phones, groups, tokens, WebAuthn
//! credentials) list their documented fields and ignore others, because keeping unknown fields
//! costs a buffering pass per object (it halved import throughput). Unknown enum values are kept
//! in `Other`, so answers from a newer Duo still parse.

use std::borrow::Cow;

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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
/// of their keys, skipping anything that is not a string.
pub(crate) fn aliases<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut list = AliasList::deserialize(d)?.0;
    // Stable: a list (no keys) keeps its own order.
    list.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(list.into_iter().map(|(_, v)| v.into_owned()).collect())
}

/// Visitor methods that take null, booleans and numbers as `$none` (skipped without error).
macro_rules! scalars_as {
    ($value:ty, $none:expr) => {
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_none<E>(self) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok($none)
        }
    };
}

/// A user's aliases as Duo sends them, each with its key (none in the list form), borrowed from
/// the page where they can be; values that are not strings are skipped, and so is anything but
/// an object or a list. Read without building a tree. (The importer reads them this way;
/// [`aliases`] orders and owns them for [`User`].)
#[derive(Debug, Default)]
pub(crate) struct AliasList<'a>(pub(crate) Vec<(Option<Cow<'a, str>>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for AliasList<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AliasList<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("aliases as an object or a list")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AliasList<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((MaybeText(k), MaybeText(v))) = map.next_entry()? {
                    if let Some(v) = v {
                        out.push((k, v));
                    }
                }
                Ok(AliasList(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AliasList<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(MaybeText(v)) = seq.next_element()? {
                    out.extend(v.map(|v| (None, v)));
                }
                Ok(AliasList(out))
            }
            fn visit_str<E>(self, _: &str) -> Result<AliasList<'de>, E> {
                Ok(AliasList::default())
            }
            scalars_as!(AliasList<'de>, AliasList::default());
        }
        d.deserialize_any(V)
    }
}

/// A string — borrowed where it can be — or any other JSON value, skipped without being built.
struct MaybeText<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MaybeText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<MaybeText<'de>, E> {
                Ok(MaybeText(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E>(self, s: &str) -> Result<MaybeText<'de>, E> {
                Ok(MaybeText(Some(Cow::Owned(s.to_owned()))))
            }
            fn visit_string<E>(self, s: String) -> Result<MaybeText<'de>, E> {
                Ok(MaybeText(Some(Cow::Owned(s))))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<MaybeText<'de>, A::Error> {
                serde::de::IgnoredAny
                    .visit_map(map)
                    .map(|_| MaybeText(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<MaybeText<'de>, A::Error> {
                serde::de::IgnoredAny
                    .visit_seq(seq)
                    .map(|_| MaybeText(None))
            }
            scalars_as!(MaybeText<'de>, MaybeText(None));
        }
        d.deserialize_any(V)
    }
}

/// A member of a group (`/admin/v2/groups/{id}/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupMember {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
}

/// A Duo administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
#[non_exhaustive]
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

impl NewUser {
    /// A user to create with this username and nothing else set.
    ///
    /// ```
    /// let user = duo_admin::NewUser::new("jane.doe").email("jane@corp.example");
    /// assert_eq!(user.username, "jane.doe");
    /// ```
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            ..Self::default()
        }
    }

    /// Builder: the full name.
    #[must_use]
    pub fn realname(mut self, realname: impl Into<String>) -> Self {
        self.realname = Some(realname.into());
        self
    }

    /// Builder: the email address.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Builder: the given name.
    #[must_use]
    pub fn firstname(mut self, firstname: impl Into<String>) -> Self {
        self.firstname = Some(firstname.into());
        self
    }

    /// Builder: the family name.
    #[must_use]
    pub fn lastname(mut self, lastname: impl Into<String>) -> Self {
        self.lastname = Some(lastname.into());
        self
    }

    /// Builder: `active`, `bypass` or `disabled`.
    #[must_use]
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }
}

/// The account summary (`/admin/v1/info/summary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InfoSummary {
    /// Administrators.
    #[serde(default)]
    pub admin_count: Option<u64>,
    /// Applications (integrations).
    #[serde(default)]
    pub integration_count: Option<u64>,
    /// Telephony credits left.
    #[serde(default)]
    pub telephony_credits_remaining: Option<u64>,
    /// Users, those pending deletion excepted.
    #[serde(default)]
    pub user_count: Option<u64>,
    /// Users pending deletion.
    #[serde(default)]
    pub user_pending_deletion_count: Option<u64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's bypass code, as listed (Duo never lists the code itself, only its metadata).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BypassCode {
    /// Bypass code id.
    pub bypass_code_id: String,
    /// The administrator who created it (empty when made through the API).
    #[serde(default)]
    pub admin_email: Option<String>,
    /// Created (seconds since the epoch).
    #[serde(default)]
    pub created: Option<u64>,
    /// When it expires (seconds since the epoch); `None` for never.
    #[serde(default)]
    pub expiration: Option<u64>,
    /// Uses left; `0` (or absent) for unlimited.
    #[serde(default)]
    pub reuse_count: Option<u64>,
    /// Its user (`user_id`, `username`, …), as Duo sends it.
    #[serde(default)]
    pub user: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Duo Desktop authenticator (the device-health app registered as an authenticator).
///
/// Every field but the key is optional: Duo's documentation of this object is young, and what
/// it does not promise is kept in `extra` rather than refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DesktopAuthenticator {
    /// The authenticator's key (`DA…`).
    pub dakey: String,
    /// The device's name.
    #[serde(default)]
    pub device_name: Option<String>,
    /// `macOS`, `Windows`, …
    #[serde(default)]
    pub os_family: Option<String>,
    /// Its user (`user_id`, `username`, …), as Duo sends it.
    #[serde(default)]
    pub user: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DesktopAuthenticator {
    /// The `user_id` of its user, when Duo names one.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref()?.get("user_id")?.as_str()
    }
}

impl BypassCode {
    /// The `user_id` of its user, when Duo names one.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref()?.get("user_id")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aliases_of(v: serde_json::Value) -> Vec<String> {
        let user = serde_json::json!({"user_id": "DU1", "username": "u", "status": "active", "aliases": v});
        serde_json::from_value::<User>(user.clone())
            .expect("from a tree")
            .aliases
            .into_iter()
            .zip(
                serde_json::from_str::<User>(&user.to_string())
                    .expect("from text")
                    .aliases,
            )
            .map(|(a, b)| {
                assert_eq!(a, b, "a tree and text read alike");
                a
            })
            .collect()
    }

    #[test]
    fn aliases_in_key_order_strings_only_either_form() {
        use serde_json::json;
        assert_eq!(
            aliases_of(json!({"alias3": "c", "alias1": "a\"q", "alias2": null, "alias4": 7})),
            ["a\"q", "c"]
        );
        assert_eq!(
            aliases_of(json!(["x", 1, {"k": "v"}, ["y"], "é"])),
            ["x", "é"]
        );
        for nothing in [
            json!(null),
            json!({}),
            json!([]),
            json!("x"),
            json!(3),
            json!(true),
        ] {
            assert!(aliases_of(nothing).is_empty());
        }
    }
}
