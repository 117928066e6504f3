//! The glue between `okta-client` and `role-sync` (feature `role-sync`): read the mapped Okta
//! groups into a [`role_sync::Directory`].
//!
//! Integrators map groups by **name** (what an administrator sees in Okta), while Okta's API
//! works with group ids, so a sync first resolves names to ids. A mapped name that Okta does not
//! have is left out of the directory on purpose: `role-sync` then sees the group as missing and
//! its empty-source guard refuses to revoke everyone who held its roles — a renamed group must
//! never read as "everyone left".
//!
//! Okta pages a group's members by cursor, so one group is read one page after another while
//! groups are read side by side; a sync therefore lasts at least as long as its largest group.
//! The names are resolved with `expand=stats`, which gives each group's member count with the
//! listing, and [`fetch_directory`] / [`fetch_directory_with_progress`] start the largest group
//! first so that it never waits for a free slot behind small ones.
//!
//! The `concurrency` argument: [`DEFAULT_CONCURRENCY`](crate::groups::DEFAULT_CONCURRENCY) (8)
//! says why; Okta's concurrency limit is 75 simultaneous requests per org (35 on the Integrator
//! Free plan), shared with all the org's other traffic, and member pages spend the "Create or
//! list groups" budget of 500 requests a minute on Workforce Identity (600 on Enterprise).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::{DirectorySnapshot, GroupQuery, OktaClient};
use futures::{StreamExt, TryStreamExt};
use role_sync::{Directory, DirectoryUser, Mapping, UserStatus};
use tracing::Instrument;

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

/// A mapped group as Okta has it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MappedGroup {
    /// The mapped name, exactly as Okta displays it.
    pub name: String,
    /// Okta's group id (`00g…`).
    pub id: String,
    /// Its member count when the group was resolved (`_embedded.stats.usersCount`), `None` when
    /// Okta did not report one. A hint for ordering the listings, not a result: members may
    /// join or leave before they are listed.
    pub users_count: Option<u64>,
}

/// The mapped groups Okta has, **largest first**: the order in which [`fetch_directory`] and
/// [`fetch_directory_with_progress`] start their listings.
///
/// Groups are listed once with `expand=stats`, so the counts cost no extra request. A group
/// whose count Okta did not report comes before every counted one (it may be the largest, and
/// starting it early costs nothing when it is not); equal or missing counts are ordered by name,
/// so the order is stable from one sync to the next. Names are matched exactly, as Okta displays
/// them; a name several groups carry is [`FetchError::AmbiguousGroup`].
pub async fn resolve_mapped_groups(
    client: &OktaClient,
    mapping: &Mapping,
) -> Result<Vec<MappedGroup>, FetchError> {
    let wanted: Vec<&str> = mapping.groups().map(|(name, _)| name).collect();
    let mut found: BTreeMap<String, Vec<(String, Option<u64>)>> = BTreeMap::new();
    // One listing of all groups beats one search per mapped name once there are more than a
    // handful of names, and exact matching avoids `q`'s prefix semantics.
    let query = GroupQuery::new().limit(200).expand_stats();
    for group in client.groups(&query).await? {
        if wanted.contains(&group.profile.name.as_str()) {
            let count = group.users_count();
            found
                .entry(group.profile.name)
                .or_default()
                .push((group.id, count));
        }
    }
    let mut groups = found
        .into_iter()
        .map(|(name, mut ids)| match ids.len() {
            1 => {
                let (id, users_count) = ids.remove(0);
                Ok(MappedGroup {
                    name,
                    id,
                    users_count,
                })
            }
            count => Err(FetchError::AmbiguousGroup { name, count }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    largest_first(&mut groups);
    Ok(groups)
}

/// Unknown counts first, then by count, largest first; ties by name, then id.
fn largest_first(groups: &mut [MappedGroup]) {
    // `None` sorts before `Some`, and `Reverse` puts larger counts first.
    groups.sort_by(|a, b| {
        (a.users_count.map(Reverse))
            .cmp(&b.users_count.map(Reverse))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// The mapped groups Okta has: name → id. Names are matched exactly, as Okta displays them;
/// a name several groups carry is [`FetchError::AmbiguousGroup`]. [`resolve_mapped_groups`]
/// gives the same groups with their member counts, largest first.
pub async fn resolve_groups(
    client: &OktaClient,
    mapping: &Mapping,
) -> Result<BTreeMap<String, String>, FetchError> {
    Ok(names(&resolve_mapped_groups(client, mapping).await?))
}

fn names(groups: &[MappedGroup]) -> BTreeMap<String, String> {
    groups
        .iter()
        .map(|g| (g.name.clone(), g.id.clone()))
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
            directory.add_member(name.as_str(), directory_user(user));
        }
    }
    directory
}

/// Reads every member of every mapped group (at most `concurrency` listings at once, largest
/// group first; [`DEFAULT_CONCURRENCY`](crate::groups::DEFAULT_CONCURRENCY) says how many) into a
/// directory: complete, or an error.
///
/// Only what the directory holds is kept of each member (id, login, status) as its page
/// arrives, not Okta's whole user object: the memory of a fetch grows with the org by about a
/// hundred bytes a member plus the pages in flight.
pub async fn fetch_directory(
    client: &OktaClient,
    mapping: &Mapping,
    concurrency: usize,
) -> Result<Directory, FetchError> {
    fetch_directory_with_progress(client, mapping, concurrency, |_| {}).await
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
/// finished. Still complete or an error: the directory is only put together once every listing
/// has finished. Listings start largest group first, as in [`fetch_directory`].
///
/// The fetch runs in an `okta.fetch_directory` span (`groups`, `concurrency`, and `members` at
/// the end), each listing in its `okta.list` span.
pub async fn fetch_directory_with_progress(
    client: &OktaClient,
    mapping: &Mapping,
    concurrency: usize,
    mut on_progress: impl FnMut(Progress),
) -> Result<Directory, FetchError> {
    let span = tracing::info_span!(
        "okta.fetch_directory",
        groups = tracing::field::Empty,
        concurrency,
        members = tracing::field::Empty
    );
    let fetch_span = span.clone();
    let run = async move {
        let groups = resolve_mapped_groups(client, mapping).await?;
        fetch_span.record("groups", groups.len());
        let names = names(&groups);
        let mut progress = Progress {
            groups: names.len(),
            ..Progress::default()
        };
        on_progress(progress);
        // Group id → its members as the directory keeps them, in Okta's page order.
        let mut members: BTreeMap<String, Vec<DirectoryUser>> = BTreeMap::new();
        // Each group is one stream of its pages, each page already cut down to what the
        // directory keeps; `flatten_unordered` keeps at most `concurrency` listings open and
        // yields pages as they arrive. It takes the streams in order, so the largest groups are
        // the first opened. A group's end is marked by a `None` so progress can count finished
        // groups.
        let spawn = tokio::runtime::Handle::try_current().is_ok();
        let mut events = futures::stream::iter(groups.into_iter().map(|g| g.id))
            .map(|id| {
                let done = futures::stream::once(futures::future::ready(Ok((id.clone(), None))));
                directory_pages(client, &id, spawn)
                    .map_ok(move |page| (id.clone(), Some(page)))
                    .chain(done)
                    .boxed()
            })
            .flatten_unordered(concurrency.max(1));
        while let Some((id, page)) = events.try_next().await? {
            let group = members.entry(id).or_default();
            match page {
                Some(page) => {
                    for user in page {
                        group.push(user);
                        progress.members += 1;
                        on_progress(progress);
                    }
                }
                None => {
                    progress.groups_done += 1;
                    on_progress(progress);
                }
            }
        }
        fetch_span.record("members", progress.members);
        let mut directory = Directory::new();
        for (name, id) in &names {
            directory.add_group(name.as_str());
            for user in members.remove(id).into_iter().flatten() {
                directory.add_member(name.as_str(), user);
            }
        }
        Ok(directory)
    };
    run.instrument(span).await
}

/// A group's member pages, each cut down to what the directory keeps.
///
/// With `spawn` (inside a tokio runtime) the listing runs in a task of its own, so that the
/// groups' pages are decoded on every worker thread rather than all on the caller's; a page or
/// two wait in a channel for the caller, and dropping the stream aborts the task.
fn directory_pages(
    client: &OktaClient,
    group_id: &str,
    spawn: bool,
) -> futures::stream::BoxStream<'static, Result<Vec<DirectoryUser>, crate::Error>> {
    let pages = client
        .member_pages(group_id)
        .map_ok(|page| page.iter().map(directory_user).collect::<Vec<_>>());
    if !spawn {
        return pages.boxed();
    }
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let task = tokio::spawn(
        async move {
            let mut pages = std::pin::pin!(pages);
            while let Some(page) = pages.next().await {
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    return;
                }
            }
        }
        .in_current_span(),
    );
    let task = AbortOnDrop(Some(task));
    futures::stream::unfold(Some((rx, task)), |state| async move {
        let (mut rx, mut task) = state?;
        if let Some(page) = rx.recv().await {
            return Some((page, Some((rx, task))));
        }
        // The channel closed: the listing ended, or its task did not finish. A listing whose
        // task panicked or was cancelled must not read as a complete group.
        match task.0.take()?.await {
            Ok(()) => None,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Some((Err(crate::Error::Cancelled), None)),
        }
    })
    .boxed()
}

/// Aborts a task when dropped: a dropped fetch leaves no listing running.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// What the directory keeps of an Okta user; Okta's statuses become `role_sync::UserStatus`
/// (unknown ones kept as `Other`).
fn directory_user(user: &crate::model::User) -> DirectoryUser {
    let status: UserStatus = user
        .status
        .as_str()
        .parse()
        .unwrap_or_else(|never| match never {});
    DirectoryUser::new(user.id.as_str(), user.profile.login.as_str(), status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str, users_count: Option<u64>) -> MappedGroup {
        MappedGroup {
            name: name.to_string(),
            id: format!("00g{name}"),
            users_count,
        }
    }

    #[test]
    fn largest_first_puts_unknown_counts_first_and_breaks_ties_by_name() {
        let mut groups = vec![
            g("Alpha", Some(10)),
            g("Bravo", Some(500)),
            g("Zulu", None),
            g("Charlie", Some(10)),
            g("Delta", Some(0)),
            g("Echo", None),
            g("Foxtrot", Some(499)),
        ];
        largest_first(&mut groups);
        let order: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "Echo", "Zulu", "Bravo", "Foxtrot", "Alpha", "Charlie", "Delta"
            ]
        );
        // The order depends on the groups only, not on the order Okta listed them in.
        let mut reversed: Vec<MappedGroup> = groups.iter().rev().cloned().collect();
        largest_first(&mut reversed);
        assert_eq!(reversed, groups);
    }
}
