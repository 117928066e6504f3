//! Pure policy helpers for putting Duo in front of a login: which Duo username a portal user
//! has ([`UsernameMapping`]), whether the current IP lets the user skip Duo ([`ip`]), how often
//! to prompt ([`PromptFrequency`]) and who is excluded ([`Exclusions`]). No IO: the
//! [`Gate`](crate::gate::Gate) composes them with the Auth API client.

pub mod ip;
mod username;

use std::collections::HashSet;
use std::time::Duration;

pub use username::{MappingError, UsernameFormat, UsernameMapping};

/// How often a user is asked for a second factor (Okta's "Per Device, Every Time, Per Session").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PromptFrequency {
    /// At every login.
    #[default]
    EveryLogin,
    /// Once per portal session: a session that already passed Duo is not asked again.
    PerSession,
    /// Once per device for a while, using the `trusted_device_token` Duo returns on approval
    /// (Duo decides, through its "remembered devices" policy, whether the token is honoured).
    PerDevice {
        /// How long the portal keeps the device's token.
        remember_for: Duration,
    },
}

/// Users and groups that never see Duo (Okta's "Exclude Users"). Names compare
/// case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    users: HashSet<String>,
    groups: HashSet<String>,
}

impl Exclusions {
    /// No exclusions.
    pub fn none() -> Self {
        Self::default()
    }

    /// Excludes a portal username.
    pub fn user(mut self, username: &str) -> Self {
        self.users.insert(username.to_lowercase());
        self
    }

    /// Excludes the members of a portal group.
    pub fn group(mut self, group: &str) -> Self {
        self.groups.insert(group.to_lowercase());
        self
    }

    /// Whether a user (with its groups) is excluded, and why.
    pub fn excludes(&self, username: &str, groups: &[String]) -> Option<Exclusion> {
        if self.users.contains(&username.to_lowercase()) {
            return Some(Exclusion::User);
        }
        groups
            .iter()
            .find(|g| self.groups.contains(&g.to_lowercase()))
            .map(|g| Exclusion::Group(g.clone()))
    }
}

/// Why a user is excluded from Duo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// The user is excluded by name.
    User,
    /// The user is in this excluded group.
    Group(String),
}
