//! Guards that refuse a plan, with their numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Guard, Plan};

/// What one guard found. Every variant carries the numbers behind the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Violation {
    /// A mapped group came back empty (no member whose status counts) or missing (not listed),
    /// while portal users hold sync grants of roles it maps: what an outage, a failed or
    /// truncated listing or a renamed group looks like.
    EmptySource {
        /// The mapped group.
        group: String,
        /// Not listed at all, rather than listed and empty.
        missing: bool,
        /// Portal users holding a sync grant of a role the group maps.
        holders: usize,
    },
    /// More managed users would lose access than the policy allows.
    Revocations {
        /// Users the plan revokes.
        revoked: usize,
        /// Managed portal users (holding at least one sync grant of a managed role).
        managed: usize,
        /// The limit in users.
        max_users: usize,
        /// The limit in percent of `managed`.
        max_percent: u32,
    },
    /// More creates and promotions than the policy allows.
    Escalations {
        /// Users the plan creates.
        creates: usize,
        /// Existing users the plan gives at least one role.
        promotions: usize,
        /// The limit on `creates + promotions`.
        max: usize,
    },
    /// A role would be left with fewer holders than required.
    MinimumHolders {
        /// The role.
        role: String,
        /// The minimum.
        required: usize,
        /// Portal users holding it now (any grant source).
        before: usize,
        /// Portal users holding it after the plan.
        after: usize,
    },
    /// Duplicate logins under [`ConflictMode::BlockAll`](crate::ConflictMode::BlockAll).
    Conflicts {
        /// Conflicting login keys.
        conflicts: usize,
        /// Directory and portal users involved.
        users: usize,
    },
}

impl Violation {
    /// The guard that found this.
    pub fn guard(&self) -> Guard {
        match self {
            Violation::EmptySource { .. } => Guard::EmptySource,
            Violation::Revocations { .. } => Guard::Revocations,
            Violation::Escalations { .. } => Guard::Escalations,
            Violation::MinimumHolders { .. } => Guard::MinimumHolders,
            Violation::Conflicts { .. } => Guard::Conflicts,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::EmptySource {
                group,
                missing,
                holders,
            } => {
                let what = if *missing {
                    "missing from the directory"
                } else {
                    "empty"
                };
                write!(
                    f,
                    "mapped group {group} is {what} while {holders} portal user(s) hold sync grants of its roles"
                )
            }
            Violation::Revocations {
                revoked,
                managed,
                max_users,
                max_percent,
            } => write!(
                f,
                "{revoked} of {managed} managed user(s) would lose access (limit {max_users} users or {max_percent}%)"
            ),
            Violation::Escalations {
                creates,
                promotions,
                max,
            } => write!(
                f,
                "{creates} create(s) and {promotions} promotion(s) exceed the limit of {max}"
            ),
            Violation::MinimumHolders {
                role,
                required,
                before,
                after,
            } => write!(
                f,
                "role {role} would drop from {before} to {after} holder(s), below the minimum of {required}"
            ),
            Violation::Conflicts { conflicts, users } => write!(
                f,
                "{conflicts} duplicate login(s) involving {users} user(s), and conflicts block the whole plan"
            ),
        }
    }
}

fn describe(violations: &[Violation]) -> String {
    let list: Vec<String> = violations
        .iter()
        .map(|v| format!("{:?}: {v}", v.guard()))
        .collect();
    list.join("; ")
}

/// A plan the guards refused: what tripped, with the numbers, and the plan that was refused.
///
/// Each guard can be overridden only explicitly, with [`Policy::allow`](crate::Policy::allow)
/// (or by changing its threshold); an overridden guard leaves a
/// [`Warning::Overridden`](crate::Warning::Overridden) in the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("plan refused by {} guard finding(s): {}", .violations.len(), describe(.violations))]
pub struct Refusal {
    violations: Vec<Violation>,
    plan: Box<Plan>,
}

impl Refusal {
    pub(crate) fn new(violations: Vec<Violation>, plan: Plan) -> Self {
        Self {
            violations,
            plan: Box::new(plan),
        }
    }

    /// What tripped, in guard order (empty source, conflicts, revocations, escalations,
    /// minimum holders), never empty.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The refused plan, for a human to read. Do not apply it without re-planning under a
    /// policy that explicitly allows what was refused.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}
