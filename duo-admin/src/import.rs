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

use std::collections::{BTreeMap, HashMap};

use futures::TryStreamExt;
use serde::Serialize;

use crate::models::{Capability, User, UserStatus};
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

/// Reads every Duo user once, restarting when the account changes mid-walk.
pub async fn all_users(
    client: &AdminClient,
    max_restarts: u32,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<User>, Error> {
    let span = tracing::info_span!("duo_users_walk");
    let _enter = span.enter();
    for attempt in 0..=max_restarts {
        let mut users: Vec<User> = Vec::new();
        let mut seen: HashMap<String, ()> = HashMap::new();
        let mut first_total: Option<u64> = None;
        let mut changed = false;
        let mut pages = 0;
        let mut stream = std::pin::pin!(client.user_pages());
        while let Some(page) = stream.try_next().await? {
            pages += 1;
            match (first_total, page.total_objects) {
                (None, t) => first_total = t,
                (Some(a), Some(b)) if a != b => changed = true,
                _ => {}
            }
            for u in page.items {
                if seen.insert(u.user_id.clone(), ()).is_none() {
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

/// Matches portal users to Duo users (pure: no IO).
pub fn match_users(duo: &[User], portal: &[PortalUser], options: &ImportOptions) -> ImportReport {
    let key = |s: &str| s.trim().to_lowercase();
    let mut by_username: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_alias: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, u) in duo.iter().enumerate() {
        by_username.entry(key(&u.username)).or_default().push(i);
        for a in &u.aliases {
            by_alias.entry(key(a)).or_default().push(i);
        }
        if let Some(e) = u.email.as_deref().filter(|e| !e.trim().is_empty()) {
            by_email.entry(key(e)).or_default().push(i);
        }
        by_id.insert(u.user_id.as_str(), i);
    }
    let explicit: HashMap<String, &DuoRef> =
        options.explicit.iter().map(|(p, d)| (key(p), d)).collect();

    let mut conflicts = Vec::new();
    // portal index → (duo index, how)
    let mut candidate: BTreeMap<usize, (usize, MatchedBy)> = BTreeMap::new();
    let mut unmatched_portal = Vec::new();
    for (pi, p) in portal.iter().enumerate() {
        let pk = key(&p.username);
        if let Some(target) = explicit.get(&pk) {
            let found = match target {
                DuoRef::UserId(id) => by_id.get(id.as_str()).map(|i| vec![*i]).unwrap_or_default(),
                DuoRef::Username(name) => {
                    let n = key(name);
                    let mut v = by_username.get(&n).cloned().unwrap_or_default();
                    if v.is_empty() {
                        v = by_alias.get(&n).cloned().unwrap_or_default();
                    }
                    v
                }
            };
            match found.as_slice() {
                [one] => {
                    candidate.insert(pi, (*one, MatchedBy::Explicit));
                }
                [] => conflicts.push(Conflict::ExplicitTargetMissing {
                    portal_username: p.username.clone(),
                    target: match target {
                        DuoRef::UserId(s) | DuoRef::Username(s) => s.clone(),
                    },
                }),
                many => conflicts.push(Conflict::PortalUserMatchesSeveral {
                    portal_username: p.username.clone(),
                    duo_user_ids: many.iter().map(|i| duo[*i].user_id.clone()).collect(),
                }),
            }
            continue;
        }
        let mut rules: Vec<(Option<&Vec<usize>>, MatchedBy)> =
            vec![(by_username.get(&pk), MatchedBy::Username)];
        if options.by_alias {
            rules.push((by_alias.get(&pk), MatchedBy::Alias));
        }
        if let Some(e) = p.email.as_deref().filter(|_| options.by_email) {
            rules.push((by_email.get(&key(e)), MatchedBy::Email));
        }
        let mut decided = false;
        for (hits, how) in rules {
            let Some(hits) = hits.filter(|h| !h.is_empty()) else {
                continue;
            };
            let mut ids: Vec<usize> = hits.clone();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() == 1 {
                candidate.insert(pi, (ids[0], how));
            } else {
                conflicts.push(Conflict::PortalUserMatchesSeveral {
                    portal_username: p.username.clone(),
                    duo_user_ids: ids.iter().map(|i| duo[*i].user_id.clone()).collect(),
                });
            }
            decided = true;
            break;
        }
        if !decided {
            unmatched_portal.push(p.username.clone());
        }
    }

    // A Duo user claimed by several portal users is a conflict for all of them.
    let mut claims: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (pi, (di, _)) in &candidate {
        claims.entry(*di).or_default().push(*pi);
    }
    let mut matched = Vec::new();
    let mut claimed = vec![false; duo.len()];
    for (di, pis) in &claims {
        claimed[*di] = true;
        if pis.len() > 1 {
            let mut names: Vec<String> =
                pis.iter().map(|pi| portal[*pi].username.clone()).collect();
            names.sort();
            conflicts.push(Conflict::DuoUserMatchedBySeveral {
                duo_user_id: duo[*di].user_id.clone(),
                portal_usernames: names,
            });
            continue;
        }
        let pi = pis[0];
        let (_, how) = candidate[&pi];
        let u = &duo[*di];
        matched.push(Matched {
            portal_username: portal[pi].username.clone(),
            duo_user_id: u.user_id.clone(),
            duo_username: u.username.clone(),
            matched_by: how,
            status: u.status.clone(),
            authenticators: authenticators(u),
        });
    }
    matched.sort_by(|a, b| a.portal_username.cmp(&b.portal_username));
    unmatched_portal.sort();
    let mut unmatched_duo: Vec<UnmatchedDuoUser> = duo
        .iter()
        .zip(&claimed)
        .filter(|(_, c)| !**c)
        .map(|(u, _)| UnmatchedDuoUser {
            user_id: u.user_id.clone(),
            username: u.username.clone(),
        })
        .collect();
    unmatched_duo.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    conflicts.sort_by_key(|c| serde_json::to_string(c).unwrap_or_default());
    ImportReport {
        matched,
        unmatched_duo,
        unmatched_portal,
        conflicts,
        duo_users: duo.len(),
    }
}

/// Walks every Duo user and matches them to `portal` (see the module docs). Dropping the future
/// cancels the walk.
pub async fn import(
    client: &AdminClient,
    portal: &[PortalUser],
    options: &ImportOptions,
    progress: impl FnMut(Progress),
) -> Result<ImportReport, Error> {
    let duo = all_users(client, options.max_restarts, progress).await?;
    Ok(match_users(&duo, portal, options))
}
