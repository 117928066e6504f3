//! The crate's error type.

use std::time::Duration;

use thiserror::Error;

use crate::{CredentialsError, sign::SignError};

/// An error answer from Duo: `{"stat":"FAIL","code":…,"message":…,"message_detail":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DuoError {
    /// The HTTP status.
    pub status: u16,
    /// Duo's error code (`40103`, …); `None` when Duo sent none or an empty one.
    pub code: Option<u32>,
    /// Duo's message.
    pub message: String,
    /// Duo's `message_detail`, when given.
    pub message_detail: Option<String>,
}

impl std::fmt::Display for DuoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", code {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(detail) = &self.message_detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to Duo.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The client was configured with values that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The credentials were refused before any request was made.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// No answer: the connection failed or was cut. When the API host is a loopback address and
    /// the request went out over HTTPS, the message says how to reach a local sandbox.
    #[error("could not reach Duo: {0}{hint}", hint = loopback_hint(.0))]
    Transport(#[source] reqwest::Error),
    /// No answer within the timeout.
    #[error("Duo did not answer within {0:?}")]
    Timeout(Duration),
    /// The answer's body was larger than the client reads ([`Limits::max_body_bytes`]); it was
    /// refused as it arrived, not read whole.
    ///
    /// [`Limits::max_body_bytes`]: crate::transport::Limits::max_body_bytes
    #[error(
        "Duo's answer is larger than the {limit} bytes this client reads (Limits::max_body_bytes)"
    )]
    BodyTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The answer's body stopped arriving: no byte for this long
    /// ([`Limits::stall_timeout`](crate::transport::Limits::stall_timeout)).
    #[error("Duo's answer stalled: no data for {after:?}")]
    Stalled {
        /// How long nothing arrived.
        after: Duration,
    },
    /// Duo kept answering 429 after every retry of the policy.
    #[error("rate limited by Duo after {attempts} attempts: {last}")]
    RateLimited {
        /// Requests made, the first one included.
        attempts: u32,
        /// The last 429 answer.
        last: DuoError,
    },
    /// Duo answered with an error.
    #[error("Duo error: {0}")]
    Duo(DuoError),
    /// Duo's answer could not be understood (not JSON, not the envelope, a missing field).
    #[error("unexpected response from Duo (HTTP {status}): {reason}")]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The raw body, for diagnosis (at most 64 KiB kept).
        body: String,
    },
}

/// The most common first-hour mistake: a client pointed at the sandbox's plain-HTTP port without
/// `loopback_http(true)` speaks TLS to it and fails with a handshake error that names neither.
fn loopback_hint(e: &reqwest::Error) -> &'static str {
    let over_https_to_loopback = e.url().is_some_and(|url| {
        url.scheme() == "https" && url.host_str().is_some_and(crate::credentials::is_loopback)
    });
    if over_https_to_loopback {
        " (the API host is a loopback address: for a local sandbox's plain-HTTP port build the \
         client with `.loopback_http(true)`; for its HTTPS port, trust its CA in the \
         `reqwest::Client` given to `.http_client(…)`)"
    } else {
        ""
    }
}

impl Error {
    /// Duo's error code, if Duo answered with one.
    pub fn duo_code(&self) -> Option<u32> {
        match self {
            Error::Duo(e) | Error::RateLimited { last: e, .. } => e.code,
            _ => None,
        }
    }

    /// Whether trying the same call again later might succeed (rate limits, server errors,
    /// network failures) — as opposed to errors that need a change first.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_)
            | Error::Timeout(_)
            | Error::Stalled { .. }
            | Error::RateLimited { .. } => true,
            Error::Duo(e) => e.status == 429 || e.status >= 500,
            Error::UnexpectedResponse { status, .. } => *status >= 500 || *status == 200,
            _ => false,
        }
    }
}
