//! Helpers shared by the integration tests: fixture loading, base64url, and an in-test JWS
//! verifier built directly on the RustCrypto primitives (the independent check is jwcrypto, in
//! `differential.rs`).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use okta_client::Runtime;
use okta_client::runtime::SleepFuture;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use serde_json::Value;

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_key(name: &str) -> String {
    let p = manifest_dir().join("tests/fixtures/keys").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn vector(name: &str) -> Value {
    let p = manifest_dir().join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn b64d(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s)
        .unwrap_or_else(|e| panic!("not base64url {s:?}: {e}"))
}

pub fn b64e(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Undoes RFC 8792 single-backslash wrapping: a line ending in `\` continues on the next
/// line, whose leading whitespace is dropped.
pub fn unwrap_8792(lines: &Value) -> String {
    let lines: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let mut out = String::new();
    let mut continuing = false;
    for line in lines {
        let line = if continuing { line.trim_start() } else { line };
        match line.strip_suffix('\\') {
            Some(head) => {
                out.push_str(head);
                continuing = true;
            }
            None => {
                out.push_str(line);
                continuing = false;
            }
        }
    }
    out
}

pub fn octets(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u8::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

/// Splits a compact JWS into decoded header JSON, decoded payload JSON, signature bytes and the
/// signing input.
pub struct Decoded {
    pub header: Value,
    pub claims: Value,
    pub signature: Vec<u8>,
    pub signing_input: String,
}

pub fn decode(jws: &str) -> Decoded {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "{jws}");
    Decoded {
        header: serde_json::from_slice(&b64d(parts[0])).unwrap(),
        claims: serde_json::from_slice(&b64d(parts[1])).unwrap(),
        signature: b64d(parts[2]),
        signing_input: format!("{}.{}", parts[0], parts[1]),
    }
}

/// Verifies `signature` over `input` with a public JWK (as JSON) and JWS `alg`.
pub fn verify(jwk: &Value, alg: &str, input: &[u8], signature: &[u8]) -> bool {
    let m = |k: &str| b64d(jwk[k].as_str().unwrap());
    match alg {
        "ES256" => {
            let mut sec1 = vec![4u8];
            sec1.extend(m("x"));
            sec1.extend(m("y"));
            let Ok(vk) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) else {
                return false;
            };
            let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            vk.verify(input, &sig).is_ok()
        }
        "ES384" => {
            let mut sec1 = vec![4u8];
            sec1.extend(m("x"));
            sec1.extend(m("y"));
            let Ok(vk) = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) else {
                return false;
            };
            let Ok(sig) = p384::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            vk.verify(input, &sig).is_ok()
        }
        "RS256" | "RS384" | "RS512" => {
            let n = rsa::BoxedUint::from_be_slice_vartime(&m("n"));
            let e = rsa::BoxedUint::from_be_slice_vartime(&m("e"));
            let Ok(pk) = rsa::PublicKey::new(n, e) else {
                return false;
            };
            match alg {
                "RS256" => pk.pkcs1v15_verify::<sha2::Sha256>(input, signature).is_ok(),
                "RS384" => pk.pkcs1v15_verify::<sha2::Sha384>(input, signature).is_ok(),
                _ => pk.pkcs1v15_verify::<sha2::Sha512>(input, signature).is_ok(),
            }
        }
        _ => false,
    }
}

/// Verifies a compact JWS with `jwk`, taking `alg` from its header.
pub fn verify_compact(jws: &str, jwk: &Value) -> bool {
    let d = decode(jws);
    let alg = d.header["alg"].as_str().unwrap().to_string();
    verify(jwk, &alg, d.signing_input.as_bytes(), &d.signature)
}

/// Records retry waits instead of sleeping; its clock moves forward by what it "slept".
#[derive(Debug, Default)]
pub struct Recorder {
    sleeps: Mutex<Vec<Duration>>,
}

impl Recorder {
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

impl Runtime for Recorder {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.sleeps.lock().unwrap().iter().sum::<Duration>()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        self.sleeps.lock().unwrap().push(duration);
        Box::pin(async {})
    }

    fn random(&self) -> f64 {
        0.5
    }
}
