//! The fingerprint of a plan's inputs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// A SHA-256 digest of everything a plan depends on, displayed as 64 lowercase hex digits.
///
/// [`plan`](crate::plan) and [`Fingerprint::of`] compute it over a canonical encoding of:
///
/// - the mapping: every mapped group with its roles, and the managed roles;
/// - for each mapped group, whether the directory listed it;
/// - the policy: the full status → access table, unmatched mode, thresholds, minimum holders,
///   conflict mode and overridden guards;
/// - every directory user (login as spelt, id, status, memberships in mapped groups);
/// - every portal user (login as spelt, protected flag, every grant with its source).
///
/// Equal inputs built in any order have equal fingerprints. Groups the mapping does not name
/// are not covered (changing them cannot change a plan), nor are repeated memberships. The
/// fingerprint detects a stale plan; it is not a signature and proves nothing about who made
/// the plan.
///
/// # Encoding (version 1)
///
/// `str` is a little-endian `u32` byte length and the UTF-8 bytes; counts are little-endian
/// `u32`; thresholds and totals are little-endian `u64`. In order:
///
/// 1. `"role-sync fingerprint v1\0"`;
/// 2. mapped groups (count; by name): `str` name, `u8` listed (1/0), roles (count, `str` each,
///    sorted);
/// 3. managed roles (count, `str` each, sorted);
/// 4. status access table (count; in [`UserStatus`](crate::UserStatus) order): `str` status,
///    `u8` access (1 grant, 2 keep, 3 revoke); then `u8` unmatched (1 revoke, 2 keep), `u64`
///    maximum revoked users, `u64` maximum revoked percent, `u64` maximum escalations, minimum
///    holders (count; by role: `str` role, `u64` holders), `u8` conflict mode (1 block users,
///    2 block all), allowed guards (count; `u8` each: 1 empty source, 2 revocations,
///    3 escalations, 4 minimum holders, 5 conflicts);
/// 5. the user records, sorted by FNV-1a 64 of the folded login, then the folded login's bytes,
///    then the record's bytes, directory records before portal records of the same login:
///    - directory: `u8` 1, `str` login, `str` id, `str` status, mapped groups (count; `u32`
///      index into the sorted mapped groups, ascending, without repeats);
///    - portal: `u8` 2, `str` login, `u8` protected, grants (count; by role: `str` role, `u8`
///      source, 1 sync, 2 manual);
/// 6. `u8` 0, `u64` number of directory users, `u64` number of portal users.
///
/// Strings of 4 GiB or more are not supported.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseError::Fingerprint(s.to_owned());
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(error());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(error());
            };
            out[i] = hi << 4 | lo;
        }
        Ok(Self(out))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37);
        }
        let fingerprint = Fingerprint(bytes);
        let text = fingerprint.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Fingerprint>(), Ok(fingerprint));
        assert!(text.to_uppercase().parse::<Fingerprint>().is_err());
        assert!(text[1..].parse::<Fingerprint>().is_err());
        assert!(format!("{}zz", &text[2..]).parse::<Fingerprint>().is_err());
    }
}
