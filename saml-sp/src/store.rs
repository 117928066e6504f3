//! The two pieces of state an SP keeps between requests: logins waiting for their Response,
//! and assertions already accepted.
//!
//! Both are plain data owned by the caller, bounded, and driven by the `now` passed in.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use crate::error::SamlError;
use crate::request::LoginRedirect;

/// A login this SP started, as it was when the Response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingLogin {
    /// The AuthnRequest's ID.
    pub request_id: String,
    /// The RelayState the login was started with.
    pub relay_state: Option<String>,
    /// When the SP stops waiting for it.
    pub expires_at: SystemTime,
}

/// Where [`ServiceProvider::accept`](crate::ServiceProvider::accept) looks up the request a
/// Response answers.
///
/// [`PendingLogins`] is the in-memory one. A portal running on several servers must share
/// this state and the [`ReplayStore`]'s, or a Response posted to another server than the one
/// that started the login is refused ([`SamlError::UnknownInResponseTo`]) and a replay to
/// another server goes unseen. It implements both traits over its shared database, with one
/// atomic operation each:
///
/// * `take`: delete-and-return the request (SQL `DELETE … RETURNING`, Redis `GETDEL`), so
///   that two servers cannot both accept a Response to one request (a store that deletes
///   cannot tell a reused request from an unknown one; both are refused);
/// * `remember`: insert-if-absent with an expiry (SQL `INSERT … ON CONFLICT DO NOTHING` and a
///   look at the row count, Redis `SET key 1 NX PXAT keep_until`), refusing if present.
///
/// The traits are synchronous, like the rest of this crate: from async code, call
/// [`ServiceProvider::accept`](crate::ServiceProvider::accept) where blocking is allowed
/// (e.g. `spawn_blocking`) when the store does IO.
pub trait PendingStore {
    /// Takes the login `request_id` out of the store: a request is answered once.
    ///
    /// Errors: [`SamlError::UnknownInResponseTo`] if there is no such request,
    /// [`SamlError::InResponseToReused`] if it was taken before (when the store can tell),
    /// [`SamlError::RequestExpired`] if it expired before `now`.
    fn take(&mut self, request_id: &str, now: SystemTime) -> Result<PendingLogin, SamlError>;
}

/// Where [`ServiceProvider::accept`](crate::ServiceProvider::accept) records accepted assertion
/// IDs.
pub trait ReplayStore {
    /// Records `assertion_id` until `keep_until`, or refuses it with [`SamlError::Replayed`] if
    /// it is already recorded. An implementation that cannot keep it must refuse (e.g.
    /// [`SamlError::ReplayCacheFull`]), never accept without recording.
    fn remember(
        &mut self,
        assertion_id: &str,
        keep_until: SystemTime,
        now: SystemTime,
    ) -> Result<(), SamlError>;
}

#[derive(Debug, Clone)]
struct Pending {
    relay_state: Option<String>,
    expires_at: SystemTime,
    answered: bool,
}

/// AuthnRequest IDs waiting for their Response, in memory.
///
/// Each login is kept until its expiry ([`LoginRedirect::expires_at`]); a taken one stays,
/// marked answered, until then, so that a second Response to it is named as a replay
/// ([`SamlError::InResponseToReused`]) rather than as unknown. At most `capacity` logins are
/// kept; when full, new logins are refused ([`SamlError::PendingFull`]) until some expire.
///
/// ```
/// # use std::time::{Duration, SystemTime};
/// # use saml_sp::{PendingLogins, PendingStore, SamlError};
/// # let (sp, now) = saml_sp::doc_support::service_provider();
/// let mut pending = PendingLogins::new(10_000);
/// let login = sp.login_request(saml_sp::RequestId::from_random([7; 16]), now, None)?;
/// pending.insert(&login, now)?;
/// let id = login.request_id.as_str();
/// assert!(pending.take(id, now).is_ok());
/// assert!(matches!(pending.take(id, now), Err(SamlError::InResponseToReused { .. })));
/// # Ok::<(), SamlError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PendingLogins {
    capacity: usize,
    entries: HashMap<String, Pending>,
    by_expiry: BTreeSet<(SystemTime, String)>,
}

impl PendingLogins {
    /// An empty set holding at most `capacity` logins (started and not yet expired).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Remembers a login just started. Forgets the expired ones first.
    pub fn insert(&mut self, login: &LoginRedirect, now: SystemTime) -> Result<(), SamlError> {
        self.purge(now);
        let id = login.request_id.as_str();
        if self.entries.contains_key(id) {
            // The same ID twice means the randomness is not random: a Response to one login
            // would complete the other. Refuse rather than guess which one is meant.
            return Err(SamlError::Config {
                detail: format!(
                    "the request ID {id} is already pending: draw RequestId::from_random's bytes \
                     from a CSPRNG"
                ),
            });
        }
        if self.entries.len() >= self.capacity {
            return Err(SamlError::PendingFull {
                capacity: self.capacity,
            });
        }
        self.entries.insert(
            id.to_string(),
            Pending {
                relay_state: login.relay_state.clone(),
                expires_at: login.expires_at,
                answered: false,
            },
        );
        self.by_expiry.insert((login.expires_at, id.to_string()));
        Ok(())
    }

    /// How many logins are kept (waiting or answered, not yet expired as of the last call).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn purge(&mut self, now: SystemTime) {
        while let Some((at, id)) = self.by_expiry.first().cloned() {
            if at > now {
                break;
            }
            self.by_expiry.remove(&(at, id.clone()));
            self.entries.remove(&id);
        }
    }
}

impl PendingStore for PendingLogins {
    fn take(&mut self, request_id: &str, now: SystemTime) -> Result<PendingLogin, SamlError> {
        let Some(entry) = self.entries.get_mut(request_id) else {
            return Err(SamlError::UnknownInResponseTo {
                id: crate::error::found(request_id),
            });
        };
        if entry.expires_at <= now {
            let expired_at = entry.expires_at;
            self.purge(now);
            return Err(SamlError::RequestExpired {
                id: request_id.to_string(),
                expired_at,
            });
        }
        if entry.answered {
            return Err(SamlError::InResponseToReused {
                id: request_id.to_string(),
            });
        }
        entry.answered = true;
        Ok(PendingLogin {
            request_id: request_id.to_string(),
            relay_state: entry.relay_state.clone(),
            expires_at: entry.expires_at,
        })
    }
}

/// Assertion IDs already accepted, in memory, each kept until the assertion could no longer
/// be accepted anyway (its earliest `NotOnOrAfter` plus the clock skew).
///
/// When `capacity` unexpired IDs are kept, a new assertion is refused
/// ([`SamlError::ReplayCacheFull`]) rather than an old ID dropped: dropping an ID before its
/// assertion expires would let that assertion be replayed, and whoever can cause many logins
/// could flush the cache on purpose. Size it for the logins of one assertion lifetime (Okta:
/// 5 minutes, plus the skew).
#[derive(Debug, Clone)]
pub struct ReplayCache {
    capacity: usize,
    entries: HashMap<String, SystemTime>,
    by_expiry: BTreeSet<(SystemTime, String)>,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` unexpired assertion IDs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// How many IDs are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn purge(&mut self, now: SystemTime) {
        while let Some((at, id)) = self.by_expiry.first().cloned() {
            if at > now {
                break;
            }
            self.by_expiry.remove(&(at, id.clone()));
            self.entries.remove(&id);
        }
    }
}

impl ReplayStore for ReplayCache {
    fn remember(
        &mut self,
        assertion_id: &str,
        keep_until: SystemTime,
        now: SystemTime,
    ) -> Result<(), SamlError> {
        self.purge(now);
        if self.entries.contains_key(assertion_id) {
            return Err(SamlError::Replayed {
                assertion_id: crate::error::found(assertion_id),
            });
        }
        if self.entries.len() >= self.capacity {
            return Err(SamlError::ReplayCacheFull {
                capacity: self.capacity,
            });
        }
        self.entries.insert(assertion_id.to_string(), keep_until);
        self.by_expiry
            .insert((keep_until, assertion_id.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn replay_cache_refuses_when_full_and_frees_expired_ids() {
        let mut c = ReplayCache::new(2);
        c.remember("a", t(100), t(0)).unwrap();
        c.remember("b", t(200), t(0)).unwrap();
        assert_eq!(
            c.remember("a", t(100), t(1)),
            Err(SamlError::Replayed {
                assertion_id: "a".into()
            })
        );
        assert_eq!(
            c.remember("c", t(300), t(1)),
            Err(SamlError::ReplayCacheFull { capacity: 2 })
        );
        // At t(100) "a" has expired: its slot is free and "a" itself is accepted again, which
        // is safe because the assertion it named can no longer pass the time checks.
        c.remember("c", t(300), t(100)).unwrap();
        assert_eq!(c.len(), 2);
    }

    fn login(id: u8, relay: Option<&str>, expires: SystemTime) -> LoginRedirect {
        LoginRedirect {
            url: String::new(),
            request_id: crate::RequestId::from_random([id; 16]),
            relay_state: relay.map(str::to_string),
            expires_at: expires,
        }
    }

    #[test]
    fn pending_logins_are_taken_once_and_expire() {
        let mut p = PendingLogins::new(2);
        let a = login(1, Some("/home"), t(600));
        let b = login(2, None, t(600));
        p.insert(&a, t(0)).unwrap();
        p.insert(&b, t(0)).unwrap();
        assert_eq!(
            p.insert(&login(3, None, t(600)), t(1)),
            Err(SamlError::PendingFull { capacity: 2 })
        );
        let got = p.take(a.request_id.as_str(), t(10)).unwrap();
        assert_eq!(got.relay_state.as_deref(), Some("/home"));
        assert!(matches!(
            p.take(a.request_id.as_str(), t(11)),
            Err(SamlError::InResponseToReused { .. })
        ));
        assert!(matches!(
            p.take(b.request_id.as_str(), t(600)),
            Err(SamlError::RequestExpired { .. })
        ));
        assert!(matches!(
            p.take("_nope", t(11)),
            Err(SamlError::UnknownInResponseTo { .. })
        ));
        p.insert(&login(3, None, t(1200)), t(601)).unwrap();
        assert_eq!(p.len(), 1);
        assert!(matches!(
            p.insert(&login(3, None, t(1200)), t(602)),
            Err(SamlError::Config { .. })
        ));
    }
}
