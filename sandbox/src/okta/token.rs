//! `POST /oauth2/v1/token`: the org authorization server, client credentials only.
//!
//! The order of checks follows Okta: the request form, the grant type, client authentication
//! (`private_key_jwt`, whose `jti` is burned as soon as the assertion is valid — even when the
//! answer is then `use_dpop_nonce`), DPoP for apps that require it, and the scopes.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::apps::{App, KNOWN_SCOPES};
use super::dpop::{self, Expect};
use super::jose::{self, Compact};
use super::time::now_secs;
use super::{Ctx, IssuedToken, OktaState, json_response, oauth_error};
use crate::origin::Origin;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Okta refuses client assertions that expire more than an hour after its own clock.
const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Leeway for `iat` / `nbf` set by a client clock that runs ahead.
const CLOCK_SKEW: i64 = 60;

/// A refusal; becomes the OAuth error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub(crate) struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl TokenError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", description)
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        oauth_error(self.status, self.error, &self.description)
    }
}

/// The handler.
pub(crate) async fn token(
    State(ctx): State<Ctx>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&ctx.state, &origin, &headers, &body) {
        Ok(response) => response,
        Err(Refusal::Error(e)) => e.into_response(),
        Err(Refusal::UseNonce(nonce)) => {
            let mut r = oauth_error(
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
            );
            if let Ok(v) = HeaderValue::from_str(&nonce) {
                r.headers_mut().insert("dpop-nonce", v);
            }
            r
        }
    }
}

enum Refusal {
    Error(TokenError),
    /// Answer `use_dpop_nonce` with this nonce.
    UseNonce(String),
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Self {
        Refusal::Error(e)
    }
}

fn issue(
    st: &OktaState,
    origin: &Origin,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let base = origin.base_url();
    let token_url = format!("{base}/oauth2/v1/token");
    let form = parse_form(headers, body)?;
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(g) if !g.is_empty() => {
            return Err(TokenError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].",
            )
            .into());
        }
        _ => {
            return Err(TokenError::invalid_request(
                "The request is missing a required parameter: 'grant_type'.",
            )
            .into());
        }
    }

    let app_index = authenticate_client(st, &form, &token_url)?;
    let app = &st.apps[app_index];

    let jkt = if app.dpop {
        let proof = dpop::proof_header(headers)
            .map_err(|e| TokenError::invalid_dpop_proof(e.0))?
            .ok_or_else(|| {
                TokenError::invalid_dpop_proof("The DPoP proof JWT header is missing.")
            })?;
        let expect = Expect {
            method: "POST",
            base: &base,
            path: "/oauth2/v1/token",
            access_token: None,
        };
        let verified = dpop::verify(proof, &expect, &mut st.lock_proof_jtis())
            .map_err(|e| TokenError::invalid_dpop_proof(e.0))?;
        let mut nonce = st.lock_as_nonce();
        if !verified.nonce.as_deref().is_some_and(|n| nonce.accepts(n)) {
            return Err(Refusal::UseNonce(nonce.current()));
        }
        Some(verified.jkt)
    } else {
        // Apps that do not require DPoP get Bearer tokens; a stray proof is ignored.
        None
    };

    let scopes = check_scopes(app, form.get("scope").map(String::as_str))?;
    let access_token = crate::random_id(64);
    let token_type = if jkt.is_some() { "DPoP" } else { "Bearer" };
    let lifetime = st.token_lifetime.load(Ordering::Relaxed);
    st.lock_tokens().insert(
        access_token.clone(),
        IssuedToken {
            app: app_index,
            scopes: scopes.clone(),
            jkt,
            expires_at: now_secs().saturating_add(lifetime),
        },
    );
    st.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    st.lock_access().record(super::syslog::token_grant(
        &app.client_id,
        &app.public.name,
        &scopes,
    ));
    let body = serde_json::json!({
        "token_type": token_type,
        "expires_in": lifetime,
        "access_token": access_token,
        "scope": scopes.join(" "),
    });
    let mut response = json_response(StatusCode::OK, body.to_string());
    let h = response.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The form body; every parameter at most once.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, TokenError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    }) {
        return Err(TokenError::invalid_request(
            "The request body must be application/x-www-form-urlencoded.",
        ));
    }
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form
            .insert(k.clone().into_owned(), v.into_owned())
            .is_some()
        {
            return Err(TokenError::invalid_request(format!(
                "The '{}' parameter is repeated.",
                k.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(form)
}

/// Verifies the client assertion; returns the app's index.
fn authenticate_client(
    st: &OktaState,
    form: &HashMap<String, String>,
    token_url: &str,
) -> Result<usize, TokenError> {
    if form.contains_key("client_secret") {
        return Err(TokenError::invalid_client(
            "Client authentication failed: this client uses private_key_jwt, not a client secret.",
        ));
    }
    let assertion = form.get("client_assertion").ok_or_else(|| {
        TokenError::invalid_client("Client authentication failed. Either the client or the client credentials are invalid.")
    })?;
    match form.get("client_assertion_type").map(String::as_str) {
        Some(JWT_BEARER) => {}
        _ => {
            return Err(TokenError::invalid_client(format!(
                "The client_assertion_type must be '{JWT_BEARER}'."
            )));
        }
    }
    let jws = Compact::parse(assertion).map_err(|e| {
        TokenError::invalid_client(format!("The client_assertion token is invalid ({e})."))
    })?;
    let claim = |name: &str| {
        jose::claim_str(&jws.claims, name).map_err(|e| {
            TokenError::invalid_client(format!("The client_assertion token is invalid: {e}."))
        })
    };
    let iss = claim("iss")?.ok_or_else(|| {
        TokenError::invalid_client("The client_assertion token must have an 'iss' claim.")
    })?;
    let sub = claim("sub")?.ok_or_else(|| {
        TokenError::invalid_client("The client_assertion token must have a 'sub' claim.")
    })?;
    if iss != sub {
        return Err(TokenError::invalid_client(
            "The 'iss' and 'sub' claims of the client_assertion must both be the client_id.",
        ));
    }
    if form.get("client_id").is_some_and(|c| c != iss) {
        return Err(TokenError::invalid_client(
            "The client_id parameter does not match the client_assertion's issuer.",
        ));
    }
    let (index, app) = st
        .apps
        .iter()
        .enumerate()
        .find(|(_, a)| a.client_id == iss)
        .ok_or_else(|| TokenError::invalid_client("Invalid value for 'client_id' parameter."))?;

    let alg = jws.alg().map_err(|e| {
        TokenError::invalid_client(format!("The client_assertion token is invalid: {e}."))
    })?;
    let key = select_key(app, jws.header_str("kid"), jws.header.contains_key("kid"))?;
    let verifier = key.verifier(alg).ok_or_else(|| {
        TokenError::invalid_client(format!(
            "The client_assertion 'alg' {} cannot be verified with the key '{}'.",
            alg.name(),
            key.kid
        ))
    })?;
    jws.verify(verifier)
        .map_err(|_| TokenError::invalid_client("The client_assertion signature is invalid."))?;

    // Signed by the app: now the claims can be judged.
    let aud_ok = match jws.claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == token_url,
        Some(serde_json::Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(token_url)),
        _ => false,
    };
    if !aud_ok {
        return Err(TokenError::invalid_client(
            "The audience claim for client_assertion must be the endpoint invoked for the request.",
        ));
    }
    let time = |name: &str| {
        jose::claim_time(&jws.claims, name).map_err(|e| {
            TokenError::invalid_client(format!("The client_assertion token is invalid: {e}."))
        })
    };
    let now = now_secs();
    let exp = time("exp")?.ok_or_else(|| {
        TokenError::invalid_client("The client_assertion token must have an 'exp' claim.")
    })?;
    if exp <= now {
        return Err(TokenError::invalid_client(
            "The client_assertion token is expired.",
        ));
    }
    if exp - now > MAX_ASSERTION_LIFETIME {
        return Err(TokenError::invalid_client(
            "The client_assertion token has an expiration too far into the future.",
        ));
    }
    if time("iat")?.is_some_and(|iat| iat > now + CLOCK_SKEW) {
        return Err(TokenError::invalid_client(
            "The client_assertion token was issued in the future ('iat').",
        ));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(TokenError::invalid_client(
            "The client_assertion token is not valid yet ('nbf').",
        ));
    }
    let jti = claim("jti")?
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| {
            TokenError::invalid_client("The client_assertion token must have a 'jti' claim.")
        })?;
    if !st
        .lock_assertion_jtis()
        .insert(format!("{iss}:{jti}"), exp.saturating_add(CLOCK_SKEW))
    {
        return Err(TokenError::invalid_client(
            "The client_assertion token has already been used.",
        ));
    }
    Ok(index)
}

fn select_key<'a>(
    app: &'a App,
    kid: Option<&str>,
    has_kid: bool,
) -> Result<&'a super::apps::RegisteredKey, TokenError> {
    match (kid, has_kid) {
        (Some(kid), _) => app.keys.iter().find(|k| k.kid == kid).ok_or_else(|| {
            TokenError::invalid_client(
                "The client_assertion 'kid' does not identify a key registered for the client.",
            )
        }),
        (None, true) => Err(TokenError::invalid_client(
            "The client_assertion 'kid' header must be a string.",
        )),
        (None, false) => match app.keys.as_slice() {
            [only] => Ok(only),
            _ => Err(TokenError::invalid_client(
                "The client_assertion must have a 'kid' header: the client has several keys.",
            )),
        },
    }
}

/// The requested scopes, all known and granted.
fn check_scopes(app: &App, requested: Option<&str>) -> Result<Vec<String>, TokenError> {
    let mut scopes: Vec<String> = Vec::new();
    for s in requested.unwrap_or_default().split_whitespace() {
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(TokenError::invalid_scope(
            "The authorization server resource does not have any configured default scopes, 'scope' must be provided.",
        ));
    }
    if scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return Err(TokenError::invalid_scope(
            "One or more scopes are not configured for the authorization server resource.",
        ));
    }
    let missing: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !app.scopes.iter().any(|g| g == s))
        .collect();
    if !missing.is_empty() {
        return Err(TokenError::invalid_scope(format!(
            "The following scopes are not granted to the client: {}.",
            missing.join(" ")
        )));
    }
    Ok(scopes)
}
