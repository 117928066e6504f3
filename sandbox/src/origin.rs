//! Which scheme and host a request reached the sandbox through.
//!
//! Signed and asserted values name the URL the client called (Duo signs the host, Okta's client
//! assertions and DPoP proofs name the token URL), so handlers need the scheme of the listener
//! that took the request and the `Host` the client sent.

use axum::extract::FromRequestParts;
use http::request::Parts;

/// The listener's scheme, put into each request's extensions by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scheme(pub(crate) &'static str);

/// The origin a request was sent to: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: &'static str,
    /// The `Host` header as sent (with its port).
    pub(crate) host: String,
}

impl Origin {
    /// `scheme://host`.
    pub(crate) fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The host without its port, as Duo signs it.
    pub(crate) fn hostname(&self) -> &str {
        let h = self.host.as_str();
        if h.starts_with('[') {
            return h.find(']').map_or(h, |end| &h[..=end]);
        }
        match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let scheme = parts.extensions.get::<Scheme>().map_or("http", |s| s.0);
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        Ok(Origin { scheme, host })
    }
}
