//! The review: evidence in, a [`Report`] out — pure, deterministic, no IO.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use role_sync::{Access, GrantSource, UserStatus};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::evidence::{
    AuthenticatorFact, DuoAccount, DuoAdmin, Evidence, LastAuth, OktaAccount, PortalAccount, key,
};

/// The schema of [`Report`]'s JSON. It changes only when a field is removed or changes meaning;
/// fields may be added within one schema version.
pub const SCHEMA: &str = "access-review/1";

/// What a review flags and what it counts as privileged.
///
/// ```
/// let policy = access_review::ReviewPolicy::default().stale_after_days(30).privileged_role("owner");
/// assert_eq!(policy.stale_after_days, 30);
/// assert!(policy.privileged_roles.contains("admin") && policy.privileged_roles.contains("owner"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReviewPolicy {
    /// A portal user holding a role with no sign-in for this many days is stale (default 90,
    /// the period most access-review controls use).
    pub stale_after_days: u32,
    /// Roles whose holders must have a second factor enrolled (default `admin`).
    pub privileged_roles: BTreeSet<String>,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        Self {
            stale_after_days: 90,
            privileged_roles: BTreeSet::from(["admin".to_owned()]),
        }
    }
}

impl ReviewPolicy {
    /// Builder: the stale threshold in days.
    #[must_use]
    pub fn stale_after_days(mut self, days: u32) -> Self {
        self.stale_after_days = days;
        self
    }

    /// Builder: one more privileged role.
    #[must_use]
    pub fn privileged_role(mut self, role: impl Into<String>) -> Self {
        self.privileged_roles.insert(role.into());
        self
    }
}

/// How serious a finding is. Orders from most to least serious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Access that should not exist, or privileged access without a second factor.
    High,
    /// Access that needs a person's decision.
    Medium,
    /// Worth knowing; no access is at stake on its own.
    Low,
}

/// Why a privileged user has no usable second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecondFactorGap {
    /// The portal account is linked to no Duo user, and none has its login as username.
    NoDuoUser,
    /// The Duo user has no enrolled authenticator.
    NotEnrolled,
    /// The Duo user's status is `bypass`: Duo lets them in without a second factor.
    Bypass,
}

/// What a finding is about, with the facts that raised it. Serialized with its `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// A portal user holding roles has not signed in (Okta `lastLogin` or a Duo
    /// authentication) for more than the policy's days, or never.
    StaleAccount {
        /// The latest sign-in seen, if any.
        last_sign_in: Option<Timestamp>,
        /// Whole days since it, if any.
        days: Option<u64>,
    },
    /// A portal user (not a protected account) that Okta does not have.
    AbsentFromOkta,
    /// A portal user holding roles whose Okta status gives no access (`SUSPENDED`,
    /// `DEPROVISIONED`, …), as `role-sync` reads statuses.
    InactiveInOkta {
        /// The Okta status.
        status: String,
    },
    /// A holder of a privileged role without a usable second factor in Duo.
    PrivilegedWithoutSecondFactor {
        /// The privileged roles held.
        roles: Vec<String>,
        /// Why.
        gap: SecondFactorGap,
    },
    /// A role the sync manages, granted by hand: the sync will never revoke it.
    ManualGrantOfManagedRole {
        /// The role.
        role: String,
    },
    /// A Duo administrator whose email is no portal user's login or email.
    DuoAdminNotPortalUser {
        /// The admin's id.
        admin_id: String,
        /// The admin's role.
        role: Option<String>,
    },
    /// A portal user holding roles who is not assigned to the portal's Okta app, so cannot sign
    /// in by SAML.
    NotAssignedToApp {
        /// The app's id.
        app_id: String,
    },
}

impl FindingKind {
    /// The kind's name, as serialized (`stale_account`, …).
    pub fn name(&self) -> &'static str {
        match self {
            FindingKind::StaleAccount { .. } => "stale_account",
            FindingKind::AbsentFromOkta => "absent_from_okta",
            FindingKind::InactiveInOkta { .. } => "inactive_in_okta",
            FindingKind::PrivilegedWithoutSecondFactor { .. } => "privileged_without_second_factor",
            FindingKind::ManualGrantOfManagedRole { .. } => "manual_grant_of_managed_role",
            FindingKind::DuoAdminNotPortalUser { .. } => "duo_admin_not_portal_user",
            FindingKind::NotAssignedToApp { .. } => "not_assigned_to_app",
        }
    }

    /// Its severity.
    pub fn severity(&self) -> Severity {
        match self {
            FindingKind::AbsentFromOkta
            | FindingKind::InactiveInOkta { .. }
            | FindingKind::PrivilegedWithoutSecondFactor { .. } => Severity::High,
            FindingKind::StaleAccount { .. }
            | FindingKind::ManualGrantOfManagedRole { .. }
            | FindingKind::DuoAdminNotPortalUser { .. } => Severity::Medium,
            FindingKind::NotAssignedToApp { .. } => Severity::Low,
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Whom it is about: a portal login, or a Duo admin's email (or id when it has none).
    pub subject: String,
    /// One sentence for a person.
    pub message: String,
    /// What it is, with its facts.
    #[serde(flatten)]
    pub kind: FindingKind,
}

/// One role a portal user holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleReview {
    /// The role.
    pub role: String,
    /// Who granted it.
    pub source: GrantSource,
    /// Whether the sync manages it.
    pub managed: bool,
    /// The mapped Okta groups, among the user's, that grant it.
    pub granted_by: Vec<String>,
}

/// A portal user's Okta side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OktaSide {
    /// Okta's user id.
    pub id: String,
    /// The status.
    pub status: String,
    /// `lastLogin`.
    pub last_login: Option<Timestamp>,
    /// The mapped groups the user is in.
    pub groups: Vec<String>,
    /// How the user is assigned to the portal's app (`USER`, `GROUP`), `None` when not assigned
    /// or when assignments were not read (see the report's `sources`).
    pub app_assignment: Option<String>,
}

/// A portal user's Duo side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuoSide {
    /// Duo's user id.
    pub user_id: String,
    /// The username.
    pub username: String,
    /// The status.
    pub status: String,
    /// Whether Duo counts the user as enrolled.
    pub is_enrolled: bool,
    /// The latest successful authentication in the log window.
    pub last_auth: Option<LastAuth>,
    /// The user's `last_login`.
    pub last_login: Option<Timestamp>,
    /// Enrolled authenticators.
    pub authenticators: Vec<AuthenticatorFact>,
}

/// One portal user, reviewed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserReview {
    /// The portal login.
    pub login: String,
    /// Whether it is a protected break-glass account.
    pub protected: bool,
    /// Its roles.
    pub roles: Vec<RoleReview>,
    /// The Okta user with this login, if Okta was read and has one.
    pub okta: Option<OktaSide>,
    /// The linked Duo user, if Duo was read and has one.
    pub duo: Option<DuoSide>,
    /// The latest sign-in any source shows: Okta `lastLogin`, the last Duo authentication, or
    /// Duo's `last_login`.
    pub last_sign_in: Option<Timestamp>,
    /// The kinds of the findings about this user.
    pub findings: Vec<String>,
}

/// A Duo administrator, reviewed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminReview {
    /// Duo's admin id.
    pub admin_id: String,
    /// The name.
    pub name: Option<String>,
    /// The email.
    pub email: Option<String>,
    /// The role.
    pub role: Option<String>,
    /// The status.
    pub status: Option<String>,
    /// The last Admin Panel sign-in.
    pub last_login: Option<Timestamp>,
    /// The portal login with this email, if any.
    pub portal_user: Option<String>,
}

/// What was read for this report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sources {
    /// Whether Okta was read.
    pub okta: bool,
    /// The Okta app whose assignments were read.
    pub okta_app: Option<String>,
    /// Mapped groups Okta has no group for.
    pub okta_missing_groups: Vec<String>,
    /// Whether Duo was read.
    pub duo: bool,
    /// The Duo authentication-log window read, `[from, to]`.
    pub duo_log_window: Option<(Timestamp, Timestamp)>,
}

/// Totals, for the top of a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Portal accounts.
    pub portal_users: usize,
    /// Protected (break-glass) accounts among them.
    pub protected_accounts: usize,
    /// Portal accounts holding at least one role.
    pub with_roles: usize,
    /// Okta users read.
    pub okta_users: usize,
    /// Duo users read.
    pub duo_users: usize,
    /// Duo administrators.
    pub duo_admins: usize,
    /// Findings by severity.
    pub findings_by_severity: BTreeMap<Severity, usize>,
    /// Findings by kind.
    pub findings_by_kind: BTreeMap<String, usize>,
}

/// An access review. Its JSON (`serde_json::to_string(&report)`) has the schema [`SCHEMA`];
/// see the crate documentation for each field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// When the review was taken.
    pub taken_at: Timestamp,
    /// [`Evidence::fingerprint`] of what it read (the policy is recorded beside it).
    pub fingerprint: String,
    /// The policy it applied.
    pub policy: ReviewPolicy,
    /// What was read.
    pub sources: Sources,
    /// Totals.
    pub counts: Counts,
    /// The findings, most serious first.
    pub findings: Vec<Finding>,
    /// Every portal account, by login.
    pub users: Vec<UserReview>,
    /// Every Duo administrator, by id.
    pub duo_admins: Vec<AdminReview>,
}

/// Reviews `evidence` under `policy` as of `taken_at`. The same evidence (in any order), policy
/// and time give the same report, byte for byte.
///
/// ```
/// use access_review::{review, DuoAccount, DuoEvidence, Evidence, FindingKind, OktaAccount,
///     OktaEvidence, PortalAccount, ReviewPolicy, Timestamp};
/// use role_sync::{GrantSource, Mapping};
///
/// let now = Timestamp::parse_rfc3339("2026-12-05T12:00:00Z").unwrap();
/// let evidence = Evidence::new(&Mapping::new().map("Portal Admins", ["admin"]))
///     .account(PortalAccount::new("ann@example.com").grant("admin", GrantSource::Sync).duo_user("DU1"))
///     .okta(OktaEvidence::new().user(
///         OktaAccount::new("00u1", "ann@example.com", "ACTIVE")
///             .member_of("Portal Admins")
///             .last_login(now.minus_days(2)),
///     ))
///     .duo(DuoEvidence::new().user(DuoAccount::new("DU1", "ann@example.com")));
/// let report = review(&evidence, &ReviewPolicy::default(), now);
/// // Ann signed in two days ago, but has no Duo authenticator for her admin role.
/// assert_eq!(report.findings.len(), 1);
/// assert!(matches!(report.findings[0].kind, FindingKind::PrivilegedWithoutSecondFactor { .. }));
/// assert_eq!(report.users[0].roles[0].granted_by, ["Portal Admins"]);
/// ```
pub fn review(evidence: &Evidence, policy: &ReviewPolicy, taken_at: Timestamp) -> Report {
    let evidence = evidence.normalized();
    let okta_by_login: HashMap<String, &OktaAccount> = evidence
        .okta
        .iter()
        .flat_map(|o| &o.users)
        .map(|u| (key(&u.login), u))
        .collect();
    let duo_by_id: HashMap<&str, &DuoAccount> = evidence
        .duo
        .iter()
        .flat_map(|d| &d.users)
        .map(|u| (u.user_id.as_str(), u))
        .collect();
    let mut duo_by_name: HashMap<String, &DuoAccount> = HashMap::new();
    for user in evidence.duo.iter().flat_map(|d| &d.users) {
        for name in std::iter::once(&user.username).chain(&user.aliases) {
            duo_by_name.entry(key(name)).or_insert(user);
        }
    }
    let app = evidence.okta.as_ref().and_then(|o| o.app.as_ref());
    let sync_policy = role_sync::Policy::default();

    let mut findings = Vec::new();
    let mut users = Vec::with_capacity(evidence.portal.len());
    // Portal logins and emails, for matching Duo administrators.
    let mut portal_identities: HashMap<String, String> = HashMap::new();

    for account in &evidence.portal {
        let okta = okta_by_login.get(&key(&account.login)).copied();
        let duo = match &account.duo_user_id {
            Some(id) => duo_by_id.get(id.as_str()).copied(),
            None => duo_by_name.get(&key(&account.login)).copied(),
        };
        portal_identities.insert(key(&account.login), account.login.clone());
        for email in okta
            .and_then(|o| o.email.as_deref())
            .into_iter()
            .chain(duo.and_then(|d| d.email.as_deref()))
        {
            portal_identities
                .entry(key(email))
                .or_insert_with(|| account.login.clone());
        }

        let mut user_findings = Vec::new();
        let roles = role_reviews(account, okta, &evidence);
        let holds_roles = !roles.is_empty();
        let last_sign_in = [
            okta.and_then(|o| o.last_login),
            duo.and_then(|d| d.last_auth.as_ref().map(|a| a.at)),
            duo.and_then(|d| d.last_login),
        ]
        .into_iter()
        .flatten()
        .max();

        // Stale: only when some sign-in evidence was read, and never for break-glass accounts,
        // which exist precisely to sit unused.
        if holds_roles && !account.protected && (evidence.okta.is_some() || evidence.duo.is_some())
        {
            let days = last_sign_in.map(|t| t.days_until(taken_at));
            if days.is_none_or(|d| d > u64::from(policy.stale_after_days)) {
                let message = match (last_sign_in, days) {
                    (Some(at), Some(d)) => format!(
                        "no sign-in for {d} days (last {at}); the policy allows {}",
                        policy.stale_after_days
                    ),
                    _ => "holds roles but has never signed in".to_owned(),
                };
                user_findings.push((message, FindingKind::StaleAccount { last_sign_in, days }));
            }
        }
        if let Some(okta_evidence) = &evidence.okta {
            match okta {
                None if !account.protected => user_findings.push((
                    "Okta has no user with this login; the portal account outlives its identity"
                        .to_owned(),
                    FindingKind::AbsentFromOkta,
                )),
                None => {}
                Some(o) => {
                    let status: UserStatus =
                        o.status.parse().unwrap_or_else(|never| match never {});
                    if holds_roles && sync_policy.access_of(&status) == Access::Revoke {
                        user_findings.push((
                            format!("holds roles while Okta's status is {}", o.status),
                            FindingKind::InactiveInOkta {
                                status: o.status.clone(),
                            },
                        ));
                    }
                    if let Some(app) = &okta_evidence.app
                        && holds_roles
                        && !app.users.contains_key(&o.id)
                    {
                        user_findings.push((
                            format!(
                                "holds roles but is not assigned to the portal's Okta app {}",
                                app.app_id
                            ),
                            FindingKind::NotAssignedToApp {
                                app_id: app.app_id.clone(),
                            },
                        ));
                    }
                }
            }
        }
        if evidence.duo.is_some() {
            let privileged: Vec<String> = roles
                .iter()
                .filter(|r| policy.privileged_roles.contains(&r.role))
                .map(|r| r.role.clone())
                .collect();
            let gap = match duo {
                None => Some(SecondFactorGap::NoDuoUser),
                Some(d) if d.status.eq_ignore_ascii_case("bypass") => Some(SecondFactorGap::Bypass),
                Some(d) if !d.is_enrolled || d.authenticators.is_empty() => {
                    Some(SecondFactorGap::NotEnrolled)
                }
                Some(_) => None,
            };
            if let (false, Some(gap)) = (privileged.is_empty(), gap) {
                let why = match gap {
                    SecondFactorGap::NoDuoUser => "has no Duo user",
                    SecondFactorGap::NotEnrolled => "has no enrolled Duo authenticator",
                    SecondFactorGap::Bypass => "is in Duo bypass status",
                };
                user_findings.push((
                    format!("holds {} but {why}", privileged.join(", ")),
                    FindingKind::PrivilegedWithoutSecondFactor {
                        roles: privileged,
                        gap,
                    },
                ));
            }
        }
        // Break-glass accounts are granted by hand by design; flagging them would bury the
        // grants that matter.
        if !account.protected {
            for role in roles
                .iter()
                .filter(|r| r.managed && r.source == GrantSource::Manual)
            {
                user_findings.push((
                    format!(
                        "{} is managed by the Okta sync but was granted by hand: the sync will never revoke it",
                        role.role
                    ),
                    FindingKind::ManualGrantOfManagedRole {
                        role: role.role.clone(),
                    },
                ));
            }
        }

        let kinds = user_findings
            .iter()
            .map(|(_, k)| k.name().to_owned())
            .collect();
        findings.extend(user_findings.into_iter().map(|(message, kind)| Finding {
            severity: kind.severity(),
            subject: account.login.clone(),
            message,
            kind,
        }));
        users.push(UserReview {
            login: account.login.clone(),
            protected: account.protected,
            roles,
            okta: okta.map(|o| OktaSide {
                id: o.id.clone(),
                status: o.status.clone(),
                last_login: o.last_login,
                groups: o.groups.iter().cloned().collect(),
                app_assignment: app.and_then(|a| a.users.get(&o.id).cloned()),
            }),
            duo: duo.map(duo_side),
            last_sign_in,
            findings: kinds,
        });
    }

    let duo_admins: Vec<AdminReview> = evidence
        .duo
        .iter()
        .flat_map(|d| &d.admins)
        .map(|admin| admin_review(admin, &portal_identities, &mut findings))
        .collect();

    findings.sort_by(|a, b| {
        (a.severity, a.kind.name(), &a.subject, &a.message).cmp(&(
            b.severity,
            b.kind.name(),
            &b.subject,
            &b.message,
        ))
    });
    let mut counts = Counts {
        portal_users: users.len(),
        protected_accounts: users.iter().filter(|u| u.protected).count(),
        with_roles: users.iter().filter(|u| !u.roles.is_empty()).count(),
        okta_users: evidence.okta.as_ref().map_or(0, |o| o.users.len()),
        duo_users: evidence.duo.as_ref().map_or(0, |d| d.users.len()),
        duo_admins: duo_admins.len(),
        ..Counts::default()
    };
    for finding in &findings {
        *counts
            .findings_by_severity
            .entry(finding.severity)
            .or_default() += 1;
        *counts
            .findings_by_kind
            .entry(finding.kind.name().to_owned())
            .or_default() += 1;
    }

    Report {
        schema: SCHEMA.to_owned(),
        taken_at,
        // `evidence` is the normalized copy: hash it as it is.
        fingerprint: evidence.fingerprint_as_is(),
        policy: policy.clone(),
        sources: Sources {
            okta: evidence.okta.is_some(),
            okta_app: app.map(|a| a.app_id.clone()),
            okta_missing_groups: evidence
                .okta
                .iter()
                .flat_map(|o| o.missing_groups.iter().cloned())
                .collect(),
            duo: evidence.duo.is_some(),
            duo_log_window: evidence.duo.as_ref().and_then(|d| d.log_window),
        },
        counts,
        findings,
        users,
        duo_admins,
    }
}

fn role_reviews(
    account: &PortalAccount,
    okta: Option<&OktaAccount>,
    evidence: &Evidence,
) -> Vec<RoleReview> {
    let mut seen = BTreeSet::new();
    account
        .grants
        .iter()
        // One row per role: a role recorded twice keeps its first (sorted: sync before manual).
        .filter(|g| seen.insert(g.role.clone()))
        .map(|grant| {
            let granted_by = okta
                .map(|o| {
                    o.groups
                        .iter()
                        .filter(|g| {
                            evidence
                                .mapping
                                .get(*g)
                                .is_some_and(|roles| roles.contains(&grant.role))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let managed = evidence.managed_roles.contains(&grant.role)
                || evidence.mapping.values().any(|r| r.contains(&grant.role));
            RoleReview {
                role: grant.role.clone(),
                source: grant.source,
                managed,
                granted_by,
            }
        })
        .collect()
}

fn duo_side(d: &DuoAccount) -> DuoSide {
    DuoSide {
        user_id: d.user_id.clone(),
        username: d.username.clone(),
        status: d.status.clone(),
        is_enrolled: d.is_enrolled,
        last_auth: d.last_auth.clone(),
        last_login: d.last_login,
        authenticators: d.authenticators.clone(),
    }
}

fn admin_review(
    admin: &DuoAdmin,
    portal_identities: &HashMap<String, String>,
    findings: &mut Vec<Finding>,
) -> AdminReview {
    let portal_user = admin
        .email
        .as_deref()
        .and_then(|e| portal_identities.get(&key(e)).cloned());
    if portal_user.is_none() {
        let who = admin
            .email
            .clone()
            .unwrap_or_else(|| admin.admin_id.clone());
        findings.push(Finding {
            severity: Severity::Medium,
            subject: who,
            message: format!(
                "Duo administrator{} is not a portal user: review whether they still need Duo admin access",
                admin
                    .role
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            kind: FindingKind::DuoAdminNotPortalUser {
                admin_id: admin.admin_id.clone(),
                role: admin.role.clone(),
            },
        });
    }
    AdminReview {
        admin_id: admin.admin_id.clone(),
        name: admin.name.clone(),
        email: admin.email.clone(),
        role: admin.role.clone(),
        status: admin.status.clone(),
        last_login: admin.last_login,
        portal_user,
    }
}
