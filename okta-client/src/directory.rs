//! The glue between `okta-client` and `role-sync` (feature `role-sync`): read the mapped Okta
//! groups into a [`role_sync::Directory`].
//!
//! Integrators map groups by **name** (what an administrator sees in Okta), while Okta's API
//! works with group ids, so a sync first resolves names to ids. A mapped name that Okta does not
//! have is left out of the directory on purpose: `role-sync` then sees the group as missing and
//! its empty-source guard refuses to revoke everyone who held its roles — a renamed group must
//! never read as "everyone left".

use std::collections::BTreeMap;

use crate::{DirectorySnapshot, GroupQuery, OktaClient};
use futures::{StreamExt, TryStreamExt};
use role_sync::{Directory, DirectoryUser, Mapping, UserStatus};

/// Why the directory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Okta refused or failed a request (the snapshot is complete or this error: never partial).
    #[error(transparent)]
    Okta(#[from] crate::Error),
    /// Several Okta groups carry one mapped name, so the mapping is ambiguous.
    #[error("{count} Okta groups are named {name:?}; rename them or map by a unique name")]
    AmbiguousGroup {
        /// The mapped name.
        name: String,
        /// How many groups carry it.
        count: usize,
    },
}

/// The mapped groups Okta has: name → id. Names are matched exactly, as Okta displays them;
/// a name several groups carry is [`FetchError::AmbiguousGroup`].
pub async fn resolve_groups(
    client: &OktaClient,
    mapping: &Mapping,
) -> Result<BTreeMap<String, String>, FetchError> {
    let wanted: Vec<&str> = mapping.groups().map(|(name, _)| name).collect();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // One listing of all groups beats one search per mapped name once there are more than a
    // handful of names, and exact matching avoids `q`'s prefix semantics.
    for group in client.groups(&GroupQuery::new().limit(200)).await? {
        if wanted.contains(&group.profile.name.as_str()) {
            found.entry(group.profile.name).or_default().push(group.id);
        }
    }
    found
        .into_iter()
        .map(|(name, mut ids)| match ids.len() {
            1 => Ok((name, ids.remove(0))),
            count => Err(FetchError::AmbiguousGroup { name, count }),
        })
        .collect()
}

/// Converts a snapshot keyed by group id into a directory keyed by group name; Okta's statuses
/// become `role_sync::UserStatus` (unknown ones kept as `Other`).
///
/// ```
/// use std::collections::BTreeMap;
/// use okta_client::DirectorySnapshot;
/// let names = BTreeMap::from([("Portal Admins".to_string(), "00g1".to_string())]);
/// let directory = okta_client::directory::to_directory(&DirectorySnapshot::default(), &names);
/// assert_eq!(directory.groups().collect::<Vec<_>>(), ["Portal Admins"]);
/// ```
pub fn to_directory(snapshot: &DirectorySnapshot, names: &BTreeMap<String, String>) -> Directory {
    let mut directory = Directory::new();
    for (name, id) in names {
        directory.add_group(name.as_str());
        for user in snapshot.members.get(id).into_iter().flatten() {
            let status: UserStatus = user
                .status
                .as_str()
                .parse()
                .unwrap_or_else(|never| match never {});
            directory.add_member(
                name.as_str(),
                DirectoryUser::new(user.id.as_str(), user.profile.login.as_str(), status),
            );
        }
    }
    directory
}

/// Reads every member of every mapped group (at most `concurrency` listings at once) into a
/// directory: complete, or an error.
pub async fn fetch_directory(
    client: &OktaClient,
    mapping: &Mapping,
    concurrency: usize,
) -> Result<Directory, FetchError> {
    let names = resolve_groups(client, mapping).await?;
    let ids: Vec<&String> = names.values().collect();
    let snapshot = client.directory_snapshot(&ids, concurrency).await?;
    Ok(to_directory(&snapshot, &names))
}

/// How far a listing has got, for a progress line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Mapped groups found in Okta.
    pub groups: usize,
    /// Groups listed completely so far.
    pub groups_done: usize,
    /// Members read so far (a user in two groups counts twice).
    pub members: usize,
}

/// [`fetch_directory`], calling `on_progress` after every member read and every group
/// finished. Still complete or an error: members are only turned into a directory once every
/// listing has finished.
pub async fn fetch_directory_with_progress(
    client: &OktaClient,
    mapping: &Mapping,
    concurrency: usize,
    mut on_progress: impl FnMut(Progress),
) -> Result<Directory, FetchError> {
    let names = resolve_groups(client, mapping).await?;
    let mut progress = Progress {
        groups: names.len(),
        ..Progress::default()
    };
    on_progress(progress);
    let mut snapshot = DirectorySnapshot::default();
    // Each group is one stream of its member pages; `flatten_unordered` keeps at most
    // `concurrency` listings open and yields members as their pages arrive. A group's end is
    // marked by a `None` so progress can count finished groups.
    let mut events = futures::stream::iter(names.values().cloned())
        .map(|id| {
            let done = futures::stream::once(futures::future::ready(Ok((id.clone(), None))));
            client
                .list_group_members(&id)
                .map_ok(move |user| (id.clone(), Some(user)))
                .chain(done)
                .boxed()
        })
        .flatten_unordered(concurrency.max(1));
    while let Some((id, user)) = events.try_next().await? {
        match user {
            Some(user) => {
                snapshot.members.entry(id).or_default().push(user);
                progress.members += 1;
            }
            None => {
                snapshot.members.entry(id).or_default();
                progress.groups_done += 1;
            }
        }
        on_progress(progress);
    }
    Ok(to_directory(&snapshot, &names))
}
