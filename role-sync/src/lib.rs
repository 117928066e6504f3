//! A pure reconciliation engine: directory groups in, portal role changes out — with guards so
//! that an outage, an empty listing or a mapping mistake cannot wipe out a portal.
//!
//! The crate does no IO, no async, no HTTP. The directory client (for example `okta-client`)
//! feeds it a snapshot, the portal feeds it its users, [`plan`] says what to do, and the
//! integrator applies the [`Plan`] (and records which grants the sync made).
//!
//! # ⚠ Users in no mapped group are revoked by default
//!
//! **Managed portal users who are not members of any mapped directory group — administrators
//! included — have the permissions the sync gave them revoked at the next sync.** That is the
//! default ([`Unmatched::Revoke`]) because it is what the sync promises: removing someone from
//! the directory removes their access. Manual grants and protected (break-glass) accounts are
//! never touched; [`Unmatched::Keep`] leaves users in no mapped group alone instead.
//!
//! # The model
//!
//! - [`Mapping`]: directory group → set of portal roles. A user in several mapped groups gets
//!   the union. The *managed roles* are explicit: a role removed from every group stays managed
//!   (its sync grants are revoked) until [`Mapping::retire`]d.
//! - [`Directory`]: one complete snapshot — users ([`DirectoryUser`]: id, [`Login`],
//!   [`UserStatus`]) and the members of each listed group. Logins match case-insensitively
//!   ([`Login::key`]); two directory users with one key are a [`Conflict`], never a silent pick.
//! - [`Portal`]: the portal's users ([`PortalUser`]) with their grants, each marked
//!   [`GrantSource::Sync`] or [`GrantSource::Manual`], and protected accounts. A portal user
//!   is **managed** when it holds at least one sync grant of a managed role. **Only sync grants
//!   of managed roles are ever removed.**
//! - [`Policy`]: what each status means ([`Access`]: ACTIVE grants; LOCKED_OUT,
//!   PASSWORD_EXPIRED, RECOVERY keep what they have; SUSPENDED, DEPROVISIONED and the rest
//!   revoke), what happens to users in no mapped group ([`Unmatched`]), and the guards.
//! - [`SyncInterval`]: how often an integrator runs the sync (15 minutes by default).
//!
//! # The plan
//!
//! [`plan`] returns creates (with each role's justifying groups), role changes (added and
//! removed), revocations (with a [`RevocationReason`]), conflicts, warnings and the number of
//! unchanged users — sorted, so the same inputs in any order give the same plan byte for byte.
//! It carries the [`Fingerprint`] of its inputs so an applier can refuse a stale plan, prints as
//! a human diff and serializes with serde. [`Portal::apply`] applies it to the in-memory model;
//! planning again then gives an empty plan.
//!
//! # Guards
//!
//! Each guard refuses the plan with a typed [`Violation`] inside a [`Refusal`], and can only be
//! overridden explicitly ([`Policy::allow`], leaving a [`Warning::Overridden`]):
//!
//! 1. **Empty source** — a mapped group whose roles portal users hold (as sync grants) came back
//!    empty or missing.
//! 2. **Revocations** — more than N managed users, or more than P % of them, would lose access.
//! 3. **Escalations** — more than N creates plus promotions (existing users gaining a role).
//! 4. **Protected accounts** are never revoked or downgraded; not a refusal but a rule, reported
//!    as [`Warning::ProtectedKept`].
//! 5. **Minimum holders** — a plan may not bring a role below K holders.
//! 6. **Conflicts** block the users concerned, or the whole plan with [`ConflictMode::BlockAll`].
//!
//! # Example
//!
//! ```
//! use role_sync::{
//!     plan, Directory, DirectoryUser, GrantSource, Mapping, Policy, Portal, PortalUser,
//!     RevocationReason, UserStatus,
//! };
//!
//! let mapping = Mapping::new().map("okta-portal-admins", ["admin"]);
//!
//! let mut directory = Directory::new();
//! directory.add_member(
//!     "okta-portal-admins",
//!     DirectoryUser::new("00u1", "Alice@Example.com", UserStatus::Active),
//! );
//!
//! let mut portal = Portal::new();
//! portal.add_user(PortalUser::new("dave@example.com").grant("admin", GrantSource::Sync));
//! portal.add_user(PortalUser::new("root@example.com").grant("admin", GrantSource::Sync).protect());
//!
//! // Dave left the admin group: revoking 1 of 2 managed users is 50 %, above the default 10 %.
//! let refusal = plan(&mapping, &directory, &portal, &Policy::default()).unwrap_err();
//! println!("{refusal}");
//!
//! let policy = Policy::default().max_revocations(5, 50);
//! let plan = plan(&mapping, &directory, &portal, &policy)?;
//! assert_eq!(plan.creates()[0].login, "Alice@Example.com");
//! assert_eq!(plan.revocations()[0].login, "dave@example.com");
//! assert_eq!(plan.revocations()[0].reason, RevocationReason::NotInDirectory);
//! // The break-glass account is in no group either, but it is protected.
//! assert_eq!(plan.warnings().len(), 1);
//! print!("{plan}");
//! # Ok::<(), role_sync::Refusal>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod directory;
mod engine;
mod error;
mod fingerprint;
mod interval;
mod login;
mod mapping;
mod plan;
mod policy;
mod portal;
mod refusal;
mod status;

pub use directory::{Directory, DirectoryUser};
pub use engine::plan;
pub use error::ParseError;
pub use fingerprint::Fingerprint;
pub use interval::SyncInterval;
pub use login::Login;
pub use mapping::Mapping;
pub use plan::{
    Change, Conflict, Create, DirectoryRef, Plan, Revocation, RevocationReason, RoleGrant, Summary,
    Warning,
};
pub use policy::{ConflictMode, Guard, Policy, Unmatched};
pub use portal::{Grant, GrantSource, Portal, PortalUser};
pub use refusal::{Refusal, Violation};
pub use status::{Access, UserStatus};

/// The crate's README, compiled and run as doctests so that its examples keep working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
