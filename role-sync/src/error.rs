//! Parse errors for the crate's small value types.

/// A value that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not one of the supported sync intervals.
    #[error("unknown sync interval {0:?}: expected one of 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h")]
    Interval(String),
    /// Not a fingerprint (64 lowercase hexadecimal digits).
    #[error("invalid fingerprint {0:?}: expected 64 lowercase hexadecimal digits")]
    Fingerprint(String),
}
