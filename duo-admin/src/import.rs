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
use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use serde::de::DeserializeOwned;
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

/// A user as a listing walk sees it: its id, to read each user once.
trait Listed {
    fn user_id(&self) -> &str;
}

impl Listed for User {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

/// What matching reads of a Duo user.
trait Candidate {
    fn user_id(&self) -> &str;
    fn username(&self) -> &str;
    fn aliases(&self) -> &[String];
    fn email(&self) -> Option<&str>;
}

impl Candidate for User {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn username(&self) -> &str {
        &self.username
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// A Duo user as the importer reads it from the listing: what matching and the report use, and
/// nothing else. The listing carries much more (names, groups, every phone's device details);
/// the importer skips over it instead of building strings it would drop — most of the cost of
/// reading a page. [`all_users`] still reads whole [`User`]s.
#[derive(Debug, Deserialize)]
struct DuoUser {
    user_id: String,
    username: String,
    #[serde(default)]
    email: Option<String>,
    status: Open<UserStatus>,
    #[serde(default, deserialize_with = "crate::models::aliases")]
    aliases: Vec<String>,
    #[serde(default)]
    phones: Vec<DuoPhone>,
    #[serde(default)]
    tokens: Vec<Token>,
    #[serde(default)]
    webauthncredentials: Vec<DuoKey>,
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

impl DuoUser {
    /// The user's id, username, status and authenticators, taken out (the user is left empty).
    fn take_parts(&mut self) -> (String, String, UserStatus, Vec<Authenticator>) {
        let phones = std::mem::take(&mut self.phones);
        let tokens = std::mem::take(&mut self.tokens);
        let keys = std::mem::take(&mut self.webauthncredentials);
        let mut out = Vec::with_capacity(phones.len() + tokens.len() + keys.len());
        out.extend(phones.into_iter().map(|p| Authenticator::Phone {
            phone_id: p.phone_id,
            number: p.number,
            platform: p.platform.map(|p| p.0),
            activated: p.activated.unwrap_or(false),
            capabilities: p.capabilities.into_iter().map(|c| c.0).collect(),
        }));
        out.extend(tokens.into_iter().map(|t| Authenticator::Token {
            token_id: t.token_id,
            serial: t.serial,
            token_type: t.kind,
        }));
        out.extend(keys.into_iter().map(|w| Authenticator::WebAuthn {
            key: w.webauthnkey,
            name: w.credential_name,
        }));
        (
            std::mem::take(&mut self.user_id),
            std::mem::take(&mut self.username),
            self.status.0.clone(),
            out,
        )
    }
}

impl Listed for DuoUser {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl Candidate for DuoUser {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn username(&self) -> &str {
        &self.username
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// Reads every Duo user once, restarting when the account changes mid-walk.
pub async fn all_users(
    client: &AdminClient,
    max_restarts: u32,
    progress: impl FnMut(Progress),
) -> Result<Vec<User>, Error> {
    walk(client, max_restarts, progress).await
}

async fn walk<T: Listed + DeserializeOwned + Send + 'static>(
    client: &AdminClient,
    max_restarts: u32,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<T>, Error> {
    let span = tracing::info_span!("duo_users_walk");
    let _enter = span.enter();
    for attempt in 0..=max_restarts {
        let mut users: Vec<T> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut first_total: Option<u64> = None;
        let mut changed = false;
        let mut pages = 0;
        let mut stream = std::pin::pin!(client.pages::<T>(
            "/admin/v1/users".into(),
            Vec::new(),
            crate::USERS_MAX
        ));
        while let Some(page) = stream.try_next().await? {
            pages += 1;
            match (first_total, page.total_objects) {
                (None, t) => {
                    first_total = t;
                    let expect = t.map_or(0, |t| usize::try_from(t).unwrap_or(0));
                    users.reserve(expect.min(1 << 20));
                    seen.reserve(expect.min(1 << 20));
                }
                (Some(a), Some(b)) if a != b => changed = true,
                _ => {}
            }
            for u in page.items {
                if seen.insert(u.user_id().to_owned()) {
                    users.push(u);
                }
            }
            progress(Progress {
                pages,
                users: users.len(),
                total: first_total,
                attempt,
            });
            tracing::debug!(pages, users = users.len(), "walking Duo users");
            if changed {
                break;
            }
        }
        let complete = first_total.is_none_or(|t| t == users.len() as u64);
        if !changed && complete {
            return Ok(users);
        }
        tracing::info!(attempt, read = users.len(), total = ?first_total, "Duo users changed during the walk; starting again");
    }
    Err(Error::ListingUnstable {
        path: "/admin/v1/users".to_owned(),
        attempts: max_restarts + 1,
    })
}

/// Portal or Duo indexes a key leads to (most keys lead to one: no allocation for those).
#[derive(Debug, Clone, Default)]
enum Hits {
    #[default]
    None,
    One(usize),
    Many(Vec<usize>),
}

impl Hits {
    fn push(&mut self, i: usize) {
        *self = match std::mem::take(self) {
            Hits::None => Hits::One(i),
            Hits::One(a) => Hits::Many(vec![a, i]),
            Hits::Many(mut v) => {
                v.push(i);
                Hits::Many(v)
            }
        };
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Hits::None => &[],
            Hits::One(i) => std::slice::from_ref(i),
            Hits::Many(v) => v,
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

/// The decisions of matching, by index: what [`match_users`] and the importer turn into a
/// report.
struct Decisions {
    /// (portal index, Duo index, how), in portal order.
    matched: Vec<(usize, usize, MatchedBy)>,
    /// Whether each Duo user was claimed by any portal user (matched or in conflict).
    claimed: Vec<bool>,
    unmatched_portal: Vec<String>,
    conflicts: Vec<Conflict>,
}

fn decide<U: Candidate>(duo: &[U], portal: &[PortalUser], options: &ImportOptions) -> Decisions {
    let mut by_username: HashMap<Cow<'_, str>, Hits> = HashMap::with_capacity(duo.len());
    let mut by_alias: HashMap<Cow<'_, str>, Hits> = HashMap::new();
    let mut by_email: HashMap<Cow<'_, str>, Hits> = HashMap::with_capacity(duo.len());
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, u) in duo.iter().enumerate() {
        by_username.entry(key(u.username())).or_default().push(i);
        for a in u.aliases() {
            by_alias.entry(key(a)).or_default().push(i);
        }
        if let Some(e) = u.email().filter(|e| !e.trim().is_empty()) {
            by_email.entry(key(e)).or_default().push(i);
        }
    }
    if !options.explicit.is_empty() {
        by_id.reserve(duo.len());
        for (i, u) in duo.iter().enumerate() {
            by_id.insert(u.user_id(), i);
        }
    }
    let explicit: HashMap<Cow<'_, str>, &DuoRef> =
        options.explicit.iter().map(|(p, d)| (key(p), d)).collect();
    let hits = |map: &HashMap<Cow<'_, str>, Hits>, k: &str| -> Vec<usize> {
        map.get(k)
            .map(|h| h.as_slice().to_vec())
            .unwrap_or_default()
    };

    let mut conflicts = Vec::new();
    // portal index → (duo index, how)
    let mut candidate: Vec<Option<(usize, MatchedBy)>> = vec![None; portal.len()];
    let mut unmatched_portal = Vec::new();
    for (pi, p) in portal.iter().enumerate() {
        let pk = key(&p.username);
        if let Some(target) = explicit.get(&pk) {
            let found = match target {
                DuoRef::UserId(id) => by_id.get(id.as_str()).map(|i| vec![*i]).unwrap_or_default(),
                DuoRef::Username(name) => {
                    let n = key(name);
                    let mut v = hits(&by_username, &n);
                    if v.is_empty() {
                        v = hits(&by_alias, &n);
                    }
                    v
                }
            };
            match found.as_slice() {
                [one] => candidate[pi] = Some((*one, MatchedBy::Explicit)),
                [] => conflicts.push(Conflict::ExplicitTargetMissing {
                    portal_username: p.username.clone(),
                    target: match target {
                        DuoRef::UserId(s) | DuoRef::Username(s) => s.clone(),
                    },
                }),
                many => conflicts.push(Conflict::PortalUserMatchesSeveral {
                    portal_username: p.username.clone(),
                    duo_user_ids: many.iter().map(|i| duo[*i].user_id().to_owned()).collect(),
                }),
            }
            continue;
        }
        let email = p.email.as_deref().filter(|_| options.by_email).map(key);
        let rules = [
            (by_username.get(&pk), MatchedBy::Username),
            (
                by_alias.get(&pk).filter(|_| options.by_alias),
                MatchedBy::Alias,
            ),
            (
                email.as_ref().and_then(|e| by_email.get(e)),
                MatchedBy::Email,
            ),
        ];
        let mut decided = false;
        for (hits, how) in rules {
            let Some(hits) = hits.map(Hits::as_slice).filter(|h| !h.is_empty()) else {
                continue;
            };
            match hits {
                [one] => candidate[pi] = Some((*one, how)),
                many => {
                    let mut ids: Vec<usize> = many.to_vec();
                    ids.sort_unstable();
                    ids.dedup();
                    if let [one] = ids.as_slice() {
                        candidate[pi] = Some((*one, how));
                    } else {
                        conflicts.push(Conflict::PortalUserMatchesSeveral {
                            portal_username: p.username.clone(),
                            duo_user_ids: ids
                                .iter()
                                .map(|i| duo[*i].user_id().to_owned())
                                .collect(),
                        });
                    }
                }
            }
            decided = true;
            break;
        }
        if !decided {
            unmatched_portal.push(p.username.clone());
        }
    }

    // A Duo user claimed by several portal users is a conflict for all of them.
    let mut claims: Vec<Hits> = vec![Hits::None; duo.len()];
    for (pi, c) in candidate.iter().enumerate() {
        if let Some((di, _)) = c {
            claims[*di].push(pi);
        }
    }
    let mut matched = Vec::new();
    let mut claimed = vec![false; duo.len()];
    for (di, pis) in claims.iter().enumerate() {
        match pis.as_slice() {
            [] => {}
            [pi] => {
                claimed[di] = true;
                if let Some((_, how)) = candidate[*pi] {
                    matched.push((*pi, di, how));
                }
            }
            several => {
                claimed[di] = true;
                let mut names: Vec<String> = several
                    .iter()
                    .map(|pi| portal[*pi].username.clone())
                    .collect();
                names.sort();
                conflicts.push(Conflict::DuoUserMatchedBySeveral {
                    duo_user_id: duo[di].user_id().to_owned(),
                    portal_usernames: names,
                });
            }
        }
    }
    // By portal username (stable: equal names stay in Duo order).
    matched.sort_by(|a, b| portal[a.0].username.cmp(&portal[b.0].username));
    unmatched_portal.sort();
    conflicts.sort_by_cached_key(|c| serde_json::to_string(c).unwrap_or_default());
    Decisions {
        matched,
        claimed,
        unmatched_portal,
        conflicts,
    }
}

/// Duo users nobody claimed, by user id.
fn unmatched_duo<U: Candidate>(duo: &[U], claimed: &[bool]) -> Vec<UnmatchedDuoUser> {
    let mut out: Vec<UnmatchedDuoUser> = duo
        .iter()
        .zip(claimed)
        .filter(|(_, c)| !**c)
        .map(|(u, _)| UnmatchedDuoUser {
            user_id: u.user_id().to_owned(),
            username: u.username().to_owned(),
        })
        .collect();
    out.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    out
}

/// Matches portal users to Duo users (pure: no IO).
pub fn match_users(duo: &[User], portal: &[PortalUser], options: &ImportOptions) -> ImportReport {
    let d = decide(duo, portal, options);
    let matched = d
        .matched
        .iter()
        .map(|&(pi, di, how)| {
            let u = &duo[di];
            Matched {
                portal_username: portal[pi].username.clone(),
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
        unmatched_duo: unmatched_duo(duo, &d.claimed),
        unmatched_portal: d.unmatched_portal,
        conflicts: d.conflicts,
        duo_users: duo.len(),
    }
}

/// [`match_users`] over the importer's own reading of the users, moving what the report keeps
/// out of them instead of copying it.
fn match_read_users(
    mut duo: Vec<DuoUser>,
    portal: &[PortalUser],
    options: &ImportOptions,
) -> ImportReport {
    let d = decide(&duo, portal, options);
    let unmatched_duo = unmatched_duo(&duo, &d.claimed);
    let duo_users = duo.len();
    let matched = d
        .matched
        .iter()
        .map(|&(pi, di, how)| {
            // Each Duo user is matched at most once (several claims are a conflict), so what is
            // taken out of it is taken once.
            let (duo_user_id, duo_username, status, authenticators) = duo[di].take_parts();
            Matched {
                portal_username: portal[pi].username.clone(),
                duo_user_id,
                duo_username,
                matched_by: how,
                status,
                authenticators,
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

/// Walks every Duo user and matches them to `portal` (see the module docs). Dropping the future
/// cancels the walk: nothing it started keeps running, and the client stays usable.
pub async fn import(
    client: &AdminClient,
    portal: &[PortalUser],
    options: &ImportOptions,
    progress: impl FnMut(Progress),
) -> Result<ImportReport, Error> {
    let duo: Vec<DuoUser> = walk(client, options.max_restarts, progress).await?;
    Ok(match_read_users(duo, portal, options))
}
