//! Logins: kept as spelt for display, compared through a case-folded key.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A login as the directory or the portal spells it, compared case-insensitively.
///
/// The engine matches directory users to portal users by [`Login::key`]: every character mapped
/// to lower case with Unicode's simple (context-free) lowercase mapping, and the Greek final
/// sigma `ς` folded to `σ`. Nothing else is changed: no trimming, no Unicode normalization
/// (NFC/NFKC), no removal of dots or `+tags`. The original spelling is kept for display and is
/// what plans print and what [`Portal::apply`](crate::Portal::apply) creates.
///
/// Equality and ordering compare the key first and then the original spelling, so
/// `Alice@example.com` and `alice@example.com` are different `Login` values with the same key.
/// Two *directory* users with the same key are a conflict the plan reports (see
/// [`Conflict`](crate::Conflict)); the engine never silently picks one of them.
///
/// ```
/// use role_sync::Login;
///
/// let login = Login::new("Alice@Example.COM");
/// assert_eq!(login.as_str(), "Alice@Example.COM");
/// assert_eq!(login.key(), "alice@example.com");
/// assert_eq!(login.key(), Login::new("alice@example.com").key());
/// ```
#[derive(Clone)]
pub struct Login {
    original: String,
    /// The folded key when it differs from `original` (most logins are already lower case, so
    /// they share one allocation).
    folded: Option<Box<str>>,
}

impl Login {
    /// Wraps a login as spelt, computing its case-folded key.
    pub fn new(login: impl Into<String>) -> Self {
        let original = login.into();
        let folded = fold(&original).map(String::into_boxed_str);
        Self { original, folded }
    }

    /// The login as spelt by its source.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The case-folded key the engine matches on.
    pub fn key(&self) -> &str {
        self.folded.as_deref().unwrap_or(&self.original)
    }

    /// Whether the key differs from the spelling (without reading either string).
    pub(crate) fn is_folded(&self) -> bool {
        self.folded.is_some()
    }
}

/// Returns the folded form of `s`, or `None` when folding leaves it unchanged.
pub(crate) fn fold(s: &str) -> Option<String> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Some(s.to_ascii_lowercase());
        }
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == 'ς' {
            out.push('σ');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    if out == s { None } else { Some(out) }
}

impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        self.original == other.original
    }
}

impl Eq for Login {}

impl Hash for Login {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.original.hash(state);
    }
}

impl PartialOrd for Login {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Login {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key()
            .cmp(other.key())
            .then_with(|| self.original.cmp(&other.original))
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.original, f)
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl From<&str> for Login {
    fn from(login: &str) -> Self {
        Self::new(login)
    }
}

impl From<String> for Login {
    fn from(login: String) -> Self {
        Self::new(login)
    }
}

impl Serialize for Login {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.original)
    }
}

impl<'de> Deserialize<'de> for Login {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_lower_case_shares_the_allocation() {
        let login = Login::new("bob@example.com");
        assert!(login.folded.is_none());
        assert_eq!(login.key(), "bob@example.com");
    }

    #[test]
    fn ascii_upper_case_folds() {
        assert_eq!(Login::new("BoB@Example.Com").key(), "bob@example.com");
    }

    #[test]
    fn unicode_folds_without_context() {
        // `str::to_lowercase` would turn a word-final capital sigma into `ς`; the key folds
        // both sigmas to `σ` so every spelling meets.
        let a = Login::new("ΟΔΟΣ@example.gr");
        let b = Login::new("οδος@example.gr");
        let c = Login::new("οδοσ@example.gr");
        assert_eq!(a.key(), c.key());
        assert_eq!(b.key(), c.key());
        assert_eq!(Login::new("ÉLODIE@x").key(), "élodie@x");
    }

    #[test]
    fn equality_keeps_the_spelling() {
        assert_ne!(Login::new("A@x"), Login::new("a@x"));
        assert!(Login::new("A@x") < Login::new("a@x"));
        assert!(Login::new("a@x") < Login::new("B@x"));
    }

    #[test]
    fn nothing_but_case_changes() {
        assert_eq!(Login::new(" Alice@x ").key(), " alice@x ");
    }
}
