//! Private keys for `private_key_jwt` client authentication and DPoP proofs.
//!
//! Supported: RSA of 2048 bits or more (RS256 by default; RS384/RS512 selectable), EC P-256
//! (ES256) and EC P-384 (ES384). **P-521 is refused** ([`Error::UnsupportedCurve`]): Okta accepts
//! ES512, but no key Okta's console hands out is P-521 and supporting it would add a curve
//! implementation for nobody; so are secp256k1, Ed25519 and symmetric keys.
//!
//! Inputs accepted by [`PrivateKey::parse`]:
//! * JWK JSON (what Okta's console shows), RSA with `n,e,d` (and usually `p,q,dp,dq,qi`) or EC
//!   with `crv,x,y,d`; `kid` is kept, `alg` is honoured; a JWK Set with exactly one key;
//! * PEM: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY` (a leading
//!   `EC PARAMETERS` block is skipped), also when pasted with literal `\n` sequences instead of
//!   newlines, with `\r\n`, indentation or surrounding quotes/whitespace.
//!
//! Private material never prints: `Debug` shows the algorithm, `kid` and public thumbprint only.
//! The underlying RustCrypto keys zeroize on drop, and so do our intermediate buffers.

use std::fmt;
use std::str::FromStr;

use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::der::Decode as _;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use p256::pkcs8::{LineEnding, ObjectIdentifier, PrivateKeyInfoRef, SubjectPublicKeyInfoRef};
use rand::CryptoRng;
use rand::rngs::SysRng;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::traits::PublicKeyParts as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use zeroize::{Zeroize as _, Zeroizing};

use crate::b64;
use crate::error::{Error, Result};

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const OID_DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A JWS signature algorithm this crate produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default for RSA keys).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA P-256 with SHA-256 (the only choice for P-256 keys).
    Es256,
    /// ECDSA P-384 with SHA-384 (the only choice for P-384 keys).
    Es384,
}

impl Algorithm {
    /// The JWS `alg` name, e.g. `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "RS256" => Ok(Algorithm::Rs256),
            "RS384" => Ok(Algorithm::Rs384),
            "RS512" => Ok(Algorithm::Rs512),
            "ES256" => Ok(Algorithm::Es256),
            "ES384" => Ok(Algorithm::Es384),
            other => Err(Error::UnsupportedAlgorithm(other.to_string())),
        }
    }
}

/// The kind of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// RSA (any supported size).
    Rsa,
    /// EC on P-256.
    P256,
    /// EC on P-384.
    P384,
}

impl KeyType {
    /// A human name: `RSA`, `EC P-256`, `EC P-384`.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::P256 => "EC P-256",
            KeyType::P384 => "EC P-384",
        }
    }

    const fn default_algorithm(self) -> Algorithm {
        match self {
            KeyType::Rsa => Algorithm::Rs256,
            KeyType::P256 => Algorithm::Es256,
            KeyType::P384 => Algorithm::Es384,
        }
    }

    const fn allows(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyType::Rsa,
                Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512
            ) | (KeyType::P256, Algorithm::Es256)
                | (KeyType::P384, Algorithm::Es384)
        )
    }
}

// ------------------------------------------------------------------------------------------------
// Public keys
// ------------------------------------------------------------------------------------------------

#[derive(Clone, PartialEq, Eq)]
enum PublicRepr {
    Rsa {
        n: String,
        e: String,
    },
    Ec {
        key_type: KeyType,
        x: String,
        y: String,
    },
}

/// A public key as a JWK: only public members, canonical encoding (RSA `n`/`e` without leading
/// zero octets, EC coordinates at full field length), so equal keys compare equal.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    repr: PublicRepr,
}

impl PublicJwk {
    /// Reads a public key from JWK JSON or PEM (`PUBLIC KEY` SPKI or PKCS#1 `RSA PUBLIC KEY`).
    ///
    /// A private JWK is accepted too; only its public members are used.
    pub fn parse(input: &str) -> Result<Self> {
        if looks_like_json(input) {
            Self::from_jwk(input)
        } else {
            Self::from_pem(input)
        }
    }

    /// Reads a public key from JWK JSON.
    pub fn from_jwk(json: &str) -> Result<Self> {
        let raw = parse_raw_jwk(json)?;
        match raw.kty.as_deref() {
            Some("RSA") => {
                let n = b64_member(&raw.n, "n")?;
                let bits = bit_length(&n);
                if bits < MIN_RSA_BITS {
                    return Err(Error::RsaKeyTooSmall { bits });
                }
                let e = b64_member(&raw.e, "e")?;
                let public = rsa::PublicKey::new(
                    rsa::BoxedUint::from_be_slice_vartime(&n),
                    rsa::BoxedUint::from_be_slice_vartime(&e),
                )
                .map_err(|e| Error::KeyFormat(format!("invalid RSA public key: {e}")))?;
                Self::from_rsa(&public)
            }
            Some("EC") => {
                let key_type = curve_from_crv(raw.crv.as_deref())?;
                let x = b64_member(&raw.x, "x")?;
                let y = b64_member(&raw.y, "y")?;
                let point = uncompressed_point(key_type, &x, &y)?;
                match key_type {
                    KeyType::P256 => p256::PublicKey::from_sec1_bytes(&point)
                        .map(|k| Self::from_p256(&k.into()))
                        .map_err(|_| Error::KeyFormat("x/y is not a point on P-256".into())),
                    KeyType::P384 | KeyType::Rsa => p384::PublicKey::from_sec1_bytes(&point)
                        .map(|k| Self::from_p384(&k.into()))
                        .map_err(|_| Error::KeyFormat("x/y is not a point on P-384".into())),
                }
            }
            Some(other) => Err(Error::UnsupportedKeyType(other.to_string())),
            None => Err(Error::KeyFormat("the JWK has no `kty` member".into())),
        }
    }

    /// Reads a public key from PEM: SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let block = find_pem_block(pem, |label| {
            label.contains("PUBLIC KEY") || label.contains("PRIVATE KEY")
        })?;
        match block.label.as_str() {
            "PUBLIC KEY" => {
                let spki = SubjectPublicKeyInfoRef::try_from(block.der.as_slice())
                    .map_err(|e| Error::KeyFormat(format!("invalid SubjectPublicKeyInfo: {e}")))?;
                let (alg, params) = spki
                    .algorithm
                    .oids()
                    .map_err(|e| Error::KeyFormat(format!("invalid algorithm identifier: {e}")))?;
                match classify(alg, params)? {
                    KeyType::Rsa => {
                        let pkcs1 = spki.subject_public_key.as_bytes().ok_or_else(|| {
                            Error::KeyFormat("invalid RSA SubjectPublicKeyInfo".into())
                        })?;
                        Self::from_rsa(&rsa_public_from_pkcs1(pkcs1)?)
                    }
                    KeyType::P256 => {
                        let k = p256::PublicKey::from_public_key_der(&block.der).map_err(|e| {
                            Error::KeyFormat(format!("invalid P-256 public key: {e}"))
                        })?;
                        Ok(Self::from_p256(&k.into()))
                    }
                    KeyType::P384 => {
                        let k = p384::PublicKey::from_public_key_der(&block.der).map_err(|e| {
                            Error::KeyFormat(format!("invalid P-384 public key: {e}"))
                        })?;
                        Ok(Self::from_p384(&k.into()))
                    }
                }
            }
            "RSA PUBLIC KEY" => Self::from_rsa(&rsa_public_from_pkcs1(&block.der)?),
            _ => Ok(PrivateKey::from_pem(pem)?.public_jwk().clone()),
        }
    }

    fn from_rsa(k: &rsa::PublicKey) -> Result<Self> {
        let n = k.n_bytes();
        let bits = bit_length(&n);
        if bits < MIN_RSA_BITS {
            return Err(Error::RsaKeyTooSmall { bits });
        }
        Ok(PublicJwk {
            repr: PublicRepr::Rsa {
                n: b64::url_encode(&n),
                e: b64::url_encode(&k.e_bytes()),
            },
        })
    }

    fn from_p256(k: &p256::ecdsa::VerifyingKey) -> Self {
        let point = k.to_sec1_point(false);
        let xy = &point.as_bytes()[1..];
        let (x, y) = xy.split_at(xy.len() / 2);
        PublicJwk {
            repr: PublicRepr::Ec {
                key_type: KeyType::P256,
                x: b64::url_encode(x),
                y: b64::url_encode(y),
            },
        }
    }

    fn from_p384(k: &p384::ecdsa::VerifyingKey) -> Self {
        let point = k.to_sec1_point(false);
        let xy = &point.as_bytes()[1..];
        let (x, y) = xy.split_at(xy.len() / 2);
        PublicJwk {
            repr: PublicRepr::Ec {
                key_type: KeyType::P384,
                x: b64::url_encode(x),
                y: b64::url_encode(y),
            },
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match &self.repr {
            PublicRepr::Rsa { .. } => KeyType::Rsa,
            PublicRepr::Ec { key_type, .. } => *key_type,
        }
    }

    /// The JWK as compact JSON with public members only: `{"kty":"EC","crv":…,"x":…,"y":…}` or
    /// `{"kty":"RSA","n":…,"e":…}`. This is what goes into a DPoP proof's `jwk` header.
    pub fn to_json(&self) -> String {
        match &self.repr {
            PublicRepr::Rsa { n, e } => format!(r#"{{"kty":"RSA","n":"{n}","e":"{e}"}}"#),
            PublicRepr::Ec { key_type, x, y } => {
                format!(
                    r#"{{"kty":"EC","crv":"{}","x":"{x}","y":"{y}"}}"#,
                    crv_name(*key_type)
                )
            }
        }
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, base64url without padding (DPoP's `jkt`).
    ///
    /// The required members in lexicographic order, no whitespace, hashed with SHA-256.
    pub fn thumbprint(&self) -> String {
        let canonical = match &self.repr {
            PublicRepr::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            PublicRepr::Ec { key_type, x, y } => {
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{x}","y":"{y}"}}"#,
                    crv_name(*key_type)
                )
            }
        };
        b64::url_encode(&Sha256::digest(canonical.as_bytes()))
    }
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicJwk({})", self.to_json())
    }
}

fn crv_name(k: KeyType) -> &'static str {
    match k {
        KeyType::P384 => "P-384",
        KeyType::P256 | KeyType::Rsa => "P-256",
    }
}

fn bit_length(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        None => 0,
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
    }
}

// ------------------------------------------------------------------------------------------------
// Private keys
// ------------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Secret {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A private signing key with its JWS algorithm and optional `kid`.
///
/// ```
/// use okta_client::key::{Algorithm, PrivateKey};
/// let key = PrivateKey::generate_p256()?;
/// assert_eq!(key.algorithm(), Algorithm::Es256);
/// assert!(!format!("{key:?}").contains(r#""d""#));
/// # Ok::<(), okta_client::Error>(())
/// ```
#[derive(Clone)]
pub struct PrivateKey {
    secret: Secret,
    alg: Algorithm,
    kid: Option<String>,
    public: PublicJwk,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type().as_str())
            .field("alg", &self.alg.as_str())
            .field("kid", &self.kid)
            .field("thumbprint", &self.public.thumbprint())
            .field("private", &"[redacted]")
            .finish()
    }
}

impl PrivateKey {
    /// Reads a private key from JWK JSON or PEM, whichever the input is.
    pub fn parse(input: &str) -> Result<Self> {
        if looks_like_json(input) {
            Self::from_jwk(input)
        } else {
            Self::from_pem(input)
        }
    }

    /// Reads a private key from JWK JSON (or a JWK Set holding exactly one key).
    ///
    /// Keeps `kid`; honours `alg` when it fits the key.
    pub fn from_jwk(json: &str) -> Result<Self> {
        let raw = parse_raw_jwk(json)?;
        let secret = match raw.kty.as_deref() {
            Some("RSA") => Secret::Rsa(Box::new(rsa_from_jwk(&raw)?)),
            Some("EC") => {
                let key_type = curve_from_crv(raw.crv.as_deref())?;
                let d = Zeroizing::new(b64_member(&raw.d, "d").map_err(|_| {
                    Error::KeyFormat(
                        "the EC JWK has no private member `d`: this is a public key".into(),
                    )
                })?);
                let size = field_size(key_type);
                if d.len() > size {
                    return Err(Error::KeyFormat(
                        "`d` is longer than the curve order".into(),
                    ));
                }
                let mut padded = Zeroizing::new(vec![0u8; size]);
                padded[size - d.len()..].copy_from_slice(&d);
                let secret = match key_type {
                    KeyType::P256 => p256::ecdsa::SigningKey::from_slice(&padded).map(Secret::P256),
                    KeyType::P384 | KeyType::Rsa => {
                        p384::ecdsa::SigningKey::from_slice(&padded).map(Secret::P384)
                    }
                }
                .map_err(|_| Error::KeyFormat("`d` is not a valid private scalar".into()))?;
                // x/y are optional for us but, when present, must be d's public point.
                if raw.x.is_some() || raw.y.is_some() {
                    let given = PublicJwk::from_jwk(json)?;
                    let derived = public_of(&secret);
                    if given != derived {
                        return Err(Error::KeyFormat(
                            "the JWK's x/y do not match its private member d".into(),
                        ));
                    }
                }
                secret
            }
            Some(other) => return Err(Error::UnsupportedKeyType(other.to_string())),
            None => return Err(Error::KeyFormat("the JWK has no `kty` member".into())),
        };
        let mut key = Self::from_secret(secret);
        if let Some(alg) = raw.alg.as_deref() {
            key = key.with_algorithm(alg.parse()?)?;
        }
        key.kid = raw.kid.clone().filter(|k| !k.is_empty());
        Ok(key)
    }

    /// Reads a private key from PEM: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1
    /// `EC PRIVATE KEY`, tolerating literal `\n` sequences, `\r\n`, indentation and quotes.
    ///
    /// ```
    /// use okta_client::key::PrivateKey;
    /// let key = PrivateKey::generate_p256()?;
    /// let pem = key.to_pkcs8_pem()?;
    /// // As pasted from an environment variable: one line, literal "\n".
    /// let pasted = format!("  \"{}\"  ", pem.replace('\n', "\\n"));
    /// let again = PrivateKey::from_pem(&pasted)?;
    /// assert_eq!(again.thumbprint(), key.thumbprint());
    /// # Ok::<(), okta_client::Error>(())
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self> {
        let block = find_pem_block(pem, |label| label != "EC PARAMETERS")?;
        let secret = match block.label.as_str() {
            "PRIVATE KEY" => {
                let info = PrivateKeyInfoRef::try_from(block.der.as_slice())
                    .map_err(|e| Error::KeyFormat(format!("invalid PKCS#8 PrivateKeyInfo: {e}")))?;
                let (alg, params) = info
                    .algorithm
                    .oids()
                    .map_err(|e| Error::KeyFormat(format!("invalid algorithm identifier: {e}")))?;
                match classify(alg, params)? {
                    KeyType::Rsa => {
                        Secret::Rsa(Box::new(rsa_from_pkcs1(info.private_key.as_bytes())?))
                    }
                    KeyType::P256 => p256::ecdsa::SigningKey::from_pkcs8_der(&block.der)
                        .map(Secret::P256)
                        .map_err(|e| Error::KeyFormat(format!("invalid P-256 key: {e}")))?,
                    KeyType::P384 => p384::ecdsa::SigningKey::from_pkcs8_der(&block.der)
                        .map(Secret::P384)
                        .map_err(|e| Error::KeyFormat(format!("invalid P-384 key: {e}")))?,
                }
            }
            "RSA PRIVATE KEY" => Secret::Rsa(Box::new(rsa_from_pkcs1(&block.der)?)),
            "EC PRIVATE KEY" => {
                let sec1 = sec1::EcPrivateKey::from_der(&block.der)
                    .map_err(|e| Error::KeyFormat(format!("invalid SEC1 EC private key: {e}")))?;
                let curve = sec1
                    .parameters
                    .and_then(|p| p.named_curve())
                    .ok_or_else(|| {
                        Error::KeyFormat("the SEC1 key does not name its curve".into())
                    })?;
                match classify(OID_EC, Some(curve))? {
                    KeyType::P256 => p256::SecretKey::from_sec1_der(&block.der)
                        .map(|k| Secret::P256(k.into()))
                        .map_err(|e| Error::KeyFormat(format!("invalid P-256 key: {e}")))?,
                    KeyType::P384 => p384::SecretKey::from_sec1_der(&block.der)
                        .map(|k| Secret::P384(k.into()))
                        .map_err(|e| Error::KeyFormat(format!("invalid P-384 key: {e}")))?,
                    KeyType::Rsa => {
                        return Err(Error::KeyFormat("not an EC key".into()));
                    }
                }
            }
            "ENCRYPTED PRIVATE KEY" => return Err(Error::EncryptedKey),
            "OPENSSH PRIVATE KEY" => {
                return Err(Error::KeyFormat(
                    "OpenSSH key format; convert it to PKCS#8 PEM \
                     (`ssh-keygen -p -m PKCS8 -f key`)"
                        .into(),
                ));
            }
            label if label.contains("PUBLIC KEY") || label.contains("CERTIFICATE") => {
                return Err(Error::KeyFormat(format!(
                    "this is a {label}, not a private key"
                )));
            }
            label => {
                return Err(Error::KeyFormat(format!("unexpected PEM label {label:?}")));
            }
        };
        Ok(Self::from_secret(secret))
    }

    /// A fresh P-256 key (the default for DPoP), from the operating system's CSPRNG.
    pub fn generate_p256() -> Result<Self> {
        let k = p256::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng)
            .map_err(|_| Error::Random)?;
        Ok(Self::from_secret(Secret::P256(k)))
    }

    /// A fresh P-256 key from the given CSPRNG.
    pub fn generate_p256_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret(Secret::P256(p256::ecdsa::SigningKey::generate_from_rng(
            rng,
        )))
    }

    /// A fresh RSA key of `bits` (at least 2048) with e = 65537, from the OS CSPRNG.
    ///
    /// Slow (hundreds of milliseconds to seconds); prefer P-256 for DPoP.
    pub fn generate_rsa(bits: usize) -> Result<Self> {
        Self::generate_rsa_inner(&mut SysRng, bits)
    }

    /// A fresh RSA key of `bits` (at least 2048) from the given CSPRNG.
    pub fn generate_rsa_with_rng<R: CryptoRng + ?Sized>(rng: &mut R, bits: usize) -> Result<Self> {
        Self::generate_rsa_inner(rng, bits)
    }

    fn generate_rsa_inner<R: rand::TryCryptoRng + ?Sized>(
        rng: &mut R,
        bits: usize,
    ) -> Result<Self> {
        if bits < MIN_RSA_BITS {
            return Err(Error::RsaKeyTooSmall { bits });
        }
        let k = rsa::PrivateKey::new(rng, bits).map_err(|e| match e {
            rsa::Error::Rng => Error::Random,
            other => Error::Signing(format!("RSA key generation failed: {other}")),
        })?;
        Ok(Self::from_secret(Secret::Rsa(Box::new(k))))
    }

    fn from_secret(secret: Secret) -> Self {
        let public = public_of(&secret);
        let alg = public.key_type().default_algorithm();
        PrivateKey {
            secret,
            alg,
            kid: None,
            public,
        }
    }

    /// Sets the key id sent as the JWS `kid` header (Okta needs it when the app has several keys).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        self.kid = if kid.is_empty() { None } else { Some(kid) };
        self
    }

    /// Chooses the signing algorithm: RS256/RS384/RS512 for RSA keys; EC keys have exactly one.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self> {
        if !self.key_type().allows(alg) {
            return Err(Error::AlgorithmMismatch {
                alg: alg.as_str().to_string(),
                key_type: self.key_type().as_str(),
            });
        }
        self.alg = alg;
        Ok(self)
    }

    /// Checks that `public` (JWK JSON or PEM) is this key's public half, as a form that takes
    /// both should; returns the key unchanged when it is.
    pub fn with_public_key(self, public: &str) -> Result<Self> {
        let public = PublicJwk::parse(public)?;
        self.check_public_key(&public)?;
        Ok(self)
    }

    /// [`Error::KeyMismatch`] unless `public` is this key's public half.
    pub fn check_public_key(&self, public: &PublicJwk) -> Result<()> {
        if *public == self.public {
            Ok(())
        } else {
            Err(Error::KeyMismatch {
                private_thumbprint: self.public.thumbprint(),
                public_thumbprint: public.thumbprint(),
            })
        }
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// The key id, if known.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The public half as a JWK (public members only).
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The RFC 7638 thumbprint of the public half.
    pub fn thumbprint(&self) -> String {
        self.public.thumbprint()
    }

    /// The private key as PKCS#8 PEM (e.g. to persist a generated DPoP key).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let r = match &self.secret {
            Secret::Rsa(k) => {
                rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(k.as_ref(), LineEnding::LF)
            }
            Secret::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            Secret::P384(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        r.map_err(|e| Error::KeyFormat(format!("cannot encode the key: {e}")))
    }

    /// Signs `msg` with the key's algorithm and appends the base64url JWS signature to `out`.
    ///
    /// ECDSA signatures are the fixed-size `R‖S` of RFC 7518 §3.4 (not DER) and deterministic
    /// (RFC 6979); RSA uses PKCS#1 v1.5 with blinding.
    pub(crate) fn sign_b64_into(&self, msg: &[u8], out: &mut String) -> Result<()> {
        use base64::Engine as _;
        match &self.secret {
            Secret::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.try_sign(msg).map_err(|e| Error::Signing(e.to_string()))?;
                b64::URL.encode_string(sig.to_bytes(), out);
            }
            Secret::P384(k) => {
                let sig: p384::ecdsa::Signature =
                    k.try_sign(msg).map_err(|e| Error::Signing(e.to_string()))?;
                b64::URL.encode_string(sig.to_bytes(), out);
            }
            Secret::Rsa(k) => {
                let sig = match self.alg {
                    Algorithm::Rs384 => k.pkcs1v15_sign::<Sha384>(msg),
                    Algorithm::Rs512 => k.pkcs1v15_sign::<Sha512>(msg),
                    Algorithm::Rs256 | Algorithm::Es256 | Algorithm::Es384 => {
                        k.pkcs1v15_sign::<Sha256>(msg)
                    }
                }
                .map_err(|e| Error::Signing(e.to_string()))?;
                b64::URL.encode_string(&sig, out);
            }
        }
        Ok(())
    }
}

fn public_of(secret: &Secret) -> PublicJwk {
    match secret {
        Secret::Rsa(k) => {
            let n = k.n_bytes();
            PublicJwk {
                repr: PublicRepr::Rsa {
                    n: b64::url_encode(&n),
                    e: b64::url_encode(&k.e_bytes()),
                },
            }
        }
        Secret::P256(k) => PublicJwk::from_p256(k.verifying_key()),
        Secret::P384(k) => PublicJwk::from_p384(k.verifying_key()),
    }
}

fn classify(alg: ObjectIdentifier, params: Option<ObjectIdentifier>) -> Result<KeyType> {
    if alg == OID_RSA {
        Ok(KeyType::Rsa)
    } else if alg == OID_EC {
        match params {
            Some(c) if c == OID_P256 => Ok(KeyType::P256),
            Some(c) if c == OID_P384 => Ok(KeyType::P384),
            Some(c) if c == OID_P521 => Err(Error::UnsupportedCurve("P-521".into())),
            Some(c) if c == OID_SECP256K1 => Err(Error::UnsupportedCurve("secp256k1".into())),
            Some(c) => Err(Error::UnsupportedCurve(format!("OID {c}"))),
            None => Err(Error::KeyFormat("EC key without a named curve".into())),
        }
    } else if alg == OID_RSA_PSS {
        Err(Error::UnsupportedKeyType("RSASSA-PSS-only RSA key".into()))
    } else if alg == OID_ED25519 {
        Err(Error::UnsupportedKeyType("OKP Ed25519".into()))
    } else if alg == OID_ED448 {
        Err(Error::UnsupportedKeyType("OKP Ed448".into()))
    } else if alg == OID_DSA {
        Err(Error::UnsupportedKeyType("DSA".into()))
    } else {
        Err(Error::UnsupportedKeyType(format!("OID {alg}")))
    }
}

fn rsa_from_pkcs1(der: &[u8]) -> Result<rsa::PrivateKey> {
    // Read the modulus first so that a small key gets the typed error, not a parse failure.
    let parsed = rsa::pkcs1::RsaPrivateKeyRef::from_der(der)
        .map_err(|e| Error::KeyFormat(format!("invalid PKCS#1 RSA private key: {e}")))?;
    let bits = bit_length(parsed.modulus.as_bytes());
    if bits < MIN_RSA_BITS {
        return Err(Error::RsaKeyTooSmall { bits });
    }
    rsa::PrivateKey::from_pkcs1_der(der)
        .map_err(|e| Error::KeyFormat(format!("invalid RSA private key: {e}")))
}

fn rsa_public_from_pkcs1(der: &[u8]) -> Result<rsa::PublicKey> {
    let parsed = rsa::pkcs1::RsaPublicKeyRef::from_der(der)
        .map_err(|e| Error::KeyFormat(format!("invalid PKCS#1 RSA public key: {e}")))?;
    let bits = bit_length(parsed.modulus.as_bytes());
    if bits < MIN_RSA_BITS {
        return Err(Error::RsaKeyTooSmall { bits });
    }
    rsa::PublicKey::from_pkcs1_der(der)
        .map_err(|e| Error::KeyFormat(format!("invalid RSA public key: {e}")))
}

fn rsa_from_jwk(raw: &RawJwk) -> Result<rsa::PrivateKey> {
    let n = b64_member(&raw.n, "n")?;
    let n = strip_leading_zeros(&n);
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err(Error::RsaKeyTooSmall { bits });
    }
    let e = b64_member(&raw.e, "e")?;
    let d = Zeroizing::new(b64_member(&raw.d, "d").map_err(|_| {
        Error::KeyFormat("the RSA JWK has no private member `d`: this is a public key".into())
    })?);
    let precision =
        u32::try_from(n.len() * 8).map_err(|_| Error::KeyFormat("RSA modulus too large".into()))?;
    let uint = |bytes: &[u8], what: &str| {
        rsa::BoxedUint::from_be_slice(strip_leading_zeros(bytes), precision).map_err(|_| {
            Error::KeyFormat(format!("RSA member `{what}` is larger than the modulus"))
        })
    };
    let e_bits = u32::try_from(strip_leading_zeros(&e).len().max(1) * 8)
        .map_err(|_| Error::KeyFormat("RSA exponent too large".into()))?;
    let e_uint = rsa::BoxedUint::from_be_slice(strip_leading_zeros(&e), e_bits)
        .map_err(|_| Error::KeyFormat("invalid RSA member `e`".into()))?;
    let primes = match (&raw.p, &raw.q) {
        (Some(_), Some(_)) => {
            let p = Zeroizing::new(b64_member(&raw.p, "p")?);
            let q = Zeroizing::new(b64_member(&raw.q, "q")?);
            vec![uint(&p, "p")?, uint(&q, "q")?]
        }
        (None, None) => Vec::new(),
        _ => {
            return Err(Error::KeyFormat(
                "the RSA JWK has only one of `p` and `q`".into(),
            ));
        }
    };
    rsa::PrivateKey::from_components(uint(n, "n")?, e_uint, uint(&d, "d")?, primes)
        .map_err(|e| Error::KeyFormat(format!("inconsistent RSA JWK: {e}")))
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

fn field_size(k: KeyType) -> usize {
    match k {
        KeyType::P384 => 48,
        KeyType::P256 | KeyType::Rsa => 32,
    }
}

fn curve_from_crv(crv: Option<&str>) -> Result<KeyType> {
    match crv {
        Some("P-256") => Ok(KeyType::P256),
        Some("P-384") => Ok(KeyType::P384),
        Some(other) => Err(Error::UnsupportedCurve(other.to_string())),
        None => Err(Error::KeyFormat("the EC JWK has no `crv` member".into())),
    }
}

fn uncompressed_point(key_type: KeyType, x: &[u8], y: &[u8]) -> Result<Vec<u8>> {
    let size = field_size(key_type);
    let (x, y) = (strip_leading_zeros(x), strip_leading_zeros(y));
    if x.len() > size || y.len() > size {
        return Err(Error::KeyFormat("x/y longer than the curve's field".into()));
    }
    let mut point = vec![0u8; 1 + 2 * size];
    point[0] = 4;
    point[1 + size - x.len()..=size].copy_from_slice(x);
    point[1 + 2 * size - y.len()..].copy_from_slice(y);
    Ok(point)
}

// ------------------------------------------------------------------------------------------------
// JWK and PEM parsing
// ------------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct RawJwk {
    kty: Option<String>,
    crv: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    // Not needed (the RSA crate recomputes CRT values) but declared so they are zeroized.
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
    keys: Option<Vec<RawJwk>>,
}

impl Drop for RawJwk {
    fn drop(&mut self) {
        self.d.zeroize();
        self.p.zeroize();
        self.q.zeroize();
        self.dp.zeroize();
        self.dq.zeroize();
        self.qi.zeroize();
    }
}

fn looks_like_json(input: &str) -> bool {
    input.trim_start().starts_with('{')
}

fn parse_raw_jwk(json: &str) -> Result<RawJwk> {
    let mut raw: RawJwk = serde_json::from_str(json.trim()).map_err(|e| {
        // serde_json messages can quote values; report only where and what kind.
        Error::KeyFormat(format!(
            "not a JWK ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if let Some(mut keys) = raw.keys.take() {
        if keys.len() != 1 {
            return Err(Error::KeyFormat(format!(
                "the JWK Set holds {} keys; give exactly one",
                keys.len()
            )));
        }
        if let Some(k) = keys.pop() {
            raw = k;
        }
    }
    Ok(raw)
}

fn b64_member(v: &Option<String>, name: &str) -> Result<Vec<u8>> {
    let s = v
        .as_deref()
        .ok_or_else(|| Error::KeyFormat(format!("the JWK has no `{name}` member")))?;
    b64::url_decode(s)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::KeyFormat(format!("JWK member `{name}` is not base64url")))
}

struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

/// Undoes what copy-paste does to PEM: literal `\n` / `\r\n` sequences, CR or CRLF line ends,
/// surrounding quotes and whitespace. One pass into a zeroizing buffer, so that no intermediate
/// copy of the key text is left behind unzeroized.
fn normalize_pem(input: &str) -> Zeroizing<String> {
    let t = input.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    let mut out = Zeroizing::new(String::with_capacity(t.len()));
    let b = t.as_bytes();
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        let skip = match (b[i], b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
            (b'\\', Some(b'r'), Some(b'\\'), Some(b'n')) => 4,
            (b'\\', Some(b'n' | b'r'), _, _) => 2,
            (b'\r', Some(b'\n'), _, _) => 2,
            (b'\r', _, _, _) => 1,
            _ => 0,
        };
        if skip == 0 {
            i += 1;
            continue;
        }
        // Only ASCII bytes are matched, so `run..i` and `i + skip` are char boundaries.
        out.push_str(&t[run..i]);
        out.push('\n');
        i += skip;
        run = i;
    }
    out.push_str(&t[run..]);
    out
}

/// The first PEM block whose label `want` accepts.
fn find_pem_block(input: &str, want: impl Fn(&str) -> bool) -> Result<PemBlock> {
    let text = normalize_pem(input);
    let mut rest: &str = &text;
    let mut seen_any = false;
    while let Some(begin) = rest.find("-----BEGIN ") {
        seen_any = true;
        let after = &rest[begin + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].trim().to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            return Err(Error::KeyFormat(format!(
                "PEM block {label:?} has no END line"
            )));
        };
        let body = &body_start[..end];
        rest = &body_start[end + end_marker.len()..];
        if !want(&label) {
            continue;
        }
        let mut b64 = Zeroizing::new(Vec::with_capacity(body.len()));
        for line in body.lines() {
            let line = line.trim();
            if line.contains(':') {
                // RFC 1421 headers; the only one that matters says the key is encrypted.
                if line.contains("ENCRYPTED") {
                    return Err(Error::EncryptedKey);
                }
                continue;
            }
            b64.extend(line.bytes().filter(|b| !b.is_ascii_whitespace()));
        }
        let der = b64::std_decode(&b64)
            .ok_or_else(|| Error::KeyFormat(format!("the {label} PEM body is not valid base64")))?;
        return Ok(PemBlock {
            label,
            der: Zeroizing::new(der),
        });
    }
    Err(Error::KeyFormat(if seen_any {
        "no usable PEM block found".into()
    } else {
        "neither PEM (no -----BEGIN line) nor JWK JSON".into()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x7f, 0]), 15);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in [
            Algorithm::Rs256,
            Algorithm::Rs384,
            Algorithm::Rs512,
            Algorithm::Es256,
            Algorithm::Es384,
        ] {
            assert_eq!(a.as_str().parse::<Algorithm>().unwrap(), a);
        }
        assert!(matches!(
            "ES512".parse::<Algorithm>(),
            Err(Error::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            "none".parse::<Algorithm>(),
            Err(Error::UnsupportedAlgorithm(_))
        ));
    }
}
