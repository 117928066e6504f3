//! The crate's error type and the parsers that turn an Okta error response into it.
//!
//! Okta answers failures in three shapes, and a client has to tell them apart to react well:
//!
//! * the management API's error object: `{"errorCode":"E0000011","errorSummary":…,
//!   "errorLink":…,"errorId":…,"errorCauses":[{"errorSummary":…}]}` → [`Error::Okta`];
//! * OAuth 2.0 errors from the token endpoint: `{"error":"invalid_client",
//!   "error_description":…}` → [`Error::OAuth`] with [`ErrorSource::Body`];
//! * a `WWW-Authenticate: DPoP error="invalid_dpop_proof", error_description="…"` (or `Bearer`)
//!   challenge, often with an empty body → [`Error::OAuth`] with [`ErrorSource::Challenge`].
//!
//! An error object and a challenge can come together: a 401 `E0000011` whose
//! `WWW-Authenticate: DPoP error="invalid_token", error_description="The access token is
//! expired."` says why the token was refused. The challenge is then kept in
//! [`OktaError::challenge`]; [`Error::challenge`] finds it in either shape.
//! An empty body, or one in none of these shapes, is [`Error::Http`].
//!
//! Errors built from a whole response ([`Error::from_http`], which is what
//! [`OktaClient`](crate::OktaClient) uses) also keep the answer's `X-Okta-Request-Id`
//! ([`Error::request_id`], for Okta support) and its `X-Rate-Limit-*` headers
//! ([`Error::rate_limit`], [`Error::rate_limited`]: per-minute or concurrency limit).
//!
//! [`Error::from_response`] and [`Error::from_http`] never panic, whatever the bytes.

use std::fmt;

/// Everything that can go wrong in this crate.
///
/// Variants say *which* thing happened; [`Error::is_retryable`], [`Error::status`] and the
/// `is_*` helpers answer the questions a client asks of an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Okta domain / org URL is not usable; the problem says how to fix it.
    #[error("invalid Okta domain {input:?}: {problem}")]
    InvalidDomain {
        /// What the caller gave.
        input: String,
        /// What is wrong with it, and the fix.
        problem: DomainProblem,
    },
    /// A request URL (for a DPoP proof's `htu`) is not an absolute `http(s)` URL.
    #[error("invalid request URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An HTTP method that is not an RFC 9110 token.
    #[error("invalid HTTP method {0:?}")]
    InvalidMethod(String),
    /// Key material that cannot be read (bad PEM, bad base64, bad DER, bad JWK members…).
    #[error("cannot read the key: {0}")]
    KeyFormat(String),
    /// An encrypted private key (`ENCRYPTED PRIVATE KEY` or `Proc-Type: 4,ENCRYPTED`).
    #[error(
        "the private key is encrypted; decrypt it first \
         (e.g. `openssl pkey -in key.pem -out plain.pem`)"
    )]
    EncryptedKey,
    /// An RSA key below 2048 bits.
    #[error("the RSA key has {bits} bits; Okta requires at least 2048")]
    RsaKeyTooSmall {
        /// The modulus size found.
        bits: usize,
    },
    /// A key type other than RSA or EC (e.g. `oct`, `OKP`/Ed25519).
    #[error("unsupported key type {0}: use RSA (2048 bits or more), EC P-256 or EC P-384")]
    UnsupportedKeyType(String),
    /// An elliptic curve other than P-256 and P-384 (P-521 and secp256k1 are refused).
    #[error("unsupported elliptic curve {0}: use P-256 or P-384")]
    UnsupportedCurve(String),
    /// A JWS algorithm this crate does not produce.
    #[error("unsupported JWS algorithm {0:?}: use RS256, RS384, RS512, ES256 or ES384")]
    UnsupportedAlgorithm(String),
    /// An algorithm that does not fit the key (e.g. RS256 with an EC key, ES256 with P-384).
    #[error("algorithm {alg} cannot be used with this {key_type} key")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: String,
        /// `RSA`, `EC P-256` or `EC P-384`.
        key_type: &'static str,
    },
    /// The public key supplied next to the private key belongs to another key pair.
    #[error(
        "the public key does not match the private key \
         (private key thumbprint {private_thumbprint}, public key thumbprint {public_thumbprint}); \
         upload or paste the public half of the same key pair"
    )]
    KeyMismatch {
        /// RFC 7638 thumbprint of the private key's public half.
        private_thumbprint: String,
        /// RFC 7638 thumbprint of the public key supplied.
        public_thumbprint: String,
    },
    /// The DPoP key is the client-authentication key and reuse was not asked for explicitly.
    #[error(
        "the DPoP key is the client authentication key; use a separate key pair for DPoP \
         (or call `reuse_client_key()` if you really mean it)"
    )]
    DpopKeyIsClientKey,
    /// Credentials that cannot work as configured (empty client id, bad scope, bad token…).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The signature primitive failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed")]
    Random,
    /// An error object from Okta's management API.
    #[error("{0}")]
    Okta(Box<OktaError>),
    /// An OAuth 2.0 / RFC 6750 / RFC 9449 error, from a body or a `WWW-Authenticate` challenge.
    #[error("{0}")]
    OAuth(Box<OAuthError>),
    /// The request could not be sent or the answer could not be read (connection refused or
    /// cut, TLS failure, …).
    #[error("transport error: {0}")]
    Transport(String),
    /// The request or reading its answer took longer than the configured timeout.
    #[error("the request timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A listing running in a task of its own was cancelled from outside (its tokio runtime is
    /// shutting down) before it finished: what it read is not a complete listing.
    #[error("a listing was cancelled before it finished (the runtime is shutting down)")]
    Cancelled,
    /// The answer's body was larger than the client reads
    /// ([`Limits::max_body_bytes`](crate::Limits::max_body_bytes)); it was refused as it
    /// arrived, not read whole.
    #[error(
        "the answer is larger than the {limit} bytes this client reads (Limits::max_body_bytes)"
    )]
    BodyTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The answer's body stopped arriving: no byte for this long
    /// ([`Limits::stall_timeout`](crate::Limits::stall_timeout)).
    #[error("the answer stalled: no data for {after:?}")]
    Stalled {
        /// How long nothing arrived.
        after: std::time::Duration,
    },
    /// A success answer whose body is not what the endpoint returns (truncated or not JSON).
    #[error(
        "unexpected response body (HTTP {status}): {reason}{}",
        request_id_suffix(request_id)
    )]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The answer's `X-Okta-Request-Id`, if it had one.
        request_id: Option<String>,
    },
    /// A paged listing's `next` link points at a page already fetched (the cursor does not
    /// advance), or at another origin than the org.
    #[error("paging stopped at {url:?}: {reason}")]
    Paging {
        /// The offending `next` link.
        url: String,
        /// Why it was not followed.
        reason: &'static str,
    },
    /// The retry policy gave up; `last` is the error of the final attempt.
    #[error("gave up after {attempts} attempts ({reason:?}): {last}")]
    RetriesExhausted {
        /// How many requests were sent.
        attempts: u32,
        /// Why the policy stopped.
        reason: crate::rate_limit::GiveUpReason,
        /// The last attempt's error (e.g. a 429 `E0000047`).
        last: Box<Error>,
    },
    /// An HTTP error whose body is empty or not one of Okta's error shapes.
    #[error(
        "HTTP {status}{}{}",
        body.as_deref().map(|b| format!(": {b}")).unwrap_or_default(),
        request_id_suffix(request_id)
    )]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The start of the body (lossy UTF-8, at most 512 bytes), if there was one.
        body: Option<String>,
        /// The answer's `X-Okta-Request-Id`, if it had one (only [`Error::from_http`] reads it).
        request_id: Option<String>,
    },
}

/// ` [X-Okta-Request-Id …]` for `Display`, or nothing.
fn request_id_suffix(id: &Option<String>) -> String {
    id.as_deref()
        .map(|id| format!(" [X-Okta-Request-Id {id}]"))
        .unwrap_or_default()
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What is wrong with an Okta domain, with the fix in its `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainProblem {
    /// Nothing was given.
    Empty,
    /// The `{yourOktaDomain}` placeholder from Okta's documentation was left in.
    Placeholder,
    /// No `https://` in front.
    MissingScheme,
    /// `http://` (or another scheme) for a non-loopback host.
    NotHttps,
    /// Not parseable as a URL.
    Unparseable,
    /// A path such as `/oauth2/default` or `/api/v1`.
    HasPath,
    /// A query string or fragment.
    HasQuery,
    /// User name or password in the URL.
    HasCredentials,
    /// The admin console domain (`dev-123-admin.okta.com`).
    AdminDomain {
        /// The domain to use instead.
        suggestion: String,
    },
}

impl fmt::Display for DomainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str(
                "it is empty; give your org URL, e.g. https://dev-123456.okta.com",
            ),
            Self::Placeholder => f.write_str(
                "it still contains the {yourOktaDomain} placeholder; replace it with your org's \
                 domain, e.g. https://dev-123456.okta.com",
            ),
            Self::MissingScheme => f.write_str(
                "it has no scheme; write it as https://<your domain>, e.g. https://dev-123456.okta.com",
            ),
            Self::NotHttps => f.write_str(
                "Okta requires https://; plain http:// is only accepted for loopback test servers \
                 (127.0.0.1, localhost, [::1])",
            ),
            Self::Unparseable => f.write_str(
                "it is not a URL; give your org URL, e.g. https://dev-123456.okta.com",
            ),
            Self::HasPath => f.write_str(
                "it has a path; give only the org URL (e.g. https://dev-123456.okta.com), \
                 without /oauth2/… or /api/…",
            ),
            Self::HasQuery => f.write_str(
                "it has a query or fragment; give only the org URL, e.g. https://dev-123456.okta.com",
            ),
            Self::HasCredentials => f.write_str(
                "it contains a user name or password; give only the org URL",
            ),
            Self::AdminDomain { suggestion } => write!(
                f,
                "that is the Admin Console domain; API calls go to the org domain: use https://{suggestion}"
            ),
        }
    }
}

/// Okta's management-API error object, with the HTTP status it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OktaError {
    /// HTTP status code.
    pub status: u16,
    /// `errorCode`, e.g. `E0000047` (the only stable field).
    pub code: String,
    /// `errorSummary`.
    pub summary: String,
    /// `errorLink`, if present.
    pub link: Option<String>,
    /// `errorId`: quote it to Okta support.
    pub id: Option<String>,
    /// `errorCauses[].errorSummary`.
    pub causes: Vec<String>,
    /// The `WWW-Authenticate` challenge that came with the error object, when it carried an
    /// `error=`: e.g. a 401 `E0000011` with `DPoP error="invalid_token",
    /// error_description="The access token is expired."` says *why* the token was refused. Its
    /// `source` is the challenge's scheme; its `request_id` and `rate_limit` are left empty
    /// (they are this error's).
    pub challenge: Option<OAuthError>,
    /// The answer's `X-Okta-Request-Id` (quote it to Okta support with `errorId`), when the error
    /// was built from the whole response ([`Error::from_http`]).
    pub request_id: Option<String>,
    /// The answer's `X-Rate-Limit-*` headers, when it had any (see [`Error::rate_limited`]).
    pub rate_limit: Option<crate::rate_limit::RateLimit>,
}

impl fmt::Display for OktaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Okta error {} (HTTP {}): {}",
            self.code, self.status, self.summary
        )?;
        for cause in &self.causes {
            write!(f, "; {cause}")?;
        }
        if let Some(c) = &self.challenge {
            write!(f, "; {} {}", c.source.label(), c.error)?;
            if let Some(d) = &c.description {
                write!(f, ": {d}")?;
            }
        }
        if let Some(id) = &self.id {
            write!(f, " [errorId {id}]")?;
        }
        f.write_str(&request_id_suffix(&self.request_id))
    }
}

/// Where an [`OAuthError`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorSource {
    /// A JSON body with `error` / `error_description`.
    Body,
    /// A `WWW-Authenticate` challenge of the given scheme.
    Challenge(AuthScheme),
}

impl ErrorSource {
    fn label(self) -> &'static str {
        match self {
            ErrorSource::Body => "OAuth error",
            ErrorSource::Challenge(AuthScheme::Dpop) => "DPoP challenge",
            ErrorSource::Challenge(AuthScheme::Bearer) => "Bearer challenge",
        }
    }
}

/// The authentication scheme of a `WWW-Authenticate` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `DPoP` (RFC 9449).
    Dpop,
    /// `Bearer` (RFC 6750).
    Bearer,
}

/// An OAuth-style error: `error` code plus optional description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// HTTP status code.
    pub status: u16,
    /// The `error` code, e.g. `invalid_client`, `use_dpop_nonce`, `invalid_dpop_proof`.
    pub error: String,
    /// `error_description`, if any.
    pub description: Option<String>,
    /// Body or challenge.
    pub source: ErrorSource,
    /// The whole `WWW-Authenticate` challenge, when `source` is one: every parameter
    /// (`realm`, `scope`, `algs`, …) besides `error` and `error_description`.
    pub challenge: Option<Challenge>,
    /// The answer's `X-Okta-Request-Id`, when the error was built from the whole response
    /// ([`Error::from_http`]).
    pub request_id: Option<String>,
    /// The answer's `X-Rate-Limit-*` headers, when it had any.
    pub rate_limit: Option<crate::rate_limit::RateLimit>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (HTTP {})",
            self.source.label(),
            self.error,
            self.status
        )?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        f.write_str(&request_id_suffix(&self.request_id))?;
        f.write_str(self.hint())
    }
}

impl OAuthError {
    /// What usually causes this error and how to fix it, for the mistakes integrators make first;
    /// empty when there is no such advice. Part of the `Display` text.
    pub fn hint(&self) -> &'static str {
        let description = self.description.as_deref().unwrap_or_default();
        match self.error.as_str() {
            // Okta's answer to a token request without a proof, from an app that requires DPoP.
            "invalid_dpop_proof" if description.contains("missing") => {
                " — the app requires DPoP-bound tokens (\"Require Demonstrating Proof of \
                 Possession\"): wrap its credentials in `okta_client::Dpop` \
                 (`Dpop::builder(private_key_jwt).build()`)"
            }
            _ => "",
        }
    }
}

/// One challenge of a `WWW-Authenticate` header: a scheme and its auth-params.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The scheme as sent (`DPoP`, `Bearer`, …).
    pub scheme: String,
    /// Parameters in order; names lower-cased, quoted values unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value, which may hold several comma-separated challenges.
    ///
    /// Tolerant: anything unparseable is skipped; never panics.
    ///
    /// ```
    /// use okta_client::error::Challenge;
    /// let c = Challenge::parse_all(
    ///     r#"DPoP error="invalid_dpop_proof", error_description="Invalid 'htu'", algs="ES256 RS256""#,
    /// );
    /// assert_eq!(c[0].scheme, "DPoP");
    /// assert_eq!(c[0].param("error"), Some("invalid_dpop_proof"));
    /// assert_eq!(c[0].param("error_description"), Some("Invalid 'htu'"));
    /// ```
    pub fn parse_all(value: &str) -> Vec<Challenge> {
        let b = value.as_bytes();
        let mut i = 0;
        let mut out: Vec<Challenge> = Vec::new();
        loop {
            skip_ws_commas(b, &mut i);
            if i >= b.len() {
                break;
            }
            let start = i;
            while i < b.len() && is_tchar(b[i]) {
                i += 1;
            }
            if i == start {
                // Not a token: skip one char so we always make progress.
                i += 1;
                continue;
            }
            let token = &value[start..i];
            let mut j = i;
            skip_ws(b, &mut j);
            if j < b.len() && b[j] == b'=' && !out.is_empty() && !is_token68_tail(b, j) {
                // An auth-param belonging to the previous challenge.
                i = j + 1;
                skip_ws(b, &mut i);
                let v = read_value(value, &mut i);
                if let Some(last) = out.last_mut() {
                    last.params.push((token.to_ascii_lowercase(), v));
                }
                continue;
            }
            out.push(Challenge {
                scheme: token.to_string(),
                params: Vec::new(),
            });
            // Parameters directly after the scheme (separated by whitespace, not a comma).
            i = j;
            let pstart = i;
            while i < b.len() && is_tchar(b[i]) {
                i += 1;
            }
            if i > pstart {
                let name = &value[pstart..i];
                let mut k = i;
                skip_ws(b, &mut k);
                if k < b.len() && b[k] == b'=' && !is_token68_tail(b, k) {
                    i = k + 1;
                    skip_ws(b, &mut i);
                    let v = read_value(value, &mut i);
                    if let Some(last) = out.last_mut() {
                        last.params.push((name.to_ascii_lowercase(), v));
                    }
                } else {
                    // A token68 credential-like blob, or a bare word: not a param; skip it.
                    while i < b.len() && b[i] == b'=' {
                        i += 1;
                    }
                }
            }
        }
        out
    }

    /// The first parameter of that (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn auth_scheme(&self) -> Option<AuthScheme> {
        if self.scheme.eq_ignore_ascii_case("dpop") {
            Some(AuthScheme::Dpop)
        } else if self.scheme.eq_ignore_ascii_case("bearer") {
            Some(AuthScheme::Bearer)
        } else {
            None
        }
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// `=` at `j` ends a token68 (`abc==`) rather than starting a value when only `=`, spaces or a
/// comma follow it.
fn is_token68_tail(b: &[u8], j: usize) -> bool {
    let mut k = j;
    while k < b.len() && b[k] == b'=' {
        k += 1;
    }
    let mut m = k;
    skip_ws(b, &mut m);
    k > j + 1 || m >= b.len() || b[m] == b','
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
        *i += 1;
    }
}

fn skip_ws_commas(b: &[u8], i: &mut usize) {
    while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
        *i += 1;
    }
}

/// Reads a quoted-string (unescaping quoted-pairs) or a token; leaves `i` after it.
pub(crate) fn read_value(s: &str, i: &mut usize) -> String {
    let b = s.as_bytes();
    if *i < b.len() && b[*i] == b'"' {
        *i += 1;
        let mut out = String::new();
        let mut run_start = *i;
        while *i < b.len() {
            match b[*i] {
                b'"' => {
                    out.push_str(&s[run_start..*i]);
                    *i += 1;
                    return out;
                }
                b'\\' if *i + 1 < b.len() => {
                    out.push_str(&s[run_start..*i]);
                    // The escaped character may be multi-byte; copy the whole char.
                    let rest = &s[*i + 1..];
                    if let Some(c) = rest.chars().next() {
                        out.push(c);
                        *i += 1 + c.len_utf8();
                    } else {
                        *i += 1;
                    }
                    run_start = *i;
                }
                _ => *i += 1,
            }
        }
        // Unterminated: keep what there was.
        out.push_str(&s[run_start..]);
        out
    } else {
        let start = *i;
        while *i < b.len() && !matches!(b[*i], b',' | b';' | b' ' | b'\t') {
            *i += 1;
        }
        s[start..*i].to_string()
    }
}

const BODY_SNIPPET: usize = 512;

impl Error {
    /// Classifies an error response from its status, its `WWW-Authenticate` values and body.
    ///
    /// Precedence: Okta error object (keeping a `DPoP`/`Bearer` challenge carrying `error=` in
    /// [`OktaError::challenge`]), then an OAuth `error` in the body, then such a challenge on its
    /// own, then [`Error::Http`] with the start of the body. [`Error::from_http`] does the same
    /// from all the headers and also keeps the request id and the rate-limit headers.
    ///
    /// ```
    /// use okta_client::Error;
    /// let e = Error::from_response(
    ///     429,
    ///     &[],
    ///     br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"oae123","errorCauses":[]}"#,
    /// );
    /// assert_eq!(e.okta_error_code(), Some("E0000047"));
    /// assert!(e.is_retryable());
    ///
    /// let e = Error::from_response(
    ///     400,
    ///     &[r#"DPoP error="invalid_dpop_proof", error_description="'htu' claim mismatch""#],
    ///     b"",
    /// );
    /// assert!(e.is_invalid_dpop_proof());
    /// ```
    pub fn from_response(status: u16, www_authenticate: &[&str], body: &[u8]) -> Error {
        classify(status, www_authenticate, body, None, None)
    }

    /// Classifies an error response from its status, all its headers as `(name, value)` pairs
    /// (names matched case-insensitively) and its body, like [`Error::from_response`], and keeps
    /// the `X-Okta-Request-Id` ([`Error::request_id`]) and the `X-Rate-Limit-*` headers
    /// ([`Error::rate_limit`]) on the error.
    ///
    /// ```
    /// use okta_client::Error;
    /// use okta_client::rate_limit::RateLimitKind;
    /// let e = Error::from_http(
    ///     401,
    ///     [
    ///         ("X-Okta-Request-Id", "reqAbC123"),
    ///         ("WWW-Authenticate", r#"DPoP algs="ES256", error="invalid_token", error_description="The access token is expired.""#),
    ///     ],
    ///     br#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorId":"oaeX","errorCauses":[]}"#,
    /// );
    /// assert_eq!(e.okta_error_code(), Some("E0000011"));
    /// assert_eq!(e.challenge().and_then(|c| c.description.as_deref()), Some("The access token is expired."));
    /// assert!(e.is_invalid_token());
    /// assert_eq!(e.request_id(), Some("reqAbC123"));
    ///
    /// let e = Error::from_http(
    ///     429,
    ///     [("x-rate-limit-limit", "0"), ("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", "1700000060")],
    ///     br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#,
    /// );
    /// assert_eq!(e.rate_limited().map(|r| r.kind), Some(RateLimitKind::Concurrency));
    /// ```
    pub fn from_http<'a, I>(status: u16, headers: I, body: &[u8]) -> Error
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let headers: Vec<(&str, &str)> = headers.into_iter().collect();
        let named = |name: &'static str| {
            headers
                .iter()
                .filter(move |(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let challenges: Vec<&str> = named("www-authenticate").collect();
        let request_id = named("x-okta-request-id")
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(|v| v.chars().take(REQUEST_ID_MAX).collect());
        let rate_limit = crate::rate_limit::RateLimit::from_headers(headers.iter().copied());
        classify(
            status,
            &challenges,
            body,
            request_id,
            rate_limit.has_limits().then_some(rate_limit),
        )
    }

    /// The HTTP status, for errors that came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Okta(e) => Some(e.status),
            Error::OAuth(e) => Some(e.status),
            Error::Http { status, .. } => Some(*status),
            Error::Decode { status, .. } => Some(*status),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The `X-Okta-Request-Id` of the answer this error came from (of the last attempt, after
    /// retries): quote it to Okta support. `None` for errors without an answer (transport,
    /// timeout, configuration) and for answers without the header.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Okta(e) => e.request_id.as_deref(),
            Error::OAuth(e) => e.request_id.as_deref(),
            Error::Http { request_id, .. } | Error::Decode { request_id, .. } => {
                request_id.as_deref()
            }
            Error::RetriesExhausted { last, .. } => last.request_id(),
            _ => None,
        }
    }

    /// The `X-Rate-Limit-*` headers of the answer this error came from (of the last attempt,
    /// after retries), when it had any.
    pub fn rate_limit(&self) -> Option<crate::rate_limit::RateLimit> {
        match self {
            Error::Okta(e) => e.rate_limit,
            Error::OAuth(e) => e.rate_limit,
            Error::RetriesExhausted { last, .. } => last.rate_limit(),
            _ => None,
        }
    }

    /// For a 429 (also inside [`Error::RetriesExhausted`]): which limit was hit — the per-minute
    /// budget or Okta's concurrency limit (`X-Rate-Limit-Limit = Remaining = 0`) — with the
    /// rate-limit headers of the last answer. `None` for any other error.
    pub fn rate_limited(&self) -> Option<crate::rate_limit::RateLimited> {
        if self.status() != Some(429) {
            return None;
        }
        let limits = self.rate_limit().unwrap_or_default();
        Some(crate::rate_limit::RateLimited {
            kind: limits.kind(),
            limits,
        })
    }

    /// Okta's `errorCode`, if this is an Okta error object.
    pub fn okta_error_code(&self) -> Option<&str> {
        match self {
            Error::Okta(e) => Some(&e.code),
            Error::RetriesExhausted { last, .. } => last.okta_error_code(),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` challenge carrying an `error=`, whether it came alone (an
    /// [`Error::OAuth`] read from the challenge) or with an Okta error object
    /// ([`OktaError::challenge`]).
    pub fn challenge(&self) -> Option<&OAuthError> {
        match self {
            Error::Okta(e) => e.challenge.as_ref(),
            Error::OAuth(e) if matches!(e.source, ErrorSource::Challenge(_)) => Some(e),
            Error::RetriesExhausted { last, .. } => last.challenge(),
            _ => None,
        }
    }

    /// The OAuth `error` code: from a body, a challenge, or the challenge that came with an Okta
    /// error object.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Error::OAuth(e) => Some(&e.error),
            Error::Okta(e) => e.challenge.as_ref().map(|c| c.error.as_str()),
            _ => None,
        }
    }

    /// `use_dpop_nonce`: retry with the nonce from the `DPoP-Nonce` header (and, at the token
    /// endpoint, a fresh client assertion).
    pub fn is_use_dpop_nonce(&self) -> bool {
        self.oauth_error() == Some("use_dpop_nonce")
    }

    /// `invalid_dpop_proof`: the proof was rejected; retrying the same way will not help.
    pub fn is_invalid_dpop_proof(&self) -> bool {
        self.oauth_error() == Some("invalid_dpop_proof")
    }

    /// The access token was refused — an `invalid_token` challenge or body, alone or with an
    /// Okta error object, or Okta `E0000011` — so drop the cached token and fetch a new one.
    /// [`Error::challenge`] tells why (`error_description`: expired, revoked, …).
    pub fn is_invalid_token(&self) -> bool {
        self.oauth_error() == Some("invalid_token") || self.okta_error_code() == Some("E0000011")
    }

    /// Whether waiting and sending the request again may succeed (rate limits and transient
    /// server errors). Client-side errors and 4xx answers are not retryable.
    pub fn is_retryable(&self) -> bool {
        if matches!(
            self,
            Error::Transport(_) | Error::Timeout(_) | Error::Stalled { .. }
        ) {
            return true;
        }
        match self.status() {
            Some(429) => true,
            Some(s) => crate::rate_limit::is_transient_status(s),
            None => false,
        }
    }
}

/// Request ids longer than this are cut (Okta's are 27 characters).
const REQUEST_ID_MAX: usize = 128;

/// The first `DPoP`/`Bearer` challenge carrying `error=`, as an [`OAuthError`].
fn challenge_error(status: u16, www_authenticate: &[&str]) -> Option<OAuthError> {
    for value in www_authenticate {
        for ch in Challenge::parse_all(value) {
            if let (Some(scheme), Some(err)) = (ch.auth_scheme(), ch.param("error")) {
                return Some(OAuthError {
                    status,
                    error: err.to_string(),
                    description: ch.param("error_description").map(str::to_string),
                    source: ErrorSource::Challenge(scheme),
                    challenge: Some(ch.clone()),
                    request_id: None,
                    rate_limit: None,
                });
            }
        }
    }
    None
}

fn classify(
    status: u16,
    www_authenticate: &[&str],
    body: &[u8],
    request_id: Option<String>,
    rate_limit: Option<crate::rate_limit::RateLimit>,
) -> Error {
    let trimmed = body.trim_ascii();
    // Read as a generic value and pick fields leniently: a field of an unexpected type must
    // not hide the ones that are there.
    if trimmed.first() == Some(&b'{')
        && let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(trimmed)
    {
        let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let Some(code) = text("errorCode").filter(|c| !c.is_empty()) {
            let causes = obj
                .get("errorCauses")
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.get("errorSummary").and_then(|s| s.as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            return Error::Okta(Box::new(OktaError {
                status,
                code,
                summary: text("errorSummary").unwrap_or_default(),
                link: text("errorLink"),
                id: text("errorId"),
                causes,
                challenge: challenge_error(status, www_authenticate),
                request_id,
                rate_limit,
            }));
        }
        if let Some(error) = text("error").filter(|e| !e.is_empty()) {
            return Error::OAuth(Box::new(OAuthError {
                status,
                error,
                description: text("error_description"),
                source: ErrorSource::Body,
                challenge: None,
                request_id,
                rate_limit,
            }));
        }
    }
    if let Some(mut e) = challenge_error(status, www_authenticate) {
        e.request_id = request_id;
        e.rate_limit = rate_limit;
        return Error::OAuth(Box::new(e));
    }
    let body = if trimmed.is_empty() {
        None
    } else {
        let cut = &trimmed[..trimmed.len().min(BODY_SNIPPET)];
        Some(String::from_utf8_lossy(cut).into_owned())
    };
    Error::Http {
        status,
        body,
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn token68_is_not_a_parameter() {
        let c = Challenge::parse_all("Basic abc==, DPoP error=\"x\"");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "Basic");
        assert!(c[0].params.is_empty());
        assert_eq!(params(&c[1]), [("error", "x")]);
        let c = Challenge::parse_all("Negotiate YIIabc=");
        assert_eq!(c.len(), 1);
        assert!(c[0].params.is_empty());
    }

    #[test]
    fn quoted_pairs_and_odd_spacing() {
        let c = Challenge::parse_all(
            r#"  dpop   ERROR = "a \"b\" \\ c" ,error_description=plain , realm="ü""#,
        );
        assert_eq!(c[0].auth_scheme(), Some(AuthScheme::Dpop));
        assert_eq!(
            params(&c[0]),
            [
                ("error", r#"a "b" \ c"#),
                ("error_description", "plain"),
                ("realm", "ü")
            ]
        );
        // Unterminated quote: keep what is there, do not panic.
        let c = Challenge::parse_all(r#"Bearer error="abc"#);
        assert_eq!(c[0].param("error"), Some("abc"));
    }

    const E0000011: &[u8] = br#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oaeTok","errorCauses":[]}"#;

    #[test]
    fn a_challenge_next_to_an_okta_error_object_is_kept() {
        let challenge = r#"DPoP algs="RS256 ES256", authorization_uri="https://o.okta.com/oauth2/v1/authorize", realm="https://o.okta.com", scope="okta.groups.read", error="invalid_token", error_description="The access token is expired.""#;
        let e = Error::from_http(
            401,
            [
                ("www-authenticate", challenge),
                ("X-Okta-Request-Id", " reqExp1 "),
            ],
            E0000011,
        );
        let Error::Okta(o) = &e else { panic!("{e:?}") };
        assert_eq!(
            (o.code.as_str(), o.id.as_deref()),
            ("E0000011", Some("oaeTok"))
        );
        let c = o.challenge.as_ref().unwrap();
        assert_eq!(c.error, "invalid_token");
        assert_eq!(
            c.description.as_deref(),
            Some("The access token is expired.")
        );
        assert_eq!(c.source, ErrorSource::Challenge(AuthScheme::Dpop));
        assert_eq!(c.status, 401);
        let whole = c.challenge.as_ref().unwrap();
        assert_eq!(whole.param("scope"), Some("okta.groups.read"));
        assert_eq!(whole.param("algs"), Some("RS256 ES256"));
        assert_eq!((c.request_id.as_deref(), c.rate_limit), (None, None));
        assert_eq!(e.challenge(), Some(c));
        assert_eq!(e.oauth_error(), Some("invalid_token"));
        assert!(e.is_invalid_token());
        assert!(!e.is_retryable());
        assert_eq!(e.request_id(), Some("reqExp1"));
        assert_eq!(
            e.to_string(),
            "Okta error E0000011 (HTTP 401): Invalid token provided; DPoP challenge invalid_token: \
             The access token is expired. [errorId oaeTok] [X-Okta-Request-Id reqExp1]"
        );
        // The same without the challenge: still an invalid token, but nothing says why.
        let bare = Error::from_response(401, &[], E0000011);
        assert!(bare.is_invalid_token());
        assert_eq!(
            (bare.challenge(), bare.oauth_error(), bare.request_id()),
            (None, None, None)
        );

        // A challenge that is not `invalid_token` rides along too, and the helpers read it.
        let e = Error::from_response(
            401,
            &[r#"Bearer realm="x", error="use_dpop_nonce""#],
            br#"{"errorCode":"E0000015","errorSummary":"x"}"#,
        );
        assert!(e.is_use_dpop_nonce());
        assert!(!e.is_invalid_token());
        assert_eq!(
            e.challenge().map(|c| c.source),
            Some(ErrorSource::Challenge(AuthScheme::Bearer))
        );
        // A challenge without `error=` (RFC 6750 §3: no credentials) is not an error code.
        let e = Error::from_response(401, &[r#"Bearer realm="x""#], E0000011);
        assert_eq!(e.challenge(), None);
    }

    #[test]
    fn a_challenge_alone_keeps_all_its_parameters() {
        let e = Error::from_http(
            403,
            [(
                "WWW-Authenticate",
                r#"Bearer realm="r", scope="okta.users.read", error="insufficient_scope""#,
            )],
            b"",
        );
        let c = e.challenge().unwrap();
        assert_eq!(c.error, "insufficient_scope");
        assert_eq!(
            c.challenge.as_ref().unwrap().param("scope"),
            Some("okta.users.read")
        );
        // A body error is not a challenge.
        let e = Error::from_response(400, &[], br#"{"error":"invalid_client"}"#);
        assert_eq!(e.oauth_error(), Some("invalid_client"));
        assert_eq!(e.challenge(), None);
    }

    #[test]
    fn request_ids_on_every_http_error() {
        let id = [("x-okta-request-id", "reqA")];
        let e = Error::from_http(503, id, b"<html>down</html>");
        assert!(
            matches!(&e, Error::Http { request_id: Some(r), .. } if r == "reqA"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "HTTP 503: <html>down</html> [X-Okta-Request-Id reqA]"
        );
        let e = Error::from_http(400, id, br#"{"error":"invalid_client"}"#);
        assert_eq!(e.request_id(), Some("reqA"));
        assert!(e.to_string().ends_with("[X-Okta-Request-Id reqA]"), "{e}");
        let e = Error::from_http(
            400,
            [
                ("X-OKTA-REQUEST-ID", "reqB"),
                ("www-authenticate", r#"DPoP error="invalid_dpop_proof""#),
            ],
            b"",
        );
        assert!(e.is_invalid_dpop_proof());
        assert_eq!(e.request_id(), Some("reqB"));
        let wrapped = Error::RetriesExhausted {
            attempts: 3,
            reason: crate::rate_limit::GiveUpReason::RetriesExhausted,
            last: Box::new(e),
        };
        assert_eq!(wrapped.request_id(), Some("reqB"));
        // Blank or absent ids are None; absurdly long ones are cut.
        assert_eq!(
            Error::from_http(500, [("x-okta-request-id", "  ")], b"").request_id(),
            None
        );
        assert_eq!(Error::from_http(500, [], b"").request_id(), None);
        let long = "x".repeat(1000);
        let e = Error::from_http(500, [("x-okta-request-id", long.as_str())], b"");
        assert_eq!(e.request_id().map(str::len), Some(REQUEST_ID_MAX));
        assert_eq!(
            Error::Timeout(std::time::Duration::from_secs(1)).request_id(),
            None
        );
    }

    #[test]
    fn rate_limited_tells_the_concurrency_limit_from_the_per_minute_one() {
        use crate::rate_limit::{GiveUpReason, RateLimitKind};
        const E0000047: &[u8] = br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#;
        let per_minute = Error::from_http(
            429,
            [
                ("X-Rate-Limit-Limit", "600"),
                ("X-Rate-Limit-Remaining", "0"),
                ("X-Rate-Limit-Reset", "1700000060"),
                ("X-Okta-Request-Id", "reqPM"),
            ],
            E0000047,
        );
        let r = per_minute.rate_limited().unwrap();
        assert_eq!(r.kind, RateLimitKind::PerMinute);
        assert_eq!(
            (r.limits.limit, r.limits.remaining, r.limits.reset),
            (Some(600), Some(0), Some(1_700_000_060))
        );
        let concurrency = Error::from_http(
            429,
            [
                ("x-rate-limit-limit", "0"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", "1700000060"),
            ],
            E0000047,
        );
        let exhausted = Error::RetriesExhausted {
            attempts: 5,
            reason: GiveUpReason::RetriesExhausted,
            last: Box::new(concurrency),
        };
        let r = exhausted.rate_limited().unwrap();
        assert_eq!(r.kind, RateLimitKind::Concurrency);
        assert_eq!((r.limits.limit, r.limits.remaining), (Some(0), Some(0)));
        assert_eq!(exhausted.rate_limit(), Some(r.limits));
        // A 429 without headers is read as the per-minute kind with nothing known.
        let r = Error::from_http(429, [], b"").rate_limited().unwrap();
        assert_eq!(
            (r.kind, r.limits),
            (RateLimitKind::PerMinute, Default::default())
        );
        // Not a 429: no rate-limit reading, even with the headers.
        let e = Error::from_http(
            500,
            [("x-rate-limit-limit", "0"), ("x-rate-limit-remaining", "0")],
            b"",
        );
        assert_eq!(e.rate_limited(), None);
        assert_eq!(Error::Random.rate_limited(), None);
    }

    #[test]
    fn display_says_what_happened() {
        let e = Error::from_response(
            401,
            &[r#"DPoP error="invalid_token", error_description="expired""#],
            b"",
        );
        assert_eq!(
            e.to_string(),
            "DPoP challenge invalid_token (HTTP 401): expired"
        );
        let e = Error::from_response(500, &[], b"   ");
        assert_eq!(e.to_string(), "HTTP 500");
        let long = vec![b'x'; 2000];
        match Error::from_response(502, &[], &long) {
            Error::Http { body: Some(b), .. } => assert_eq!(b.len(), BODY_SNIPPET),
            other => panic!("{other:?}"),
        }
    }
}
