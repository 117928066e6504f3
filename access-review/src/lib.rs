//! Access reviews with evidence, for a portal that signs people in through Okta (SAML) and Duo
//! and takes its roles from Okta groups (`role-sync`).
//!
//! An auditor asks: *who can reach the portal, through which group, with which roles, when did
//! they last sign in, did they use a second factor, and who administers Duo?* This crate answers
//! with one [`Report`]: a row per portal account, a row per Duo administrator, and the findings
//! first.
//!
//! - [`Evidence`] is what a review reads, as plain data: the portal's accounts (grants with
//!   their [`GrantSource`](role_sync::GrantSource), protected accounts, the linked Duo user), the
//!   mapping, and what Okta and Duo said.
//! - [`review`] is a pure function of the evidence, a [`ReviewPolicy`] and the time: no IO, and
//!   the same inputs in any order give the same report byte for byte.
//! - [`collect::Collector`] (feature `collect`, on by default) reads the evidence with
//!   `okta-client` and `duo-admin`, complete or an error, with progress.
//! - [`Report`] is written as JSON ([`Report::to_json`]), CSV ([`Report::users_csv`],
//!   [`Report::findings_csv`], [`Report::duo_admins_csv`]) and one self-contained HTML page
//!   ([`Report::to_html`]) with the findings first.
//!
//! # Findings
//!
//! | kind | severity | raised when |
//! |---|---|---|
//! | `absent_from_okta` | high | Okta was read and has no user with the login of a portal account (protected accounts excepted) |
//! | `inactive_in_okta` | high | a portal account holds roles while its Okta status gives no access as `role-sync` reads it (`SUSPENDED`, `DEPROVISIONED`, `STAGED`, `PROVISIONED`, unknown) |
//! | `privileged_without_second_factor` | high | Duo was read and a holder of a privileged role (policy; default `admin`) has no Duo user, no enrolled authenticator, or is in `bypass` |
//! | `stale_account` | medium | a non-protected account holding roles has no sign-in (Okta `lastLogin`, last Duo authentication, Duo `last_login`) within the policy's days (default 90), or none at all |
//! | `manual_grant_of_managed_role` | medium | a non-protected account holds a role the sync manages by a manual grant, which the sync will never revoke |
//! | `duo_admin_not_portal_user` | medium | a Duo administrator's email is no portal account's login or email |
//! | `not_assigned_to_app` | low | the portal app's assignments were read and an Okta user holding portal roles is not assigned, so cannot sign in by SAML |
//!
//! A finding that needs a source that was not read is not raised: the report's `sources` says
//! what was read.
//!
//! # JSON schema `access-review/1`
//!
//! Times are RFC 3339 UTC strings (`"2026-12-05T17:00:00Z"`); absent values are `null`; lists
//! are sorted (users by login, admins by id, findings by severity, kind, subject).
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `schema` | string | `"access-review/1"` |
//! | `taken_at` | time | when the review was taken |
//! | `fingerprint` | string | `sha256:` + hex of the canonical evidence ([`Evidence::fingerprint`]) |
//! | `policy` | object | `stale_after_days` (number), `privileged_roles` (strings) |
//! | `sources` | object | `okta` (bool), `okta_app` (string or null), `okta_missing_groups` (strings), `duo` (bool), `duo_log_window` (`[from, to]` or null) |
//! | `counts` | object | `portal_users`, `protected_accounts`, `with_roles`, `okta_users`, `duo_users`, `duo_admins` (numbers), `findings_by_severity` (`high`/`medium`/`low` → number), `findings_by_kind` (kind → number) |
//! | `findings[]` | object | `severity`, `subject` (portal login or admin email), `message`, `kind`, and the kind's fields: `last_sign_in`, `days` (stale); `status` (inactive); `roles`, `gap` = `no_duo_user`/`not_enrolled`/`bypass` (second factor); `role` (manual grant); `admin_id`, `role` (Duo admin); `app_id` (app) |
//! | `users[]` | object | `login`, `protected`, `roles[]` (`role`, `source` = `sync`/`manual`, `managed`, `granted_by` = Okta group names), `okta` (`id`, `status`, `last_login`, `groups`, `app_assignment` = `USER`/`GROUP`/null, or null), `duo` (`user_id`, `username`, `status`, `is_enrolled`, `last_auth` = {`at`, `factor`, `application`} or null, `last_login`, `authenticators[]` = {`kind`, `label`}, or null), `last_sign_in`, `findings` (kinds) |
//! | `duo_admins[]` | object | `admin_id`, `name`, `email`, `role`, `status`, `last_login`, `portal_user` (login or null) |
//!
//! The schema changes its version only when a field is removed or changes meaning; fields may
//! be added within `access-review/1`, so readers should ignore fields they do not know.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "collect")]
pub mod collect;
mod evidence;
mod render;
mod report;
mod timestamp;

pub use evidence::{
    AppAccess, AuthenticatorFact, DuoAccount, DuoAdmin, DuoEvidence, Evidence, GrantFact, LastAuth,
    OktaAccount, OktaEvidence, PortalAccount,
};
pub use report::{
    AdminReview, Counts, DuoSide, Finding, FindingKind, OktaSide, Report, ReviewPolicy, RoleReview,
    SCHEMA, SecondFactorGap, Severity, Sources, UserReview, review,
};
pub use timestamp::{Timestamp, TimestampError};
