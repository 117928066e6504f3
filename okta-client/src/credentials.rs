//! The three ways to authenticate to Okta, as plain data, and the pure functions that turn them
//! into what goes on the wire.
//!
//! * [`ApiToken`]: `Authorization: SSWS {token}`.
//! * [`PrivateKeyJwt`]: OAuth 2.0 client credentials with a signed client assertion
//!   (scoped token); [`PrivateKeyJwt::token_request`] builds the token POST.
//! * [`Dpop`]: the same plus a DPoP proof signed by a *second* key;
//!   [`Dpop::token_request`] and [`Dpop::resource_proof`] build the proofs.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

use crate::assertion::{CLIENT_ASSERTION_TYPE, ClientAssertion};
use crate::dpop::{DpopSigner, ProofRequest};
use crate::error::{Error, Result};
use crate::key::PrivateKey;

/// An Okta API token (`SSWS`). Debug prints `[redacted]`; the secret zeroizes on drop.
///
/// ```
/// use okta_client::credentials::ApiToken;
/// use secrecy::ExposeSecret;
/// let t = ApiToken::new("00abcDEF_123")?;
/// assert_eq!(t.authorization_header().expose_secret(), "SSWS 00abcDEF_123");
/// assert_eq!(format!("{t:?}"), "ApiToken([redacted])");
/// # Ok::<(), okta_client::Error>(())
/// ```
pub struct ApiToken(SecretString);

impl ApiToken {
    /// Wraps a token; a pasted `SSWS ` prefix is removed. Refuses empty tokens and tokens with
    /// whitespace or control characters (they cannot go into a header unchanged).
    pub fn new(token: impl Into<String>) -> Result<Self> {
        let token = zeroize::Zeroizing::new(token.into());
        let mut t = token.trim();
        if t.len() >= 4 && t.is_char_boundary(4) && t[..4].eq_ignore_ascii_case("SSWS") {
            let rest = &t[4..];
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                t = rest.trim();
            }
        }
        if t.is_empty() {
            return Err(Error::InvalidConfig("the API token is empty".into()));
        }
        if t.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || !b.is_ascii())
        {
            return Err(Error::InvalidConfig(
                "the API token contains spaces or non-ASCII characters; paste only the token"
                    .into(),
            ));
        }
        Ok(ApiToken(SecretString::from(t)))
    }

    /// `SSWS {token}`, the `Authorization` header value.
    pub fn authorization_header(&self) -> SecretString {
        SecretString::from(format!("SSWS {}", self.0.expose_secret()))
    }
}

impl Clone for ApiToken {
    fn clone(&self) -> Self {
        ApiToken(SecretString::from(self.0.expose_secret()))
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

/// RFC 6749 `scope-token`: `%x21 / %x23-5B / %x5D-7E`.
fn check_scope(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "scope {s:?} is not a single OAuth scope token (e.g. okta.groups.read)"
        )))
    }
}

/// `private_key_jwt` client credentials: client id, signing key, optional `kid`, scopes.
///
/// ```
/// use okta_client::credentials::PrivateKeyJwt;
/// use okta_client::key::PrivateKey;
/// let creds = PrivateKeyJwt::builder("0oa1client", PrivateKey::generate_p256()?)
///     .kid("key-2024")
///     .scope("okta.groups.read")
///     .scope("okta.users.read")
///     .build()?;
/// let req = creds.token_request("https://dev-1.okta.com/oauth2/v1/token", 1_700_000_000)?;
/// assert!(req.form_body().starts_with("grant_type=client_credentials&scope=okta.groups.read+okta.users.read&"));
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PrivateKeyJwt {
    client_id: String,
    key: PrivateKey,
    kid: Option<String>,
    scopes: Vec<String>,
}

/// Builder for [`PrivateKeyJwt`].
#[derive(Debug)]
#[must_use]
pub struct PrivateKeyJwtBuilder {
    inner: PrivateKeyJwt,
}

impl PrivateKeyJwtBuilder {
    /// The key id Okta knows the key by (overrides a `kid` that came with the key).
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        self.inner.kid = if kid.is_empty() { None } else { Some(kid) };
        self
    }

    /// Adds one scope (e.g. `okta.groups.read`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.inner.scopes.push(scope.into());
        self
    }

    /// Adds several scopes; a space-separated string is split.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for s in scopes {
            self.inner
                .scopes
                .extend(s.as_ref().split_ascii_whitespace().map(str::to_string));
        }
        self
    }

    /// Checks the client id and scopes.
    pub fn build(mut self) -> Result<PrivateKeyJwt> {
        let id = self.inner.client_id.trim();
        if id.is_empty() {
            return Err(Error::InvalidConfig("the client id is empty".into()));
        }
        if id.chars().any(char::is_control) {
            return Err(Error::InvalidConfig(
                "the client id contains control characters".into(),
            ));
        }
        self.inner.client_id = id.to_string();
        if self.inner.scopes.is_empty() {
            return Err(Error::InvalidConfig(
                "no scopes; a service app needs at least one, e.g. okta.groups.read".into(),
            ));
        }
        for s in &self.inner.scopes {
            check_scope(s)?;
        }
        let mut seen = std::collections::HashSet::new();
        self.inner.scopes.retain(|s| seen.insert(s.clone()));
        Ok(self.inner)
    }
}

impl PrivateKeyJwt {
    /// Starts building credentials for `client_id` signing with `key`.
    pub fn builder(client_id: impl Into<String>, key: PrivateKey) -> PrivateKeyJwtBuilder {
        let kid = key.kid().map(str::to_string);
        PrivateKeyJwtBuilder {
            inner: PrivateKeyJwt {
                client_id: client_id.into(),
                key,
                kid,
                scopes: Vec::new(),
            },
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client-authentication key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The `kid` sent in assertions.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The scopes asked for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// A fresh client assertion for `token_url` issued at `issued_at` (Unix seconds).
    pub fn client_assertion(&self, token_url: &str, issued_at: u64) -> Result<String> {
        let mut a = ClientAssertion::new(&self.client_id, token_url);
        if let Some(kid) = &self.kid {
            a = a.kid(kid);
        }
        a.sign(&self.key, issued_at)
    }

    /// The token request: POST `token_url` with `grant_type=client_credentials`, `scope`,
    /// `client_assertion_type` and a fresh `client_assertion`.
    pub fn token_request(&self, token_url: &str, issued_at: u64) -> Result<TokenRequest> {
        Ok(TokenRequest {
            url: token_url.to_string(),
            form: vec![
                ("grant_type", "client_credentials".to_string()),
                ("scope", self.scopes.join(" ")),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_string()),
                (
                    "client_assertion",
                    self.client_assertion(token_url, issued_at)?,
                ),
            ],
            dpop: None,
        })
    }
}

/// A token-endpoint request, ready to send: URL, form fields, and the `DPoP` header if any.
///
/// Debug hides the assertion and the proof.
#[derive(Clone)]
pub struct TokenRequest {
    url: String,
    form: Vec<(&'static str, String)>,
    dpop: Option<String>,
}

impl TokenRequest {
    /// The token endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The form fields in order.
    pub fn form(&self) -> &[(&'static str, String)] {
        &self.form
    }

    /// The `application/x-www-form-urlencoded` body.
    pub fn form_body(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.form {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// The `DPoP` header value, for DPoP credentials.
    pub fn dpop_header(&self) -> Option<&str> {
        self.dpop.as_deref()
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form: Vec<(&str, &str)> = self
            .form
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "client_assertion" {
                        "[redacted]"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("TokenRequest")
            .field("url", &self.url)
            .field("form", &form)
            .field("dpop", &self.dpop.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// DPoP credentials: `private_key_jwt` client authentication plus a separate DPoP key.
///
/// ```
/// use okta_client::credentials::{Dpop, PrivateKeyJwt};
/// use okta_client::key::PrivateKey;
/// let client = PrivateKeyJwt::builder("0oa1client", PrivateKey::generate_p256()?)
///     .scope("okta.groups.read")
///     .build()?;
/// let dpop = Dpop::builder(client).build()?; // a fresh P-256 DPoP key
/// assert_ne!(dpop.signer().thumbprint(), dpop.client().key().thumbprint());
/// let req = dpop.token_request("https://dev-1.okta.com/oauth2/v1/token", 1_700_000_000, None)?;
/// assert!(req.dpop_header().is_some());
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dpop {
    client: PrivateKeyJwt,
    signer: DpopSigner,
}

/// Builder for [`Dpop`].
#[derive(Debug)]
#[must_use]
pub struct DpopBuilder {
    client: PrivateKeyJwt,
    dpop_key: Option<PrivateKey>,
    reuse_client_key: bool,
}

impl DpopBuilder {
    /// Uses this key for DPoP proofs instead of generating a P-256 key.
    pub fn dpop_key(mut self, key: PrivateKey) -> Self {
        self.dpop_key = Some(key);
        self
    }

    /// Signs DPoP proofs with the client-authentication key. Discouraged: the DPoP key is meant
    /// to be a separate, unregistered key pair, so only do this if you really have to.
    pub fn reuse_client_key(mut self) -> Self {
        self.reuse_client_key = true;
        self
    }

    /// Builds, generating a P-256 DPoP key if none was given.
    pub fn build(self) -> Result<Dpop> {
        let key = match (self.dpop_key, self.reuse_client_key) {
            (_, true) => self.client.key.clone(),
            (Some(k), false) => {
                if k.public_jwk() == self.client.key.public_jwk() {
                    return Err(Error::DpopKeyIsClientKey);
                }
                k
            }
            (None, false) => PrivateKey::generate_p256()?,
        };
        Ok(Dpop {
            client: self.client,
            signer: DpopSigner::new(key),
        })
    }
}

impl Dpop {
    /// Starts building DPoP credentials around `client`.
    pub fn builder(client: PrivateKeyJwt) -> DpopBuilder {
        DpopBuilder {
            client,
            dpop_key: None,
            reuse_client_key: false,
        }
    }

    /// The client-authentication part.
    pub fn client(&self) -> &PrivateKeyJwt {
        &self.client
    }

    /// The DPoP signer (key, thumbprint).
    pub fn signer(&self) -> &DpopSigner {
        &self.signer
    }

    /// The token request with a `DPoP` proof for `POST token_url` (and `nonce` after a
    /// `use_dpop_nonce` answer). Each call makes a new assertion and a new proof, as the nonce
    /// retry requires.
    pub fn token_request(
        &self,
        token_url: &str,
        issued_at: u64,
        nonce: Option<&str>,
    ) -> Result<TokenRequest> {
        let mut req = self.client.token_request(token_url, issued_at)?;
        let mut proof = ProofRequest::new("POST", token_url)?;
        if let Some(n) = nonce {
            proof = proof.nonce(n);
        }
        req.dpop = Some(self.signer.proof(&proof, issued_at)?);
        Ok(req)
    }

    /// A proof for a resource request: `method` on `url`, bound to `access_token` (`ath`).
    pub fn resource_proof(
        &self,
        method: &str,
        url: &str,
        access_token: &str,
        nonce: Option<&str>,
        issued_at: u64,
    ) -> Result<String> {
        let mut proof = ProofRequest::new(method, url)?.access_token(access_token);
        if let Some(n) = nonce {
            proof = proof.nonce(n);
        }
        self.signer.proof(&proof, issued_at)
    }
}

/// Any of the three credential kinds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// `SSWS` API token.
    ApiToken(ApiToken),
    /// Scoped OAuth token via `private_key_jwt`.
    PrivateKeyJwt(Box<PrivateKeyJwt>),
    /// Scoped DPoP-bound token.
    Dpop(Box<Dpop>),
}

impl From<ApiToken> for Credentials {
    fn from(t: ApiToken) -> Self {
        Credentials::ApiToken(t)
    }
}

impl From<PrivateKeyJwt> for Credentials {
    fn from(c: PrivateKeyJwt) -> Self {
        Credentials::PrivateKeyJwt(Box::new(c))
    }
}

impl From<Dpop> for Credentials {
    fn from(d: Dpop) -> Self {
        Credentials::Dpop(Box::new(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_token_checks() {
        assert!(ApiToken::new("").is_err());
        assert!(ApiToken::new("SSWS ").is_err());
        assert!(ApiToken::new("ab cd").is_err());
        assert!(ApiToken::new("ab\ncd").is_err());
        let t = ApiToken::new("  SSWS 00tok  ").unwrap();
        assert_eq!(t.authorization_header().expose_secret(), "SSWS 00tok");
        assert!(!format!("{:?}", t.clone()).contains("00tok"));
    }

    #[test]
    fn scopes_are_checked_and_deduplicated() {
        let key = PrivateKey::generate_p256().unwrap();
        let b = || PrivateKeyJwt::builder("cid", key.clone());
        assert!(b().build().is_err());
        assert!(b().scope("a\"b").build().is_err());
        assert!(b().scope("").build().is_err());
        assert!(
            PrivateKeyJwt::builder(" ", key.clone())
                .scope("x")
                .build()
                .is_err()
        );
        let c = b()
            .scopes(["okta.groups.read okta.users.read", "okta.groups.read"])
            .build()
            .unwrap();
        assert_eq!(c.scopes(), ["okta.groups.read", "okta.users.read"]);
    }

    #[test]
    fn dpop_key_is_not_the_client_key_unless_asked() {
        let key = PrivateKey::generate_p256().unwrap();
        let client = PrivateKeyJwt::builder("cid", key.clone())
            .scope("x")
            .build()
            .unwrap();
        let err = Dpop::builder(client.clone())
            .dpop_key(key.clone())
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::DpopKeyIsClientKey));
        let d = Dpop::builder(client.clone())
            .dpop_key(key.clone())
            .reuse_client_key()
            .build()
            .unwrap();
        assert_eq!(d.signer().thumbprint(), key.thumbprint());
        let d = Dpop::builder(client).build().unwrap();
        assert_ne!(d.signer().thumbprint(), key.thumbprint());
    }

    #[test]
    fn token_request_debug_redacts() {
        let key = PrivateKey::generate_p256().unwrap();
        let client = PrivateKeyJwt::builder("cid", key)
            .scope("x")
            .build()
            .unwrap();
        let d = Dpop::builder(client).build().unwrap();
        let req = d
            .token_request("https://e.okta.com/oauth2/v1/token", 1, Some("n"))
            .unwrap();
        let dbg = format!("{req:?}");
        let assertion = &req.form()[3].1;
        assert!(!dbg.contains(assertion.as_str()));
        assert!(!dbg.contains(req.dpop_header().unwrap()));
        assert!(dbg.contains("client_credentials"));
    }
}
