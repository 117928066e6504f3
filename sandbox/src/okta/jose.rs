//! JWS plumbing shared by client assertions and DPoP proofs, verified with `josekit` (OpenSSL).
//!
//! The SDK's client signs with RustCrypto; verifying here with an independent implementation is
//! the point (design principle 3). This module only splits, decodes and verifies; what the claims
//! must say is decided by the token and DPoP modules.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Compact JWS larger than this are refused before any decoding (a proof or an assertion is a
/// few kilobytes at most; RSA-4096 keys in a `jwk` header stay well below).
const MAX_JWS_LEN: usize = 16 * 1024;

/// Why a JWS was refused. The text is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JoseError {
    /// Not three base64url parts holding JSON objects.
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    /// The `alg` header is missing, unknown, symmetric or `none`.
    #[error("unsupported or missing 'alg': {0}")]
    Alg(String),
    /// The key cannot verify this algorithm (wrong type, curve, size, or private members).
    #[error("unusable key: {0}")]
    Key(String),
    /// The signature does not verify.
    #[error("signature verification failed")]
    Signature,
}

/// The asymmetric algorithms Okta accepts for client assertions and DPoP proofs
/// (`dpop_signing_alg_values_supported`: RS256, RS384, RS512, ES256, ES384, ES512).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    /// Every supported algorithm, in the order servers advertise them.
    pub(crate) const ALL: [Alg; 6] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
    ];

    pub(crate) fn parse(name: &str) -> Result<Self, JoseError> {
        Ok(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "ES512" => Alg::Es512,
            other => return Err(JoseError::Alg(other.chars().take(32).collect())),
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
        }
    }

    /// A josekit verifier for this algorithm and public key. josekit checks the key type, the
    /// curve and (for RSA) a 2048-bit minimum.
    pub(crate) fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
        let key = |e: josekit::JoseError| JoseError::Key(e.to_string());
        Ok(match self {
            Alg::Rs256 => Box::new(josekit::jws::RS256.verifier_from_jwk(jwk).map_err(key)?),
            Alg::Rs384 => Box::new(josekit::jws::RS384.verifier_from_jwk(jwk).map_err(key)?),
            Alg::Rs512 => Box::new(josekit::jws::RS512.verifier_from_jwk(jwk).map_err(key)?),
            Alg::Es256 => Box::new(josekit::jws::ES256.verifier_from_jwk(jwk).map_err(key)?),
            Alg::Es384 => Box::new(josekit::jws::ES384.verifier_from_jwk(jwk).map_err(key)?),
            Alg::Es512 => Box::new(josekit::jws::ES512.verifier_from_jwk(jwk).map_err(key)?),
        })
    }
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    /// The protected header.
    pub(crate) header: Map<String, Value>,
    /// The payload as a JSON object (JWT claims).
    pub(crate) claims: Map<String, Value>,
    /// The original text, for signature verification.
    pub(crate) raw: &'a str,
}

impl<'a> Compact<'a> {
    /// Splits and decodes `token`; refuses anything that is not `b64url(json).b64url(json).b64url`.
    pub(crate) fn parse(token: &'a str) -> Result<Self, JoseError> {
        if token.len() > MAX_JWS_LEN {
            return Err(JoseError::Malformed("token too large"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed("expected three dot-separated parts"));
        };
        if s.is_empty() {
            return Err(JoseError::Malformed("missing signature"));
        }
        let header =
            decode_object(h).ok_or(JoseError::Malformed("header is not base64url JSON"))?;
        let claims =
            decode_object(p).ok_or(JoseError::Malformed("payload is not base64url JSON"))?;
        Ok(Self {
            header,
            claims,
            raw: token,
        })
    }

    /// The `alg` header, limited to the asymmetric algorithms Okta accepts.
    pub(crate) fn alg(&self) -> Result<Alg, JoseError> {
        match self.header.get("alg") {
            Some(Value::String(a)) => Alg::parse(a),
            Some(_) => Err(JoseError::Alg("not a string".into())),
            None => Err(JoseError::Alg("missing".into())),
        }
    }

    /// A string header member.
    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// Verifies the signature with josekit.
    pub(crate) fn verify(&self, verifier: &dyn JwsVerifier) -> Result<(), JoseError> {
        josekit::jws::deserialize_compact(self.raw, verifier)
            .map(|_| ())
            .map_err(|_| JoseError::Signature)
    }
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A claim that must be a string, if present.
pub(crate) fn claim_str<'c>(
    claims: &'c Map<String, Value>,
    name: &str,
) -> Result<Option<&'c str>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("'{name}' claim must be a string")),
    }
}

/// A NumericDate claim, if present: an integer (or a finite number, floored) of epoch seconds.
/// Values beyond ±2^53 are refused rather than wrapped.
pub(crate) fn claim_time(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                Some(f) if f.is_finite() && f.abs() < LIMIT => Ok(Some(f.floor() as i64)),
                _ => Err(format!("'{name}' claim is out of range")),
            }
        }
        Some(_) => Err(format!("'{name}' claim must be a number")),
    }
}

/// The public members of a JWK, in a fresh JWK with nothing else (no `kid`, `alg`, `use`), so
/// that josekit's verifier judges only the key. Refuses keys with private members, symmetric keys
/// and key types Okta does not accept.
pub(crate) fn public_jwk(jwk: &Map<String, Value>) -> Result<(Jwk, String), JoseError> {
    const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if let Some(m) = PRIVATE.iter().find(|m| jwk.contains_key(**m)) {
        return Err(JoseError::Key(format!(
            "the jwk holds the private member '{m}'"
        )));
    }
    let member = |name: &str| -> Result<&str, JoseError> {
        match jwk.get(name) {
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(is_b64url) => Ok(s),
            _ => Err(JoseError::Key(format!(
                "the jwk member '{name}' is missing or not base64url"
            ))),
        }
    };
    let mut out = Map::new();
    let thumbprint_input = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            let (n, e) = (member("n")?, member("e")?);
            out.insert("kty".into(), "RSA".into());
            out.insert("n".into(), n.into());
            out.insert("e".into(), e.into());
            // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
            format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                Value::from(e),
                Value::from(n)
            )
        }
        Some("EC") => {
            let (crv, x, y) = (member("crv")?, member("x")?, member("y")?);
            if !matches!(crv, "P-256" | "P-384" | "P-521") {
                return Err(JoseError::Key(format!(
                    "unsupported curve {}",
                    Value::from(crv)
                )));
            }
            out.insert("kty".into(), "EC".into());
            out.insert("crv".into(), crv.into());
            out.insert("x".into(), x.into());
            out.insert("y".into(), y.into());
            format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                Value::from(crv),
                Value::from(x),
                Value::from(y)
            )
        }
        _ => return Err(JoseError::Key("kty must be RSA or EC".into())),
    };
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
    let jwk = Jwk::from_map(out).map_err(|e| JoseError::Key(e.to_string()))?;
    Ok((jwk, thumbprint))
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `base64url(SHA-256(token))`, the DPoP `ath` claim.
pub(crate) fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn rfc7638_rsa_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = map(serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        let (_, tp) = public_jwk(&jwk).unwrap();
        assert_eq!(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn rfc9449_ec_thumbprint() {
        // RFC 9449 §4.1 example proof key; its thumbprint appears in §6.1.
        let jwk = map(serde_json::json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        }));
        let (_, tp) = public_jwk(&jwk).unwrap();
        assert_eq!(tp, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    }

    #[test]
    fn refuses_private_and_symmetric_keys() {
        let with_d = map(serde_json::json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}));
        assert!(matches!(public_jwk(&with_d), Err(JoseError::Key(_))));
        let oct = map(serde_json::json!({"kty":"oct","k":"AAAA"}));
        assert!(public_jwk(&oct).is_err());
        let no_y = map(serde_json::json!({"kty":"EC","crv":"P-256","x":"AA"}));
        assert!(public_jwk(&no_y).is_err());
    }

    #[test]
    fn parse_refuses_garbage() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.e30.sig",
            "e30.e30.",
            "W10.e30.c2ln",
            "e30.bnVsbA.c2ln",
        ] {
            assert!(Compact::parse(bad).is_err(), "{bad}");
        }
        let ok = Compact::parse("e30.e30.c2ln").unwrap();
        assert!(ok.alg().is_err());
        assert!(Compact::parse(&"e".repeat(MAX_JWS_LEN + 1)).is_err());
    }

    #[test]
    fn numeric_dates() {
        let c = map(serde_json::json!({"a": 5, "b": 5.9, "c": "5", "d": 1e300, "e": null}));
        assert_eq!(claim_time(&c, "a"), Ok(Some(5)));
        assert_eq!(claim_time(&c, "b"), Ok(Some(5)));
        assert!(claim_time(&c, "c").is_err());
        assert!(claim_time(&c, "d").is_err());
        assert_eq!(claim_time(&c, "e"), Ok(None));
        assert_eq!(claim_time(&c, "z"), Ok(None));
    }

    #[test]
    fn ath_vector() {
        // RFC 9449 §7.1.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
