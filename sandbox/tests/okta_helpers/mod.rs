//! Shared helpers for the Okta integration tests: JWS building with AWS-LC (independent of the
//! SDK's RustCrypto signer), client assertions, DPoP proofs and token requests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idp_sandbox::okta::{OktaAppKey, OktaServiceApp};
use idp_sandbox::{OktaDirectory, Sandbox};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn jti() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub async fn start(users: usize, groups: usize) -> Sandbox {
    Sandbox::builder()
        .seed(11)
        .users(users)
        .groups(groups)
        .start()
        .await
        .unwrap()
}

/// Signs a JWS signing input; the test decides every header, the signer only signs.
pub trait JwsSigner {
    fn sign(&self, input: &[u8]) -> Vec<u8>;
}

struct Rsa(lc::RsaKeyPair, &'static dyn lc::RsaEncoding);

impl JwsSigner for Rsa {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(self.1, &SystemRandom::new(), input, &mut sig)
            .unwrap();
        sig
    }
}

struct Ec(lc::EcdsaKeyPair);

impl JwsSigner for Ec {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        self.0
            .sign(&SystemRandom::new(), input)
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

/// `b64(header).b64(claims).b64(sig)` with any header we like.
pub fn sign_jws(header: &Value, claims: &Value, signer: &dyn JwsSigner) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// A signer for an app key, from its PKCS#8 PEM.
pub fn signer_for(key: &OktaAppKey) -> Box<dyn JwsSigner> {
    let (_, der) = pem_rfc7468::decode_vec(key.private_pem.as_bytes()).unwrap();
    match key.alg.as_str() {
        "RS256" => Box::new(Rsa(
            lc::RsaKeyPair::from_pkcs8(&der).unwrap(),
            &lc::RSA_PKCS1_SHA256,
        )),
        "ES256" => Box::new(Ec(lc::EcdsaKeyPair::from_pkcs8(
            &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
        )
        .unwrap())),
        "ES384" => Box::new(Ec(lc::EcdsaKeyPair::from_pkcs8(
            &lc::ECDSA_P384_SHA384_FIXED_SIGNING,
            &der,
        )
        .unwrap())),
        other => panic!("unexpected alg {other}"),
    }
}

/// A client assertion for `app` with its main key; `edit` changes claims (Null removes one).
pub fn assertion_with(
    app: &OktaServiceApp,
    key: &OktaAppKey,
    aud: &str,
    edit: &[(&str, Value)],
) -> String {
    let t = now();
    let mut claims = json!({
        "iss": app.client_id, "sub": app.client_id, "aud": aud,
        "iat": t, "exp": t + 300, "jti": jti(),
    });
    let map = claims.as_object_mut().unwrap();
    for (k, v) in edit {
        if v.is_null() {
            map.remove(*k);
        } else {
            map.insert((*k).to_owned(), v.clone());
        }
    }
    let header = json!({"alg": key.alg, "kid": key.kid, "typ": "JWT"});
    sign_jws(&header, &claims, signer_for(key).as_ref())
}

pub fn assertion(app: &OktaServiceApp, token_url: &str) -> String {
    assertion_with(app, &app.key, token_url, &[])
}

/// A DPoP key pair (EC P-256) held by the client, not registered at Okta.
pub struct DpopKey {
    pub public: Value,
    signer: Box<dyn JwsSigner>,
}

impl DpopKey {
    pub fn new() -> Self {
        let pair = lc::EcdsaKeyPair::generate(&lc::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        // The public key is the uncompressed point `04 || x || y`.
        let (x, y) = pair.public_key().as_ref()[1..].split_at(32);
        let public = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        Self {
            public,
            signer: Box::new(Ec(pair)),
        }
    }

    /// RFC 7638 thumbprint.
    pub fn jkt(&self) -> String {
        let p = &self.public;
        let input = format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            p["crv"], p["x"], p["y"]
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
    }

    /// A proof; `edit` changes claims (Null removes one).
    pub fn proof_with(
        &self,
        htm: &str,
        htu: &str,
        nonce: Option<&str>,
        token: Option<&str>,
        edit: &[(&str, Value)],
    ) -> String {
        let mut claims = json!({"jti": jti(), "htm": htm, "htu": htu, "iat": now()});
        let map = claims.as_object_mut().unwrap();
        if let Some(n) = nonce {
            map.insert("nonce".into(), n.into());
        }
        if let Some(t) = token {
            map.insert("ath".into(), ath(t).into());
        }
        for (k, v) in edit {
            if v.is_null() {
                map.remove(*k);
            } else {
                map.insert((*k).to_owned(), v.clone());
            }
        }
        self.sign(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public}),
            &claims,
        )
    }

    pub fn proof(&self, htm: &str, htu: &str, nonce: Option<&str>, token: Option<&str>) -> String {
        self.proof_with(htm, htu, nonce, token, &[])
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_jws(header, claims, self.signer.as_ref())
    }
}

pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn oauth_error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn okta_code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or_default()
    }
}

/// `POST /oauth2/v1/token` with a client assertion and an optional DPoP proof.
pub async fn token_request(
    sb: &Sandbox,
    assertion: &str,
    scope: &str,
    proof: Option<&str>,
) -> Reply {
    let url = &sb.credentials().okta.token_url;
    let mut req = reqwest::Client::new().post(url).form(&[
        ("grant_type", "client_credentials"),
        ("scope", scope),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    Reply::from(req.send().await.unwrap()).await
}

/// A Bearer token for a non-DPoP app.
pub async fn bearer_token(sb: &Sandbox, app: &OktaServiceApp, scope: &str) -> String {
    let r = token_request(
        sb,
        &assertion(app, &sb.credentials().okta.token_url),
        scope,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// The full DPoP dance for a DPoP app: returns (token, nonce).
pub async fn dpop_token(
    sb: &Sandbox,
    app: &OktaServiceApp,
    key: &DpopKey,
    scope: &str,
) -> (String, String) {
    let token_url = sb.credentials().okta.token_url.clone();
    let first = token_request(
        sb,
        &assertion(app, &token_url),
        scope,
        Some(&key.proof("POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(first.status, 400, "{}", first.text);
    assert_eq!(first.oauth_error(), "use_dpop_nonce");
    let nonce = first.header("dpop-nonce").unwrap().to_owned();
    let r = token_request(
        sb,
        &assertion(app, &token_url),
        scope,
        Some(&key.proof("POST", &token_url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "DPoP");
    (r.body["access_token"].as_str().unwrap().to_owned(), nonce)
}

/// `GET {org}{path_and_query}` with an Authorization header and an optional DPoP proof.
pub async fn get(
    sb: &Sandbox,
    path_and_query: &str,
    authorization: &str,
    proof: Option<&str>,
) -> Reply {
    get_url(
        &format!("{}{path_and_query}", sb.http_url()),
        authorization,
        proof,
    )
    .await
}

pub async fn get_url(url: &str, authorization: &str, proof: Option<&str>) -> Reply {
    let mut req = reqwest::Client::new()
        .get(url)
        .header("Authorization", authorization)
        .header("Accept", "application/json");
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    Reply::from(req.send().await.unwrap()).await
}

pub fn ssws(sb: &Sandbox) -> String {
    format!("SSWS {}", sb.credentials().okta.api_token)
}

/// The `Link` headers of a reply as (rel, url).
pub fn links(r: &Reply) -> Vec<(String, String)> {
    r.headers
        .get_all("link")
        .iter()
        .map(|v| {
            let v = v.to_str().unwrap();
            let (url, rel) = v.split_once(">; rel=\"").unwrap();
            (
                rel.trim_end_matches('"').to_owned(),
                url.trim_start_matches('<').to_owned(),
            )
        })
        .collect()
}

pub fn next_link(r: &Reply) -> Option<String> {
    links(r)
        .into_iter()
        .find(|(rel, _)| rel == "next")
        .map(|(_, u)| u)
}

pub fn ids(r: &Reply) -> Vec<String> {
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn directory_ids(dir: &OktaDirectory, group: &str) -> Vec<String> {
    dir.members(group)
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect()
}

pub fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}
