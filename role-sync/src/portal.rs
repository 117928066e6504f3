//! The portal's current users and grants, and applying a plan to that model.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Login, Plan};

/// Who made a grant: the sync, or someone else.
///
/// Only [`GrantSource::Sync`] grants of managed roles are ever removed by a plan. Integrators
/// must record this per grant (for example a `granted_by_sync` column) so that manual grants
/// survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// Made by the sync (a previous plan). The sync may revoke it.
    Sync,
    /// Made by anyone else: an administrator, an import, another system. Never touched.
    Manual,
}

impl GrantSource {
    pub(crate) fn code(self) -> u8 {
        match self {
            GrantSource::Sync => 1,
            GrantSource::Manual => 2,
        }
    }
}

/// One role held by a portal user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct Grant {
    /// The portal role.
    pub role: String,
    /// Who made the grant.
    pub source: GrantSource,
}

/// A portal user: a login, its grants, and whether it is a protected (break-glass) account.
///
/// A portal user is **managed** when it holds at least one [`GrantSource::Sync`] grant of a
/// managed role; managed users are the denominator of the revocation threshold. Protected
/// accounts are never revoked or downgraded by a plan (an attempt is reported as a
/// [`Warning::ProtectedKept`](crate::Warning::ProtectedKept)); they may still gain roles.
///
/// ```
/// use role_sync::{GrantSource, PortalUser};
///
/// let root = PortalUser::new("root@example.com")
///     .grant("admin", GrantSource::Manual)
///     .protect();
/// assert!(root.is_protected());
/// assert_eq!(root.source_of("admin"), Some(GrantSource::Manual));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalUser {
    login: Login,
    /// Sorted by role, one grant per role.
    grants: Vec<Grant>,
    protected: bool,
}

impl PortalUser {
    /// A portal user with no grants, not protected.
    pub fn new(login: impl Into<Login>) -> Self {
        Self {
            login: login.into(),
            grants: Vec::new(),
            protected: false,
        }
    }

    /// Builder: grants `role` (replacing the source if the role is already held).
    #[must_use]
    pub fn grant(mut self, role: impl Into<String>, source: GrantSource) -> Self {
        self.set(role.into(), source);
        self
    }

    /// Builder: marks the account protected (break-glass).
    #[must_use]
    pub fn protect(mut self) -> Self {
        self.protected = true;
        self
    }

    /// The login.
    pub fn login(&self) -> &Login {
        &self.login
    }

    /// The grants, sorted by role.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Who granted `role`, if it is held.
    pub fn source_of(&self, role: &str) -> Option<GrantSource> {
        self.find(role).ok().map(|i| self.grants[i].source)
    }

    /// Whether the account is protected.
    pub fn is_protected(&self) -> bool {
        self.protected
    }

    fn find(&self, role: &str) -> Result<usize, usize> {
        self.grants
            .binary_search_by(|grant| grant.role.as_str().cmp(role))
    }

    fn set(&mut self, role: String, source: GrantSource) {
        match self.find(&role) {
            Ok(i) => self.grants[i].source = source,
            Err(i) => self.grants.insert(i, Grant { role, source }),
        }
    }

    /// Adds `role` as a sync grant unless the role is already held (by any source).
    fn add_sync(&mut self, role: &str) {
        if let Err(i) = self.find(role) {
            self.grants.insert(
                i,
                Grant {
                    role: role.to_owned(),
                    source: GrantSource::Sync,
                },
            );
        }
    }

    /// Removes `role` if the sync granted it.
    fn remove_sync(&mut self, role: &str) {
        if let Ok(i) = self.find(role)
            && self.grants[i].source == GrantSource::Sync
        {
            self.grants.remove(i);
        }
    }
}

#[derive(Serialize)]
struct PortalUserOut<'a> {
    login: &'a Login,
    roles: BTreeMap<&'a str, GrantSource>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    protected: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalUserIn {
    login: Login,
    #[serde(default)]
    roles: BTreeMap<String, GrantSource>,
    #[serde(default)]
    protected: bool,
}

impl Serialize for PortalUser {
    /// `{"login": "…", "roles": {"role": "sync" | "manual"}, "protected": true}` (`protected`
    /// only when set).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PortalUserOut {
            login: &self.login,
            roles: self
                .grants
                .iter()
                .map(|g| (g.role.as_str(), g.source))
                .collect(),
            protected: self.protected,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PortalUser {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = PortalUserIn::deserialize(deserializer)?;
        Ok(Self {
            login: input.login,
            grants: input
                .roles
                .into_iter()
                .map(|(role, source)| Grant { role, source })
                .collect(),
            protected: input.protected,
        })
    }
}

/// The portal as it is now: its users, their grants and protected flags.
///
/// Two portal users whose logins fold to the same key are a conflict: the plan reports them and
/// leaves them untouched.
///
/// Serialized as `{"users": [PortalUser…]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    #[serde(default)]
    users: Vec<PortalUser>,
}

impl Portal {
    /// A portal with no users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user (a second user with the same login key is a conflict, not a replacement).
    pub fn add_user(&mut self, user: PortalUser) {
        self.users.push(user);
    }

    /// All users, in insertion order (with users created by [`Portal::apply`] at the end).
    pub fn users(&self) -> &[PortalUser] {
        &self.users
    }

    /// The first user whose login folds to the same key as `login`.
    pub fn user(&self, login: &str) -> Option<&PortalUser> {
        let key = Login::new(login);
        self.users.iter().find(|user| user.login.key() == key.key())
    }

    /// Applies `plan` to this in-memory model, the way an integrator applies it to a real portal:
    /// creates get the planned roles as sync grants; added roles become sync grants unless the
    /// role is already held; removed and revoked roles are removed only where the grant is a
    /// sync grant. Revoked users stay in the portal with whatever grants remain.
    ///
    /// It does not check the plan's fingerprint: pass the portal the plan was made from. With
    /// that portal, planning again from the same mapping, directory and policy yields a plan
    /// with no actions ([`Plan::is_empty`]).
    pub fn apply(&mut self, plan: &Plan) {
        let mut by_key: HashMap<String, usize> = HashMap::with_capacity(self.users.len());
        for (i, user) in self.users.iter().enumerate() {
            by_key.entry(user.login.key().to_owned()).or_insert(i);
        }
        for create in plan.creates() {
            let login = Login::new(create.login.as_str());
            let index = match by_key.get(login.key()) {
                Some(&i) => i,
                None => {
                    by_key.insert(login.key().to_owned(), self.users.len());
                    self.users.push(PortalUser::new(login));
                    self.users.len() - 1
                }
            };
            for grant in &create.roles {
                self.users[index].add_sync(&grant.role);
            }
        }
        for change in plan.changes() {
            if let Some(&i) = by_key.get(Login::new(change.login.as_str()).key()) {
                for grant in &change.added {
                    self.users[i].add_sync(&grant.role);
                }
                for role in &change.removed {
                    self.users[i].remove_sync(role);
                }
            }
        }
        for revocation in plan.revocations() {
            if let Some(&i) = by_key.get(Login::new(revocation.login.as_str()).key()) {
                for role in &revocation.roles {
                    self.users[i].remove_sync(role);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_stay_sorted_and_unique() {
        let user = PortalUser::new("a@x")
            .grant("b", GrantSource::Sync)
            .grant("a", GrantSource::Manual)
            .grant("b", GrantSource::Manual);
        let roles: Vec<_> = user
            .grants()
            .iter()
            .map(|g| (g.role.as_str(), g.source))
            .collect();
        assert_eq!(
            roles,
            [("a", GrantSource::Manual), ("b", GrantSource::Manual)]
        );
    }

    #[test]
    fn manual_grants_survive_removal() {
        let mut user = PortalUser::new("a@x").grant("r", GrantSource::Manual);
        user.remove_sync("r");
        assert_eq!(user.source_of("r"), Some(GrantSource::Manual));
        user.add_sync("r");
        assert_eq!(user.source_of("r"), Some(GrantSource::Manual));
    }

    #[test]
    fn serde_round_trip() {
        let json = r#"{"users":[{"login":"Root@x","roles":{"admin":"manual","viewer":"sync"},"protected":true},{"login":"b@x"}]}"#;
        let portal: Portal = serde_json::from_str(json).unwrap();
        assert!(portal.user("root@X").unwrap().is_protected());
        assert_eq!(portal.users()[1].grants().len(), 0);
        let out = serde_json::to_string(&portal).unwrap();
        assert_eq!(
            out,
            json.replace(r#"{"login":"b@x"}"#, r#"{"login":"b@x","roles":{}}"#)
        );
    }
}
