//! DPoP proofs (RFC 9449 §4).
//!
//! Header `{"alg":…,"typ":"dpop+jwt","jwk":{public members only}}`, encoded once per key by
//! [`DpopSigner::new`]; claims `jti` (128 random bits, fresh per proof), `htm`, `htu`, `iat`,
//! then `nonce` and `ath` when given. A new proof is needed for every request, page and retry.
//!
//! `htu` is the request URL without query and fragment, normalized: scheme and host lower-case,
//! default port dropped, path kept as sent (Okta compares the decoded path, so percent-encoding
//! differences in the path do not matter, but a missing or extra path segment does).

use rand::CryptoRng;
use rand::TryRng as _;
use rand::rngs::SysRng;
use sha2::{Digest as _, Sha256};

use crate::assertion::JTI_BYTES;
use crate::b64;
use crate::error::{Error, Result};
use crate::jws::{JwsHeader, sign_with_encoded_header};
use crate::key::PrivateKey;

/// The DPoP proof JWT `typ`.
pub const DPOP_TYP: &str = "dpop+jwt";

/// Fills `N` bytes from the operating system's CSPRNG.
pub(crate) fn os_random<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    SysRng.try_fill_bytes(&mut buf).map_err(|_| Error::Random)?;
    Ok(buf)
}

/// The `htu` of a request URL: `scheme://host[:port]/path`, no query, no fragment, no userinfo.
///
/// ```
/// use okta_client::dpop::htu;
/// assert_eq!(
///     htu("HTTPS://Dev-1.OKTA.com:443/api/v1/groups?limit=200&after=abc%3D#frag")?,
///     "https://dev-1.okta.com/api/v1/groups"
/// );
/// assert_eq!(htu("http://127.0.0.1:8080/oauth2/v1/token")?, "http://127.0.0.1:8080/oauth2/v1/token");
/// # Ok::<(), okta_client::Error>(())
/// ```
pub fn htu(url: &str) -> Result<String> {
    let bad = |reason| Error::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|_| bad("not an absolute URL"))?;
    let scheme = parsed.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(bad("the scheme must be https or http"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    let path = parsed.path();
    let mut out = String::with_capacity(scheme.len() + 3 + host.len() + 6 + path.len());
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    if let Some(port) = parsed.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(path);
    Ok(out)
}

/// `ath` for an access token: base64url-no-pad(SHA-256(token)).
///
/// ```
/// // RFC 9449 §7.1, Figures 13 and 14.
/// assert_eq!(
///     okta_client::dpop::ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
///     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
/// );
/// ```
pub fn ath(access_token: &str) -> String {
    b64::url_encode(&Sha256::digest(access_token.as_bytes()))
}

fn is_method_token(m: &str) -> bool {
    !m.is_empty()
        && m.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// The request a proof is for: method, URL, and optionally nonce and access token.
///
/// ```
/// use okta_client::dpop::ProofRequest;
/// let req = ProofRequest::new("GET", "https://dev-1.okta.com/api/v1/groups?limit=200")?
///     .nonce("server-nonce")
///     .access_token("eyJraWQi...");
/// assert_eq!(req.htu(), "https://dev-1.okta.com/api/v1/groups");
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProofRequest<'a> {
    method: &'a str,
    htu: String,
    nonce: Option<&'a str>,
    ath: Option<String>,
}

impl<'a> ProofRequest<'a> {
    /// A proof request for `method` (an RFC 9110 token such as `GET`, sent as given) on `url`.
    pub fn new(method: &'a str, url: &str) -> Result<Self> {
        if !is_method_token(method) {
            return Err(Error::InvalidMethod(method.to_string()));
        }
        Ok(ProofRequest {
            method,
            htu: htu(url)?,
            nonce: None,
            ath: None,
        })
    }

    /// Includes the server's `DPoP-Nonce`.
    #[must_use]
    pub fn nonce(mut self, nonce: &'a str) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// Binds the proof to this access token (`ath`), as resource requests must.
    #[must_use]
    pub fn access_token(mut self, token: &str) -> Self {
        self.ath = Some(ath(token));
        self
    }

    /// The normalized `htu`.
    pub fn htu(&self) -> &str {
        &self.htu
    }

    /// The method.
    pub fn method(&self) -> &str {
        self.method
    }
}

/// A DPoP key with its proof header encoded once.
///
/// ```
/// use okta_client::dpop::{DpopSigner, ProofRequest};
/// let signer = DpopSigner::generate()?;
/// let req = ProofRequest::new("POST", "https://dev-1.okta.com/oauth2/v1/token")?;
/// let proof = signer.proof(&req, 1_700_000_000)?;
/// assert_eq!(proof.split('.').count(), 3);
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Clone)]
pub struct DpopSigner {
    key: PrivateKey,
    encoded_header: String,
    thumbprint: String,
}

impl std::fmt::Debug for DpopSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopSigner")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl DpopSigner {
    /// Wraps `key`; its `kid`, if any, is not sent (the `jwk` header identifies the key).
    pub fn new(key: PrivateKey) -> Self {
        let header = JwsHeader::new(key.algorithm())
            .with_typ(DPOP_TYP)
            .with_jwk(key.public_jwk());
        let thumbprint = key.thumbprint();
        DpopSigner {
            encoded_header: header.encode(),
            key,
            thumbprint,
        }
    }

    /// A signer with a fresh P-256 key from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(Self::new(PrivateKey::generate_p256()?))
    }

    /// The key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The key's RFC 7638 thumbprint: the `cnf.jkt` Okta binds tokens to.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for `req` issued at `issued_at` (Unix seconds), `jti` from the OS CSPRNG.
    pub fn proof(&self, req: &ProofRequest<'_>, issued_at: u64) -> Result<String> {
        let jti = os_random::<JTI_BYTES>()?;
        self.proof_with_jti(req, issued_at, &jti)
    }

    /// A proof whose `jti` comes from `rng`.
    pub fn proof_with_rng<R: CryptoRng + ?Sized>(
        &self,
        req: &ProofRequest<'_>,
        issued_at: u64,
        rng: &mut R,
    ) -> Result<String> {
        let mut jti = [0u8; JTI_BYTES];
        rng.fill_bytes(&mut jti);
        self.proof_with_jti(req, issued_at, &jti)
    }

    fn proof_with_jti(&self, req: &ProofRequest<'_>, iat: u64, jti: &[u8]) -> Result<String> {
        use base64::Engine as _;
        let extra = req.nonce.map_or(0, |n| n.len() + 12) + req.ath.as_ref().map_or(0, |_| 52);
        let mut claims = Vec::with_capacity(80 + req.method.len() + req.htu.len() + extra);
        claims.extend_from_slice(b"{\"jti\":\"");
        let mut jti_b64 = [0u8; 24];
        let n = b64::URL.encode_slice(jti, &mut jti_b64).unwrap_or(0);
        claims.extend_from_slice(&jti_b64[..n]);
        claims.extend_from_slice(b"\",\"htm\":");
        b64::push_json_str(&mut claims, req.method);
        claims.extend_from_slice(b",\"htu\":");
        b64::push_json_str(&mut claims, &req.htu);
        claims.extend_from_slice(b",\"iat\":");
        b64::push_u64(&mut claims, iat);
        if let Some(nonce) = req.nonce {
            claims.extend_from_slice(b",\"nonce\":");
            b64::push_json_str(&mut claims, nonce);
        }
        if let Some(ath) = &req.ath {
            claims.extend_from_slice(b",\"ath\":\"");
            claims.extend_from_slice(ath.as_bytes());
            claims.push(b'"');
        }
        claims.push(b'}');
        sign_with_encoded_header(&self.key, &self.encoded_header, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_normalization() {
        let cases = [
            ("https://EXAMPLE.com/a/B?x=1#f", "https://example.com/a/B"),
            ("https://example.com", "https://example.com/"),
            ("https://example.com:443/p", "https://example.com/p"),
            ("http://example.com:80/p", "http://example.com/p"),
            ("https://example.com:8443/p", "https://example.com:8443/p"),
            ("https://user:pw@example.com/p", "https://example.com/p"),
            ("http://[::1]:9000/t?q", "http://[::1]:9000/t"),
            (
                "https://example.com/a%2Fb/c?d#e",
                "https://example.com/a%2Fb/c",
            ),
            ("https://example.com/?", "https://example.com/"),
        ];
        for (input, want) in cases {
            assert_eq!(htu(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "/relative",
            "ftp://example.com/x",
            "mailto:a@b",
            "https://",
        ] {
            assert!(htu(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn methods_must_be_tokens() {
        assert!(ProofRequest::new("GET", "https://e.com/").is_ok());
        assert!(ProofRequest::new("", "https://e.com/").is_err());
        assert!(ProofRequest::new("GE T", "https://e.com/").is_err());
        assert!(ProofRequest::new("G\"", "https://e.com/").is_err());
    }
}
