//! Compact JWS signing (RFC 7515 §7.1) over RustCrypto.
//!
//! `BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature)`, where the header and
//! payload are signed exactly as given: the header's JSON bytes are kept verbatim, so a header
//! from elsewhere (e.g. an RFC example with `\r\n` in it) is reproduced byte for byte.

use crate::b64;
use crate::error::{Error, Result};
use crate::key::{Algorithm, PrivateKey, PublicJwk};

/// A JOSE protected header: its exact JSON bytes and the `alg` it names.
///
/// ```
/// use okta_client::jws::JwsHeader;
/// use okta_client::key::Algorithm;
/// let h = JwsHeader::new(Algorithm::Rs256).with_kid("key-1");
/// assert_eq!(h.json(), r#"{"alg":"RS256","kid":"key-1"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    json: String,
    alg: Algorithm,
}

impl JwsHeader {
    /// `{"alg":"…"}`.
    pub fn new(alg: Algorithm) -> Self {
        JwsHeader {
            json: format!(r#"{{"alg":"{}"}}"#, alg.as_str()),
            alg,
        }
    }

    /// Adds a `typ` member (e.g. `dpop+jwt`, `JWT`).
    #[must_use]
    pub fn with_typ(self, typ: &str) -> Self {
        self.with_string_member("typ", typ)
    }

    /// Adds a `kid` member.
    #[must_use]
    pub fn with_kid(self, kid: &str) -> Self {
        self.with_string_member("kid", kid)
    }

    /// Adds a `jwk` member holding the public key (public members only).
    #[must_use]
    pub fn with_jwk(self, jwk: &PublicJwk) -> Self {
        self.with_raw_member("jwk", &jwk.to_json())
    }

    /// A header given as JSON text, kept byte for byte. It must be a JSON object whose `alg` is
    /// one this crate signs with.
    pub fn from_json(json: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::InvalidConfig(format!("JWS header is not JSON: {e}")))?;
        let alg = v
            .get("alg")
            .and_then(|a| a.as_str())
            .ok_or_else(|| Error::InvalidConfig("JWS header has no string `alg`".into()))?
            .parse()?;
        Ok(JwsHeader {
            json: json.to_string(),
            alg,
        })
    }

    /// The algorithm named by `alg`.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header JSON.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// `BASE64URL(UTF8(header))`.
    pub fn encode(&self) -> String {
        b64::url_encode(self.json.as_bytes())
    }

    fn with_string_member(self, name: &str, value: &str) -> Self {
        let mut v = Vec::with_capacity(value.len() + 2);
        b64::push_json_str(&mut v, value);
        // push_json_str writes valid UTF-8 (escapes are ASCII; the rest is copied from a str).
        let quoted = String::from_utf8_lossy(&v);
        self.with_raw_member(name, &quoted)
    }

    fn with_raw_member(mut self, name: &str, raw_value: &str) -> Self {
        // Headers built here always end in '}'; verbatim ones may have trailing whitespace.
        let trimmed_len = self.json.trim_end().len();
        self.json.truncate(trimmed_len);
        if self.json.ends_with('}') {
            self.json.pop();
            let empty = self.json.trim_end().ends_with('{');
            if !empty {
                self.json.push(',');
            }
            self.json.push('"');
            self.json.push_str(name);
            self.json.push_str("\":");
            self.json.push_str(raw_value);
            self.json.push('}');
        }
        self
    }
}

/// Signs `payload` under `header` with `key` and returns the compact serialization.
///
/// Refuses ([`Error::AlgorithmMismatch`]) when the header's `alg` is not the key's algorithm,
/// so a header can never claim one algorithm while the signature uses another.
///
/// ```
/// use okta_client::jws::{sign_compact, JwsHeader};
/// use okta_client::key::PrivateKey;
/// let key = PrivateKey::generate_p256()?;
/// let jws = sign_compact(&key, &JwsHeader::new(key.algorithm()), br#"{"hello":"world"}"#)?;
/// assert_eq!(jws.split('.').count(), 3);
/// # Ok::<(), okta_client::Error>(())
/// ```
pub fn sign_compact(key: &PrivateKey, header: &JwsHeader, payload: &[u8]) -> Result<String> {
    if header.alg != key.algorithm() {
        return Err(Error::AlgorithmMismatch {
            alg: header.alg.as_str().to_string(),
            key_type: key.key_type().as_str(),
        });
    }
    sign_with_encoded_header(key, &header.encode(), payload)
}

/// The hot path: the header is already base64url-encoded (once per key).
pub(crate) fn sign_with_encoded_header(
    key: &PrivateKey,
    encoded_header: &str,
    payload: &[u8],
) -> Result<String> {
    use base64::Engine as _;
    // RSA-4096 signatures are 683 characters; one allocation covers every case we produce.
    let cap = encoded_header.len() + 1 + payload.len().div_ceil(3) * 4 + 1 + 700;
    let mut out = String::with_capacity(cap);
    out.push_str(encoded_header);
    out.push('.');
    b64::URL.encode_string(payload, &mut out);
    // The signing input is everything written so far.
    let mut sig = String::with_capacity(700);
    key.sign_b64_into(out.as_bytes(), &mut sig)?;
    out.push('.');
    out.push_str(&sig);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_members_append_in_order() {
        let h = JwsHeader::new(Algorithm::Es256)
            .with_typ("dpop+jwt")
            .with_kid("a\"b");
        assert_eq!(h.json(), r#"{"alg":"ES256","typ":"dpop+jwt","kid":"a\"b"}"#);
        let v: serde_json::Value = serde_json::from_str(h.json()).unwrap();
        assert_eq!(v["kid"], "a\"b");
    }

    #[test]
    fn verbatim_header_is_kept() {
        let h = JwsHeader::from_json("{\"typ\":\"JWT\",\r\n \"alg\":\"RS256\"}").unwrap();
        assert_eq!(h.alg(), Algorithm::Rs256);
        assert_eq!(h.encode(), "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJSUzI1NiJ9");
        assert!(JwsHeader::from_json(r#"{"alg":"none"}"#).is_err());
        assert!(JwsHeader::from_json(r#"{"alg":"HS256"}"#).is_err());
        assert!(JwsHeader::from_json("[]").is_err());
    }

    #[test]
    fn header_alg_must_match_key() {
        let key = PrivateKey::generate_p256().unwrap();
        let err = sign_compact(&key, &JwsHeader::new(Algorithm::Rs256), b"{}").unwrap_err();
        assert!(matches!(err, Error::AlgorithmMismatch { .. }));
    }
}
