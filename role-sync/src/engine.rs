//! The reconciliation engine: `plan()` and the fingerprint walk it shares.
//!
//! Shape of the computation, for `D` directory users, `P` portal users and `M` memberships in
//! mapped groups:
//!
//! 1. intern managed roles and mapped groups (sorted, so indices follow name order);
//! 2. invert group → members into a per-user list of mapped groups (counting sort, O(D + M));
//! 3. order directory and portal users by `(fnv1a64(key), full record)` — O(n log n) on
//!    fixed-size pairs, the hash keeping string comparisons for ties only;
//! 4. walk both orders together, one login key at a time: hash the records into the fingerprint
//!    and decide the key's action (create, change, revocation, conflict or nothing);
//! 5. sort the (usually short) action lists by key and evaluate the guards.
//!
//! Nothing is allocated per user on the unchanged path: the per-key work reuses scratch buffers.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

use crate::plan::PlanParts;
use crate::{
    Access, Change, Conflict, ConflictMode, Create, Directory, DirectoryRef, DirectoryUser,
    Fingerprint, GrantSource, Mapping, Plan, Policy, Portal, PortalUser, Refusal, Revocation,
    RevocationReason, RoleGrant, Unmatched, UserStatus, Violation, Warning,
};

/// Plans the sync of `portal` to what `mapping` makes of `directory`, under `policy`.
///
/// For every login key (see [`Login`](crate::Login)):
///
/// - a directory user whose status grants access ([`Access::Grant`]) and who is in at least one
///   mapped group is *entitled* to the union of the roles its mapped groups grant;
/// - no portal user: it is **created** with those roles, each with the groups that justify it;
/// - a portal user: managed roles it is entitled to and does not hold (from any source) are
///   **added**; sync grants of managed roles it is not entitled to are **removed**
///   ([`Change`]). With [`Access::Keep`] (transient statuses) nothing is added and held roles
///   its groups still grant are kept;
/// - a portal user entitled to nothing (absent from the directory, a status that revokes, or in
///   no mapped group) loses every sync grant of a managed role: a **revocation**, with the
///   [`RevocationReason`]. **By default this includes administrators in no mapped group**; see
///   [`Unmatched`];
/// - manual grants and unmanaged roles are never touched, protected accounts are never revoked
///   or downgraded, and users with a duplicate login key are left alone ([`Conflict`]).
///
/// Then the guards run; any that trips and is not allowed by the policy makes this return a
/// [`Refusal`] with the numbers and the refused plan.
///
/// The result depends only on the inputs' content, not on the order users, groups, members or
/// grants were added. Time is O(n log n) in the number of users, memory O(n).
///
/// # Errors
///
/// [`Refusal`] when a guard trips: see [`Violation`] for each guard's rule.
///
/// ```
/// use role_sync::{plan, Directory, DirectoryUser, GrantSource, Mapping, Policy, Portal, PortalUser, UserStatus};
///
/// let mapping = Mapping::new().map("okta-admins", ["admin"]).map("okta-staff", ["viewer"]);
/// let mut directory = Directory::new();
/// directory.add_member("okta-admins", DirectoryUser::new("00u1", "Alice@example.com", UserStatus::Active));
/// directory.add_member("okta-staff", DirectoryUser::new("00u1", "Alice@example.com", UserStatus::Active));
/// directory.add_member("okta-staff", DirectoryUser::new("00u2", "bob@example.com", UserStatus::Active));
/// let mut portal = Portal::new();
/// portal.add_user(PortalUser::new("alice@example.com").grant("viewer", GrantSource::Sync));
/// for i in 0..9 {
///     portal.add_user(PortalUser::new(format!("carol{i}@example.com")).grant("viewer", GrantSource::Manual));
/// }
/// let policy = Policy::default();
///
/// let plan = plan(&mapping, &directory, &portal, &policy)?;
/// assert_eq!(plan.creates()[0].login, "bob@example.com");
/// assert_eq!(plan.changes()[0].added[0].role, "admin");
/// assert_eq!(plan.summary().unchanged, 9); // manual grants are not the sync's business
///
/// portal.apply(&plan);
/// assert!(role_sync::plan(&mapping, &directory, &portal, &policy)?.is_empty());
/// # Ok::<(), role_sync::Refusal>(())
/// ```
pub fn plan(
    mapping: &Mapping,
    directory: &Directory,
    portal: &Portal,
    policy: &Policy,
) -> Result<Plan, Refusal> {
    let tables = Tables::new(mapping, directory, portal, policy);
    let mut encoder = Encoder::new();
    encoder.header(&tables, mapping, policy);
    let mut planner = Planner::new(&tables, directory, portal, policy);
    tables.walk(directory, portal, |dir_run, portal_run| {
        encoder.records(&tables, directory, portal, dir_run, portal_run);
        planner.visit(dir_run, portal_run);
    });
    let fingerprint = encoder.finish(directory, portal);
    planner.finish(fingerprint)
}

impl Fingerprint {
    /// The fingerprint [`plan`] would give these inputs, without planning. An applier re-reads
    /// the inputs, computes this and refuses a plan whose [`Plan::fingerprint`] differs.
    pub fn of(mapping: &Mapping, directory: &Directory, portal: &Portal, policy: &Policy) -> Self {
        let tables = Tables::new(mapping, directory, portal, policy);
        let mut encoder = Encoder::new();
        encoder.header(&tables, mapping, policy);
        tables.walk(directory, portal, |dir_run, portal_run| {
            encoder.records(&tables, directory, portal, dir_run, portal_run);
        });
        encoder.finish(directory, portal)
    }
}

/// FxHash: a fast, non-cryptographic hasher for the small role table (keys come from the
/// mapping, not from an adversary).
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.write(&[byte]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// FNV-1a 64 of a login key: the primary sort key of the canonical order. Part of the
/// fingerprint's definition; do not change without bumping the fingerprint version.
fn order_hash(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in key.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Everything derived from the inputs before the walk.
struct Tables<'a> {
    /// Managed roles, sorted.
    roles: Vec<&'a str>,
    role_index: FxMap<&'a str, u32>,
    /// Mapped groups, sorted; with their roles (sorted indices) and listing state.
    groups: Vec<&'a str>,
    group_roles: Vec<Vec<u32>>,
    listed: Vec<bool>,
    /// Per mapped group, listed members whose status is not [`Access::Revoke`].
    counted: Vec<usize>,
    /// Per directory user.
    access: Vec<Access>,
    /// Per directory user, its mapped groups: `member_groups[start[u]..start[u + 1]]`, sorted,
    /// possibly with repeats.
    start: Vec<u32>,
    member_groups: Vec<u32>,
    /// Canonical orders: `(order_hash(key), index)`.
    dir_order: Vec<(u64, u32)>,
    portal_order: Vec<(u64, u32)>,
}

fn cmp_directory(a: &DirectoryUser, b: &DirectoryUser) -> Ordering {
    a.login
        .key()
        .cmp(b.login.key())
        .then_with(|| a.login.as_str().cmp(b.login.as_str()))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.status.cmp(&b.status))
}

fn cmp_portal(a: &PortalUser, b: &PortalUser) -> Ordering {
    a.login()
        .key()
        .cmp(b.login().key())
        .then_with(|| a.login().as_str().cmp(b.login().as_str()))
        .then_with(|| a.is_protected().cmp(&b.is_protected()))
        .then_with(|| a.grants().cmp(b.grants()))
}

impl<'a> Tables<'a> {
    fn new(mapping: &'a Mapping, directory: &Directory, portal: &Portal, policy: &Policy) -> Self {
        let roles: Vec<&str> = mapping.managed_set().iter().map(String::as_str).collect();
        let role_index: FxMap<&str, u32> = roles
            .iter()
            .enumerate()
            .map(|(i, &role)| (role, index(i)))
            .collect();
        let groups: Vec<&str> = mapping.group_map().keys().map(String::as_str).collect();
        let group_roles: Vec<Vec<u32>> = mapping
            .group_map()
            .values()
            .map(|set| {
                set.iter()
                    .filter_map(|role| role_index.get(role.as_str()).copied())
                    .collect()
            })
            .collect();

        let mut known = [Access::Revoke; 8];
        for (slot, status) in known.iter_mut().zip(UserStatus::KNOWN.iter()) {
            *slot = policy.access_of(status);
        }
        let users = directory.users();
        let access: Vec<Access> = users
            .iter()
            .map(|user| match user.status.known_index() {
                Some(i) => known[i],
                None => policy.access_of(&user.status),
            })
            .collect();

        let mut listed = vec![false; groups.len()];
        let mut counted = vec![0usize; groups.len()];
        let mut start = vec![0u32; users.len() + 1];
        let members: Vec<Option<&[u32]>> = groups
            .iter()
            .map(|group| directory.member_indices(group))
            .collect();
        for (g, list) in members.iter().enumerate() {
            if let Some(list) = list {
                listed[g] = true;
                for &m in *list {
                    start[m as usize + 1] += 1;
                    if access[m as usize] != Access::Revoke {
                        counted[g] += 1;
                    }
                }
            }
        }
        for u in 0..users.len() {
            start[u + 1] += start[u];
        }
        let mut fill: Vec<u32> = start[..users.len()].to_vec();
        let mut member_groups = vec![0u32; start[users.len()] as usize];
        for (g, list) in members.iter().enumerate() {
            for &m in list.unwrap_or(&[]) {
                let slot = &mut fill[m as usize];
                member_groups[*slot as usize] = index(g);
                *slot += 1;
            }
        }
        drop(fill);

        let mut dir_order: Vec<(u64, u32)> = users
            .iter()
            .enumerate()
            .map(|(i, user)| (order_hash(user.login.key()), index(i)))
            .collect();
        dir_order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| cmp_directory(&users[a.1 as usize], &users[b.1 as usize]))
        });
        let portal_users = portal.users();
        let mut portal_order: Vec<(u64, u32)> = portal_users
            .iter()
            .enumerate()
            .map(|(i, user)| (order_hash(user.login().key()), index(i)))
            .collect();
        portal_order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| cmp_portal(&portal_users[a.1 as usize], &portal_users[b.1 as usize]))
        });

        Self {
            roles,
            role_index,
            groups,
            group_roles,
            listed,
            counted,
            access,
            start,
            member_groups,
            dir_order,
            portal_order,
        }
    }

    /// The mapped groups of directory user `u`, sorted, possibly with repeats.
    fn groups_of(&self, u: u32) -> &[u32] {
        let u = u as usize;
        &self.member_groups[self.start[u] as usize..self.start[u + 1] as usize]
    }

    /// Calls `visit` once per login key, in canonical order, with the directory users and the
    /// portal users that have that key (either may be empty, not both).
    fn walk(
        &self,
        directory: &Directory,
        portal: &Portal,
        mut visit: impl FnMut(&[(u64, u32)], &[(u64, u32)]),
    ) {
        let dir_key = |&(_, i): &(u64, u32)| directory.users()[i as usize].login.key();
        let portal_key = |&(_, i): &(u64, u32)| portal.users()[i as usize].login().key();
        let (dir, port) = (&self.dir_order, &self.portal_order);
        let (mut i, mut j) = (0, 0);
        loop {
            let (hash, key) = match (dir.get(i), port.get(j)) {
                (None, None) => break,
                (Some(d), None) => (d.0, dir_key(d)),
                (None, Some(p)) => (p.0, portal_key(p)),
                (Some(d), Some(p)) => {
                    let (dk, pk) = (dir_key(d), portal_key(p));
                    if (d.0, dk) <= (p.0, pk) {
                        (d.0, dk)
                    } else {
                        (p.0, pk)
                    }
                }
            };
            let mut i_end = i;
            while i_end < dir.len() && dir[i_end].0 == hash && dir_key(&dir[i_end]) == key {
                i_end += 1;
            }
            let mut j_end = j;
            while j_end < port.len() && port[j_end].0 == hash && portal_key(&port[j_end]) == key {
                j_end += 1;
            }
            visit(&dir[i..i_end], &port[j..j_end]);
            (i, j) = (i_end, j_end);
        }
    }
}

/// Streams the canonical encoding into SHA-256 through a buffer.
struct Encoder {
    buf: Vec<u8>,
    hasher: Sha256,
    scratch: Vec<u32>,
}

const FLUSH_AT: usize = 1 << 16;

impl Encoder {
    fn new() -> Self {
        let mut encoder = Self {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            hasher: Sha256::new(),
            scratch: Vec::new(),
        };
        encoder.buf.extend_from_slice(b"role-sync fingerprint v1\0");
        encoder
    }

    fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    fn len(&mut self, value: usize) {
        self.u64(value as u64);
    }

    fn str(&mut self, value: &str) {
        self.len(value.len());
        self.buf.extend_from_slice(value.as_bytes());
    }

    fn maybe_flush(&mut self) {
        if self.buf.len() >= FLUSH_AT {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    fn header(&mut self, tables: &Tables<'_>, mapping: &Mapping, policy: &Policy) {
        self.len(tables.groups.len());
        for (g, group) in tables.groups.iter().enumerate() {
            self.str(group);
            self.u8(u8::from(tables.listed[g]));
            let roles: Vec<&str> = mapping.roles(group).collect();
            self.len(roles.len());
            for role in roles {
                self.str(role);
            }
        }
        self.len(tables.roles.len());
        for role in &tables.roles {
            self.str(role);
        }
        let access = policy.access_table();
        self.len(access.len());
        for (status, access) in access {
            self.str(status.as_str());
            self.u8(access.code());
        }
        self.u8(policy.unmatched_mode().code());
        let (users, percent) = policy.revocation_limits();
        self.len(users);
        self.u64(u64::from(percent));
        self.len(policy.escalation_limit());
        self.len(policy.holder_minimums().len());
        for (role, holders) in policy.holder_minimums() {
            self.str(role);
            self.len(*holders);
        }
        self.u8(policy.conflict_mode().code());
        self.len(policy.allowed().len());
        for guard in policy.allowed() {
            self.u8(guard.code());
        }
        self.maybe_flush();
    }

    fn records(
        &mut self,
        tables: &Tables<'_>,
        directory: &Directory,
        portal: &Portal,
        dir_run: &[(u64, u32)],
        portal_run: &[(u64, u32)],
    ) {
        for &(_, u) in dir_run {
            let user = &directory.users()[u as usize];
            self.u8(1);
            self.str(user.login.as_str());
            self.str(&user.id);
            self.str(user.status.as_str());
            let mut groups = std::mem::take(&mut self.scratch);
            groups.clear();
            groups.extend_from_slice(tables.groups_of(u));
            groups.dedup();
            self.len(groups.len());
            for &g in &groups {
                self.buf.extend_from_slice(&g.to_le_bytes());
            }
            self.scratch = groups;
        }
        for &(_, p) in portal_run {
            let user = &portal.users()[p as usize];
            self.u8(2);
            self.str(user.login().as_str());
            self.u8(u8::from(user.is_protected()));
            self.len(user.grants().len());
            for grant in user.grants() {
                self.str(&grant.role);
                self.u8(grant.source.code());
            }
        }
        self.maybe_flush();
    }

    fn finish(mut self, directory: &Directory, portal: &Portal) -> Fingerprint {
        self.u8(0);
        self.len(directory.users().len());
        self.len(portal.users().len());
        self.hasher.update(&self.buf);
        Fingerprint::from_bytes(self.hasher.finalize().into())
    }
}

/// Elements of sorted `a` not in sorted `b`, appended to `out`.
fn difference(a: &[u32], b: &[u32], out: &mut Vec<u32>) {
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
}

/// Elements of sorted `a` also in sorted `b`, appended to `out`.
fn intersection(a: &[u32], b: &[u32], out: &mut Vec<u32>) {
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            out.push(x);
        }
    }
}

/// Decides each key's action and accumulates the plan.
struct Planner<'t, 'a> {
    tables: &'t Tables<'a>,
    directory: &'t Directory,
    portal: &'t Portal,
    policy: &'t Policy,
    // Scratch, reused for every key.
    user_groups: Vec<u32>,
    entitled: Vec<u32>,
    held: Vec<u32>,
    held_sync: Vec<u32>,
    target: Vec<u32>,
    added: Vec<u32>,
    removed: Vec<u32>,
    // Results, tagged with the key they are sorted by at the end.
    creates: Vec<(&'t str, Create)>,
    changes: Vec<(&'t str, Change)>,
    revocations: Vec<(&'t str, Revocation)>,
    protected_kept: Vec<(&'t str, Warning)>,
    unmatched_kept: Vec<(&'t str, Warning)>,
    conflicts: Vec<Conflict>,
    conflicted_users: usize,
    unchanged: usize,
    managed: usize,
    /// Per managed role, portal users holding it (any source) before the plan.
    holders: Vec<usize>,
}

impl<'t, 'a> Planner<'t, 'a> {
    fn new(
        tables: &'t Tables<'a>,
        directory: &'t Directory,
        portal: &'t Portal,
        policy: &'t Policy,
    ) -> Self {
        Self {
            tables,
            directory,
            portal,
            policy,
            user_groups: Vec::new(),
            entitled: Vec::new(),
            held: Vec::new(),
            held_sync: Vec::new(),
            target: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            creates: Vec::new(),
            changes: Vec::new(),
            revocations: Vec::new(),
            protected_kept: Vec::new(),
            unmatched_kept: Vec::new(),
            conflicts: Vec::new(),
            conflicted_users: 0,
            unchanged: 0,
            managed: 0,
            holders: vec![0; tables.roles.len()],
        }
    }

    fn role_names(&self, roles: &[u32]) -> Vec<String> {
        roles
            .iter()
            .map(|&r| self.tables.roles[r as usize].to_owned())
            .collect()
    }

    /// The roles in `roles`, each with the user's groups (in `user_groups`) that grant it.
    fn justified(&self, roles: &[u32]) -> Vec<RoleGrant> {
        roles
            .iter()
            .map(|&r| RoleGrant {
                role: self.tables.roles[r as usize].to_owned(),
                groups: self
                    .user_groups
                    .iter()
                    .filter(|&&g| {
                        self.tables.group_roles[g as usize]
                            .binary_search(&r)
                            .is_ok()
                    })
                    .map(|&g| self.tables.groups[g as usize].to_owned())
                    .collect(),
            })
            .collect()
    }

    /// Fills `held` (any source) and `held_sync` with the user's managed roles, counts holders,
    /// and reports whether the user is managed.
    fn read_portal_user(&mut self, user: &PortalUser) -> bool {
        self.held.clear();
        self.held_sync.clear();
        for grant in user.grants() {
            if let Some(&r) = self.tables.role_index.get(grant.role.as_str()) {
                self.held.push(r);
                self.holders[r as usize] += 1;
                if grant.source == GrantSource::Sync {
                    self.held_sync.push(r);
                }
            }
        }
        // Grants are sorted by role name and role indices follow name order.
        debug_assert!(self.held.is_sorted());
        let managed = !self.held_sync.is_empty();
        self.managed += usize::from(managed);
        managed
    }

    fn visit(&mut self, dir_run: &[(u64, u32)], portal_run: &[(u64, u32)]) {
        let portal = self.portal;
        let directory = self.directory;
        if dir_run.len() > 1 || portal_run.len() > 1 {
            self.conflict(dir_run, portal_run);
            return;
        }
        let dir_user = dir_run.first().map(|&(_, u)| u);
        let portal_user = portal_run
            .first()
            .map(|&(_, p)| &portal.users()[p as usize]);

        // Entitlement from the directory.
        self.user_groups.clear();
        self.entitled.clear();
        let mut access = Access::Revoke;
        if let Some(u) = dir_user {
            access = self.tables.access[u as usize];
            self.user_groups.extend_from_slice(self.tables.groups_of(u));
            self.user_groups.dedup();
            for &g in &self.user_groups {
                self.entitled
                    .extend_from_slice(&self.tables.group_roles[g as usize]);
            }
            if self.user_groups.len() > 1 {
                self.entitled.sort_unstable();
                self.entitled.dedup();
            }
        }

        let Some(user) = portal_user else {
            if let Some(u) = dir_user
                && access == Access::Grant
                && !self.entitled.is_empty()
            {
                let login = &directory.users()[u as usize].login;
                let create = Create {
                    login: login.as_str().to_owned(),
                    roles: self.justified(&self.entitled),
                };
                self.creates.push((login.key(), create));
            }
            return;
        };

        self.read_portal_user(user);
        self.target.clear();
        let reason = match dir_user {
            None => Some(RevocationReason::NotInDirectory),
            Some(u) => {
                let status = || directory.users()[u as usize].status.clone();
                match access {
                    Access::Revoke => Some(RevocationReason::Inactive { status: status() }),
                    _ if self.entitled.is_empty() => Some(RevocationReason::NoMappedGroup),
                    Access::Keep => {
                        intersection(&self.entitled, &self.held, &mut self.target);
                        if self.target.is_empty() {
                            Some(RevocationReason::Inactive { status: status() })
                        } else {
                            None
                        }
                    }
                    Access::Grant => {
                        self.target.extend_from_slice(&self.entitled);
                        None
                    }
                }
            }
        };
        self.added.clear();
        self.removed.clear();
        difference(&self.target, &self.held, &mut self.added);
        difference(&self.held_sync, &self.target, &mut self.removed);

        let key = user.login().key();
        let login = user.login().as_str();
        if self.added.is_empty() && self.removed.is_empty() {
            self.unchanged += 1;
            return;
        }
        if let Some(reason) = reason {
            let roles = self.role_names(&self.removed);
            let unmatched = matches!(
                reason,
                RevocationReason::NotInDirectory | RevocationReason::NoMappedGroup
            );
            if unmatched && self.policy.unmatched_mode() == Unmatched::Keep {
                let warning = Warning::UnmatchedKept {
                    login: login.to_owned(),
                    roles,
                    reason,
                };
                self.unmatched_kept.push((key, warning));
                self.unchanged += 1;
            } else if user.is_protected() {
                let warning = Warning::ProtectedKept {
                    login: login.to_owned(),
                    roles,
                    reason: Some(reason),
                };
                self.protected_kept.push((key, warning));
                self.unchanged += 1;
            } else {
                let revocation = Revocation {
                    login: login.to_owned(),
                    roles,
                    reason,
                };
                self.revocations.push((key, revocation));
            }
            return;
        }
        let mut removed = self.role_names(&self.removed);
        if user.is_protected() && !removed.is_empty() {
            let roles = std::mem::take(&mut removed);
            let warning = Warning::ProtectedKept {
                login: login.to_owned(),
                roles,
                reason: None,
            };
            self.protected_kept.push((key, warning));
        }
        if self.added.is_empty() && removed.is_empty() {
            self.unchanged += 1;
            return;
        }
        let change = Change {
            login: login.to_owned(),
            added: self.justified(&self.added),
            removed,
        };
        self.changes.push((key, change));
    }

    fn conflict(&mut self, dir_run: &[(u64, u32)], portal_run: &[(u64, u32)]) {
        let (directory, portal) = (self.directory, self.portal);
        for &(_, p) in portal_run {
            self.read_portal_user(&portal.users()[p as usize]);
        }
        let key = match (dir_run.first(), portal_run.first()) {
            (Some(&(_, u)), _) => directory.users()[u as usize].login.key(),
            (None, Some(&(_, p))) => portal.users()[p as usize].login().key(),
            (None, None) => return,
        };
        let mut dir_refs: Vec<DirectoryRef> = dir_run
            .iter()
            .map(|&(_, u)| {
                let user = &directory.users()[u as usize];
                DirectoryRef {
                    id: user.id.clone(),
                    login: user.login.as_str().to_owned(),
                }
            })
            .collect();
        dir_refs.sort();
        let mut portal_logins: Vec<String> = portal_run
            .iter()
            .map(|&(_, p)| portal.users()[p as usize].login().as_str().to_owned())
            .collect();
        portal_logins.sort();
        self.conflicted_users += dir_run.len() + portal_run.len();
        self.conflicts.push(Conflict {
            login: key.to_owned(),
            directory: dir_refs,
            portal: portal_logins,
        });
    }

    /// Portal users holding a sync grant of a role some group in `groups` maps, per group.
    fn sync_holders(&self, groups: &[usize]) -> Vec<usize> {
        let mut holders = vec![0usize; groups.len()];
        for user in self.portal.users() {
            for (slot, &g) in holders.iter_mut().zip(groups) {
                let roles = &self.tables.group_roles[g];
                let holds = user.grants().iter().any(|grant| {
                    grant.source == GrantSource::Sync
                        && self
                            .tables
                            .role_index
                            .get(grant.role.as_str())
                            .is_some_and(|r| roles.binary_search(r).is_ok())
                });
                *slot += usize::from(holds);
            }
        }
        holders
    }

    fn finish(mut self, fingerprint: Fingerprint) -> Result<Plan, Refusal> {
        let policy = self.policy;
        let tables = self.tables;
        self.creates.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.changes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.revocations.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.protected_kept.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.unmatched_kept.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.conflicts
            .sort_unstable_by(|a, b| a.login.cmp(&b.login));

        let mut found = Vec::new();
        let mut warnings = Vec::new();

        // 1. Empty source.
        let empty: Vec<usize> = (0..tables.groups.len())
            .filter(|&g| !tables.listed[g] || tables.counted[g] == 0)
            .collect();
        if !empty.is_empty() {
            let holders = self.sync_holders(&empty);
            for (&g, holders) in empty.iter().zip(holders) {
                let group = tables.groups[g].to_owned();
                let missing = !tables.listed[g];
                if holders == 0 {
                    warnings.push(Warning::EmptyGroup { group, missing });
                } else {
                    found.push(Violation::EmptySource {
                        group,
                        missing,
                        holders,
                    });
                }
            }
        }
        warnings.extend(self.protected_kept.into_iter().map(|(_, w)| w));
        warnings.extend(self.unmatched_kept.into_iter().map(|(_, w)| w));

        // 2. Conflicts.
        if policy.conflict_mode() == ConflictMode::BlockAll && !self.conflicts.is_empty() {
            found.push(Violation::Conflicts {
                conflicts: self.conflicts.len(),
                users: self.conflicted_users,
            });
        }

        // 3. Revocations, against managed users.
        let (max_users, max_percent) = policy.revocation_limits();
        let revoked = self.revocations.len();
        let over_percent = (revoked as u128) * 100 > u128::from(max_percent) * self.managed as u128;
        if revoked > max_users || over_percent {
            found.push(Violation::Revocations {
                revoked,
                managed: self.managed,
                max_users,
                max_percent,
            });
        }

        // 4. Escalations: creates plus promotions.
        let promotions = self
            .changes
            .iter()
            .filter(|(_, c)| !c.added.is_empty())
            .count();
        let max = policy.escalation_limit();
        if self.creates.len() + promotions > max {
            found.push(Violation::Escalations {
                creates: self.creates.len(),
                promotions,
                max,
            });
        }

        // 5. Minimum holders (only managed roles can change).
        for (role, &required) in policy.holder_minimums() {
            let Some(&r) = tables.role_index.get(role.as_str()) else {
                continue;
            };
            let before = self.holders[r as usize];
            let is = |name: &String| name == role;
            let gained = self
                .creates
                .iter()
                .filter(|(_, c)| c.roles.iter().any(|g| is(&g.role)))
                .count()
                + self
                    .changes
                    .iter()
                    .filter(|(_, c)| c.added.iter().any(|g| is(&g.role)))
                    .count();
            let lost = self
                .changes
                .iter()
                .filter(|(_, c)| c.removed.iter().any(is))
                .count()
                + self
                    .revocations
                    .iter()
                    .filter(|(_, v)| v.roles.iter().any(is))
                    .count();
            let after = (before + gained).saturating_sub(lost);
            if after < required && after < before {
                found.push(Violation::MinimumHolders {
                    role: role.clone(),
                    required,
                    before,
                    after,
                });
            }
        }

        let mut violations = Vec::new();
        for violation in found {
            if policy.allows(violation.guard()) {
                warnings.push(Warning::Overridden { violation });
            } else {
                violations.push(violation);
            }
        }
        let parts = PlanParts {
            creates: self.creates.into_iter().map(|(_, c)| c).collect(),
            changes: self.changes.into_iter().map(|(_, c)| c).collect(),
            revocations: self.revocations.into_iter().map(|(_, r)| r).collect(),
            conflicts: self.conflicts,
            warnings,
            unchanged: self.unchanged,
        };
        let plan = Plan::new(fingerprint, parts);
        if violations.is_empty() {
            Ok(plan)
        } else {
            Err(Refusal::new(violations, plan))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut out = Vec::new();
        difference(&[1, 3, 5, 7], &[3, 4, 7], &mut out);
        assert_eq!(out, [1, 5]);
        out.clear();
        intersection(&[1, 3, 5, 7], &[3, 4, 7, 9], &mut out);
        assert_eq!(out, [3, 7]);
    }

    #[test]
    fn order_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(order_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(order_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(order_hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
