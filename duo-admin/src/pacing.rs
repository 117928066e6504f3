//! Client-side pacing: spread requests out so a long import does not collect 429s.
//!
//! Duo publishes no request rates for the users, phones, groups and admins endpoints (its rate
//! limits page covers object counts, SSO and the log endpoints, which it asks to be polled about
//! once a minute); it answers 429 when a client goes too fast. Pacing is therefore off by
//! default, and [`Pacing::conservative`] is a starting point — 120 reads, 60 writes and 1 log
//! request per minute per application — not a figure of Duo's. Each endpoint class is paced
//! independently: requests are spaced `60 s / per_minute` apart, the first one at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use duo_auth::sign::Method;

/// The endpoint classes paced separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointClass {
    /// Reads (GET), except logs.
    Read,
    /// Writes (POST, PUT, DELETE, PATCH).
    Write,
    /// Log endpoints (`…/logs/…`).
    Logs,
}

impl EndpointClass {
    /// The class of a request.
    pub fn of(method: Method, path: &str) -> Self {
        if path.contains("/logs/") {
            EndpointClass::Logs
        } else if method == Method::Get {
            EndpointClass::Read
        } else {
            EndpointClass::Write
        }
    }
}

/// Requests per minute for each endpoint class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Reads per minute.
    pub reads_per_minute: u32,
    /// Writes per minute.
    pub writes_per_minute: u32,
    /// Log requests per minute.
    pub logs_per_minute: u32,
}

impl Pacing {
    /// 120 reads, 60 writes, 1 log request per minute (see the module docs: ours, not Duo's).
    pub fn conservative() -> Self {
        Self {
            reads_per_minute: 120,
            writes_per_minute: 60,
            logs_per_minute: 1,
        }
    }

    fn interval(&self, class: EndpointClass) -> Duration {
        let per_minute = match class {
            EndpointClass::Read => self.reads_per_minute,
            EndpointClass::Write => self.writes_per_minute,
            EndpointClass::Logs => self.logs_per_minute,
        };
        Duration::from_secs(60) / per_minute.max(1)
    }
}

/// The pacer's state: when each class may send next.
#[derive(Debug)]
pub(crate) struct Pacer {
    pacing: Pacing,
    next: Mutex<HashMap<EndpointClass, SystemTime>>,
}

impl Pacer {
    pub(crate) fn new(pacing: Pacing) -> Self {
        Self {
            pacing,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves the next slot of `class` and returns how long to wait for it.
    pub(crate) fn reserve(&self, class: EndpointClass, now: SystemTime) -> Duration {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = next
            .get(&class)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now);
        next.insert(class, slot + self.pacing.interval(class));
        slot.duration_since(now).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_each_class_on_its_own() {
        let pacer = Pacer::new(Pacing {
            reads_per_minute: 60,
            writes_per_minute: 30,
            logs_per_minute: 1,
        });
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let reads: Vec<u64> = (0..4)
            .map(|_| pacer.reserve(EndpointClass::Read, t).as_secs())
            .collect();
        assert_eq!(reads, [0, 1, 2, 3]);
        assert_eq!(pacer.reserve(EndpointClass::Write, t), Duration::ZERO);
        assert_eq!(
            pacer.reserve(EndpointClass::Write, t),
            Duration::from_secs(2)
        );
        // Time passing frees the slots.
        assert_eq!(
            pacer.reserve(EndpointClass::Read, t + Duration::from_secs(10)),
            Duration::ZERO
        );
        assert_eq!(
            EndpointClass::of(Method::Get, "/admin/v2/logs/authentication"),
            EndpointClass::Logs
        );
        assert_eq!(
            EndpointClass::of(Method::Post, "/admin/v1/users"),
            EndpointClass::Write
        );
    }
}
