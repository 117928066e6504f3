//! The sans-IO core: configuration, client assertions, the authorize URL, and the validation of
//! what Duo answers. Time and randomness are arguments; nothing here does IO.

use std::fmt;

use serde_json::{Map, Value, json};

use super::error::{IdTokenError, UniversalConfigError, UniversalError};
use super::jwt;
use super::types::{AuthContext, PromptAuthResult, TokenResult};
use crate::error::Error;
use crate::transport::{RawResponse, parse_envelope};
use crate::{Credentials, CredentialsError, SecretKey};

/// Length of a client id.
pub const CLIENT_ID_LENGTH: usize = 20;
/// Length of a client secret.
pub const CLIENT_SECRET_LENGTH: usize = 40;
/// Lifetime of the JWTs this client signs, in seconds.
pub const JWT_LIFETIME_SECS: u64 = 300;
/// Clock leeway when checking an `id_token`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// Accepted state lengths (**ours**: Duo accepts 16, the Go/Java/Node clients insist on 22).
pub const STATE_LENGTHS: std::ops::RangeInclusive<usize> = 22..=1024;
/// Accepted nonce lengths.
pub const NONCE_LENGTHS: std::ops::RangeInclusive<usize> = 16..=1024;
/// `client_assertion_type` of the token request.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A validated Universal Prompt (Web SDK v4) application, and everything that can be computed
/// from it without IO.
///
/// `Debug` never shows the client secret.
///
/// ```
/// use duo_auth::universal::UniversalConfig;
/// let config = UniversalConfig::new(
///     "DIXXXXXXXXXXXXXXXXXX",
///     "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
///     "api-xxxxxxxx.duosecurity.com",
///     "https://portal.example/duo-callback",
/// )?;
/// let url = config.create_auth_url("jane.doe", "a-state-of-at-least-22-chars", None, 1_700_000_000)?;
/// assert!(url.starts_with("https://api-xxxxxxxx.duosecurity.com/oauth/v1/authorize?response_type=code&"));
/// assert!(!format!("{config:?}").contains("deadbeef"));
/// # Ok::<(), duo_auth::universal::UniversalError>(())
/// ```
#[derive(Clone)]
pub struct UniversalConfig {
    client_id: String,
    client_secret: SecretKey,
    api_host: String,
    redirect_uri: String,
    base_url: String,
}

impl fmt::Debug for UniversalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UniversalConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("api_host", &self.api_host)
            .field("redirect_uri", &self.redirect_uri)
            .field("base_url", &self.base_url)
            .finish()
    }
}

fn validate_redirect_uri(uri: &str) -> Result<(), UniversalConfigError> {
    let bad = |reason| {
        Err(UniversalConfigError::RedirectUri {
            uri: uri.to_owned(),
            reason,
        })
    };
    let Ok(parsed) = url::Url::parse(uri) else {
        return bad("it is not an absolute URL");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return bad("the scheme must be http or https");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return bad("it has no host");
    }
    if parsed.fragment().is_some() {
        return bad("a redirect URI cannot have a fragment");
    }
    Ok(())
}

fn number(claims: &Map<String, Value>, key: &'static str) -> Result<Option<f64>, IdTokenError> {
    match claims.get(key) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(IdTokenError::Malformed("a time claim is not a number")),
        },
    }
}

impl UniversalConfig {
    /// Validates an application's values: client id (20 characters), client secret (40), API
    /// hostname (bare host, optionally `:port`) and redirect URI (absolute `http(s)` URL).
    /// Surrounding whitespace is trimmed. Duo is reached over HTTPS.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretKey>,
        api_host: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Result<Self, UniversalConfigError> {
        let client_id = client_id.into().trim().to_owned();
        if client_id.chars().count() != CLIENT_ID_LENGTH {
            return Err(UniversalConfigError::ClientId(client_id.chars().count()));
        }
        let client_secret = client_secret.into();
        let trimmed = client_secret.expose_secret().trim();
        if trimmed.chars().count() != CLIENT_SECRET_LENGTH {
            return Err(UniversalConfigError::ClientSecret(trimmed.chars().count()));
        }
        let client_secret = if trimmed.len() == client_secret.expose_secret().len() {
            client_secret
        } else {
            SecretKey::new(trimmed)
        };
        // The same hostname rules as the Auth API's credentials.
        let api_host = match Credentials::new("ikey", "skey", api_host.into()) {
            Ok(c) => c.api_host().to_owned(),
            Err(CredentialsError::ApiHost { host, reason }) => {
                return Err(UniversalConfigError::ApiHost { host, reason });
            }
            Err(_) => {
                return Err(UniversalConfigError::ApiHost {
                    host: String::new(),
                    reason: "invalid hostname",
                });
            }
        };
        let redirect_uri = redirect_uri.into().trim().to_owned();
        validate_redirect_uri(&redirect_uri)?;
        let base_url = format!("https://{api_host}");
        Ok(Self {
            client_id,
            client_secret,
            api_host,
            redirect_uri,
            base_url,
        })
    }

    /// Talk plain HTTP (`http://{host}`) instead of HTTPS: only for loopback hosts (a local
    /// sandbox); refused for any other host.
    pub fn with_loopback_http(mut self, on: bool) -> Result<Self, UniversalConfigError> {
        if on && !crate::credentials::is_loopback(&self.api_host) {
            return Err(UniversalConfigError::PlainHttp(self.api_host));
        }
        let scheme = if on { "http" } else { "https" };
        self.base_url = format!("{scheme}://{}", self.api_host);
        Ok(self)
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret.
    pub fn client_secret(&self) -> &SecretKey {
        &self.client_secret
    }

    /// The API hostname.
    pub fn api_host(&self) -> &str {
        &self.api_host
    }

    /// The redirect URI.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// `https://{host}` (or `http://` for a loopback host with plain HTTP on).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base}/oauth/v1/health_check`.
    pub fn health_check_url(&self) -> String {
        format!("{}/oauth/v1/health_check", self.base_url)
    }

    /// `{base}/oauth/v1/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/v1/authorize", self.base_url)
    }

    /// `{base}/oauth/v1/token`: the token endpoint and the `iss` of every `id_token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/v1/token", self.base_url)
    }

    fn sign(&self, claims: &Value) -> String {
        jwt::sign(claims, self.client_secret.expose_secret().as_bytes())
    }

    /// A client assertion for the endpoint `audience`: HS512 with the client secret,
    /// `iss = sub = client_id`, `aud = audience`, `exp = now + 300`, `jti` as given (pass a fresh
    /// random value of at least 36 characters each time).
    pub fn client_assertion(&self, audience: &str, now: u64, jti: &str) -> String {
        self.sign(&json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "exp": now.saturating_add(JWT_LIFETIME_SECS),
            "jti": jti,
        }))
    }

    /// The form of `POST /oauth/v1/health_check`.
    pub fn health_check_form(&self, now: u64, jti: &str) -> Vec<(&'static str, String)> {
        vec![
            ("client_id", self.client_id.clone()),
            (
                "client_assertion",
                self.client_assertion(&self.health_check_url(), now, jti),
            ),
        ]
    }

    /// Reads the health check's answer: `Ok` on `{"stat":"OK",…}`.
    pub fn parse_health_check(&self, raw: &RawResponse) -> Result<(), UniversalError> {
        let stat_ok = serde_json::from_slice::<Value>(&raw.body)
            .is_ok_and(|v| v.get("stat").and_then(Value::as_str) == Some("OK"));
        if stat_ok && (200..300).contains(&raw.status) {
            return Ok(());
        }
        parse_envelope(raw, 1)?;
        Err(UniversalError::Http(Error::UnexpectedResponse {
            status: raw.status,
            reason: "the health check did not answer stat OK".to_owned(),
            body: String::from_utf8_lossy(&raw.body[..raw.body.len().min(4096)]).into_owned(),
        }))
    }

    /// The URL of Duo's prompt for `username`: `{base}/oauth/v1/authorize?response_type=code&
    /// client_id=…&request=JWT[&nonce=…]`. `state` must be 22 to 1024 characters, `nonce` 16 to
    /// 1024; `now` (Unix seconds) sets the request's `exp` (now + 300).
    pub fn create_auth_url(
        &self,
        username: &str,
        state: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<String, UniversalError> {
        let state_len = state.chars().count();
        if !STATE_LENGTHS.contains(&state_len) {
            return Err(UniversalError::StateLength(state_len));
        }
        if let Some(nonce) = nonce {
            let len = nonce.chars().count();
            if !NONCE_LENGTHS.contains(&len) {
                return Err(UniversalError::NonceLength(len));
            }
        }
        if username.is_empty() {
            return Err(UniversalError::EmptyUsername);
        }
        let request = self.sign(&json!({
            "scope": "openid",
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "iss": self.client_id,
            "aud": self.base_url,
            "exp": now.saturating_add(JWT_LIFETIME_SECS),
            "state": state,
            "response_type": "code",
            "duo_uname": username,
            "use_duo_code_attribute": true,
        }));
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("request", &request);
        if let Some(nonce) = nonce {
            query.append_pair("nonce", nonce);
        }
        Ok(format!("{}?{}", self.authorize_url(), query.finish()))
    }

    /// Compares the `state` of the callback with the one sent, in constant time.
    pub fn check_state(&self, sent: &str, received: &str) -> Result<(), UniversalError> {
        if jwt::ct_eq(sent, received) {
            Ok(())
        } else {
            Err(UniversalError::StateMismatch)
        }
    }

    /// The form of `POST /oauth/v1/token` for `duo_code`.
    pub fn token_form(
        &self,
        duo_code: &str,
        now: u64,
        jti: &str,
    ) -> Result<Vec<(&'static str, String)>, UniversalError> {
        if duo_code.is_empty() {
            return Err(UniversalError::EmptyCode);
        }
        Ok(vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", duo_code.to_owned()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("client_id", self.client_id.clone()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
            (
                "client_assertion",
                self.client_assertion(&self.token_url(), now, jti),
            ),
        ])
    }

    /// Reads the token endpoint's answer and validates its `id_token` (see
    /// [`validate_id_token`](Self::validate_id_token)). Never panics, whatever the bytes.
    pub fn parse_token_response(
        &self,
        raw: &RawResponse,
        username: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<TokenResult, UniversalError> {
        let json: Option<Map<String, Value>> = match serde_json::from_slice(&raw.body) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        };
        let ok = (200..300).contains(&raw.status);
        let text =
            |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        // The body holds tokens: never copy it into an error.
        let unexpected = |reason: &str| {
            UniversalError::Http(Error::UnexpectedResponse {
                status: raw.status,
                reason: reason.to_owned(),
                body: String::new(),
            })
        };
        if !ok {
            if let Some(m) = &json
                && let Some(error) = text(m, "error")
            {
                return Err(UniversalError::TokenRefused {
                    status: raw.status,
                    error,
                    description: text(m, "error_description"),
                });
            }
            // Duo's envelope, or an answer nobody can read: its body stays out of the error
            // here too, whatever the status.
            parse_envelope(raw, 1).map_err(|e| match e {
                Error::UnexpectedResponse { status, reason, .. } => Error::UnexpectedResponse {
                    status,
                    reason,
                    body: String::new(),
                },
                other => other,
            })?;
            return Err(unexpected("an error status without an OAuth error"));
        }
        let Some(body) = json else {
            return Err(unexpected("the token answer is not a JSON object"));
        };
        let Some(id_token) = body.get("id_token").and_then(Value::as_str) else {
            return Err(unexpected("the token answer has no id_token"));
        };
        let mut result = self.validate_id_token(id_token, username, nonce, now)?;
        result.access_token = text(&body, "access_token").map(SecretKey::new);
        result.expires_in = body.get("expires_in").and_then(Value::as_u64);
        result.token_type = text(&body, "token_type");
        Ok(result)
    }

    /// Validates an `id_token` from Duo: HS512 only, HMAC with the client secret (constant
    /// time), `aud` = the client id, `iss` = [`token_url`](Self::token_url), `exp` and `iat`
    /// required (60 s leeway, `nbf` checked when present), `preferred_username` = `username`,
    /// and `nonce` = the one sent, when one was sent. Each failure is its own
    /// [`IdTokenError`]. Never panics, whatever the input.
    pub fn validate_id_token(
        &self,
        id_token: &str,
        username: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<TokenResult, IdTokenError> {
        let claims = jwt::verify(id_token, self.client_secret.expose_secret().as_bytes())?;
        let audience_ok = match claims.get("aud") {
            None => return Err(IdTokenError::MissingClaim("aud")),
            Some(Value::String(aud)) => aud == &self.client_id,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&self.client_id)),
            Some(_) => false,
        };
        if !audience_ok {
            return Err(IdTokenError::Audience);
        }
        let expected_iss = self.token_url();
        match claims.get("iss") {
            None => return Err(IdTokenError::MissingClaim("iss")),
            Some(iss) if iss.as_str() == Some(expected_iss.as_str()) => {}
            Some(_) => {
                return Err(IdTokenError::Issuer {
                    expected: expected_iss,
                });
            }
        }
        let leeway = LEEWAY_SECS as f64;
        let now_f = now as f64;
        let exp = number(&claims, "exp")?.ok_or(IdTokenError::MissingClaim("exp"))?;
        let iat = number(&claims, "iat")?.ok_or(IdTokenError::MissingClaim("iat"))?;
        if exp <= now_f - leeway {
            return Err(IdTokenError::Expired { exp, now });
        }
        if iat > now_f + leeway {
            return Err(IdTokenError::IssuedInFuture { iat, now });
        }
        if let Some(nbf) = number(&claims, "nbf")?
            && nbf > now_f + leeway
        {
            return Err(IdTokenError::NotYetValid { nbf, now });
        }
        let preferred_username = match claims.get("preferred_username").and_then(Value::as_str) {
            Some(u) if jwt::ct_eq(u, username) => u.to_owned(),
            _ => return Err(IdTokenError::Username),
        };
        if let Some(sent) = nonce {
            match claims.get("nonce").and_then(Value::as_str) {
                Some(got) if jwt::ct_eq(got, sent) => {}
                _ => return Err(IdTokenError::Nonce),
            }
        }
        let auth_result: PromptAuthResult = match claims.get("auth_result") {
            None => return Err(IdTokenError::MissingClaim("auth_result")),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| IdTokenError::Malformed("auth_result has no result"))?,
        };
        let auth_context: AuthContext = claims
            .get("auth_context")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        Ok(TokenResult {
            auth_result,
            auth_context,
            preferred_username,
            claims,
            access_token: None,
            expires_in: None,
            token_type: None,
        })
    }
}
