//! The plan: what the sync would do, in a stable order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Fingerprint, UserStatus, Violation};

/// A role to grant, with the mapped groups that justify it (sorted; never empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleGrant {
    /// The portal role.
    pub role: String,
    /// The mapped groups, each granting `role`, of which the user is a member whose status
    /// grants access.
    pub groups: Vec<String>,
}

/// A portal user to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Create {
    /// The login, spelt as in the directory.
    pub login: String,
    /// The roles to grant (as sync grants), sorted by role.
    pub roles: Vec<RoleGrant>,
}

/// Roles to add to and remove from an existing portal user.
///
/// A change that adds at least one role is a *promotion* for the escalation guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// The login, spelt as in the portal.
    pub login: String,
    /// Managed roles to grant (as sync grants), sorted by role.
    pub added: Vec<RoleGrant>,
    /// Sync grants of managed roles to remove, sorted.
    pub removed: Vec<String>,
}

/// A managed portal user who is entitled to no managed role any more: every sync grant of a
/// managed role it holds is removed. Manual grants stay; so does the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Revocation {
    /// The login, spelt as in the portal.
    pub login: String,
    /// The sync grants removed, sorted.
    pub roles: Vec<String>,
    /// Why the user is entitled to nothing.
    pub reason: RevocationReason,
}

/// Why a portal user is entitled to no managed role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocationReason {
    /// No directory user has this login: removed from the directory (or never there).
    NotInDirectory,
    /// The directory user's status does not let it hold the roles: its access is
    /// [`Access::Revoke`](crate::Access::Revoke), or [`Access::Keep`](crate::Access::Keep) and
    /// none of the roles it holds is still granted by its groups.
    Inactive {
        /// The directory status.
        status: UserStatus,
    },
    /// In the directory with a status that counts, but in no mapped group.
    NoMappedGroup,
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevocationReason::NotInDirectory => f.write_str("not in the directory"),
            RevocationReason::Inactive { status } => write!(f, "directory status {status}"),
            RevocationReason::NoMappedGroup => f.write_str("in no mapped group"),
        }
    }
}

/// A directory user involved in a conflict.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DirectoryRef {
    /// The directory id.
    pub id: String,
    /// The login as the directory spells it.
    pub login: String,
}

/// Several users whose logins fold to one key: on the directory side, the portal side, or both.
///
/// Everyone concerned — the directory users and the portal users with this key — is left
/// untouched by the plan (unless [`ConflictMode::BlockAll`](crate::ConflictMode::BlockAll)
/// refuses the plan as a whole). Conflicted portal users are neither changed nor counted as
/// unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conflict {
    /// The folded login key.
    pub login: String,
    /// The directory users with this key, sorted.
    pub directory: Vec<DirectoryRef>,
    /// The portal logins with this key, sorted.
    pub portal: Vec<String>,
}

/// Something the plan did not do, or did only because a guard was overridden.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// A mapped group came back empty or missing, but no portal user holds a sync grant of a
    /// role it maps, so the empty-source guard had nothing to protect.
    EmptyGroup {
        /// The group.
        group: String,
        /// Not listed at all (rather than listed with no member whose status counts).
        missing: bool,
    },
    /// A protected account would have been revoked or downgraded; it was not.
    ProtectedKept {
        /// The portal login.
        login: String,
        /// The sync grants that would have been removed.
        roles: Vec<String>,
        /// Set when the account would have been revoked outright.
        reason: Option<RevocationReason>,
    },
    /// A managed user in no mapped group was left alone under
    /// [`Unmatched::Keep`](crate::Unmatched::Keep).
    UnmatchedKept {
        /// The portal login.
        login: String,
        /// The sync grants it keeps.
        roles: Vec<String>,
        /// [`RevocationReason::NotInDirectory`] or [`RevocationReason::NoMappedGroup`].
        reason: RevocationReason,
    },
    /// A guard tripped and was overridden by [`Policy::allow`](crate::Policy::allow).
    Overridden {
        /// What the guard found.
        violation: Violation,
    },
}

/// The numbers of a plan, derived from its lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Users to create.
    pub creates: usize,
    /// Existing users whose roles change.
    pub changes: usize,
    /// Changes that add at least one role.
    pub promotions: usize,
    /// Managed users who lose every sync grant.
    pub revocations: usize,
    /// Portal users left as they are (conflicted users excluded).
    pub unchanged: usize,
    /// Conflicts.
    pub conflicts: usize,
    /// Warnings.
    pub warnings: usize,
}

/// What a sync would do: creates, role changes and revocations, each list sorted by folded
/// login, plus conflicts and warnings.
///
/// The same inputs, in any order, give the same plan: equal values, identical JSON, identical
/// [`Display`](fmt::Display) output. The plan carries the [`Fingerprint`] of its inputs; an
/// applier that re-reads the portal (and the directory) can compare
/// [`Fingerprint::of`] with [`Plan::fingerprint`] and refuse a stale plan.
///
/// Serialized (JSON shown) as
/// `{"fingerprint": "…", "creates": […], "changes": […], "revocations": […], "conflicts": […],
/// "warnings": […], "unchanged": N}`; counts are not stored but derived
/// ([`Plan::summary`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    fingerprint: Fingerprint,
    creates: Vec<Create>,
    changes: Vec<Change>,
    revocations: Vec<Revocation>,
    conflicts: Vec<Conflict>,
    warnings: Vec<Warning>,
    unchanged: usize,
}

/// The lists of a plan, in the order the engine builds them.
pub(crate) struct PlanParts {
    pub(crate) creates: Vec<Create>,
    pub(crate) changes: Vec<Change>,
    pub(crate) revocations: Vec<Revocation>,
    pub(crate) conflicts: Vec<Conflict>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) unchanged: usize,
}

impl Plan {
    pub(crate) fn new(fingerprint: Fingerprint, parts: PlanParts) -> Self {
        Self {
            fingerprint,
            creates: parts.creates,
            changes: parts.changes,
            revocations: parts.revocations,
            conflicts: parts.conflicts,
            warnings: parts.warnings,
            unchanged: parts.unchanged,
        }
    }

    /// The fingerprint of the inputs this plan was made from.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Users to create.
    pub fn creates(&self) -> &[Create] {
        &self.creates
    }

    /// Existing users whose roles change.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Managed users who lose every sync grant.
    pub fn revocations(&self) -> &[Revocation] {
        &self.revocations
    }

    /// Duplicate logins, whose users the plan leaves untouched.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// What the plan did not do, or did only because a guard was overridden.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Whether the plan has nothing to apply (no create, change or revocation). Conflicts and
    /// warnings may remain.
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.changes.is_empty() && self.revocations.is_empty()
    }

    /// The counts, derived from the lists.
    pub fn summary(&self) -> Summary {
        Summary {
            creates: self.creates.len(),
            changes: self.changes.len(),
            promotions: self.changes.iter().filter(|c| !c.added.is_empty()).count(),
            revocations: self.revocations.len(),
            unchanged: self.unchanged,
            conflicts: self.conflicts.len(),
            warnings: self.warnings.len(),
        }
    }
}

fn groups(grant: &RoleGrant) -> String {
    grant.groups.join(", ")
}

impl fmt::Display for Plan {
    /// A human diff: `+` creates, `~` changes, `-` revocations, `!` conflicts, then warnings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary();
        writeln!(f, "role-sync plan {}", self.fingerprint)?;
        writeln!(
            f,
            "{} to create, {} to change ({} promoted), {} to revoke, {} unchanged, {} conflicts, {} warnings",
            s.creates, s.changes, s.promotions, s.revocations, s.unchanged, s.conflicts, s.warnings
        )?;
        for create in &self.creates {
            writeln!(f, "+ {}", create.login)?;
            for grant in &create.roles {
                writeln!(f, "    + {}  (via {})", grant.role, groups(grant))?;
            }
        }
        for change in &self.changes {
            writeln!(f, "~ {}", change.login)?;
            for grant in &change.added {
                writeln!(f, "    + {}  (via {})", grant.role, groups(grant))?;
            }
            for role in &change.removed {
                writeln!(f, "    - {role}")?;
            }
        }
        for revocation in &self.revocations {
            writeln!(f, "- {}  ({})", revocation.login, revocation.reason)?;
            for role in &revocation.roles {
                writeln!(f, "    - {role}")?;
            }
        }
        for conflict in &self.conflicts {
            write!(
                f,
                "! conflict on {}: left untouched; directory [",
                conflict.login
            )?;
            for (i, user) in conflict.directory.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{} ({})", user.login, user.id)?;
            }
            writeln!(f, "], portal [{}]", conflict.portal.join(", "))?;
        }
        for warning in &self.warnings {
            match warning {
                Warning::EmptyGroup { group, missing } => {
                    let what = if *missing {
                        "missing from the directory"
                    } else {
                        "empty"
                    };
                    writeln!(f, "warning: mapped group {group} is {what}")?;
                }
                Warning::ProtectedKept {
                    login,
                    roles,
                    reason,
                } => {
                    write!(
                        f,
                        "warning: protected account {login} keeps {}",
                        roles.join(", ")
                    )?;
                    match reason {
                        Some(reason) => writeln!(f, " (would be revoked: {reason})")?,
                        None => writeln!(f, " (would be downgraded)")?,
                    }
                }
                Warning::UnmatchedKept {
                    login,
                    roles,
                    reason,
                } => {
                    let roles = roles.join(", ");
                    writeln!(
                        f,
                        "warning: {login} keeps {roles} under unmatched=keep ({reason})"
                    )?;
                }
                Warning::Overridden { violation } => {
                    writeln!(f, "warning: guard overridden: {violation}")?;
                }
            }
        }
        Ok(())
    }
}
