//! Interop with an independent XML-DSig implementation: PyPI `signxml` (lxml, and OpenSSL
//! through `cryptography`), in the peers venv (`bash .ci/install-peers`).
//!
//! * signxml signs Okta-shaped Responses (the Assertion or the Response, RSA-SHA256 and
//!   RSA-SHA512) with the IdP's key, and this crate's SP accepts them;
//! * signxml verifies Responses the sandbox's IdP signed (xml-sec), pinned to the IdP's
//!   certificate, and finds the same NameID under the signature;
//! * each side refuses what the other signed once a signed value is changed.
//!
//! This is where a bug shared by the sandbox's signing and the SP's verification (both
//! xml-sec) would show. Skips, saying how to install the peer, unless `REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::*;
use idp_sandbox::saml::{SignatureAlg, Signing};
use saml_sp::SamlError;
use serde_json::{Value, json};

fn peer(items: Vec<Value>) -> Option<Vec<Value>> {
    let python = test_support::peer_python("saml-sp interop (signxml)", &["signxml"])?;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/signxml_peer.py");
    let out = test_support::run_peer(
        &python,
        &script,
        json!({ "items": items }).to_string().as_bytes(),
    );
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("peer answers JSON"))
}

#[test]
fn the_sp_accepts_responses_signxml_signed() {
    let cases = [
        ("assertion", "sha256"),
        ("response", "sha256"),
        ("assertion", "sha512"),
        ("response", "sha512"),
    ];
    let flows: Vec<Flow> = cases.iter().map(|_| flow()).collect();
    let items = cases
        .iter()
        .zip(&flows)
        .map(|((target, alg), f)| {
            json!({"op": "sign", "xml": f.response().to_xml(), "target": target, "alg": alg,
                   "key_pem": idp_keys().private_key_pem(), "cert_pem": idp_keys().certificate_pem()})
        })
        .collect();
    let Some(answers) = peer(items) else { return };
    for ((case, mut f), answer) in cases.iter().zip(flows).zip(answers) {
        assert_eq!(answer["ok"], true, "{case:?}: {answer}");
        let xml = answer["xml"].as_str().unwrap();
        let login = f
            .post(xml)
            .unwrap_or_else(|e| panic!("{case:?}: {e}\n{xml}"));
        assert_eq!(login.name_id, "alice@example.com", "{case:?}");
        assert_eq!(login.groups(), ["Everyone", "Portal Admins"], "{case:?}");

        // The same document with the NameID changed after signxml signed it.
        let mut f = flow();
        let forged = xml.replace("alice@example.com", "admin@example.com");
        let e = f.post(&forged).expect_err("a changed value");
        assert!(
            matches!(e, SamlError::ContentModified { .. }),
            "{case:?}: {e:?}"
        );
    }
}

#[test]
fn signxml_verifies_responses_the_sandbox_signed() {
    let cases = [
        (
            Signing::Assertion,
            SignatureAlg::RsaSha256,
            "sha256",
            "Assertion",
        ),
        (
            Signing::Response,
            SignatureAlg::RsaSha256,
            "sha256",
            "Response",
        ),
        (
            Signing::Assertion,
            SignatureAlg::RsaSha512,
            "sha512",
            "Assertion",
        ),
        (
            Signing::Response,
            SignatureAlg::RsaSha512,
            "sha512",
            "Response",
        ),
    ];
    let mut items = Vec::new();
    for (signing, alg, name, _) in cases {
        let f = flow();
        let xml = f.response().sign_with(idp_keys(), signing, alg).unwrap();
        items.push(json!({"op": "verify", "xml": xml, "alg": name, "cert_pem": idp_keys().certificate_pem()}));
        // Changed after signing: signxml must refuse it too.
        let forged = xml.replace("alice@example.com", "admin@example.com");
        items.push(json!({"op": "verify", "xml": forged, "alg": name, "cert_pem": idp_keys().certificate_pem()}));
        // Signed by another key: refused under the IdP's certificate.
        let other = f.response().sign_with(other_keys(), signing, alg).unwrap();
        items.push(json!({"op": "verify", "xml": other, "alg": name, "cert_pem": idp_keys().certificate_pem()}));
    }
    let Some(answers) = peer(items) else { return };
    for (i, (_, _, name, element)) in cases.iter().enumerate() {
        let genuine = &answers[3 * i];
        assert_eq!(genuine["ok"], true, "{name} {element}: {genuine}");
        assert_eq!(genuine["signed"], *element);
        assert_eq!(genuine["name_id"], "alice@example.com");
        assert_eq!(
            answers[3 * i + 1]["ok"],
            false,
            "forged {element} {name} accepted by signxml"
        );
        assert_eq!(
            answers[3 * i + 2]["ok"],
            false,
            "other key {element} {name} accepted by signxml"
        );
    }
}
