//! The Duo Universal Prompt (Web SDK v4, OIDC): health check, the authorize URL, and the
//! exchange of the `duo_code` for a validated `id_token`.
//!
//! [`UniversalConfig`] is the sans-IO core (time and randomness are arguments);
//! [`UniversalClient`] adds the clock, a CSPRNG and HTTP.
//!
//! ```no_run
//! # async fn demo() -> Result<(), duo_auth::universal::UniversalError> {
//! use duo_auth::universal::UniversalClient;
//!
//! let client = UniversalClient::builder(
//!     "DIXXXXXXXXXXXXXXXXXX",
//!     "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
//!     "api-xxxxxxxx.duosecurity.com",
//!     "https://portal.example/duo-callback",
//! )
//! .build()?;
//! client.health_check().await?;
//!
//! // Sign-in: keep `state` in the session, send the person to `url`.
//! let state = client.generate_state();
//! let url = client.create_auth_url("jane.doe", &state, None)?;
//!
//! // Callback `…/duo-callback?duo_code=…&state=…`:
//! # let (duo_code, returned_state) = (String::new(), String::new());
//! client.check_state(&state, &returned_state)?;
//! let result = client.exchange_code(&duo_code, "jane.doe", None).await?;
//! if result.is_allowed() {
//!     println!("welcome {}", result.preferred_username);
//! }
//! # Ok(()) }
//! ```

mod core;
mod error;
mod jwt;
mod types;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rand::distr::{Alphanumeric, SampleString};

pub use self::core::{
    CLIENT_ASSERTION_TYPE, CLIENT_ID_LENGTH, CLIENT_SECRET_LENGTH, JWT_LIFETIME_SECS, LEEWAY_SECS,
    NONCE_LENGTHS, STATE_LENGTHS, UniversalConfig,
};
pub use self::error::{IdTokenError, UniversalConfigError, UniversalError};
pub use self::types::{
    AccessDevice, AuthContext, AuthDevice, ContextApplication, ContextResult, ContextUser,
    Location, PromptAuthResult, PromptResult, PromptStatus, TokenResult,
};
use crate::SecretKey;
use crate::error::Error;
use crate::runtime::{Runtime, TokioRuntime};
use crate::transport::RawResponse;

/// Length of the states and `jti`s this client generates.
pub const GENERATED_LENGTH: usize = 36;

/// `length` random letters and digits from the thread's CSPRNG.
fn random_alphanumeric(length: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), length)
}

/// A fresh state (or nonce): 36 random letters and digits from a CSPRNG.
pub fn generate_state() -> String {
    random_alphanumeric(GENERATED_LENGTH)
}

/// Configures a [`UniversalClient`].
#[derive(Debug)]
pub struct UniversalClientBuilder {
    client_id: String,
    client_secret: SecretKey,
    api_host: String,
    redirect_uri: String,
    timeout: Duration,
    user_agent: String,
    http: Option<reqwest::Client>,
    runtime: Arc<dyn Runtime>,
    loopback_http: bool,
    limits: crate::transport::Limits,
}

impl UniversalClientBuilder {
    /// The bounds of every call, as on the other Duo clients: the largest body read, how long
    /// a body may stall, the connect timeout (see [`Limits`](crate::transport::Limits) for the
    /// defaults). The Universal Prompt's calls are never retried, so the call budget and page
    /// bound do not apply.
    pub fn limits(mut self, limits: crate::transport::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The timeout of each request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// A `reqwest::Client` you built (shared connection pool, proxies, extra root certificates).
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`, as the client built here
    /// is: reqwest follows redirects by default, and a 307 or 308 sends the POST's form — the
    /// client assertion signed with the client secret — again wherever it points.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock (tests substitute their own). Randomness always comes from the CSPRNG.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Talk plain HTTP to a loopback API host (a local sandbox). Refused at `build` for any other
    /// host: Duo is only ever reached over HTTPS.
    pub fn loopback_http(mut self, on: bool) -> Self {
        self.loopback_http = on;
        self
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<UniversalClient, UniversalError> {
        let config = UniversalConfig::new(
            self.client_id,
            self.client_secret,
            self.api_host,
            self.redirect_uri,
        )?
        .with_loopback_http(self.loopback_http)?;
        let http = match self.http {
            Some(c) => c,
            // A connect timeout and no redirects, as for the other Duo clients.
            None => self
                .limits
                .http_client()
                .map_err(|e| UniversalConfigError::HttpClient(e.to_string()))?,
        };
        Ok(UniversalClient {
            config,
            http,
            timeout: self.timeout,
            user_agent: self.user_agent,
            runtime: self.runtime,
            limits: self.limits,
        })
    }
}

/// A client of the Universal Prompt for one Web SDK application.
///
/// Cheap to clone; clones share the connection pool. `Debug` never shows the client secret.
#[derive(Debug, Clone)]
pub struct UniversalClient {
    config: UniversalConfig,
    http: reqwest::Client,
    timeout: Duration,
    user_agent: String,
    runtime: Arc<dyn Runtime>,
    limits: crate::transport::Limits,
}

impl UniversalClient {
    /// A builder for a Web SDK application: client id (20 characters), client secret (40), API
    /// hostname and redirect URI. The values are validated by
    /// [`build`](UniversalClientBuilder::build).
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretKey>,
        api_host: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> UniversalClientBuilder {
        UniversalClientBuilder {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            api_host: api_host.into(),
            redirect_uri: redirect_uri.into(),
            timeout: Duration::from_secs(30),
            user_agent: crate::client::USER_AGENT.to_owned(),
            http: None,
            runtime: Arc::new(TokioRuntime),
            loopback_http: false,
            limits: crate::transport::Limits::default(),
        }
    }

    /// The validated configuration (the sans-IO core).
    pub fn config(&self) -> &UniversalConfig {
        &self.config
    }

    fn now(&self) -> u64 {
        self.runtime
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// A fresh state (or nonce): 36 random letters and digits from a CSPRNG.
    pub fn generate_state(&self) -> String {
        generate_state()
    }

    /// Checks that Duo is reachable and accepts this application's credentials:
    /// `POST /oauth/v1/health_check`.
    pub async fn health_check(&self) -> Result<(), UniversalError> {
        let url = self.config.health_check_url();
        let form = self
            .config
            .health_check_form(self.now(), &random_alphanumeric(GENERATED_LENGTH));
        let raw = self.post(&url, &form).await?;
        self.config.parse_health_check(&raw)
    }

    /// The URL of Duo's prompt for `username`; see [`UniversalConfig::create_auth_url`].
    pub fn create_auth_url(
        &self,
        username: &str,
        state: &str,
        nonce: Option<&str>,
    ) -> Result<String, UniversalError> {
        self.config
            .create_auth_url(username, state, nonce, self.now())
    }

    /// Compares the `state` of the callback with the one sent, in constant time.
    pub fn check_state(&self, sent: &str, received: &str) -> Result<(), UniversalError> {
        self.config.check_state(sent, received)
    }

    /// Exchanges the callback's `duo_code` for the validated result:
    /// `POST /oauth/v1/token`, then every check of [`UniversalConfig::validate_id_token`].
    /// `nonce` is the one given to [`create_auth_url`](Self::create_auth_url), if any.
    pub async fn exchange_code(
        &self,
        duo_code: &str,
        username: &str,
        nonce: Option<&str>,
    ) -> Result<TokenResult, UniversalError> {
        let url = self.config.token_url();
        let form =
            self.config
                .token_form(duo_code, self.now(), &random_alphanumeric(GENERATED_LENGTH))?;
        let raw = self.post(&url, &form).await?;
        self.config
            .parse_token_response(&raw, username, nonce, self.now())
    }

    async fn post(&self, url: &str, form: &[(&'static str, String)]) -> Result<RawResponse, Error> {
        tracing::debug!(url, "duo universal prompt request");
        let request = self
            .http
            .post(url)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form);
        crate::transport::read_response(request, self.timeout, &self.limits).await
    }
}
