//! What each fuzz target checks, as plain functions over bytes: the `fuzz_targets/` binaries
//! call them under libFuzzer, and the root package's `tests/fuzz_replay.rs` calls them over
//! every corpus file on stable. Each must return (an error is fine) and never panic or hang,
//! whatever the bytes.

/// A status code from the first two bytes, the rest as the body.
fn status_and_rest(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [a, b, rest @ ..] => (100 + u16::from_be_bytes([*a, *b]) % 500, rest),
        _ => (200, data),
    }
}

/// Duo answers: the envelope, and typed decoding of what the clients read (Auth API answers,
/// a page of Admin API users).
pub fn duo_response(data: &[u8]) {
    use duo_auth::transport::{RawResponse, parse_envelope, parse_typed};
    let (status, body) = status_and_rest(data);
    let raw = RawResponse {
        status,
        content_type: Some("application/json".to_owned()),
        body: body.to_vec(),
    };
    let _ = parse_envelope(&raw, 1);
    let _ = parse_typed::<duo_auth::client::Preauth>(&raw, 1);
    let _ = parse_typed::<duo_auth::client::AuthResponse>(&raw, 1);
    let _ = parse_typed::<Vec<duo_admin::User>>(&raw, 1);
    let _ = parse_typed::<Vec<duo_admin::Admin>>(&raw, 1);
}

/// Okta answers: error objects and challenges, `Link` headers, pages of users and groups. The
/// text up to the first newline is the header value, the rest the body.
pub fn okta_response(data: &[u8]) {
    let (status, rest) = status_and_rest(data);
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let header = String::from_utf8_lossy(&rest[..split]);
    let body = rest.get(split + 1..).unwrap_or_default();
    let _ = okta_client::Error::from_response(status, &[header.as_ref()], body);
    let headers = [
        ("www-authenticate", header.as_ref()),
        ("link", header.as_ref()),
        ("x-rate-limit-reset", header.as_ref()),
        ("x-okta-request-id", header.as_ref()),
    ];
    let _ = okta_client::Error::from_http(status, headers, body);
    let _ = okta_client::error::Challenge::parse_all(&header);
    for link in okta_client::link::parse(&header) {
        let _ = link.relations().count();
    }
    let _ = okta_client::rate_limit::RateLimit::from_headers(headers);
    let _ = serde_json::from_slice::<Vec<okta_client::User>>(body);
    let _ = serde_json::from_slice::<Vec<okta_client::Group>>(body);
}

/// Key material as integrators paste it: PEM (PKCS#8, PKCS#1, SEC1) or JWK JSON.
pub fn keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = okta_client::key::PrivateKey::parse(&text);
    let _ = okta_client::key::PublicJwk::parse(&text);
}

/// The sync service's TOML configuration: mapping, policy, interval.
pub fn sync_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = toml::from_str::<role_sync::Mapping>(text);
    let _ = toml::from_str::<role_sync::Policy>(text);
    let _ = text.parse::<role_sync::SyncInterval>();
    let _ = serde_json::from_str::<role_sync::Mapping>(text);
}

/// SAML: a Response as the IdP posts it (the bytes are the XML, base64-encoded here as the
/// browser would post it, and also taken as the posted text itself), checked by the SP of the
/// crate's documentation against a pending request, as the ACS would; and the bytes as IdP
/// metadata.
pub fn saml_response(data: &[u8]) {
    use base64::Engine as _;
    use saml_sp::doc_support::service_provider;
    use saml_sp::{PendingLogins, ReplayCache, RequestId};

    let text = String::from_utf8_lossy(data);
    let _ = saml_sp::IdpMetadata::parse(&text);
    let (sp, started) = service_provider();
    let posted = base64::engine::general_purpose::STANDARD.encode(data);
    for form in [posted.as_str(), text.as_ref()] {
        let mut pending = PendingLogins::new(4);
        let mut replay = ReplayCache::new(4);
        let Ok(login) = sp.login_request(RequestId::from_random([0x2a; 16]), started, None) else {
            return;
        };
        if pending.insert(&login, started).is_err() {
            return;
        }
        let now = started + std::time::Duration::from_secs(20);
        let _ = sp.accept(form, None, now, &mut pending, &mut replay);
    }
}

// Not inside an inline module: a `path` there would be resolved from a directory named after
// it, which differs between the fuzz crate and the stable replay that includes this file.
#[path = "../../examples/duo_login_portal/portal/client_ip.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod portal_client_ip;
#[path = "../../examples/duo_login_portal/portal/session.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod portal_session;

/// A request to the login portal example, through its own parsing (its `session` and
/// `client_ip` modules, included from the example itself) and a form body as axum's `Form`
/// reads it. Header lines (`name: value`) up to an empty line, then a form body.
/// Besides never panicking, a session is found only by its exact id, and a client address
/// believed from `X-Forwarded-For` only when the peer is the trusted proxy.
pub fn portal_request(data: &[u8]) {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use portal_client_ip::TrustedProxies;
    use portal_session::{Sessions, Stage};
    use std::net::{IpAddr, Ipv4Addr};

    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let (head, body) = (&data[..split], data.get(split + 2..).unwrap_or_default());
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }

    for secure in [false, true] {
        let sessions = Sessions::new(secure);
        let (id, _csrf) = sessions.rotate(None, Stage::Anonymous);
        if let Some((found, _)) = sessions.get(&headers) {
            assert_eq!(found, id, "a session found by another id");
        }
    }

    let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let trusted = TrustedProxies::new([proxy]);
    assert_eq!(
        trusted.client(peer, &headers),
        Some(peer),
        "an untrusted peer's header believed"
    );
    let _ = trusted.client(proxy, &headers);

    let _ = serde_urlencoded::from_bytes::<std::collections::HashMap<String, String>>(body);
}
