//! The directory snapshot: users with their status, and group memberships.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Login, UserStatus};

/// One directory user, as a directory listing returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DirectoryUser {
    /// The directory's stable identifier (Okta's user `id`, such as `00u1abcd…`).
    pub id: String,
    /// The login (Okta's `profile.login`), matched case-insensitively to portal users.
    pub login: Login,
    /// The lifecycle status.
    pub status: UserStatus,
}

impl DirectoryUser {
    /// A directory user.
    pub fn new(id: impl Into<String>, login: impl Into<Login>, status: UserStatus) -> Self {
        Self {
            id: id.into(),
            login: login.into(),
            status,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryUserIn {
    id: Option<String>,
    login: Login,
    status: UserStatus,
}

impl<'de> Deserialize<'de> for DirectoryUser {
    /// `id` may be omitted, in which case it is the login as spelt (handy in test fixtures).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = DirectoryUserIn::deserialize(deserializer)?;
        let id = input.id.unwrap_or_else(|| input.login.as_str().to_owned());
        Ok(Self {
            id,
            login: input.login,
            status: input.status,
        })
    }
}

/// A complete snapshot of the directory as seen by one sync.
///
/// It holds users (keyed by [`DirectoryUser::id`]) and the groups that were listed with their
/// members. Only groups the [`Mapping`](crate::Mapping) names matter to the plan; others are
/// ignored. The snapshot must be *complete* for the mapped groups: a mapped group that was not
/// listed is "missing", and a listed group with no member whose status counts is "empty" — both
/// trip the empty-source guard when portal users hold roles the group grants, because that is
/// what a directory outage or a truncated listing looks like.
///
/// Users that are in no mapped group may be added with [`Directory::add_user`]: that lets a plan
/// tell "left the directory" from "in the directory, in no mapped group" (see
/// [`RevocationReason`](crate::RevocationReason)).
///
/// Adding a user whose `id` is already present replaces the earlier record (the latest read
/// wins); memberships are kept. Adding a user to a group twice is harmless.
///
/// ```
/// use role_sync::{Directory, DirectoryUser, UserStatus};
///
/// let mut directory = Directory::new();
/// directory.add_member("okta-admins", DirectoryUser::new("00u1", "Alice@example.com", UserStatus::Active));
/// directory.add_group("okta-auditors"); // listed, and empty
/// assert_eq!(directory.members("okta-admins").map(|m| m.count()), Some(1));
/// assert_eq!(directory.members("okta-auditors").map(|m| m.count()), Some(0));
/// assert!(directory.members("okta-ops").is_none()); // not listed: missing
/// ```
#[derive(Clone, Debug, Default)]
pub struct Directory {
    users: Vec<DirectoryUser>,
    by_id: HashMap<String, u32>,
    /// Listed groups and their members, as indices into `users` (possibly repeated).
    groups: BTreeMap<String, Vec<u32>>,
}

impl Directory {
    /// An empty snapshot: no users, no group listed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces, by `id`) a user without any membership.
    pub fn add_user(&mut self, user: DirectoryUser) {
        self.upsert(user);
    }

    /// Records that `group` was listed, even if it turns out to have no member.
    pub fn add_group(&mut self, group: impl Into<String>) {
        self.groups.entry(group.into()).or_default();
    }

    /// Adds (or replaces, by `id`) `user` and records it as a member of `group`.
    pub fn add_member(&mut self, group: impl Into<String>, user: DirectoryUser) {
        let index = self.upsert(user);
        self.groups.entry(group.into()).or_default().push(index);
    }

    /// All users, in insertion order.
    pub fn users(&self) -> &[DirectoryUser] {
        &self.users
    }

    /// The user with this `id`.
    pub fn user(&self, id: &str) -> Option<&DirectoryUser> {
        self.by_id.get(id).map(|&index| &self.users[index as usize])
    }

    /// The members of a listed group (repeats included), or `None` if it was not listed.
    pub fn members(&self, group: &str) -> Option<impl Iterator<Item = &DirectoryUser>> {
        self.groups
            .get(group)
            .map(|members| members.iter().map(|&index| &self.users[index as usize]))
    }

    /// The listed groups, sorted.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    pub(crate) fn member_indices(&self, group: &str) -> Option<&[u32]> {
        self.groups.get(group).map(Vec::as_slice)
    }

    fn upsert(&mut self, user: DirectoryUser) -> u32 {
        if let Some(&index) = self.by_id.get(&user.id) {
            self.users[index as usize] = user;
            return index;
        }
        let index = u32::try_from(self.users.len()).unwrap_or(u32::MAX);
        assert!(index < u32::MAX, "a directory holds at most 2^32 - 1 users");
        self.by_id.insert(user.id.clone(), index);
        self.users.push(user);
        index
    }
}

#[derive(Serialize)]
struct DirectoryOut<'a> {
    users: &'a [DirectoryUser],
    groups: BTreeMap<&'a str, Vec<&'a str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryIn {
    #[serde(default)]
    users: Vec<DirectoryUser>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

impl Serialize for Directory {
    /// `{"users": [{"id", "login", "status"}…], "groups": {"group": ["user id"…]}}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let groups = self
            .groups
            .iter()
            .map(|(group, members)| {
                let ids = members
                    .iter()
                    .map(|&i| self.users[i as usize].id.as_str())
                    .collect();
                (group.as_str(), ids)
            })
            .collect();
        DirectoryOut {
            users: &self.users,
            groups,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Directory {
    /// The serialized form; every member id must be one of `users`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = DirectoryIn::deserialize(deserializer)?;
        let mut directory = Directory::new();
        for user in input.users {
            directory.add_user(user);
        }
        for (group, ids) in input.groups {
            let mut members = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(&index) = directory.by_id.get(&id) else {
                    return Err(serde::de::Error::custom(format!(
                        "group {group:?} lists user id {id:?}, which is not among the users"
                    )));
                };
                members.push(index);
            }
            directory.groups.entry(group).or_default().extend(members);
        }
        Ok(directory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_keeps_memberships() {
        let mut directory = Directory::new();
        directory.add_member("g", DirectoryUser::new("1", "a@x", UserStatus::Active));
        directory.add_user(DirectoryUser::new("1", "a@x", UserStatus::Suspended));
        let members: Vec<_> = directory.members("g").unwrap().collect();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].status, UserStatus::Suspended);
        assert_eq!(directory.users().len(), 1);
    }

    #[test]
    fn serde_round_trip_and_unknown_ids() {
        let json = r#"{"users":[{"login":"A@x","status":"ACTIVE"},{"id":"2","login":"b@x","status":"SUSPENDED"}],
                       "groups":{"g":["A@x","2"],"empty":[]}}"#;
        let directory: Directory = serde_json::from_str(json).unwrap();
        assert_eq!(directory.user("A@x").unwrap().login.key(), "a@x");
        assert_eq!(directory.groups().collect::<Vec<_>>(), ["empty", "g"]);
        let again: Directory =
            serde_json::from_str(&serde_json::to_string(&directory).unwrap()).unwrap();
        assert_eq!(again.users(), directory.users());
        let bad = r#"{"users":[],"groups":{"g":["nobody"]}}"#;
        let err = serde_json::from_str::<Directory>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nobody"), "{err}");
    }
}
