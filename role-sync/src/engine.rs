//! The reconciliation engine: `plan()` and the fingerprint walk it shares.
//!
//! Shape of the computation, for `D` directory users, `P` portal users and `M` memberships in
//! mapped groups:
//!
//! 1. intern managed roles and mapped groups (sorted, so indices follow name order);
//! 2. invert group → members into a per-user list of mapped groups (counting sort over the
//!    member lists, O(D + M));
//! 3. read every directory and portal user once, in input order: hash its folded login
//!    (FNV-1a 64) and append one compact record — the canonical encoding with statuses and
//!    managed roles as indices, plus the key and the access — to the arena of its range of the
//!    hash space (top hash bits; about 8k records per range);
//! 4. per range: list the arena's records (front to back), sort them into the canonical order
//!    `(hash, key, encoding)` (radix on the next hash bits, then a comparison sort of tiny
//!    buckets), merge directory and portal records by key, feed their encodings to the
//!    fingerprint and decide each key's action (create, change, revocation, conflict or
//!    nothing) from the records alone — O(n log n) overall;
//! 5. sort the (usually short) action lists by key and evaluate the guards.
//!
//! The canonical order is random with respect to memory, so it is only ever followed inside a
//! cache-sized range arena; the inputs are read front to back, once. Each arena is written as
//! a single stream (fewer concurrent write streams than the CPU's prefetchers track), and the
//! records' positions are only listed per range, in a buffer reused from range to range.
//! Nothing is allocated per user on the unchanged path. Extra memory is about 70 bytes per
//! user record.

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
    let mut planner = Planner::new(tables, portal, policy);
    let counted = tables.walk(directory, portal, |arena, dir_run, portal_run| {
        encoder.records(tables, arena, dir_run, portal_run);
        planner.visit(arena, dir_run, portal_run);
    });
    let fingerprint = encoder.finish(directory, portal);
    planner.finish(fingerprint, &counted)
}

impl Fingerprint {
    /// The fingerprint [`plan`] would give these inputs, without planning. An applier re-reads
    /// the inputs, computes this and refuses a plan whose [`Plan::fingerprint`] differs.
    pub fn of(mapping: &Mapping, directory: &Directory, portal: &Portal, policy: &Policy) -> Self {
        let tables = Tables::new(mapping, directory, portal, policy);
        let mut encoder = Encoder::new();
        encoder.header(&tables, mapping, policy);
        tables.walk(directory, portal, |arena, dir_run, portal_run| {
            encoder.records(&tables, arena, dir_run, portal_run);
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

/// Everything derived from the mapping and the group listings before the walk.
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
    /// Each managed role and each known status as the canonical encoding spells it (`u32`
    /// length, then the name), ready to copy.
    role_encodings: Vec<Vec<u8>>,
    status_encodings: Vec<Vec<u8>>,
    /// What the policy makes of each known status, by [`UserStatus::known_index`], so that the
    /// walk looks other statuses only up in `policy`.
    known_access: [Access; 8],
    policy: &'a Policy,
    /// Per directory user, its mapped groups: `member_groups[start[u]..start[u + 1]]`, sorted,
    /// possibly with repeats.
    start: Vec<u32>,
    member_groups: Vec<u32>,
    /// The walk splits the hash space into `1 << range_bits` ranges by the hash's top bits.
    range_bits: u32,
}

impl<'a> Tables<'a> {
    fn new(
        mapping: &'a Mapping,
        directory: &Directory,
        portal: &Portal,
        policy: &'a Policy,
    ) -> Self {
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

        let encoding = |name: &str| {
            let mut out = Vec::with_capacity(4 + name.len());
            put_str(&mut out, name);
            out
        };
        let role_encodings = roles.iter().map(|role| encoding(role)).collect();
        let status_encodings = UserStatus::KNOWN
            .iter()
            .map(|status| encoding(status.as_str()))
            .collect();
        let mut known_access = [Access::Revoke; 8];
        for (slot, status) in known_access.iter_mut().zip(UserStatus::KNOWN.iter()) {
            *slot = policy.access_of(status);
        }

        // Invert group -> members into user -> groups (a counting sort over the member lists,
        // which never touches the users themselves).
        let users = directory.users().len();
        let mut listed = vec![false; groups.len()];
        // Counted one slot to the right, so that the scatter below leaves `start[u]` at user
        // `u`'s first group without a copy of the array as cursors.
        let mut start = vec![0u32; users + 2];
        let members: Vec<&[u32]> = groups
            .iter()
            .zip(&mut listed)
            .map(|(group, listed)| {
                let list = directory.member_indices(group);
                *listed = list.is_some();
                list.unwrap_or(&[])
            })
            .collect();
        // Both passes below update `start` at each member. Sweeping a whole list at a time
        // would run through all of `start` once per group, far beyond the caches for a large
        // directory; so the lists (in user order, as a directory usually lists them) are taken
        // a block of users at a time, for every group, keeping that block's slice cached.
        let blocks = blocks_of(&members, users);
        for block in &blocks {
            for (g, &(from, to)) in block.iter().enumerate() {
                for &m in &members[g][from..to] {
                    start[m as usize + 2] += 1;
                }
            }
        }
        for u in 2..users + 2 {
            start[u] += start[u - 1];
        }
        let mut member_groups = vec![0u32; start[users + 1] as usize];
        for block in &blocks {
            for (g, &(from, to)) in block.iter().enumerate() {
                for &m in &members[g][from..to] {
                    let slot = &mut start[m as usize + 1];
                    member_groups[*slot as usize] = index(g);
                    *slot += 1;
                }
            }
        }
        start.truncate(users + 1);

        let ranges = (users + portal.users().len()).div_ceil(RANGE_RECORDS);
        let range_bits = ranges.max(1).next_power_of_two().trailing_zeros().min(16);

        Self {
            roles,
            role_index,
            groups,
            group_roles,
            group_masks,
            role_words,
            listed,
            role_encodings,
            status_encodings,
            known_access,
            policy,
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

    fn access_of(&self, status: &UserStatus) -> Access {
        match status.known_index() {
            Some(i) => self.known_access[i],
            None => self.policy.access_of(status),
        }
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
    /// be empty, not both). Returns, per mapped group, its listed members whose status is not
    /// [`Access::Revoke`] (counted on the way, so that no other pass reads the users).
    ///
    /// The canonical order is random with respect to memory, so the walk never follows it
    /// through the inputs. It reads the input records front to back, copying what the plan and
    /// the fingerprint need into a compact record in the arena of their range of the hash
    /// space (top hash bits); then, one cache-sized range at a time, it lists the range's
    /// records (reading the arena front to back), sorts and merges them.
    fn walk(
        &self,
        directory: &Directory,
        portal: &Portal,
        mut visit: impl FnMut(&[u8], &[Rec], &[Rec]),
    ) -> Vec<usize> {
        let (arenas, counted) = fill(self, directory, portal);
        // Per-range scratch, reused: only one range's records are ever listed at a time.
        let (mut dir, mut port, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        for bytes in &arenas {
            list_records(bytes, &mut dir, &mut port);
            let order = |a: &Rec, b: &Rec| {
                a.hash
                    .cmp(&b.hash)
                    .then_with(|| same_hash_order(bytes, self, a, b))
            };
            sort_recs(&mut dir, &mut scratch, self.range_bits, order);
            sort_recs(&mut port, &mut scratch, self.range_bits, order);
            // Records with the same key as `recs[from]`, from `from` on (ties are rare: the hash
            // decides almost every comparison).
            let run_end = |recs: &[Rec], from: usize| {
                let first = &recs[from];
                let key = Record::at(bytes, first).key();
                let mut end = from + 1;
                while end < recs.len()
                    && recs[end].hash == first.hash
                    && same_bytes(Record::at(bytes, &recs[end]).key(), key)
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
                        let (dk, pk) = (Record::at(bytes, d).key(), Record::at(bytes, p).key());
                        if same_bytes(dk, pk) {
                            Ordering::Equal
                        } else {
                            dk.cmp(pk)
                        }
                    }),
                };
                let i_end = if side.is_gt() { i } else { run_end(&dir, i) };
                let j_end = if side.is_lt() { j } else { run_end(&port, j) };
                visit(bytes, &dir[i..i_end], &port[j..j_end]);
                (i, j) = (i_end, j_end);
            }
        }
        counted
    }
}

/// Users per block when inverting memberships: the block's share of the per-user arrays stays
/// within the CPU's private cache.
const MEMBER_BLOCK: usize = 1 << 15;

/// Splits each member list into one slice per block of [`MEMBER_BLOCK`] users: `blocks[b][g]`
/// is the range of `members[g]` in block `b`. Unless every list is in ascending order, there is
/// one block of whole lists (correct, merely not cache-friendly): each user's groups must be
/// written in group order.
fn blocks_of(members: &[&[u32]], users: usize) -> Vec<Vec<(usize, usize)>> {
    if !members.iter().all(|list| list.is_sorted()) {
        return vec![members.iter().map(|list| (0, list.len())).collect()];
    }
    let count = users.div_ceil(MEMBER_BLOCK).max(1);
    let mut blocks = vec![vec![(0, 0); members.len()]; count];
    for (g, list) in members.iter().enumerate() {
        let mut from = 0;
        for (b, block) in blocks.iter_mut().enumerate() {
            let end = (b + 1) * MEMBER_BLOCK;
            let to = from + list[from..].partition_point(|&m| (m as usize) < end);
            block[g] = (from, to);
            from = to;
        }
    }
    blocks
}

/// A record's place in its range's arena, with its hash (the first sort key) at hand so that
/// sorting rarely reads the arena.
#[derive(Clone, Copy, Default)]
struct Rec {
    hash: u64,
    off: usize,
}

/// Record header, at the record's offset in its arena (integers little-endian):
///
/// | at | field |
/// |----|-------|
/// | 0  | `u64` order hash |
/// | 8  | `u32` size of the whole record |
/// | 12 | `u8` tag: 1 directory, 2 portal |
/// | 13 | `u8` flags: [`KEY_STORED`], [`PROTECTED`] |
/// | 14 | `u8` directory: [`Access`] code |
/// | 15 | `u8` directory: status, [`UserStatus::known_index`] or [`OTHER_STATUS`] |
/// | 16 | `u32` login length |
/// | 20 | `u32` key length |
/// | 24 | `u32` word count: a directory user's mapped groups, a portal user's grants |
/// | 28 | `u32` directory: id length |
///
/// Then the words (`u32`): a directory user's mapped groups (deduplicated, ascending), a
/// portal user's grants by role as `role << 2 | source code` for a managed role and 0 for
/// another; then the login as spelt; the folded key if it differs from the login; then for a
/// directory user its id and, for [`OTHER_STATUS`], the status as `u32` length and bytes; for a
/// portal user each unmanaged grant as it is encoded (length, role, source code).
///
/// This is the canonical encoding (see [`Record::encode`]) with the known names — statuses
/// and managed roles — replaced by their indices, so that arenas stay small.
const HEADER: usize = 32;
const KEY_STORED: u8 = 1;
const PROTECTED: u8 = 2;
const OTHER_STATUS: u8 = u8::MAX;
const DIR_TAG: u8 = 1;
const PORTAL_TAG: u8 = 2;

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

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// One record of an arena; see [`HEADER`].
#[derive(Clone, Copy)]
struct Record<'b> {
    b: &'b [u8],
}

impl<'b> Record<'b> {
    #[inline(always)]
    fn at(bytes: &'b [u8], rec: &Rec) -> Self {
        let size = u32_at(bytes, rec.off + 8) as usize;
        Self {
            b: &bytes[rec.off..rec.off + size],
        }
    }

    #[inline(always)]
    fn is_dir(self) -> bool {
        self.b[12] == DIR_TAG
    }

    #[inline(always)]
    fn flags(self) -> u8 {
        self.b[13]
    }

    #[inline(always)]
    fn is_protected(self) -> bool {
        self.flags() & PROTECTED != 0
    }

    #[inline(always)]
    fn access(self) -> Access {
        match self.b[14] {
            1 => Access::Grant,
            2 => Access::Keep,
            _ => Access::Revoke,
        }
    }

    #[inline(always)]
    fn login_len(self) -> usize {
        u32_at(self.b, 16) as usize
    }

    #[inline(always)]
    fn key_len(self) -> usize {
        u32_at(self.b, 20) as usize
    }

    #[inline(always)]
    fn word_count(self) -> usize {
        u32_at(self.b, 24) as usize
    }

    #[inline(always)]
    fn id_len(self) -> usize {
        u32_at(self.b, 28) as usize
    }

    #[inline(always)]
    fn word_bytes(self) -> &'b [u8] {
        &self.b[HEADER..HEADER + 4 * self.word_count()]
    }

    /// A directory user's mapped groups; a portal user's grants (see [`HEADER`]).
    #[inline(always)]
    fn words(self) -> impl Iterator<Item = u32> + 'b {
        self.word_bytes()
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }

    #[inline(always)]
    fn login_at(self) -> usize {
        HEADER + 4 * self.word_count()
    }

    #[inline(always)]
    fn login(self) -> &'b [u8] {
        let at = self.login_at();
        &self.b[at..at + self.login_len()]
    }

    #[inline(always)]
    fn key(self) -> &'b [u8] {
        let at = self.login_at();
        if self.flags() & KEY_STORED == 0 {
            &self.b[at..at + self.login_len()]
        } else {
            let at = at + self.login_len();
            &self.b[at..at + self.key_len()]
        }
    }

    /// Where what follows the login and the stored key starts.
    #[inline(always)]
    fn tail_at(self) -> usize {
        let key = if self.flags() & KEY_STORED == 0 {
            0
        } else {
            self.key_len()
        };
        self.login_at() + self.login_len() + key
    }

    #[inline(always)]
    fn id(self) -> &'b [u8] {
        let at = self.tail_at();
        &self.b[at..at + self.id_len()]
    }

    #[inline(always)]
    fn status(self) -> UserStatus {
        match UserStatus::KNOWN.get(usize::from(self.b[15])) {
            Some(status) => status.clone(),
            None => {
                let at = self.tail_at() + self.id_len();
                let len = u32_at(self.b, at) as usize;
                UserStatus::Other(text(&self.b[at + 4..at + 4 + len]))
            }
        }
    }

    /// Appends the record's canonical encoding (part of the fingerprint's definition): for a
    /// directory user tag 1, login as spelt, id, status, mapped groups; for a portal user tag
    /// 2, login as spelt, protected, every grant with its source.
    fn encode(self, tables: &Tables<'_>, out: &mut Vec<u8>) {
        let login = self.login();
        out.push(self.b[12]);
        put_u32(out, len32(login.len()));
        out.extend_from_slice(login);
        let tail = self.tail_at();
        if self.is_dir() {
            let id = self.id();
            put_u32(out, len32(id.len()));
            out.extend_from_slice(id);
            match tables.status_encodings.get(usize::from(self.b[15])) {
                Some(status) => out.extend_from_slice(status),
                None => {
                    let at = tail + id.len();
                    let len = u32_at(self.b, at) as usize;
                    out.extend_from_slice(&self.b[at..at + 4 + len]);
                }
            }
            put_u32(out, len32(self.word_count()));
            out.extend_from_slice(self.word_bytes());
        } else {
            out.push(u8::from(self.is_protected()));
            put_u32(out, len32(self.word_count()));
            let mut at = tail;
            for word in self.words() {
                if word == 0 {
                    let len = u32_at(self.b, at) as usize;
                    out.extend_from_slice(&self.b[at..at + 4 + len + 1]);
                    at += 4 + len + 1;
                } else {
                    out.extend_from_slice(&tables.role_encodings[(word >> 2) as usize]);
                    out.push((word & 3) as u8);
                }
            }
        }
    }
}

/// Bytes from an input string, back as a `String` (they were copied from a `&str`).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Bytes a directory record takes in an arena.
fn dir_size(tables: &Tables<'_>, user: &DirectoryUser, u: usize) -> usize {
    let key = if user.login.is_folded() {
        user.login.key().len()
    } else {
        0
    };
    let status = match user.status.known_index() {
        Some(_) => 0,
        None => 4 + user.status.as_str().len(),
    };
    HEADER
        + 4 * tables.groups_of(u).len()
        + user.login.as_str().len()
        + key
        + user.id.len()
        + status
}

/// Bytes a portal record takes in an arena.
fn portal_size(tables: &Tables<'_>, user: &PortalUser) -> usize {
    let key = if user.login().is_folded() {
        user.login().key().len()
    } else {
        0
    };
    let unmanaged: usize = user
        .grants()
        .iter()
        .filter(|g| !tables.role_index.contains_key(g.role.as_str()))
        .map(|g| 4 + g.role.len() + 1)
        .sum();
    HEADER + 4 * user.grants().len() + user.login().as_str().len() + key + unmanaged
}

/// Average of `size` over up to 128 evenly spread items (for reserving arena capacity; a
/// larger sample costs a cache miss per item and buys little).
fn sampled_average(count: usize, size: impl Fn(usize) -> usize) -> usize {
    if count == 0 {
        return 0;
    }
    let step = count.div_ceil(128);
    let (mut total, mut sampled) = (0, 0);
    for i in (0..count).step_by(step) {
        total += size(i);
        sampled += 1;
    }
    total.div_ceil(sampled)
}

/// One arena per range, filled reading every input user once, in input order; and, per mapped
/// group, its listed members whose status is not [`Access::Revoke`].
fn fill(tables: &Tables<'_>, directory: &Directory, portal: &Portal) -> (Vec<Vec<u8>>, Vec<usize>) {
    let ranges = 1usize << tables.range_bits;
    let (users, portal_users) = (directory.users(), portal.users());
    // Reserve about what each range needs (the hash spreads users evenly), so that buffers
    // rarely grow.
    let dir_average = sampled_average(users.len(), |u| dir_size(tables, &users[u], u));
    let portal_average = sampled_average(portal_users.len(), |p| {
        portal_size(tables, &portal_users[p])
    });
    let reserve = |count: usize| {
        let per_range = count.div_ceil(ranges);
        per_range + per_range / 8 + 16
    };
    let bytes = reserve(users.len()) * dir_average + reserve(portal_users.len()) * portal_average;
    let mut arenas: Vec<Vec<u8>> = (0..ranges).map(|_| Vec::with_capacity(bytes)).collect();
    let mut counted = vec![0usize; tables.groups.len()];

    for (u, user) in users.iter().enumerate() {
        let key = user.login.key();
        let hash = order_hash(key);
        let out = &mut arenas[tables.range_of(hash)];
        let off = out.len();
        let stored = user.login.is_folded();
        let access = tables.access_of(&user.status);
        let groups = tables.groups_of(u);
        if access != Access::Revoke {
            for &g in groups {
                counted[g as usize] += 1;
            }
        }
        out.extend_from_slice(&hash.to_le_bytes());
        put_u32(out, 0); // size, set below
        out.extend_from_slice(&[
            DIR_TAG,
            if stored { KEY_STORED } else { 0 },
            access.code(),
            user.status.known_index().map_or(OTHER_STATUS, |i| i as u8),
        ]);
        put_u32(out, len32(user.login.as_str().len()));
        put_u32(out, len32(key.len()));
        put_u32(out, 0); // group count, set below
        put_u32(out, len32(user.id.len()));
        let mut count: u32 = 0;
        for (i, &g) in groups.iter().enumerate() {
            if i == 0 || groups[i - 1] != g {
                put_u32(out, g);
                count += 1;
            }
        }
        out.extend_from_slice(user.login.as_str().as_bytes());
        if stored {
            out.extend_from_slice(key.as_bytes());
        }
        out.extend_from_slice(user.id.as_bytes());
        if user.status.known_index().is_none() {
            put_str(out, user.status.as_str());
        }
        let size = len32(out.len() - off);
        out[off + 8..off + 12].copy_from_slice(&size.to_le_bytes());
        out[off + 24..off + 28].copy_from_slice(&count.to_le_bytes());
    }

    for user in portal_users {
        let login = user.login();
        let key = login.key();
        let hash = order_hash(key);
        let out = &mut arenas[tables.range_of(hash)];
        let off = out.len();
        let stored = login.is_folded();
        let flags =
            if stored { KEY_STORED } else { 0 } | if user.is_protected() { PROTECTED } else { 0 };
        out.extend_from_slice(&hash.to_le_bytes());
        put_u32(out, 0); // size, set below
        out.extend_from_slice(&[PORTAL_TAG, flags, 0, 0]);
        put_u32(out, len32(login.as_str().len()));
        put_u32(out, len32(key.len()));
        put_u32(out, len32(user.grants().len()));
        put_u32(out, 0);
        let mut unmanaged = false;
        for grant in user.grants() {
            match tables.role_index.get(grant.role.as_str()) {
                Some(&r) => put_u32(out, r << 2 | u32::from(grant.source.code())),
                None => {
                    put_u32(out, 0);
                    unmanaged = true;
                }
            }
        }
        out.extend_from_slice(login.as_str().as_bytes());
        if stored {
            out.extend_from_slice(key.as_bytes());
        }
        if unmanaged {
            for (i, grant) in user.grants().iter().enumerate() {
                if u32_at(out, off + HEADER + 4 * i) == 0 {
                    put_str(out, &grant.role);
                    out.push(grant.source.code());
                }
            }
        }
        let size = len32(out.len() - off);
        out[off + 8..off + 12].copy_from_slice(&size.to_le_bytes());
    }
    (arenas, counted)
}

/// Lists an arena's directory and portal records, reading it front to back (which also brings
/// the range into the cache before the walk's random visits).
fn list_records(bytes: &[u8], dir: &mut Vec<Rec>, portal: &mut Vec<Rec>) {
    dir.clear();
    portal.clear();
    // Each record's size says where the next one starts, so the reads form a chain; touching
    // the arena well ahead of it keeps several cache misses in flight.
    const AHEAD: usize = 1024;
    let mut touched = 0u8;
    let mut off = 0;
    while off < bytes.len() {
        touched ^= bytes.get(off + AHEAD).copied().unwrap_or(0);
        let rec = Rec {
            hash: u64_at(bytes, off),
            off,
        };
        if bytes[off + 12] == DIR_TAG {
            dir.push(rec);
        } else {
            portal.push(rec);
        }
        off += u32_at(bytes, off + 8) as usize;
    }
    std::hint::black_box(touched);
}

/// The canonical order `(hash, key, canonical encoding)` of two records with the same hash.
fn same_hash_order(bytes: &[u8], tables: &Tables<'_>, a: &Rec, b: &Rec) -> Ordering {
    let (a, b) = (Record::at(bytes, a), Record::at(bytes, b));
    a.key().cmp(b.key()).then_with(|| {
        // Only users sharing a key (conflicts) get here.
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        a.encode(tables, &mut ea);
        b.encode(tables, &mut eb);
        ea.cmp(&eb)
    })
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

    fn records(&mut self, tables: &Tables<'_>, arena: &[u8], dir_run: &[Rec], portal_run: &[Rec]) {
        for rec in dir_run.iter().chain(portal_run) {
            Record::at(arena, rec).encode(tables, &mut self.buf);
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

/// Where a result's login key lies in [`Planner::keys`]: results are sorted by key at the end,
/// and comparing keys there stays in memory the planner just wrote.
type KeyAt = (usize, usize);

/// Decides each key's action and accumulates the plan. Reads only the arena records, never the
/// inputs (which the canonical order would visit at random).
struct Planner<'t, 'a> {
    tables: &'t Tables<'a>,
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
    /// The login keys of the results below, back to back.
    keys: Vec<u8>,
    // Results, tagged with the key they are sorted by at the end.
    creates: Vec<(KeyAt, Create)>,
    changes: Vec<(KeyAt, Change)>,
    revocations: Vec<(KeyAt, Revocation)>,
    protected_kept: Vec<(KeyAt, Warning)>,
    unmatched_kept: Vec<(KeyAt, Warning)>,
    conflicts: Vec<Conflict>,
    conflicted_users: usize,
    unchanged: usize,
    managed: usize,
    /// Per managed role, portal users holding it (any source) before the plan.
    holders: Vec<usize>,
}

/// Sorts results by their login key.
fn sort_by_key<T>(keys: &[u8], results: &mut [(KeyAt, T)]) {
    results.sort_unstable_by(|(a, _), (b, _)| keys[a.0..a.1].cmp(&keys[b.0..b.1]));
}

impl<'t, 'a> Planner<'t, 'a> {
    fn new(tables: &'t Tables<'a>, portal: &'t Portal, policy: &'t Policy) -> Self {
        Self {
            tables,
            portal,
            policy,
            user_groups: Vec::new(),
            entitled: vec![0; tables.role_words],
            held: vec![0; tables.role_words],
            held_sync: vec![0; tables.role_words],
            target: vec![0; tables.role_words],
            added: vec![0; tables.role_words],
            removed: vec![0; tables.role_words],
            keys: Vec::new(),
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

    fn key_at(&mut self, key: &[u8]) -> KeyAt {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        (start, self.keys.len())
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
    fn read_portal_user(&mut self, grants: impl Iterator<Item = u32>) -> bool {
        self.held.fill(0);
        self.held_sync.fill(0);
        for word in grants {
            if word == 0 {
                continue; // an unmanaged role
            }
            let r = word >> 2;
            set_bit(&mut self.held, r);
            self.holders[r as usize] += 1;
            if word & 3 == u32::from(GrantSource::Sync.code()) {
                set_bit(&mut self.held_sync, r);
            }
        }
        let managed = !is_empty(&self.held_sync);
        self.managed += usize::from(managed);
        managed
    }

    fn visit(&mut self, arena: &[u8], dir_run: &[Rec], portal_run: &[Rec]) {
        if dir_run.len() > 1 || portal_run.len() > 1 {
            self.conflict(arena, dir_run, portal_run);
            return;
        }
        let dir_user = dir_run.first().map(|rec| Record::at(arena, rec));

        // Entitlement from the directory.
        self.user_groups.clear();
        self.entitled.fill(0);
        let mut access = Access::Revoke;
        if let Some(user) = dir_user {
            access = user.access();
            self.user_groups.extend(user.words());
            for &g in &self.user_groups {
                let mask = self.tables.group_mask(g);
                for (word, &bits) in self.entitled.iter_mut().zip(mask) {
                    *word |= bits;
                }
            }
        }

        let Some(portal_rec) = portal_run.first() else {
            if let Some(user) = dir_user
                && access == Access::Grant
                && !is_empty(&self.entitled)
            {
                let key = self.key_at(user.key());
                let create = Create {
                    login: text(user.login()),
                    roles: self.justified(&self.entitled),
                };
                self.creates.push((key, create));
            }
            return;
        };
        let user = Record::at(arena, portal_rec);

        self.read_portal_user(user.words());
        self.target.fill(0);
        let reason = match dir_user {
            None => Some(RevocationReason::NotInDirectory),
            Some(dir_user) => {
                let status = || dir_user.status();
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
        let key = self.key_at(user.key());
        let login = text(user.login());
        if let Some(reason) = reason {
            let roles = self.role_names(&self.removed);
            let unmatched = matches!(
                reason,
                RevocationReason::NotInDirectory | RevocationReason::NoMappedGroup
            );
            if unmatched && self.policy.unmatched_mode() == Unmatched::Keep {
                let warning = Warning::UnmatchedKept {
                    login,
                    roles,
                    reason,
                };
                self.unmatched_kept.push((key, warning));
                self.unchanged += 1;
            } else if user.is_protected() {
                let warning = Warning::ProtectedKept {
                    login,
                    roles,
                    reason: Some(reason),
                };
                self.protected_kept.push((key, warning));
                self.unchanged += 1;
            } else {
                let revocation = Revocation {
                    login,
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
                login: login.clone(),
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
            login,
            added: self.justified(&self.added),
            removed,
        };
        self.changes.push((key, change));
    }

    fn conflict(&mut self, arena: &[u8], dir_run: &[Rec], portal_run: &[Rec]) {
        let dir_users = dir_run.iter().map(|rec| Record::at(arena, rec));
        let portal_users = portal_run.iter().map(|rec| Record::at(arena, rec));
        for user in portal_users.clone() {
            self.read_portal_user(user.words());
        }
        let Some(first) = dir_users.clone().chain(portal_users.clone()).next() else {
            return;
        };
        let mut dir_refs: Vec<DirectoryRef> = dir_users
            .map(|user| DirectoryRef {
                id: text(user.id()),
                login: text(user.login()),
            })
            .collect();
        dir_refs.sort();
        let mut portal_logins: Vec<String> = portal_users.map(|user| text(user.login())).collect();
        portal_logins.sort();
        self.conflicted_users += dir_run.len() + portal_run.len();
        self.conflicts.push(Conflict {
            login: text(first.key()),
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

    fn finish(mut self, fingerprint: Fingerprint, counted: &[usize]) -> Result<Plan, Refusal> {
        let policy = self.policy;
        let tables = self.tables;
        sort_by_key(&self.keys, &mut self.creates);
        sort_by_key(&self.keys, &mut self.changes);
        sort_by_key(&self.keys, &mut self.revocations);
        sort_by_key(&self.keys, &mut self.protected_kept);
        sort_by_key(&self.keys, &mut self.unmatched_kept);
        self.conflicts
            .sort_unstable_by(|a, b| a.login.cmp(&b.login));

        let mut found = Vec::new();
        let mut warnings = Vec::new();

        // 1. Empty source.
        let empty: Vec<usize> = (0..tables.groups.len())
            .filter(|&g| !tables.listed[g] || counted[g] == 0)
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

    /// The compact arena records give back exactly the canonical encoding of their users.
    #[test]
    fn records_encode_canonically() {
        use crate::{DirectoryUser, PortalUser};
        let mapping = Mapping::new()
            .map("g0", ["admin", "viewer"])
            .map("g1", ["viewer"])
            .manage("legacy");
        let mut directory = Directory::new();
        let statuses = [
            UserStatus::Active,
            UserStatus::PasswordExpired,
            UserStatus::Other("ARCHIVED".to_owned()),
            UserStatus::Other("ACTIVE".to_owned()),
        ];
        for (i, status) in statuses.iter().enumerate() {
            let user = DirectoryUser::new(format!("id{i}"), format!("User{i}@X"), status.clone());
            directory.add_member("g1", user.clone());
            directory.add_member("g0", user.clone());
            directory.add_member("g1", user);
        }
        directory.add_user(DirectoryUser::new("lone", "ΟΔΟΣ@x", UserStatus::Suspended));
        let mut portal = Portal::new();
        portal.add_user(
            PortalUser::new("user0@x")
                .grant("admin", GrantSource::Manual)
                .grant("legacy", GrantSource::Sync)
                .grant("wiki", GrantSource::Sync)
                .grant("zz-top", GrantSource::Manual)
                .protect(),
        );
        portal.add_user(PortalUser::new("Other@x").grant("a-first", GrantSource::Sync));
        portal.add_user(PortalUser::new("bare@x"));
        let policy = Policy::default();
        let tables = Tables::new(&mapping, &directory, &portal, &policy);

        let mut expected: Vec<Vec<u8>> = Vec::new();
        for (u, user) in directory.users().iter().enumerate() {
            let mut out = vec![1];
            put_str(&mut out, user.login.as_str());
            put_str(&mut out, &user.id);
            put_str(&mut out, user.status.as_str());
            let mut groups = tables.groups_of(u).to_vec();
            groups.dedup();
            put_u32(&mut out, len32(groups.len()));
            for g in groups {
                put_u32(&mut out, g);
            }
            expected.push(out);
        }
        for user in portal.users() {
            let mut out = vec![2];
            put_str(&mut out, user.login().as_str());
            out.push(u8::from(user.is_protected()));
            put_u32(&mut out, len32(user.grants().len()));
            for grant in user.grants() {
                put_str(&mut out, &grant.role);
                out.push(grant.source.code());
            }
            expected.push(out);
        }
        expected.sort();

        let (arenas, _) = fill(&tables, &directory, &portal);
        let mut encoded = Vec::new();
        let (mut dir, mut port) = (Vec::new(), Vec::new());
        for bytes in &arenas {
            list_records(bytes, &mut dir, &mut port);
            for rec in dir.iter().chain(&port) {
                let record = Record::at(bytes, rec);
                let mut out = Vec::new();
                record.encode(&tables, &mut out);
                encoded.push(out);
                assert_eq!(rec.hash, order_hash(&text(record.key())));
            }
        }
        encoded.sort();
        assert_eq!(encoded, expected);
    }

    /// Memberships inverted a block of users at a time match a plain inversion, whether or not
    /// the member lists are in user order.
    #[test]
    fn memberships_invert_in_blocks() {
        use crate::DirectoryUser;
        let mapping = Mapping::new()
            .map("a", ["r"])
            .map("b", ["r"])
            .map("c", ["s"]);
        let users = 2 * MEMBER_BLOCK + 100;
        for shuffled in [false, true] {
            let mut directory = Directory::new();
            for u in 0..users {
                directory.add_user(DirectoryUser::new(u.to_string(), "x", UserStatus::Active));
            }
            let member = |u: usize| DirectoryUser::new(u.to_string(), "x", UserStatus::Active);
            for u in (0..users).filter(|u| u % 3 != 0) {
                directory.add_member("a", member(u));
            }
            for u in (0..users).rev().filter(|u| u % 5 == 0 && shuffled) {
                directory.add_member("b", member(u));
            }
            for u in (0..users).filter(|u| u % 2 == 0) {
                directory.add_member("c", member(u));
                if u % 4 == 0 {
                    directory.add_member("c", member(u)); // a repeat
                }
            }
            let policy = Policy::default();
            let tables = Tables::new(&mapping, &directory, &Portal::new(), &policy);
            let mut expected = vec![Vec::new(); users];
            for (g, group) in ["a", "b", "c"].iter().enumerate() {
                for &m in directory.member_indices(group).unwrap_or(&[]) {
                    expected[m as usize].push(g as u32);
                }
            }
            for (u, expected) in expected.iter().enumerate() {
                assert_eq!(
                    tables.groups_of(u),
                    expected,
                    "user {u}, shuffled {shuffled}"
                );
            }
        }
    }

    #[test]
    fn order_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(order_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(order_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(order_hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
