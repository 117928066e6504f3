//! Matching Duo users to portal users, split so that most of it happens while pages are still
//! arriving: the portal side is indexed once ([`PortalIndex`]); each page's decode, on the
//! blocking pool next to the fetching of the following pages, looks every Duo user's username,
//! aliases, email and id up in that index and keeps the portal users they reach ("claims"); the
//! walk records each distinct Duo user's claims per portal user ([`Claims`]); at the end one
//! pass over the portal users decides ([`decide`]). [`match_users`] runs the same index, claims
//! and decision over users already read, so both give one answer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use super::{
    Conflict, DuoRef, ImportOptions, ImportReport, Matched, MatchedBy, PortalIdentity,
    UnmatchedDuoUser, authenticators, groups,
};
use crate::models::User;

/// A few values: most keys lead to one, without an allocation.
#[derive(Debug, Clone, Default)]
pub(super) enum Few<T> {
    #[default]
    None,
    One(T),
    Many(Vec<T>),
}

impl<T: Copy> Few<T> {
    pub(super) fn push(&mut self, v: T) {
        *self = match std::mem::take(self) {
            Few::None => Few::One(v),
            Few::One(a) => Few::Many(vec![a, v]),
            Few::Many(mut all) => {
                all.push(v);
                Few::Many(all)
            }
        };
    }

    pub(super) fn as_slice(&self) -> &[T] {
        match self {
            Few::None => &[],
            Few::One(v) => std::slice::from_ref(v),
            Few::Many(all) => all,
        }
    }
}

/// The matching key of a name or email: trimmed, lower-case (borrowed when it already is).
pub(super) fn key(s: &str) -> Cow<'_, str> {
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
pub(super) enum Slot {
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
pub(super) struct PortalIndex {
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
    pub(super) fn new(portal: &[PortalIdentity], options: &ImportOptions) -> Self {
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
    pub(super) fn claims<'a>(
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
pub(super) struct Claims(Vec<[Few<usize>; 3]>);

impl Claims {
    pub(super) fn new(portal: usize) -> Self {
        Self(vec![Default::default(); portal])
    }

    pub(super) fn add(&mut self, portal: usize, slot: Slot, duo: usize) {
        self.0[portal][slot as usize].push(duo);
    }

    /// Records what one Duo user reached (as its page's reading found it).
    pub(super) fn record(&mut self, duo: usize, reached: &Few<(usize, Slot)>) {
        for &(portal, slot) in reached.as_slice() {
            self.add(portal, slot, duo);
        }
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
pub(super) struct PortalSide {
    order: Vec<usize>,
    names: Vec<String>,
    /// Whether the portal user at each place of `order` has the username of the one before.
    same_as_before: Vec<bool>,
}

impl PortalSide {
    pub(super) fn new(portal: &[PortalIdentity]) -> Self {
        let mut order: Vec<usize> = (0..portal.len()).collect();
        order.sort_unstable_by(|a, b| portal[*a].username.cmp(&portal[*b].username));
        let same_as_before = std::iter::once(false)
            .chain(
                order
                    .windows(2)
                    .map(|w| portal[w[0]].username == portal[w[1]].username),
            )
            .take(order.len())
            .collect();
        Self {
            order,
            names: portal.iter().map(|p| p.username.clone()).collect(),
            same_as_before,
        }
    }

    pub(super) fn name(&mut self, pi: usize) -> String {
        std::mem::take(&mut self.names[pi])
    }
}

/// The decisions of matching, by index: what [`match_users`] and the importer turn into a
/// report.
pub(super) struct Decisions {
    /// (portal index, Duo index, how), by portal username.
    pub(super) matched: Vec<(usize, usize, MatchedBy)>,
    /// Whether each Duo user was claimed by any portal user (matched or in conflict).
    pub(super) claimed: Vec<bool>,
    pub(super) unmatched_portal: Vec<String>,
    pub(super) conflicts: Vec<Conflict>,
}

/// Decides every portal user's match from its claims. `duo_id` gives a Duo user's id by index.
pub(super) fn decide<'d>(
    claims: &Claims,
    index: &PortalIndex,
    portal: &[PortalIdentity],
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
    let by_duo_order = |run: &mut [(usize, usize, MatchedBy)]| {
        if run.len() > 1 {
            run.sort_by_key(|m| m.1);
        }
    };
    let mut run = 0;
    for (&pi, &same) in side.order.iter().zip(&side.same_as_before) {
        if !same {
            by_duo_order(&mut matched[run..]);
            run = matched.len();
        }
        if let Some((di, how)) = chosen[pi] {
            matched.push((pi, di, how));
        }
    }
    by_duo_order(&mut matched[run..]);
    conflicts.sort_by_cached_key(|c| serde_json::to_string(c).unwrap_or_default());
    Decisions {
        matched,
        claimed,
        unmatched_portal,
        conflicts,
    }
}

/// Duo users nobody claimed (id, username), by user id.
pub(super) fn unmatched_duo<'d>(
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

/// Matches portal users to Duo users (pure: no IO). A user id listed more than once counts
/// once, as its first listing (as in [`import`](super::import)'s walk).
pub fn match_users(
    duo: &[User],
    portal: &[PortalIdentity],
    options: &ImportOptions,
) -> ImportReport {
    let mut seen = std::collections::HashSet::with_capacity(duo.len());
    let duo: Vec<&User> = duo
        .iter()
        .filter(|u| seen.insert(u.user_id.as_str()))
        .collect();
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
            let u = duo[di];
            Matched {
                portal_username: side.name(pi),
                duo_user_id: u.user_id.clone(),
                duo_username: u.username.clone(),
                matched_by: how,
                status: u.status.clone(),
                authenticators: authenticators(u),
                groups: groups(u),
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
