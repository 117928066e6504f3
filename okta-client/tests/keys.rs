//! Key loading from the formats users actually have, refusals, public-key matching, redaction.
//!
//! Fixtures under `tests/fixtures/keys/` were made with OpenSSL 3 (PEM) and jwcrypto (JWK), so
//! they are not round-trips of our own encoder. They are test keys and nothing else.

mod common;

use common::*;
use okta_client::Error;
use okta_client::jws::{JwsHeader, sign_compact};
use okta_client::key::{Algorithm, KeyType, PrivateKey, PublicJwk};

fn jwcrypto_thumbprint(file: &str) -> String {
    let path = manifest_dir().join("tests/fixtures/keys/thumbprints.jwcrypto.json");
    let text = std::fs::read_to_string(path).expect("thumbprints fixture");
    let v: serde_json::Value = serde_json::from_str(&text).expect("thumbprints JSON");
    v[file]
        .as_str()
        .expect("a thumbprint for that file")
        .to_string()
}

/// A fixture file and the check its refusal must pass.
type Refusal = (&'static str, fn(&Error) -> bool);

#[test]
fn every_private_format_loads_and_agrees() {
    let groups: [(&str, &[&str], KeyType, Algorithm); 3] = [
        (
            "rsa2048.pkcs8.pem",
            &[
                "rsa2048.pkcs8.pem",
                "rsa2048.pkcs1.pem",
                "rsa2048.jwk.json",
                "rsa2048.ned.jwk.json",
            ],
            KeyType::Rsa,
            Algorithm::Rs256,
        ),
        (
            "p256.pkcs8.pem",
            &[
                "p256.pkcs8.pem",
                "p256.sec1.pem",
                "p256.sec1-with-params.pem",
                "p256.jwk.json",
            ],
            KeyType::P256,
            Algorithm::Es256,
        ),
        (
            "p384.pkcs8.pem",
            &["p384.pkcs8.pem", "p384.sec1.pem", "p384.jwk.json"],
            KeyType::P384,
            Algorithm::Es384,
        ),
    ];
    for (reference, files, kt, alg) in groups {
        let want = jwcrypto_thumbprint(reference);
        for f in files {
            let key = PrivateKey::parse(&fixture_key(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(key.key_type(), kt, "{f}");
            assert_eq!(key.algorithm(), alg, "{f}");
            assert_eq!(
                key.thumbprint(),
                want,
                "{f}: thumbprint differs from jwcrypto's"
            );
        }
    }
    assert_eq!(
        PrivateKey::parse(&fixture_key("rsa3072.pkcs8.pem"))
            .unwrap()
            .thumbprint(),
        jwcrypto_thumbprint("rsa3072.pkcs8.pem")
    );
}

#[test]
fn jwk_kid_is_kept() {
    let key = PrivateKey::from_jwk(&fixture_key("rsa2048.jwk.json")).unwrap();
    assert_eq!(key.kid(), Some("okta-console-key-1"));
    let jws = sign_compact(&key, &JwsHeader::new(key.algorithm()), b"{}").unwrap();
    assert!(verify_compact(
        &jws,
        &serde_json::from_str(&key.public_jwk().to_json()).unwrap()
    ));
    // A JWK Set with one key, as some consoles export.
    let set = format!(r#"{{"keys":[{}]}}"#, fixture_key("p256.jwk.json"));
    assert_eq!(PrivateKey::from_jwk(&set).unwrap().kid(), Some("ec-key-1"));
    let two = format!(r#"{{"keys":[{0},{0}]}}"#, fixture_key("p256.jwk.json"));
    assert!(matches!(
        PrivateKey::from_jwk(&two),
        Err(Error::KeyFormat(_))
    ));
}

#[test]
fn pasted_pem_variants_load() {
    let pem = fixture_key("rsa2048.pkcs8.pem");
    let want = PrivateKey::from_pem(&pem).unwrap().thumbprint();
    let variants = [
        // Literal backslash-n, as in an environment variable or a JSON string.
        pem.replace('\n', "\\n"),
        format!("\"{}\"", pem.trim_end().replace('\n', "\\n")),
        // Windows line endings, surrounding whitespace, indentation.
        format!("\n\n   {}   \n", pem.replace('\n', "\r\n")),
        pem.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        // Everything on one line with spaces (a web form that drops newlines).
        pem.replace('\n', " "),
        // Literal \r\n.
        pem.replace('\n', "\\r\\n"),
    ];
    for v in &variants {
        assert_eq!(PrivateKey::parse(v).unwrap().thumbprint(), want, "{v:.60}");
    }
    let ec = fixture_key("p256.sec1.pem").replace('\n', "\\n");
    assert_eq!(
        PrivateKey::parse(&ec).unwrap().thumbprint(),
        jwcrypto_thumbprint("p256.pkcs8.pem")
    );
}

#[test]
fn refusals_are_typed() {
    let cases: [Refusal; 9] = [
        ("rsa1024.pkcs8.pem", |e| {
            matches!(e, Error::RsaKeyTooSmall { bits: 1024 })
        }),
        ("rsa1024.pkcs1.pem", |e| {
            matches!(e, Error::RsaKeyTooSmall { bits: 1024 })
        }),
        ("rsa1024.jwk.json", |e| {
            matches!(e, Error::RsaKeyTooSmall { bits: 1024 })
        }),
        (
            "p521.sec1.pem",
            |e| matches!(e, Error::UnsupportedCurve(c) if c == "P-521"),
        ),
        (
            "p521.pkcs8.pem",
            |e| matches!(e, Error::UnsupportedCurve(c) if c == "P-521"),
        ),
        (
            "secp256k1.sec1.pem",
            |e| matches!(e, Error::UnsupportedCurve(c) if c == "secp256k1"),
        ),
        ("ed25519.pkcs8.pem", |e| {
            matches!(e, Error::UnsupportedKeyType(_))
        }),
        ("rsa2048.encrypted.pem", |e| {
            matches!(e, Error::EncryptedKey)
        }),
        ("rsa2048.pkcs1-encrypted.pem", |e| {
            matches!(e, Error::EncryptedKey)
        }),
    ];
    for (f, ok) in cases {
        let err = PrivateKey::parse(&fixture_key(f)).unwrap_err();
        assert!(ok(&err), "{f}: {err:?}");
        // Messages never echo key material.
        let msg = err.to_string();
        assert!(!msg.contains("MII"), "{f}: {msg}");
    }
    for (input, what) in [
        (fixture_key("rsa2048.spki.pem"), "public key as private"),
        (
            fixture_key("rsa2048.public.jwk.json"),
            "public JWK as private",
        ),
        ("".to_string(), "empty"),
        ("hello".to_string(), "garbage"),
        (
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----".to_string(),
            "bad base64",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".to_string(),
            "bad DER",
        ),
        ("-----BEGIN PRIVATE KEY-----\nAAAA".to_string(), "no END"),
        (r#"{"kty":"oct","k":"AAAA"}"#.to_string(), "symmetric"),
        (
            r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"AAAA"}"#.to_string(),
            "OKP",
        ),
        (
            r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA","d":"AA"}"#.to_string(),
            "P-521 JWK",
        ),
        (
            r#"{"kty":"EC","crv":"P-256","d":"not base64!"}"#.to_string(),
            "bad d",
        ),
        (r#"{"kty":"RSA","n":"AQAB"#.to_string(), "truncated JSON"),
    ] {
        let err = PrivateKey::parse(&input).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KeyFormat(_) | Error::UnsupportedKeyType(_) | Error::UnsupportedCurve(_)
            ),
            "{what}: {err:?}"
        );
    }
    assert!(matches!(
        PrivateKey::generate_rsa(1024),
        Err(Error::RsaKeyTooSmall { bits: 1024 })
    ));
}

#[test]
fn jwk_with_wrong_public_point_is_refused() {
    let mut jwk: serde_json::Value = serde_json::from_str(&fixture_key("p256.jwk.json")).unwrap();
    let other: serde_json::Value =
        serde_json::from_str(&PrivateKey::generate_p256().unwrap().public_jwk().to_json()).unwrap();
    jwk["x"] = other["x"].clone();
    jwk["y"] = other["y"].clone();
    assert!(matches!(
        PrivateKey::from_jwk(&jwk.to_string()),
        Err(Error::KeyFormat(_))
    ));
}

#[test]
fn public_key_must_match() {
    let key = PrivateKey::parse(&fixture_key("rsa2048.pkcs8.pem")).unwrap();
    for public in [
        "rsa2048.spki.pem",
        "rsa2048.pkcs1-public.pem",
        "rsa2048.public.jwk.json",
        "rsa2048.jwk.json",
    ] {
        let k = key
            .clone()
            .with_public_key(&fixture_key(public))
            .unwrap_or_else(|e| panic!("{public}: {e}"));
        assert_eq!(k.thumbprint(), key.thumbprint());
    }
    let err = key
        .clone()
        .with_public_key(&fixture_key("rsa3072.spki.pem"))
        .unwrap_err();
    match &err {
        Error::KeyMismatch {
            private_thumbprint,
            public_thumbprint,
        } => {
            assert_eq!(
                private_thumbprint,
                &jwcrypto_thumbprint("rsa2048.pkcs8.pem")
            );
            assert_eq!(public_thumbprint, &jwcrypto_thumbprint("rsa3072.pkcs8.pem"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("does not match"));
    assert!(matches!(
        key.clone().with_public_key(&fixture_key("p256.spki.pem")),
        Err(Error::KeyMismatch { .. })
    ));
    assert!(matches!(
        key.with_public_key(&fixture_key("rsa1024.spki.pem")),
        Err(Error::RsaKeyTooSmall { .. })
    ));

    let ec = PrivateKey::parse(&fixture_key("p256.sec1.pem")).unwrap();
    ec.clone()
        .with_public_key(&fixture_key("p256.spki.pem"))
        .unwrap();
    ec.clone()
        .with_public_key(&fixture_key("p256.public.jwk.json"))
        .unwrap();
    let p384 = PrivateKey::parse(&fixture_key("p384.sec1.pem")).unwrap();
    p384.with_public_key(&fixture_key("p384.spki.pem")).unwrap();
    assert!(PublicJwk::parse(&fixture_key("p256.spki.pem").replace('\n', "\\n")).is_ok());
}

#[test]
fn debug_never_shows_private_material() {
    let pem = fixture_key("rsa2048.pkcs8.pem");
    let jwk: serde_json::Value = serde_json::from_str(&fixture_key("rsa2048.jwk.json")).unwrap();
    let ec_jwk: serde_json::Value = serde_json::from_str(&fixture_key("p256.jwk.json")).unwrap();
    let keys = [
        PrivateKey::parse(&pem).unwrap(),
        PrivateKey::parse(&fixture_key("p256.jwk.json")).unwrap(),
        PrivateKey::generate_p256().unwrap(),
    ];
    let secrets: Vec<String> = ["d", "p", "q", "dp", "dq", "qi"]
        .iter()
        .map(|m| jwk[m].as_str().unwrap().to_string())
        .chain([ec_jwk["d"].as_str().unwrap().to_string()])
        .collect();
    for key in &keys {
        for shown in [format!("{key:?}"), format!("{key:#?}")] {
            assert!(shown.contains("[redacted]"), "{shown}");
            for s in &secrets {
                assert!(
                    !shown.contains(&s[..16]),
                    "Debug leaks a private member: {shown}"
                );
            }
            // Nor as decimal/hex-ish dumps of the scalar (RustCrypto's own Debug is not used).
            assert!(
                !shown.contains("SigningKey") && !shown.contains("BoxedUint"),
                "{shown}"
            );
        }
    }
    let dpop = okta_client::dpop::DpopSigner::new(keys[1].clone());
    assert!(format!("{dpop:?}").contains("[redacted]"));
}

#[test]
fn algorithm_selection() {
    let rsa = PrivateKey::parse(&fixture_key("rsa2048.pkcs1.pem")).unwrap();
    for alg in [Algorithm::Rs256, Algorithm::Rs384, Algorithm::Rs512] {
        let k = rsa.clone().with_algorithm(alg).unwrap();
        let jws = sign_compact(&k, &JwsHeader::new(alg), b"{\"a\":1}").unwrap();
        let jwk = serde_json::from_str(&k.public_jwk().to_json()).unwrap();
        assert!(verify_compact(&jws, &jwk), "{alg}");
        assert_eq!(decode(&jws).signature.len(), 256);
    }
    assert!(matches!(
        rsa.clone().with_algorithm(Algorithm::Es256),
        Err(Error::AlgorithmMismatch { .. })
    ));
    let p256 = PrivateKey::generate_p256().unwrap();
    assert!(matches!(
        p256.clone().with_algorithm(Algorithm::Rs256),
        Err(Error::AlgorithmMismatch { .. })
    ));
    assert!(matches!(
        p256.with_algorithm(Algorithm::Es384),
        Err(Error::AlgorithmMismatch { .. })
    ));
    // JWK alg is honoured, and must fit the key.
    let mut jwk: serde_json::Value =
        serde_json::from_str(&fixture_key("rsa2048.jwk.json")).unwrap();
    jwk["alg"] = "RS512".into();
    assert_eq!(
        PrivateKey::from_jwk(&jwk.to_string()).unwrap().algorithm(),
        Algorithm::Rs512
    );
    jwk["alg"] = "ES256".into();
    assert!(matches!(
        PrivateKey::from_jwk(&jwk.to_string()),
        Err(Error::AlgorithmMismatch { .. })
    ));
    jwk["alg"] = "RSA-OAEP".into();
    assert!(matches!(
        PrivateKey::from_jwk(&jwk.to_string()),
        Err(Error::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn public_jwk_export_has_public_members_only_and_fixed_lengths() {
    for _ in 0..64 {
        let k = PrivateKey::generate_p256().unwrap();
        let v: serde_json::Value = serde_json::from_str(&k.public_jwk().to_json()).unwrap();
        let obj = v.as_object().unwrap();
        let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["crv", "kty", "x", "y"]);
        // 32-byte coordinates even when the top byte is zero (1 in 128 keys has one).
        assert_eq!(b64d(v["x"].as_str().unwrap()).len(), 32);
        assert_eq!(b64d(v["y"].as_str().unwrap()).len(), 32);
    }
    let p384 = PrivateKey::parse(&fixture_key("p384.pkcs8.pem")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&p384.public_jwk().to_json()).unwrap();
    assert_eq!(v["crv"], "P-384");
    assert_eq!(b64d(v["x"].as_str().unwrap()).len(), 48);
    let rsa = PrivateKey::parse(&fixture_key("rsa2048.pkcs8.pem")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&rsa.public_jwk().to_json()).unwrap();
    let mut names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["e", "kty", "n"]);
    assert_eq!(v["e"], "AQAB");
    let jc: serde_json::Value =
        serde_json::from_str(&fixture_key("rsa2048.public.jwk.json")).unwrap();
    assert_eq!(v["n"], jc["n"]);
}

#[test]
fn generated_keys_persist_and_reload() {
    let k = PrivateKey::generate_p256().unwrap();
    let pem = k.to_pkcs8_pem().unwrap();
    assert_eq!(
        PrivateKey::from_pem(&pem).unwrap().thumbprint(),
        k.thumbprint()
    );
    let rsa = PrivateKey::parse(&fixture_key("rsa2048.pkcs1.pem")).unwrap();
    let pem = rsa.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        PrivateKey::from_pem(&pem).unwrap().thumbprint(),
        rsa.thumbprint()
    );
}
