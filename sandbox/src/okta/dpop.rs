//! DPoP (RFC 9449) proof verification, replay caches and server nonces.
//!
//! The same checks serve the token endpoint and the resource API; what differs (whether `ath`
//! is required, which nonce is current, which status an error gets) is the caller's business.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http::HeaderMap;

use super::jose::{self, Compact};
use super::time::now_secs;

/// How far in the future a proof's `iat` may be (client clocks run fast).
pub(crate) const PROOF_FUTURE_SKEW: i64 = 60;
/// How old a proof's `iat` may be.
pub(crate) const PROOF_MAX_AGE: i64 = 300;
/// Nonces rotate once a day at Okta; the previous one stays valid.
pub(crate) const DEFAULT_NONCE_ROTATION: Duration = Duration::from_secs(24 * 3600);

/// Why a proof was refused; the text becomes `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ProofError(pub(crate) String);

impl ProofError {
    fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
}

/// What a verified proof establishes.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key (`cnf.jkt`).
    pub(crate) jkt: String,
    /// The `nonce` claim, if any.
    pub(crate) nonce: Option<String>,
}

/// What the request the proof accompanies looks like.
#[derive(Debug)]
pub(crate) struct Expect<'a> {
    /// The request method (`htm`).
    pub(crate) method: &'a str,
    /// `scheme://host` of the request.
    pub(crate) base: &'a str,
    /// The request path as sent (percent-encoded); Okta compares `htu` with the decoded path.
    pub(crate) path: &'a str,
    /// On resource requests, the access token whose hash `ath` must carry.
    pub(crate) access_token: Option<&'a str>,
}

/// Replay cache for `jti` values, pruned as entries age out.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: HashMap<String, i64>,
    last_prune: i64,
}

impl ReplayCache {
    /// Records `key` until `until` (epoch seconds); false when it was already there.
    pub(crate) fn insert(&mut self, key: String, until: i64) -> bool {
        let now = now_secs();
        if now - self.last_prune >= 30 {
            self.seen.retain(|_, exp| *exp >= now);
            self.last_prune = now;
        }
        match self.seen.get(&key) {
            Some(exp) if *exp >= now => false,
            _ => {
                self.seen.insert(key, until);
                true
            }
        }
    }
}

/// A server nonce that rotates, keeping the previous value acceptable.
#[derive(Debug)]
pub(crate) struct NonceState {
    current: String,
    previous: Option<String>,
    rotated_at: Instant,
    every: Duration,
}

impl Default for NonceState {
    fn default() -> Self {
        Self {
            current: new_nonce(),
            previous: None,
            rotated_at: Instant::now(),
            every: DEFAULT_NONCE_ROTATION,
        }
    }
}

fn new_nonce() -> String {
    crate::random_id(32)
}

impl NonceState {
    fn tick(&mut self) {
        if self.rotated_at.elapsed() >= self.every {
            self.rotate();
        }
    }

    /// Starts a new nonce now; the current one becomes the previous one.
    pub(crate) fn rotate(&mut self) {
        self.previous = Some(std::mem::replace(&mut self.current, new_nonce()));
        self.rotated_at = Instant::now();
    }

    /// How often nonces rotate.
    pub(crate) fn set_rotation(&mut self, every: Duration) {
        self.every = every;
    }

    /// The nonce to hand out.
    pub(crate) fn current(&mut self) -> String {
        self.tick();
        self.current.clone()
    }

    /// Whether `nonce` is the current or the previous one.
    pub(crate) fn accepts(&mut self, nonce: &str) -> bool {
        self.tick();
        nonce == self.current || self.previous.as_deref() == Some(nonce)
    }
}

/// The single `DPoP` header of a request: none, one, or an error for several.
pub(crate) fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut values = headers.get_all("dpop").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofError::new(
            "Multiple DPoP proof JWT headers were provided.",
        ));
    }
    first
        .to_str()
        .map(|s| Some(s.trim()))
        .map_err(|_| ProofError::new("The DPoP proof JWT is malformed."))
}

/// Verifies a proof's form, signature and claims, and burns its `jti` in `replay`.
/// The nonce is checked by the caller (the token endpoint and the resource API keep their own).
pub(crate) fn verify(
    proof: &str,
    expect: &Expect<'_>,
    replay: &mut ReplayCache,
) -> Result<VerifiedProof, ProofError> {
    let jws =
        Compact::parse(proof).map_err(|_| ProofError::new("The DPoP proof JWT is malformed."))?;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err(ProofError::new(
            "The DPoP proof JWT has an invalid 'typ' header; it must be 'dpop+jwt'.",
        ));
    }
    let alg = jws.alg().map_err(|e| {
        ProofError(format!(
            "The DPoP proof JWT has an unsupported 'alg' header ({e})."
        ))
    })?;
    let Some(serde_json::Value::Object(jwk)) = jws.header.get("jwk") else {
        return Err(ProofError::new(
            "The DPoP proof JWT 'jwk' header is missing or not a JSON object.",
        ));
    };
    let (public, jkt) = jose::public_jwk(jwk)
        .map_err(|e| ProofError(format!("The DPoP proof JWT 'jwk' header is invalid: {e}.")))?;
    let verifier = alg.verifier(&public).map_err(|e| {
        ProofError(format!(
            "The DPoP proof JWT 'jwk' cannot verify {}: {e}.",
            alg.name()
        ))
    })?;
    jws.verify(&verifier)
        .map_err(|_| ProofError::new("The DPoP proof JWT signature is invalid."))?;

    let claims = &jws.claims;
    let text = |name: &str| {
        jose::claim_str(claims, name).map_err(|e| ProofError(format!("{e} in the DPoP proof JWT.")))
    };
    let htm = text("htm")?
        .ok_or_else(|| ProofError::new("'htm' claim is missing in the DPoP proof JWT."))?;
    if htm != expect.method {
        return Err(ProofError::new(
            "'htm' claim in the DPoP proof JWT is invalid.",
        ));
    }
    let htu = text("htu")?
        .ok_or_else(|| ProofError::new("'htu' claim is missing in the DPoP proof JWT."))?;
    if !htu_matches(htu, expect) {
        return Err(ProofError::new(
            "'htu' claim in the DPoP proof JWT is invalid.",
        ));
    }
    let iat = jose::claim_time(claims, "iat")
        .map_err(|e| ProofError(format!("{e} in the DPoP proof JWT.")))?
        .ok_or_else(|| ProofError::new("'iat' claim is missing in the DPoP proof JWT."))?;
    let now = now_secs();
    if iat > now.saturating_add(PROOF_FUTURE_SKEW) {
        return Err(ProofError::new(
            "The DPoP proof JWT was issued in the future ('iat').",
        ));
    }
    if iat < now.saturating_sub(PROOF_MAX_AGE) {
        return Err(ProofError::new("The DPoP proof JWT is too old ('iat')."));
    }
    match (expect.access_token, text("ath")?) {
        (Some(token), Some(ath)) if ath == jose::access_token_hash(token) => {}
        (Some(_), Some(_)) => {
            return Err(ProofError::new(
                "'ath' claim in the DPoP proof JWT is invalid.",
            ));
        }
        (Some(_), None) => {
            return Err(ProofError::new(
                "'ath' claim is missing in the DPoP proof JWT.",
            ));
        }
        (None, _) => {}
    }
    let nonce = text("nonce")?.map(str::to_owned);
    let jti = text("jti")?
        .ok_or_else(|| ProofError::new("'jti' claim is missing in the DPoP proof JWT."))?;
    if jti.is_empty() || jti.len() > 256 {
        return Err(ProofError::new(
            "'jti' claim in the DPoP proof JWT is invalid.",
        ));
    }
    // Keyed by proof key: jti uniqueness is what each key holder promises (RFC 9449 §11.1).
    if !replay.insert(
        format!("{jkt}:{jti}"),
        iat.saturating_add(PROOF_MAX_AGE + PROOF_FUTURE_SKEW),
    ) {
        return Err(ProofError::new(
            "The DPoP proof JWT has already been used ('jti').",
        ));
    }
    Ok(VerifiedProof { jkt, nonce })
}

/// `htu` must be the request's scheme, host and path — no query, no fragment. Like Okta, the
/// request path is compared percent-decoded; scheme and host compare case-insensitively.
fn htu_matches(htu: &str, expect: &Expect<'_>) -> bool {
    if htu.contains(['?', '#']) {
        return false;
    }
    let decoded_path = percent_decode(expect.path);
    let Some(rest) = htu.get(..expect.base.len()) else {
        return false;
    };
    rest.eq_ignore_ascii_case(expect.base) && htu[expect.base.len()..] == *decoded_path
}

/// Percent-decodes a path; malformed escapes stay as they are.
pub(crate) fn percent_decode(path: &str) -> String {
    if !path.contains('%') {
        return path.to_owned();
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_rotation_keeps_previous() {
        let mut n = NonceState::default();
        let first = n.current();
        assert!(n.accepts(&first));
        n.rotate();
        let second = n.current();
        assert_ne!(first, second);
        assert!(n.accepts(&first) && n.accepts(&second));
        n.rotate();
        assert!(!n.accepts(&first));
        assert!(!n.accepts("nope"));
    }

    #[test]
    fn replay_cache() {
        let mut c = ReplayCache::default();
        let until = now_secs() + 60;
        assert!(c.insert("a".into(), until));
        assert!(!c.insert("a".into(), until));
        assert!(c.insert("b".into(), until));
        // An expired entry no longer blocks.
        assert!(c.insert("old".into(), now_secs() - 1));
        assert!(c.insert("old".into(), until));
    }

    #[test]
    fn htu_rules() {
        let e = Expect {
            method: "GET",
            base: "http://127.0.0.1:8080",
            path: "/api/v1/users/a%40b",
            access_token: None,
        };
        assert!(htu_matches("http://127.0.0.1:8080/api/v1/users/a@b", &e));
        assert!(htu_matches("HTTP://127.0.0.1:8080/api/v1/users/a@b", &e));
        assert!(!htu_matches("http://127.0.0.1:8080/api/v1/users/a%40b", &e));
        assert!(!htu_matches(
            "http://127.0.0.1:8080/api/v1/users/a@b?x=1",
            &e
        ));
        assert!(!htu_matches("http://127.0.0.1:8080/api/v1/users/a@b#f", &e));
        assert!(!htu_matches("http://127.0.0.1:8081/api/v1/users/a@b", &e));
        assert!(!htu_matches("http://127.0.0.1:80", &e));
        assert!(!htu_matches("", &e));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
