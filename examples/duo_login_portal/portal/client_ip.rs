//! Which address a request comes from, for the "same IP as last time" Duo skip and the
//! per-source brute-force count.
//!
//! Both are security decisions, so the address must be one the client cannot choose. The
//! socket's peer address is such an address. `X-Forwarded-For` is not: any client can send one.
//! It is believed only when the peer is a reverse proxy the integrator listed as trusted
//! (`--trusted-proxy`), and then only the part that proxy added: the list is read from the right
//! (the proxy appends the address it saw) and the first entry that is not itself a trusted proxy
//! is the client. Whatever a client wrote further left is never read.
//!
//! `Forwarded` (RFC 7239) is not read at all: a proxy configured for this portal sets
//! `X-Forwarded-For`, and reading two headers would give a client two chances.

use std::net::IpAddr;

use axum::http::HeaderMap;
use duo_auth::policy::ip::{canonical, normalize};

/// The header a trusted proxy appends the client's address to.
pub(crate) const FORWARDED_FOR: &str = "x-forwarded-for";

/// The reverse proxies whose `X-Forwarded-For` is believed; none by default.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    pub(crate) fn new(proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        TrustedProxies(proxies.into_iter().map(canonical).collect())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy. `None` when a
    /// trusted proxy sent no usable `X-Forwarded-For`: the client is then unknown, and guessing
    /// (the proxy's own address, shared by everyone behind it) would let one user pass for
    /// another.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return Some(peer);
        }
        // Several header lines are one list, in order (RFC 9110 §5.3).
        let entries: Vec<&str> = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().ok())
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = None;
        for entry in entries.iter().rev() {
            // An entry that is not an address (`unknown`, garbage) ends what can be believed.
            let ip = normalize(entry)?;
            client = Some(ip);
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let h = forwarded(&["198.51.100.7"]);
        assert_eq!(none.client(ip("127.0.0.3"), &h), Some(ip("127.0.0.3")));
        assert_eq!(
            none.client(ip("::ffff:127.0.0.3"), &h),
            Some(ip("127.0.0.3"))
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_it_saw() {
        let proxies = TrustedProxies::new([ip("10.0.0.1"), ip("10.0.0.2")]);
        let proxy = ip("10.0.0.1");
        // The client's own entries (left) are not read past the proxy's.
        let h = forwarded(&["198.51.100.7, 203.0.113.9"]);
        assert_eq!(proxies.client(proxy, &h), Some(ip("203.0.113.9")));
        // Two lines are one list; a chain of trusted proxies is walked through.
        let h = forwarded(&["198.51.100.7", "203.0.113.9, 10.0.0.2"]);
        assert_eq!(proxies.client(proxy, &h), Some(ip("203.0.113.9")));
        // An untrusted peer's header is ignored.
        assert_eq!(proxies.client(ip("10.0.0.3"), &h), Some(ip("10.0.0.3")));
        // A trusted proxy that says nothing usable: unknown, not the proxy's address.
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), None);
        assert_eq!(proxies.client(proxy, &forwarded(&["unknown"])), None);
        assert_eq!(proxies.client(proxy, &forwarded(&["1.2.3.4, junk"])), None);
        // Only trusted proxies in the list: the furthest one is the client.
        let h = forwarded(&["10.0.0.2"]);
        assert_eq!(proxies.client(proxy, &h), Some(ip("10.0.0.2")));
    }
}
