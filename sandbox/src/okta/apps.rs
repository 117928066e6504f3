//! The org's service apps (OAuth clients using `private_key_jwt`) and the API token, and the
//! credentials handed to clients.
//!
//! Four apps cover the configurations integrators meet: a plain Bearer app, DPoP-required apps
//! with an RSA and an EC key, and an app whose admin role was never assigned (Okta issues it
//! tokens, then refuses it on the resource API). Their key pairs are generated with AWS-LC, not
//! with the RustCrypto code the clients sign with; RSA generation is slow, so the key material
//! is made once per process and shared by every sandbox it starts (client ids, kids and tokens
//! stay per sandbox).

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

use super::jose::{self, Alg, Verifier};

/// Scope names the org authorization server knows. Anything else is `invalid_scope`.
pub(crate) const KNOWN_SCOPES: &[&str] = &[
    "okta.groups.read",
    "okta.groups.manage",
    "okta.users.read",
    "okta.users.manage",
    "okta.apps.read",
    "okta.apps.manage",
    "okta.logs.read",
    "okta.roles.read",
    "okta.userTypes.read",
    "okta.schemas.read",
];

/// Reading groups and their members.
pub(crate) const GROUPS_READ: &str = "okta.groups.read";
/// Reading users.
pub(crate) const USERS_READ: &str = "okta.users.read";
/// Reading the System Log.
pub(crate) const LOGS_READ: &str = "okta.logs.read";
/// Reading apps and their assignments.
pub(crate) const APPS_READ: &str = "okta.apps.read";

/// One registered key of a service app: its private parts for the client, its public JWK as
/// registered at Okta.
#[derive(Clone, Serialize)]
pub struct OktaAppKey {
    /// The key id registered with the app; send it as the assertion's `kid` header.
    pub kid: String,
    /// The algorithm to sign client assertions with (`RS256`, `ES256`, `ES384`).
    pub alg: String,
    /// The private key as JWK JSON (with `kid`), as Okta's console shows it.
    pub private_jwk: String,
    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_pem: String,
    /// The public key as JWK JSON (with `kid`), as registered with the app.
    pub public_jwk: String,
}

impl fmt::Debug for OktaAppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Throw-away keys, but printing private keys into test logs teaches bad habits.
        f.debug_struct("OktaAppKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_jwk", &"[redacted]")
            .field("private_pem", &"[redacted]")
            .field("public_jwk", &self.public_jwk)
            .finish()
    }
}

/// A service app (OAuth 2.0 client credentials with `private_key_jwt`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OktaServiceApp {
    /// A short name for tests and logs (`bearer-rsa`, `dpop-rsa`, `dpop-ec`, `no-admin-role`).
    pub name: String,
    /// The client id (`0oa…`): the assertion's `iss` and `sub`.
    pub client_id: String,
    /// The Okta API scopes granted to the app; requesting any other is `invalid_scope`.
    pub scopes: Vec<String>,
    /// Whether the app requires DPoP ("Require Demonstrating Proof of Possession header in token
    /// requests"); its tokens are then `token_type: DPoP`.
    pub dpop: bool,
    /// Whether an admin role (Read-only Administrator) is assigned; without one every resource
    /// call answers 403 `E0000006` although tokens are issued.
    pub admin_role: bool,
    /// The app's main key.
    pub key: OktaAppKey,
    /// Further registered keys (when there are several, the assertion must name its `kid`).
    pub other_keys: Vec<OktaAppKey>,
}

/// The Okta org's URL and credentials.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OktaCredentials {
    /// The org URL (`http://127.0.0.1:PORT`), used as the Okta domain.
    pub org_url: String,
    /// The org authorization server's token endpoint (`{org_url}/oauth2/v1/token`).
    pub token_url: String,
    /// An API token with full read access (`Authorization: SSWS {api_token}`).
    pub api_token: String,
    /// RSA-2048 key, Bearer tokens, scopes `okta.groups.read okta.users.read`.
    pub bearer_rsa: OktaServiceApp,
    /// RSA-2048 key, DPoP required, scopes `okta.groups.read okta.users.read`.
    pub dpop_rsa: OktaServiceApp,
    /// EC P-256 key (ES256) plus a second P-384 key (ES384), DPoP required, scope
    /// `okta.groups.read` only.
    pub dpop_ec: OktaServiceApp,
    /// EC P-256 key, Bearer tokens, both read scopes granted, but no admin role.
    pub no_admin_role: OktaServiceApp,
}

impl OktaCredentials {
    /// Every service app.
    pub fn apps(&self) -> [&OktaServiceApp; 4] {
        [
            &self.bearer_rsa,
            &self.dpop_rsa,
            &self.dpop_ec,
            &self.no_admin_role,
        ]
    }

    /// The app with this name or client id.
    pub fn app(&self, name_or_client_id: &str) -> Option<&OktaServiceApp> {
        self.apps()
            .into_iter()
            .find(|a| a.name == name_or_client_id || a.client_id == name_or_client_id)
    }
}

/// A key as the server holds it: its kid and a verifier per algorithm the key can check.
pub(crate) struct RegisteredKey {
    pub(crate) kid: String,
    verifiers: Vec<(Alg, Verifier)>,
}

impl fmt::Debug for RegisteredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algs: Vec<&str> = self.verifiers.iter().map(|(a, _)| a.name()).collect();
        f.debug_struct("RegisteredKey")
            .field("kid", &self.kid)
            .field("algs", &algs)
            .finish()
    }
}

impl RegisteredKey {
    /// The verifier for `alg`, if this key can verify it (RSA: RS256/384/512; EC: its curve's).
    pub(crate) fn verifier(&self, alg: Alg) -> Option<&Verifier> {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v)
    }
}

/// A service app as the authorization server holds it.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) dpop: bool,
    pub(crate) admin_role: bool,
    pub(crate) keys: Vec<RegisteredKey>,
    /// What clients receive.
    pub(crate) public: OktaServiceApp,
}

/// Generated key material (PKCS#8 DER), shared by every sandbox of the process.
struct KeyMaterial {
    rsa: [Vec<u8>; 2],
    p256: [Vec<u8>; 2],
    p384: Vec<u8>,
}

/// Why the apps could not be made (key generation or export failed inside AWS-LC).
#[derive(Debug, thiserror::Error)]
#[error("generating the Okta service app keys failed: {0}")]
pub(crate) struct KeyGenError(String);

fn key_material() -> Result<&'static KeyMaterial, KeyGenError> {
    static KEYS: OnceLock<Result<KeyMaterial, String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        use aws_lc_rs::encoding::AsDer;
        let rsa = || {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|e| e.to_string())?;
            let der = pair.as_der().map_err(|e| e.to_string())?;
            Ok::<_, String>(der.as_ref().to_vec())
        };
        let ec = |alg: &'static lc::EcdsaSigningAlgorithm| {
            let pair = lc::EcdsaKeyPair::generate(alg).map_err(|e| e.to_string())?;
            let der = pair.to_pkcs8v1().map_err(|e| e.to_string())?;
            Ok::<_, String>(der.as_ref().to_vec())
        };
        Ok(KeyMaterial {
            rsa: [rsa()?, rsa()?],
            p256: [
                ec(&lc::ECDSA_P256_SHA256_FIXED_SIGNING)?,
                ec(&lc::ECDSA_P256_SHA256_FIXED_SIGNING)?,
            ],
            p384: ec(&lc::ECDSA_P384_SHA384_FIXED_SIGNING)?,
        })
    })
    .as_ref()
    .map_err(|e| KeyGenError(e.clone()))
}

/// Exports one key pair for the client (JWK with `kid`, PKCS#8 PEM) and builds the server's
/// verifiers for its public half, read back through the same path a client's JWK takes.
fn export(
    kid: String,
    alg: Alg,
    private_members: Map<String, Value>,
    pkcs8: &[u8],
) -> Result<(OktaAppKey, RegisteredKey), KeyGenError> {
    let err = |e: String| KeyGenError(e);
    let public_members: Map<String, Value> = private_members
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "d" | "p" | "q" | "dp" | "dq" | "qi"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (public, _) = jose::public_jwk(&public_members).map_err(|e| err(e.to_string()))?;
    let algs: &[Alg] = match alg {
        Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => &[Alg::Rs256, Alg::Rs384, Alg::Rs512],
        other => &[other][..],
    };
    let verifiers = algs
        .iter()
        .map(|a| a.verifier(&public).map(|v| (*a, v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    let with_kid = |mut m: Map<String, Value>| {
        m.insert("kid".into(), kid.clone().into());
        Value::Object(m).to_string()
    };
    let private_pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8)
        .map_err(|e| err(e.to_string()))?;
    let client = OktaAppKey {
        kid: kid.clone(),
        alg: alg.name().to_owned(),
        private_jwk: with_kid(private_members),
        private_pem,
        public_jwk: with_kid(public.to_jwk()),
    };
    Ok((client, RegisteredKey { kid, verifiers }))
}

fn b64(bytes: &[u8]) -> Value {
    URL_SAFE_NO_PAD.encode(bytes).into()
}

/// An RSA key's JWK members, read from its PKCS#8 `RSAPrivateKey` (AWS-LC does not hand out the
/// private components, so they come from the DER it wrote).
fn rsa_key(pkcs8: &[u8]) -> Result<(OktaAppKey, RegisteredKey), KeyGenError> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8).map_err(|e| KeyGenError(e.to_string()))?;
    let k = pkcs1::RsaPrivateKeyRef::try_from(info.private_key)
        .map_err(|e| KeyGenError(e.to_string()))?;
    let mut m = Map::new();
    m.insert("kty".into(), "RSA".into());
    for (name, value) in [
        ("n", &k.modulus),
        ("e", &k.public_exponent),
        ("d", &k.private_exponent),
        ("p", &k.prime1),
        ("q", &k.prime2),
        ("dp", &k.exponent1),
        ("dq", &k.exponent2),
        ("qi", &k.coefficient),
    ] {
        m.insert(name.into(), b64(value.as_bytes()));
    }
    export(kid(), Alg::Rs256, m, pkcs8)
}

fn ec_key(pkcs8: &[u8], alg: Alg) -> Result<(OktaAppKey, RegisteredKey), KeyGenError> {
    let (signing, crv, len): (&'static lc::EcdsaSigningAlgorithm, &str, usize) = match alg {
        Alg::Es256 => (&lc::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        Alg::Es384 => (&lc::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
        other => return Err(KeyGenError(format!("no EC key for {}", other.name()))),
    };
    let pair =
        lc::EcdsaKeyPair::from_pkcs8(signing, pkcs8).map_err(|e| KeyGenError(e.to_string()))?;
    let d = pair
        .private_key()
        .as_be_bytes()
        .map_err(|e| KeyGenError(e.to_string()))?;
    // The public key is the uncompressed point `04 || x || y`.
    let point = pair.public_key().as_ref();
    if point.len() != 1 + 2 * len {
        return Err(KeyGenError(format!("unexpected {crv} point length")));
    }
    let (x, y) = point[1..].split_at(len);
    let mut m = Map::new();
    m.insert("kty".into(), "EC".into());
    m.insert("crv".into(), crv.into());
    m.insert("x".into(), b64(x));
    m.insert("y".into(), b64(y));
    m.insert("d".into(), b64(d.as_ref()));
    export(kid(), alg, m, pkcs8)
}

/// Key ids look like Okta's: 43 characters of base64url.
fn kid() -> String {
    crate::random_id(43)
}

/// Client ids look like Okta's: `0oa` + 17 characters.
fn client_id() -> String {
    format!("0oa{}", crate::random_id(17))
}

/// The four service apps.
pub(crate) fn generate_apps() -> Result<Vec<App>, KeyGenError> {
    let m = key_material()?;
    // The access-review reads too: the System Log and app assignments.
    let both = vec![
        GROUPS_READ.to_owned(),
        USERS_READ.to_owned(),
        LOGS_READ.to_owned(),
        APPS_READ.to_owned(),
    ];
    let make = |name: &str,
                scopes: Vec<String>,
                dpop: bool,
                admin_role: bool,
                keys: Vec<(OktaAppKey, RegisteredKey)>| {
        let client_id = client_id();
        let mut keys = keys.into_iter();
        let (main_client, main_server) = keys
            .next()
            .ok_or_else(|| KeyGenError("an app needs a key".into()))?;
        let (other_client, other_server): (Vec<_>, Vec<_>) = keys.unzip();
        let mut server_keys = vec![main_server];
        server_keys.extend(other_server);
        Ok::<App, KeyGenError>(App {
            client_id: client_id.clone(),
            scopes: scopes.clone(),
            dpop,
            admin_role,
            keys: server_keys,
            public: OktaServiceApp {
                name: name.to_owned(),
                client_id,
                scopes,
                dpop,
                admin_role,
                key: main_client,
                other_keys: other_client,
            },
        })
    };
    Ok(vec![
        make(
            "bearer-rsa",
            both.clone(),
            false,
            true,
            vec![rsa_key(&m.rsa[0])?],
        )?,
        make(
            "dpop-rsa",
            both.clone(),
            true,
            true,
            vec![rsa_key(&m.rsa[1])?],
        )?,
        make(
            "dpop-ec",
            vec![GROUPS_READ.to_owned()],
            true,
            true,
            vec![
                ec_key(&m.p256[0], Alg::Es256)?,
                ec_key(&m.p384, Alg::Es384)?,
            ],
        )?,
        make(
            "no-admin-role",
            both,
            false,
            false,
            vec![ec_key(&m.p256[1], Alg::Es256)?],
        )?,
    ])
}

/// An API token as Okta mints them: `00` + 40 characters.
pub(crate) fn api_token() -> String {
    format!("00{}", crate::random_id(40))
}
