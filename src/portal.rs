//! A portal's user store in SQLite: what the examples sync roles into, log people in from, and
//! import Duo users into.
//!
//! It is deliberately the shape an integrator's own database would have, so the examples show
//! the one rule that matters when applying a [`Plan`]: record **who made each grant**
//! (`grants.source`), because the sync may only ever remove the grants it made itself.
//!
//! ```
//! use duo_okta_sdk::portal::PortalStore;
//! use role_sync::GrantSource;
//!
//! let store = PortalStore::open_in_memory()?;
//! store.add_user("Alice@example.com", Some("correct horse"), false)?;
//! store.grant("alice@example.com", "admin", GrantSource::Manual)?;
//! assert_eq!(store.roles("ALICE@example.com")?, ["admin"]);
//! assert!(store.verify_password("alice@example.com", "correct horse")?);
//! assert!(!store.verify_password("alice@example.com", "wrong")?);
//! # Ok::<(), duo_okta_sdk::portal::StoreError>(())
//! ```

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use role_sync::{GrantSource, Login, Plan, Portal, PortalUser};
use rusqlite::{Connection, OptionalExtension, params};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk (or SQLite's `max_page_count`) is full. The transaction was rolled back: the
    /// store holds what it held before the call.
    #[error("portal database is full: free disk space and run again (nothing was written): {0}")]
    DiskFull(#[source] rusqlite::Error),
    /// The database file, its directory or the filesystem is read-only, or the store was
    /// opened with [`PortalStore::open_read_only`]. Nothing was written.
    #[error(
        "portal database is read-only: make the file and its directory writable by this \
         process (nothing was written): {0}"
    )]
    ReadOnly(#[source] rusqlite::Error),
    /// The file is not a SQLite database, or its pages fail SQLite's integrity check. The
    /// store never writes to such a file: restore it from a backup.
    #[error("portal database is corrupt: restore it from a backup ({detail})")]
    Corrupt {
        /// What SQLite reported.
        detail: String,
    },
    /// Another connection held the write lock for longer than the store waits (30 s).
    #[error("portal database is busy: another process holds its write lock; retry later: {0}")]
    Busy(#[source] rusqlite::Error),
    /// SQLite refused the operation for another reason (I/O, a constraint).
    #[error("portal database: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// The named user does not exist.
    #[error("no portal user {0:?}")]
    NoSuchUser(String),
    /// A stored password hash could not be made or read.
    #[error("password hash: {0}")]
    PasswordHash(String),
    /// The plan was made from a different portal state than the one stored now: plan again.
    #[error("stale plan: it was made from portal state {planned}, the store is now at {current}")]
    StalePlan {
        /// The portal digest the plan was made against.
        planned: String,
        /// The digest of the portal as stored now.
        current: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    /// Sorts SQLite's result codes into the failures a caller acts on differently.
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Self::DiskFull(e),
            Some(ErrorCode::ReadOnly) => Self::ReadOnly(e),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Self::Corrupt {
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy(e),
            _ => Self::Sqlite(e),
        }
    }
}

/// What [`PortalStore::apply`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// Users created.
    pub created: usize,
    /// Grants inserted (new users' roles and added roles).
    pub granted: usize,
    /// Sync grants deleted (removed roles and revocations).
    pub removed: usize,
}

/// A Duo authenticator recorded for a user by an import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authenticator {
    /// `phone`, `token`, `webauthn`, …
    pub kind: String,
    /// What identifies it to the user (a masked number, a token serial, a key's label).
    pub label: String,
}

impl Authenticator {
    /// An authenticator of `kind` shown as `label`.
    pub fn new(kind: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            label: label.into(),
        }
    }
}

/// The portal's users, their grants and a few settings, in one SQLite database.
///
/// Logins are keyed case-insensitively (as [`role_sync::Login`] normalizes them); the spelling
/// first stored is kept for display. Every method is one statement or one transaction, so a
/// crash never leaves a half-applied plan.
pub struct PortalStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for PortalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS users (
    key           TEXT PRIMARY KEY,
    login         TEXT NOT NULL,
    password_hash TEXT,
    protected     INTEGER NOT NULL DEFAULT 0,
    duo_user_id   TEXT
);
CREATE TABLE IF NOT EXISTS grants (
    user_key TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    source   TEXT NOT NULL CHECK (source IN ('sync', 'manual')),
    PRIMARY KEY (user_key, role)
);
CREATE TABLE IF NOT EXISTS authenticators (
    user_key TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    label    TEXT NOT NULL,
    PRIMARY KEY (user_key, kind, label)
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    summary     TEXT NOT NULL
);
";

fn source_code(source: GrantSource) -> &'static str {
    match source {
        GrantSource::Sync => "sync",
        // Anything the sync did not make is manual: the sync never touches it.
        _ => "manual",
    }
}

impl PortalStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// An existing file is checked first with SQLite's `PRAGMA quick_check` (it reads every
    /// page once: milliseconds for a portal's database): a corrupt file is
    /// [`StoreError::Corrupt`] at open, before anything reads half of it or writes to it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        check_integrity(&conn)?;
        Self::init(conn)
    }

    /// Opens an existing database for reading only (a report, an audit): every write is
    /// [`StoreError::ReadOnly`] and the file is never modified.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        check_integrity(&conn)?;
        conn.busy_timeout(WRITER_WAIT)?;
        // The schema is not created here: a read-only store of an empty file says so on the
        // first query instead.
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// A private in-memory database, for tests and demos.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // Another process (a second sync, the portal) may hold the write lock: wait for it
        // rather than fail at once; `apply` then finds the store changed and refuses its plan.
        conn.busy_timeout(WRITER_WAIT)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (every write is one
        // statement or a transaction that rolls back on drop), so a poisoned lock is usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a user (or, when the login exists, updates its password and protected flag). A
    /// `None` password leaves the user unable to sign in with a password.
    pub fn add_user(
        &self,
        login: &str,
        password: Option<&str>,
        protected: bool,
    ) -> Result<(), StoreError> {
        let hash = password.map(hash_password).transpose()?;
        let login = Login::new(login);
        self.conn().execute(
            "INSERT INTO users (key, login, password_hash, protected) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(key) DO UPDATE SET
                 password_hash = COALESCE(excluded.password_hash, users.password_hash),
                 protected = excluded.protected",
            params![login.key(), login.as_str(), hash, protected],
        )?;
        Ok(())
    }

    /// Whether the user exists.
    pub fn has_user(&self, login: &str) -> Result<bool, StoreError> {
        user_exists(&self.conn(), Login::new(login).key())
    }

    /// Whether the user is a protected (break-glass) account; `false` for an unknown user.
    ///
    /// ```
    /// # use duo_okta_sdk::portal::PortalStore;
    /// let store = PortalStore::open_in_memory()?;
    /// store.add_user("root", Some("long random passphrase"), true)?;
    /// store.add_user("jane@example.com", None, false)?;
    /// assert!(store.is_protected("ROOT")?);
    /// assert!(!store.is_protected("jane@example.com")?);
    /// assert!(!store.is_protected("nobody")?);
    /// # Ok::<(), duo_okta_sdk::portal::StoreError>(())
    /// ```
    pub fn is_protected(&self, login: &str) -> Result<bool, StoreError> {
        let key = Login::new(login);
        Ok(self
            .conn()
            .query_row(
                "SELECT protected FROM users WHERE key = ?1",
                [key.key()],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// The login as first stored, for display.
    pub fn display_login(&self, login: &str) -> Result<Option<String>, StoreError> {
        let key = Login::new(login);
        Ok(self
            .conn()
            .query_row("SELECT login FROM users WHERE key = ?1", [key.key()], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Grants `role` to an existing user, recording who made the grant. Granting a held role
    /// again keeps the first grant's source: a manual grant never becomes revocable.
    pub fn grant(&self, login: &str, role: &str, source: GrantSource) -> Result<(), StoreError> {
        let key = Login::new(login);
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT INTO grants (user_key, role, source)
             SELECT key, ?2, ?3 FROM users WHERE key = ?1
             ON CONFLICT(user_key, role) DO NOTHING",
            params![key.key(), role, source_code(source)],
        )?;
        if inserted == 0 && !user_exists(&conn, key.key())? {
            return Err(StoreError::NoSuchUser(login.to_owned()));
        }
        Ok(())
    }

    /// The user's roles, sorted; empty for an unknown user.
    pub fn roles(&self, login: &str) -> Result<Vec<String>, StoreError> {
        let key = Login::new(login);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT role FROM grants WHERE user_key = ?1 ORDER BY role COLLATE BINARY",
        )?;
        let roles = stmt
            .query_map([key.key()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(roles)
    }

    /// Checks a password in constant time against the stored Argon2id hash. An unknown user or
    /// a user without a password is `false`, after hashing anyway so that timing does not tell
    /// which logins exist.
    pub fn verify_password(&self, login: &str, password: &str) -> Result<bool, StoreError> {
        let key = Login::new(login);
        let stored: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT password_hash FROM users WHERE key = ?1",
                [key.key()],
                |r| r.get(0),
            )
            .optional()?;
        match stored.flatten() {
            Some(hash) => {
                let parsed = PasswordHash::new(&hash)
                    .map_err(|e| StoreError::PasswordHash(e.to_string()))?;
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            }
            None => {
                hash_password(password)?;
                Ok(false)
            }
        }
    }

    /// A stored setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Stores a setting, replacing any previous value.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Links a portal user to its Duo user and replaces its recorded authenticators (an
    /// import's result), in one transaction.
    pub fn link_duo(
        &self,
        login: &str,
        duo_user_id: &str,
        authenticators: &[Authenticator],
    ) -> Result<(), StoreError> {
        self.link_duo_all([(login, duo_user_id, authenticators)])
            .map(|_| ())
    }

    /// Records a whole import's links — `(login, Duo user id, authenticators)` — in **one**
    /// transaction: an import that is killed or fails part-way (an unknown login, a full disk)
    /// leaves every user as it was before, never some linked and some not. Returns the number
    /// of users linked.
    pub fn link_duo_all<'a>(
        &self,
        links: impl IntoIterator<Item = (&'a str, &'a str, &'a [Authenticator])>,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut linked = 0;
        for (login, duo_user_id, authenticators) in links {
            let key = Login::new(login);
            let updated = tx.execute(
                "UPDATE users SET duo_user_id = ?2 WHERE key = ?1",
                params![key.key(), duo_user_id],
            )?;
            if updated == 0 {
                // Dropping `tx` rolls back the links already made in this call.
                return Err(StoreError::NoSuchUser(login.to_owned()));
            }
            tx.execute(
                "DELETE FROM authenticators WHERE user_key = ?1",
                [key.key()],
            )?;
            for a in authenticators {
                tx.execute(
                    "INSERT OR IGNORE INTO authenticators (user_key, kind, label) VALUES (?1, ?2, ?3)",
                    params![key.key(), a.kind, a.label],
                )?;
            }
            linked += 1;
        }
        tx.commit()?;
        Ok(linked)
    }

    /// The Duo user id an import linked to this user.
    pub fn duo_user_id(&self, login: &str) -> Result<Option<String>, StoreError> {
        let key = Login::new(login);
        Ok(self
            .conn()
            .query_row(
                "SELECT duo_user_id FROM users WHERE key = ?1",
                [key.key()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// The authenticators an import recorded for this user, sorted.
    pub fn authenticators(&self, login: &str) -> Result<Vec<Authenticator>, StoreError> {
        let key = Login::new(login);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, label FROM authenticators WHERE user_key = ?1 ORDER BY kind, label",
        )?;
        let rows = stmt
            .query_map([key.key()], |r| {
                Ok(Authenticator {
                    kind: r.get(0)?,
                    label: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The portal as `role-sync` models it: every user with every grant and its source.
    pub fn load(&self) -> Result<Portal, StoreError> {
        let conn = self.conn();
        load(&conn)
    }

    /// Applies a plan in one transaction, the way [`Portal::apply`] does in memory: creates get
    /// the planned roles as sync grants; added roles become sync grants unless already held;
    /// removed and revoked roles are deleted only where the grant is a sync grant.
    ///
    /// `planned_from` is the portal the plan was computed from (as [`PortalStore::load`]
    /// returned it). When the store no longer holds exactly that portal — someone changed a
    /// grant in between — nothing is written and [`StoreError::StalePlan`] says so.
    ///
    /// Two syncs at once on one store never both apply: the transaction takes SQLite's write
    /// lock before it reads (`BEGIN IMMEDIATE`), so the second waits for the first (up to
    /// 30 s), then finds the portal changed and refuses its plan as stale.
    pub fn apply(&self, plan: &Plan, planned_from: &Portal) -> Result<Applied, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = load(&tx)?;
        let (planned, now) = (portal_digest(planned_from), portal_digest(&current));
        if planned != now {
            return Err(StoreError::StalePlan {
                planned,
                current: now,
            });
        }
        let mut applied = Applied::default();
        for create in plan.creates() {
            let login = Login::new(create.login.as_str());
            applied.created += tx.execute(
                "INSERT INTO users (key, login) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
                params![login.key(), login.as_str()],
            )?;
            for role in &create.roles {
                applied.granted += insert_sync_grant(&tx, login.key(), &role.role)?;
            }
        }
        for change in plan.changes() {
            let login = Login::new(change.login.as_str());
            for role in &change.added {
                applied.granted += insert_sync_grant(&tx, login.key(), &role.role)?;
            }
            for role in &change.removed {
                applied.removed += delete_sync_grant(&tx, login.key(), role)?;
            }
        }
        for revocation in plan.revocations() {
            let login = Login::new(revocation.login.as_str());
            for role in &revocation.roles {
                applied.removed += delete_sync_grant(&tx, login.key(), role)?;
            }
        }
        let summary = plan.summary();
        tx.execute(
            "INSERT INTO sync_log (fingerprint, summary) VALUES (?1, ?2)",
            params![
                plan.fingerprint().to_string(),
                format!(
                    "{} created, {} changed, {} revoked, {} unchanged",
                    summary.creates, summary.changes, summary.revocations, summary.unchanged
                )
            ],
        )?;
        tx.commit()?;
        Ok(applied)
    }

    /// The last `n` applied plans, newest first: (fingerprint, summary).
    pub fn sync_log(&self, n: usize) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT fingerprint, summary FROM sync_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(n).unwrap_or(i64::MAX)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

/// `PRAGMA quick_check`: `ok`, or the first problems SQLite found.
fn check_integrity(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            detail: lines.join("; "),
        })
    }
}

fn user_exists(conn: &Connection, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT 1 FROM users WHERE key = ?1", [key], |_| Ok(()))
        .optional()?
        .is_some())
}

fn insert_sync_grant(conn: &Connection, key: &str, role: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "INSERT INTO grants (user_key, role, source) VALUES (?1, ?2, 'sync')
         ON CONFLICT(user_key, role) DO NOTHING",
        params![key, role],
    )?)
}

fn delete_sync_grant(conn: &Connection, key: &str, role: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM grants WHERE user_key = ?1 AND role = ?2 AND source = 'sync'",
        params![key, role],
    )?)
}

fn load(conn: &Connection) -> Result<Portal, StoreError> {
    let mut users = conn.prepare_cached("SELECT key, login, protected FROM users ORDER BY key")?;
    let mut grants =
        conn.prepare_cached("SELECT user_key, role, source FROM grants ORDER BY user_key, role")?;
    let mut by_key: std::collections::BTreeMap<String, PortalUser> = users
        .query_map([], |r| {
            let (key, login, protected): (String, String, bool) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let user = PortalUser::new(login);
            Ok((key, if protected { user.protect() } else { user }))
        })?
        .collect::<Result<_, _>>()?;
    let rows = grants.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (key, role, source) = row?;
        let source = if source == "sync" {
            GrantSource::Sync
        } else {
            GrantSource::Manual
        };
        if let Some(user) = by_key.remove(&key) {
            by_key.insert(key, user.grant(role, source));
        }
    }
    let mut portal = Portal::new();
    for user in by_key.into_values() {
        portal.add_user(user);
    }
    Ok(portal)
}

/// An order-independent text digest of a portal model, to detect a stale plan.
fn portal_digest(portal: &Portal) -> String {
    let mut lines: Vec<String> = portal
        .users()
        .iter()
        .map(|u| {
            let grants: Vec<String> = u
                .grants()
                .iter()
                .map(|g| format!("{}={}", g.role, source_code(g.source)))
                .collect();
            format!(
                "{}|{}|{}",
                u.login().key(),
                u.is_protected(),
                grants.join(",")
            )
        })
        .collect();
    lines.sort();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(lines.join("\n").as_bytes());
    base16ct::lower::encode_string(&digest)
}

fn hash_password(password: &str) -> Result<String, StoreError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::PasswordHash(e.to_string()))
}

/// How long a write waits for another connection's write lock before it fails.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;
    use role_sync::{Directory, DirectoryUser, Guard, Mapping, Policy, UserStatus};

    #[test]
    fn two_syncs_at_once_never_both_apply() {
        let dir = std::env::temp_dir().join(format!("portal-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.sqlite");
        let _ = std::fs::remove_file(&path);
        let first = PortalStore::open(&path).unwrap();
        first.add_user("a@x", None, false).unwrap();
        let mapping = Mapping::new().map("Staff", ["viewer"]);
        let members: Vec<(&str, String)> = (0..200).map(|i| ("Staff", format!("u{i}@x"))).collect();
        let members: Vec<(&str, &str)> = members.iter().map(|(g, l)| (*g, l.as_str())).collect();
        let policy = Policy::default().allow(Guard::Escalations);
        // Two processes' worth of stores on one file, both planning from the same state.
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let store = PortalStore::open(&path).unwrap();
                let before = store.load().unwrap();
                let plan =
                    role_sync::plan(&mapping, &directory(&members), &before, &policy).unwrap();
                (store, before, plan)
            })
            .collect();
        let barrier = std::sync::Barrier::new(2);
        let outcomes: Vec<Result<Applied, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .iter()
                .map(|(store, before, plan)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        store.apply(plan, before)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let applied = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(applied, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|o| matches!(o, Err(StoreError::StalePlan { .. }))),
            "{outcomes:?}"
        );
        assert_eq!(first.sync_log(5).unwrap().len(), 1);
        assert_eq!(first.load().unwrap().users().len(), 201);
        drop((first, runs));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn directory(members: &[(&str, &str)]) -> Directory {
        let mut d = Directory::new();
        d.add_group("Admins");
        d.add_group("Staff");
        for (group, login) in members {
            let id = format!("00u-{}", login.to_lowercase());
            d.add_member(*group, DirectoryUser::new(id, *login, UserStatus::Active));
        }
        d
    }

    #[test]
    fn apply_then_plan_is_empty_and_manual_grants_survive() {
        let store = PortalStore::open_in_memory().unwrap();
        store.add_user("root@x", Some("pw"), true).unwrap();
        store.grant("root@x", "admin", GrantSource::Manual).unwrap();
        store.add_user("old@x", None, false).unwrap();
        store.grant("old@x", "viewer", GrantSource::Sync).unwrap();
        store
            .grant("old@x", "auditor", GrantSource::Manual)
            .unwrap();

        let mapping = Mapping::new()
            .map("Admins", ["admin"])
            .map("Staff", ["viewer"]);
        let dir = directory(&[("Admins", "Ann@x"), ("Staff", "bo@x"), ("Staff", "ann@x")]);
        // One of one managed users loses access: 100 %, over the default threshold.
        let policy = Policy::default().allow(Guard::Revocations);
        let before = store.load().unwrap();
        let plan = role_sync::plan(&mapping, &dir, &before, &policy).unwrap();
        let applied = store.apply(&plan, &before).unwrap();
        assert_eq!(applied.created, 2);
        assert_eq!(applied.removed, 1, "old@x's sync grant of viewer");
        assert_eq!(store.roles("ann@x").unwrap(), ["admin", "viewer"]);
        assert_eq!(store.roles("old@x").unwrap(), ["auditor"]);
        assert_eq!(store.roles("root@x").unwrap(), ["admin"]);
        let planned = plan
            .creates()
            .iter()
            .find(|c| c.login.eq_ignore_ascii_case("ann@x"));
        assert_eq!(
            store.display_login("ANN@X").unwrap(),
            planned.map(|c| c.login.clone()),
            "the spelling the plan created is kept for display"
        );

        let after = store.load().unwrap();
        let again = role_sync::plan(&mapping, &dir, &after, &policy).unwrap();
        assert!(again.is_empty(), "{again}");
        assert_eq!(store.sync_log(5).unwrap().len(), 1);
    }

    #[test]
    fn a_stale_plan_writes_nothing() {
        let store = PortalStore::open_in_memory().unwrap();
        store.add_user("a@x", None, false).unwrap();
        let before = store.load().unwrap();
        let mapping = Mapping::new().map("Staff", ["viewer"]);
        let plan = role_sync::plan(
            &mapping,
            &directory(&[("Staff", "a@x")]),
            &before,
            &Policy::default(),
        )
        .unwrap();
        store.grant("a@x", "viewer", GrantSource::Manual).unwrap();
        let err = store.apply(&plan, &before).unwrap_err();
        assert!(matches!(err, StoreError::StalePlan { .. }), "{err}");
        assert!(store.sync_log(5).unwrap().is_empty());
    }

    #[test]
    fn grants_need_a_user_and_keep_their_first_source() {
        let store = PortalStore::open_in_memory().unwrap();
        assert!(matches!(
            store.grant("ghost@x", "r", GrantSource::Sync),
            Err(StoreError::NoSuchUser(_))
        ));
        store.add_user("a@x", None, false).unwrap();
        store.grant("a@x", "r", GrantSource::Manual).unwrap();
        store.grant("a@x", "r", GrantSource::Sync).unwrap();
        let portal = store.load().unwrap();
        assert_eq!(
            portal.user("a@x").unwrap().source_of("r"),
            Some(GrantSource::Manual)
        );
        assert!(!store.verify_password("a@x", "anything").unwrap());
        assert!(!store.verify_password("ghost@x", "anything").unwrap());
    }

    #[test]
    fn duo_links_replace_authenticators() {
        let store = PortalStore::open_in_memory().unwrap();
        store.add_user("a@x", None, false).unwrap();
        let phone = Authenticator {
            kind: "phone".into(),
            label: "XXX-XXX-1234".into(),
        };
        store
            .link_duo("a@x", "DU1", std::slice::from_ref(&phone))
            .unwrap();
        store
            .link_duo("a@x", "DU1", &[phone.clone(), phone.clone()])
            .unwrap();
        assert_eq!(store.duo_user_id("A@x").unwrap().as_deref(), Some("DU1"));
        assert_eq!(store.authenticators("a@x").unwrap(), [phone]);
        assert!(matches!(
            store.link_duo("b@x", "DU2", &[]),
            Err(StoreError::NoSuchUser(_))
        ));
    }

    /// A scratch directory of this test's own (tests run in parallel in one process).
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("portal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A store on disk with `n` synced users (`u{i}@x`, role viewer).
    fn populated(path: &Path, n: usize) -> PortalStore {
        let store = PortalStore::open(path).unwrap();
        let members: Vec<(&str, String)> = (0..n).map(|i| ("Staff", format!("u{i}@x"))).collect();
        let members: Vec<(&str, &str)> = members.iter().map(|(g, l)| (*g, l.as_str())).collect();
        let before = store.load().unwrap();
        let plan = role_sync::plan(
            &Mapping::new().map("Staff", ["viewer"]),
            &directory(&members),
            &before,
            &Policy::default().allow(Guard::Escalations),
        )
        .unwrap();
        store.apply(&plan, &before).unwrap();
        store
    }

    fn integrity(store: &PortalStore) -> String {
        store
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_full_disk_fails_the_apply_whole_and_the_next_run_converges() {
        let dir = scratch("full");
        let store = populated(&dir.join("store.sqlite"), 100);
        let before = store.load().unwrap();
        // SQLite's page limit gives the same SQLITE_FULL, through the same code path, as a
        // full filesystem does, without needing a small filesystem to fill.
        let pages: i64 = store
            .conn()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store
            .conn()
            .execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
            .unwrap();
        let mapping = Mapping::new().map("Staff", ["viewer", "editor"]);
        let members: Vec<String> = (0..5_000).map(|i| format!("u{i}@x")).collect();
        let members: Vec<(&str, &str)> = members.iter().map(|l| ("Staff", l.as_str())).collect();
        let policy = Policy::default().allow(Guard::Escalations);
        let plan = role_sync::plan(&mapping, &directory(&members), &before, &policy).unwrap();

        let err = store.apply(&plan, &before).unwrap_err();
        assert!(matches!(err, StoreError::DiskFull(_)), "{err:?}");
        assert!(err.to_string().contains("free disk space"), "{err}");
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert_eq!(
            portal_digest(&store.load().unwrap()),
            portal_digest(&before)
        );
        assert_eq!(store.sync_log(10).unwrap().len(), 1);
        assert_eq!(integrity(&store), "ok");

        // Space again: the same plan, against the unchanged store, applies whole.
        store
            .conn()
            .execute_batch("PRAGMA max_page_count = 1073741823")
            .unwrap();
        let applied = store.apply(&plan, &before).unwrap();
        assert_eq!((applied.created, applied.granted), (4_900, 4_900 + 5_000));
        let after = store.load().unwrap();
        assert!(
            role_sync::plan(&mapping, &directory(&members), &after, &policy)
                .unwrap()
                .is_empty()
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_read_only_store_refuses_every_write_and_changes_no_byte() {
        let dir = scratch("read-only");
        let path = dir.join("store.sqlite");
        drop(populated(&path, 50));
        let bytes = std::fs::read(&path).unwrap();

        let store = PortalStore::open_read_only(&path).unwrap();
        assert_eq!(store.load().unwrap().users().len(), 50);
        assert_eq!(store.roles("u7@x").unwrap(), ["viewer"]);
        let refused = [
            store.add_user("new@x", Some("pw"), false).unwrap_err(),
            store
                .grant("u1@x", "admin", GrantSource::Manual)
                .unwrap_err(),
            store.set_setting("duo.host", "x").unwrap_err(),
            store.link_duo("u1@x", "DU1", &[]).unwrap_err(),
        ];
        for err in &refused {
            assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
            assert!(err.to_string().contains("writable"), "{err}");
        }
        let before = store.load().unwrap();
        let plan = role_sync::plan(
            &Mapping::new().map("Staff", ["viewer"]),
            &directory(&[("Staff", "u1@x")]),
            &before,
            &Policy::default().allow(Guard::Revocations),
        )
        .unwrap();
        assert!(!plan.is_empty());
        assert!(matches!(
            store.apply(&plan, &before),
            Err(StoreError::ReadOnly(_))
        ));
        drop(store);
        assert!(std::fs::read(&path).unwrap() == bytes, "the file changed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_files_are_refused_at_open_and_left_as_they_were() {
        let dir = scratch("corrupt");
        // Not a database at all.
        let junk = dir.join("junk.sqlite");
        std::fs::write(&junk, "this is not a database\n".repeat(400)).unwrap();
        // A real store with one page in the middle overwritten.
        let damaged = dir.join("damaged.sqlite");
        drop(populated(&damaged, 2_000));
        let mut bytes = std::fs::read(&damaged).unwrap();
        let page = 4096;
        assert!(bytes.len() > 8 * page, "{} bytes", bytes.len());
        bytes[5 * page..6 * page].fill(0xA5);
        std::fs::write(&damaged, &bytes).unwrap();
        // A real store cut in half (a copy that stopped early).
        let truncated = dir.join("truncated.sqlite");
        drop(populated(&truncated, 2_000));
        let whole = std::fs::read(&truncated).unwrap();
        std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();

        for path in [&junk, &damaged, &truncated] {
            let before = std::fs::read(path).unwrap();
            for opened in [PortalStore::open(path), PortalStore::open_read_only(path)] {
                let err = opened.unwrap_err();
                assert!(
                    matches!(err, StoreError::Corrupt { .. }),
                    "{}: {err:?}",
                    path.display()
                );
                assert!(
                    err.to_string().contains("restore it from a backup"),
                    "{err}"
                );
            }
            assert!(
                std::fs::read(path).unwrap() == before,
                "{} changed",
                path.display()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_import_links_all_its_users_or_none() {
        let store = PortalStore::open_in_memory().unwrap();
        for login in ["a@x", "b@x", "c@x"] {
            store.add_user(login, None, false).unwrap();
        }
        let phone = [Authenticator::new("phone", "XXX-XXX-0001")];
        store.link_duo("a@x", "DU0", &phone).unwrap();
        let batch: Vec<(&str, &str, &[Authenticator])> = vec![
            ("a@x", "DUa", &[]),
            ("b@x", "DUb", &phone),
            ("nobody@x", "DUn", &[]),
        ];
        let err = store.link_duo_all(batch.iter().copied()).unwrap_err();
        assert!(
            matches!(err, StoreError::NoSuchUser(ref l) if l == "nobody@x"),
            "{err:?}"
        );
        // The first two links of the failed batch were rolled back with it.
        assert_eq!(store.duo_user_id("a@x").unwrap().as_deref(), Some("DU0"));
        assert_eq!(store.authenticators("a@x").unwrap(), phone);
        assert_eq!(store.duo_user_id("b@x").unwrap(), None);

        assert_eq!(store.link_duo_all(batch[..2].iter().copied()).unwrap(), 2);
        assert_eq!(store.duo_user_id("a@x").unwrap().as_deref(), Some("DUa"));
        assert!(store.authenticators("a@x").unwrap().is_empty());
        assert_eq!(store.authenticators("b@x").unwrap(), phone);
    }

    #[test]
    fn settings_and_files_persist() {
        let dir = std::env::temp_dir().join(format!("portal-store-{}", std::process::id()));
        let path = dir.with_extension("sqlite");
        {
            let store = PortalStore::open(&path).unwrap();
            store.set_setting("duo.host", "api-1.example").unwrap();
            store.set_setting("duo.host", "api-2.example").unwrap();
        }
        let store = PortalStore::open(&path).unwrap();
        assert_eq!(
            store.setting("duo.host").unwrap().as_deref(),
            Some("api-2.example")
        );
        assert_eq!(store.setting("nope").unwrap(), None);
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
