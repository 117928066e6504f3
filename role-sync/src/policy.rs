//! The sync policy: who counts as a member, what happens to unmatched users, and the guards.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Access, UserStatus};

/// What the sync does with managed portal users who are in no mapped group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unmatched {
    /// **The default: their sync-made grants are revoked**, as ThreatLocker's Okta Workforce
    /// Identity Cloud integration documents it ("admins who are not members of any synced Okta
    /// groups will have their portal permissions revoked"). This
    /// covers users absent from the directory snapshot and users present (with a status that
    /// counts) but in no mapped group. Administrators who are in no synced group lose the
    /// permissions the sync gave them. Manual grants are never touched.
    #[default]
    Revoke,
    /// Leave them alone (reported as [`Warning::UnmatchedKept`](crate::Warning::UnmatchedKept)).
    /// Users the directory shows with a status that does not count (for example `SUSPENDED`) are
    /// still revoked; users who are still in some mapped group still lose the roles no group
    /// grants them any more.
    Keep,
}

impl Unmatched {
    pub(crate) fn code(self) -> u8 {
        match self {
            Unmatched::Revoke => 1,
            Unmatched::Keep => 2,
        }
    }
}

/// How duplicate logins (two users whose logins fold to the same key) are handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictMode {
    /// The users concerned are left untouched and listed in
    /// [`Plan::conflicts`](crate::Plan::conflicts); the rest of the plan goes ahead.
    #[default]
    BlockUsers,
    /// Any conflict refuses the whole plan ([`Violation::Conflicts`](crate::Violation::Conflicts)).
    BlockAll,
}

impl ConflictMode {
    pub(crate) fn code(self) -> u8 {
        match self {
            ConflictMode::BlockUsers => 1,
            ConflictMode::BlockAll => 2,
        }
    }
}

/// A guard that can refuse a plan, named to override it with [`Policy::allow`].
///
/// Protected accounts have no entry here: they are never revoked or downgraded, and that cannot
/// be overridden (remove the protection instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Guard {
    /// A mapped group whose roles managed users hold came back empty or missing.
    EmptySource,
    /// Too many managed users would lose access.
    Revocations,
    /// Too many creates and promotions at once.
    Escalations,
    /// A role would be left with fewer holders than required.
    MinimumHolders,
    /// Duplicate logins, when [`ConflictMode::BlockAll`] is set.
    Conflicts,
}

impl Guard {
    pub(crate) fn code(self) -> u8 {
        match self {
            Guard::EmptySource => 1,
            Guard::Revocations => 2,
            Guard::Escalations => 3,
            Guard::MinimumHolders => 4,
            Guard::Conflicts => 5,
        }
    }
}

/// How the sync decides, and the guards that make it refuse.
///
/// Defaults (also what a serialized policy with missing fields gets):
///
/// - status access as in [`Access`]: `ACTIVE` grants; `LOCKED_OUT`, `PASSWORD_EXPIRED` and
///   `RECOVERY` keep; anything else revokes;
/// - [`Unmatched::Revoke`]: **managed users in no mapped group lose their sync-made grants**;
/// - revocation threshold: refuse when more than **100** users or more than **10 %** of the
///   managed users would lose access — whichever is hit first (small portals hit the percentage
///   quickly: raise it with [`Policy::max_revocations`]);
/// - escalation threshold: refuse when creates plus promotions exceed **100** (a first sync of a
///   large organisation needs this raised, or [`Guard::Escalations`] allowed, on purpose);
/// - no minimum holders;
/// - [`ConflictMode::BlockUsers`];
/// - no guard overridden.
///
/// ```
/// use role_sync::{Access, Guard, Policy, Unmatched, UserStatus};
///
/// let policy = Policy::default()
///     .max_revocations(25, 5)
///     .max_escalations(50)
///     .min_holders("admin", 2)
///     .access(UserStatus::Staged, Access::Grant)
///     .unmatched(Unmatched::Keep)
///     .allow(Guard::Escalations); // this run only: the first sync of a new portal
/// assert_eq!(policy.access_of(&UserStatus::Staged), Access::Grant);
/// assert_eq!(policy.access_of(&UserStatus::Suspended), Access::Revoke);
/// ```
///
/// Serialized form (JSON shown; every field optional, `access` amends the default table):
///
/// ```json
/// { "access": {"STAGED": "grant"}, "unmatched": "revoke", "max_revoked_users": 25,
///   "max_revoked_percent": 5, "max_escalations": 50, "min_holders": {"admin": 2},
///   "conflicts": "block_users", "allow": ["escalations"] }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    #[serde(deserialize_with = "merge_access")]
    access: BTreeMap<UserStatus, Access>,
    unmatched: Unmatched,
    max_revoked_users: usize,
    #[serde(deserialize_with = "percent")]
    max_revoked_percent: u32,
    max_escalations: usize,
    min_holders: BTreeMap<String, usize>,
    conflicts: ConflictMode,
    allow: BTreeSet<Guard>,
}

fn default_access() -> BTreeMap<UserStatus, Access> {
    UserStatus::KNOWN
        .into_iter()
        .map(|status| {
            let access = match status {
                UserStatus::Active => Access::Grant,
                UserStatus::LockedOut | UserStatus::PasswordExpired | UserStatus::Recovery => {
                    Access::Keep
                }
                _ => Access::Revoke,
            };
            (status, access)
        })
        .collect()
}

/// A serialized `access` table amends the defaults rather than replacing them, so that
/// `{"access": {"STAGED": "grant"}}` does not silently stop `ACTIVE` from granting.
fn merge_access<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<UserStatus, Access>, D::Error> {
    let mut access = default_access();
    access.extend(BTreeMap::<UserStatus, Access>::deserialize(deserializer)?);
    Ok(access)
}

/// A percentage from a configuration file: above 100 is a mistake (no sync can revoke more than
/// all managed users), so it is refused with the range rather than read as "no limit".
fn percent<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = u32::deserialize(deserializer)?;
    if value > 100 {
        return Err(serde::de::Error::custom(format_args!(
            "{value} is not a percentage: give 0 to 100 (the share of managed users one run may \
             revoke; raise max_revoked_users for an absolute count)"
        )));
    }
    Ok(value)
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            access: default_access(),
            unmatched: Unmatched::Revoke,
            max_revoked_users: 100,
            max_revoked_percent: 10,
            max_escalations: 100,
            min_holders: BTreeMap::new(),
            conflicts: ConflictMode::BlockUsers,
            allow: BTreeSet::new(),
        }
    }
}

impl Policy {
    /// Sets what `status` means for access.
    #[must_use]
    pub fn access(mut self, status: UserStatus, access: Access) -> Self {
        self.access.insert(status, access);
        self
    }

    /// Sets what happens to managed users in no mapped group (default [`Unmatched::Revoke`]).
    #[must_use]
    pub fn unmatched(mut self, unmatched: Unmatched) -> Self {
        self.unmatched = unmatched;
        self
    }

    /// Refuse when more than `users` managed users, or more than `percent` % of the managed
    /// users, would lose access.
    #[must_use]
    pub fn max_revocations(mut self, users: usize, percent: u32) -> Self {
        self.max_revoked_users = users;
        self.max_revoked_percent = percent;
        self
    }

    /// Refuse when creates plus promotions exceed `max`.
    #[must_use]
    pub fn max_escalations(mut self, max: usize) -> Self {
        self.max_escalations = max;
        self
    }

    /// Refuse a plan that leaves fewer than `holders` portal users holding `role` (counting
    /// grants of any source) when it reduces that number.
    #[must_use]
    pub fn min_holders(mut self, role: impl Into<String>, holders: usize) -> Self {
        self.min_holders.insert(role.into(), holders);
        self
    }

    /// Sets how duplicate logins are handled (default [`ConflictMode::BlockUsers`]).
    #[must_use]
    pub fn conflicts(mut self, mode: ConflictMode) -> Self {
        self.conflicts = mode;
        self
    }

    /// Overrides `guard`: a plan that trips it is returned anyway, with a
    /// [`Warning::Overridden`](crate::Warning::Overridden) carrying the numbers. Meant for one
    /// run, after a human has read the refusal.
    #[must_use]
    pub fn allow(mut self, guard: Guard) -> Self {
        self.allow.insert(guard);
        self
    }

    /// What `status` means for access under this policy.
    pub fn access_of(&self, status: &UserStatus) -> Access {
        self.access.get(status).copied().unwrap_or(Access::Revoke)
    }

    /// Whether `guard` is overridden.
    pub fn allows(&self, guard: Guard) -> bool {
        self.allow.contains(&guard)
    }

    pub(crate) fn access_table(&self) -> &BTreeMap<UserStatus, Access> {
        &self.access
    }

    pub(crate) fn unmatched_mode(&self) -> Unmatched {
        self.unmatched
    }

    pub(crate) fn revocation_limits(&self) -> (usize, u32) {
        (self.max_revoked_users, self.max_revoked_percent)
    }

    pub(crate) fn escalation_limit(&self) -> usize {
        self.max_escalations
    }

    pub(crate) fn holder_minimums(&self) -> &BTreeMap<String, usize> {
        &self.min_holders
    }

    pub(crate) fn conflict_mode(&self) -> ConflictMode {
        self.conflicts
    }

    pub(crate) fn allowed(&self) -> &BTreeSet<Guard> {
        &self.allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_access_amends_the_defaults() {
        let policy: Policy = serde_json::from_str(r#"{"access":{"STAGED":"grant"}}"#).unwrap();
        assert_eq!(policy.access_of(&UserStatus::Active), Access::Grant);
        assert_eq!(policy.access_of(&UserStatus::Staged), Access::Grant);
        assert_eq!(policy.access_of(&UserStatus::LockedOut), Access::Keep);
        assert_eq!(
            policy.access_of(&UserStatus::Other("X".into())),
            Access::Revoke
        );
    }

    #[test]
    fn a_percentage_above_100_is_refused_with_the_range() {
        for ok in [0, 10, 100] {
            let json = format!(r#"{{"max_revoked_percent": {ok}}}"#);
            assert!(serde_json::from_str::<Policy>(&json).is_ok(), "{ok}");
        }
        let err = serde_json::from_str::<Policy>(r#"{"max_revoked_percent": 250}"#).unwrap_err();
        assert!(err.to_string().contains("give 0 to 100"), "{err}");
        assert!(serde_json::from_str::<Policy>(r#"{"max_revoked_percent": -1}"#).is_err());
    }

    #[test]
    fn the_documented_form_parses() {
        let json = r#"{ "access": {"STAGED": "grant"}, "unmatched": "revoke", "max_revoked_users": 25,
            "max_revoked_percent": 5, "max_escalations": 50, "min_holders": {"admin": 2},
            "conflicts": "block_users", "allow": ["escalations"] }"#;
        let policy: Policy = serde_json::from_str(json).unwrap();
        let built = Policy::default()
            .access(UserStatus::Staged, Access::Grant)
            .max_revocations(25, 5)
            .max_escalations(50)
            .min_holders("admin", 2)
            .allow(Guard::Escalations);
        assert_eq!(policy, built);
    }

    #[test]
    fn empty_object_is_the_default_and_round_trips() {
        let policy: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy, Policy::default());
        let custom = Policy::default()
            .min_holders("admin", 2)
            .allow(Guard::Revocations);
        let json = serde_json::to_string(&custom).unwrap();
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), custom);
        assert!(serde_json::from_str::<Policy>(r#"{"max_revocations":1}"#).is_err());
    }
}
