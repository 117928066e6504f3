//! The errors of the Universal Prompt client.

use thiserror::Error;

use crate::error::Error;

/// Why a Universal Prompt configuration was refused. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UniversalConfigError {
    /// The client id is not 20 characters long.
    #[error(
        "the client id must be exactly 20 characters, not {0}: copy it from the Web SDK application's page in the Duo Admin Panel"
    )]
    ClientId(usize),
    /// The client secret is not 40 characters long.
    #[error(
        "the client secret must be exactly 40 characters, not {0}: copy it from the Web SDK application's page in the Duo Admin Panel"
    )]
    ClientSecret(usize),
    /// The API hostname is empty or malformed.
    #[error("invalid API hostname {host:?}: {reason}")]
    ApiHost {
        /// The hostname as given.
        host: String,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
    /// The redirect URI is not an absolute `http(s)` URL.
    #[error("invalid redirect URI {uri:?}: {reason}")]
    RedirectUri {
        /// The URI as given.
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Plain HTTP was asked for a host that is not a loopback address.
    #[error("plain HTTP is only allowed for loopback hosts, not {0}")]
    PlainHttp(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// Why an `id_token` was rejected. Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a compact JWS with a JSON header and a JSON object of claims.
    #[error("malformed id_token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than `HS512` (`none` included).
    #[error("the id_token is signed with {0:?}, only HS512 is accepted")]
    Algorithm(String),
    /// The HMAC does not verify with the client secret.
    #[error("the id_token signature does not verify with the client secret")]
    Signature,
    /// A required claim is missing.
    #[error("the id_token has no {0} claim")]
    MissingClaim(&'static str),
    /// `aud` is not the client id.
    #[error("the id_token audience is not this client id")]
    Audience,
    /// `iss` is not `https://{host}/oauth/v1/token`.
    #[error("the id_token issuer is not {expected}")]
    Issuer {
        /// The issuer expected.
        expected: String,
    },
    /// `exp` has passed (beyond the leeway).
    #[error("the id_token expired at {exp} (now {now}, leeway 60 s)")]
    Expired {
        /// The token's `exp`.
        exp: f64,
        /// The time of the check.
        now: u64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("the id_token is issued in the future, at {iat} (now {now}, leeway 60 s)")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: f64,
        /// The time of the check.
        now: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error("the id_token is not valid before {nbf} (now {now}, leeway 60 s)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: f64,
        /// The time of the check.
        now: u64,
    },
    /// `preferred_username` is missing or not the user who signed in.
    #[error("the id_token is for another user")]
    Username,
    /// The nonce sent is missing from the token or differs.
    #[error("the id_token nonce does not match the one sent")]
    Nonce,
}

/// Everything that can go wrong with the Universal Prompt.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UniversalError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] UniversalConfigError),
    /// The state is not 22 to 1024 characters.
    #[error("the state must be 22 to 1024 characters, not {0}")]
    StateLength(usize),
    /// The nonce is not 16 to 1024 characters.
    #[error("the nonce must be 16 to 1024 characters, not {0}")]
    NonceLength(usize),
    /// The username is empty.
    #[error("the username is empty")]
    EmptyUsername,
    /// The `duo_code` is empty.
    #[error("the duo_code is empty")]
    EmptyCode,
    /// The `state` of the callback is not the one this session sent.
    #[error("the state returned by Duo does not match the one sent")]
    StateMismatch,
    /// No answer, a timeout, a Duo error envelope or an answer that could not be read.
    #[error(transparent)]
    Http(#[from] Error),
    /// Duo refused the code exchange with an OAuth error (`invalid_grant`, …).
    #[error("Duo refused the code exchange (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    TokenRefused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error`.
        error: String,
        /// The OAuth `error_description`, when given.
        description: Option<String>,
    },
    /// The `id_token` Duo returned was rejected.
    #[error("id_token rejected: {0}")]
    IdToken(#[from] IdTokenError),
}

impl UniversalError {
    /// Whether trying again later might succeed (network failures, timeouts, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            UniversalError::Http(e) => e.is_transient(),
            UniversalError::TokenRefused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
