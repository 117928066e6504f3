//! Clients for the examples: the in-process sandbox by default, real tenants when the usual
//! environment variables are set.
//!
//! | variable | meaning |
//! |---|---|
//! | `OKTA_ORG_URL` | `https://{yourOktaDomain}`; setting it switches the Okta side to the real org |
//! | `OKTA_API_TOKEN` | an API token (auth type `api-token`) |
//! | `OKTA_CLIENT_ID` | the service app's client id (auth types `oauth` and `dpop`) |
//! | `OKTA_PRIVATE_KEY` | its private key: JWK JSON or PEM (PKCS#8, PKCS#1, SEC1), or `@path` to a file |
//! | `OKTA_KEY_ID` | the key's `kid`, when the key itself does not carry one |
//! | `OKTA_SCOPES` | default `okta.groups.read okta.users.read` |
//! | `OKTA_AUTH_SERVER` | a custom authorization server id (default: the org server) |
//! | `DUO_IKEY`, `DUO_SKEY`, `DUO_HOST` | a Duo *Auth API* application; setting them switches Duo to the real account |
//! | `DUO_ADMIN_IKEY`, `DUO_ADMIN_SKEY`, `DUO_ADMIN_HOST` | a Duo *Admin API* application |
//!
//! For DPoP a fresh P-256 proof key is generated at start, as Okta recommends: it is never the
//! client-authentication key.

use std::fmt;
use std::str::FromStr;

use duo_auth::{AuthClient, Credentials as DuoCredentials};
use idp_sandbox::Sandbox;
use okta_client::key::PrivateKey;
use okta_client::{ApiToken, Dpop, OktaClient, OktaDomain, PrivateKeyJwt};

/// Why a client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// An environment variable's value was refused.
    #[error("{var}: {message}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(var: &'static str, e: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        var,
        message: e.to_string(),
    }
}

fn env(var: &'static str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn required(var: &'static str) -> Result<String, ConfigError> {
    env(var).ok_or(ConfigError::Missing(var))
}

/// Okta's three auth types, as the ThreatLocker-style settings form offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OktaAuth {
    /// `Authorization: SSWS {token}`.
    ApiToken,
    /// A scoped OAuth 2.0 Bearer token from client credentials with `private_key_jwt`.
    OAuth,
    /// A scoped DPoP-bound token (the default for new Okta service apps).
    #[default]
    Dpop,
}

impl FromStr for OktaAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "api-token" | "ssws" => Ok(Self::ApiToken),
            "oauth" | "bearer" => Ok(Self::OAuth),
            "dpop" => Ok(Self::Dpop),
            other => Err(format!(
                "unknown Okta auth type {other:?}: use api-token, oauth or dpop"
            )),
        }
    }
}

impl fmt::Display for OktaAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ApiToken => "api-token",
            Self::OAuth => "oauth",
            Self::Dpop => "dpop",
        })
    }
}

/// Whether `OKTA_ORG_URL` points the examples at a real org.
pub fn real_okta() -> bool {
    env("OKTA_ORG_URL").is_some()
}

/// Whether `DUO_IKEY` points the examples at a real Duo account.
pub fn real_duo() -> bool {
    env("DUO_IKEY").is_some()
}

/// An Okta client for the real org described by the environment.
pub fn okta_from_env(auth: OktaAuth) -> Result<OktaClient, ConfigError> {
    let domain: OktaDomain = required("OKTA_ORG_URL")?
        .parse()
        .map_err(|e| invalid("OKTA_ORG_URL", e))?;
    let mut builder = match auth {
        OktaAuth::ApiToken => {
            let token = ApiToken::new(required("OKTA_API_TOKEN")?)
                .map_err(|e| invalid("OKTA_API_TOKEN", e))?;
            OktaClient::builder(domain, token)
        }
        OktaAuth::OAuth | OktaAuth::Dpop => {
            let key_text = required("OKTA_PRIVATE_KEY")?;
            let key_text = match key_text.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).map_err(|e| invalid("OKTA_PRIVATE_KEY", e))?
                }
                None => key_text,
            };
            let mut key =
                PrivateKey::parse(&key_text).map_err(|e| invalid("OKTA_PRIVATE_KEY", e))?;
            if let Some(kid) = env("OKTA_KEY_ID") {
                key = key.with_kid(kid);
            }
            let scopes =
                env("OKTA_SCOPES").unwrap_or_else(|| "okta.groups.read okta.users.read".to_owned());
            let client = PrivateKeyJwt::builder(required("OKTA_CLIENT_ID")?, key)
                .scopes(scopes.split_whitespace())
                .build()
                .map_err(|e| invalid("OKTA_CLIENT_ID", e))?;
            if auth == OktaAuth::Dpop {
                let dpop = Dpop::builder(client)
                    .build()
                    .map_err(|e| invalid("OKTA_PRIVATE_KEY", e))?;
                OktaClient::builder(domain, dpop)
            } else {
                OktaClient::builder(domain, client)
            }
        }
    };
    if let Some(server) = env("OKTA_AUTH_SERVER") {
        builder = builder.authorization_server(server);
    }
    builder.build().map_err(|e| invalid("OKTA_ORG_URL", e))
}

/// An Okta client for the sandbox's org, with the sandbox service app that fits `auth`.
pub fn okta_for_sandbox(
    sandbox: &Sandbox,
    auth: OktaAuth,
) -> Result<OktaClient, okta_client::Error> {
    let okta = &sandbox.credentials().okta;
    let domain = OktaDomain::try_from(okta)?;
    let builder = match auth {
        OktaAuth::ApiToken => OktaClient::builder(domain, ApiToken::try_from(okta)?),
        OktaAuth::OAuth => OktaClient::builder(domain, PrivateKeyJwt::try_from(&okta.bearer_rsa)?),
        // The DPoP app's credentials are DPoP credentials, with a fresh proof key.
        OktaAuth::Dpop => {
            OktaClient::builder(domain, okta_client::Credentials::try_from(&okta.dpop_rsa)?)
        }
    };
    builder.build()
}

/// A Duo Auth API client: the real account when `DUO_IKEY`/`DUO_SKEY`/`DUO_HOST` are set,
/// otherwise the sandbox's Auth API application (plain HTTP is allowed only for loopback).
pub fn duo_auth_client(
    sandbox: Option<&Sandbox>,
) -> Result<AuthClient, Box<dyn std::error::Error>> {
    if real_duo() {
        let creds = DuoCredentials::new(
            required("DUO_IKEY")?,
            required("DUO_SKEY")?,
            required("DUO_HOST")?,
        )?;
        return Ok(AuthClient::builder(creds).build()?);
    }
    let sandbox = sandbox.ok_or(ConfigError::Missing("DUO_IKEY"))?;
    Ok(
        AuthClient::builder(DuoCredentials::try_from(&sandbox.credentials().duo.auth)?)
            .loopback_http(true)
            .build()?,
    )
}

/// A Duo Admin API client: the real account when `DUO_ADMIN_IKEY`/`DUO_ADMIN_SKEY`/
/// `DUO_ADMIN_HOST` are set, otherwise the sandbox's Admin API application.
pub fn duo_admin_client(
    sandbox: Option<&Sandbox>,
) -> Result<duo_admin::AdminClient, Box<dyn std::error::Error>> {
    if env("DUO_ADMIN_IKEY").is_some() {
        let creds = DuoCredentials::new(
            required("DUO_ADMIN_IKEY")?,
            required("DUO_ADMIN_SKEY")?,
            required("DUO_ADMIN_HOST")?,
        )?;
        return Ok(duo_admin::AdminClient::builder(creds).build()?);
    }
    let sandbox = sandbox.ok_or(ConfigError::Missing("DUO_ADMIN_IKEY"))?;
    Ok(
        duo_admin::AdminClient::builder(DuoCredentials::try_from(
            &sandbox.credentials().duo.admin,
        )?)
        .loopback_http(true)
        .build()?,
    )
}
