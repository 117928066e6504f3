//! Duo Universal Prompt (Web SDK v4, OIDC): health check, authorize (a small page where a
//! person — or a browser test — approves or denies), and the code-for-token exchange.
//!
//! Client assertions and request objects are HS512 JWTs keyed by the client secret, verified
//! here with AWS-LC's HMAC — not with the SDK's own (RustCrypto) code.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::envelope::{fail, json_response};
use super::state::{PromptLogin, now_secs};
use super::verify::parse_form;
use super::{Call, DuoState};
use crate::random_id;

type S = State<Arc<DuoState>>;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A `duo_code` is good for this long, once.
const CODE_LIFETIME_SECS: u64 = 60;

pub(crate) fn routes() -> Router<Arc<DuoState>> {
    Router::new()
        .route("/oauth/v1/health_check", post(health_check))
        .route("/oauth/v1/authorize", get(authorize))
        .route("/oauth/v1/authorize/{session}", post(decide))
        .route("/oauth/v1/token", post(token))
}

/// Form fields from the body, and from the query (Duo's Python client sends the token
/// request's fields as query parameters of the POST).
fn fields(call: &Call) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in parse_form(call.uri.query().unwrap_or_default().as_bytes())
        .into_iter()
        .chain(parse_form(&call.body))
    {
        out.insert(k, Value::String(v));
    }
    out
}

fn field<'a>(f: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    f.get(key).and_then(Value::as_str)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// Verifies an HS512 JWT with the client secret and returns its claims.
fn decode(state: &DuoState, token: &str) -> Result<Map<String, Value>, String> {
    hs512::verify(token, state.universal_secret.as_bytes())
}

fn number(claims: &Map<String, Value>, key: &str) -> Option<f64> {
    claims
        .get(key)
        .and_then(Value::as_f64)
        .filter(|n| n.is_finite())
}

/// Checks a client assertion: iss = sub = client_id, aud = the endpoint called, exp in the
/// future and at most an hour ahead, jti present and never seen before.
fn check_assertion(
    state: &DuoState,
    assertion: &str,
    client_id: &str,
    audience: &str,
) -> Result<(), String> {
    let claims = decode(state, assertion)?;
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(client_id) || s("sub") != Some(client_id) {
        return Err("iss and sub must be the client id".to_owned());
    }
    if s("aud") != Some(audience) {
        return Err(format!("aud must be {audience}"));
    }
    let now = now_secs() as f64;
    match number(&claims, "exp") {
        Some(exp) if exp > now && exp <= now + 3600.0 => {}
        Some(exp) if exp <= now => return Err("the assertion has expired".to_owned()),
        Some(_) => return Err("exp is more than an hour ahead".to_owned()),
        None => return Err("exp is required".to_owned()),
    }
    let Some(jti) = s("jti").filter(|j| !j.is_empty()) else {
        return Err("jti is required".to_owned());
    };
    if !state.account().used_jtis.insert(jti.to_owned()) {
        return Err("jti has already been used".to_owned());
    }
    Ok(())
}

async fn health_check(State(state): S, call: Call) -> Response {
    let f = fields(&call);
    let audience = format!("{}/oauth/v1/health_check", call.origin.base_url());
    let (Some(client_id), Some(assertion)) =
        (field(&f, "client_id"), field(&f, "client_assertion"))
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            40002,
            "invalid_request",
            Some("client_id and client_assertion are required"),
        );
    };
    if client_id != state.universal_client_id {
        return fail(
            StatusCode::BAD_REQUEST,
            40002,
            "invalid_client",
            Some("unknown client_id"),
        );
    }
    if let Err(detail) = check_assertion(&state, assertion, client_id, &audience) {
        return fail(
            StatusCode::BAD_REQUEST,
            40002,
            "invalid_client",
            Some(&detail),
        );
    }
    json_response(
        StatusCode::OK,
        &json!({"stat": "OK", "response": {"timestamp": now_secs()}}),
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>Duo sandbox: error</title></head><body><h1>Request refused</h1><p id=\"error\">{}</p></body></html>",
        html_escape(message)
    );
    (status, Html(body)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn authorize(State(state): S, call: Call) -> Response {
    let q: Map<String, Value> = parse_form(call.uri.query().unwrap_or_default().as_bytes())
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if field(&q, "response_type") != Some("code") {
        return error_page(StatusCode::BAD_REQUEST, "response_type must be code");
    }
    if field(&q, "client_id") != Some(state.universal_client_id.as_str()) {
        return error_page(StatusCode::BAD_REQUEST, "unknown client_id");
    }
    let Some(request) = field(&q, "request") else {
        return error_page(StatusCode::BAD_REQUEST, "the request object is missing");
    };
    let claims = match decode(&state, request) {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    let expected_aud = call.origin.base_url();
    let problems = [
        (
            s("client_id") != Some(state.universal_client_id.as_str()),
            "client_id claim does not match",
        ),
        (
            s("iss") != Some(state.universal_client_id.as_str()),
            "iss must be the client id",
        ),
        (
            s("aud") != Some(expected_aud.as_str()),
            "aud must be the API host URL",
        ),
        (
            s("response_type") != Some("code"),
            "response_type claim must be code",
        ),
        (s("scope") != Some("openid"), "scope must be openid"),
        (
            s("redirect_uri").is_none_or(str::is_empty),
            "redirect_uri is required",
        ),
        (
            s("duo_uname").is_none_or(str::is_empty),
            "duo_uname is required",
        ),
        (
            s("state").is_none_or(|st| !(16..=1024).contains(&st.len())),
            "state must be 16 to 1024 characters",
        ),
        (
            number(&claims, "exp").is_none_or(|e| e <= now_secs() as f64),
            "the request has expired",
        ),
        (
            field(&q, "nonce").is_some_and(|n| !(16..=1024).contains(&n.len())),
            "nonce must be 16 to 1024 characters",
        ),
    ];
    if let Some((_, why)) = problems.iter().find(|(bad, _)| *bad) {
        return error_page(StatusCode::BAD_REQUEST, why);
    }
    let login = PromptLogin {
        client_id: state.universal_client_id.clone(),
        username: s("duo_uname").unwrap_or_default().to_owned(),
        redirect_uri: s("redirect_uri").unwrap_or_default().to_owned(),
        state: s("state").unwrap_or_default().to_owned(),
        nonce: field(&q, "nonce").map(str::to_owned),
        result: None,
        created: Instant::now(),
        txid: random_id(36),
    };
    let session = random_id(32);
    let username = login.username.clone();
    state
        .account()
        .prompt_sessions
        .insert(session.clone(), login);
    Html(format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Duo sandbox: verify it's you</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:4rem auto;text-align:center}}
button{{font-size:1.1rem;padding:.6rem 1.4rem;margin:.4rem}}#approve{{background:#2b7a0b;color:#fff}}
#deny{{background:#a61b1b;color:#fff}}</style></head>
<body><h1>Duo Push (sandbox)</h1>
<p>Login request for <strong id="username">{user}</strong></p>
<form method="post" action="/oauth/v1/authorize/{session}">
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button>
</form></body></html>"#,
        user = html_escape(&username),
    ))
    .into_response()
}

async fn decide(State(state): S, Path(session): Path<String>, call: Call) -> Response {
    let f = parse_form(&call.body);
    let approve = match f
        .iter()
        .find(|(k, _)| k == "decision")
        .map(|(_, v)| v.as_str())
    {
        Some("approve") => true,
        Some("deny") => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    };
    let mut account = state.account();
    let Some(mut login) = account.prompt_sessions.remove(&session) else {
        return error_page(StatusCode::BAD_REQUEST, "unknown or finished login session");
    };
    login.result = Some(approve);
    login.created = Instant::now();
    let code = random_id(32);
    let separator = if login.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!(
        "{}{separator}duo_code={code}&state={}",
        login.redirect_uri,
        url::form_urlencoded::byte_serialize(login.state.as_bytes()).collect::<String>()
    );
    account.prompt_codes.insert(code, login);
    Redirect::to(&location).into_response()
}

async fn token(State(state): S, call: Call) -> Response {
    let f = fields(&call);
    let base = call.origin.base_url();
    let audience = format!("{base}/oauth/v1/token");
    if field(&f, "grant_type") != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    if field(&f, "client_assertion_type") != Some(ASSERTION_TYPE) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_assertion_type must be jwt-bearer",
        );
    }
    let (Some(client_id), Some(assertion), Some(code), Some(redirect_uri)) = (
        field(&f, "client_id"),
        field(&f, "client_assertion"),
        field(&f, "code"),
        field(&f, "redirect_uri"),
    ) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id, client_assertion, code and redirect_uri are required",
        );
    };
    if client_id != state.universal_client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    if let Err(detail) = check_assertion(&state, assertion, client_id, &audience) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", &detail);
    }
    let login = state.account().prompt_codes.remove(code);
    let Some(login) = login else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or already used duo_code",
        );
    };
    if login.created.elapsed().as_secs() > CODE_LIFETIME_SECS {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the duo_code has expired",
        );
    }
    if login.redirect_uri != redirect_uri || login.client_id != client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let approved = login.result == Some(true);
    let now = now_secs();
    let user = {
        let account = state.account();
        account
            .find_by_name(&login.username)
            .map(|i| account.users[i].clone())
    };
    let (result, status, status_msg) = if approved {
        ("allow", "allow", "Login Successful")
    } else {
        ("deny", "deny", "Login request denied")
    };
    let mut claims = json!({
        "iss": audience,
        "aud": client_id,
        "sub": login.username,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "preferred_username": login.username,
        "auth_result": {"result": result, "status": status, "status_msg": status_msg},
        "auth_context": {
            "txid": login.txid,
            "timestamp": now,
            "event_type": "authentication",
            "factor": "duo_push",
            "reason": if approved { "user_approved" } else { "user_marked_fraud" },
            "result": if approved { "success" } else { "denied" },
            "user": {"name": login.username, "key": user.as_ref().map(|u| u.user_id.clone())},
            "application": {"key": client_id, "name": "Sandbox Web SDK application"},
            "access_device": {"ip": "127.0.0.1", "hostname": null, "location": {"city": null, "country": null, "state": null}},
            "auth_device": {"ip": null, "name": "sandbox phone", "location": {"city": null, "country": null, "state": null}},
        },
    });
    if let Some(nonce) = &login.nonce {
        claims["nonce"] = Value::String(nonce.clone());
    }
    let id_token = match sign(&state, &claims) {
        Ok(t) => t,
        Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "id_token": id_token,
            "access_token": random_id(40),
            "expires_in": 3600,
            "token_type": "Bearer",
        }),
    )
}

fn sign(state: &DuoState, claims: &Value) -> Result<String, String> {
    hs512::sign(claims, state.universal_secret.as_bytes())
}

/// Compact HS512 JWS over AWS-LC's HMAC.
mod hs512 {
    use aws_lc_rs::hmac;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::{Map, Value, json};

    fn key(secret: &[u8]) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA512, secret)
    }

    fn mac(secret: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        Ok(hmac::sign(&key(secret), data).as_ref().to_vec())
    }

    pub(super) fn sign(claims: &Value, key: &[u8]) -> Result<String, String> {
        let header = B64.encode(json!({"alg": "HS512", "typ": "JWT"}).to_string());
        let payload = B64.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let signature = B64.encode(mac(key, input.as_bytes())?);
        Ok(format!("{input}.{signature}"))
    }

    pub(super) fn verify(token: &str, key: &[u8]) -> Result<Map<String, Value>, String> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("invalid JWT: not three parts".to_owned());
        };
        let decode_json = |part: &str| -> Result<Value, String> {
            let bytes = B64
                .decode(part)
                .map_err(|_| "invalid JWT: bad base64url".to_owned())?;
            serde_json::from_slice(&bytes).map_err(|_| "invalid JWT: bad JSON".to_owned())
        };
        let header = decode_json(header_b64)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS512") {
            return Err("alg must be HS512".to_owned());
        }
        let given = B64
            .decode(signature)
            .map_err(|_| "invalid JWT: bad signature encoding".to_owned())?;
        // Constant-time comparison inside AWS-LC.
        if hmac::verify(
            &self::key(key),
            format!("{header_b64}.{payload_b64}").as_bytes(),
            &given,
        )
        .is_err()
        {
            return Err("invalid JWT: signature does not verify".to_owned());
        }
        match decode_json(payload_b64)? {
            Value::Object(claims) => Ok(claims),
            _ => Err("invalid JWT: claims are not an object".to_owned()),
        }
    }
}
