//! Directory user statuses and what each means for access.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A directory user's lifecycle status, modelled on Okta's.
///
/// The set is open: a status this crate does not know is kept as [`UserStatus::Other`] with the
/// text the directory sent. Parsing ([`FromStr`], serde) ignores ASCII case for the known names,
/// so `"locked_out"` is [`UserStatus::LockedOut`]; build `Other` through parsing so that it never
/// holds a known name. What a status means for access is the [`Policy`](crate::Policy)'s
/// business (see [`Access`]); an unknown status grants nothing unless the policy says otherwise.
///
/// `okta_client::UserStatus` has the same name on purpose: it is the same concept, Okta's user
/// status, with the same spellings. This crate depends on no client (it does no IO), so the
/// two are separate types; convert with `role_sync::UserStatus::from(okta_status.as_str())`.
///
/// ```
/// use role_sync::UserStatus;
///
/// assert_eq!("LOCKED_OUT".parse::<UserStatus>(), Ok(UserStatus::LockedOut));
/// assert_eq!("ARCHIVED".parse::<UserStatus>(), Ok(UserStatus::Other("ARCHIVED".into())));
/// assert_eq!(UserStatus::PasswordExpired.to_string(), "PASSWORD_EXPIRED");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum UserStatus {
    /// `ACTIVE`: a working account.
    Active,
    /// `STAGED`: created but not yet activated.
    Staged,
    /// `PROVISIONED`: activation started, the user has not finished it.
    Provisioned,
    /// `RECOVERY`: a password reset is in progress.
    Recovery,
    /// `LOCKED_OUT`: too many failed sign-ins; transient.
    LockedOut,
    /// `PASSWORD_EXPIRED`: must change the password at next sign-in; transient.
    PasswordExpired,
    /// `SUSPENDED`: access deliberately paused by an administrator.
    Suspended,
    /// `DEPROVISIONED`: deactivated.
    Deprovisioned,
    /// A status this crate does not know, as the directory spelt it.
    Other(String),
}

impl UserStatus {
    /// The known statuses, in declaration order.
    pub const KNOWN: [UserStatus; 8] = [
        UserStatus::Active,
        UserStatus::Staged,
        UserStatus::Provisioned,
        UserStatus::Recovery,
        UserStatus::LockedOut,
        UserStatus::PasswordExpired,
        UserStatus::Suspended,
        UserStatus::Deprovisioned,
    ];

    /// The status as the directory spells it (`ACTIVE`, `LOCKED_OUT`, …).
    pub fn as_str(&self) -> &str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Staged => "STAGED",
            UserStatus::Provisioned => "PROVISIONED",
            UserStatus::Recovery => "RECOVERY",
            UserStatus::LockedOut => "LOCKED_OUT",
            UserStatus::PasswordExpired => "PASSWORD_EXPIRED",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::Deprovisioned => "DEPROVISIONED",
            UserStatus::Other(other) => other,
        }
    }

    /// Position in [`UserStatus::KNOWN`], `None` for [`UserStatus::Other`].
    pub(crate) fn known_index(&self) -> Option<usize> {
        match self {
            UserStatus::Active => Some(0),
            UserStatus::Staged => Some(1),
            UserStatus::Provisioned => Some(2),
            UserStatus::Recovery => Some(3),
            UserStatus::LockedOut => Some(4),
            UserStatus::PasswordExpired => Some(5),
            UserStatus::Suspended => Some(6),
            UserStatus::Deprovisioned => Some(7),
            UserStatus::Other(_) => None,
        }
    }
}

impl From<&str> for UserStatus {
    /// The status a directory spells `s` (case-insensitive); [`UserStatus::Other`] if unknown.
    /// Okta's statuses convert as they are: `UserStatus::from(okta_user.status.as_str())`.
    fn from(s: &str) -> Self {
        let Ok(status) = s.parse();
        status
    }
}

impl FromStr for UserStatus {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(UserStatus::KNOWN
            .into_iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| UserStatus::Other(s.to_owned())))
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UserStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UserStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let Ok(status) = text.parse();
        Ok(status)
    }
}

/// What a directory status means for a member of a mapped group.
///
/// The [`Policy`](crate::Policy) assigns one to every status. By default:
///
/// | status | access |
/// |---|---|
/// | `ACTIVE` | [`Access::Grant`] |
/// | `LOCKED_OUT`, `PASSWORD_EXPIRED`, `RECOVERY` (transient) | [`Access::Keep`] |
/// | `STAGED`, `PROVISIONED`, `SUSPENDED`, `DEPROVISIONED`, any other | [`Access::Revoke`] |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Access {
    /// A full member: gets every role its mapped groups grant, is created if missing.
    Grant,
    /// Keeps the managed roles it already holds that its mapped groups still grant, but gains
    /// no new role and is not created. For transient states such as a lock-out: a user should
    /// not lose access because they mistyped a password, nor gain any while locked out.
    Keep,
    /// Not a member: holds no managed role, so its sync-made grants are revoked.
    Revoke,
}

impl Access {
    pub(crate) fn code(self) -> u8 {
        match self {
            Access::Grant => 1,
            Access::Keep => 2,
            Access::Revoke => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_status_round_trips() {
        for status in UserStatus::KNOWN {
            assert_eq!(status.as_str().parse::<UserStatus>(), Ok(status.clone()));
            assert_eq!(
                status.known_index().map(|i| &UserStatus::KNOWN[i]),
                Some(&status)
            );
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(serde_json::from_str::<UserStatus>(&json).unwrap(), status);
        }
    }

    #[test]
    fn parsing_ignores_ascii_case_for_known_names_only() {
        assert_eq!("active".parse::<UserStatus>(), Ok(UserStatus::Active));
        assert_eq!(
            "Frozen".parse::<UserStatus>(),
            Ok(UserStatus::Other("Frozen".to_owned()))
        );
        assert_eq!(UserStatus::Other("Frozen".into()).to_string(), "Frozen");
    }
}
