//! The fingerprint of a plan's inputs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// A SHA-256 digest of everything a plan depends on, displayed as 64 lowercase hex digits.
///
/// It is computed by [`plan`](crate::plan) and by [`Fingerprint::of`] over a canonical binary
/// encoding (version-tagged `role-sync fingerprint v1`) of:
///
/// - the mapping: every mapped group with its roles, and the managed roles;
/// - the policy: the full status → access table, unmatched mode, thresholds, minimum holders,
///   conflict mode and overridden guards;
/// - for each mapped group, whether the directory listed it;
/// - every directory user (login as spelt, id, status, and its memberships in mapped groups);
/// - every portal user (login as spelt, protected flag, every grant with its source).
///
/// Records are taken in a canonical order that does not depend on insertion order, so equal
/// inputs built in any order have equal fingerprints. Groups the mapping does not name are not
/// covered: changing them cannot change a plan. The fingerprint detects a stale plan (inputs
/// changed since planning); it is not a signature and proves nothing about who made the plan.
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
