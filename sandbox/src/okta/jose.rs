//! JWS plumbing shared by client assertions and DPoP proofs, verified with AWS-LC (`aws-lc-rs`).
//!
//! The SDK's client signs with RustCrypto; verifying here with an independent implementation is
//! the point (design principle 3). AWS-LC is the library rustls already builds for every crate of
//! the workspace, so it costs no extra build and no system OpenSSL. This module only splits,
//! decodes and verifies; what the claims must say is decided by the token and DPoP modules.

use aws_lc_rs::signature::{
    self as alg, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey,
    VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

    /// A verifier for this algorithm and public key. Refuses a key of the wrong type or curve,
    /// and RSA moduli outside 2048–8192 bits (Okta's minimum is 2048), before any signature is
    /// looked at, so the error names the key.
    pub(crate) fn verifier(self, key: &PublicKey) -> Result<Verifier, JoseError> {
        let parsed = match (self, key) {
            (Alg::Rs256 | Alg::Rs384 | Alg::Rs512, PublicKey::Rsa { n, e }) => {
                let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                if !(2048..=8192).contains(&bits) {
                    return Err(JoseError::Key(format!(
                        "RSA keys must have 2048 to 8192 bits, this one has {bits}"
                    )));
                }
                let params: &'static RsaParameters = match self {
                    Alg::Rs256 => &alg::RSA_PKCS1_2048_8192_SHA256,
                    Alg::Rs384 => &alg::RSA_PKCS1_2048_8192_SHA384,
                    _ => &alg::RSA_PKCS1_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(|e| JoseError::Key(format!("not an RSA public key ({e})")))?
            }
            (Alg::Es256 | Alg::Es384 | Alg::Es512, PublicKey::Ec { crv, point }) => {
                let (want, verification): (Curve, &'static dyn VerificationAlgorithm) = match self {
                    Alg::Es256 => (Curve::P256, &alg::ECDSA_P256_SHA256_FIXED),
                    Alg::Es384 => (Curve::P384, &alg::ECDSA_P384_SHA384_FIXED),
                    _ => (Curve::P521, &alg::ECDSA_P521_SHA512_FIXED),
                };
                if *crv != want {
                    return Err(JoseError::Key(format!(
                        "{} needs a {} key, this one is {}",
                        self.name(),
                        want.name(),
                        crv.name()
                    )));
                }
                UnparsedPublicKey::new(verification, point)
                    .parse()
                    .map_err(|e| JoseError::Key(format!("not a point on {} ({e})", crv.name())))?
            }
            (_, PublicKey::Rsa { .. }) => {
                return Err(JoseError::Key(format!("{} needs an EC key", self.name())));
            }
            (_, PublicKey::Ec { .. }) => {
                return Err(JoseError::Key(format!("{} needs an RSA key", self.name())));
            }
        };
        Ok(Verifier { alg: self, parsed })
    }
}

/// The curves of Okta's EC algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Octets of one coordinate (RFC 7518 §6.2.1.2: `x` and `y` are always this long).
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// The public part of a JWK, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The curve and the uncompressed SEC1 point (`04 || x || y`).
    Ec { crv: Curve, point: Vec<u8> },
}

impl PublicKey {
    /// The key's public JWK members (`kty` and `n`/`e` or `crv`/`x`/`y`), nothing else.
    pub(crate) fn to_jwk(&self) -> Map<String, Value> {
        let mut out = Map::new();
        match self {
            PublicKey::Rsa { n, e } => {
                out.insert("kty".into(), "RSA".into());
                out.insert("n".into(), URL_SAFE_NO_PAD.encode(n).into());
                out.insert("e".into(), URL_SAFE_NO_PAD.encode(e).into());
            }
            PublicKey::Ec { crv, point } => {
                let (x, y) = point[1..].split_at(crv.coordinate_len());
                out.insert("kty".into(), "EC".into());
                out.insert("crv".into(), crv.name().into());
                out.insert("x".into(), URL_SAFE_NO_PAD.encode(x).into());
                out.insert("y".into(), URL_SAFE_NO_PAD.encode(y).into());
            }
        }
        out
    }
}

/// A public key ready to verify one algorithm.
#[derive(Debug)]
pub(crate) struct Verifier {
    alg: Alg,
    parsed: ParsedPublicKey,
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

    /// Verifies the signature: the header's `alg` must be the verifier's, and the signature the
    /// fixed-size form JWS uses (RFC 7518 §3.3, §3.4).
    pub(crate) fn verify(&self, verifier: &Verifier) -> Result<(), JoseError> {
        if self.alg() != Ok(verifier.alg) {
            return Err(JoseError::Signature);
        }
        let (input, signature) = self.raw.rsplit_once('.').ok_or(JoseError::Signature)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JoseError::Signature)?;
        verifier
            .parsed
            .verify_sig(input.as_bytes(), &signature)
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

/// The public key a JWK holds, and its RFC 7638 thumbprint. Only the public members are read
/// (no `kid`, `alg`, `use`), so that the verifier judges the key alone. Refuses keys with
/// private members, symmetric keys and key types Okta does not accept.
pub(crate) fn public_jwk(jwk: &Map<String, Value>) -> Result<(PublicKey, String), JoseError> {
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
    let bytes = |name: &str, text: &str| -> Result<Vec<u8>, JoseError> {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| JoseError::Key(format!("the jwk member '{name}' is not base64url")))
    };
    let (key, thumbprint_input) = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            let (n_text, e_text) = (member("n")?, member("e")?);
            let unsigned = |name: &str, text: &str| -> Result<Vec<u8>, JoseError> {
                let raw = bytes(name, text)?;
                let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
                if start == raw.len() {
                    return Err(JoseError::Key(format!("the jwk member '{name}' is zero")));
                }
                Ok(raw[start..].to_vec())
            };
            let key = PublicKey::Rsa {
                n: unsigned("n", n_text)?,
                e: unsigned("e", e_text)?,
            };
            // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
            let input = format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                Value::from(e_text),
                Value::from(n_text)
            );
            (key, input)
        }
        Some("EC") => {
            let (crv_text, x_text, y_text) = (member("crv")?, member("x")?, member("y")?);
            let crv = Curve::parse(crv_text).ok_or_else(|| {
                JoseError::Key(format!("unsupported curve {}", Value::from(crv_text)))
            })?;
            let (x, y) = (bytes("x", x_text)?, bytes("y", y_text)?);
            let len = crv.coordinate_len();
            if x.len() != len || y.len() != len {
                return Err(JoseError::Key(format!(
                    "the jwk coordinates of a {} key must be {len} octets each",
                    crv.name()
                )));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let input = format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                Value::from(crv_text),
                Value::from(x_text),
                Value::from(y_text)
            );
            (PublicKey::Ec { crv, point }, input)
        }
        _ => return Err(JoseError::Key("kty must be RSA or EC".into())),
    };
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
    Ok((key, thumbprint))
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

    /// RFC 7515 Appendix A.2 (RS256) and A.3 (ES256), as okta-client's vector suite holds them.
    fn rfc7515(example: &str) -> (Map<String, Value>, String) {
        let all: Value = serde_json::from_str(include_str!(
            "../../../okta-client/tests/vectors/rfc7515.json"
        ))
        .unwrap();
        let jwk = map(all[example]["jwk"].clone())
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "d" | "p" | "q" | "dp" | "dq" | "qi"))
            .collect();
        (jwk, all[example]["compact"].as_str().unwrap().to_owned())
    }

    fn tampered(compact: &str) -> String {
        // Another payload under the same header and signature.
        let (header, rest) = compact.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"eve"}"#);
        format!("{header}.{payload}.{signature}")
    }

    #[test]
    fn rfc7515_examples_verify_and_tampering_does_not() {
        for (example, alg, other) in [
            ("a2", Alg::Rs256, Alg::Rs384),
            ("a3", Alg::Es256, Alg::Rs256),
        ] {
            let (jwk, compact) = rfc7515(example);
            let (key, _) = public_jwk(&jwk).unwrap();
            let verifier = alg.verifier(&key).unwrap();
            let jws = Compact::parse(&compact).unwrap();
            assert_eq!(jws.verify(&verifier), Ok(()), "{example}");
            let bad = tampered(&compact);
            assert_eq!(
                Compact::parse(&bad).unwrap().verify(&verifier),
                Err(JoseError::Signature),
                "{example} tampered"
            );
            // A verifier for another algorithm never accepts the token, even with the right key.
            if let Ok(wrong) = other.verifier(&key) {
                assert_eq!(jws.verify(&wrong), Err(JoseError::Signature), "{example}");
            }
        }
    }

    #[test]
    fn verifiers_refuse_keys_that_do_not_fit() {
        let (rsa, _) = rfc7515("a2");
        let (ec, _) = rfc7515("a3");
        let (rsa_key, _) = public_jwk(&rsa).unwrap();
        let (ec_key, _) = public_jwk(&ec).unwrap();
        let refused = |alg: Alg, key: &PublicKey| match alg.verifier(key) {
            Err(JoseError::Key(why)) => why,
            other => panic!("{alg:?} accepted a key it must refuse: {other:?}"),
        };
        assert!(refused(Alg::Es256, &rsa_key).contains("EC key"));
        assert!(refused(Alg::Rs256, &ec_key).contains("RSA key"));
        assert!(refused(Alg::Es384, &ec_key).contains("P-384"));

        // A 1024-bit modulus: Okta (and so the sandbox) wants 2048 bits at least.
        let PublicKey::Rsa { n, e } = &rsa_key else {
            unreachable!()
        };
        let short = PublicKey::Rsa {
            n: n[..128].to_vec(),
            e: e.clone(),
        };
        assert!(refused(Alg::Rs256, &short).contains("has 1024"));

        // A point that is not on the curve (y changed by one bit).
        let PublicKey::Ec { crv, point } = &ec_key else {
            unreachable!()
        };
        let mut off = point.clone();
        *off.last_mut().unwrap() ^= 1;
        let off_curve = PublicKey::Ec {
            crv: *crv,
            point: off,
        };
        assert!(refused(Alg::Es256, &off_curve).contains("not a point"));

        // Coordinates of the wrong length are refused when the JWK is read.
        let mut long_x = ec.clone();
        long_x.insert("x".into(), URL_SAFE_NO_PAD.encode([1u8; 33]).into());
        assert!(matches!(public_jwk(&long_x), Err(JoseError::Key(_))));
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
