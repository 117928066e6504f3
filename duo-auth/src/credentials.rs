//! Integration credentials: integration key, secret key and API hostname.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

/// A Duo secret key (`skey`) or other shared secret.
///
/// `Debug` prints `SecretKey([redacted])` and the memory is zeroized on drop. The only way to
/// read it is [`expose_secret`](Self::expose_secret), so reading it is visible in code review.
#[derive(Clone)]
pub struct SecretKey(SecretString);

impl SecretKey {
    /// Wraps a secret value.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret itself. Use it to compute a MAC, never to log or display.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Stands for a secret in a `Debug` output: says that there is one, never what it is.
#[cfg(feature = "client")]
#[derive(Clone, Copy)]
pub(crate) struct Redacted;

#[cfg(feature = "client")]
impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(feature = "client")]
impl Redacted {
    /// `Some([redacted])` or `None`, for an optional secret.
    pub(crate) fn option<T>(value: &Option<T>) -> Option<Redacted> {
        value.as_ref().map(|_| Redacted)
    }
}

impl From<String> for SecretKey {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretKey {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Why credentials were refused. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The integration key is empty.
    #[error(
        "the integration key is empty: copy it from the application's page in the Duo Admin Panel"
    )]
    EmptyIntegrationKey,
    /// The integration key contains whitespace, `:` or non-printable characters.
    #[error(
        "the integration key {0:?} is malformed: it should look like DIXXXXXXXXXXXXXXXXXX (letters and digits)"
    )]
    MalformedIntegrationKey(String),
    /// The secret key is empty.
    #[error("the secret key is empty: copy it from the application's page in the Duo Admin Panel")]
    EmptySecretKey,
    /// The API hostname is empty or malformed.
    #[error("invalid API hostname {host:?}: {reason}")]
    ApiHost {
        /// The hostname as given.
        host: String,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
}

/// The three values of a Duo application: integration key, secret key, API hostname.
///
/// Values are trimmed of surrounding whitespace (they are usually pasted). The hostname is the
/// bare host (`api-xxxxxxxx.duosecurity.com`); a `:port` is accepted for loopback test servers
/// and is not part of what Duo signs.
///
/// ```
/// use duo_auth::Credentials;
/// let creds = Credentials::new("DIWJ8X6AEYOR5OMC6TQ1", "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep", "api-xxxxxxxx.duosecurity.com")?;
/// assert_eq!(creds.integration_key(), "DIWJ8X6AEYOR5OMC6TQ1");
/// assert!(!format!("{creds:?}").contains("Zh5eGm"));
///
/// let err = Credentials::new("DIXX", "secret", "https://api-xxxxxxxx.duosecurity.com").unwrap_err();
/// assert!(err.to_string().contains("scheme"));
/// # Ok::<(), duo_auth::CredentialsError>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    integration_key: String,
    secret_key: SecretKey,
    api_host: String,
}

impl Credentials {
    /// Validates and wraps an application's credentials.
    pub fn new(
        integration_key: impl Into<String>,
        secret_key: impl Into<SecretKey>,
        api_host: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let integration_key = integration_key.into().trim().to_owned();
        if integration_key.is_empty() {
            return Err(CredentialsError::EmptyIntegrationKey);
        }
        if !integration_key
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b':')
        {
            return Err(CredentialsError::MalformedIntegrationKey(integration_key));
        }
        let secret_key = secret_key.into();
        let trimmed = secret_key.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(CredentialsError::EmptySecretKey);
        }
        let secret_key = if trimmed.len() == secret_key.expose_secret().len() {
            secret_key
        } else {
            SecretKey::new(trimmed)
        };
        let api_host = validate_api_host(api_host.into().trim())?;
        Ok(Self {
            integration_key,
            secret_key,
            api_host,
        })
    }

    /// The integration key (`ikey`): not a secret, it names the application.
    pub fn integration_key(&self) -> &str {
        &self.integration_key
    }

    /// The secret key (`skey`).
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret_key
    }

    /// The API hostname as given (with its `:port`, if any).
    pub fn api_host(&self) -> &str {
        &self.api_host
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("integration_key", &self.integration_key)
            .field("secret_key", &self.secret_key)
            .field("api_host", &self.api_host)
            .finish()
    }
}

/// Whether an API host (with or without port) is a loopback address or `localhost`: the only
/// hosts the clients will talk plain HTTP to.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = crate::sign::host_without_port(host);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn validate_api_host(host: &str) -> Result<String, CredentialsError> {
    let bad = |reason| {
        Err(CredentialsError::ApiHost {
            host: host.to_owned(),
            reason,
        })
    };
    if host.is_empty() {
        return bad(
            "it is empty: copy the API hostname from the application's page in the Duo Admin Panel",
        );
    }
    if host.contains("://") {
        return bad("remove the scheme: give the bare hostname, e.g. api-xxxxxxxx.duosecurity.com");
    }
    if host.contains(['/', '?', '#']) {
        return bad("remove the path: give the bare hostname, e.g. api-xxxxxxxx.duosecurity.com");
    }
    if host.contains('@') {
        return bad("remove the user name: give the bare hostname");
    }
    let name = crate::sign::host_without_port(host);
    let port_ok = match host.get(name.len()..) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|n| n > 0)),
        None => false,
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !name_ok || !port_ok {
        return bad("a hostname has only letters, digits, '-' and '.', optionally ':port'");
    }
    Ok(host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_trims() {
        let c = Credentials::new(
            " DIXXXXXXXXXXXXXXXXXX\n",
            "  skey \n",
            "API-x.duosecurity.com ",
        )
        .unwrap();
        assert_eq!(c.integration_key(), "DIXXXXXXXXXXXXXXXXXX");
        assert_eq!(c.secret_key().expose_secret(), "skey");
        assert_eq!(c.api_host(), "API-x.duosecurity.com");
        assert!(Credentials::new("DI", "s", "127.0.0.1:8443").is_ok());
        assert!(Credentials::new("DI", "s", "[::1]:8443").is_ok());
    }

    #[test]
    fn refuses_with_reasons() {
        let cases = [
            ("", "s", "h", "integration key is empty"),
            ("DI X", "s", "h", "malformed"),
            ("DI:X", "s", "h", "malformed"),
            ("DI", " ", "h", "secret key is empty"),
            ("DI", "s", "", "empty"),
            ("DI", "s", "https://api-x.duosecurity.com", "scheme"),
            ("DI", "s", "api-x.duosecurity.com/auth/v2", "path"),
            ("DI", "s", "api x.duosecurity.com", "letters"),
            ("DI", "s", "host:99999", "letters"),
            ("DI", "s", "[zz]:1", "letters"),
        ];
        for (ikey, skey, host, needle) in cases {
            let err = Credentials::new(ikey, skey, host).unwrap_err().to_string();
            assert!(err.contains(needle), "{ikey:?} {host:?}: {err}");
        }
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials::new("DIXX", "very-secret-value", "h.example").unwrap();
        let shown = format!("{c:?} {:?} {:#?}", c.secret_key(), c);
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
