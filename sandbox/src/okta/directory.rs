//! The generated Okta directory: users, groups, memberships, and their JSON as Okta shapes it.
//!
//! Everything generated derives from the org seed, so two sandboxes with the same seed serve the
//! same ids, statuses and memberships. Users and groups are kept in creation order (their
//! sequence numbers are the paging cursors) so that pages stay stable while tests change the
//! directory between requests.
//!
//! Member pages are the hot path (a sync reads every member of every mapped group), so each
//! user's JSON is rendered once, on first use, and re-rendered only when the user changes. The
//! rendered form is split around the org URL, which depends on how the client reached the
//! sandbox (HTTP or HTTPS listener, `Host` header).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use super::search::Expr;
use super::time::{iso8601, now_millis};
use crate::people::Person;

/// A user's lifecycle status. Members come back in every status; clients decide which count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum OktaUserStatus {
    /// Active.
    Active,
    /// Created, not activated.
    Staged,
    /// Activated, the user has not set credentials yet.
    Provisioned,
    /// Password reset in progress.
    Recovery,
    /// Too many failed sign-ins.
    LockedOut,
    /// Must change password at next sign-in.
    PasswordExpired,
    /// Suspended by an admin.
    Suspended,
    /// Deactivated.
    Deprovisioned,
}

impl OktaUserStatus {
    /// Every status.
    pub const ALL: [OktaUserStatus; 8] = [
        OktaUserStatus::Active,
        OktaUserStatus::Staged,
        OktaUserStatus::Provisioned,
        OktaUserStatus::Recovery,
        OktaUserStatus::LockedOut,
        OktaUserStatus::PasswordExpired,
        OktaUserStatus::Suspended,
        OktaUserStatus::Deprovisioned,
    ];

    /// Okta's spelling (`ACTIVE`, `LOCKED_OUT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OktaUserStatus::Active => "ACTIVE",
            OktaUserStatus::Staged => "STAGED",
            OktaUserStatus::Provisioned => "PROVISIONED",
            OktaUserStatus::Recovery => "RECOVERY",
            OktaUserStatus::LockedOut => "LOCKED_OUT",
            OktaUserStatus::PasswordExpired => "PASSWORD_EXPIRED",
            OktaUserStatus::Suspended => "SUSPENDED",
            OktaUserStatus::Deprovisioned => "DEPROVISIONED",
        }
    }

    /// Whether the user has ever been activated (STAGED users have not).
    fn activated(self) -> bool {
        self != OktaUserStatus::Staged
    }

    /// Whether the user has set a password (and may have signed in).
    fn has_password(self) -> bool {
        !matches!(self, OktaUserStatus::Staged | OktaUserStatus::Provisioned)
    }
}

/// A group's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum OktaGroupType {
    /// A group mastered in Okta.
    OktaGroup,
    /// A group imported from an app (AD, LDAP, …).
    AppGroup,
    /// Okta's own `Everyone` group.
    BuiltIn,
}

impl OktaGroupType {
    /// Okta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OktaGroupType::OktaGroup => "OKTA_GROUP",
            OktaGroupType::AppGroup => "APP_GROUP",
            OktaGroupType::BuiltIn => "BUILT_IN",
        }
    }
}

/// A user, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OktaUser {
    /// `00u…`.
    pub id: String,
    /// `profile.login`.
    pub login: String,
    /// `profile.email`.
    pub email: String,
    /// `profile.firstName`.
    pub first_name: String,
    /// `profile.lastName` (null for some users, as Okta allows).
    pub last_name: Option<String>,
    /// Lifecycle status.
    pub status: OktaUserStatus,
}

/// A group, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OktaGroup {
    /// `00g…`.
    pub id: String,
    /// `profile.name`.
    pub name: String,
    /// `profile.description`.
    pub description: Option<String>,
    /// `type`.
    pub group_type: OktaGroupType,
    /// How many members it has.
    pub members: usize,
}

/// A user to add at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewOktaUser {
    /// `profile.login` (unique, compared case-insensitively).
    pub login: String,
    /// `profile.email` (defaults to the login).
    pub email: Option<String>,
    /// `profile.firstName`.
    pub first_name: String,
    /// `profile.lastName`.
    pub last_name: Option<String>,
    /// Initial status (default ACTIVE).
    pub status: OktaUserStatus,
}

impl NewOktaUser {
    /// An ACTIVE user with this login, named after its local part.
    pub fn new(login: impl Into<String>) -> Self {
        let login = login.into();
        let first_name = login.split('@').next().unwrap_or_default().to_owned();
        Self {
            login,
            email: None,
            first_name,
            last_name: None,
            status: OktaUserStatus::Active,
        }
    }

    /// Sets the names.
    pub fn name(mut self, first: impl Into<String>, last: Option<&str>) -> Self {
        self.first_name = first.into();
        self.last_name = last.map(str::to_owned);
        self
    }

    /// Sets the email.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the initial status.
    pub fn status(mut self, status: OktaUserStatus) -> Self {
        self.status = status;
        self
    }
}

/// Why a directory change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// No user with this id or login.
    #[error("no Okta user {0}")]
    UnknownUser(String),
    /// No group with this id.
    #[error("no Okta group {0}")]
    UnknownGroup(String),
    /// `Everyone` cannot be deleted and its membership is everyone.
    #[error("group {0} is Okta's built-in Everyone group")]
    BuiltInGroup(String),
    /// Another user already has this login.
    #[error("login {0} is already taken")]
    DuplicateLogin(String),
}

/// JSON rendered with the org URL left out: `parts` joined by the base URL.
#[derive(Debug)]
pub(crate) struct Rendered {
    parts: Vec<Box<str>>,
}

impl Rendered {
    fn new(json: &str, sentinel: &str) -> Self {
        Self {
            parts: json.split(sentinel).map(Into::into).collect(),
        }
    }

    /// Appends the JSON with `base` (`scheme://host`) filled in.
    pub(crate) fn write(&self, base: &str, out: &mut String) {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(base);
            }
            out.push_str(part);
        }
    }

    /// Appends the JSON object with `"_embedded": embedded` as its first member, so that an
    /// expanded listing reuses the cached rendering instead of rendering the object again.
    fn write_embedded(&self, base: &str, embedded: &str, out: &mut String) {
        out.push_str(r#"{"_embedded":"#);
        out.push_str(embedded);
        for (i, part) in self.parts.iter().enumerate() {
            if i == 0 {
                // Every rendered object opens with `{`; its first member follows a comma now.
                let rest = part.strip_prefix('{').unwrap_or(part);
                if !rest.starts_with('}') {
                    out.push(',');
                }
                out.push_str(rest);
            } else {
                out.push_str(base);
                out.push_str(part);
            }
        }
    }

    fn len_hint(&self) -> usize {
        self.parts.iter().map(|p| p.len() + 32).sum()
    }
}

/// `expand=stats` was asked for: each group served carries Okta's `_embedded.stats`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExpandStats {
    /// The group ids of every app assignment in the org (one entry per app and group), for
    /// `appsCount`.
    pub(crate) app_groups: Vec<String>,
}

impl ExpandStats {
    /// `_embedded` with the group's `stats` as Okta shapes them: `usersCount` is the current
    /// membership. The sandbox has no group push and no admin role assignments, so
    /// `groupPushMappingsCount` is 0 and `hasAdminPrivilege` false, as in an org without them.
    fn embedded(&self, group: &GroupRec, base: &str) -> String {
        let apps = self.app_groups.iter().filter(|g| **g == group.id).count();
        json!({"stats": {
            "usersCount": group.members.len(),
            "appsCount": apps,
            "groupPushMappingsCount": 0,
            "hasAdminPrivilege": false,
            "_links": {"self": {"href": format!("{base}/api/v1/groups/{}/stats", group.id)}},
        }})
        .to_string()
    }
}

#[derive(Debug)]
struct UserRec {
    id: String,
    status: OktaUserStatus,
    login: String,
    email: String,
    first_name: String,
    last_name: Option<String>,
    department: &'static str,
    employee_number: String,
    created: i64,
    activated: Option<i64>,
    status_changed: Option<i64>,
    last_login: Option<i64>,
    password_changed: Option<i64>,
    last_updated: i64,
    groups: BTreeSet<u64>,
    json: OnceLock<Rendered>,
}

impl UserRec {
    fn public(&self) -> OktaUser {
        OktaUser {
            id: self.id.clone(),
            login: self.login.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            status: self.status,
        }
    }

    fn to_json(&self, base: &str, user_type: &str) -> Value {
        let t = |ms: Option<i64>| ms.map(iso8601);
        let credentials = if self.status.has_password() {
            json!({"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}})
        } else {
            json!({"provider": {"type": "OKTA", "name": "OKTA"}})
        };
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "created": iso8601(self.created),
            "activated": t(self.activated),
            "statusChanged": t(self.status_changed),
            "lastLogin": t(self.last_login),
            "lastUpdated": iso8601(self.last_updated),
            "passwordChanged": t(self.password_changed),
            "type": {"id": user_type},
            "profile": {
                "firstName": self.first_name,
                "lastName": self.last_name,
                "mobilePhone": null,
                "secondEmail": null,
                "login": self.login,
                "email": self.email,
                "department": self.department,
                "employeeNumber": self.employee_number,
            },
            "credentials": credentials,
            "_links": {"self": {"href": format!("{base}/api/v1/users/{}", self.id)}},
        })
    }

    fn touch(&mut self, now: i64) {
        self.last_updated = now;
        self.json = OnceLock::new();
    }
}

#[derive(Debug)]
struct GroupRec {
    id: String,
    name: String,
    description: Option<String>,
    kind: OktaGroupType,
    created: i64,
    last_updated: i64,
    last_membership_updated: i64,
    members: BTreeSet<u64>,
    json: OnceLock<Rendered>,
}

impl GroupRec {
    fn public(&self) -> OktaGroup {
        OktaGroup {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            group_type: self.kind,
            members: self.members.len(),
        }
    }

    fn to_json(&self, base: &str) -> Value {
        let object_class = match self.kind {
            OktaGroupType::AppGroup => "okta:windows_security_principal",
            _ => "okta:user_group",
        };
        let logo = |size: &str| json!({"name": size, "href": format!("{base}/assets/img/logos/groups/okta-{size}.png"), "type": "image/png"});
        let mut links = json!({
            "logo": [logo("medium"), logo("large")],
            "users": {"href": format!("{base}/api/v1/groups/{}/users", self.id)},
            "apps": {"href": format!("{base}/api/v1/groups/{}/apps", self.id)},
        });
        if self.kind == OktaGroupType::AppGroup
            && let Some(obj) = links.as_object_mut()
        {
            obj.insert(
                "source".into(),
                json!({"href": format!("{base}/api/v1/apps/0oa{}", &self.id[3..])}),
            );
        }
        json!({
            "id": self.id,
            "created": iso8601(self.created),
            "lastUpdated": iso8601(self.last_updated),
            "lastMembershipUpdated": iso8601(self.last_membership_updated),
            "objectClass": [object_class],
            "type": self.kind.as_str(),
            "profile": {"name": self.name, "description": self.description},
            "_links": links,
        })
    }

    /// The value of a search attribute.
    fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(match name {
            "id" => Cow::Borrowed(self.id.as_str()),
            "type" => Cow::Borrowed(self.kind.as_str()),
            "profile.name" => Cow::Borrowed(self.name.as_str()),
            "profile.description" => Cow::Borrowed(self.description.as_deref()?),
            "created" => Cow::Owned(iso8601(self.created)),
            "lastUpdated" => Cow::Owned(iso8601(self.last_updated)),
            "lastMembershipUpdated" => Cow::Owned(iso8601(self.last_membership_updated)),
            _ => return None,
        })
    }

    fn membership_changed(&mut self, now: i64) {
        self.last_membership_updated = now;
        self.json = OnceLock::new();
    }
}

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Support",
    "Operations",
    "Legal",
    "People",
];
const GROUP_NAMES: &[&str] = &[
    "Engineering",
    "Sales",
    "Portal Admins",
    "Portal Users",
    "Finance",
    "Support",
    "Contractors",
    "Security",
    "Marketing",
    "Operations",
    "Legal",
    "Design",
    "Data Science",
    "Executives",
    "Interns",
];
/// 2018-01-01T00:00:00Z: generated history starts here.
const EPOCH_2018_MS: i64 = 1_514_764_800_000;
const DAY_MS: i64 = 86_400_000;

/// The directory.
#[derive(Debug)]
pub(crate) struct Directory {
    /// Stands for the org URL in rendered JSON; random, so no data can contain it.
    sentinel: String,
    user_type: String,
    users: BTreeMap<u64, UserRec>,
    user_ids: HashMap<String, u64>,
    logins: HashMap<String, u64>,
    groups: BTreeMap<u64, GroupRec>,
    group_ids: HashMap<String, u64>,
    next_user: u64,
    next_group: u64,
    everyone: u64,
}

/// An Okta-style id: a 3-character prefix and 17 alphanumerics.
fn okta_id(prefix: &str, rng: &mut impl RngExt) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    for _ in 0..17 {
        id.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    id
}

fn seeded(seed: u64, domain: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(
        seed ^ domain
            ^ (index as u64)
                .wrapping_add(1)
                .wrapping_mul(0xD6E8_FEB8_6659_FD93),
    )
}

impl Directory {
    /// The organisation generated from `seed`: `users` people, `groups` groups plus `Everyone`.
    pub(crate) fn generate(seed: u64, users: usize, groups: usize) -> Self {
        let mut dir = Directory {
            sentinel: format!("__org_url_{}__", crate::random_id(24)),
            user_type: okta_id("oty", &mut seeded(seed, 0x7479_7065, 0)),
            users: BTreeMap::new(),
            user_ids: HashMap::with_capacity(users),
            logins: HashMap::with_capacity(users),
            groups: BTreeMap::new(),
            group_ids: HashMap::new(),
            next_user: 0,
            next_group: 0,
            everyone: 0,
        };
        let mut rng = seeded(seed, 0x4556_4552, 0);
        let everyone = dir.insert_group(GroupRec {
            id: okta_id("00g", &mut rng),
            name: "Everyone".into(),
            description: Some("All users in your organization".into()),
            kind: OktaGroupType::BuiltIn,
            created: EPOCH_2018_MS,
            last_updated: EPOCH_2018_MS,
            last_membership_updated: EPOCH_2018_MS,
            members: BTreeSet::new(),
            json: OnceLock::new(),
        });
        dir.everyone = everyone;
        let mut generated = Vec::with_capacity(groups);
        for i in 0..groups {
            let mut rng = seeded(seed, 0x4752_4f55, i);
            let base = GROUP_NAMES[i % GROUP_NAMES.len()];
            let name = match i / GROUP_NAMES.len() {
                0 => base.to_owned(),
                n => format!("{base} {}", n + 1),
            };
            let kind = if i % 5 == 4 {
                OktaGroupType::AppGroup
            } else {
                OktaGroupType::OktaGroup
            };
            let description = match (i % 3, kind) {
                (2, _) => None,
                (_, OktaGroupType::AppGroup) => {
                    Some(format!("Imported from Active Directory: {name}"))
                }
                _ => Some(format!("{name} team")),
            };
            let created =
                EPOCH_2018_MS + rng.random_range(0..365) * DAY_MS + rng.random_range(0..DAY_MS);
            let updated = created + rng.random_range(0..700) * DAY_MS;
            let seq = dir.insert_group(GroupRec {
                id: okta_id("00g", &mut rng),
                name,
                description,
                kind,
                created,
                last_updated: updated,
                last_membership_updated: updated + rng.random_range(0..300) * DAY_MS,
                members: BTreeSet::new(),
                json: OnceLock::new(),
            });
            generated.push(seq);
        }
        for i in 0..users {
            let person = Person::generate(seed, i);
            let mut rng = seeded(seed, 0x5553_4552, i);
            let user = generated_user(&person, &mut rng);
            let seq = dir.insert_user(user);
            // About two groups per user, some in none: 0..=4 with weights 15/25/25/20/15.
            let roll = rng.random_range(0..100);
            let k = match roll {
                0..15 => 0,
                15..40 => 1,
                40..65 => 2,
                65..85 => 3,
                _ => 4,
            }
            .min(generated.len());
            let mut chosen = BTreeSet::new();
            while chosen.len() < k {
                chosen.insert(generated[rng.random_range(0..generated.len())]);
            }
            for g in chosen {
                dir.link(g, seq);
            }
        }
        dir
    }

    fn insert_group(&mut self, group: GroupRec) -> u64 {
        let seq = self.next_group;
        self.next_group += 1;
        self.group_ids.insert(group.id.clone(), seq);
        self.groups.insert(seq, group);
        seq
    }

    fn insert_user(&mut self, user: UserRec) -> u64 {
        let seq = self.next_user;
        self.next_user += 1;
        self.user_ids.insert(user.id.clone(), seq);
        self.logins.insert(user.login.to_lowercase(), seq);
        self.users.insert(seq, user);
        let everyone = self.everyone;
        self.link(everyone, seq);
        seq
    }

    fn link(&mut self, group: u64, user: u64) -> bool {
        let (Some(g), Some(u)) = (self.groups.get_mut(&group), self.users.get_mut(&user)) else {
            return false;
        };
        u.groups.insert(group);
        g.members.insert(user)
    }

    fn user_seq(&self, id_or_login: &str) -> Option<u64> {
        self.user_ids
            .get(id_or_login)
            .or_else(|| self.logins.get(&id_or_login.to_lowercase()))
            .copied()
    }

    fn group_seq(&self, id: &str) -> Option<u64> {
        self.group_ids.get(id).copied()
    }

    // ----- reads for the API -----

    /// The JSON of the user with this id or login.
    pub(crate) fn user_json(&self, id_or_login: &str, base: &str) -> Option<String> {
        let user = self.users.get(&self.user_seq(id_or_login)?)?;
        let mut out = String::new();
        self.rendered_user(user).write(base, &mut out);
        Some(out)
    }

    fn rendered_user<'a>(&self, user: &'a UserRec) -> &'a Rendered {
        user.json.get_or_init(|| {
            Rendered::new(
                &user.to_json(&self.sentinel, &self.user_type).to_string(),
                &self.sentinel,
            )
        })
    }

    fn rendered_group<'a>(&self, group: &'a GroupRec) -> &'a Rendered {
        group.json.get_or_init(|| {
            Rendered::new(&group.to_json(&self.sentinel).to_string(), &self.sentinel)
        })
    }

    /// The JSON of one group (with `_embedded.stats` when `stats` is given).
    pub(crate) fn group_json(
        &self,
        id: &str,
        base: &str,
        stats: Option<&ExpandStats>,
    ) -> Option<String> {
        let group = self.groups.get(&self.group_seq(id)?)?;
        let mut out = String::new();
        self.write_group(group, base, stats, &mut out);
        Some(out)
    }

    fn write_group(
        &self,
        group: &GroupRec,
        base: &str,
        stats: Option<&ExpandStats>,
        out: &mut String,
    ) {
        let rendered = self.rendered_group(group);
        match stats {
            // Counts change with every membership change: computed per request, never cached.
            Some(stats) => rendered.write_embedded(base, &stats.embedded(group, base), out),
            None => rendered.write(base, out),
        }
    }

    /// A page of groups after cursor `after` matching every expression in `filters` (and the name
    /// prefix `q`): the JSON array and, when more remain, the cursor of the last one served.
    /// With `stats`, each group carries `_embedded.stats` (`expand=stats`).
    pub(crate) fn groups_page(
        &self,
        after: Option<u64>,
        limit: usize,
        q: Option<&str>,
        filters: &[Expr],
        base: &str,
        stats: Option<&ExpandStats>,
    ) -> (String, Option<u64>) {
        let q = q.map(str::to_lowercase);
        let start = after.map_or(0, |a| a.saturating_add(1));
        let matching = self.groups.range(start..).filter(|(_, g)| {
            q.as_ref()
                .is_none_or(|q| g.name.to_lowercase().starts_with(q.as_str()))
                && filters.iter().all(|f| f.matches(&|attr| g.attr(attr)))
        });
        let mut out = String::with_capacity(limit.min(256) * 700);
        out.push('[');
        let mut last = None;
        let mut more = false;
        for (n, (seq, group)) in matching.enumerate() {
            if n == limit {
                more = true;
                break;
            }
            if n > 0 {
                out.push(',');
            }
            self.write_group(group, base, stats, &mut out);
            last = Some(*seq);
        }
        out.push(']');
        (out, if more { last } else { None })
    }

    /// A page of a group's members after cursor `after`; None when the group does not exist.
    pub(crate) fn members_page(
        &self,
        group: &str,
        after: Option<u64>,
        limit: usize,
        base: &str,
    ) -> Option<(String, Option<u64>)> {
        let group = self.groups.get(&self.group_seq(group)?)?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut members = group
            .members
            .range(start..)
            .filter_map(|seq| self.users.get(seq).map(|u| (*seq, u)));
        let expected = limit.min(group.members.len());
        let mut out = String::new();
        out.push('[');
        let mut last = None;
        let mut more = false;
        for n in 0..=limit {
            let Some((seq, user)) = members.next() else {
                break;
            };
            if n == limit {
                more = true;
                break;
            }
            let rendered = self.rendered_user(user);
            if n == 0 {
                // One allocation for the page: users' JSON sizes hardly differ.
                out.reserve(rendered.len_hint() * expected + 2);
            } else {
                out.push(',');
            }
            rendered.write(base, &mut out);
            last = Some(seq);
        }
        out.push(']');
        Some((out, if more { last } else { None }))
    }

    // ----- reads and changes for tests -----

    pub(crate) fn users(&self) -> Vec<OktaUser> {
        self.users.values().map(UserRec::public).collect()
    }

    pub(crate) fn user(&self, id_or_login: &str) -> Option<OktaUser> {
        self.users
            .get(&self.user_seq(id_or_login)?)
            .map(UserRec::public)
    }

    pub(crate) fn groups(&self) -> Vec<OktaGroup> {
        self.groups.values().map(GroupRec::public).collect()
    }

    pub(crate) fn group(&self, id_or_name: &str) -> Option<OktaGroup> {
        match self.group_seq(id_or_name) {
            Some(seq) => self.groups.get(&seq).map(GroupRec::public),
            None => self
                .groups
                .values()
                .find(|g| g.name == id_or_name)
                .map(GroupRec::public),
        }
    }

    pub(crate) fn members(&self, group: &str) -> Result<Vec<OktaUser>, DirectoryError> {
        let g = self
            .group_seq(group)
            .and_then(|s| self.groups.get(&s))
            .ok_or_else(|| DirectoryError::UnknownGroup(group.to_owned()))?;
        Ok(g.members
            .iter()
            .filter_map(|s| self.users.get(s))
            .map(UserRec::public)
            .collect())
    }

    pub(crate) fn add_user(&mut self, new: NewOktaUser) -> Result<OktaUser, DirectoryError> {
        if self.logins.contains_key(&new.login.to_lowercase()) {
            return Err(DirectoryError::DuplicateLogin(new.login));
        }
        let now = now_millis();
        let mut rng = rand::rng();
        let mut id = okta_id("00u", &mut rng);
        while self.user_ids.contains_key(&id) {
            id = okta_id("00u", &mut rng);
        }
        let status = new.status;
        let user = UserRec {
            id,
            status,
            email: new.email.unwrap_or_else(|| new.login.clone()),
            login: new.login,
            first_name: new.first_name,
            last_name: new.last_name,
            department: DEPARTMENTS[0],
            employee_number: format!("{:06}", self.next_user),
            created: now,
            activated: status.activated().then_some(now),
            status_changed: status.activated().then_some(now),
            last_login: None,
            password_changed: status.has_password().then_some(now),
            last_updated: now,
            groups: BTreeSet::new(),
            json: OnceLock::new(),
        };
        let public = user.public();
        self.insert_user(user);
        let everyone = self.everyone;
        if let Some(g) = self.groups.get_mut(&everyone) {
            g.membership_changed(now);
        }
        Ok(public)
    }

    pub(crate) fn remove_user(&mut self, id_or_login: &str) -> Result<OktaUser, DirectoryError> {
        let seq = self
            .user_seq(id_or_login)
            .ok_or_else(|| DirectoryError::UnknownUser(id_or_login.to_owned()))?;
        let user = self
            .users
            .remove(&seq)
            .ok_or_else(|| DirectoryError::UnknownUser(id_or_login.to_owned()))?;
        self.user_ids.remove(&user.id);
        self.logins.remove(&user.login.to_lowercase());
        let now = now_millis();
        for g in &user.groups {
            if let Some(group) = self.groups.get_mut(g) {
                group.members.remove(&seq);
                group.membership_changed(now);
            }
        }
        Ok(user.public())
    }

    pub(crate) fn set_status(
        &mut self,
        id_or_login: &str,
        status: OktaUserStatus,
    ) -> Result<(), DirectoryError> {
        let seq = self
            .user_seq(id_or_login)
            .ok_or_else(|| DirectoryError::UnknownUser(id_or_login.to_owned()))?;
        let user = self
            .users
            .get_mut(&seq)
            .ok_or_else(|| DirectoryError::UnknownUser(id_or_login.to_owned()))?;
        let now = now_millis();
        if user.status != status {
            user.status = status;
            user.status_changed = Some(now);
            if status.activated() && user.activated.is_none() {
                user.activated = Some(now);
            }
        }
        user.touch(now);
        Ok(())
    }

    pub(crate) fn set_login(
        &mut self,
        id_or_login: &str,
        login: &str,
    ) -> Result<(), DirectoryError> {
        let seq = self
            .user_seq(id_or_login)
            .ok_or_else(|| DirectoryError::UnknownUser(id_or_login.to_owned()))?;
        let key = login.to_lowercase();
        if self.logins.get(&key).is_some_and(|s| *s != seq) {
            return Err(DirectoryError::DuplicateLogin(login.to_owned()));
        }
        let user = self
            .users
            .get_mut(&seq)
            .ok_or_else(|| DirectoryError::UnknownUser(id_or_login.to_owned()))?;
        let old = std::mem::replace(&mut user.login, login.to_owned());
        if user.email.eq_ignore_ascii_case(&old) {
            user.email = login.to_owned();
        }
        user.touch(now_millis());
        self.logins.remove(&old.to_lowercase());
        self.logins.insert(key, seq);
        Ok(())
    }

    fn member_pair(&self, group: &str, user: &str) -> Result<(u64, u64), DirectoryError> {
        let g = self
            .group_seq(group)
            .ok_or_else(|| DirectoryError::UnknownGroup(group.to_owned()))?;
        if g == self.everyone {
            return Err(DirectoryError::BuiltInGroup(group.to_owned()));
        }
        let u = self
            .user_seq(user)
            .ok_or_else(|| DirectoryError::UnknownUser(user.to_owned()))?;
        Ok((g, u))
    }

    pub(crate) fn add_member(&mut self, group: &str, user: &str) -> Result<bool, DirectoryError> {
        let (g, u) = self.member_pair(group, user)?;
        let added = self.link(g, u);
        if added && let Some(group) = self.groups.get_mut(&g) {
            group.membership_changed(now_millis());
        }
        Ok(added)
    }

    pub(crate) fn remove_member(
        &mut self,
        group: &str,
        user: &str,
    ) -> Result<bool, DirectoryError> {
        let (g, u) = self.member_pair(group, user)?;
        if let Some(user) = self.users.get_mut(&u) {
            user.groups.remove(&g);
        }
        let Some(group) = self.groups.get_mut(&g) else {
            return Ok(false);
        };
        let removed = group.members.remove(&u);
        if removed {
            group.membership_changed(now_millis());
        }
        Ok(removed)
    }

    pub(crate) fn create_group(&mut self, name: &str, description: Option<&str>) -> OktaGroup {
        let now = now_millis();
        let mut rng = rand::rng();
        let mut id = okta_id("00g", &mut rng);
        while self.group_ids.contains_key(&id) {
            id = okta_id("00g", &mut rng);
        }
        let seq = self.insert_group(GroupRec {
            id,
            name: name.to_owned(),
            description: description.map(str::to_owned),
            kind: OktaGroupType::OktaGroup,
            created: now,
            last_updated: now,
            last_membership_updated: now,
            members: BTreeSet::new(),
            json: OnceLock::new(),
        });
        self.groups
            .get(&seq)
            .map(GroupRec::public)
            .unwrap_or_else(|| OktaGroup {
                id: String::new(),
                name: name.to_owned(),
                description: None,
                group_type: OktaGroupType::OktaGroup,
                members: 0,
            })
    }

    pub(crate) fn rename_group(&mut self, id: &str, name: &str) -> Result<(), DirectoryError> {
        let seq = self
            .group_seq(id)
            .ok_or_else(|| DirectoryError::UnknownGroup(id.to_owned()))?;
        let group = self
            .groups
            .get_mut(&seq)
            .ok_or_else(|| DirectoryError::UnknownGroup(id.to_owned()))?;
        group.name = name.to_owned();
        group.last_updated = now_millis();
        group.json = OnceLock::new();
        Ok(())
    }

    pub(crate) fn delete_group(&mut self, id: &str) -> Result<(), DirectoryError> {
        let seq = self
            .group_seq(id)
            .ok_or_else(|| DirectoryError::UnknownGroup(id.to_owned()))?;
        if seq == self.everyone {
            return Err(DirectoryError::BuiltInGroup(id.to_owned()));
        }
        let group = self
            .groups
            .remove(&seq)
            .ok_or_else(|| DirectoryError::UnknownGroup(id.to_owned()))?;
        self.group_ids.remove(&group.id);
        for u in &group.members {
            if let Some(user) = self.users.get_mut(u) {
                user.groups.remove(&seq);
            }
        }
        Ok(())
    }
}

/// Person `i` as an Okta user, with history and status drawn from `rng`.
fn generated_user(person: &Person, rng: &mut StdRng) -> UserRec {
    let status = match rng.random_range(0..100) {
        0..70 => OktaUserStatus::Active,
        70..76 => OktaUserStatus::Staged,
        76..80 => OktaUserStatus::Provisioned,
        80..83 => OktaUserStatus::Recovery,
        83..86 => OktaUserStatus::LockedOut,
        86..89 => OktaUserStatus::PasswordExpired,
        89..94 => OktaUserStatus::Suspended,
        _ => OktaUserStatus::Deprovisioned,
    };
    let id = okta_id("00u", rng);
    let created =
        EPOCH_2018_MS + rng.random_range(0..5 * 365) * DAY_MS + rng.random_range(0..DAY_MS);
    let activated = status
        .activated()
        .then(|| created + rng.random_range(0..DAY_MS));
    let status_changed = activated.map(|a| a + rng.random_range(0..200) * DAY_MS);
    let password_changed = if status.has_password() {
        activated.map(|a| a + rng.random_range(0..DAY_MS))
    } else {
        None
    };
    let last_login = match (password_changed, rng.random_range(0..10)) {
        (Some(p), 1..) => Some(p + rng.random_range(0..300) * DAY_MS),
        _ => None,
    };
    let last_updated = [
        Some(created),
        activated,
        status_changed,
        password_changed,
        last_login,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(created);
    let last_name = (rng.random_range(0..100) >= 5).then(|| person.last_name.clone());
    UserRec {
        id,
        status,
        login: person.login.clone(),
        email: person.login.clone(),
        first_name: person.first_name.clone(),
        last_name,
        department: DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())],
        employee_number: format!("{:06}", person.index),
        created,
        activated,
        status_changed,
        last_login,
        password_changed,
        last_updated,
        groups: BTreeSet::new(),
        json: OnceLock::new(),
    }
}

// ----- the Users API, users' groups, app assignments and sign-ins (access review) -----

/// The attributes `search` and `filter` may name on users (anything else is Okta's E0000031).
pub(crate) const USER_SEARCH_ATTRS: &[&str] = &[
    "id",
    "status",
    "created",
    "activated",
    "statusChanged",
    "lastLogin",
    "lastUpdated",
    "passwordChanged",
    "type.id",
    "profile.login",
    "profile.email",
    "profile.firstName",
    "profile.lastName",
    "profile.department",
    "profile.employeeNumber",
];

impl UserRec {
    /// The value of a search attribute (see [`USER_SEARCH_ATTRS`]).
    fn attr(&self, name: &str, user_type: &str) -> Option<Cow<'_, str>> {
        let t = |ms: Option<i64>| ms.map(|m| Cow::Owned(iso8601(m)));
        match name {
            "id" => Some(Cow::Borrowed(self.id.as_str())),
            "status" => Some(Cow::Borrowed(self.status.as_str())),
            "created" => t(Some(self.created)),
            "activated" => t(self.activated),
            "statusChanged" => t(self.status_changed),
            "lastLogin" => t(self.last_login),
            "lastUpdated" => t(Some(self.last_updated)),
            "passwordChanged" => t(self.password_changed),
            "type.id" => Some(Cow::Owned(user_type.to_owned())),
            "profile.login" => Some(Cow::Borrowed(self.login.as_str())),
            "profile.email" => Some(Cow::Borrowed(self.email.as_str())),
            "profile.firstName" => Some(Cow::Borrowed(self.first_name.as_str())),
            "profile.lastName" => self.last_name.as_deref().map(Cow::Borrowed),
            "profile.department" => Some(Cow::Borrowed(self.department)),
            "profile.employeeNumber" => Some(Cow::Borrowed(self.employee_number.as_str())),
            _ => None,
        }
    }

    /// Okta's `q` on users: a prefix of the first name, last name, email or login.
    fn starts_with(&self, q: &str) -> bool {
        [
            Some(self.first_name.as_str()),
            self.last_name.as_deref(),
            Some(self.email.as_str()),
            Some(self.login.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|v| v.to_lowercase().starts_with(q))
    }
}

impl Directory {
    /// A page of users after cursor `after` matching every expression in `filters` (and the
    /// prefix `q`): the JSON array and, when more remain, the cursor of the last one served.
    pub(crate) fn users_page(
        &self,
        after: Option<u64>,
        limit: usize,
        q: Option<&str>,
        filters: &[Expr],
        base: &str,
    ) -> (String, Option<u64>) {
        let q = q.map(str::to_lowercase);
        let start = after.map_or(0, |a| a.saturating_add(1));
        let matching = self.users.range(start..).filter(|(_, u)| {
            q.as_ref().is_none_or(|q| u.starts_with(q))
                && filters
                    .iter()
                    .all(|f| f.matches(&|attr| u.attr(attr, &self.user_type)))
        });
        let mut out = String::from("[");
        let mut last = None;
        let mut more = false;
        for (n, (seq, user)) in matching.enumerate() {
            if n == limit {
                more = true;
                break;
            }
            if n > 0 {
                out.push(',');
            }
            self.rendered_user(user).write(base, &mut out);
            last = Some(*seq);
        }
        out.push(']');
        (out, if more { last } else { None })
    }

    /// Every group of a user (Okta does not page them), or None for no such user.
    pub(crate) fn user_groups_json(&self, id_or_login: &str, base: &str) -> Option<String> {
        let user = self.users.get(&self.user_seq(id_or_login)?)?;
        let mut out = String::from("[");
        for (n, group) in user
            .groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .enumerate()
        {
            if n > 0 {
                out.push(',');
            }
            self.rendered_group(group).write(base, &mut out);
        }
        out.push(']');
        Some(out)
    }

    /// Records a sign-in: the user's `lastLogin` becomes `at_ms`. Returns the user's id, login
    /// and display name, or None for no such user.
    pub(crate) fn record_login(
        &mut self,
        id_or_login: &str,
        at_ms: i64,
    ) -> Option<(String, String, String)> {
        let user = self.users.get_mut(&self.user_seq(id_or_login)?)?;
        // Sign-ins recorded out of order (clock read, then the lock) never move it back.
        user.last_login = Some(user.last_login.map_or(at_ms, |last| last.max(at_ms)));
        user.touch(at_ms.max(user.last_updated));
        let name = match &user.last_name {
            Some(last) => format!("{} {last}", user.first_name),
            None => user.first_name.clone(),
        };
        Some((user.id.clone(), user.login.clone(), name))
    }

    /// The ids of the groups named `names` (exact names), in directory order.
    pub(crate) fn group_ids_named(&self, names: &[&str]) -> Vec<String> {
        self.groups
            .values()
            .filter(|g| names.contains(&g.name.as_str()))
            .map(|g| g.id.clone())
            .collect()
    }

    /// The users an app reaches through its groups (in user order, each once, deprovisioned
    /// users left out as Okta unassigns them), after cursor `after`: Okta's app-user JSON and the
    /// cursor of the last one served when more remain.
    pub(crate) fn app_users_page(
        &self,
        app_id: &str,
        group_ids: &[String],
        after: Option<u64>,
        limit: usize,
        base: &str,
    ) -> (String, Option<u64>) {
        let groups: Vec<&GroupRec> = group_ids
            .iter()
            .filter_map(|id| self.group_seq(id).and_then(|s| self.groups.get(&s)))
            .collect();
        let mut members: BTreeSet<u64> = BTreeSet::new();
        for g in &groups {
            members.extend(g.members.iter().copied());
        }
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut out = String::from("[");
        let mut last = None;
        let mut more = false;
        let users = members
            .range(start..)
            .filter_map(|s| self.users.get(s).map(|u| (*s, u)))
            .filter(|(_, u)| u.status != OktaUserStatus::Deprovisioned);
        for (n, (seq, u)) in users.enumerate() {
            if n == limit {
                more = true;
                break;
            }
            if n > 0 {
                out.push(',');
            }
            let status = if u.status == OktaUserStatus::Active {
                "ACTIVE"
            } else {
                "PROVISIONED"
            };
            let v = json!({
                "id": u.id,
                "externalId": null,
                "created": iso8601(u.created),
                "lastUpdated": iso8601(u.last_updated),
                "scope": "GROUP",
                "status": status,
                "statusChanged": u.status_changed.map(iso8601),
                "passwordChanged": null,
                "syncState": "DISABLED",
                "credentials": {"userName": u.login},
                "profile": {"email": u.email, "firstName": u.first_name, "lastName": u.last_name},
                "_links": {
                    "app": {"href": format!("{base}/api/v1/apps/{app_id}")},
                    "user": {"href": format!("{base}/api/v1/users/{}", u.id)},
                },
            });
            out.push_str(&v.to_string());
            last = Some(seq);
        }
        out.push(']');
        (out, if more { last } else { None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let a = Directory::generate(7, 300, 6);
        let b = Directory::generate(7, 300, 6);
        assert_eq!(a.users(), b.users());
        assert_eq!(a.groups(), b.groups());
        assert_eq!(a.groups().len(), 7);
        assert_eq!(a.groups()[0].name, "Everyone");
        assert_eq!(a.groups()[0].members, 300);
        for (i, u) in a.users().iter().enumerate() {
            assert_eq!(u.login, Person::generate(7, i).login);
            assert!(u.id.starts_with("00u") && u.id.len() == 20);
        }
        let statuses: BTreeSet<&str> = a.users().iter().map(|u| u.status.as_str()).collect();
        assert_eq!(
            statuses.len(),
            8,
            "every status appears in 300 users: {statuses:?}"
        );
        // About two groups per user (Everyone aside), some users in none.
        let memberships: usize = a.groups()[1..].iter().map(|g| g.members).sum();
        assert!((450..=750).contains(&memberships), "{memberships}");
        let lonely = a.users.values().filter(|u| u.groups.len() == 1).count();
        assert!(lonely > 10, "{lonely}");
        assert!(a.users().iter().any(|u| u.last_name.is_none()));
        assert_ne!(
            Directory::generate(8, 10, 2).users(),
            Directory::generate(7, 10, 2).users()
        );
    }

    #[test]
    fn pages_and_rendering() {
        let d = Directory::generate(3, 50, 3);
        let everyone = d.groups()[0].id.clone();
        let (page, next) = d.members_page(&everyone, None, 20, "http://h:1").unwrap();
        let users: Vec<Value> = serde_json::from_str(&page).unwrap();
        assert_eq!(users.len(), 20);
        assert_eq!(
            users[0]["_links"]["self"]["href"],
            format!(
                "http://h:1/api/v1/users/{}",
                users[0]["id"].as_str().unwrap()
            )
        );
        assert_eq!(next, Some(19));
        let (page, next) = d.members_page(&everyone, Some(39), 20, "b").unwrap();
        assert_eq!(serde_json::from_str::<Vec<Value>>(&page).unwrap().len(), 10);
        assert_eq!(next, None);
        let (page, next) = d.groups_page(None, 100, None, &[], "b", None);
        assert_eq!(serde_json::from_str::<Vec<Value>>(&page).unwrap().len(), 4);
        assert_eq!(next, None);
        assert!(d.members_page("00gnope", None, 1, "b").is_none());
    }

    #[test]
    fn expand_stats_counts_the_current_members_and_changes_nothing_else() {
        let mut d = Directory::generate(5, 60, 4);
        let groups = d.groups();
        let target = groups[2].id.clone();
        let stats = ExpandStats {
            app_groups: vec![target.clone(), "00gother".into()],
        };
        let page = |d: &Directory, stats| {
            let (page, _) = d.groups_page(None, 100, None, &[], "http://h:1", stats);
            serde_json::from_str::<Vec<Value>>(&page).unwrap()
        };
        let plain = page(&d, None);
        let expanded = page(&d, Some(&stats));
        assert_eq!(plain.len(), expanded.len());
        for (p, e) in plain.iter().zip(&expanded) {
            assert!(p.get("_embedded").is_none(), "{p}");
            let mut without = e.clone();
            let embedded = without
                .as_object_mut()
                .unwrap()
                .remove("_embedded")
                .unwrap();
            assert_eq!(&without, p, "expand adds `_embedded` and nothing else");
            let id = p["id"].as_str().unwrap();
            let s = &embedded["stats"];
            assert_eq!(
                s["usersCount"],
                d.members(id).unwrap().len(),
                "usersCount of {id}"
            );
            assert_eq!(s["appsCount"], u64::from(id == target));
            assert_eq!(s["groupPushMappingsCount"], 0);
            assert_eq!(s["hasAdminPrivilege"], false);
            assert_eq!(
                s["_links"]["self"]["href"],
                format!("http://h:1/api/v1/groups/{id}/stats")
            );
        }
        // The count follows membership changes (the cached group JSON must not hide them).
        let before = d.members(&target).unwrap().len();
        let newcomer = d
            .add_user(NewOktaUser::new("stats.newcomer@example.com"))
            .unwrap();
        assert!(d.add_member(&target, &newcomer.id).unwrap());
        let one: Value =
            serde_json::from_str(&d.group_json(&target, "http://h:1", Some(&stats)).unwrap())
                .unwrap();
        assert_eq!(one["_embedded"]["stats"]["usersCount"], before + 1);
        let one: Value =
            serde_json::from_str(&d.group_json(&target, "http://h:1", None).unwrap()).unwrap();
        assert!(one.get("_embedded").is_none());
    }

    #[test]
    fn write_embedded_handles_an_empty_object() {
        let r = Rendered::new("{}", "@@");
        let mut out = String::new();
        r.write_embedded("b", r#"{"x":1}"#, &mut out);
        assert_eq!(out, r#"{"_embedded":{"x":1}}"#);
        let r = Rendered::new(r#"{"a":"@@/p"}"#, "@@");
        out.clear();
        r.write_embedded("http://h", "{}", &mut out);
        assert_eq!(out, r#"{"_embedded":{},"a":"http://h/p"}"#);
    }

    #[test]
    fn changes() {
        let mut d = Directory::generate(3, 5, 2);
        let g = d.groups()[1].id.clone();
        let u = d
            .add_user(NewOktaUser::new("new.person@example.com"))
            .unwrap();
        assert!(
            d.add_user(NewOktaUser::new("NEW.person@example.com"))
                .is_err()
        );
        assert!(d.add_member(&g, &u.id).unwrap());
        assert!(!d.add_member(&g, &u.login).unwrap());
        assert!(d.members(&g).unwrap().iter().any(|m| m.id == u.id));
        d.set_status(&u.id, OktaUserStatus::Suspended).unwrap();
        assert_eq!(d.user(&u.id).unwrap().status, OktaUserStatus::Suspended);
        assert!(d.user_json(&u.id, "b").unwrap().contains("SUSPENDED"));
        assert!(d.remove_member(&g, &u.id).unwrap());
        d.add_member(&g, &u.id).unwrap();
        d.remove_user(&u.id).unwrap();
        assert!(!d.members(&g).unwrap().iter().any(|m| m.id == u.id));
        let everyone = d.groups()[0].id.clone();
        assert_eq!(
            d.delete_group(&everyone),
            Err(DirectoryError::BuiltInGroup(everyone))
        );
        let new = d.create_group("Fresh", None);
        d.delete_group(&new.id).unwrap();
        assert!(d.group(&new.id).is_none());
    }
}
