//! Typed Okta groups and users, as the Groups API returns them.
//!
//! Enumerations are open (an unknown `status` or `type` is kept as [`UserStatus::Other`] /
//! [`GroupType::Other`]), nullable profile fields are `Option`s, and profile attributes this crate
//! does not name (custom attributes of an extensible profile) are kept in `extra`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this crate does not know yet, as sent.
            Other(String),
        }

        impl $name {
            /// Okta's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => $name::$variant,)*
                    _ => $name::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// A user's lifecycle status (an open set).
    ///
    /// The same concept, and so the same name, as `role_sync::UserStatus` (which depends on no
    /// client): `role_sync::UserStatus::from(status.as_str())` converts.
    UserStatus {
        /// `ACTIVE`.
        Active = "ACTIVE",
        /// `STAGED`: created, not activated.
        Staged = "STAGED",
        /// `PROVISIONED`: activated, credentials not set yet.
        Provisioned = "PROVISIONED",
        /// `RECOVERY`: password reset in progress.
        Recovery = "RECOVERY",
        /// `LOCKED_OUT`.
        LockedOut = "LOCKED_OUT",
        /// `PASSWORD_EXPIRED`.
        PasswordExpired = "PASSWORD_EXPIRED",
        /// `SUSPENDED`.
        Suspended = "SUSPENDED",
        /// `DEPROVISIONED`: deactivated.
        Deprovisioned = "DEPROVISIONED",
    }
);

open_enum!(
    /// A group's type (an open set).
    GroupType {
        /// `OKTA_GROUP`: mastered in Okta.
        OktaGroup = "OKTA_GROUP",
        /// `APP_GROUP`: imported from an app (AD, LDAP, …).
        AppGroup = "APP_GROUP",
        /// `BUILT_IN`: Okta's own (`Everyone`).
        BuiltIn = "BUILT_IN",
    }
);

/// An Okta group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Group {
    /// `00g…`.
    pub id: String,
    /// `type`.
    #[serde(rename = "type")]
    pub group_type: GroupType,
    /// `profile`.
    pub profile: GroupProfile,
    /// Every other top-level member (`created`, `lastUpdated`, `_links`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Group {
    /// `_embedded.stats.usersCount`: the number of members, present when the group was listed
    /// with `expand=stats` ([`GroupQuery::expand_stats`](crate::GroupQuery::expand_stats)).
    /// `None` when it is absent or not a non-negative integer: `_embedded` is kept in `extra` as
    /// sent, so a shape this crate does not expect never fails the decoding of the group.
    ///
    /// ```
    /// let g: okta_client::Group = serde_json::from_str(
    ///     r#"{"id":"00g1","type":"OKTA_GROUP","profile":{"name":"Sales"},
    ///         "_embedded":{"stats":{"usersCount":42,"appsCount":3}}}"#,
    /// )?;
    /// assert_eq!(g.users_count(), Some(42));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn users_count(&self) -> Option<u64> {
        self.extra
            .get("_embedded")?
            .get("stats")?
            .get("usersCount")?
            .as_u64()
    }
}

/// A group's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupProfile {
    /// `name`.
    pub name: String,
    /// `description` (nullable).
    #[serde(default)]
    pub description: Option<String>,
    /// Other profile attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An Okta user, as a group member listing returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// `00u…`.
    pub id: String,
    /// Lifecycle status.
    pub status: UserStatus,
    /// `profile`.
    pub profile: UserProfile,
    /// Every other top-level member (`created`, `lastLogin`, `credentials`, `_links`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's profile: the base attributes this crate names, and the rest in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserProfile {
    /// `login` (unique in the org).
    pub login: String,
    /// `email` (nullable in custom user types).
    #[serde(default)]
    pub email: Option<String>,
    /// `firstName` (nullable).
    #[serde(default, rename = "firstName")]
    pub first_name: Option<String>,
    /// `lastName` (nullable).
    #[serde(default, rename = "lastName")]
    pub last_name: Option<String>,
    /// Every other profile attribute, including custom ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_and_nullable_fields() {
        let u: User = serde_json::from_value(serde_json::json!({
            "id": "00u1", "status": "SOMETHING_NEW", "lastLogin": null,
            "profile": {"login": "a@x", "email": null, "firstName": "A", "lastName": null,
                        "costCenter": 7}
        }))
        .unwrap();
        assert_eq!(u.status, UserStatus::Other("SOMETHING_NEW".into()));
        assert_eq!(u.profile.last_name, None);
        assert_eq!(u.profile.email, None);
        assert_eq!(u.profile.extra["costCenter"], 7);
        assert!(u.extra.contains_key("lastLogin"));
        let back = serde_json::to_value(&u).unwrap();
        assert_eq!(back["status"], "SOMETHING_NEW");
        assert_eq!(back["profile"]["costCenter"], 7);

        let g: Group = serde_json::from_value(serde_json::json!({
            "id": "00g1", "type": "BUILT_IN", "profile": {"name": "Everyone", "description": null}
        }))
        .unwrap();
        assert_eq!(g.group_type, GroupType::BuiltIn);
        assert_eq!(g.profile.description, None);
        assert_eq!(g.users_count(), None, "not expanded");
        assert_eq!(
            UserStatus::from("LOCKED_OUT".to_string()),
            UserStatus::LockedOut
        );
    }

    #[test]
    fn users_count_reads_embedded_stats_and_tolerates_any_shape() {
        let group = |embedded: Value| -> Group {
            let mut g = serde_json::json!({
                "id": "00g1", "type": "OKTA_GROUP", "profile": {"name": "Sales"},
            });
            if !embedded.is_null() {
                g["_embedded"] = embedded;
            }
            serde_json::from_value(g).expect("a group decodes whatever `_embedded` holds")
        };
        let full = serde_json::json!({"stats": {
            "usersCount": 1234, "appsCount": 2, "groupPushMappingsCount": 0,
            "hasAdminPrivilege": false, "_links": {"self": {"href": "https://x/api/v1/groups/00g1/stats"}},
        }});
        assert_eq!(group(full.clone()).users_count(), Some(1234));
        assert_eq!(
            group(serde_json::json!({"stats": {"usersCount": 0}})).users_count(),
            Some(0)
        );
        for odd in [
            Value::Null,
            serde_json::json!({}),
            serde_json::json!([]),
            serde_json::json!("stats"),
            serde_json::json!({"stats": null}),
            serde_json::json!({"stats": []}),
            serde_json::json!({"stats": {"appsCount": 3}}),
            serde_json::json!({"stats": {"usersCount": "12"}}),
            serde_json::json!({"stats": {"usersCount": -1}}),
            serde_json::json!({"stats": {"usersCount": 1.5}}),
            serde_json::json!({"app": {"id": "0oa1"}}),
        ] {
            assert_eq!(group(odd.clone()).users_count(), None, "{odd}");
        }
        // `_embedded` is kept as sent, so it round-trips.
        assert_eq!(
            serde_json::to_value(group(full.clone())).unwrap()["_embedded"],
            full
        );
    }
}
