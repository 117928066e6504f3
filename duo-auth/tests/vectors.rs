//! Duo's published signing vectors (see `tests/vectors/README.md` for their sources): parameter
//! canonicalization, canonical strings, `X-Duo-` header hashes, body hashes, JSON bodies and
//! full `Authorization` headers, from `duo_client_python` and `duo_hmac_python`.

use std::path::PathBuf;

use duo_auth::Credentials;
use duo_auth::sign::{
    CanonicalRequest, DateHeader, Method, Request, SignError, SignatureVersion, Signer,
    canonical_params,
};
use serde_json::Value;

fn load(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("vector file is JSON");
    assert!(!vectors.is_empty(), "{name} holds vectors");
    vectors
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p[0].as_str().expect("key").to_owned(),
                        p[1].as_str().expect("value").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no string field {field}", v["name"]))
}

fn method(v: &Value) -> Method {
    s(v, "method").parse().expect("a Duo method")
}

#[test]
fn canon_params() {
    for v in load("canon_params.json") {
        assert_eq!(
            canonical_params(&pairs(&v["params"])),
            s(&v, "expected"),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn canonical_strings() {
    let mut checked = 0;
    for v in load("canonical.json") {
        let name = &v["name"];
        let params = pairs(&v["params"]);
        let headers = pairs(&v["headers"]);
        let body = v["body"].as_str().unwrap_or("").as_bytes();
        let expected = s(&v, "expected");
        let date = v["date"].as_str().unwrap_or("unused");
        let m = method(&v);
        let (host, path) = (s(&v, "host"), s(&v, "path"));
        match v["version"].as_u64() {
            Some(2) => {
                let c = CanonicalRequest::v2(date, m, host, path, &params).expect("valid");
                assert_eq!(c.as_str(), expected, "{name}");
            }
            Some(5) => {
                let c = CanonicalRequest::v5(date, m, host, path, &params, body, &headers)
                    .expect("valid");
                assert_eq!(c.as_str(), expected, "{name}");
            }
            // v1 and v4 are legacy and not offered, but they are v2 without the date line and v5
            // without the header line: check those pieces of ours against them too.
            Some(1) => {
                let c = CanonicalRequest::v2("date", m, host, path, &params).expect("valid");
                let without_date = c.as_str().split_once('\n').expect("lines").1;
                assert_eq!(without_date, expected, "{name}");
            }
            Some(4) => {
                let c = CanonicalRequest::v5(date, m, host, path, &params, body, &headers)
                    .expect("valid");
                let without_headers = c.as_str().rsplit_once('\n').expect("lines").0;
                assert_eq!(without_headers, expected, "{name}");
            }
            other => panic!("{name}: unexpected version {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}

#[test]
fn unknown_signature_versions_are_not_representable() {
    // Upstream's "sig_version 999 raises" vector: our versions are an enum, so the only thing to
    // check is that the vector exists and names a version we do not have.
    for v in load("canonical_errors.json") {
        assert!(!matches!(v["version"].as_u64(), Some(2 | 5)));
    }
}

#[test]
fn authorization_headers() {
    for v in load("signatures.json") {
        let name = &v["name"];
        let version = match (v["version"].as_u64(), s(&v, "digest")) {
            (Some(2), "sha1") => SignatureVersion::V2Sha1,
            (Some(2), "sha512") => SignatureVersion::V2Sha512,
            (Some(5), "sha512") => SignatureVersion::V5,
            other => panic!("{name}: unexpected {other:?}"),
        };
        let creds = Credentials::new(s(&v, "ikey"), s(&v, "skey"), s(&v, "host")).expect("valid");
        let signer = Signer::with_version(creds, version);
        let (m, path, date) = (method(&v), s(&v, "path"), s(&v, "date"));
        let params = pairs(&v["params"]);
        let expected = s(&v, "expected_authorization");

        // The low-level path: the canonical request from the vector's exact parts.
        let canonical = match version {
            SignatureVersion::V5 => {
                let body = v["body"].as_str().unwrap_or("").as_bytes();
                CanonicalRequest::v5(
                    date,
                    m,
                    s(&v, "host"),
                    path,
                    &params,
                    body,
                    &pairs(&v["headers"]),
                )
            }
            _ => CanonicalRequest::v2(date, m, s(&v, "host"), path, &params),
        }
        .expect("valid");
        assert_eq!(
            signer.authorization(&canonical),
            expected,
            "{name} (canonical path)"
        );
        if let Some(hex) = v["expected_signature_hex"].as_str() {
            assert_eq!(signer.signature_hex(&canonical), hex, "{name}");
        }

        // The high-level path: the request as the upstream test made it.
        let request = if version == SignatureVersion::V5 {
            // duo_hmac always sends X-Duo-Date; it drops request headers that are not X-Duo-.
            let mut r = Request::new(m, path).date_header(DateHeader::XDuoDate);
            if let Some(obj) = v["request_params"].as_object() {
                r = r.params(
                    obj.iter()
                        .map(|(k, val)| (k.clone(), val.as_str().expect("string").to_owned())),
                );
            }
            for (hn, hv) in pairs(&v["request_headers"]) {
                if hn.to_ascii_lowercase().starts_with("x-duo-") {
                    r = r.header(hn, hv);
                }
            }
            r
        } else {
            Request::new(m, path).params(params.clone())
        };
        let signed = signer.sign(&request, date).expect("sign");
        assert_eq!(signed.authorization(), expected, "{name} (request path)");
        if let Some(uri) = v["expected_uri"].as_str() {
            // Upstream url-encodes in insertion order; we send the canonical (sorted) line. The
            // same parameters must reach the server.
            let (want_path, want_query) = uri.split_once('?').unwrap_or((uri, ""));
            assert_eq!(
                format!("{}{}", s(&v, "host"), signed.path()),
                want_path,
                "{name}"
            );
            let decode = |q: &str| {
                let mut v: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect();
                v.sort();
                v
            };
            assert_eq!(decode(signed.query()), decode(want_query), "{name}");
        }
        if let Some(body) = v["body"].as_str().filter(|_| m.params_in_body()) {
            assert_eq!(signed.body(), Some(body.as_bytes()), "{name}");
        }
    }
}

#[test]
fn x_duo_header_hashes_and_rules() {
    let (mut hashed, mut refused, mut skipped) = (0, 0, 0);
    for v in load("x_duo_headers.json") {
        let name = &v["name"];
        let raw = v["headers"].as_array().cloned().unwrap_or_default();
        if raw.iter().any(|p| p[0].is_null() || p[1].is_null()) {
            // Python's None has no counterpart in a Rust &str.
            skipped += 1;
            continue;
        }
        let headers = pairs(&v["headers"]);
        let result = CanonicalRequest::v5(
            "d",
            Method::Get,
            "h",
            "/",
            &[] as &[(&str, &str)],
            b"",
            &headers,
        );
        if let Some(hash) = v["expected_hash"].as_str() {
            let c = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.lines().nth(6), Some(hash), "{name}");
            hashed += 1;
        } else {
            assert!(v["expected_error"].is_object(), "{name}");
            let err = result.expect_err("must be refused");
            assert!(
                matches!(
                    err,
                    SignError::InvalidHeaderName { .. }
                        | SignError::InvalidHeaderValue { .. }
                        | SignError::DuplicateHeader { .. }
                ),
                "{name}: {err}"
            );
            refused += 1;
        }
    }
    assert_eq!((hashed, refused, skipped), (5, 3, 2));
}

#[test]
fn body_hashes() {
    for v in load("body_hash.json") {
        let body = v["body"].as_str().unwrap_or("").as_bytes();
        let c = CanonicalRequest::v5(
            "d",
            Method::Post,
            "h",
            "/",
            &[] as &[(&str, &str)],
            body,
            &[] as &[(&str, &str)],
        )
        .expect("valid");
        assert_eq!(
            c.lines().nth(5),
            v["expected_hash"].as_str(),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn json_bodies() {
    let creds = Credentials::new("DIXX", "skey", "h.example").expect("valid");
    let signer = Signer::new(creds);
    for v in load("canon_json.json") {
        let name = &v["name"];
        let request = match &v["input"] {
            Value::Null => Request::post("/x"),
            input => Request::post("/x").json(input.clone()),
        };
        let result = signer.sign(&request, "d");
        match v["expected"].as_str() {
            Some(expected) => {
                let signed = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(signed.body(), Some(expected.as_bytes()), "{name}");
            }
            None => {
                // Upstream passes '' (a string) as the JSON body.
                assert!(
                    matches!(result, Err(SignError::BodyNotObject { .. })),
                    "{name}: {result:?}"
                );
            }
        }
    }
}
