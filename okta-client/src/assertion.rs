//! Client assertions for `private_key_jwt` (RFC 7523 §2.2) as Okta's token endpoint wants them.
//!
//! Header `{"alg":…,"kid":…}` (`kid` when known); claims `iss = sub = client_id`, `aud` = the
//! full token URL, `iat`, `exp = iat + 300`, and a fresh `jti` of 128 random bits for **every**
//! call: Okta burns a `jti` even when it answers `use_dpop_nonce`, so a retry needs a new one.

use rand::CryptoRng;

use crate::b64;
use crate::error::Result;
use crate::jws::{JwsHeader, sign_with_encoded_header};
use crate::key::PrivateKey;

/// Lifetime of an assertion: `exp = iat + 300`. Okta rejects more than an hour by its own
/// clock; five minutes leaves room for skew either way without making a leaked assertion useful
/// for long.
pub const ASSERTION_LIFETIME_SECS: u64 = 300;

/// The `client_assertion_type` form value for JWT client authentication.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Random bytes in a `jti` (128 bits).
pub(crate) const JTI_BYTES: usize = 16;

/// What an assertion says: who (`client_id`), to whom (the token URL), under which `kid`.
///
/// ```
/// use okta_client::assertion::ClientAssertion;
/// use okta_client::key::PrivateKey;
/// let key = PrivateKey::generate_p256()?.with_kid("k1");
/// let jwt = ClientAssertion::new("0oa1client", "https://dev-1.okta.com/oauth2/v1/token")
///     .sign(&key, 1_700_000_000)?;
/// assert_eq!(jwt.split('.').count(), 3);
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ClientAssertion<'a> {
    client_id: &'a str,
    audience: &'a str,
    kid: Option<&'a str>,
}

impl<'a> ClientAssertion<'a> {
    /// An assertion by `client_id` for the token endpoint `token_url` (the exact URL POSTed to).
    pub fn new(client_id: &'a str, token_url: &'a str) -> Self {
        ClientAssertion {
            client_id,
            audience: token_url,
            kid: None,
        }
    }

    /// The `kid` to send; overrides the key's own.
    #[must_use]
    pub fn kid(mut self, kid: &'a str) -> Self {
        self.kid = Some(kid);
        self
    }

    /// Signs with a `jti` from the operating system's CSPRNG.
    pub fn sign(&self, key: &PrivateKey, issued_at: u64) -> Result<String> {
        let jti = crate::dpop::os_random::<JTI_BYTES>()?;
        self.sign_with_jti(key, issued_at, &jti)
    }

    /// Signs with a `jti` drawn from `rng`.
    pub fn sign_with_rng<R: CryptoRng + ?Sized>(
        &self,
        key: &PrivateKey,
        issued_at: u64,
        rng: &mut R,
    ) -> Result<String> {
        let mut jti = [0u8; JTI_BYTES];
        rng.fill_bytes(&mut jti);
        self.sign_with_jti(key, issued_at, &jti)
    }

    fn sign_with_jti(&self, key: &PrivateKey, iat: u64, jti: &[u8]) -> Result<String> {
        let mut header = JwsHeader::new(key.algorithm());
        if let Some(kid) = self.kid.or(key.kid()) {
            header = header.with_kid(kid);
        }
        let mut claims = Vec::with_capacity(160 + self.client_id.len() * 2 + self.audience.len());
        claims.extend_from_slice(b"{\"iss\":");
        b64::push_json_str(&mut claims, self.client_id);
        claims.extend_from_slice(b",\"sub\":");
        b64::push_json_str(&mut claims, self.client_id);
        claims.extend_from_slice(b",\"aud\":");
        b64::push_json_str(&mut claims, self.audience);
        claims.extend_from_slice(b",\"iat\":");
        b64::push_u64(&mut claims, iat);
        claims.extend_from_slice(b",\"exp\":");
        b64::push_u64(&mut claims, iat.saturating_add(ASSERTION_LIFETIME_SECS));
        claims.extend_from_slice(b",\"jti\":\"");
        claims.extend_from_slice(b64::url_encode(jti).as_bytes());
        claims.extend_from_slice(b"\"}");
        sign_with_encoded_header(key, &header.encode(), &claims)
    }
}
