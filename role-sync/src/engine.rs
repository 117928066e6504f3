//! The reconciliation engine: `plan()` and the fingerprint walk it shares.
//!
//! Shape of the computation, for `D` directory users, `P` portal users and `M` memberships in
//! mapped groups:
//!
//! 1. intern managed roles and mapped groups (sorted, so indices follow name order);
//! 2. invert group → members into a per-user list of mapped groups (counting sort, O(D + M));
//! 3. read every directory and portal user once, in input order: hash its folded login
//!    (FNV-1a 64) and append its canonical encoding, key and group or role indices to the arena
//!    of its range of the hash space (top hash bits; about 8k records per range);
//! 4. per range: sort the records into the canonical order `(hash, key, encoding)` (radix on the
//!    next hash bits, then a comparison sort of tiny buckets), merge directory and portal
//!    records by key, feed the encodings to the fingerprint and decide each key's action
//!    (create, change, revocation, conflict or nothing) — O(n log n) overall;
//! 5. sort the (usually short) action lists by key and evaluate the guards.
//!
//! The canonical order is random with respect to memory, so it is only ever followed inside a
//! cache-sized range arena; the inputs are read front to back. Nothing is allocated per user on
//! the unchanged path. Extra memory is about the size of the encodings (≈ 70 bytes per user)
//! plus 32 bytes per user.

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
    plan_with(&tables, mapping, directory, portal, policy)
}

/// [`plan`] over prepared tables.
fn plan_with(
    tables: &Tables<'_>,
    mapping: &Mapping,
    directory: &Directory,
    portal: &Portal,
    policy: &Policy,
) -> Result<Plan, Refusal> {
    let mut encoder = Encoder::new();
    encoder.header(tables, mapping, policy);
    let mut planner = Planner::new(tables, directory, portal, policy);
    tables.walk(directory, portal, |arena, dir_run, portal_run| {
        encoder.records(arena, dir_run, portal_run);
        planner.visit(arena, dir_run, portal_run);
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
        tables.walk(directory, portal, |arena, dir_run, portal_run| {
            encoder.records(arena, dir_run, portal_run);
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

/// Records (directory plus portal) per range of the hash space, so that sorting and merging a
/// range stays within the CPU's private caches; see [`Tables::walk`].
const RANGE_RECORDS: usize = 1 << 13;

/// Everything derived from the inputs before the walk, computed in input order.
struct Tables<'a> {
    /// Managed roles, sorted.
    roles: Vec<&'a str>,
    role_index: FxMap<&'a str, u32>,
    /// Mapped groups, sorted; with their roles (sorted indices) and listing state.
    groups: Vec<&'a str>,
    group_roles: Vec<Vec<u32>>,
    /// `group_roles` as role sets: group `g` is `group_masks[g * role_words..][..role_words]`.
    group_masks: Vec<u64>,
    role_words: usize,
    listed: Vec<bool>,
    /// Per mapped group, listed members whose status is not [`Access::Revoke`].
    counted: Vec<usize>,
    /// Per directory user.
    access: Vec<Access>,
    /// Per directory user, its mapped groups: `member_groups[start[u]..start[u + 1]]`, sorted,
    /// possibly with repeats.
    start: Vec<u32>,
    member_groups: Vec<u32>,
    /// The walk splits the hash space into `1 << range_bits` ranges by the hash's top bits.
    range_bits: u32,
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

        let role_words = roles.len().div_ceil(64).max(1);
        let mut group_masks = vec![0u64; groups.len() * role_words];
        for (g, roles) in group_roles.iter().enumerate() {
            for &r in roles {
                set_bit(&mut group_masks[g * role_words..(g + 1) * role_words], r);
            }
        }

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

        let ranges = (users.len() + portal.users().len()).div_ceil(RANGE_RECORDS);
        let range_bits = ranges.max(1).next_power_of_two().trailing_zeros().min(16);

        Self {
            roles,
            role_index,
            groups,
            group_roles,
            group_masks,
            role_words,
            listed,
            counted,
            access,
            start,
            member_groups,
            range_bits,
        }
    }

    fn group_mask(&self, g: u32) -> &[u64] {
        let at = g as usize * self.role_words;
        &self.group_masks[at..at + self.role_words]
    }

    /// The mapped groups of directory user `u`, sorted, possibly with repeats.
    fn groups_of(&self, u: usize) -> &[u32] {
        &self.member_groups[self.start[u] as usize..self.start[u + 1] as usize]
    }

    fn range_of(&self, hash: u64) -> usize {
        if self.range_bits == 0 {
            0
        } else {
            (hash >> (64 - self.range_bits)) as usize
        }
    }

    /// Calls `visit` once per login key, in canonical order — `(order_hash(key), key, encoded
    /// record)` — with the directory and portal records that have that key (either side may
    /// be empty, not both).
    ///
    /// The canonical order is random with respect to memory, so the walk never follows it
    /// through the inputs. It reads the input records front to back, copying what the plan and
    /// the fingerprint need (key, canonical encoding, group or role indices) into the arena of
    /// their range of the hash space (top hash bits); then it sorts and merges one cache-sized
    /// range at a time.
    fn walk(
        &self,
        directory: &Directory,
        portal: &Portal,
        mut visit: impl FnMut(&Arena, &[Rec], &[Rec]),
    ) {
        let mut arenas = Arena::fill(self, directory, portal);
        let mut scratch = Vec::new();
        for arena in &mut arenas {
            arena.sort(self.range_bits, &mut scratch);
            let arena = &*arena;
            let (dir, port) = (&arena.dir[..], &arena.portal[..]);
            {
                // Records with the same key as `recs[from]`, from `from` on (ties are rare: the
                // hash decides almost every comparison).
                let run_end = |recs: &[Rec], from: usize| {
                    let first = &recs[from];
                    let mut end = from + 1;
                    while end < recs.len()
                        && recs[end].hash == first.hash
                        && same_bytes(arena.key(&recs[end]), arena.key(first))
                    {
                        end += 1;
                    }
                    end
                };
                let (mut i, mut j) = (0, 0);
                loop {
                    let side = match (dir.get(i), port.get(j)) {
                        (None, None) => break,
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (Some(d), Some(p)) => d.hash.cmp(&p.hash).then_with(|| {
                            let (dk, pk) = (arena.key(d), arena.key(p));
                            if same_bytes(dk, pk) {
                                Ordering::Equal
                            } else {
                                dk.cmp(pk)
                            }
                        }),
                    };
                    let i_end = if side.is_gt() { i } else { run_end(dir, i) };
                    let j_end = if side.is_lt() { j } else { run_end(port, j) };
                    visit(arena, &dir[i..i_end], &port[j..j_end]);
                    (i, j) = (i_end, j_end);
                }
            }
        }
    }
}

/// One user's record in an [`Arena`]. At `off` lies its canonical encoding (`encoded` bytes),
/// then its folded key if that differs from the login as spelt (otherwise the key is the login
/// inside the encoding), then, for a portal user, `words` little-endian `u32`s: its managed
/// roles as `role << 1 | is_sync`, by role, and for a directory user its [`Access`] code. A
/// directory user's `words` are its mapped groups, which end its encoding.
#[derive(Clone, Copy, Default)]
struct Rec {
    hash: u64,
    off: usize,
    /// Index of the user in its input (directory or portal).
    idx: u32,
    encoded: u32,
    /// The key's length, with [`KEY_STORED`] set when it is stored after the encoding.
    key: u32,
    words: u32,
}

const KEY_STORED: u32 = 1 << 31;

impl Rec {
    fn key_stored(&self) -> bool {
        self.key & KEY_STORED != 0
    }

    fn key_len(&self) -> usize {
        (self.key & !KEY_STORED) as usize
    }

    /// Where the key starts.
    fn key_at(&self) -> usize {
        if self.key_stored() {
            self.off + self.encoded as usize
        } else {
            self.off + LOGIN_AT
        }
    }

    /// Where what follows the encoding and the stored key starts: a directory user's access
    /// code, a portal user's role words.
    fn extra_at(&self) -> usize {
        self.off + self.encoded as usize + if self.key_stored() { self.key_len() } else { 0 }
    }

    /// Where the words start.
    fn words_at(&self, dir: bool) -> usize {
        if dir {
            // A directory user's words are its mapped groups, the tail of its encoding.
            self.off + self.encoded as usize - 4 * self.words as usize
        } else {
            self.extra_at()
        }
    }
}

/// Where the login sits inside an encoding: after the one-byte tag and its `u32` length.
const LOGIN_AT: usize = 5;

/// The records of one range of the hash space: their bytes and their [`Rec`]s (input order
/// until [`Arena::sort`]).
#[derive(Default)]
struct Arena {
    bytes: Vec<u8>,
    dir: Vec<Rec>,
    portal: Vec<Rec>,
}

fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    put_u32(out, len32(value.len()));
    out.extend_from_slice(value.as_bytes());
}

/// Bytes a directory record takes in an arena (encoding plus stored key).
fn dir_size(tables: &Tables<'_>, user: &DirectoryUser, u: usize) -> usize {
    let groups = tables.groups_of(u).len();
    let key = if user.login.is_folded() {
        user.login.key().len()
    } else {
        0
    };
    1 + 4 + user.login.as_str().len() + 4 + user.id.len() + 4 + 16 + 4 + 4 * groups + key + 1
}

/// Bytes a portal record takes in an arena (encoding, stored key and role words).
fn portal_size(user: &PortalUser) -> usize {
    let grants: usize = user.grants().iter().map(|g| 4 + g.role.len() + 1 + 4).sum();
    let key = if user.login().is_folded() {
        user.login().key().len()
    } else {
        0
    };
    1 + 4 + user.login().as_str().len() + 1 + 4 + grants + key
}

/// Average of `size` over up to 1024 evenly spread items (for reserving arena capacity).
fn sampled_average(count: usize, size: impl Fn(usize) -> usize) -> usize {
    if count == 0 {
        return 0;
    }
    let step = count.div_ceil(1024);
    let sampled: Vec<usize> = (0..count).step_by(step).map(size).collect();
    sampled.iter().sum::<usize>().div_ceil(sampled.len())
}

impl Arena {
    /// One arena per range, filled reading every input record once, in input order.
    fn fill(tables: &Tables<'_>, directory: &Directory, portal: &Portal) -> Vec<Arena> {
        let ranges = 1usize << tables.range_bits;
        let (users, portal_users) = (directory.users(), portal.users());
        // Reserve about what each range needs (the hash spreads users evenly), so that buffers
        // rarely grow.
        let dir_average = sampled_average(users.len(), |u| dir_size(tables, &users[u], u));
        let portal_average = sampled_average(portal_users.len(), |p| portal_size(&portal_users[p]));
        let reserve = |count: usize| {
            let per_range = count.div_ceil(ranges);
            per_range + per_range / 8 + 16
        };
        let (dirs, ports) = (reserve(users.len()), reserve(portal_users.len()));
        let bytes = dirs * dir_average + ports * portal_average;
        let mut arenas: Vec<Arena> = (0..ranges)
            .map(|_| Arena {
                bytes: Vec::with_capacity(bytes),
                dir: Vec::with_capacity(dirs),
                portal: Vec::with_capacity(ports),
            })
            .collect();

        for (u, user) in users.iter().enumerate() {
            let hash = order_hash(user.login.key());
            let arena = &mut arenas[tables.range_of(hash)];
            let out = &mut arena.bytes;
            let off = out.len();
            // Canonical encoding: tag 1, login as spelt, id, status, mapped groups.
            out.push(1);
            put_str(out, user.login.as_str());
            put_str(out, &user.id);
            put_str(out, user.status.as_str());
            let groups = tables.groups_of(u);
            let count_at = out.len();
            put_u32(out, 0);
            let mut count: u32 = 0;
            for (i, &g) in groups.iter().enumerate() {
                if i == 0 || groups[i - 1] != g {
                    put_u32(out, g);
                    count += 1;
                }
            }
            out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
            let encoded = out.len() - off;
            let mut key = len32(user.login.key().len());
            if user.login.is_folded() {
                out.extend_from_slice(user.login.key().as_bytes());
                key |= KEY_STORED;
            }
            out.push(tables.access[u].code());
            arena.dir.push(Rec {
                hash,
                off,
                idx: index(u),
                encoded: len32(encoded),
                key,
                words: count,
            });
        }

        for (p, user) in portal_users.iter().enumerate() {
            let hash = order_hash(user.login().key());
            let arena = &mut arenas[tables.range_of(hash)];
            let out = &mut arena.bytes;
            let off = out.len();
            // Canonical encoding: tag 2, login as spelt, protected, every grant and its source.
            out.push(2);
            put_str(out, user.login().as_str());
            out.push(u8::from(user.is_protected()));
            put_u32(out, len32(user.grants().len()));
            for grant in user.grants() {
                put_str(out, &grant.role);
                out.push(grant.source.code());
            }
            let encoded = out.len() - off;
            let mut key = len32(user.login().key().len());
            if user.login().is_folded() {
                out.extend_from_slice(user.login().key().as_bytes());
                key |= KEY_STORED;
            }
            let mut words = 0;
            for grant in user.grants() {
                if let Some(&r) = tables.role_index.get(grant.role.as_str()) {
                    put_u32(out, r << 1 | u32::from(grant.source == GrantSource::Sync));
                    words += 1;
                }
            }
            arena.portal.push(Rec {
                hash,
                off,
                idx: index(p),
                encoded: len32(encoded),
                key,
                words,
            });
        }
        arenas
    }

    fn encoded(&self, rec: &Rec) -> &[u8] {
        &self.bytes[rec.off..rec.off + rec.encoded as usize]
    }

    fn key(&self, rec: &Rec) -> &[u8] {
        &self.bytes[rec.key_at()..rec.key_at() + rec.key_len()]
    }

    fn words(&self, rec: &Rec, dir: bool) -> impl Iterator<Item = u32> + '_ {
        let at = rec.words_at(dir);
        self.bytes[at..at + 4 * rec.words as usize]
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// A directory record's access (copied from `Tables::access` while filling, so that the walk
    /// reads it with the record).
    fn access(&self, rec: &Rec) -> Access {
        match self.bytes[rec.extra_at()] {
            1 => Access::Grant,
            2 => Access::Keep,
            _ => Access::Revoke,
        }
    }

    /// A directory record's mapped groups (deduplicated, ascending).
    fn groups(&self, rec: &Rec) -> impl Iterator<Item = u32> + '_ {
        self.words(rec, true)
    }

    /// A portal record's managed roles, `role << 1 | is_sync`, by role.
    fn roles(&self, rec: &Rec) -> impl Iterator<Item = u32> + '_ {
        self.words(rec, false)
    }

    /// Sorts the records into canonical order; `skip` top hash bits are the same for all.
    fn sort(&mut self, skip: u32, scratch: &mut Vec<Rec>) {
        let Arena { bytes, dir, portal } = self;
        // The walk visits the records in hash order, which is random within the arena: read
        // it front to back first so that those visits hit the cache.
        let touched = bytes
            .chunks(64)
            .fold(0u8, |acc, line| acc.wrapping_add(line[0]));
        std::hint::black_box(touched);
        let arena_key = |rec: &Rec| &bytes[rec.key_at()..rec.key_at() + rec.key_len()];
        let encoded = |rec: &Rec| &bytes[rec.off..rec.off + rec.encoded as usize];
        let order = |a: &Rec, b: &Rec| {
            a.hash
                .cmp(&b.hash)
                .then_with(|| arena_key(a).cmp(arena_key(b)))
                .then_with(|| encoded(a).cmp(encoded(b)))
        };
        sort_recs(dir, scratch, skip, order);
        sort_recs(portal, scratch, skip, order);
    }
}

/// Byte equality for short strings without a call into `memcmp` (keys are compared once per
/// matched login, and nearly always equal).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails_equal = a_words.remainder().iter().eq(b_words.remainder());
    let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    tails_equal && a_words.zip(b_words).all(|(x, y)| word(x) == word(y))
}

/// Sorts `recs` by `order`, whose first key is the hash: a counting sort on the hash bits after
/// the `skip` top bits (equal for all), then `order` within each small bucket.
fn sort_recs(
    recs: &mut [Rec],
    scratch: &mut Vec<Rec>,
    skip: u32,
    order: impl Fn(&Rec, &Rec) -> Ordering + Copy,
) {
    const BITS: u32 = 10;
    if recs.len() < 256 {
        recs.sort_unstable_by(order);
        return;
    }
    let digit = |rec: &Rec| ((rec.hash << skip) >> (64 - BITS)) as usize;
    let mut starts = [0usize; (1 << BITS) + 1];
    for rec in recs.iter() {
        starts[digit(rec) + 1] += 1;
    }
    for d in 0..1 << BITS {
        starts[d + 1] += starts[d];
    }
    scratch.clear();
    scratch.resize(recs.len(), Rec::default());
    let mut fill = starts;
    for rec in recs.iter() {
        let slot = &mut fill[digit(rec)];
        scratch[*slot] = *rec;
        *slot += 1;
    }
    recs.copy_from_slice(scratch);
    for d in 0..1 << BITS {
        recs[starts[d]..starts[d + 1]].sort_unstable_by(order);
    }
}

/// Streams the canonical encoding into SHA-256 through a buffer.
struct Encoder {
    buf: Vec<u8>,
    hasher: Sha256,
}

const FLUSH_AT: usize = 1 << 16;

impl Encoder {
    fn new() -> Self {
        let mut encoder = Self {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            hasher: Sha256::new(),
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
        self.buf.extend_from_slice(&len32(value).to_le_bytes());
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
        self.u64(users as u64);
        self.u64(u64::from(percent));
        self.u64(policy.escalation_limit() as u64);
        self.len(policy.holder_minimums().len());
        for (role, holders) in policy.holder_minimums() {
            self.str(role);
            self.u64(*holders as u64);
        }
        self.u8(policy.conflict_mode().code());
        self.len(policy.allowed().len());
        for guard in policy.allowed() {
            self.u8(guard.code());
        }
        self.maybe_flush();
    }

    fn records(&mut self, arena: &Arena, dir_run: &[Rec], portal_run: &[Rec]) {
        for rec in dir_run.iter().chain(portal_run) {
            self.buf.extend_from_slice(arena.encoded(rec));
        }
        self.maybe_flush();
    }

    fn finish(mut self, directory: &Directory, portal: &Portal) -> Fingerprint {
        self.u8(0);
        self.u64(directory.users().len() as u64);
        self.u64(portal.users().len() as u64);
        self.hasher.update(&self.buf);
        Fingerprint::from_bytes(self.hasher.finalize().into())
    }
}

/// A set of managed roles: bit `r % 64` of word `r / 64` is role `r`.
fn set_bit(set: &mut [u64], role: u32) {
    set[(role / 64) as usize] |= 1 << (role % 64);
}

fn is_empty(set: &[u64]) -> bool {
    set.iter().all(|&word| word == 0)
}

/// The roles in a set, ascending.
fn roles_in(set: &[u64]) -> impl Iterator<Item = u32> + '_ {
    set.iter().enumerate().flat_map(|(i, &word)| {
        (0..64u32)
            .filter(move |bit| word >> bit & 1 == 1)
            .map(move |bit| i as u32 * 64 + bit)
    })
}

/// Decides each key's action and accumulates the plan.
struct Planner<'t, 'a> {
    tables: &'t Tables<'a>,
    directory: &'t Directory,
    portal: &'t Portal,
    policy: &'t Policy,
    // Scratch, reused for every key.
    user_groups: Vec<u32>,
    /// Role sets (see [`set_bit`]).
    entitled: Vec<u64>,
    held: Vec<u64>,
    held_sync: Vec<u64>,
    target: Vec<u64>,
    added: Vec<u64>,
    removed: Vec<u64>,
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
            entitled: vec![0; tables.role_words],
            held: vec![0; tables.role_words],
            held_sync: vec![0; tables.role_words],
            target: vec![0; tables.role_words],
            added: vec![0; tables.role_words],
            removed: vec![0; tables.role_words],
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

    fn role_names(&self, roles: &[u64]) -> Vec<String> {
        roles_in(roles)
            .map(|r| self.tables.roles[r as usize].to_owned())
            .collect()
    }

    /// The roles in `roles`, each with the user's groups (in `user_groups`) that grant it.
    fn justified(&self, roles: &[u64]) -> Vec<RoleGrant> {
        roles_in(roles)
            .map(|r| RoleGrant {
                role: self.tables.roles[r as usize].to_owned(),
                groups: self
                    .user_groups
                    .iter()
                    .filter(|&&g| self.tables.group_mask(g)[(r / 64) as usize] >> (r % 64) & 1 == 1)
                    .map(|&g| self.tables.groups[g as usize].to_owned())
                    .collect(),
            })
            .collect()
    }

    /// Fills `held` (any source) and `held_sync` with the user's managed roles, counts holders,
    /// and reports whether the user is managed.
    fn read_portal_user(&mut self, words: impl Iterator<Item = u32>) -> bool {
        self.held.fill(0);
        self.held_sync.fill(0);
        for word in words {
            let r = word >> 1;
            set_bit(&mut self.held, r);
            self.holders[r as usize] += 1;
            if word & 1 == 1 {
                set_bit(&mut self.held_sync, r);
            }
        }
        let managed = !is_empty(&self.held_sync);
        self.managed += usize::from(managed);
        managed
    }

    fn visit(&mut self, arena: &Arena, dir_run: &[Rec], portal_run: &[Rec]) {
        let portal = self.portal;
        let directory = self.directory;
        if dir_run.len() > 1 || portal_run.len() > 1 {
            self.conflict(arena, dir_run, portal_run);
            return;
        }
        let dir_user = dir_run.first().map(|rec| rec.idx);

        // Entitlement from the directory.
        self.user_groups.clear();
        self.entitled.fill(0);
        let mut access = Access::Revoke;
        if let Some(rec) = dir_run.first() {
            access = arena.access(rec);
            self.user_groups.extend(arena.groups(rec));
            for &g in &self.user_groups {
                let mask = self.tables.group_mask(g);
                for (word, &bits) in self.entitled.iter_mut().zip(mask) {
                    *word |= bits;
                }
            }
        }

        let Some(portal_rec) = portal_run.first() else {
            if let Some(u) = dir_user
                && access == Access::Grant
                && !is_empty(&self.entitled)
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

        self.read_portal_user(arena.roles(portal_rec));
        self.target.fill(0);
        let reason = match dir_user {
            None => Some(RevocationReason::NotInDirectory),
            Some(u) => {
                let status = || directory.users()[u as usize].status.clone();
                match access {
                    Access::Revoke => Some(RevocationReason::Inactive { status: status() }),
                    _ if is_empty(&self.entitled) => Some(RevocationReason::NoMappedGroup),
                    Access::Keep => {
                        for ((t, &e), &h) in
                            self.target.iter_mut().zip(&self.entitled).zip(&self.held)
                        {
                            *t = e & h;
                        }
                        if is_empty(&self.target) {
                            Some(RevocationReason::Inactive { status: status() })
                        } else {
                            None
                        }
                    }
                    Access::Grant => {
                        self.target.copy_from_slice(&self.entitled);
                        None
                    }
                }
            }
        };
        let mut changed = 0;
        for w in 0..self.target.len() {
            self.added[w] = self.target[w] & !self.held[w];
            self.removed[w] = self.held_sync[w] & !self.target[w];
            changed |= self.added[w] | self.removed[w];
        }
        if changed == 0 {
            self.unchanged += 1;
            return;
        }
        let user = &portal.users()[portal_rec.idx as usize];
        let key = user.login().key();
        let login = user.login().as_str();
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
        if is_empty(&self.added) && removed.is_empty() {
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

    fn conflict(&mut self, arena: &Arena, dir_run: &[Rec], portal_run: &[Rec]) {
        let (directory, portal) = (self.directory, self.portal);
        for rec in portal_run {
            self.read_portal_user(arena.roles(rec));
        }
        let key = match (dir_run.first(), portal_run.first()) {
            (Some(rec), _) => directory.users()[rec.idx as usize].login.key(),
            (None, Some(rec)) => portal.users()[rec.idx as usize].login().key(),
            (None, None) => return,
        };
        let mut dir_refs: Vec<DirectoryRef> = dir_run
            .iter()
            .map(|rec| {
                let user = &directory.users()[rec.idx as usize];
                DirectoryRef {
                    id: user.id.clone(),
                    login: user.login.as_str().to_owned(),
                }
            })
            .collect();
        dir_refs.sort();
        let mut portal_logins: Vec<String> = portal_run
            .iter()
            .map(|rec| portal.users()[rec.idx as usize].login().as_str().to_owned())
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
    fn same_bytes_is_equality() {
        let samples: [&[u8]; 7] = [
            b"",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefgi",
            b"abcdefghi",
            b"abcdefghj",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    /// More than 64 managed roles: role sets span several words.
    #[test]
    fn many_roles() {
        use crate::{DirectoryUser, PortalUser};
        let role = |i: usize| format!("role-{i:03}");
        let mut mapping = Mapping::new();
        for i in 0..200 {
            mapping.insert(format!("g{}", i % 7), role(i));
        }
        let mut directory = Directory::new();
        let ann = DirectoryUser::new("1", "ann@x", UserStatus::Active);
        directory.add_member("g3", ann);
        let lou = DirectoryUser::new("2", "lou@x", UserStatus::LockedOut);
        directory.add_member("g5", lou);
        for g in 0..7 {
            directory.add_group(format!("g{g}"));
        }
        let mut portal = Portal::new();
        portal.add_user(
            PortalUser::new("ann@x")
                .grant(role(3), GrantSource::Sync)
                .grant(role(4), GrantSource::Sync)
                .grant(role(73), GrantSource::Manual),
        );
        // Lou keeps what g5 still grants (role-075, role-194), loses role-080 and gains nothing.
        portal.add_user(
            PortalUser::new("lou@x")
                .grant(role(75), GrantSource::Sync)
                .grant(role(80), GrantSource::Sync)
                .grant(role(194), GrantSource::Sync),
        );
        let policy = Policy::default().allow(crate::Guard::EmptySource);
        let plan = plan(&mapping, &directory, &portal, &policy).unwrap();
        let changes = plan.changes();
        assert_eq!(changes.len(), 2, "{plan}");
        let expected_added: Vec<String> = (0..200)
            .filter(|i| i % 7 == 3 && *i != 3 && *i != 73)
            .map(role)
            .collect();
        let added: Vec<&str> = changes[0].added.iter().map(|g| g.role.as_str()).collect();
        assert_eq!(added, expected_added);
        assert!(changes[0].added.iter().all(|g| g.groups == ["g3"]));
        assert_eq!(changes[0].removed, [role(4)]);
        assert_eq!(changes[1].login, "lou@x");
        assert!(changes[1].added.is_empty());
        assert_eq!(changes[1].removed, [role(80)]);
    }

    #[test]
    fn role_sets() {
        let mut set = vec![0u64; 3];
        assert!(is_empty(&set));
        for r in [0, 5, 63, 64, 130, 191] {
            set_bit(&mut set, r);
        }
        assert!(!is_empty(&set));
        assert_eq!(roles_in(&set).collect::<Vec<_>>(), [0, 5, 63, 64, 130, 191]);
    }

    /// The walk takes the hash space in ranges; the plan must not depend on how many.
    #[test]
    fn ranges_do_not_change_the_plan() {
        use crate::{DirectoryUser, PortalUser};
        let mapping = Mapping::new()
            .map("g0", ["a", "b"])
            .map("g1", ["b"])
            .map("g2", ["c"])
            .map("g3", ["a"]);
        let statuses = [
            UserStatus::Active,
            UserStatus::LockedOut,
            UserStatus::Suspended,
        ];
        let mut directory = Directory::new();
        let mut portal = Portal::new();
        for i in 0..3000usize {
            let login = if i % 7 == 0 {
                format!("User{i}@x")
            } else {
                format!("user{i}@x")
            };
            let status = statuses[i % 11 % 3].clone();
            if i % 13 != 0 {
                let user = DirectoryUser::new(format!("id{i}"), login.as_str(), status);
                for g in [i % 4, i * 7 % 5] {
                    if g < 4 {
                        directory.add_member(format!("g{g}"), user.clone());
                    }
                }
                directory.add_user(user);
            }
            if i % 97 == 0 {
                // A duplicate login on the directory side: a conflict.
                let twin = DirectoryUser::new(
                    format!("twin{i}"),
                    login.to_uppercase(),
                    UserStatus::Active,
                );
                directory.add_user(twin);
            }
            if i % 17 != 0 {
                let mut user = PortalUser::new(format!("user{i}@x"));
                for (k, role) in ["a", "b", "c", "z"].into_iter().enumerate() {
                    if (i + k) % 3 != 0 {
                        let source = if (i + k) % 5 == 0 {
                            GrantSource::Manual
                        } else {
                            GrantSource::Sync
                        };
                        user = user.grant(role, source);
                    }
                }
                if i % 101 == 0 {
                    user = user.protect();
                }
                portal.add_user(user);
            }
        }
        let policy = Policy::default()
            .allow(crate::Guard::Revocations)
            .allow(crate::Guard::Escalations);
        let in_ranges = |bits: u32| {
            let mut tables = Tables::new(&mapping, &directory, &portal, &policy);
            tables.range_bits = bits;
            plan_with(&tables, &mapping, &directory, &portal, &policy)
        };
        let reference = in_ranges(0);
        let summary = reference
            .as_ref()
            .map(Plan::summary)
            .unwrap_or_else(|r| r.plan().summary());
        assert!(
            summary.creates > 0 && summary.changes > 0 && summary.revocations > 0,
            "{summary:?}"
        );
        assert!(
            summary.conflicts > 0 && summary.unchanged > 0,
            "{summary:?}"
        );
        for bits in [1, 3, 6, 12] {
            assert_eq!(in_ranges(bits), reference);
        }
        assert_eq!(plan(&mapping, &directory, &portal, &policy), reference);
    }

    #[test]
    fn order_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(order_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(order_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(order_hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
