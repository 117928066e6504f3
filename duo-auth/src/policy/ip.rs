//! "Skip Duo when the current IP equals the IP of the user's last successful Duo
//! authentication" — a pure decision, plus a small store for the last IPs.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Reads an IP address as portals receive them (`X-Forwarded-For` entries, socket addresses):
/// surrounding whitespace, `[…]` brackets and an IPv6 zone (`%eth0`) are removed, and an
/// IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) becomes the IPv4 address it carries, so the
/// same client compares equal however it arrived.
///
/// ```
/// use duo_auth::policy::ip::normalize;
/// assert_eq!(normalize("::ffff:192.0.2.1"), normalize("192.0.2.1"));
/// assert_eq!(normalize("[2001:db8::1]").unwrap().to_string(), "2001:db8::1");
/// assert!(normalize("not an ip").is_none());
/// ```
pub fn normalize(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(t);
    let t = t.split('%').next().unwrap_or(t);
    let ip: IpAddr = t.parse().ok()?;
    Some(canonical(ip))
}

/// The canonical form of an address: IPv4-mapped IPv6 as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The user's last successful Duo authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAuth {
    /// From where.
    pub ip: IpAddr,
    /// When.
    pub at: SystemTime,
}

/// Settings of the IP skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpSkip {
    /// Whether the skip is on (off by default: every login sees Duo).
    pub enabled: bool,
    /// How long a last authentication counts; `None` for as long as it is the last one.
    pub max_age: Option<Duration>,
}

/// Whether Duo may be skipped, and why (or why not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpDecision {
    /// Skip Duo: the user authenticated from this address before.
    Skip,
    /// The skip is off.
    Disabled,
    /// The user has never authenticated with Duo (never skipped).
    NeverAuthenticated,
    /// The address differs from the last one.
    DifferentIp,
    /// The last authentication is older than `max_age`.
    Expired,
}

impl IpSkip {
    /// Decides for one login. `now` is an input so the decision stays pure.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use duo_auth::policy::ip::{IpDecision, IpSkip, LastAuth, normalize};
    /// let skip = IpSkip { enabled: true, max_age: None };
    /// let last = LastAuth { ip: normalize("192.0.2.1").unwrap(), at: SystemTime::now() };
    /// let now = SystemTime::now();
    /// assert_eq!(skip.decide(normalize("::ffff:192.0.2.1").unwrap(), Some(&last), now), IpDecision::Skip);
    /// assert_eq!(skip.decide(normalize("192.0.2.1").unwrap(), None, now), IpDecision::NeverAuthenticated);
    /// ```
    pub fn decide(&self, current: IpAddr, last: Option<&LastAuth>, now: SystemTime) -> IpDecision {
        if !self.enabled {
            return IpDecision::Disabled;
        }
        let Some(last) = last else {
            return IpDecision::NeverAuthenticated;
        };
        if canonical(current) != canonical(last.ip) {
            return IpDecision::DifferentIp;
        }
        if let Some(max_age) = self.max_age {
            // A last authentication "in the future" (clock moved back) does not count as fresh.
            match now.duration_since(last.at) {
                Ok(age) if age <= max_age => {}
                _ => return IpDecision::Expired,
            }
        }
        IpDecision::Skip
    }
}

/// Where the last successful authentication of each user is kept (a database table in a real
/// portal). Keys are Duo usernames.
pub trait LastAuthStore: Send + Sync {
    /// The user's last successful authentication, if any.
    fn last(&self, duo_username: &str) -> impl Future<Output = Option<LastAuth>> + Send;
    /// Records a successful authentication.
    fn record(&self, duo_username: &str, auth: LastAuth) -> impl Future<Output = ()> + Send;
}

/// A [`LastAuthStore`] in memory (tests, single-process portals).
#[derive(Debug, Default)]
pub struct InMemoryLastAuthStore {
    map: Mutex<HashMap<String, LastAuth>>,
}

impl InMemoryLastAuthStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LastAuth>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LastAuthStore for InMemoryLastAuthStore {
    async fn last(&self, duo_username: &str) -> Option<LastAuth> {
        self.lock().get(duo_username).copied()
    }

    async fn record(&self, duo_username: &str, auth: LastAuth) {
        self.lock().insert(duo_username.to_owned(), auth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(normalize(" 10.0.0.1 ").unwrap().to_string(), "10.0.0.1");
        assert_eq!(
            normalize("::ffff:10.0.0.1").unwrap().to_string(),
            "10.0.0.1"
        );
        assert_eq!(
            normalize("[::ffff:10.0.0.1]").unwrap().to_string(),
            "10.0.0.1"
        );
        assert_eq!(normalize("fe80::1%eth0").unwrap().to_string(), "fe80::1");
        assert_eq!(
            normalize("2001:DB8::0001").unwrap().to_string(),
            "2001:db8::1"
        );
        // IPv4-compatible (deprecated ::a.b.c.d) is not IPv4-mapped and stays IPv6.
        assert!(normalize("::10.0.0.1").unwrap().is_ipv6());
        assert!(normalize("").is_none());
        assert!(normalize("10.0.0.256").is_none());
    }

    #[test]
    fn decisions() {
        let ip = |s| normalize(s).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let last = LastAuth {
            ip: ip("192.0.2.1"),
            at: t0,
        };
        let on = IpSkip {
            enabled: true,
            max_age: Some(Duration::from_secs(3600)),
        };
        assert_eq!(
            on.decide(ip("192.0.2.1"), Some(&last), t0 + Duration::from_secs(60)),
            IpDecision::Skip
        );
        assert_eq!(
            on.decide(ip("::ffff:192.0.2.1"), Some(&last), t0),
            IpDecision::Skip
        );
        assert_eq!(
            on.decide(ip("192.0.2.2"), Some(&last), t0),
            IpDecision::DifferentIp
        );
        assert_eq!(
            on.decide(ip("192.0.2.1"), Some(&last), t0 + Duration::from_secs(3601)),
            IpDecision::Expired
        );
        assert_eq!(
            on.decide(ip("192.0.2.1"), Some(&last), t0 - Duration::from_secs(1)),
            IpDecision::Expired
        );
        assert_eq!(
            on.decide(ip("192.0.2.1"), None, t0),
            IpDecision::NeverAuthenticated
        );
        assert_eq!(
            IpSkip::default().decide(ip("192.0.2.1"), Some(&last), t0),
            IpDecision::Disabled
        );
    }
}
