//! Brute-force protection for the password step: per account and per source address, with an
//! exponential lockout, and a bound on how many Argon2 checks run at once.
//!
//! The rules are pure (plain data in, a decision out, the time passed in), so they are tested
//! without a clock or a server:
//! - **per account** (the login as typed, case-folded — also for logins that do not exist, so
//!   a lockout tells nothing about which accounts exist): the [`ACCOUNT_LOCK_FAILURES`]th
//!   failure in a row locks the account for 30 s, each further failure doubles that, up to 15
//!   minutes; a success resets it;
//! - **per source address**: more than [`SOURCE_MAX_FAILURES`] failures within
//!   [`SOURCE_WINDOW`] lock the address out for the rest of the window, whatever logins it
//!   tries (password spraying);
//! - while locked, the password is **not checked at all** (no Argon2 cost, and a right
//!   password is refused too), and the answer carries `Retry-After`.
//!
//! Each lockout is logged once, as a `WARN` event of the `portal::audit` target, for an
//! operator's alerting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The failure in a row that locks an account.
pub(crate) const ACCOUNT_LOCK_FAILURES: u32 = 5;
/// The first lockout; each further failure doubles it.
pub(crate) const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
/// The longest lockout.
pub(crate) const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures one source address may have within [`SOURCE_WINDOW`].
pub(crate) const SOURCE_MAX_FAILURES: u32 = 30;
/// The window of the per-source count.
pub(crate) const SOURCE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Entries kept at most per table; the oldest are dropped beyond (an attacker cycling through
/// made-up logins must not grow the portal's memory without bound).
const MAX_ENTRIES: usize = 100_000;

/// Why a password check is refused before it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Locked {
    /// When to try again.
    pub(crate) retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    failures: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    failures: u32,
    window_start: Instant,
}

/// The counters, shared by the handlers.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Account>,
    sources: HashMap<IpAddr, Source>,
}

/// What a recorded failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Failures in a row for the account now.
    pub(crate) account_failures: u32,
    /// The account is now locked for this long (`None`: not locked).
    pub(crate) account_locked_for: Option<Duration>,
    /// The source address was locked out by this failure.
    pub(crate) source_locked: bool,
}

fn account_key(login: &str) -> String {
    login.trim().to_lowercase()
}

/// The lockout after `failures` failures in a row.
pub(crate) fn lockout(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(ACCOUNT_LOCK_FAILURES)?;
    let factor = 2u32.checked_pow(over).unwrap_or(u32::MAX);
    Some(
        FIRST_LOCKOUT
            .checked_mul(factor)
            .unwrap_or(MAX_LOCKOUT)
            .min(MAX_LOCKOUT),
    )
}

impl Throttle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a password be checked for `login` from `source` at `now`?
    pub(crate) fn check(&self, login: &str, source: IpAddr, now: Instant) -> Result<(), Locked> {
        let state = self.state();
        let mut wait = Duration::ZERO;
        if let Some(until) = state
            .accounts
            .get(&account_key(login))
            .and_then(|a| a.locked_until)
        {
            wait = wait.max(until.saturating_duration_since(now));
        }
        if let Some(s) = state.sources.get(&source) {
            let window_end = s.window_start + SOURCE_WINDOW;
            if s.failures >= SOURCE_MAX_FAILURES && now < window_end {
                wait = wait.max(window_end - now);
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            // Whole seconds, rounded up: what `Retry-After` says.
            Err(Locked {
                retry_after: Duration::from_secs(
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                ),
            })
        }
    }

    /// A wrong password (or an unknown login) for `login` from `source` at `now`.
    pub(crate) fn failure(&self, login: &str, source: IpAddr, now: Instant) -> Failure {
        let mut state = self.state();
        let key = account_key(login);
        let account = state.accounts.entry(key).or_insert(Account {
            failures: 0,
            locked_until: None,
            last: now,
        });
        account.failures = account.failures.saturating_add(1);
        account.last = now;
        let locked_for = lockout(account.failures);
        account.locked_until = locked_for.map(|d| now + d);
        let account_failures = account.failures;

        let source_entry = state.sources.entry(source).or_insert(Source {
            failures: 0,
            window_start: now,
        });
        if now.saturating_duration_since(source_entry.window_start) >= SOURCE_WINDOW {
            *source_entry = Source {
                failures: 0,
                window_start: now,
            };
        }
        source_entry.failures = source_entry.failures.saturating_add(1);
        let source_locked = source_entry.failures == SOURCE_MAX_FAILURES;
        prune(&mut state, now);
        Failure {
            account_failures,
            account_locked_for: locked_for,
            source_locked,
        }
    }

    /// A right password: the account's count starts again (the source's does not: a sprayer
    /// who guesses one password keeps its count).
    pub(crate) fn success(&self, login: &str) {
        self.state().accounts.remove(&account_key(login));
    }
}

/// Drops the entries that can no longer lock anything, then the oldest, down to nine tenths of
/// the bound (so that the sorting is paid once per many failures, not on each).
fn prune(state: &mut State, now: Instant) {
    if state.accounts.len() <= MAX_ENTRIES && state.sources.len() <= MAX_ENTRIES {
        return;
    }
    state.accounts.retain(|_, a| {
        a.locked_until.is_some_and(|u| u > now)
            || now.saturating_duration_since(a.last) < MAX_LOCKOUT
    });
    state
        .sources
        .retain(|_, s| now.saturating_duration_since(s.window_start) < SOURCE_WINDOW);
    let keep = MAX_ENTRIES / 10 * 9;
    drop_oldest(&mut state.accounts, keep, |a| a.last);
    drop_oldest(&mut state.sources, keep, |s| s.window_start);
}

fn drop_oldest<K: Clone + Eq + std::hash::Hash, V>(
    table: &mut HashMap<K, V>,
    keep: usize,
    age: impl Fn(&V) -> Instant,
) {
    if table.len() <= keep {
        return;
    }
    let mut by_age: Vec<(Instant, K)> = table.iter().map(|(k, v)| (age(v), k.clone())).collect();
    by_age.sort_by_key(|(at, _)| *at);
    let excess = table.len() - keep;
    for (_, key) in by_age.into_iter().take(excess) {
        table.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));

    #[test]
    fn an_account_locks_after_five_failures_and_doubles() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 1..ACCOUNT_LOCK_FAILURES {
            assert_eq!(t.check("alice", ME, start), Ok(()));
            let f = t.failure("alice", ME, start);
            assert_eq!(f.account_failures, i);
            assert_eq!(f.account_locked_for, None);
        }
        // The fifth failure locks for 30 s, the sixth for 60 s, … up to 15 minutes.
        let f = t.failure("Alice ", ME, start);
        assert_eq!(f.account_locked_for, Some(FIRST_LOCKOUT));
        assert_eq!(
            t.check("ALICE", ME, start),
            Err(Locked {
                retry_after: FIRST_LOCKOUT
            })
        );
        assert_eq!(
            t.check("bob", ME, start),
            Ok(()),
            "another account is not locked"
        );
        assert_eq!(t.check("alice", ME, start + FIRST_LOCKOUT), Ok(()));
        assert_eq!(lockout(4), None);
        assert_eq!(lockout(6), Some(Duration::from_secs(60)));
        assert_eq!(lockout(100), Some(MAX_LOCKOUT));
        assert_eq!(lockout(u32::MAX), Some(MAX_LOCKOUT));
        // A success starts the count again.
        t.success("alice");
        assert_eq!(t.check("alice", ME, start), Ok(()));
        assert_eq!(t.failure("alice", ME, start).account_failures, 1);
    }

    #[test]
    fn a_source_spraying_many_logins_is_locked_out() {
        let t = Throttle::default();
        let start = Instant::now();
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        for i in 0..SOURCE_MAX_FAILURES {
            assert_eq!(t.check(&format!("user{i}"), ME, start), Ok(()));
            let f = t.failure(&format!("user{i}"), ME, start);
            assert_eq!(f.source_locked, i + 1 == SOURCE_MAX_FAILURES);
        }
        let locked = t.check("someone.new", ME, start + Duration::from_secs(1));
        assert_eq!(
            locked,
            Err(Locked {
                retry_after: SOURCE_WINDOW - Duration::from_secs(1)
            })
        );
        assert_eq!(t.check("someone.new", other, start), Ok(()));
        assert_eq!(t.check("someone.new", ME, start + SOURCE_WINDOW), Ok(()));
    }

    #[test]
    fn made_up_logins_cannot_grow_memory_without_bound() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..(MAX_ENTRIES + 50) {
            let source = IpAddr::V6(std::net::Ipv6Addr::from(i as u128));
            t.failure(&format!("nobody{i}"), source, start);
        }
        let state = t.state();
        assert!(
            state.accounts.len() <= MAX_ENTRIES,
            "{}",
            state.accounts.len()
        );
        assert!(
            state.sources.len() <= MAX_ENTRIES,
            "{}",
            state.sources.len()
        );
    }
}
