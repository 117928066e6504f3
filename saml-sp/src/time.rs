//! SAML time values: `xs:dateTime` in UTC, in and out.
//!
//! SAML core §1.3.3 says every time value is UTC with a `Z`; Okta writes milliseconds
//! (`2024-05-01T12:00:00.123Z`). A value with a numeric offset is read correctly too; one with
//! no time zone at all is refused, since it names no instant.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses an `xs:dateTime` that carries a time zone.
pub(crate) fn parse(value: &str) -> Option<SystemTime> {
    let t = OffsetDateTime::parse(value.trim(), &Rfc3339).ok()?;
    Some(t.into())
}

/// Formats an instant as SAML writes it: UTC, whole seconds, `Z`.
pub(crate) fn format(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `at + d`, saturating instead of overflowing (a far-future NotOnOrAfter plus the skew).
pub(crate) fn add(at: SystemTime, d: Duration) -> SystemTime {
    at.checked_add(d).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_style_values_round_trip() {
        let t = parse("2024-05-01T12:00:00.123Z").unwrap();
        assert_eq!(format(t), "2024-05-01T12:00:00Z");
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        assert_eq!(parse("2024-05-01T12:00:00Z"), Some(epoch));
        assert_eq!(parse("2024-05-01T14:00:00+02:00"), Some(epoch));
    }

    #[test]
    fn values_without_a_time_zone_are_refused() {
        assert_eq!(parse("2024-05-01T12:00:00"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
