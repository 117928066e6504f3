//! Importing existing Duo users into a portal (what authentik's Duo import does) and the
//! access-review snapshot compliance tools read (what Drata does).
//!
//! The importer walks every Duo user — with the phones, tokens, WebAuthn credentials and groups
//! the listing carries — and matches each to a portal user: through an explicit mapping first, then
//! by Duo username, by alias, by email. Ambiguity is reported, never resolved by a silent pick:
//! a portal user matching several Duo users, or a Duo user claimed by several portal users,
//! becomes a [`Conflict`] and neither side is matched. If the account changes while it is read
//! (Duo's `total_objects` moves between pages, which with offset paging can hide a user), the
//! walk starts again; if it never settles, the import fails rather than return a partial list.

mod matching;
mod reading;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use futures::TryStreamExt;
use serde::Serialize;

use crate::models::{Capability, User, UserStatus};
use crate::{AdminClient, Error};
pub use matching::match_users;
use matching::{Claims, PortalIndex, PortalSide, decide, unmatched_duo};
use reading::{ImportDecode, Read};

/// What the importer knows of one portal user: the identifiers it matches Duo users on.
///
/// Not `role_sync::PortalUser`, which is the same person's roles: the importer needs only the
/// username and email, the sync engine only the login and grants.
///
/// ```
/// use duo_admin::import::PortalIdentity;
///
/// let jane = PortalIdentity::new("jane.doe").email("jane@corp.example");
/// assert_eq!(jane.email.as_deref(), Some("jane@corp.example"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PortalIdentity {
    /// The portal's username.
    pub username: String,
    /// The portal's email for the user, if any.
    pub email: Option<String>,
}

impl PortalIdentity {
    /// A portal user known by `username`, with no email.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            email: None,
        }
    }

    /// Builder: the portal's email for the user (matched against Duo emails).
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

/// A Duo user named in an explicit mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum DuoRef {
    /// By user id.
    UserId(String),
    /// By username (or alias).
    Username(String),
}

/// How to match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Explicit portal username → Duo user pairs (authentik's import endpoint takes these).
    pub explicit: Vec<(String, DuoRef)>,
    /// Match portal usernames against Duo aliases too (default on).
    pub by_alias: bool,
    /// Match portal emails against Duo emails (default on).
    pub by_email: bool,
    /// How many times to restart a walk that saw the account change (default 2).
    pub max_restarts: u32,
}

impl ImportOptions {
    /// Builder: match `portal_username` to this Duo user, before any other rule.
    #[must_use]
    pub fn explicit(mut self, portal_username: impl Into<String>, duo_user: DuoRef) -> Self {
        self.explicit.push((portal_username.into(), duo_user));
        self
    }

    /// Builder: whether portal usernames are matched against Duo aliases too.
    #[must_use]
    pub fn by_alias(mut self, on: bool) -> Self {
        self.by_alias = on;
        self
    }

    /// Builder: whether portal emails are matched against Duo emails.
    #[must_use]
    pub fn by_email(mut self, on: bool) -> Self {
        self.by_email = on;
        self
    }

    /// Builder: how many times a walk that saw the account change is restarted.
    #[must_use]
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = n;
        self
    }
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            explicit: Vec::new(),
            by_alias: true,
            by_email: true,
            max_restarts: 2,
        }
    }
}

/// How a match was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MatchedBy {
    /// The explicit mapping.
    Explicit,
    /// Same username (case-insensitive).
    Username,
    /// The portal username is one of the Duo user's aliases.
    Alias,
    /// Same email (case-insensitive).
    Email,
}

/// An enrolled authenticator of a Duo user.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Authenticator {
    /// A phone (Duo Mobile, SMS, voice).
    Phone {
        /// Phone id.
        phone_id: String,
        /// Number.
        number: Option<String>,
        /// Platform.
        platform: Option<crate::models::Platform>,
        /// Whether Duo Mobile is activated.
        activated: bool,
        /// Capabilities.
        capabilities: Vec<Capability>,
    },
    /// A hardware or software token.
    Token {
        /// Token id.
        token_id: String,
        /// Serial.
        serial: Option<String>,
        /// Type.
        token_type: Option<String>,
    },
    /// A WebAuthn credential.
    WebAuthn {
        /// Key id.
        key: Option<String>,
        /// Name.
        name: Option<String>,
    },
}

fn groups(user: &User) -> Vec<DuoGroup> {
    user.groups
        .iter()
        .map(|g| DuoGroup {
            group_id: g.group_id.clone(),
            name: g.name.clone(),
        })
        .collect()
}

fn authenticators(user: &User) -> Vec<Authenticator> {
    let mut out: Vec<Authenticator> = user
        .phones
        .iter()
        .map(|p| Authenticator::Phone {
            phone_id: p.phone_id.clone(),
            number: p.number.clone(),
            platform: p.platform.clone(),
            activated: p.activated.unwrap_or(false),
            capabilities: p.capabilities.clone(),
        })
        .collect();
    out.extend(user.tokens.iter().map(|t| Authenticator::Token {
        token_id: t.token_id.clone(),
        serial: t.serial.clone(),
        token_type: t.kind.clone(),
    }));
    out.extend(
        user.webauthncredentials
            .iter()
            .map(|w| Authenticator::WebAuthn {
                key: w.webauthnkey.clone(),
                name: w.credential_name.clone(),
            }),
    );
    out
}

/// A portal user matched to a Duo user.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Matched {
    /// The portal username.
    pub portal_username: String,
    /// The Duo user id.
    pub duo_user_id: String,
    /// The Duo username.
    pub duo_username: String,
    /// How.
    pub matched_by: MatchedBy,
    /// The Duo user's status.
    pub status: UserStatus,
    /// The Duo user's enrolled authenticators.
    pub authenticators: Vec<Authenticator>,
    /// The Duo groups the user is in (as the listing carries them).
    pub groups: Vec<DuoGroup>,
}

/// A Duo group a matched user is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DuoGroup {
    /// Group id.
    pub group_id: String,
    /// Name.
    pub name: String,
}

/// An ambiguity the importer refuses to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Conflict {
    /// One portal user matches several Duo users.
    PortalUserMatchesSeveral {
        /// The portal username.
        portal_username: String,
        /// The Duo user ids it matches.
        duo_user_ids: Vec<String>,
    },
    /// One Duo user is matched by several portal users.
    DuoUserMatchedBySeveral {
        /// The Duo user id.
        duo_user_id: String,
        /// The portal usernames that match it.
        portal_usernames: Vec<String>,
    },
    /// An explicit mapping names a Duo user that does not exist.
    ExplicitTargetMissing {
        /// The portal username.
        portal_username: String,
        /// The Duo user named.
        target: String,
    },
}

/// A Duo user nobody in the portal matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UnmatchedDuoUser {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
}

/// The outcome of an import, every list in a stable order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// Matched users, by portal username.
    pub matched: Vec<Matched>,
    /// Duo users nobody matched, by user id.
    pub unmatched_duo: Vec<UnmatchedDuoUser>,
    /// Portal users that matched nobody, sorted.
    pub unmatched_portal: Vec<String>,
    /// Ambiguities, neither side of which was matched.
    pub conflicts: Vec<Conflict>,
    /// How many Duo users were read.
    pub duo_users: usize,
}

/// Progress of a long walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Pages read so far (in this attempt).
    pub pages: usize,
    /// Users read so far (in this attempt).
    pub users: usize,
    /// Duo's count of users, once known.
    pub total: Option<u64>,
    /// Which attempt (0 for the first walk).
    pub attempt: u32,
}

/// What a walk keeps of the pages: each Duo user once, in listing order.
trait Collect {
    /// What a page holds.
    type Item;
    /// Adds a page's items.
    fn add(&mut self, items: Vec<Self::Item>);
    /// Distinct users so far.
    fn len(&self) -> usize;
}

/// Users in listing order, each user id once. Ids are hashed with one per-walk key, by whoever
/// holds the user first (the importer's page decode does it on the blocking pool).
struct Distinct<T> {
    items: Vec<T>,
    hashes: Vec<u64>,
    table: hashbrown::HashTable<usize>,
}

/// What a walk dedupes by.
trait UserId {
    fn user_id(&self) -> &str;
}

impl UserId for User {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl<T: UserId> Distinct<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            hashes: Vec::new(),
            table: hashbrown::HashTable::new(),
        }
    }

    fn reserve(&mut self, n: usize) {
        self.items.reserve(n);
        self.hashes.reserve(n);
        // Entries already in the table move by their own hash if it grows.
        let hashes = &self.hashes;
        self.table.reserve(n, |&i| hashes[i]);
    }

    /// Adds `item` (whose user id hashes to `hash`) unless its id is already there; its index
    /// if added.
    fn insert(&mut self, hash: u64, item: T) -> Option<usize> {
        let (items, hashes) = (&self.items, &self.hashes);
        match self.table.entry(
            hash,
            |&i| items[i].user_id() == item.user_id(),
            |&i| hashes[i],
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => None,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let i = items.len();
                slot.insert(i);
                self.items.push(item);
                self.hashes.push(hash);
                Some(i)
            }
        }
    }
}

/// Whole users, for [`all_users`].
struct WholeUsers {
    users: Distinct<User>,
    ids: RandomState,
}

impl Collect for WholeUsers {
    type Item = User;
    fn add(&mut self, items: Vec<User>) {
        for u in items {
            let hash = self.ids.hash_one(u.user_id.as_str());
            self.users.insert(hash, u);
        }
    }
    fn len(&self) -> usize {
        self.users.items.len()
    }
}

/// Reads every Duo user once, restarting when the account changes mid-walk.
pub async fn all_users(
    client: &AdminClient,
    max_restarts: u32,
    progress: impl FnMut(Progress),
) -> Result<Vec<User>, Error> {
    let decoder = Arc::new(crate::paging::Typed::<User>::new());
    let ids = RandomState::new();
    let new = || WholeUsers {
        users: Distinct::new(),
        ids: ids.clone(),
    };
    let walked = walk(
        client,
        decoder,
        max_restarts,
        new,
        |c, n| c.users.reserve(n),
        progress,
    )
    .await?;
    Ok(walked.users.items)
}

async fn walk<D, C>(
    client: &AdminClient,
    decoder: Arc<D>,
    max_restarts: u32,
    mut new: impl FnMut() -> C,
    mut reserve: impl FnMut(&mut C, usize),
    mut progress: impl FnMut(Progress),
) -> Result<C, Error>
where
    D: crate::paging::Decode,
    C: Collect<Item = D::Item>,
{
    use tracing::Instrument;
    async move {
    // One bound for every attempt: a walk slowed down by Duo stays slow when it starts again.
    let requests = client.page_requests();
    for attempt in 0..=max_restarts {
        let mut collected = new();
        let mut first_total: Option<u64> = None;
        let mut changed = false;
        let mut pages = 0;
        let mut stream = std::pin::pin!(client.decoded_pages_with(
            "/admin/v1/users".into(),
            Vec::new(),
            crate::USERS_MAX,
            Arc::clone(&decoder),
            Arc::clone(&requests),
        ));
        while let Some(page) = stream.try_next().await? {
            pages += 1;
            match (first_total, page.total_objects) {
                (None, t) => {
                    first_total = t;
                    let expect = t.map_or(0, |t| usize::try_from(t).unwrap_or(0));
                    reserve(&mut collected, expect.min(1 << 20));
                }
                (Some(a), Some(b)) if a != b => changed = true,
                _ => {}
            }
            collected.add(page.items);
            let users = collected.len();
            progress(Progress {
                pages,
                users,
                total: first_total,
                attempt,
            });
            tracing::debug!(pages, users, "walking Duo users");
            if changed {
                break;
            }
        }
        let read = collected.len();
        let complete = first_total.is_none_or(|t| t == read as u64);
        if !changed && complete {
            return Ok(collected);
        }
        tracing::info!(attempt, read, total = ?first_total, "Duo users changed during the walk; starting again");
    }
    Err(Error::ListingUnstable {
        path: "/admin/v1/users".to_owned(),
        attempts: max_restarts + 1,
    })
    }
    .instrument(tracing::info_span!("duo_users_walk"))
    .await
}

/// The importer's walk: distinct users, and their claims.
struct Imported {
    users: Distinct<Read>,
    claims: Claims,
    decoder: Arc<ImportDecode>,
}

impl Collect for Imported {
    type Item = Read;
    fn add(&mut self, items: Vec<Read>) {
        for mut u in items {
            if let Some(index) = self.decoder.index.get() {
                u.look_up(index);
            }
            let claims = std::mem::take(&mut u.claims);
            if let Some(di) = self.users.insert(u.id_hash, u) {
                self.claims.record(di, &claims);
            }
        }
    }
    fn len(&self) -> usize {
        self.users.items.len()
    }
}

/// Walks every Duo user and matches them to `portal` (see the module docs). Dropping the future
/// cancels the walk: no request starts after it (a page being decoded finishes, and is
/// dropped), and the client stays usable.
pub async fn import(
    client: &AdminClient,
    portal: &[PortalIdentity],
    options: &ImportOptions,
    progress: impl FnMut(Progress),
) -> Result<ImportReport, Error> {
    let decoder = Arc::new(ImportDecode {
        index: std::sync::OnceLock::new(),
        ids: RandomState::new(),
    });
    let new = || Imported {
        users: Distinct::new(),
        claims: Claims::new(portal.len()),
        decoder: Arc::clone(&decoder),
    };
    let walking = walk(
        client,
        Arc::clone(&decoder),
        options.max_restarts,
        new,
        |c, n| c.users.reserve(n),
        progress,
    );
    // The walk is polled first (its request chain starts), then the portal is indexed and
    // sorted while pages are fetched and decoded elsewhere.
    let prepare = async {
        let _ = decoder.index.set(PortalIndex::new(portal, options));
        PortalSide::new(portal)
    };
    let (walked, mut side) = futures::join!(walking, prepare);
    let walked = walked?;
    let index = decoder
        .index
        .get_or_init(|| PortalIndex::new(portal, options));
    Ok(report_of(walked, index, portal, &mut side, options))
}

/// The report of a walk: decisions from the recorded claims, the users' parts moved out.
fn report_of(
    walked: Imported,
    index: &PortalIndex,
    portal: &[PortalIdentity],
    side: &mut PortalSide,
    options: &ImportOptions,
) -> ImportReport {
    let Imported {
        users, mut claims, ..
    } = walked;
    let mut duo = users.items;
    // Users read before the index was ready and added before it was set (not in practice: the
    // importer sets it before the walk hands over its first page).
    for (di, u) in duo.iter_mut().enumerate() {
        if u.unmatched.is_some() {
            u.look_up(index);
            claims.record(di, &std::mem::take(&mut u.claims));
        }
    }
    let d = decide(&claims, index, portal, side, options, duo.len(), |di| {
        &duo[di].user_id
    });
    let unmatched_duo = unmatched_duo(&d.claimed, |di| (&duo[di].user_id, &duo[di].username));
    let duo_users = duo.len();
    let matched = d
        .matched
        .iter()
        .map(|&(pi, di, how)| {
            // Each Duo user is matched at most once (several claims are a conflict), so what is
            // taken out of it is taken once.
            let u = &mut duo[di];
            Matched {
                portal_username: side.name(pi),
                duo_user_id: std::mem::take(&mut u.user_id),
                duo_username: std::mem::take(&mut u.username),
                matched_by: how,
                status: std::mem::replace(&mut u.status, UserStatus::Active),
                authenticators: std::mem::take(&mut u.authenticators),
                groups: std::mem::take(&mut u.groups),
            }
        })
        .collect();
    ImportReport {
        matched,
        unmatched_duo,
        unmatched_portal: d.unmatched_portal,
        conflicts: d.conflicts,
        duo_users,
    }
}

#[cfg(test)]
mod tests;
