//! How often a sync runs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// How often the integrator runs a sync: one of a fixed set of intervals, 15 minutes by default.
///
/// Parses from and displays as `5m`, `15m`, `30m`, `1h`, `2h`, `4h`, `6h`, `12h` (serde uses the
/// same text); converts to a [`Duration`].
///
/// ```
/// use std::time::Duration;
/// use role_sync::SyncInterval;
///
/// let interval: SyncInterval = "4h".parse()?;
/// assert_eq!(interval.as_duration(), Duration::from_secs(4 * 3600));
/// assert_eq!(SyncInterval::default().to_string(), "15m");
/// assert!("10m".parse::<SyncInterval>().is_err());
/// # Ok::<(), role_sync::ParseError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncInterval {
    /// Every 5 minutes.
    FiveMinutes,
    /// Every 15 minutes (the default).
    #[default]
    FifteenMinutes,
    /// Every 30 minutes.
    ThirtyMinutes,
    /// Every hour.
    OneHour,
    /// Every 2 hours.
    TwoHours,
    /// Every 4 hours.
    FourHours,
    /// Every 6 hours.
    SixHours,
    /// Every 12 hours.
    TwelveHours,
}

impl SyncInterval {
    /// Every interval, shortest first.
    pub const ALL: [SyncInterval; 8] = [
        SyncInterval::FiveMinutes,
        SyncInterval::FifteenMinutes,
        SyncInterval::ThirtyMinutes,
        SyncInterval::OneHour,
        SyncInterval::TwoHours,
        SyncInterval::FourHours,
        SyncInterval::SixHours,
        SyncInterval::TwelveHours,
    ];

    /// The text form (`15m`, `1h`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncInterval::FiveMinutes => "5m",
            SyncInterval::FifteenMinutes => "15m",
            SyncInterval::ThirtyMinutes => "30m",
            SyncInterval::OneHour => "1h",
            SyncInterval::TwoHours => "2h",
            SyncInterval::FourHours => "4h",
            SyncInterval::SixHours => "6h",
            SyncInterval::TwelveHours => "12h",
        }
    }

    /// The interval as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        let minutes = match self {
            SyncInterval::FiveMinutes => 5,
            SyncInterval::FifteenMinutes => 15,
            SyncInterval::ThirtyMinutes => 30,
            SyncInterval::OneHour => 60,
            SyncInterval::TwoHours => 120,
            SyncInterval::FourHours => 240,
            SyncInterval::SixHours => 360,
            SyncInterval::TwelveHours => 720,
        };
        Duration::from_secs(minutes * 60)
    }
}

impl From<SyncInterval> for Duration {
    fn from(interval: SyncInterval) -> Self {
        interval.as_duration()
    }
}

impl FromStr for SyncInterval {
    type Err = ParseError;

    /// Exactly one of the text forms (no spaces, lower-case unit).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncInterval::ALL
            .into_iter()
            .find(|interval| interval.as_str() == s)
            .ok_or_else(|| ParseError::Interval(s.to_owned()))
    }
}

impl fmt::Display for SyncInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SyncInterval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SyncInterval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_duration_and_serde_agree() {
        let expected = [5, 15, 30, 60, 120, 240, 360, 720];
        for (interval, minutes) in SyncInterval::ALL.into_iter().zip(expected) {
            assert_eq!(interval.as_str().parse::<SyncInterval>(), Ok(interval));
            assert_eq!(Duration::from(interval), Duration::from_secs(minutes * 60));
            let json = serde_json::to_string(&interval).unwrap();
            assert_eq!(json, format!("\"{interval}\""));
            assert_eq!(
                serde_json::from_str::<SyncInterval>(&json).unwrap(),
                interval
            );
        }
        assert!(SyncInterval::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "15", "15M", " 15m", "60m", "1d", "10m", "0m"] {
            assert_eq!(
                bad.parse::<SyncInterval>(),
                Err(ParseError::Interval(bad.to_owned()))
            );
        }
        assert!(serde_json::from_str::<SyncInterval>("\"3h\"").is_err());
        assert_eq!(SyncInterval::default(), SyncInterval::FifteenMinutes);
    }
}
