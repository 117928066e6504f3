//! A point in time, in whole seconds, written as RFC 3339 UTC everywhere a person reads it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch (UTC). Serialized as an RFC 3339 string such as
/// `"2026-12-05T17:00:00Z"`; read from RFC 3339 with any offset and fractional seconds (Okta's
/// `lastLogin` is `"2026-12-05T17:00:00.000Z"`), which are dropped.
///
/// ```
/// use access_review::Timestamp;
/// let t = Timestamp::parse_rfc3339("2026-12-05T18:00:00.250+01:00").unwrap();
/// assert_eq!(t, Timestamp::from_unix(1_796_490_000));
/// assert_eq!(t.to_string(), "2026-12-05T17:00:00Z");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

/// A timestamp that is not RFC 3339, or before 1970.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an RFC 3339 date-time at or after 1970-01-01T00:00:00Z")]
pub struct TimestampError {
    /// The refused text.
    pub value: String,
}

impl Timestamp {
    /// From seconds since the Unix epoch.
    pub const fn from_unix(seconds: u64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> u64 {
        self.0
    }

    /// From Duo's millisecond timestamps (the v2 authentication log), rounded down.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self(millis / 1000)
    }

    /// Now, by the system clock (a clock before 1970 reads as the epoch).
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Parses an RFC 3339 date-time.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let refused = || TimestampError {
            value: text.chars().take(64).collect(),
        };
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| refused())?;
        u64::try_from(parsed.unix_timestamp())
            .map(Self)
            .map_err(|_| refused())
    }

    /// Whole days from `self` to `later` (0 when `later` is not later).
    pub fn days_until(self, later: Timestamp) -> u64 {
        later.0.saturating_sub(self.0) / 86_400
    }

    /// `days` days earlier (saturating at the epoch).
    pub fn minus_days(self, days: u32) -> Self {
        Self(self.0.saturating_sub(u64::from(days) * 86_400))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Self(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = i64::try_from(self.0).unwrap_or(i64::MAX);
        // Beyond year 9999 RFC 3339 has no form; such a value can only come from a broken
        // clock or input, and is shown as the raw number rather than hidden.
        match OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
        {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if let Some(raw) = text.strip_prefix('@') {
            return raw.parse().map(Self).map_err(|_| {
                serde::de::Error::custom(TimestampError {
                    value: text.clone(),
                })
            });
        }
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        for t in [0, 1, 1_796_490_000, 253_402_300_799] {
            let t = Timestamp::from_unix(t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        }
        // Past year 9999: no RFC 3339 form, still lossless.
        let far = Timestamp::from_unix(u64::MAX);
        let json = serde_json::to_string(&far).unwrap();
        assert_eq!(json, format!("\"@{}\"", u64::MAX));
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), far);
    }

    #[test]
    fn refuses_what_is_not_rfc3339_or_before_1970() {
        for bad in [
            "",
            "yesterday",
            "2026-12-05",
            "2026-12-05 17:00:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_and_arithmetic_saturate() {
        let t = Timestamp::from_unix(10 * 86_400);
        assert_eq!(t.minus_days(3).days_until(t), 3);
        assert_eq!(t.days_until(t.minus_days(3)), 0);
        assert_eq!(
            Timestamp::from_unix(5).minus_days(1),
            Timestamp::from_unix(0)
        );
        assert_eq!(Timestamp::from_unix_millis(1_999), Timestamp::from_unix(1));
    }
}
