//! The access-review snapshot: users, administrators (with roles), groups and memberships, as
//! plain serde data in a stable order, written as JSON or CSV.

use futures::TryStreamExt;
use serde::Serialize;

use crate::import::all_users;
use crate::{AdminClient, Error};

/// A user, as an access review lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReviewUser {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// Full name.
    pub realname: String,
    /// Email.
    pub email: String,
    /// Status.
    pub status: String,
    /// Whether an authenticator is enrolled.
    pub is_enrolled: bool,
    /// Last login (seconds since the epoch), if any.
    pub last_login: Option<u64>,
    /// Number of phones, tokens and WebAuthn credentials.
    pub authenticators: usize,
}

/// An administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReviewAdmin {
    /// Admin id.
    pub admin_id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: String,
    /// Status.
    pub status: String,
    /// Last login (seconds since the epoch), if any.
    pub last_login: Option<u64>,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReviewGroup {
    /// Group id.
    pub group_id: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
}

/// One user's membership of one group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub struct Membership {
    /// Group id.
    pub group_id: String,
    /// User id.
    pub user_id: String,
}

/// Everything an access review reads, each list sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessReview {
    /// Users.
    pub users: Vec<ReviewUser>,
    /// Administrators.
    pub admins: Vec<ReviewAdmin>,
    /// Groups.
    pub groups: Vec<ReviewGroup>,
    /// Memberships (group, user).
    pub memberships: Vec<Membership>,
}

fn csv<T: Serialize>(rows: &[T]) -> Result<String, std::io::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(std::io::Error::other)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    String::from_utf8(bytes).map_err(std::io::Error::other)
}

impl AccessReview {
    /// Reads the snapshot: every user (restarting if the account changes mid-walk), every admin,
    /// every group. Needs the "Grant read resource" and "Grant administrators" permissions.
    pub async fn read(client: &AdminClient) -> Result<Self, Error> {
        let users = all_users(client, 2, |_| {}).await?;
        let admins: Vec<crate::Admin> = client.admins().try_collect().await?;
        let groups: Vec<crate::Group> = client.groups().try_collect().await?;
        let mut memberships: Vec<Membership> = users
            .iter()
            .flat_map(|u| {
                u.groups.iter().map(|g| Membership {
                    group_id: g.group_id.clone(),
                    user_id: u.user_id.clone(),
                })
            })
            .collect();
        memberships.sort();
        memberships.dedup();
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        let mut users: Vec<ReviewUser> = users
            .iter()
            .map(|u| ReviewUser {
                user_id: u.user_id.clone(),
                username: u.username.clone(),
                realname: text(&u.realname),
                email: text(&u.email),
                status: u.status.as_str().to_owned(),
                is_enrolled: u.is_enrolled,
                last_login: u.last_login,
                authenticators: u.phones.len() + u.tokens.len() + u.webauthncredentials.len(),
            })
            .collect();
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        let mut admins: Vec<ReviewAdmin> = admins
            .iter()
            .map(|a| ReviewAdmin {
                admin_id: a.admin_id.clone(),
                name: text(&a.name),
                email: text(&a.email),
                role: text(&a.role),
                status: text(&a.status),
                last_login: a.last_login,
            })
            .collect();
        admins.sort_by(|a, b| a.admin_id.cmp(&b.admin_id));
        let mut groups: Vec<ReviewGroup> = groups
            .iter()
            .map(|g| ReviewGroup {
                group_id: g.group_id.clone(),
                name: g.name.clone(),
                status: text(&g.status),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(Self {
            users,
            admins,
            groups,
            memberships,
        })
    }

    /// The whole snapshot as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Users as CSV (with a header row).
    pub fn users_csv(&self) -> Result<String, std::io::Error> {
        csv(&self.users)
    }

    /// Administrators as CSV.
    pub fn admins_csv(&self) -> Result<String, std::io::Error> {
        csv(&self.admins)
    }

    /// Groups as CSV.
    pub fn groups_csv(&self) -> Result<String, std::io::Error> {
        csv(&self.groups)
    }

    /// Memberships as CSV.
    pub fn memberships_csv(&self) -> Result<String, std::io::Error> {
        csv(&self.memberships)
    }
}
