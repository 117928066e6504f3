//! Differential test: every kind of JWS this crate makes is verified by PyPI `jwcrypto` (an
//! independent implementation, on OpenSSL via `cryptography`), and its header and claims are
//! checked against RFC 7523 / RFC 9449 there, in one Python process per test run.
//!
//! Skips (with a message) when the peer is not installed, unless `REQUIRE_PEERS=1`.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;
use okta_client::assertion::ClientAssertion;
use okta_client::dpop::{DpopSigner, ProofRequest, htu};
use okta_client::key::{Algorithm, PrivateKey};
use okta_client::{Dpop, PrivateKeyJwt};
use serde_json::{Value, json};

struct Batch {
    items: Vec<Value>,
    /// What the Rust side believes each token's key thumbprint is, by id.
    thumbprints: Vec<String>,
}

impl Batch {
    fn push(&mut self, mut item: Value, thumbprint: String) {
        item["id"] = json!(self.items.len());
        self.items.push(item);
        self.thumbprints.push(thumbprint);
    }
}

fn tamper(jws: &str) -> String {
    let (head, sig) = jws.rsplit_once('.').expect("test input");
    let mut bytes = b64d(sig);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    format!("{head}.{}", b64e(&bytes))
}

const URLS: [&str; 6] = [
    "https://dev-123456.okta.com/oauth2/v1/token",
    "https://dev-123456.okta.com/api/v1/groups?limit=200&after=00g1%3D%3D+x",
    "https://Dev-123456.OKTA.com:443/api/v1/groups/00g1abc/users?limit=200#frag",
    "http://127.0.0.1:39001/oauth2/aus1default/v1/token",
    "https://acme.oktapreview.com/api/v1/users?search=profile.login%20eq%20%22a%40b.c%22",
    "https://login.example.com:8443/api/v1/groups/00g%2Fodd/users",
];

fn add_key(
    batch: &mut Batch,
    label: &str,
    key: &PrivateKey,
    pem: &str,
    kid: Option<&str>,
    n: usize,
) {
    let key = match kid {
        Some(k) => key.clone().with_kid(k),
        None => key.clone(),
    };
    // Client assertions.
    for i in 0..n {
        let client_id = format!("0oa{label}{i}");
        let aud = URLS[i % 2];
        let iat = 1_700_000_000 + i as u64;
        let jwt = ClientAssertion::new(&client_id, aud)
            .sign(&key, iat)
            .expect("test input");
        let item = json!({
            "kind": "assertion", "jws": jwt, "key_pem": pem, "valid": true,
            "expect": {"alg": key.algorithm().as_str(), "kid": kid, "client_id": client_id, "aud": aud, "iat": iat},
        });
        if i == 0 {
            let mut bad = item.clone();
            bad["jws"] = json!(tamper(bad["jws"].as_str().expect("test input")));
            bad["valid"] = json!(false);
            batch.push(bad, key.thumbprint());
        }
        batch.push(item, key.thumbprint());
    }
    // DPoP proofs, every combination of nonce and access token.
    let signer = DpopSigner::new(key.clone());
    for i in 0..n {
        let method = ["GET", "POST", "PUT", "DELETE"][i % 4];
        let url = URLS[i % URLS.len()];
        let nonce = (i % 2 == 1).then(|| format!("nonce-{i}.\"quoted\"\\"));
        let token = (i % 3 != 0).then(|| format!("eyJ{label}.{i}.sig~+/="));
        let mut req = ProofRequest::new(method, url).expect("test input");
        if let Some(nv) = &nonce {
            req = req.nonce(nv);
        }
        if let Some(t) = &token {
            req = req.access_token(t);
        }
        let iat = 1_700_000_000 + i as u64;
        let proof = signer.proof(&req, iat).expect("test input");
        let item = json!({
            "kind": "dpop", "jws": proof, "valid": true,
            "expect": {"htm": method, "htu": htu(url).expect("test input"), "iat": iat, "nonce": nonce, "access_token": token},
        });
        if i == 0 {
            let mut bad = item.clone();
            bad["jws"] = json!(tamper(bad["jws"].as_str().expect("test input")));
            bad["valid"] = json!(false);
            batch.push(bad, key.thumbprint());
        }
        batch.push(item, key.thumbprint());
    }
}

#[test]
fn jwcrypto_verifies_everything_we_sign() {
    let Some(python) =
        test_support::peer_python("okta-client differential (jwcrypto)", &["jwcrypto"])
    else {
        return;
    };
    let mut batch = Batch {
        items: Vec::new(),
        thumbprints: Vec::new(),
    };

    // OpenSSL-generated keys, handed to jwcrypto as the same PEM files.
    let rsa_pem = fixture_key("rsa2048.pkcs8.pem");
    let rsa = PrivateKey::parse(&rsa_pem).unwrap();
    for (alg, kid) in [
        (Algorithm::Rs256, Some("rsa-kid")),
        (Algorithm::Rs384, None),
        (Algorithm::Rs512, Some("k2")),
    ] {
        let k = rsa.clone().with_algorithm(alg).unwrap();
        add_key(&mut batch, alg.as_str(), &k, &rsa_pem, kid, 6);
    }
    let rsa_pkcs1 = fixture_key("rsa2048.pkcs1.pem");
    add_key(
        &mut batch,
        "pkcs1",
        &PrivateKey::parse(&rsa_pkcs1).unwrap(),
        &rsa_pkcs1,
        None,
        4,
    );
    let rsa3072 = fixture_key("rsa3072.pkcs8.pem");
    add_key(
        &mut batch,
        "rsa3072",
        &PrivateKey::parse(&rsa3072).unwrap(),
        &rsa3072,
        Some("big"),
        4,
    );
    for f in [
        "p256.pkcs8.pem",
        "p256.sec1.pem",
        "p384.pkcs8.pem",
        "p384.sec1.pem",
    ] {
        let pem = fixture_key(f);
        add_key(
            &mut batch,
            f,
            &PrivateKey::parse(&pem).unwrap(),
            &pem,
            Some("ec"),
            24,
        );
    }
    // A JWK-loaded key, checked against the OpenSSL PEM of the same key.
    let jwk_key = PrivateKey::parse(&fixture_key("p256.jwk.json")).unwrap();
    add_key(
        &mut batch,
        "jwk",
        &jwk_key,
        &fixture_key("p256.pkcs8.pem"),
        Some("ec-key-1"),
        8,
    );
    // Keys we generate, exported as PKCS#8 for jwcrypto.
    for i in 0..8 {
        let k = PrivateKey::generate_p256().unwrap();
        let pem = k.to_pkcs8_pem().unwrap().to_string();
        add_key(&mut batch, &format!("gen{i}"), &k, &pem, None, 4);
    }

    // The full credential path: token request proofs (with and without nonce) and resource
    // proofs, from the Dpop credential type.
    let client = PrivateKeyJwt::builder("0oaDPOPclient", rsa.clone().with_kid("rsa-kid"))
        .scope("okta.groups.read")
        .build()
        .unwrap();
    let dpop = Dpop::builder(client).build().unwrap();
    let token_url = "https://dev-123456.okta.com/oauth2/v1/token";
    for (i, nonce) in [None, Some("eyJ7S_zG.eyJH0-Z.HX4w-7v")]
        .into_iter()
        .enumerate()
    {
        let iat = 1_700_000_100 + i as u64;
        let req = dpop.token_request(token_url, iat, nonce).unwrap();
        let form: std::collections::HashMap<&str, &str> =
            req.form().iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["scope"], "okta.groups.read");
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        batch.push(
            json!({"kind": "assertion", "jws": form["client_assertion"], "key_pem": rsa_pem, "valid": true,
                   "expect": {"alg": "RS256", "kid": "rsa-kid", "client_id": "0oaDPOPclient", "aud": token_url, "iat": iat}}),
            rsa.thumbprint(),
        );
        batch.push(
            json!({"kind": "dpop", "jws": req.dpop_header().unwrap(), "valid": true,
                   "expect": {"htm": "POST", "htu": token_url, "iat": iat, "nonce": nonce, "access_token": null}}),
            dpop.signer().thumbprint().to_string(),
        );
    }
    let proof = dpop
        .resource_proof(
            "GET",
            URLS[1],
            "access-token-value",
            Some("rs-nonce"),
            1_700_000_200,
        )
        .unwrap();
    batch.push(
        json!({"kind": "dpop", "jws": proof, "valid": true,
               "expect": {"htm": "GET", "htu": htu(URLS[1]).unwrap(), "iat": 1_700_000_200, "nonce": "rs-nonce", "access_token": "access-token-value"}}),
        dpop.signer().thumbprint().to_string(),
    );

    let script = manifest_dir().join("tests/peers/jws_check.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python peer");
    {
        let mut stdin = child.stdin.take().unwrap();
        for item in &batch.items {
            writeln!(stdin, "{item}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), batch.items.len(), "one answer per token");

    let mut failures = Vec::new();
    let (mut dpop_n, mut assertion_n, mut tampered_n) = (0, 0, 0);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["id"], json!(i));
        let item = &batch.items[i];
        match (
            item["kind"].as_str().unwrap(),
            item["valid"].as_bool().unwrap(),
        ) {
            (_, false) => tampered_n += 1,
            ("dpop", true) => dpop_n += 1,
            _ => assertion_n += 1,
        }
        if a["ok"] != json!(true) {
            failures.push(format!("#{i} {}: {}", item["kind"], a["errors"]));
        }
        // jwcrypto's RFC 7638 thumbprint of the key equals ours.
        if a["thumbprint"].as_str() != Some(batch.thumbprints[i].as_str()) {
            failures.push(format!(
                "#{i}: thumbprint {} (jwcrypto) != {} (ours)",
                a["thumbprint"], batch.thumbprints[i]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        answers.len(),
        failures.join("\n")
    );
    eprintln!(
        "jwcrypto verified {assertion_n} client assertions and {dpop_n} DPoP proofs, and rejected {tampered_n} tampered tokens"
    );
    assert!(dpop_n > 100 && assertion_n > 100 && tampered_n > 10);
}
