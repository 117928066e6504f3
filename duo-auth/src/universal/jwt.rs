//! Compact HS512 JWS: signing and verifying with a shared secret, no other algorithm.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha512;

use super::error::IdTokenError;

type HmacSha512 = Hmac<Sha512>;

/// The only header this crate writes.
const HEADER: &str = r#"{"alg":"HS512","typ":"JWT"}"#;

fn keyed(key: &[u8]) -> HmacSha512 {
    HmacSha512::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Signs `claims` (a JSON object) as a compact HS512 JWS.
pub(crate) fn sign(claims: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", B64.encode(HEADER), B64.encode(claims.to_string()));
    let mut mac = keyed(key);
    mac.update(input.as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    format!("{input}.{signature}")
}

fn decode_object(part: &str, what: &'static str) -> Result<Map<String, Value>, IdTokenError> {
    let bytes = B64
        .decode(part)
        .map_err(|_| IdTokenError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(IdTokenError::Malformed(what)),
    }
}

/// Verifies a compact JWS: the header must say `HS512`, the HMAC must verify with `key`
/// (compared in constant time), and the claims must be a JSON object. Never panics.
pub(crate) fn verify(token: &str, key: &[u8]) -> Result<Map<String, Value>, IdTokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed("not three dot-separated parts"));
    };
    let header_json = decode_object(header, "the header is not base64url JSON object")?;
    match header_json.get("alg") {
        Some(Value::String(alg)) if alg == "HS512" => {}
        Some(Value::String(alg)) => return Err(IdTokenError::Algorithm(alg.clone())),
        _ => return Err(IdTokenError::Malformed("the header has no alg")),
    }
    let given = B64
        .decode(signature)
        .map_err(|_| IdTokenError::Malformed("the signature is not base64url"))?;
    let mut mac = keyed(key);
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| IdTokenError::Signature)?;
    decode_object(payload, "the claims are not a base64url JSON object")
}

/// Compares two strings without an early exit on the first differing byte (the length is not
/// hidden).
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_tamper() {
        let t = sign(&json!({"a": 1}), b"k");
        assert_eq!(verify(&t, b"k").unwrap()["a"], 1);
        assert_eq!(verify(&t, b"x"), Err(IdTokenError::Signature));
        let mut bad = t.clone();
        bad.push('A');
        assert!(verify(&bad, b"k").is_err());
        assert!(matches!(
            verify("a.b", b"k"),
            Err(IdTokenError::Malformed(_))
        ));
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }
}
