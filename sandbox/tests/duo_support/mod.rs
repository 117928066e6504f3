//! Helpers for the Duo-side sandbox tests: signed calls made with `duo-auth`'s signer.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime};

use duo_auth::Credentials;
use duo_auth::sign::{Request, SignatureVersion, Signer, format_date};
use idp_sandbox::DuoApplication;
use serde_json::Value;

pub fn signer(app: &DuoApplication, version: SignatureVersion) -> Signer {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .expect("sandbox credentials are valid");
    Signer::with_version(creds, version)
}

pub fn now() -> String {
    format_date(SystemTime::now()).expect("date")
}

pub fn date_offset(secs: i64) -> String {
    let t = if secs >= 0 {
        SystemTime::now() + Duration::from_secs(secs as u64)
    } else {
        SystemTime::now() - Duration::from_secs(secs.unsigned_abs())
    };
    format_date(t).expect("date")
}

/// Sends a signed request; returns (status, JSON body).
pub async fn call(signer: &Signer, request: &Request, date: &str) -> (u16, Value) {
    let signed = signer.sign(request, date).expect("sign");
    send(signer.credentials().api_host(), &signed, |h| h).await
}

pub async fn send(
    host: &str,
    signed: &duo_auth::sign::SignedRequest,
    tweak: impl FnOnce(reqwest::header::HeaderMap) -> reqwest::header::HeaderMap,
) -> (u16, Value) {
    let url = format!("http://{host}{}", signed.path_and_query());
    let method = reqwest::Method::from_bytes(signed.method().as_str().as_bytes()).expect("method");
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in signed.headers() {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    let headers = tweak(headers);
    let mut builder = reqwest::Client::new().request(method, url).headers(headers);
    if let Some(body) = signed.body() {
        builder = builder.body(body.to_vec());
    }
    let response = builder.send().await.expect("sandbox answers");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}
