//! Verifies Duo-signed requests the way Duo does: credentials present, integration key known,
//! date within five minutes, signature (v5 or v2, HMAC-SHA512 or HMAC-SHA1) recomputed from what
//! was received, and the application allowed to call the endpoint.

use axum::body::Bytes;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use duo_auth::sign::{CanonicalRequest, Method};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::DuoState;
use super::envelope::fail;
use super::state::{AdminPermission, AppKind};

/// How far the signed date may be from the server's clock.
const MAX_SKEW_SECS: i64 = 300;

/// Which application an endpoint belongs to and what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// An Auth API application.
    Auth,
    /// An Admin API application with this permission; `v5_only` for `/admin/v2`+ endpoints.
    Admin {
        permission: AdminPermission,
        v5_only: bool,
    },
}

/// A request whose signature checked out.
#[derive(Debug)]
pub(crate) struct Verified {
    /// Parameters from the query (GET/DELETE) or the form body (v2 POST).
    pub(crate) params: Vec<(String, String)>,
    /// The JSON body of a v5 POST/PUT/PATCH.
    pub(crate) json: Option<serde_json::Map<String, Value>>,
}

impl Verified {
    /// A parameter's first value, from the query/form or the JSON body (as a string).
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        if let Some((_, v)) = self.params.iter().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
        match self.json.as_ref()?.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

pub(crate) struct Incoming<'a> {
    pub(crate) method: &'a http::Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a Bytes,
    pub(crate) hostname: &'a str,
}

fn unauthorized(code: u32, message: &str) -> Response {
    fail(StatusCode::UNAUTHORIZED, code, message, None)
}

pub(crate) fn parse_form(text: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text).into_owned().collect()
}

/// Checks a signed request; on failure returns Duo's own error response.
pub(crate) fn verify(
    state: &DuoState,
    req: Incoming<'_>,
    needs: Needs,
) -> Result<Verified, Response> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(unauthorized(40101, "Missing request credentials"));
    };
    let decoded = authorization
        .strip_prefix("Basic ")
        .and_then(|b| BASE64.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((ikey, signature)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(unauthorized(40101, "Missing request credentials"));
    };
    let Some(app) = state.apps.get(ikey) else {
        return Err(unauthorized(
            40102,
            "Invalid integration key in request credentials",
        ));
    };

    // X-Duo-Date wins over Date, as in Duo's newer clients.
    let Some(date) = header("x-duo-date").or_else(|| header("date")) else {
        return Err(unauthorized(40105, "Missing request timestamp"));
    };
    match chrono::DateTime::parse_from_rfc2822(date) {
        Ok(t) if (t.timestamp() - super::state::now_secs() as i64).abs() <= MAX_SKEW_SECS => {}
        _ => return Err(unauthorized(40105, "Request timestamp is out of range")),
    }

    let Ok(method) = req.method.as_str().parse::<Method>() else {
        return Err(fail(
            StatusCode::METHOD_NOT_ALLOWED,
            40501,
            "Method not allowed",
            None,
        ));
    };
    let content_type = header("content-type").unwrap_or_default();
    let is_json = content_type.starts_with("application/json");
    let (params, json) = if method.params_in_body() {
        if is_json {
            match serde_json::from_slice::<Value>(req.body) {
                Ok(Value::Object(map)) => (Vec::new(), Some(map)),
                _ => {
                    return Err(fail(
                        StatusCode::BAD_REQUEST,
                        40002,
                        "Invalid request parameters",
                        Some("body"),
                    ));
                }
            }
        } else {
            (parse_form(req.body), None)
        }
    } else {
        (parse_form(req.query.as_bytes()), None)
    };

    let mut duo_headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-duo-"))
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    duo_headers.sort();

    let sig_bytes = signature.as_bytes();
    let matches = |canonical: &CanonicalRequest, sha1: bool| -> bool {
        let data = canonical.as_str().as_bytes();
        let hex = if sha1 {
            let mut mac = Hmac::<sha1_alias::Sha1>::new_from_slice(app.skey.as_bytes())
                .expect("any key length");
            mac.update(data);
            base16ct::lower::encode_string(&mac.finalize().into_bytes())
        } else {
            let mut mac =
                Hmac::<sha2::Sha512>::new_from_slice(app.skey.as_bytes()).expect("any key length");
            mac.update(data);
            base16ct::lower::encode_string(&mac.finalize().into_bytes())
        };
        constant_time_eq(hex.as_bytes(), sig_bytes)
    };

    // v5: JSON bodies (params line empty) and GET/DELETE (empty body hashed).
    let v5_ok = if !method.params_in_body() || is_json {
        let v5_params: &[(String, String)] = if is_json { &[] } else { &params };
        let body: &[u8] = if method.params_in_body() {
            req.body
        } else {
            b""
        };
        CanonicalRequest::v5(
            date,
            method,
            req.hostname,
            req.path,
            v5_params,
            body,
            &duo_headers,
        )
        .is_ok_and(|c| matches(&c, false))
    } else {
        false
    };
    let v2_ok = !v5_ok
        && !is_json
        && CanonicalRequest::v2(date, method, req.hostname, req.path, &params)
            .is_ok_and(|c| matches(&c, false) || matches(&c, true));
    let signed = v5_ok || (v2_ok && !matches!(needs, Needs::Admin { v5_only: true, .. }));
    if !signed {
        return Err(unauthorized(
            40103,
            "Invalid signature in request credentials",
        ));
    }

    match (needs, &app.kind) {
        (Needs::Auth, AppKind::Auth) => {}
        (Needs::Admin { permission, .. }, AppKind::Admin(granted)) => {
            if !granted.contains(&permission) {
                return Err(fail(
                    StatusCode::FORBIDDEN,
                    40301,
                    "Access forbidden",
                    Some(&format!(
                        "This integration lacks the {permission:?} permission"
                    )),
                ));
            }
        }
        _ => {
            return Err(fail(
                StatusCode::FORBIDDEN,
                40301,
                "Access forbidden",
                Some("Wrong integration type for this API."),
            ));
        }
    }
    Ok(Verified { params, json })
}

mod sha1_alias {
    pub(crate) use sha1::Sha1;
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
