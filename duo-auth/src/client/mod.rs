//! The Duo Auth API client (`/auth/v2/*`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), duo_auth::Error> {
//! use duo_auth::{AuthClient, Credentials};
//! use duo_auth::client::{Factor, PreauthResult, UserRef};
//!
//! let client = AuthClient::builder(Credentials::new("DI…", "…", "api-xxxxxxxx.duosecurity.com")?).build()?;
//! let user = UserRef::Username("jane.doe".into());
//! let pre = client.preauth(&user, &Default::default()).await?;
//! if pre.result == PreauthResult::Auth {
//!     let answer = client.auth(&user, &Factor::push(), &Default::default()).await?;
//!     println!("{}: {}", answer.result, answer.status_msg);
//! }
//! # Ok(()) }
//! ```

mod types;

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

pub use types::{
    AuthOptions, AuthResponse, AuthResult, AuthStatus, Capability, Device, EnrollStatus,
    Enrollment, Factor, Preauth, PreauthOptions, PreauthResult, PushOptions, Time, UserRef,
};

use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::Credentials;
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::runtime::Runtime;
use crate::sign::{Method, Request, SignatureVersion};
use crate::transport::{Envelope, Transport, TransportConfig, parse_envelope};

/// The default user agent.
pub const USER_AGENT: &str = concat!("duo-okta-sdk/", env!("CARGO_PKG_VERSION"), " duo-auth");

/// Configures an [`AuthClient`].
#[derive(Debug)]
pub struct AuthClientBuilder {
    config: TransportConfig,
    auth_timeout: Duration,
}

impl AuthClientBuilder {
    /// The signature version (default v5).
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.config = self.config.signature_version(version);
        self
    }

    /// The timeout of each request but the synchronous `auth` (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.timeout(timeout);
        self
    }

    /// The timeout of a synchronous `auth` and of each `auth_status` long poll, which wait for
    /// the person (default 90 s: Duo times a push out after 60 s).
    pub fn auth_timeout(mut self, timeout: Duration) -> Self {
        self.auth_timeout = timeout;
        self
    }

    /// The retry policy (default: Duo's own, 429 only; [`RetryPolicy::none`] turns it off).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config = self.config.retry_policy(policy);
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.config = self.config.user_agent(user_agent);
        self
    }

    /// A `reqwest::Client` you built (shared connection pool, proxies, extra root certificates).
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`, as the client built here
    /// is: reqwest follows redirects by default, and although it drops `Authorization` when a
    /// redirect leaves the origin, a 307 or 308 sends the request's body again wherever it
    /// points. Its connect timeout is its own ([`Limits::connect_timeout`](crate::transport::Limits::connect_timeout) applies only to the
    /// client built here); the body cap, stall timeout and retry budget apply to both.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.config = self.config.http_client(client);
        self
    }

    /// The clock, timer and randomness (tests substitute their own).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.config = self.config.runtime(runtime);
        self
    }

    /// Talk plain HTTP to a loopback API host (a local sandbox). Refused at `build` for any other
    /// host: Duo is only ever reached over HTTPS.
    pub fn loopback_http(mut self, on: bool) -> Self {
        self.config = self.config.loopback_http(on);
        self
    }

    /// The bounds of every call, whatever the server does: the largest body read, how long a
    /// body may stall, how long a call may go on retrying, the connect timeout (see
    /// [`Limits`](crate::transport::Limits) for the defaults).
    pub fn limits(mut self, limits: crate::transport::Limits) -> Self {
        self.config = self.config.limits(limits);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<AuthClient, Error> {
        Ok(AuthClient {
            transport: self.config.build()?,
            auth_timeout: self.auth_timeout,
        })
    }
}

/// A client of the Duo Auth API for one Auth API (or Partner Auth API) application.
///
/// Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct AuthClient {
    transport: Transport,
    auth_timeout: Duration,
}

fn decode<T: DeserializeOwned>(envelope: Envelope) -> Result<T, Error> {
    envelope.decode()
}

impl AuthClient {
    /// A builder for these credentials.
    pub fn builder(credentials: Credentials) -> AuthClientBuilder {
        AuthClientBuilder {
            config: TransportConfig::new(credentials, USER_AGENT),
            auth_timeout: Duration::from_secs(90),
        }
    }

    /// The transport (signing, retries), for calls this client does not wrap.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// `GET /auth/v2/ping`: is Duo up? Unsigned; returns Duo's clock.
    pub async fn ping(&self) -> Result<Time, Error> {
        decode(
            self.transport
                .call(&Request::get("/auth/v2/ping"), None)
                .await?,
        )
    }

    /// `GET /auth/v2/check`: are the credentials right? Returns Duo's clock.
    pub async fn check(&self) -> Result<Time, Error> {
        decode(
            self.transport
                .call(&Request::get("/auth/v2/check"), None)
                .await?,
        )
    }

    /// `GET /auth/v2/logo`: the application's logo as PNG bytes.
    pub async fn logo(&self) -> Result<Vec<u8>, Error> {
        let (raw, attempts) = self
            .transport
            .send(&Request::get("/auth/v2/logo"), None)
            .await?;
        let is_png = raw.body.starts_with(b"\x89PNG\r\n\x1a\n");
        if (200..300).contains(&raw.status) && is_png {
            return Ok(raw.body);
        }
        // Errors come as Duo's JSON envelope.
        parse_envelope(&raw, attempts)?;
        Err(Error::UnexpectedResponse {
            status: raw.status,
            reason: "the logo is not a PNG image".to_owned(),
            body: String::from_utf8_lossy(&raw.body[..raw.body.len().min(256)]).into_owned(),
        })
    }

    /// `POST /auth/v2/enroll`: creates a user (or a random username) and an activation code.
    pub async fn enroll(
        &self,
        username: Option<&str>,
        valid_secs: Option<u64>,
    ) -> Result<Enrollment, Error> {
        let mut request = Request::post("/auth/v2/enroll");
        if let Some(u) = username {
            request = request.param("username", u);
        }
        if let Some(s) = valid_secs {
            request = request.param("valid_secs", s.to_string());
        }
        decode(self.transport.call(&request, None).await?)
    }

    /// `POST /auth/v2/enroll_status`: has the user activated Duo Mobile yet?
    pub async fn enroll_status(
        &self,
        user_id: &str,
        activation_code: &str,
    ) -> Result<EnrollStatus, Error> {
        let request = Request::post("/auth/v2/enroll_status")
            .param("user_id", user_id)
            .param("activation_code", activation_code);
        decode(self.transport.call(&request, None).await?)
    }

    /// `POST /auth/v2/preauth`: may this user log in, and how?
    pub async fn preauth(
        &self,
        user: &UserRef,
        options: &PreauthOptions,
    ) -> Result<Preauth, Error> {
        let (k, v) = user.param();
        let mut request = Request::post("/auth/v2/preauth").param(k, v);
        for (key, value) in [
            ("ipaddr", &options.ipaddr),
            ("hostname", &options.hostname),
            ("trusted_device_token", &options.trusted_device_token),
        ] {
            if let Some(value) = value {
                request = request.param(key, value.as_str());
            }
        }
        decode(self.transport.call(&request, None).await?)
    }

    fn auth_request(user: &UserRef, factor: &Factor, options: &AuthOptions) -> Request {
        let (k, v) = user.param();
        let mut request = Request::new(Method::Post, "/auth/v2/auth")
            .param(k, v)
            .params(factor.params());
        if let Some(ip) = &options.ipaddr {
            request = request.param("ipaddr", ip.as_str());
        }
        if let Some(h) = &options.hostname {
            request = request.param("hostname", h.as_str());
        }
        request
    }

    /// `POST /auth/v2/auth`, synchronous: waits for the person (up to the auth timeout).
    pub async fn auth(
        &self,
        user: &UserRef,
        factor: &Factor,
        options: &AuthOptions,
    ) -> Result<AuthResponse, Error> {
        let request = Self::auth_request(user, factor, options);
        decode(
            self.transport
                .call(&request, Some(self.auth_timeout))
                .await?,
        )
    }

    /// `POST /auth/v2/auth` with `async=1`: starts the authentication and returns its `txid`.
    pub async fn auth_async(
        &self,
        user: &UserRef,
        factor: &Factor,
        options: &AuthOptions,
    ) -> Result<String, Error> {
        let request = Self::auth_request(user, factor, options).param("async", "1");
        let envelope = self.transport.call(&request, None).await?;
        envelope
            .response
            .get("txid")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::UnexpectedResponse {
                status: 200,
                reason: "no txid in the async auth response".to_owned(),
                body: envelope.response.to_string(),
            })
    }

    /// `GET /auth/v2/auth_status`: the state of an async authentication. Duo holds the request
    /// until the state changes, so each call may take a while.
    pub async fn auth_status(&self, txid: &str) -> Result<AuthResponse, Error> {
        let request = Request::get("/auth/v2/auth_status").param("txid", txid);
        decode(
            self.transport
                .call(&request, Some(self.auth_timeout))
                .await?,
        )
    }

    /// Sends a push and waits for the answer, polling `auth_status` until the result is no
    /// longer `waiting` or `deadline` has passed (then [`Error::Timeout`]). Dropping the future
    /// stops the polling.
    pub async fn push_and_wait(
        &self,
        user: &UserRef,
        push: PushOptions,
        options: &AuthOptions,
        deadline: Duration,
    ) -> Result<AuthResponse, Error> {
        // `.instrument`, not `.entered()`: an entered guard held across `.await` makes the
        // future `!Send`, and web frameworks (axum) and `tokio::spawn` need `Send` futures.
        let span = tracing::debug_span!("duo_push", user = ?user);
        async move {
            let started = Instant::now();
            let txid = self.auth_async(user, &Factor::Push(push), options).await?;
            loop {
                let left = deadline.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(Error::Timeout(deadline));
                }
                let status = tokio::time::timeout(left, self.auth_status(&txid))
                    .await
                    .map_err(|_| Error::Timeout(deadline))??;
                if status.result != AuthResult::Waiting {
                    return Ok(status);
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Checks the integration before it is enabled (what a portal runs when an administrator
    /// saves Duo settings): `ping`, then `check`, turned into a [`Diagnosis`].
    pub async fn verify(&self) -> Diagnosis {
        let local = |rt: &Arc<dyn Runtime>| {
            rt.now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        };
        let ping = match self.ping().await {
            Ok(t) => t,
            Err(e) => return Diagnosis::Unreachable(e.to_string()),
        };
        let skew = ping.time as i64 - local(self.transport.runtime());
        match self.check().await {
            Ok(_) => Diagnosis::Ok {
                clock_skew_secs: skew,
            },
            Err(e) => match e.duo_code() {
                Some(40101 | 40102) => Diagnosis::UnknownIntegrationKey,
                Some(40103) => Diagnosis::WrongSecretKey,
                Some(40104 | 40105) => Diagnosis::ClockSkew {
                    clock_skew_secs: skew,
                },
                Some(40301) => Diagnosis::WrongIntegrationType,
                _ => Diagnosis::Failed(e.to_string()),
            },
        }
    }
}

/// What [`AuthClient::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// The integration works; Duo's clock minus ours, in seconds.
    Ok {
        /// Duo's clock minus the local clock.
        clock_skew_secs: i64,
    },
    /// The API host did not answer (wrong host name, firewall, DNS): the error says what failed.
    Unreachable(String),
    /// Duo does not know this integration key.
    UnknownIntegrationKey,
    /// The integration key is known but the secret key is wrong.
    WrongSecretKey,
    /// The local clock is too far from Duo's (more than about five minutes).
    ClockSkew {
        /// Duo's clock minus the local clock.
        clock_skew_secs: i64,
    },
    /// The keys belong to another kind of application (e.g. Admin API keys on the Auth API).
    WrongIntegrationType,
    /// Something else went wrong.
    Failed(String),
}

impl Diagnosis {
    /// Whether the integration can be enabled.
    pub fn is_ok(&self) -> bool {
        matches!(self, Diagnosis::Ok { .. })
    }
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Diagnosis::Ok { clock_skew_secs } => write!(f, "Duo accepted the credentials (clock offset {clock_skew_secs} s)"),
            Diagnosis::Unreachable(e) => write!(f, "the API hostname did not answer: {e}"),
            Diagnosis::UnknownIntegrationKey => f.write_str("Duo does not know this integration key: copy it again from the application's page"),
            Diagnosis::WrongSecretKey => f.write_str("the secret key is wrong: copy it again from the application's page"),
            Diagnosis::ClockSkew { clock_skew_secs } => write!(f, "this server's clock is {} s off Duo's: synchronize it (NTP)", -clock_skew_secs),
            Diagnosis::WrongIntegrationType => f.write_str("these keys belong to another kind of Duo application: use an Auth API application's keys"),
            Diagnosis::Failed(e) => write!(f, "the check failed: {e}"),
        }
    }
}
