//! The mapping from directory groups to portal roles, and the set of managed roles.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which directory groups grant which portal roles, and which roles the sync manages.
///
/// A group may grant several roles, and a user in several mapped groups gets the union. A group
/// mapped to no role is not a mapped group.
///
/// **Managed roles.** The sync only ever adds or removes *managed* roles. Every role a group
/// maps is managed; a role stays managed after the last group granting it is removed from the
/// mapping ([`Mapping::remove`]), so the grants the sync made for it are revoked at the next
/// sync instead of lingering. Only [`Mapping::retire`] stops managing a role, after which its
/// remaining grants are left alone like any unmanaged role. When a mapping is loaded from
/// configuration, list such roles under `managed_roles` (or call [`Mapping::manage`]).
///
/// ```
/// use role_sync::Mapping;
///
/// let mut mapping = Mapping::new()
///     .map("okta-portal-admins", ["admin"])
///     .map("okta-support", ["viewer", "ticket-editor"]);
/// mapping.remove("okta-support", "ticket-editor");
/// // Still managed: users who got it from the sync lose it at the next sync.
/// assert!(mapping.is_managed("ticket-editor"));
/// assert!(mapping.retire("ticket-editor"));
/// assert!(!mapping.is_managed("ticket-editor"));
/// assert!(!mapping.retire("admin"), "a role a group still grants cannot be retired");
/// ```
///
/// Serialized form (JSON shown), where `managed_roles` may be omitted and is always a superset
/// of the mapped roles once loaded:
///
/// ```json
/// { "groups": { "okta-portal-admins": ["admin"] }, "managed_roles": ["admin", "legacy-ops"] }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    groups: BTreeMap<String, BTreeSet<String>>,
    managed: BTreeSet<String>,
}

impl Mapping {
    /// An empty mapping: no group grants anything, no role is managed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`Mapping::insert`] for each role.
    #[must_use]
    pub fn map<R>(mut self, group: impl Into<String>, roles: impl IntoIterator<Item = R>) -> Self
    where
        R: Into<String>,
    {
        let group = group.into();
        for role in roles {
            self.insert(group.clone(), role);
        }
        self
    }

    /// Builder form of declaring `role` managed although no group maps it (yet or any more).
    #[must_use]
    pub fn manage(mut self, role: impl Into<String>) -> Self {
        self.managed.insert(role.into());
        self
    }

    /// Maps `group` to `role` (in addition to the roles it already grants); the role becomes
    /// managed.
    pub fn insert(&mut self, group: impl Into<String>, role: impl Into<String>) {
        let role = role.into();
        self.managed.insert(role.clone());
        self.groups.entry(group.into()).or_default().insert(role);
    }

    /// Stops `group` granting `role`. The role stays managed (see the type's docs). Returns
    /// whether the pair was mapped.
    pub fn remove(&mut self, group: &str, role: &str) -> bool {
        let Some(roles) = self.groups.get_mut(group) else {
            return false;
        };
        let removed = roles.remove(role);
        if roles.is_empty() {
            self.groups.remove(group);
        }
        removed
    }

    /// Stops managing `role`: the sync will neither grant nor revoke it any more. Refuses (and
    /// returns `false`) while a group still maps the role; returns whether it was managed.
    pub fn retire(&mut self, role: &str) -> bool {
        if self.groups.values().any(|roles| roles.contains(role)) {
            return false;
        }
        self.managed.remove(role)
    }

    /// Whether the sync manages `role`.
    pub fn is_managed(&self, role: &str) -> bool {
        self.managed.contains(role)
    }

    /// The managed roles, sorted.
    pub fn managed_roles(&self) -> impl Iterator<Item = &str> {
        self.managed.iter().map(String::as_str)
    }

    /// The mapped groups with the roles each grants, sorted.
    pub fn groups(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &str>)> {
        self.groups
            .iter()
            .map(|(group, roles)| (group.as_str(), roles.iter().map(String::as_str)))
    }

    /// The roles `group` grants, sorted; empty for an unmapped group.
    pub fn roles(&self, group: &str) -> impl Iterator<Item = &str> {
        self.groups
            .get(group)
            .into_iter()
            .flat_map(|roles| roles.iter().map(String::as_str))
    }

    pub(crate) fn group_map(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.groups
    }

    pub(crate) fn managed_set(&self) -> &BTreeSet<String> {
        &self.managed
    }
}

#[derive(Serialize)]
struct MappingOut<'a> {
    groups: &'a BTreeMap<String, BTreeSet<String>>,
    managed_roles: &'a BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingIn {
    #[serde(default)]
    groups: BTreeMap<String, BTreeSet<String>>,
    #[serde(default)]
    managed_roles: BTreeSet<String>,
}

impl Serialize for Mapping {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MappingOut {
            groups: &self.groups,
            managed_roles: &self.managed,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = MappingIn::deserialize(deserializer)?;
        let mut mapping = Mapping {
            groups: BTreeMap::new(),
            managed: input.managed_roles,
        };
        for (group, roles) in input.groups {
            for role in roles {
                mapping.insert(group.clone(), role);
            }
        }
        Ok(mapping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_roles_and_managed_set() {
        let mapping = Mapping::new()
            .map("a", ["r1", "r2"])
            .map("b", ["r2", "r3"])
            .manage("old");
        assert_eq!(mapping.roles("a").collect::<Vec<_>>(), ["r1", "r2"]);
        assert_eq!(
            mapping.managed_roles().collect::<Vec<_>>(),
            ["old", "r1", "r2", "r3"]
        );
        assert_eq!(mapping.roles("missing").count(), 0);
    }

    #[test]
    fn removing_the_last_role_unmaps_the_group() {
        let mut mapping = Mapping::new().map("a", ["r1"]);
        assert!(mapping.remove("a", "r1"));
        assert!(!mapping.remove("a", "r1"));
        assert_eq!(mapping.groups().count(), 0);
        assert!(mapping.is_managed("r1"));
        assert!(mapping.retire("r1"));
        assert!(!mapping.retire("r1"));
    }

    #[test]
    fn serde_round_trip_and_superset() {
        let json = r#"{"groups":{"g":["r"]},"managed_roles":["old"]}"#;
        let mapping: Mapping = serde_json::from_str(json).unwrap();
        assert_eq!(mapping.managed_roles().collect::<Vec<_>>(), ["old", "r"]);
        let back: Mapping =
            serde_json::from_str(&serde_json::to_string(&mapping).unwrap()).unwrap();
        assert_eq!(back, mapping);
        let empty_group: Mapping = serde_json::from_str(r#"{"groups":{"g":[]}}"#).unwrap();
        assert_eq!(empty_group.groups().count(), 0);
        assert!(serde_json::from_str::<Mapping>(r#"{"group":{}}"#).is_err());
    }
}
