//! The Okta org URL, validated, and the token endpoint URLs derived from it.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainProblem, Error, Result};

/// A validated Okta org URL: `https://{domain}` with no path, query or credentials.
///
/// Plain `http://` is accepted only for loopback hosts (`127.0.0.0/8`, `localhost`, `[::1]`),
/// which is where test servers such as the workspace's sandbox listen.
///
/// ```
/// use okta_client::OktaDomain;
/// let d: OktaDomain = "https://Dev-123456.okta.com/".parse()?;
/// assert_eq!(d.as_str(), "https://dev-123456.okta.com");
/// assert_eq!(d.org_token_url(), "https://dev-123456.okta.com/oauth2/v1/token");
/// assert_eq!(d.custom_token_url("default")?, "https://dev-123456.okta.com/oauth2/default/v1/token");
///
/// let err = "https://dev-123456-admin.okta.com".parse::<OktaDomain>().unwrap_err();
/// assert!(err.to_string().contains("use https://dev-123456.okta.com"));
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OktaDomain {
    origin: String,
    host: String,
    loopback: bool,
}

impl OktaDomain {
    /// Validates an org URL; every refusal says how to fix the input.
    pub fn parse(input: &str) -> Result<Self> {
        let fail = |problem| Error::InvalidDomain {
            input: input.to_string(),
            problem,
        };
        let t = input.trim();
        if t.is_empty() {
            return Err(fail(DomainProblem::Empty));
        }
        let lower = t.to_ascii_lowercase();
        if lower.contains("youroktadomain") || t.contains('{') || t.contains('}') {
            return Err(fail(DomainProblem::Placeholder));
        }
        if !t.contains("://") {
            return Err(fail(DomainProblem::MissingScheme));
        }
        let url = url::Url::parse(t).map_err(|_| fail(DomainProblem::Unparseable))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(fail(DomainProblem::HasCredentials));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail(DomainProblem::HasQuery));
        }
        if !matches!(url.path(), "" | "/") {
            return Err(fail(DomainProblem::HasPath));
        }
        let host = match url.host() {
            Some(h) => h,
            None => return Err(fail(DomainProblem::Unparseable)),
        };
        let loopback = match &host {
            url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(fail(DomainProblem::NotHttps)),
        }
        if let url::Host::Domain(d) = &host
            && let Some((first, rest)) = d.split_once('.')
            && let Some(org) = first.strip_suffix("-admin")
            && !org.is_empty()
        {
            return Err(fail(DomainProblem::AdminDomain {
                suggestion: format!("{org}.{rest}"),
            }));
        }
        Ok(OktaDomain {
            origin: url.origin().ascii_serialization(),
            host: url.host_str().unwrap_or_default().to_string(),
            loopback,
        })
    }

    /// The org URL, `scheme://host[:port]`, no trailing slash.
    pub fn as_str(&self) -> &str {
        &self.origin
    }

    /// The host name (lower-case; IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether this is a loopback test server.
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The org authorization server's token endpoint, `…/oauth2/v1/token` (the only one that
    /// mints `okta.*` scopes for the management API).
    pub fn org_token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.origin)
    }

    /// A custom authorization server's token endpoint, `…/oauth2/{id}/v1/token`.
    pub fn custom_token_url(&self, authorization_server_id: &str) -> Result<String> {
        let id = authorization_server_id.trim();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::InvalidConfig(format!(
                "authorization server id {authorization_server_id:?} must be non-empty and \
                 contain only letters, digits, '-' and '_' (e.g. \"default\" or \"aus1a2b3c4\")"
            )));
        }
        Ok(format!("{}/oauth2/{id}/v1/token", self.origin))
    }
}

impl FromStr for OktaDomain {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for OktaDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(input: &str) -> DomainProblem {
        match OktaDomain::parse(input) {
            Err(Error::InvalidDomain { problem, .. }) => problem,
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn accepted() {
        for (input, want) in [
            ("https://dev-1.okta.com", "https://dev-1.okta.com"),
            ("  https://DEV-1.okta.com/  ", "https://dev-1.okta.com"),
            (
                "https://acme.oktapreview.com:443",
                "https://acme.oktapreview.com",
            ),
            (
                "https://login.example.com:8443",
                "https://login.example.com:8443",
            ),
            ("http://127.0.0.1:39001", "http://127.0.0.1:39001"),
            ("http://localhost:8080/", "http://localhost:8080"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ] {
            assert_eq!(OktaDomain::parse(input).unwrap().as_str(), want, "{input}");
        }
        assert!(
            OktaDomain::parse("http://127.0.0.1:1")
                .unwrap()
                .is_loopback()
        );
        assert!(
            !OktaDomain::parse("https://dev-1.okta.com")
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn refused_with_the_fix() {
        assert_eq!(problem(""), DomainProblem::Empty);
        assert_eq!(
            problem("https://{yourOktaDomain}"),
            DomainProblem::Placeholder
        );
        assert_eq!(problem("{yourOktaDomain}"), DomainProblem::Placeholder);
        assert_eq!(problem("dev-1.okta.com"), DomainProblem::MissingScheme);
        assert_eq!(problem("http://dev-1.okta.com"), DomainProblem::NotHttps);
        assert_eq!(problem("ftp://dev-1.okta.com"), DomainProblem::NotHttps);
        assert_eq!(
            problem("https://dev-1.okta.com/oauth2/default"),
            DomainProblem::HasPath
        );
        assert_eq!(
            problem("https://dev-1.okta.com/api/v1/users"),
            DomainProblem::HasPath
        );
        assert_eq!(
            problem("https://dev-1.okta.com?x=1"),
            DomainProblem::HasQuery
        );
        assert_eq!(problem("https://dev-1.okta.com#x"), DomainProblem::HasQuery);
        assert_eq!(
            problem("https://u:p@dev-1.okta.com"),
            DomainProblem::HasCredentials
        );
        assert_eq!(
            problem("https://dev-1-admin.okta.com"),
            DomainProblem::AdminDomain {
                suggestion: "dev-1.okta.com".into()
            }
        );
        assert_eq!(problem("https://"), DomainProblem::Unparseable);
        let msg = OktaDomain::parse("http://dev-1.okta.com")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("https://"), "{msg}");
    }

    #[test]
    fn custom_servers() {
        let d = OktaDomain::parse("https://dev-1.okta.com").unwrap();
        assert_eq!(
            d.custom_token_url("aus1x_y-Z").unwrap(),
            "https://dev-1.okta.com/oauth2/aus1x_y-Z/v1/token"
        );
        for bad in ["", "a/b", "../x", "a b", "default?x"] {
            assert!(d.custom_token_url(bad).is_err(), "{bad}");
        }
    }
}
