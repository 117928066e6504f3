//! Sending signed requests: signing with the current date, timeouts, retries, and reading Duo's
//! envelope. Shared by the Auth API client here and the Admin API client in `duo-admin`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::Credentials;
use crate::error::{DuoError, Error};
use crate::retry::{Attempt, RetryPolicy};
use crate::runtime::{Runtime, TokioRuntime};
use crate::sign::{Request, SignatureVersion, Signer, format_date};

/// At most this much of an unexpected body is kept in an error.
const KEEP_BODY: usize = 64 * 1024;

/// What one call may cost at most, whatever the server (or a proxy on the way) does: memory,
/// time and requests. A hostile or broken server can neither make the client buffer without end
/// nor hold the caller for ever; each bound that trips is a typed [`Error`] naming it.
///
/// | Bound | Default | Why this value |
/// |---|---|---|
/// | [`max_body_bytes`](Self::max_body_bytes) | 16 MiB | Duo's largest answer, a page of 300 users with their phones, tokens and groups, is a few hundred KiB: 40 times that and more. |
/// | [`stall_timeout`](Self::stall_timeout) | 20 s | Duo sends a body in well under a second; 20 s without a byte is a stuck connection, named as such before the 30 s attempt timeout ends it anyway. |
/// | [`call_budget`](Self::call_budget) | 120 s | Duo's own retry schedule (1, 2, 4 … 32 s, each plus up to 1 s of jitter) waits at most 69 s: it runs whole, and a policy stretched further is stopped. |
/// | [`connect_timeout`](Self::connect_timeout) | 3.1 s | As the AWS SDKs' standard defaults: past the first SYN retransmission, a host that has not answered is down or filtered. |
/// | [`max_pages`](Self::max_pages) | 100,000 | 30 million users at Duo's page size, far more than an account holds. |
///
/// What that makes of a call, with the attempt timeout (30 s by default,
/// [`TransportConfig::timeout`]; it runs from connecting to the body's last byte, so a body that
/// trickles in a byte at a time is cut there too):
///
/// * **Memory:** the answer being read holds at most `max_body_bytes`, refused as it streams in
///   (or at once when `Content-Length` announces more). Measured: a server sending 1 GiB raises
///   the peak resident set by about 17 MiB.
/// * **Time:** at most `call_budget` plus one attempt's timeout (150 s by default; `auth` and
///   `auth_status` attempts, which wait for the person, have the 90 s auth timeout instead):
///   no retry starts whose wait would end past the budget.
/// * **Requests and waits:** at most 7 requests with Duo's policy (`max_retries` 6). Every wait
///   is the policy's own, each at most `max_delay` (32 s) plus the jitter (1 s): Duo sends no
///   `Retry-After`, and nothing the server sends lengthens a wait.
/// * **Redirects:** never followed by the HTTP client built here (Duo does not redirect its
///   API; a redirect followed would carry the signed request elsewhere): the redirect is the
///   answer, an [`Error::UnexpectedResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest answer body read (default 16 MiB), error answers included: a larger one is
    /// refused while it streams in ([`Error::BodyTooLarge`]), never buffered whole.
    pub max_body_bytes: usize,
    /// The longest a body may go without a byte (default 20 s): then [`Error::Stalled`], which
    /// the policy may retry like a cut connection.
    pub stall_timeout: Duration,
    /// How long a call may go on retrying (default 120 s): no retry starts whose wait would end
    /// past it. A call therefore ends within this budget plus one attempt's timeout.
    pub call_budget: Duration,
    /// The connect timeout of the HTTP client built here (default 3.1 s, as the AWS SDKs);
    /// a client given with `http_client` keeps its own.
    pub connect_timeout: Duration,
    /// The most pages one paged listing follows (default 100,000; used by `duo-admin`, the Auth
    /// API has no listings). At Duo's page sizes that is 30 million users or 50 million of
    /// anything else, far more than an account holds; paging metadata that never ends (a
    /// `next_offset` that keeps advancing) then ends the listing in an error instead of never.
    pub max_pages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            stall_timeout: Duration::from_secs(20),
            call_budget: Duration::from_secs(120),
            connect_timeout: Duration::from_millis(3100),
            max_pages: 100_000,
        }
    }
}

impl Limits {
    /// The HTTP client these limits want when the caller gives none: a connect timeout, and no
    /// redirects — Duo never redirects its API, and a redirect followed would carry the signed
    /// request (and its `Authorization`) to wherever it points.
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
    }
}

/// A raw answer: status, content type and body bytes.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A successful Duo answer: the `response` member and the paging `metadata`, wherever Duo put it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// `response`.
    pub response: Value,
    /// `metadata` (top-level, or inside `response` for some endpoints), or `Null`.
    pub metadata: Value,
}

/// The settings of a [`Transport`], with Duo's defaults: v5 signatures, a 30 s timeout, Duo's
/// retry policy, HTTPS. A builder by value, like every builder of these crates.
#[derive(Debug)]
#[must_use]
pub struct TransportConfig {
    credentials: Credentials,
    version: SignatureVersion,
    timeout: Duration,
    retry: RetryPolicy,
    user_agent: String,
    http: Option<reqwest::Client>,
    runtime: Arc<dyn Runtime>,
    loopback_http: bool,
    limits: Limits,
}

impl TransportConfig {
    /// The defaults for these credentials; `user_agent` names the calling crate.
    pub fn new(credentials: Credentials, user_agent: impl Into<String>) -> Self {
        Self {
            credentials,
            version: SignatureVersion::V5,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            user_agent: user_agent.into(),
            http: None,
            runtime: Arc::new(TokioRuntime),
            loopback_http: false,
            limits: Limits::default(),
        }
    }

    /// The bounds of every call: body size, stall, retry budget, connect timeout (see
    /// [`Limits`] for the defaults).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The signature version (default v5).
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.version = version;
        self
    }

    /// The default timeout of each request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry policy (default: Duo's own).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// A caller-built `reqwest::Client`.
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`, as the client built here
    /// is: reqwest follows redirects by default, and although it drops `Authorization` when a
    /// redirect leaves the origin, a 307 or 308 sends the request's body again wherever it
    /// points. Its connect timeout is its own ([`Limits::connect_timeout`] applies only to the
    /// client built here); the body cap, stall timeout and retry budget apply to both.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock, timer and randomness.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Plain HTTP for a loopback API host (a local sandbox); refused for any other host.
    pub fn loopback_http(mut self, on: bool) -> Self {
        self.loopback_http = on;
        self
    }

    /// Builds the transport.
    pub fn build(self) -> Result<Transport, Error> {
        let host = self.credentials.api_host().to_owned();
        let scheme = if self.loopback_http {
            if !crate::credentials::is_loopback(&host) {
                return Err(Error::Config(format!(
                    "plain HTTP is only allowed for loopback hosts, not {host}"
                )));
            }
            "http"
        } else {
            "https"
        };
        let http = match self.http {
            Some(c) => c,
            None => self.limits.http_client()?,
        };
        Ok(Transport::new(
            Signer::with_version(self.credentials, self.version),
            http,
            format!("{scheme}://{host}"),
            self.retry,
            self.runtime,
            self.timeout,
            self.user_agent,
        )
        .with_limits(self.limits))
    }
}

/// Reads a successful answer straight into `T` in one pass, without building a JSON tree first
/// (large pages decode several times faster); anything else — errors, odd shapes — goes through
/// [`parse_envelope`] and [`Envelope::decode`], so it is reported exactly as there. Returns the
/// value and the top-level `metadata` (or `Null`).
pub fn parse_typed<T: serde::de::DeserializeOwned>(
    raw: &RawResponse,
    attempts: u32,
) -> Result<(T, Value), Error> {
    #[derive(serde::Deserialize)]
    struct Success<T> {
        stat: String,
        response: T,
        #[serde(default)]
        metadata: Value,
    }
    let success = (200..300).contains(&raw.status);
    // The body is checked to be UTF-8 once, in one pass over it, and then read as text: the
    // reader then need not check each string again (a page of users has hundreds of thousands).
    let decode = || match std::str::from_utf8(&raw.body) {
        Ok(text) => serde_json::from_str::<Success<T>>(text).ok(),
        Err(_) => serde_json::from_slice::<Success<T>>(&raw.body).ok(),
    };
    if let Some(ok) = success.then(decode).flatten().filter(|ok| ok.stat == "OK") {
        return Ok((ok.response, ok.metadata));
    }
    let envelope = parse_envelope(raw, attempts)?;
    let value = envelope.decode()?;
    Ok((value, envelope.metadata))
}

impl Envelope {
    /// The `response` member as a typed value; a shape mismatch is
    /// [`Error::UnexpectedResponse`] carrying the response. Deserializes from a borrow: no copy
    /// of the (possibly large) response is made on the way.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.response).map_err(|e| Error::UnexpectedResponse {
            status: 200,
            reason: format!("the response does not have the expected shape: {e}"),
            body: self.response.to_string(),
        })
    }
}

/// Signs, sends and retries requests for one Duo application.
#[derive(Debug, Clone)]
pub struct Transport {
    signer: Arc<Signer>,
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
    runtime: Arc<dyn Runtime>,
    timeout: Duration,
    user_agent: String,
    limits: Limits,
}

impl Transport {
    /// A transport; `base_url` is `https://{api_host}` (or `http://` for loopback).
    pub fn new(
        signer: Signer,
        http: reqwest::Client,
        base_url: String,
        retry: RetryPolicy,
        runtime: Arc<dyn Runtime>,
        timeout: Duration,
        user_agent: String,
    ) -> Self {
        Self {
            signer: Arc::new(signer),
            http,
            base_url,
            retry,
            runtime,
            timeout,
            user_agent,
            limits: Limits::default(),
        }
    }

    /// The same transport with other [`Limits`].
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The bounds of every call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The runtime (clock, timer, randomness).
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// Sends `request` signed, retrying as the policy says; `timeout` overrides the default for
    /// this call. Returns the last answer, whatever its status.
    pub async fn send(
        &self,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<(RawResponse, u32), Error> {
        let timeout = timeout.unwrap_or(self.timeout);
        let started = self.runtime.now();
        let mut retry = 0u32;
        loop {
            let date = format_date(self.runtime.now())?;
            let outcome = self.once(request, &date, timeout).await;
            let attempt = match &outcome {
                Ok(raw) if raw.status < 400 => return outcome.map(|r| (r, retry + 1)),
                Ok(raw) => Attempt::Status(raw.status),
                Err(Error::Transport(_) | Error::Timeout(_) | Error::Stalled { .. }) => {
                    Attempt::Transport
                }
                Err(_) => return outcome.map(|r| (r, retry + 1)),
            };
            let spent = self
                .runtime
                .now()
                .duration_since(started)
                .unwrap_or_default();
            let delay = self
                .retry
                .delay(retry, attempt, self.runtime.random())
                .filter(|wait| spent + *wait <= self.limits.call_budget);
            match delay {
                Some(wait) => {
                    tracing::debug!(
                        path = request.path(),
                        ?attempt,
                        ?wait,
                        retry,
                        "retrying Duo request"
                    );
                    self.runtime.sleep(wait).await;
                    retry += 1;
                }
                None => return outcome.map(|r| (r, retry + 1)),
            }
        }
    }

    async fn once(
        &self,
        request: &Request,
        date: &str,
        timeout: Duration,
    ) -> Result<RawResponse, Error> {
        let signed = self.signer.sign(request, date)?;
        let url = format!("{}{}", self.base_url, signed.path_and_query());
        let method = reqwest::Method::from_bytes(signed.method().as_str().as_bytes())
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut builder = self
            .http
            .request(method, url)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in signed.headers() {
            builder = builder.header(name.as_ref(), value);
        }
        if let Some(body) = signed.body() {
            builder = builder.body(body.to_vec());
        }
        read_response(builder, timeout, &self.limits).await
    }

    /// Sends `request` and reads Duo's JSON envelope.
    pub async fn call(
        &self,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<Envelope, Error> {
        let (raw, attempts) = self.send(request, timeout).await?;
        parse_envelope(&raw, attempts)
    }
}

/// Sends a request with a timeout and reads the whole answer within `limits`; a timeout, a
/// stalled body, a body over the cap and a connection failure (also mid-body) are told apart.
/// The body is read chunk by chunk and refused as soon as it passes the cap (or at once when its
/// `Content-Length` says it will), so a hostile server cannot make the client buffer more.
pub(crate) async fn read_response(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    limits: &Limits,
) -> Result<RawResponse, Error> {
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Error::Timeout(timeout)
        } else {
            Error::Transport(e)
        }
    };
    let mut response = request.timeout(timeout).send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let too_large = Error::BodyTooLarge {
        limit: limits.max_body_bytes,
    };
    let announced = response.content_length().unwrap_or(0);
    if usize::try_from(announced).map_or(true, |n| n > limits.max_body_bytes) {
        return Err(too_large);
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    loop {
        let chunk = tokio::time::timeout(limits.stall_timeout, response.chunk())
            .await
            .map_err(|_| Error::Stalled {
                after: limits.stall_timeout,
            })?
            .map_err(classify)?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > limits.max_body_bytes {
            return Err(too_large);
        }
        if body.is_empty() && body.capacity() < chunk.len() {
            // The common case, a body in one buffer: take it without a copy.
            body = Vec::from(chunk);
        } else {
            body.extend_from_slice(&chunk);
        }
    }
    Ok(RawResponse {
        status,
        content_type,
        body,
    })
}

fn unexpected(raw: &RawResponse, reason: impl Into<String>) -> Error {
    let keep = &raw.body[..raw.body.len().min(KEEP_BODY)];
    Error::UnexpectedResponse {
        status: raw.status,
        reason: reason.into(),
        body: String::from_utf8_lossy(keep).into_owned(),
    }
}

/// Reads Duo's envelope from a raw answer; `attempts` is how many requests were made (to report
/// a 429 that survived every retry). Never panics, whatever the bytes.
pub fn parse_envelope(raw: &RawResponse, attempts: u32) -> Result<Envelope, Error> {
    let json: Value = match serde_json::from_slice(&raw.body) {
        Ok(v) => v,
        Err(_) if raw.status == 429 => {
            let last = DuoError {
                status: 429,
                code: None,
                message: "Too Many Requests".to_owned(),
                message_detail: None,
            };
            return Err(Error::RateLimited { attempts, last });
        }
        Err(e) => return Err(unexpected(raw, format!("the body is not JSON ({e})"))),
    };
    let stat = json.get("stat").and_then(Value::as_str);
    if stat == Some("FAIL") || !(200..300).contains(&raw.status) {
        if stat != Some("FAIL") && stat != Some("OK") && !(200..300).contains(&raw.status) {
            return Err(unexpected(raw, "an error status without Duo's envelope"));
        }
        let code = match json.get("code") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
        let error = DuoError {
            status: raw.status,
            code,
            message: text("message").unwrap_or_else(|| format!("HTTP {}", raw.status)),
            message_detail: text("message_detail"),
        };
        if raw.status == 429 {
            return Err(Error::RateLimited {
                attempts,
                last: error,
            });
        }
        return Err(Error::Duo(error));
    }
    if stat != Some("OK") {
        return Err(unexpected(raw, "the body is not Duo's envelope (no stat)"));
    }
    // Take the members out rather than clone them: a page of users is large.
    let mut json = json;
    let Some(response) = json.get_mut("response").map(Value::take) else {
        return Err(unexpected(raw, "the envelope has no response"));
    };
    let metadata = match json.get_mut("metadata").map(Value::take) {
        Some(m) if !m.is_null() => m,
        _ => response.get("metadata").cloned().unwrap_or(Value::Null),
    };
    Ok(Envelope { response, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status,
            content_type: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn typed_parsing_matches_the_envelope_path() {
        let (v, meta): (Vec<u32>, Value) = parse_typed(
            &raw(
                200,
                r#"{"stat":"OK","response":[1,2],"metadata":{"next_offset":2}}"#,
            ),
            1,
        )
        .unwrap();
        assert_eq!((v, meta["next_offset"].as_u64()), (vec![1, 2], Some(2)));
        // Errors and odd shapes are reported as the envelope path reports them.
        let e = parse_typed::<Vec<u32>>(
            &raw(401, r#"{"stat":"FAIL","code":40103,"message":"x"}"#),
            1,
        )
        .unwrap_err();
        assert_eq!(e.duo_code(), Some(40103));
        let e = parse_typed::<Vec<u32>>(&raw(200, r#"{"stat":"OK","response":{"a":1}}"#), 1)
            .unwrap_err();
        assert!(
            matches!(e, Error::UnexpectedResponse { ref reason, .. } if reason.contains("shape")),
            "{e:?}"
        );
        let e =
            parse_typed::<Vec<u32>>(&raw(200, r#"{"stat":"FAIL","response":[1]}"#), 1).unwrap_err();
        assert!(matches!(e, Error::Duo(_)), "{e:?}");
        assert!(parse_typed::<Vec<u32>>(&raw(429, "busy"), 3).is_err());
        // Bytes that are not UTF-8 are reported as the envelope path reports them.
        let mut bad = raw(200, r#"{"stat":"OK","response":["x"]}"#);
        bad.body[26] = 0xff;
        assert!(matches!(
            parse_typed::<Vec<String>>(&bad, 1),
            Err(Error::UnexpectedResponse { .. })
        ));
    }

    #[test]
    fn envelopes() {
        let ok = parse_envelope(
            &raw(
                200,
                r#"{"stat":"OK","response":{"time":1},"metadata":{"next_offset":5}}"#,
            ),
            1,
        )
        .unwrap();
        assert_eq!(ok.response["time"], 1);
        assert_eq!(ok.metadata["next_offset"], 5);
        let err = parse_envelope(&raw(401, r#"{"stat":"FAIL","code":40103,"message":"Invalid signature in request credentials"}"#), 1).unwrap_err();
        assert_eq!(err.duo_code(), Some(40103));
        // Missing, empty and string codes are tolerated.
        for body in [
            r#"{"stat":"FAIL","message":"x"}"#,
            r#"{"stat":"FAIL","code":"","message":"x"}"#,
        ] {
            let e = parse_envelope(&raw(400, body), 1).unwrap_err();
            assert!(
                matches!(e, Error::Duo(DuoError { code: None, .. })),
                "{e:?}"
            );
        }
        assert_eq!(
            parse_envelope(
                &raw(
                    400,
                    r#"{"stat":"FAIL","code":"40002","message":"x","message_detail":"d"}"#
                ),
                1
            )
            .unwrap_err()
            .duo_code(),
            Some(40002)
        );
        // A non-2xx is an error even if the body says OK.
        assert!(parse_envelope(&raw(500, r#"{"stat":"OK","response":1}"#), 1).is_err());
        assert!(matches!(
            parse_envelope(&raw(429, "slow down"), 7),
            Err(Error::RateLimited { attempts: 7, .. })
        ));
        assert!(matches!(
            parse_envelope(&raw(200, "{\"stat\":\"OK\""), 1),
            Err(Error::UnexpectedResponse { .. })
        ));
        assert!(matches!(
            parse_envelope(&raw(200, "[]"), 1),
            Err(Error::UnexpectedResponse { .. })
        ));
        assert!(matches!(
            parse_envelope(&raw(502, "<html>"), 1),
            Err(Error::UnexpectedResponse { status: 502, .. })
        ));
    }
}
