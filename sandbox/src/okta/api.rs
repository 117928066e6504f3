//! The resource API: groups, group members and users, with Okta's authentication, scopes,
//! admin-role check and cursor paging.

use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use super::apps::{APPS_READ, GROUPS_READ, LOGS_READ, USERS_READ};
use super::directory::ExpandStats;
use super::dpop::{self, Expect};
use super::jose::Alg;
use super::search::Expr;
use super::time::now_secs;
use super::{Ctx, OktaState, json_response, oauth_error};
use crate::faults::FaultKind;
use crate::okta_error_body;
use crate::origin::Origin;

/// Groups: `limit` default and maximum (Okta: 10000 / 10000).
const GROUPS_LIMIT: (usize, usize) = (10_000, 10_000);
/// A `q` query is not paged and returns at most this many by default.
const QUERY_LIMIT: usize = 300;
/// Group members: `limit` default and maximum (Okta: 1000 / 1000).
const MEMBERS_LIMIT: (usize, usize) = (1000, 1000);

/// Who is calling.
#[derive(Debug)]
enum Principal {
    /// An API token: its creator's (full read) privileges.
    ApiToken,
    /// A service app's access token.
    App {
        app: usize,
        scopes: Vec<String>,
        dpop: bool,
    },
}

/// The request, as authentication needs it.
struct Call<'a> {
    base: String,
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    /// The scope the operation needs.
    scope: &'static str,
}

/// Why a resource request was refused; rendered with the request's context (org URL, scope).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ApiError {
    /// No usable credential at all (no header, unknown scheme, wrong API token).
    #[error("no valid credential")]
    NoToken,
    /// A bad, expired or misused access token (401 with an RFC 6750 / RFC 9449 challenge).
    #[error("invalid token: {description}")]
    InvalidToken {
        dpop: bool,
        description: &'static str,
    },
    /// A bad DPoP proof (400, as Okta answers on its resource API).
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(String),
    /// The resource server wants its nonce in the proof (401, RFC 9449 §9).
    #[error("use DPoP nonce {0}")]
    UseNonce(String),
    /// The token lacks the operation's scope.
    #[error("insufficient scope")]
    InsufficientScope { dpop: bool },
    /// The app has no admin role.
    #[error("forbidden")]
    Forbidden,
    /// A query parameter is invalid.
    #[error("invalid parameter {0}")]
    Validation(&'static str),
    /// `search` / `filter` do not parse.
    #[error("invalid search criteria")]
    Search,
    /// No such resource.
    #[error("not found: {id} ({kind})")]
    NotFound { id: String, kind: &'static str },
}

/// A quoted-string parameter value (descriptions never hold `"`, but be safe).
fn quoted(s: &str) -> String {
    s.replace(['"', '\\'], "'")
}

fn dpop_algs() -> String {
    Alg::ALL
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(" ")
}

fn with_challenge(mut r: Response, challenge: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(challenge) {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

impl ApiError {
    fn respond(self, call: &Call<'_>) -> Response {
        let base = &call.base;
        let scheme = |dpop: bool| {
            if dpop {
                format!(r#"DPoP algs="{}","#, dpop_algs())
            } else {
                "Bearer".to_owned()
            }
        };
        match self {
            ApiError::NoToken => okta_error_body(
                StatusCode::UNAUTHORIZED,
                "E0000011",
                "Invalid token provided",
            ),
            ApiError::InvalidToken { dpop, description } => with_challenge(
                okta_error_body(
                    StatusCode::UNAUTHORIZED,
                    "E0000011",
                    "Invalid token provided",
                ),
                &format!(
                    r#"{} authorization_uri="{base}/oauth2/v1/authorize", realm="{base}", scope="{}", error="invalid_token", error_description="{}""#,
                    scheme(dpop),
                    call.scope,
                    quoted(description),
                ),
            ),
            ApiError::InvalidProof(description) => with_challenge(
                oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof", &description),
                &format!(
                    r#"DPoP algs="{}", error="invalid_dpop_proof", error_description="{}""#,
                    dpop_algs(),
                    quoted(&description)
                ),
            ),
            ApiError::UseNonce(nonce) => {
                // The JSON body repeats the error: clients such as Okta's Python SDK look there.
                let description = "Resource server requires nonce in DPoP proof.";
                let mut r = with_challenge(
                    oauth_error(StatusCode::UNAUTHORIZED, "use_dpop_nonce", description),
                    &format!(
                        r#"DPoP algs="{}", error="use_dpop_nonce", error_description="{description}""#,
                        dpop_algs()
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&nonce) {
                    r.headers_mut().insert("dpop-nonce", v);
                }
                r
            }
            ApiError::InsufficientScope { dpop } => with_challenge(
                forbidden(),
                &format!(
                    r#"{} authorization_uri="{base}/oauth2/v1/authorize", realm="{base}", scope="{}", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.""#,
                    scheme(dpop),
                    call.scope,
                ),
            ),
            ApiError::Forbidden => forbidden(),
            ApiError::Validation(param) => okta_error_body(
                StatusCode::BAD_REQUEST,
                "E0000001",
                &format!("Api validation failed: {param}"),
            ),
            ApiError::Search => okta_error_body(
                StatusCode::BAD_REQUEST,
                "E0000031",
                "Invalid search criteria.",
            ),
            ApiError::NotFound { id, kind } => okta_error_body(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!(
                    "Not found: Resource not found: {} ({kind})",
                    id.chars().take(100).collect::<String>()
                ),
            ),
        }
    }
}

fn forbidden() -> Response {
    okta_error_body(
        StatusCode::FORBIDDEN,
        "E0000006",
        "You do not have permission to perform the requested action",
    )
}

/// Authenticates the caller and checks the scope and the admin role.
fn authorize(st: &OktaState, call: &Call<'_>) -> Result<(), ApiError> {
    match authenticate(st, call)? {
        Principal::ApiToken => Ok(()),
        Principal::App { app, scopes, dpop } => {
            let manage = call.scope.replace(".read", ".manage");
            if !scopes.iter().any(|s| s == call.scope || *s == manage) {
                return Err(ApiError::InsufficientScope { dpop });
            }
            if !st.apps.get(app).is_some_and(|a| a.admin_role) {
                return Err(ApiError::Forbidden);
            }
            Ok(())
        }
    }
}

/// Why every access token is refused while `OktaDirectory::reject_access_tokens` is on.
const REVOKED: &str = "The access token has been revoked.";

fn authenticate(st: &OktaState, call: &Call<'_>) -> Result<Principal, ApiError> {
    let invalid = |dpop, description| ApiError::InvalidToken { dpop, description };
    let Some(header) = call
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::NoToken);
    };
    let header = header.trim();
    // Okta's own Python SDK (3.x, SSWS mode) sends `SSWS{token}` with no space — its generated
    // `Configuration.auth_settings` concatenates mode and token — and it is the SDK's default
    // mode, so Okta evidently accepts that form. Only for SSWS: API tokens start with `00`.
    let (scheme, credential) = match header.split_once(' ') {
        Some(pair) => pair,
        None if header.len() > 4
            && header.is_char_boundary(4)
            && header[..4].eq_ignore_ascii_case("ssws") =>
        {
            header.split_at(4)
        }
        None => (header, ""),
    };
    let credential = credential.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "ssws" if !credential.is_empty() && credential == st.api_token => Ok(Principal::ApiToken),
        "bearer" => {
            let token = st.lock_tokens().get(credential).cloned();
            match token {
                None => Err(invalid(false, "The access token is invalid.")),
                Some(t) if t.expires_at <= now_secs() => {
                    Err(invalid(false, "The access token is expired."))
                }
                // RFC 9449 §7.2: a DPoP-bound token is not a Bearer token.
                Some(t) if t.jkt.is_some() => Err(invalid(
                    false,
                    "The access token is DPoP-bound; present it with the DPoP scheme and a DPoP proof.",
                )),
                Some(_) if st.rejects_tokens() => Err(invalid(false, REVOKED)),
                Some(t) => Ok(Principal::App {
                    app: t.app,
                    scopes: t.scopes,
                    dpop: false,
                }),
            }
        }
        "dpop" => {
            let token = st.lock_tokens().get(credential).cloned();
            let t = match token {
                None => return Err(invalid(true, "The access token is invalid.")),
                Some(t) if t.expires_at <= now_secs() => {
                    return Err(invalid(true, "The access token is expired."));
                }
                Some(t) => t,
            };
            let Some(jkt) = t.jkt.as_deref() else {
                return Err(invalid(
                    true,
                    "The access token is not DPoP-bound; use the Bearer scheme.",
                ));
            };
            let proof = dpop::proof_header(call.headers)
                .map_err(|e| ApiError::InvalidProof(e.0))?
                .ok_or_else(|| {
                    ApiError::InvalidProof("The DPoP proof JWT header is missing.".into())
                })?;
            let expect = Expect {
                method: call.method.as_str(),
                base: &call.base,
                path: call.path,
                access_token: Some(credential),
            };
            let verified = dpop::verify(proof, &expect, &mut st.lock_proof_jtis())
                .map_err(|e| ApiError::InvalidProof(e.0))?;
            if verified.jkt != jkt {
                return Err(invalid(
                    true,
                    "The DPoP proof key does not match the key the access token is bound to.",
                ));
            }
            if st.rejects_tokens() {
                return Err(invalid(true, REVOKED));
            }
            if st.rs_nonce_required() {
                let mut nonce = st.lock_rs_nonce();
                if !verified.nonce.as_deref().is_some_and(|n| nonce.accepts(n)) {
                    return Err(ApiError::UseNonce(nonce.current()));
                }
            }
            Ok(Principal::App {
                app: t.app,
                scopes: t.scopes,
                dpop: true,
            })
        }
        _ => Err(ApiError::NoToken),
    }
}

/// The query string as (name, value) pairs, decoded.
fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `limit`: a positive integer, capped at the endpoint's maximum.
fn parse_limit(
    pairs: &[(String, String)],
    (default, max): (usize, usize),
) -> Result<usize, ApiError> {
    match param(pairs, "limit") {
        None => Ok(default),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            match s.parse::<usize>() {
                Ok(0) => Err(ApiError::Validation("limit")),
                Ok(n) => Ok(n.min(max)),
                // More digits than any usize: certainly above the maximum.
                Err(_) => Ok(max),
            }
        }
        Some(_) => Err(ApiError::Validation("limit")),
    }
}

/// Cursors are opaque: standard base64 (so `+`, `/`, `=` appear and must survive the round trip
/// through the `Link` header) of a marker, the listing's kind and a position.
const CURSOR_MARK: [u8; 3] = [0xfb, 0xef, 0xbe];

fn encode_cursor(kind: u8, seq: u64) -> String {
    let mut raw = CURSOR_MARK.to_vec();
    raw.push(kind);
    raw.extend_from_slice(format!("{seq:019}").as_bytes());
    STANDARD.encode(raw)
}

fn decode_cursor(kind: u8, cursor: &str) -> Option<u64> {
    let raw = STANDARD.decode(cursor).ok()?;
    let rest = raw
        .strip_prefix(&CURSOR_MARK[..])?
        .strip_prefix(&[kind][..])?;
    if rest.len() != 19 || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(rest).ok()?.parse().ok()
}

fn parse_after(pairs: &[(String, String)], kind: u8) -> Result<Option<u64>, ApiError> {
    match param(pairs, "after") {
        None | Some("") => Ok(None),
        Some(c) => decode_cursor(kind, c)
            .map(Some)
            .ok_or(ApiError::Validation("after")),
    }
}

/// Adds `Link` headers — one per relation, absolute URLs, as Okta sends them.
fn add_links(
    ctx: &Ctx,
    response: &mut Response,
    base: &str,
    uri: &Uri,
    pairs: &[(String, String)],
    next: Option<String>,
) {
    let path = uri.path();
    let self_url = match uri.query() {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let mut links = vec![format!(r#"<{self_url}>; rel="self""#)];
    if let Some(mut cursor) = next {
        if ctx
            .faults
            .take(&Method::GET, path, true)
            .is_some_and(|f| f.kind == FaultKind::RepeatCursor)
        {
            // The fault: the next link names the page just served again.
            cursor = param(pairs, "after").unwrap_or_default().to_owned();
        }
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let mut replaced = false;
        for (k, v) in pairs {
            if k == "after" {
                if !replaced && !cursor.is_empty() {
                    query.append_pair("after", &cursor);
                }
                replaced = true;
            } else {
                query.append_pair(k, v);
            }
        }
        if !replaced && !cursor.is_empty() {
            query.append_pair("after", &cursor);
        }
        let query = query.finish();
        let next_url = if query.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{query}")
        };
        links.push(format!(r#"<{next_url}>; rel="next""#));
    }
    for link in links {
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().append(http::header::LINK, v);
        }
    }
}

/// Builds the call context, runs `serve` once authorized, and renders any refusal.
fn handle(
    ctx: &Ctx,
    origin: &Origin,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    scope: &'static str,
    serve: impl FnOnce(&Call<'_>) -> Result<Response, ApiError>,
) -> Response {
    let call = Call {
        base: origin.base_url(),
        method,
        path: uri.path(),
        headers,
        scope,
    };
    authorize(&ctx.state, &call)
        .and_then(|()| serve(&call))
        .unwrap_or_else(|e| e.respond(&call))
}

/// `expand` on groups: Okta's values are `stats` and `app`. `stats` adds `_embedded.stats`;
/// `app` (an app group's source app) and values Okta does not document are ignored, as Okta's
/// reference says nothing of refusing them. Several values may be given comma-separated.
fn expand_stats(ctx: &Ctx, pairs: &[(String, String)]) -> Option<ExpandStats> {
    let wanted = param(pairs, "expand")?
        .split(',')
        .any(|v| v.trim() == "stats");
    if !wanted {
        return None;
    }
    // Read before the directory lock is taken, so the two locks are never held together.
    let app_groups = ctx
        .state
        .lock_access()
        .app
        .as_ref()
        .map(|app| app.groups.iter().map(|(g, _)| g.clone()).collect())
        .unwrap_or_default();
    Some(ExpandStats { app_groups })
}

/// `GET /api/v1/groups`.
pub(crate) async fn list_groups(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    handle(
        &ctx,
        &origin,
        &method,
        &uri,
        &headers,
        GROUPS_READ,
        |call| {
            let pairs = query_pairs(&uri);
            let q = param(&pairs, "q").filter(|q| !q.is_empty());
            let limits = if q.is_some() {
                (QUERY_LIMIT, GROUPS_LIMIT.1)
            } else {
                GROUPS_LIMIT
            };
            let limit = parse_limit(&pairs, limits)?;
            let after = parse_after(&pairs, b'g')?;
            let mut filters = Vec::new();
            for name in ["search", "filter"] {
                if let Some(expr) = param(&pairs, name).filter(|e| !e.trim().is_empty()) {
                    filters.push(Expr::parse(expr).map_err(|_| ApiError::Search)?);
                }
            }
            let stats = expand_stats(&ctx, &pairs);
            let (body, last) = ctx.state.read_directory().groups_page(
                after,
                limit,
                q,
                &filters,
                &call.base,
                stats.as_ref(),
            );
            // A `q` query is not paged (Okta: "You can't page a query").
            let next = if q.is_some() {
                None
            } else {
                last.map(|s| encode_cursor(b'g', s))
            };
            let mut response = json_response(StatusCode::OK, body);
            add_links(&ctx, &mut response, &call.base, &uri, &pairs, next);
            Ok(response)
        },
    )
}

/// `GET /api/v1/groups/{id}`.
pub(crate) async fn get_group(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(
        &ctx,
        &origin,
        &method,
        &uri,
        &headers,
        GROUPS_READ,
        |call| {
            let stats = expand_stats(&ctx, &query_pairs(&uri));
            let body = ctx
                .state
                .read_directory()
                .group_json(&id, &call.base, stats.as_ref());
            let body = body.ok_or_else(|| ApiError::NotFound {
                id: id.clone(),
                kind: "UserGroup",
            })?;
            Ok(json_response(StatusCode::OK, body))
        },
    )
}

/// `GET /api/v1/groups/{id}/users`.
pub(crate) async fn list_members(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(
        &ctx,
        &origin,
        &method,
        &uri,
        &headers,
        GROUPS_READ,
        |call| {
            let pairs = query_pairs(&uri);
            let limit = parse_limit(&pairs, MEMBERS_LIMIT)?;
            let after = parse_after(&pairs, b'm')?;
            let page = ctx
                .state
                .read_directory()
                .members_page(&id, after, limit, &call.base);
            let (body, last) = page.ok_or_else(|| ApiError::NotFound {
                id: id.clone(),
                kind: "UserGroup",
            })?;
            let mut response = json_response(StatusCode::OK, body);
            let next = last.map(|s| encode_cursor(b'm', s));
            add_links(&ctx, &mut response, &call.base, &uri, &pairs, next);
            Ok(response)
        },
    )
}

/// `GET /api/v1/users/{id}` (an id or a login).
pub(crate) async fn get_user(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(&ctx, &origin, &method, &uri, &headers, USERS_READ, |call| {
        let body = ctx.state.read_directory().user_json(&id, &call.base);
        let body = body.ok_or_else(|| ApiError::NotFound {
            id: id.clone(),
            kind: "User",
        })?;
        Ok(json_response(StatusCode::OK, body))
    })
}

// ----- access review: users, users' groups, the System Log, app assignments -----

/// Users: `limit` default and maximum (Okta: 200 / 200).
const USERS_LIMIT: (usize, usize) = (200, 200);
/// A `q` query on users returns at most this many by default, unpaged (Okta: 10).
const USERS_QUERY_LIMIT: usize = 10;
/// System Log: `limit` default and maximum (Okta: 100 / 1000).
const LOGS_LIMIT: (usize, usize) = (100, 1000);
/// App users: `limit` default and maximum (Okta: 50 / 500).
const APP_USERS_LIMIT: (usize, usize) = (50, 500);
/// App groups: `limit` default and maximum (Okta: 20 / 200).
const APP_GROUPS_LIMIT: (usize, usize) = (20, 200);

/// The routes of the access-review reads (merged into the Okta router).
pub(crate) fn access_routes() -> axum::Router<Ctx> {
    use axum::routing::get;
    axum::Router::new()
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{id}/groups", get(user_groups))
        .route("/api/v1/logs", get(list_logs))
        .route("/api/v1/apps/{id}/users", get(app_users))
        .route("/api/v1/apps/{id}/groups", get(app_groups))
}

/// Every attribute an expression names is in `allowed` (else Okta's E0000031).
fn only_attrs(expr: &Expr, allowed: &[&str]) -> bool {
    match expr {
        Expr::Or(v) | Expr::And(v) => v.iter().all(|e| only_attrs(e, allowed)),
        Expr::Cmp { attr, .. } => allowed.contains(&attr.as_str()),
    }
}

/// `search` and `filter`, parsed and checked against the attributes the endpoint knows.
fn expressions(pairs: &[(String, String)], allowed: &[&str]) -> Result<Vec<Expr>, ApiError> {
    let mut out = Vec::new();
    for name in ["search", "filter"] {
        if let Some(expr) = param(pairs, name).filter(|e| !e.trim().is_empty()) {
            let expr = Expr::parse(expr).map_err(|_| ApiError::Search)?;
            if !only_attrs(&expr, allowed) {
                return Err(ApiError::Search);
            }
            out.push(expr);
        }
    }
    Ok(out)
}

/// `GET /api/v1/users`: `search` / `filter` (the [`super::search`] expressions over
/// `directory::USER_SEARCH_ATTRS`), `q` (a name, email or login prefix, not paged), `limit`,
/// `after`.
pub(crate) async fn list_users(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    handle(&ctx, &origin, &method, &uri, &headers, USERS_READ, |call| {
        let pairs = query_pairs(&uri);
        let q = param(&pairs, "q").filter(|q| !q.is_empty());
        let limits = if q.is_some() {
            (USERS_QUERY_LIMIT, USERS_LIMIT.1)
        } else {
            USERS_LIMIT
        };
        let limit = parse_limit(&pairs, limits)?;
        let after = parse_after(&pairs, b'u')?;
        let filters = expressions(&pairs, super::directory::USER_SEARCH_ATTRS)?;
        let (body, last) = ctx
            .state
            .read_directory()
            .users_page(after, limit, q, &filters, &call.base);
        let next = if q.is_some() {
            None
        } else {
            last.map(|s| encode_cursor(b'u', s))
        };
        let mut response = json_response(StatusCode::OK, body);
        add_links(&ctx, &mut response, &call.base, &uri, &pairs, next);
        Ok(response)
    })
}

/// `GET /api/v1/users/{id}/groups` (every group, unpaged).
pub(crate) async fn user_groups(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(&ctx, &origin, &method, &uri, &headers, USERS_READ, |call| {
        let body = ctx.state.read_directory().user_groups_json(&id, &call.base);
        let body = body.ok_or_else(|| ApiError::NotFound {
            id: id.clone(),
            kind: "User",
        })?;
        Ok(json_response(StatusCode::OK, body))
    })
}

/// An ISO 8601 time parameter as epoch milliseconds.
fn time_param(pairs: &[(String, String)], name: &'static str) -> Result<Option<i64>, ApiError> {
    match param(pairs, name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => chrono::DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.timestamp_millis()))
            .map_err(|_| ApiError::Validation(name)),
    }
}

/// `GET /api/v1/logs` (see [`super::syslog`] for what is served).
pub(crate) async fn list_logs(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    handle(&ctx, &origin, &method, &uri, &headers, LOGS_READ, |call| {
        let pairs = query_pairs(&uri);
        let limit = parse_limit(&pairs, LOGS_LIMIT)?;
        let until = time_param(&pairs, "until")?;
        let since = time_param(&pairs, "since")?
            .unwrap_or_else(|| until.unwrap_or_else(super::time::now_millis) - 7 * 86_400_000);
        if until.is_some_and(|u| u <= since) {
            return Err(ApiError::Validation("until"));
        }
        match param(&pairs, "sortOrder") {
            None | Some("ASCENDING") => {}
            Some(_) => return Err(ApiError::Validation("sortOrder")),
        }
        let filters = expressions(&pairs, super::syslog::LOG_FILTER_ATTRS)?;
        let keywords: Vec<String> = param(&pairs, "q")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let access = ctx.state.lock_access();
        let events = &access.events;
        let start = match param(&pairs, "after").filter(|a| !a.is_empty()) {
            None => 0,
            Some(c) => decode_cursor(b'l', c)
                .and_then(|p| usize::try_from(p).ok())
                .filter(|p| *p <= events.len())
                .ok_or(ApiError::Validation("after"))?,
        };
        let mut page = Vec::new();
        let mut scanned = start;
        let mut more = false;
        for (i, e) in events.iter().enumerate().skip(start) {
            if e.published_ms < since || until.is_some_and(|u| e.published_ms >= u) {
                scanned = i + 1;
                continue;
            }
            let matches = filters
                .iter()
                .all(|f| f.matches(&|a| super::syslog::Access::attr(&e.json, a)))
                && (keywords.is_empty() || {
                    let text = e.json.to_string().to_lowercase();
                    keywords.iter().all(|k| text.contains(k.as_str()))
                });
            if !matches {
                scanned = i + 1;
                continue;
            }
            if page.len() == limit {
                more = true;
                break;
            }
            page.push(&e.json);
            scanned = i + 1;
        }
        // A poll (no `until`) always names a next page, to ask again later; a bounded query
        // only while its window holds more.
        let next = (until.is_none() || more).then(|| encode_cursor(b'l', scanned as u64));
        let body = serde_json::to_string(&page).unwrap_or_else(|_| "[]".into());
        drop(access);
        let mut response = json_response(StatusCode::OK, body);
        add_links(&ctx, &mut response, &call.base, &uri, &pairs, next);
        Ok(response)
    })
}

/// The portal app, if `id` names it.
fn portal_app(ctx: &Ctx, id: &str) -> Result<super::syslog::PortalApp, ApiError> {
    ctx.state
        .lock_access()
        .app
        .clone()
        .filter(|a| a.id == id)
        .ok_or_else(|| ApiError::NotFound {
            id: id.to_owned(),
            kind: "AppInstance",
        })
}

/// `GET /api/v1/apps/{id}/users`: the users the app's groups give it.
pub(crate) async fn app_users(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(&ctx, &origin, &method, &uri, &headers, APPS_READ, |call| {
        let app = portal_app(&ctx, &id)?;
        let pairs = query_pairs(&uri);
        let limit = parse_limit(&pairs, APP_USERS_LIMIT)?;
        let after = parse_after(&pairs, b'a')?;
        let groups: Vec<String> = app.groups.iter().map(|(g, _)| g.clone()).collect();
        let (body, last) = ctx
            .state
            .read_directory()
            .app_users_page(&app.id, &groups, after, limit, &call.base);
        let mut response = json_response(StatusCode::OK, body);
        let next = last.map(|s| encode_cursor(b'a', s));
        add_links(&ctx, &mut response, &call.base, &uri, &pairs, next);
        Ok(response)
    })
}

/// `GET /api/v1/apps/{id}/groups`: the app's group assignments.
pub(crate) async fn app_groups(
    State(ctx): State<Ctx>,
    origin: Origin,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(&ctx, &origin, &method, &uri, &headers, APPS_READ, |call| {
        let app = portal_app(&ctx, &id)?;
        let pairs = query_pairs(&uri);
        let limit = parse_limit(&pairs, APP_GROUPS_LIMIT)?;
        let start = parse_after(&pairs, b'p')?.map_or(0, |a| a.saturating_add(1));
        let base = &call.base;
        let listed: Vec<serde_json::Value> = app
            .groups
            .iter()
            .enumerate()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(limit)
            .map(|(i, (g, at))| {
                serde_json::json!({
                    "id": g,
                    "lastUpdated": super::time::iso8601(*at),
                    "priority": i,
                    "profile": {},
                    "_links": {
                        "app": {"href": format!("{base}/api/v1/apps/{}", app.id)},
                        "group": {"href": format!("{base}/api/v1/groups/{g}")},
                    },
                })
            })
            .collect();
        let end = start as usize + listed.len();
        let next = (end < app.groups.len()).then(|| encode_cursor(b'p', end as u64 - 1));
        let body = serde_json::to_string(&listed).unwrap_or_else(|_| "[]".into());
        let mut response = json_response(StatusCode::OK, body);
        add_links(&ctx, &mut response, base, &uri, &pairs, next);
        Ok(response)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_need_encoding() {
        for seq in [0, 1, 19, 12_345, u64::MAX / 2] {
            let c = encode_cursor(b'm', seq);
            assert!(c.starts_with("++++") && c.ends_with('='), "{c}");
            assert_eq!(decode_cursor(b'm', &c), Some(seq));
            assert_eq!(
                decode_cursor(b'g', &c),
                None,
                "a members cursor is not a groups cursor"
            );
        }
        // A client that turned `+` into a space (form-decoding a verbatim link) is caught.
        let c = encode_cursor(b'm', 7).replace('+', " ");
        assert_eq!(decode_cursor(b'm', &c), None);
        for bad in ["", "x", "++++", "AAAA", "%%%"] {
            assert_eq!(decode_cursor(b'm', bad), None);
        }
    }

    #[test]
    fn limits() {
        let p = |s: &str| vec![("limit".to_owned(), s.to_owned())];
        assert_eq!(parse_limit(&[], (10, 20)).ok(), Some(10));
        assert_eq!(parse_limit(&p("5"), (10, 20)).ok(), Some(5));
        assert_eq!(parse_limit(&p("50"), (10, 20)).ok(), Some(20));
        assert_eq!(
            parse_limit(&p("99999999999999999999999999"), (10, 20)).ok(),
            Some(20)
        );
        for bad in ["0", "-1", "abc", "", "1e3"] {
            assert!(parse_limit(&p(bad), (10, 20)).is_err(), "{bad}");
        }
    }
}
