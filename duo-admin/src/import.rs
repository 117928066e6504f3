//! Importing existing Duo users into a portal (what authentik's Duo import does) and the
//! access-review snapshot compliance tools read (what Drata does).
//!
//! The importer walks every Duo user — with the phones, tokens and WebAuthn credentials the
//! listing carries — and matches each to a portal user: through an explicit mapping first, then
//! by Duo username, by alias, by email. Ambiguity is reported, never resolved by a silent pick:
//! a portal user matching several Duo users, or a Duo user claimed by several portal users,
//! becomes a [`Conflict`] and neither side is matched. If the account changes while it is read
//! (Duo's `total_objects` moves between pages, which with offset paging can hide a user), the
//! walk starts again; if it never settles, the import fails rather than return a partial list.

use std::borrow::Cow;
use std::collections::HashMap;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::models::{Capability, Platform, Token, User, UserStatus};
use crate::{AdminClient, Error};

/// A portal user to match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalUser {
    /// The portal's username.
    pub username: String,
    /// The portal's email for the user, if any.
    pub email: Option<String>,
}

/// A Duo user named in an explicit mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DuoRef {
    /// By user id.
    UserId(String),
    /// By username (or alias).
    Username(String),
}

/// How to match.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// An ambiguity the importer refuses to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
pub struct UnmatchedDuoUser {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
}

/// The outcome of an import, every list in a stable order.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

#[derive(Debug, Deserialize)]
struct DuoPhone {
    phone_id: String,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    platform: Option<Open<Platform>>,
    #[serde(default)]
    activated: Option<bool>,
    #[serde(default)]
    capabilities: Vec<Open<Capability>>,
}

/// A value of an open enum (status, platform, capability), read from the string as it lies in
/// the page: no `String` is made for the values this version knows (the enums' own
/// `Deserialize` reads an owned string first).
#[derive(Debug)]
struct Open<T>(T);

impl<'de, T: for<'a> From<&'a str>> Deserialize<'de> for Open<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text<T>(std::marker::PhantomData<T>);
        impl<T: for<'a> From<&'a str>> serde::de::Visitor<'_> for Text<T> {
            type Value = Open<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Open<T>, E> {
                Ok(Open(T::from(s)))
            }
        }
        d.deserialize_str(Text(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct DuoKey {
    #[serde(default)]
    webauthnkey: Option<String>,
    #[serde(default)]
    credential_name: Option<String>,
}

// How the importer is built. Matching is split so that most of it happens while pages are still
// arriving: the portal side is indexed once, before the walk ([`PortalIndex`]); each page's
// decode, on the blocking pool next to the fetching of the following pages, looks every Duo user's
// username, aliases, email and id up in that index and keeps the portal users they reach
// ("claims"); the walk records each distinct Duo user's claims per portal user ([`Claims`]); at
// the end one pass over the portal users decides ([`decide`]). [`match_users`] runs the same
// index, claims and decision over users already read, so both give one answer.

/// A few values: most keys lead to one, without an allocation.
#[derive(Debug, Clone, Default)]
enum Few<T> {
    #[default]
    None,
    One(T),
    Many(Vec<T>),
}

impl<T: Copy> Few<T> {
    fn push(&mut self, v: T) {
        *self = match std::mem::take(self) {
            Few::None => Few::One(v),
            Few::One(a) => Few::Many(vec![a, v]),
            Few::Many(mut all) => {
                all.push(v);
                Few::Many(all)
            }
        };
    }

    fn as_slice(&self) -> &[T] {
        match self {
            Few::None => &[],
            Few::One(v) => std::slice::from_ref(v),
            Few::Many(all) => all,
        }
    }
}

/// The matching key of a name or email: trimmed, lower-case (borrowed when it already is).
fn key(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(t.to_lowercase())
    } else {
        Cow::Borrowed(t)
    }
}

/// Which of a Duo user's identifiers reached a portal user. A portal user without an explicit
/// mapping is matched by `Name` (username), then `Alias`, then `Other` (email); one with an
/// explicit mapping by `Other` (the user id it names) or by `Name` then `Alias` (the username it
/// names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Name = 0,
    Alias = 1,
    Other = 2,
}

/// Matching keys → portal users. The keys' text lives in one buffer (one allocation for all
/// of them, not one per key). Keys come from the portal, the caller's own data; Duo's data only
/// looks keys up.
#[derive(Debug, Default)]
struct KeyMap {
    text: String,
    /// (where the key is in `text`, the portal users with that key).
    table: hashbrown::HashTable<(std::ops::Range<usize>, Few<usize>)>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl KeyMap {
    fn with_capacity(keys: usize) -> Self {
        Self {
            text: String::with_capacity(keys * 16),
            table: hashbrown::HashTable::with_capacity(keys),
            hasher: Default::default(),
        }
    }

    fn insert(&mut self, key: &str, portal: usize) {
        let hash = self.hasher.hash_one(key);
        let (text, hasher) = (&self.text, &self.hasher);
        match self.table.entry(
            hash,
            |(at, _)| &text[at.clone()] == key,
            |(at, _)| hasher.hash_one(&text[at.clone()]),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1.push(portal),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let at = self.text.len()..self.text.len() + key.len();
                e.insert((at, Few::One(portal)));
                self.text.push_str(key);
            }
        }
    }

    fn get(&self, key: &str) -> &[usize] {
        if self.table.is_empty() {
            return &[];
        }
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |(at, _)| &self.text[at.clone()] == key)
            .map_or(&[], |(_, hits)| hits.as_slice())
    }
}

/// The portal side of matching, indexed before the walk.
#[derive(Debug)]
struct PortalIndex {
    /// Portal users without an explicit mapping, by username key.
    by_name: KeyMap,
    /// The same, by email key (empty when matching by email is off).
    by_email: KeyMap,
    /// Explicitly mapped portal users, by the Duo user id they name.
    explicit_by_id: KeyMap,
    /// Explicitly mapped portal users, by the key of the Duo username they name.
    explicit_by_name: KeyMap,
    /// Whether portal usernames are looked for among Duo aliases.
    by_alias: bool,
    /// Each portal user's explicit mapping (an index into `ImportOptions::explicit`), if any.
    explicit: Vec<Option<usize>>,
}

impl PortalIndex {
    fn new(portal: &[PortalUser], options: &ImportOptions) -> Self {
        // A later mapping of the same portal username replaces an earlier one.
        let explicit_keys: HashMap<Cow<'_, str>, usize> = options
            .explicit
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (key(p), i))
            .collect();
        let mut index = PortalIndex {
            by_name: KeyMap::with_capacity(portal.len()),
            by_email: KeyMap::default(),
            explicit_by_id: KeyMap::default(),
            explicit_by_name: KeyMap::default(),
            by_alias: options.by_alias,
            explicit: Vec::with_capacity(portal.len()),
        };
        if options.by_email {
            index.by_email = KeyMap::with_capacity(portal.len());
        }
        for (pi, p) in portal.iter().enumerate() {
            let name = key(&p.username);
            let mapping = if explicit_keys.is_empty() {
                None
            } else {
                explicit_keys.get(&name).copied()
            };
            index.explicit.push(mapping);
            if let Some(m) = mapping {
                match &options.explicit[m].1 {
                    DuoRef::UserId(id) => index.explicit_by_id.insert(id, pi),
                    DuoRef::Username(n) => index.explicit_by_name.insert(&key(n), pi),
                }
                continue;
            }
            index.by_name.insert(&name, pi);
            if options.by_email
                && let Some(email) = p.email.as_deref().map(key).filter(|e| !e.is_empty())
            {
                index.by_email.insert(&email, pi);
            }
        }
        index
    }

    /// Calls `claim` with every portal user a Duo user's identifiers reach, and how.
    fn claims<'a>(
        &self,
        user_id: &str,
        username: &str,
        aliases: impl IntoIterator<Item = &'a str>,
        email: Option<&str>,
        mut claim: impl FnMut(usize, Slot),
    ) {
        let mut reach = |map: &KeyMap, k: &str, slot: Slot| {
            for &pi in map.get(k) {
                claim(pi, slot);
            }
        };
        let name = key(username);
        reach(&self.by_name, &name, Slot::Name);
        reach(&self.explicit_by_name, &name, Slot::Name);
        for alias in aliases {
            let alias = key(alias);
            if self.by_alias {
                reach(&self.by_name, &alias, Slot::Alias);
            }
            reach(&self.explicit_by_name, &alias, Slot::Alias);
        }
        if let Some(email) = email.map(key).filter(|e| !e.is_empty()) {
            reach(&self.by_email, &email, Slot::Other);
        }
        reach(&self.explicit_by_id, user_id, Slot::Other);
    }
}

/// The Duo users (by their index in the listing) that reached each portal user, per [`Slot`].
struct Claims(Vec<[Few<usize>; 3]>);

impl Claims {
    fn new(portal: usize) -> Self {
        Self(vec![Default::default(); portal])
    }

    fn add(&mut self, portal: usize, slot: Slot, duo: usize) {
        self.0[portal][slot as usize].push(duo);
    }
}

/// The Duo users among `hits`, each once, in listing order.
fn distinct(hits: &[usize]) -> Cow<'_, [usize]> {
    if hits.windows(2).all(|w| w[0] < w[1]) {
        Cow::Borrowed(hits)
    } else {
        let mut v = hits.to_vec();
        v.sort_unstable();
        v.dedup();
        Cow::Owned(v)
    }
}

/// What the report takes of the portal: its users by username (the order of the report's
/// lists) and a copy of each username, moved into the report (each portal user ends up in
/// exactly one place of it: matched, unmatched or one conflict).
struct PortalSide {
    order: Vec<usize>,
    names: Vec<String>,
}

impl PortalSide {
    fn new(portal: &[PortalUser]) -> Self {
        let mut order: Vec<usize> = (0..portal.len()).collect();
        order.sort_unstable_by(|a, b| portal[*a].username.cmp(&portal[*b].username));
        Self {
            order,
            names: portal.iter().map(|p| p.username.clone()).collect(),
        }
    }

    fn name(&mut self, pi: usize) -> String {
        std::mem::take(&mut self.names[pi])
    }
}

/// The decisions of matching, by index: what [`match_users`] and the importer turn into a
/// report.
struct Decisions {
    /// (portal index, Duo index, how), by portal username.
    matched: Vec<(usize, usize, MatchedBy)>,
    /// Whether each Duo user was claimed by any portal user (matched or in conflict).
    claimed: Vec<bool>,
    unmatched_portal: Vec<String>,
    conflicts: Vec<Conflict>,
}

/// Decides every portal user's match from its claims. `duo_id` gives a Duo user's id by index.
fn decide<'d>(
    claims: &Claims,
    index: &PortalIndex,
    portal: &[PortalUser],
    side: &mut PortalSide,
    options: &ImportOptions,
    duo_len: usize,
    duo_id: impl Fn(usize) -> &'d str,
) -> Decisions {
    let ids = |hits: &[usize]| hits.iter().map(|&di| duo_id(di).to_owned()).collect();
    let mut conflicts = Vec::new();
    let mut unmatched_portal = Vec::new();
    // Duo index → the portal users it would be matched to.
    let mut wanted: Vec<Few<(usize, MatchedBy)>> = vec![Few::None; duo_len];
    // Portal users in `order`, so that what is pushed per portal user comes out sorted.
    for oi in 0..side.order.len() {
        let pi = side.order[oi];
        let [name, alias, other] = &claims.0[pi];
        if let Some(m) = index.explicit[pi] {
            let target = &options.explicit[m].1;
            let found = match target {
                DuoRef::UserId(_) => distinct(other.as_slice()),
                DuoRef::Username(_) => match distinct(name.as_slice()) {
                    found if found.is_empty() => distinct(alias.as_slice()),
                    found => found,
                },
            };
            match *found {
                [one] => wanted[one].push((pi, MatchedBy::Explicit)),
                [] => conflicts.push(Conflict::ExplicitTargetMissing {
                    portal_username: side.name(pi),
                    target: match target {
                        DuoRef::UserId(s) | DuoRef::Username(s) => s.clone(),
                    },
                }),
                ref many => conflicts.push(Conflict::PortalUserMatchesSeveral {
                    portal_username: side.name(pi),
                    duo_user_ids: ids(many),
                }),
            }
            continue;
        }
        let rules = [
            (name, MatchedBy::Username),
            (alias, MatchedBy::Alias),
            (other, MatchedBy::Email),
        ];
        match rules.iter().find(|(hits, _)| !hits.as_slice().is_empty()) {
            None => unmatched_portal.push(side.name(pi)),
            Some((hits, how)) => match *distinct(hits.as_slice()) {
                [one] => wanted[one].push((pi, *how)),
                ref many => conflicts.push(Conflict::PortalUserMatchesSeveral {
                    portal_username: side.name(pi),
                    duo_user_ids: ids(many),
                }),
            },
        }
    }

    // A Duo user claimed by several portal users is a conflict for all of them.
    let mut chosen: Vec<Option<(usize, MatchedBy)>> = vec![None; portal.len()];
    let mut claimed = vec![false; duo_len];
    for (di, want) in wanted.iter().enumerate() {
        match want.as_slice() {
            [] => {}
            [(pi, how)] => {
                claimed[di] = true;
                chosen[*pi] = Some((di, *how));
            }
            several => {
                claimed[di] = true;
                let mut names: Vec<String> = several.iter().map(|(pi, _)| side.name(*pi)).collect();
                names.sort();
                conflicts.push(Conflict::DuoUserMatchedBySeveral {
                    duo_user_id: duo_id(di).to_owned(),
                    portal_usernames: names,
                });
            }
        }
    }
    // By portal username; portal users sharing a username (matched through different emails)
    // in Duo order.
    let mut matched: Vec<(usize, usize, MatchedBy)> = Vec::with_capacity(portal.len());
    for run in side
        .order
        .chunk_by(|a, b| portal[*a].username == portal[*b].username)
    {
        let from = matched.len();
        matched.extend(
            run.iter()
                .filter_map(|&pi| chosen[pi].map(|(di, how)| (pi, di, how))),
        );
        if run.len() > 1 {
            matched[from..].sort_by_key(|m| m.1);
        }
    }
    conflicts.sort_by_cached_key(|c| serde_json::to_string(c).unwrap_or_default());
    Decisions {
        matched,
        claimed,
        unmatched_portal,
        conflicts,
    }
}

/// Duo users nobody claimed (id, username), by user id.
fn unmatched_duo<'d>(
    claimed: &[bool],
    duo: impl Fn(usize) -> (&'d str, &'d str),
) -> Vec<UnmatchedDuoUser> {
    let mut out: Vec<UnmatchedDuoUser> = claimed
        .iter()
        .enumerate()
        .filter(|(_, c)| !**c)
        .map(|(di, _)| {
            let (user_id, username) = duo(di);
            UnmatchedDuoUser {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    out
}

/// Matches portal users to Duo users (pure: no IO).
pub fn match_users(duo: &[User], portal: &[PortalUser], options: &ImportOptions) -> ImportReport {
    let index = PortalIndex::new(portal, options);
    let mut claims = Claims::new(portal.len());
    for (di, u) in duo.iter().enumerate() {
        index.claims(
            &u.user_id,
            &u.username,
            u.aliases.iter().map(String::as_str),
            u.email.as_deref(),
            |pi, slot| claims.add(pi, slot, di),
        );
    }
    let mut side = PortalSide::new(portal);
    let d = decide(
        &claims,
        &index,
        portal,
        &mut side,
        options,
        duo.len(),
        |di| &duo[di].user_id,
    );
    let matched = d
        .matched
        .iter()
        .map(|&(pi, di, how)| {
            let u = &duo[di];
            Matched {
                portal_username: side.name(pi),
                duo_user_id: u.user_id.clone(),
                duo_username: u.username.clone(),
                matched_by: how,
                status: u.status.clone(),
                authenticators: authenticators(u),
            }
        })
        .collect();
    ImportReport {
        matched,
        unmatched_duo: unmatched_duo(&d.claimed, |di| (&duo[di].user_id, &duo[di].username)),
        unmatched_portal: d.unmatched_portal,
        conflicts: d.conflicts,
        duo_users: duo.len(),
    }
}

// ---- Reading the listing ----

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
        self.table.reserve(n, |_| 0);
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
    for attempt in 0..=max_restarts {
        let mut collected = new();
        let mut first_total: Option<u64> = None;
        let mut changed = false;
        let mut pages = 0;
        let mut stream = std::pin::pin!(client.decoded_pages(
            "/admin/v1/users".into(),
            Vec::new(),
            crate::USERS_MAX,
            Arc::clone(&decoder),
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

/// A Duo user as the importer keeps it: what the report uses, taken from the page and
/// looked up in the portal index on the blocking pool while the next pages are fetched.
#[derive(Debug)]
struct Read {
    user_id: String,
    username: String,
    status: UserStatus,
    authenticators: Vec<Authenticator>,
    id_hash: u64,
    /// The portal users this Duo user reaches, and how.
    claims: Few<(usize, Slot)>,
    /// What matching reads, kept when the page was read before the portal index was ready.
    unmatched: Option<Box<Identifiers>>,
}

/// A Duo user's aliases and email, for looking the user up later.
#[derive(Debug)]
struct Identifiers {
    aliases: Vec<String>,
    email: Option<String>,
}

impl Read {
    /// Looks the user up in `index` if its page was read before the index was ready.
    fn look_up(&mut self, index: &PortalIndex) {
        if let Some(ids) = self.unmatched.take() {
            let mut claims = Few::None;
            index.claims(
                &self.user_id,
                &self.username,
                ids.aliases.iter().map(String::as_str),
                ids.email.as_deref(),
                |pi, slot| claims.push((pi, slot)),
            );
            self.claims = claims;
        }
    }
}

impl UserId for Read {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

/// The importer's reading of a page: the users' identifiers borrowed from the body (most of
/// them are only looked up, never kept), the rest skipped over.
struct ImportDecode {
    /// Set by the importer right after the walk's first request has gone out (building it
    /// takes about as long as that request); a page decoded before keeps what matching needs
    /// for the walk to look it up.
    index: std::sync::OnceLock<PortalIndex>,
    ids: RandomState,
}

/// A string as it lies in the page: borrowed unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(s)))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s)))
    }
}

/// A user's aliases, borrowed: Duo sends `{"alias1": "x", …}` (older answers a list); values
/// that are not strings are skipped. Order does not matter to matching.
#[derive(Default)]
struct Aliases<'a>(Vec<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Aliases<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IgnoredAny;
        /// An alias value: a string, or anything else (skipped).
        struct Value<'a>(Option<Text<'a>>);
        impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Value<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an alias")
                    }
                    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
                        Ok(Value(Some(Text(Cow::Borrowed(s)))))
                    }
                    fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
                        Ok(Value(Some(Text(Cow::Owned(s.to_owned())))))
                    }
                    fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
                        Ok(Value(Some(Text(Cow::Owned(s)))))
                    }
                    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
                        Ok(Value(None))
                    }
                    fn visit_none<E>(self) -> Result<Value<'de>, E> {
                        Ok(Value(None))
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<Value<'de>, E> {
                        Ok(Value(None))
                    }
                    fn visit_i64<E>(self, _: i64) -> Result<Value<'de>, E> {
                        Ok(Value(None))
                    }
                    fn visit_u64<E>(self, _: u64) -> Result<Value<'de>, E> {
                        Ok(Value(None))
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<Value<'de>, E> {
                        Ok(Value(None))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<Value<'de>, A::Error> {
                        IgnoredAny.visit_map(map).map(|_| Value(None))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        seq: A,
                    ) -> Result<Value<'de>, A::Error> {
                        IgnoredAny.visit_seq(seq).map(|_| Value(None))
                    }
                }
                d.deserialize_any(V)
            }
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Aliases<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("aliases as an object or a list")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Aliases<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((IgnoredAny, Value(v))) = map.next_entry()? {
                    out.extend(v);
                }
                Ok(Aliases(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Aliases<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(Value(v)) = seq.next_element()? {
                    out.extend(v);
                }
                Ok(Aliases(out))
            }
            fn visit_unit<E>(self) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_none<E>(self) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Aliases<'de>, E> {
                Ok(Aliases::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// A listed user, as the importer reads it.
#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow)]
    user_id: Text<'a>,
    #[serde(borrow)]
    username: Text<'a>,
    #[serde(borrow, default)]
    email: Option<Text<'a>>,
    status: Open<UserStatus>,
    #[serde(borrow, default)]
    aliases: Aliases<'a>,
    #[serde(default)]
    phones: Authenticators<DuoPhone>,
    #[serde(default)]
    tokens: Authenticators<Token>,
    #[serde(default)]
    webauthncredentials: Authenticators<DuoKey>,
}

/// A list of phones, tokens or keys read straight into [`Authenticator`]s, one element at a
/// time (no intermediate list).
struct Authenticators<S>(Vec<Authenticator>, std::marker::PhantomData<S>);

impl<S> Default for Authenticators<S> {
    fn default() -> Self {
        Self(Vec::new(), std::marker::PhantomData)
    }
}

/// What a listed phone, token or key becomes.
trait AsAuthenticator {
    fn authenticator(self) -> Authenticator;
}

impl<'de, S: Deserialize<'de> + AsAuthenticator> Deserialize<'de> for Authenticators<S> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(std::marker::PhantomData<S>);
        impl<'de, S: Deserialize<'de> + AsAuthenticator> serde::de::Visitor<'de> for V<S> {
            type Value = Authenticators<S>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(item) = seq.next_element::<S>()? {
                    out.push(item.authenticator());
                }
                Ok(Authenticators(out, std::marker::PhantomData))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

impl AsAuthenticator for DuoPhone {
    fn authenticator(self) -> Authenticator {
        let p = self;
        Authenticator::Phone {
            phone_id: p.phone_id,
            number: p.number,
            platform: p.platform.map(|p| p.0),
            activated: p.activated.unwrap_or(false),
            capabilities: p.capabilities.into_iter().map(|c| c.0).collect(),
        }
    }
}

impl AsAuthenticator for Token {
    fn authenticator(self) -> Authenticator {
        let t = self;
        Authenticator::Token {
            token_id: t.token_id,
            serial: t.serial,
            token_type: t.kind,
        }
    }
}

impl AsAuthenticator for DuoKey {
    fn authenticator(self) -> Authenticator {
        let w = self;
        Authenticator::WebAuthn {
            key: w.webauthnkey,
            name: w.credential_name,
        }
    }
}

/// A page's envelope, its users read one by one straight into [`Read`]s (no list of parsed
/// users in between).
struct Envelope<'d>(&'d ImportDecode);

/// What a page gives: `stat`, the users, `metadata`.
type ReadPage = (Option<String>, Vec<Read>, serde_json::Value);

impl<'de> serde::de::DeserializeSeed<'de> for Envelope<'_> {
    type Value = ReadPage;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<ReadPage, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Envelope<'_> {
    type Value = ReadPage;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Duo's envelope")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ReadPage, A::Error> {
        let (mut stat, mut users, mut metadata) = (None, None, serde_json::Value::Null);
        while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
            match &*k {
                "stat" => stat = Some(map.next_value::<Text<'de>>()?.0.into_owned()),
                "response" => users = Some(map.next_value_seed(Users(self.0))?),
                "metadata" => metadata = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let users = users.ok_or_else(|| serde::de::Error::missing_field("response"))?;
        Ok((stat, users, metadata))
    }
}

/// The `response` list of a page of users.
struct Users<'d>(&'d ImportDecode);

impl<'de> serde::de::DeserializeSeed<'de> for Users<'_> {
    type Value = Vec<Read>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Read>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Users<'_> {
    type Value = Vec<Read>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of users")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Read>, A::Error> {
        // Duo's pages hold up to 300 users.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(300).min(1024));
        while let Some(user) = seq.next_element::<Listed<'de>>()? {
            out.push(self.0.read(user));
        }
        Ok(out)
    }
}

impl crate::paging::Decode for ImportDecode {
    type Item = Read;

    fn decode(
        &self,
        raw: &duo_auth::transport::RawResponse,
        attempts: u32,
    ) -> Result<(Vec<Read>, serde_json::Value), Error> {
        let shape_error = if (200..300).contains(&raw.status) {
            use serde::de::DeserializeSeed;
            // Checked to be UTF-8 once, so the reader need not check each string again.
            let read = match std::str::from_utf8(&raw.body) {
                Ok(text) => {
                    let mut de = serde_json::Deserializer::from_str(text);
                    Envelope(self)
                        .deserialize(&mut de)
                        .and_then(|p| de.end().map(|()| p))
                }
                Err(_) => {
                    let mut de = serde_json::Deserializer::from_slice(&raw.body);
                    Envelope(self)
                        .deserialize(&mut de)
                        .and_then(|p| de.end().map(|()| p))
                }
            };
            match read {
                Ok((Some(stat), users, metadata)) if stat == "OK" => return Ok((users, metadata)),
                Ok(_) => None,
                Err(e) => Some(e),
            }
        } else {
            None
        };
        // Duo's error answer, or no envelope at all: told as any other listing tells it.
        duo_auth::transport::parse_typed::<serde::de::IgnoredAny>(raw, attempts)?;
        // An envelope saying OK whose users are not users.
        let keep = &raw.body[..raw.body.len().min(4096)];
        Err(Error::Duo(duo_auth::Error::UnexpectedResponse {
            status: raw.status,
            reason: match shape_error {
                Some(e) => format!("the response does not have the expected shape: {e}"),
                None => "the response does not have the expected shape".to_owned(),
            },
            body: String::from_utf8_lossy(keep).into_owned(),
        }))
    }
}

impl ImportDecode {
    fn read(&self, u: Listed<'_>) -> Read {
        let mut claims = Few::None;
        let mut unmatched = None;
        match self.index.get() {
            Some(index) => index.claims(
                &u.user_id.0,
                &u.username.0,
                u.aliases.0.iter().map(|a| &*a.0),
                u.email.as_ref().map(|e| &*e.0),
                |pi, slot| claims.push((pi, slot)),
            ),
            None => {
                unmatched = Some(Box::new(Identifiers {
                    aliases: u.aliases.0.into_iter().map(|a| a.0.into_owned()).collect(),
                    email: u.email.map(|e| e.0.into_owned()),
                }))
            }
        }
        // Phones first, then tokens, then keys (most users have only phones: no copy then).
        let mut authenticators = u.phones.0;
        authenticators.extend(u.tokens.0);
        authenticators.extend(u.webauthncredentials.0);
        Read {
            id_hash: self.ids.hash_one(&*u.user_id.0),
            user_id: u.user_id.0.into_owned(),
            username: u.username.0.into_owned(),
            status: u.status.0,
            authenticators,
            claims,
            unmatched,
        }
    }
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
                for &(pi, slot) in claims.as_slice() {
                    self.claims.add(pi, slot, di);
                }
            }
        }
    }
    fn len(&self) -> usize {
        self.users.items.len()
    }
}

/// Walks every Duo user and matches them to `portal` (see the module docs). Dropping the future
/// cancels the walk: nothing it started keeps running, and the client stays usable.
pub async fn import(
    client: &AdminClient,
    portal: &[PortalUser],
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
    // The walk is polled first (its first request goes out), then the portal is indexed and
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
    portal: &[PortalUser],
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
            for &(pi, slot) in std::mem::take(&mut u.claims).as_slice() {
                claims.add(pi, slot, di);
            }
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
                status: u.status.clone(),
                authenticators: std::mem::take(&mut u.authenticators),
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
