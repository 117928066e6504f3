//! What a review reads: the portal's accounts, the mapping, and what Okta and Duo said — plain
//! data, so it can be gathered by [`collect`](crate::collect), by another HTTP stack, or from
//! JSON files an integrator exported.

use std::collections::{BTreeMap, BTreeSet};

use role_sync::{GrantSource, Login, Mapping, PortalUser};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Timestamp;

/// A login's matching key (case-insensitive, as `role-sync` matches logins).
pub(crate) fn key(login: &str) -> String {
    Login::new(login).key().to_owned()
}

/// Everything one review reads. `okta` and `duo` are `None` when that service was not read:
/// the findings that need it are then not computed (and the report says so in `sources`),
/// rather than guessed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// The portal's accounts.
    pub portal: Vec<PortalAccount>,
    /// Okta group name → the portal roles it grants.
    pub mapping: BTreeMap<String, BTreeSet<String>>,
    /// Roles the sync manages (every mapped role, and retired ones still managed).
    pub managed_roles: BTreeSet<String>,
    /// What Okta said, if it was read.
    pub okta: Option<OktaEvidence>,
    /// What Duo said, if it was read.
    pub duo: Option<DuoEvidence>,
}

impl Evidence {
    /// Evidence for a portal whose roles come from `mapping`, with no accounts yet.
    pub fn new(mapping: &Mapping) -> Self {
        Self {
            mapping: mapping
                .groups()
                .map(|(group, roles)| (group.to_owned(), roles.map(str::to_owned).collect()))
                .collect(),
            managed_roles: mapping.managed_roles().map(str::to_owned).collect(),
            ..Self::default()
        }
    }

    /// Builder: adds a portal account.
    #[must_use]
    pub fn account(mut self, account: PortalAccount) -> Self {
        self.portal.push(account);
        self
    }

    /// Builder: what Okta said.
    #[must_use]
    pub fn okta(mut self, okta: OktaEvidence) -> Self {
        self.okta = Some(okta);
        self
    }

    /// Builder: what Duo said.
    #[must_use]
    pub fn duo(mut self, duo: DuoEvidence) -> Self {
        self.duo = Some(duo);
        self
    }

    /// The mapping this evidence was taken under, as a [`Mapping`].
    pub fn to_mapping(&self) -> Mapping {
        let mut mapping = Mapping::new();
        for (group, roles) in &self.mapping {
            for role in roles {
                mapping.insert(group.as_str(), role.as_str());
            }
        }
        for role in &self.managed_roles {
            mapping = mapping.manage(role.as_str());
        }
        mapping
    }

    /// The same evidence with every list in a canonical order, so that two gatherings of the
    /// same facts compare equal and fingerprint alike whatever order the services paged them in.
    pub fn normalized(&self) -> Self {
        let mut out = self.clone();
        for account in &mut out.portal {
            account.grants.sort();
            account.grants.dedup();
        }
        out.portal.sort_by(|a, b| {
            (Login::new(a.login.as_str()).key(), &a.login)
                .cmp(&(Login::new(b.login.as_str()).key(), &b.login))
        });
        if let Some(okta) = &mut out.okta {
            okta.users.sort_by(|a, b| a.id.cmp(&b.id));
            okta.not_found.sort();
            okta.not_found.dedup();
        }
        if let Some(duo) = &mut out.duo {
            for user in &mut duo.users {
                user.aliases.sort();
                user.authenticators.sort();
            }
            duo.users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            duo.admins.sort_by(|a, b| a.admin_id.cmp(&b.admin_id));
        }
        out
    }

    /// SHA-256 over the canonical JSON of the [`normalized`](Self::normalized) evidence, as
    /// `sha256:` and 64 hex digits. The same facts give the same fingerprint; any changed fact
    /// (a grant, a status, a sign-in time) gives another.
    pub fn fingerprint(&self) -> String {
        self.normalized().fingerprint_as_is()
    }

    /// The fingerprint of evidence that is already [`normalized`](Self::normalized), without
    /// normalizing (copying and sorting) it again.
    pub(crate) fn fingerprint_as_is(&self) -> String {
        // BTreeMaps and sorted lists make serde_json's output canonical; serializing plain
        // strings, numbers and maps cannot fail.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "sha256:{}",
            base16ct::lower::encode_string(&Sha256::digest(&bytes))
        )
    }
}

/// One grant of a portal role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrantFact {
    /// The role.
    pub role: String,
    /// Who made it.
    pub source: GrantSource,
}

impl GrantFact {
    /// A grant of `role` by `source`.
    pub fn new(role: impl Into<String>, source: GrantSource) -> Self {
        Self {
            role: role.into(),
            source,
        }
    }
}

/// A portal account: its login, grants, whether it is a protected (break-glass) account, and
/// the Duo user it is linked to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PortalAccount {
    /// The login (usually the Okta login, an email address).
    pub login: String,
    /// Whether this is a protected break-glass account (local password, never synced).
    pub protected: bool,
    /// The roles it holds.
    pub grants: Vec<GrantFact>,
    /// The Duo user id it is linked to, if any.
    pub duo_user_id: Option<String>,
}

impl PortalAccount {
    /// An account with no grants, not protected, not linked to Duo.
    pub fn new(login: impl Into<String>) -> Self {
        Self {
            login: login.into(),
            protected: false,
            grants: Vec::new(),
            duo_user_id: None,
        }
    }

    /// The account of a `role_sync` portal user, linked to `duo_user_id`.
    pub fn from_portal_user(user: &PortalUser, duo_user_id: Option<&str>) -> Self {
        Self {
            login: user.login().as_str().to_owned(),
            protected: user.is_protected(),
            grants: user
                .grants()
                .iter()
                .map(|g| GrantFact::new(g.role.as_str(), g.source))
                .collect(),
            duo_user_id: duo_user_id.map(str::to_owned),
        }
    }

    /// Builder: a grant.
    #[must_use]
    pub fn grant(mut self, role: impl Into<String>, source: GrantSource) -> Self {
        self.grants.push(GrantFact::new(role, source));
        self
    }

    /// Builder: marks the account protected.
    #[must_use]
    pub fn protect(mut self) -> Self {
        self.protected = true;
        self
    }

    /// Builder: the linked Duo user.
    #[must_use]
    pub fn duo_user(mut self, user_id: impl Into<String>) -> Self {
        self.duo_user_id = Some(user_id.into());
        self
    }
}

/// What Okta said about the people who matter to the portal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OktaEvidence {
    /// The members of the mapped groups, and every portal login Okta knows.
    pub users: Vec<OktaAccount>,
    /// Portal logins that were looked up and that Okta does not have.
    pub not_found: Vec<String>,
    /// Mapped group names that Okta has no group for.
    pub missing_groups: BTreeSet<String>,
    /// Who is assigned to the portal's SAML app, if its assignments were read.
    pub app: Option<AppAccess>,
}

impl OktaEvidence {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: a user.
    #[must_use]
    pub fn user(mut self, user: OktaAccount) -> Self {
        self.users.push(user);
        self
    }

    /// Builder: a portal login Okta does not have.
    #[must_use]
    pub fn not_found(mut self, login: impl Into<String>) -> Self {
        self.not_found.push(login.into());
        self
    }

    /// Builder: the app's assignments.
    #[must_use]
    pub fn app(mut self, app: AppAccess) -> Self {
        self.app = Some(app);
        self
    }
}

/// An Okta user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OktaAccount {
    /// Okta's user id.
    pub id: String,
    /// `profile.login`.
    pub login: String,
    /// `profile.email`, if any.
    pub email: Option<String>,
    /// `status` as Okta spells it (`ACTIVE`, `SUSPENDED`, …).
    pub status: String,
    /// `lastLogin`, if the user ever signed in.
    pub last_login: Option<Timestamp>,
    /// The mapped groups the user is a member of.
    pub groups: BTreeSet<String>,
}

impl OktaAccount {
    /// A user with no mapped group and no sign-in.
    pub fn new(id: impl Into<String>, login: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            login: login.into(),
            email: None,
            status: status.into(),
            last_login: None,
            groups: BTreeSet::new(),
        }
    }

    /// Builder: `lastLogin`.
    #[must_use]
    pub fn last_login(mut self, at: Timestamp) -> Self {
        self.last_login = Some(at);
        self
    }

    /// Builder: membership of a mapped group.
    #[must_use]
    pub fn member_of(mut self, group: impl Into<String>) -> Self {
        self.groups.insert(group.into());
        self
    }

    /// Builder: the email.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

/// The assignments of the portal's Okta app: who can sign in to the portal at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppAccess {
    /// The app's id.
    pub app_id: String,
    /// Okta user id → how it is assigned (`USER` directly, `GROUP` through a group).
    pub users: BTreeMap<String, String>,
    /// Ids of the groups assigned to the app.
    pub groups: BTreeSet<String>,
}

impl AppAccess {
    /// An app with no assignments.
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            users: BTreeMap::new(),
            groups: BTreeSet::new(),
        }
    }

    /// Builder: a user assigned with `scope` (`USER` or `GROUP`).
    #[must_use]
    pub fn assigned(mut self, user_id: impl Into<String>, scope: impl Into<String>) -> Self {
        self.users.insert(user_id.into(), scope.into());
        self
    }
}

/// What Duo said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuoEvidence {
    /// The Duo users linked to, or named like, portal accounts.
    pub users: Vec<DuoAccount>,
    /// Every Duo administrator.
    pub admins: Vec<DuoAdmin>,
    /// The authentication-log window read for last authentications, if it was read.
    pub log_window: Option<(Timestamp, Timestamp)>,
}

impl DuoEvidence {
    /// No users, no administrators.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: a user.
    #[must_use]
    pub fn user(mut self, user: DuoAccount) -> Self {
        self.users.push(user);
        self
    }

    /// Builder: an administrator.
    #[must_use]
    pub fn admin(mut self, admin: DuoAdmin) -> Self {
        self.admins.push(admin);
        self
    }
}

/// A Duo user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuoAccount {
    /// Duo's user id.
    pub user_id: String,
    /// The username.
    pub username: String,
    /// Username aliases.
    pub aliases: Vec<String>,
    /// The email, if any.
    pub email: Option<String>,
    /// `active`, `bypass`, `disabled`, `locked out`, …
    pub status: String,
    /// Whether Duo counts the user as enrolled.
    pub is_enrolled: bool,
    /// The user's `last_login`.
    pub last_login: Option<Timestamp>,
    /// Enrolled authenticators.
    pub authenticators: Vec<AuthenticatorFact>,
    /// The latest successful authentication in the log window, if any.
    pub last_auth: Option<LastAuth>,
}

impl DuoAccount {
    /// An active, unenrolled user with no authenticators.
    pub fn new(user_id: impl Into<String>, username: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            username: username.into(),
            aliases: Vec::new(),
            email: None,
            status: "active".to_owned(),
            is_enrolled: false,
            last_login: None,
            authenticators: Vec::new(),
            last_auth: None,
        }
    }

    /// Builder: the status.
    #[must_use]
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = status.into();
        self
    }

    /// Builder: an authenticator (and the user counts as enrolled).
    #[must_use]
    pub fn authenticator(mut self, authenticator: AuthenticatorFact) -> Self {
        self.authenticators.push(authenticator);
        self.is_enrolled = true;
        self
    }

    /// Builder: the latest successful authentication.
    #[must_use]
    pub fn last_auth(mut self, auth: LastAuth) -> Self {
        self.last_auth = Some(auth);
        self
    }

    /// Builder: `last_login`.
    #[must_use]
    pub fn last_login(mut self, at: Timestamp) -> Self {
        self.last_login = Some(at);
        self
    }

    /// Builder: the email.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Builder: an alias.
    #[must_use]
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }
}

/// An enrolled authenticator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthenticatorFact {
    /// `phone`, `token`, `webauthn`, `u2f` or `duo_desktop`.
    pub kind: String,
    /// What identifies it to a person: a number, a serial, a credential name.
    pub label: String,
}

impl AuthenticatorFact {
    /// An authenticator of `kind` labelled `label`.
    pub fn new(kind: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            label: label.into(),
        }
    }
}

/// The latest successful Duo authentication of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LastAuth {
    /// When.
    pub at: Timestamp,
    /// The factor (`duo_push`, `passcode`, `phone_call`, …) as the log names it.
    pub factor: String,
    /// The application (integration) it was for, if the log names it.
    pub application: Option<String>,
}

impl LastAuth {
    /// An authentication at `at` with `factor`.
    pub fn new(at: Timestamp, factor: impl Into<String>) -> Self {
        Self {
            at,
            factor: factor.into(),
            application: None,
        }
    }
}

/// A Duo administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuoAdmin {
    /// Duo's admin id.
    pub admin_id: String,
    /// The name.
    pub name: Option<String>,
    /// The email.
    pub email: Option<String>,
    /// The role (`Owner`, `Administrator`, `Help Desk`, …).
    pub role: Option<String>,
    /// The status.
    pub status: Option<String>,
    /// The last sign-in to the Admin Panel.
    pub last_login: Option<Timestamp>,
}

impl DuoAdmin {
    /// An administrator with only an id.
    pub fn new(admin_id: impl Into<String>) -> Self {
        Self {
            admin_id: admin_id.into(),
            name: None,
            email: None,
            role: None,
            status: None,
            last_login: None,
        }
    }

    /// Builder: the email.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Builder: the role.
    #[must_use]
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Builder: the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
