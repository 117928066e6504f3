//! The `Date` string Duo signs.
//!
//! Duo compares the signed date with its clock (about five minutes of skew allowed) and signs the
//! header value byte for byte, so the string must be exactly what is sent. The official clients
//! send Python's `email.utils.formatdate()`: `Tue, 21 Aug 2012 17:29:18 -0000`. We format that
//! shape ourselves rather than through a date crate because the common ones either print
//! `GMT`/`+0000` (a different, if equally valid, string) or panic on times outside their range;
//! here an out-of-range time is an error.

use std::time::{SystemTime, UNIX_EPOCH};

use super::SignError;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats a time as the RFC 2822 date Duo's own clients send, in UTC:
/// `Tue, 21 Aug 2012 17:29:18 -0000`.
///
/// Times before 1970 or after year 9999 are refused with [`SignError::InvalidDate`].
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(1_345_570_158);
/// assert_eq!(duo_auth::sign::format_date(t).unwrap(), "Tue, 21 Aug 2012 17:29:18 -0000");
/// ```
pub fn format_date(time: SystemTime) -> Result<String, SignError> {
    let out_of_range = || SignError::InvalidDate {
        date: format!("{time:?} (outside 1970..=9999)"),
    };
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| out_of_range())?
        .as_secs();
    // 253402300800 is 10000-01-01T00:00:00Z: four-digit years only.
    if secs >= 253_402_300_800 {
        return Err(out_of_range());
    }
    Ok(format_unix(secs))
}

/// Formats whole seconds since the Unix epoch; callers guarantee the year has four digits.
fn format_unix(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} -0000",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days` for non-negative day counts since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Checks that a date string can be signed and sent as a header value.
///
/// The canonicalizer never parses the date (Duo signs the string as sent), but a line break
/// would corrupt both the canonical string and the header, so only printable ASCII is accepted.
pub(crate) fn validate_date(date: &str) -> Result<(), SignError> {
    if date.is_empty() || !date.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(SignError::InvalidDate {
            date: date.to_owned(),
        });
    }
    Ok(())
}

/// The same as [`format_date`] for a number of seconds since the epoch; used by tests.
#[cfg(test)]
pub(crate) fn format_secs(secs: u64) -> String {
    format_date(UNIX_EPOCH + std::time::Duration::from_secs(secs)).expect("in range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(format_secs(0), "Thu, 01 Jan 1970 00:00:00 -0000");
        assert_eq!(format_secs(951_782_400), "Tue, 29 Feb 2000 00:00:00 -0000");
        assert_eq!(
            format_secs(1_345_570_158),
            "Tue, 21 Aug 2012 17:29:18 -0000"
        );
        assert_eq!(
            format_secs(253_402_300_799),
            "Fri, 31 Dec 9999 23:59:59 -0000"
        );
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(format_date(UNIX_EPOCH - Duration::from_secs(1)).is_err());
        assert!(format_date(UNIX_EPOCH + Duration::from_secs(253_402_300_800)).is_err());
    }

    #[test]
    fn validation() {
        assert!(validate_date("Tue, 21 Aug 2012 17:29:18 -0000").is_ok());
        assert!(validate_date("").is_err());
        assert!(validate_date("Tue, 21 Aug 2012\n17:29:18 -0000").is_err());
        assert!(validate_date("Dí, 21 Aug 2012 17:29:18 -0000").is_err());
    }
}
