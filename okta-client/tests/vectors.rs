//! Published reference vectors, stored under `tests/vectors/` with their sources.

mod common;

use common::*;
use okta_client::dpop::{DpopSigner, ProofRequest, ath};
use okta_client::error::{AuthScheme, Challenge, ErrorSource};
use okta_client::jws::{JwsHeader, sign_compact};
use okta_client::key::{Algorithm, PrivateKey, PublicJwk};
use okta_client::{Error, link};
use serde_json::{Value, json};

#[test]
fn rfc7638_rsa_thumbprint() {
    let v = vector("rfc7638.json");
    let jwk = PublicJwk::from_jwk(&v["jwk"].to_string()).unwrap();
    assert_eq!(jwk.thumbprint(), v["thumbprint"].as_str().unwrap());
}

#[test]
fn rfc7515_a2_rs256_is_byte_identical() {
    let v = &vector("rfc7515.json")["a2"];
    let compact = v["compact"].as_str().unwrap();
    let parts: Vec<&str> = compact.split('.').collect();
    // The stored transcriptions agree with one another.
    assert_eq!(
        octets(&v["signing_input_octets"]),
        format!("{}.{}", parts[0], parts[1]).as_bytes()
    );
    assert_eq!(octets(&v["signature_octets"]), b64d(parts[2]));
    let payload = octets(&v["payload_octets"]);
    assert_eq!(b64e(&payload), parts[1]);

    let header = JwsHeader::from_json(v["protected_header"].as_str().unwrap()).unwrap();
    assert_eq!(header.encode(), parts[0]);

    // Full JWK (with primes and CRT members) and n/e/d only (primes recovered): same bytes.
    let full = PrivateKey::from_jwk(&v["jwk"].to_string()).unwrap();
    assert_eq!(full.algorithm(), Algorithm::Rs256);
    let jwk = &v["jwk"];
    let ned = json!({"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "d": jwk["d"]});
    let ned = PrivateKey::from_jwk(&ned.to_string()).unwrap();
    for key in [&full, &ned] {
        assert_eq!(sign_compact(key, &header, &payload).unwrap(), compact);
    }
    assert!(verify_compact(compact, jwk));
}

#[test]
fn rfc7515_a3_es256_verifies_and_ours_verify() {
    let v = &vector("rfc7515.json")["a3"];
    let jwk = &v["jwk"];
    assert_eq!(b64d(jwk["x"].as_str().unwrap()), octets(&v["x_octets"]));
    assert_eq!(b64d(jwk["y"].as_str().unwrap()), octets(&v["y_octets"]));
    assert_eq!(b64d(jwk["d"].as_str().unwrap()), octets(&v["d_octets"]));
    let compact = v["compact"].as_str().unwrap();
    let d = decode(compact);
    assert_eq!(
        d.signing_input.as_bytes(),
        octets(&v["signing_input_octets"])
    );
    let mut rs = octets(&v["r_octets"]);
    rs.extend(octets(&v["s_octets"]));
    assert_eq!(d.signature, rs);
    // The RFC's signature verifies with the RFC's public key…
    assert!(verify_compact(compact, jwk));
    // …and a flipped bit does not.
    let mut bad = rs.clone();
    bad[10] ^= 1;
    assert!(!verify(jwk, "ES256", d.signing_input.as_bytes(), &bad));

    // Ours, with the RFC's private key: ECDSA is randomized in the RFC (ours is RFC 6979), so
    // compare by verification, and check the fixed 64-byte R‖S form.
    let key = PrivateKey::from_jwk(&jwk.to_string()).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es256);
    let header = JwsHeader::from_json(v["protected_header"].as_str().unwrap()).unwrap();
    let payload = b64d(compact.split('.').nth(1).unwrap());
    let ours = sign_compact(&key, &header, &payload).unwrap();
    assert_eq!(
        ours.split('.').take(2).collect::<Vec<_>>(),
        compact.split('.').take(2).collect::<Vec<_>>()
    );
    let ours_d = decode(&ours);
    assert_eq!(ours_d.signature.len(), 64);
    assert!(verify_compact(&ours, jwk));
    // Public JWK export round-trips the RFC's coordinates.
    let exported: Value = serde_json::from_str(&key.public_jwk().to_json()).unwrap();
    assert_eq!(
        exported,
        json!({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]})
    );
}

#[test]
fn rfc9449_example_proofs_verify_and_decode() {
    let v = vector("rfc9449.json");
    let jkt = v["figure_9_jkt"].as_str().unwrap();
    for (fig, claims) in [
        ("figure_2_dpop_header", Some(&v["figure_4_claims"])),
        ("figure_7_dpop_header", None),
        ("figure_13_dpop_header", Some(&v["figure_14_claims"])),
    ] {
        let proof = unwrap_8792(&v[fig]);
        let d = decode(&proof);
        assert_eq!(d.header, v["figure_4_header"], "{fig}");
        if let Some(c) = claims {
            assert_eq!(&d.claims, c, "{fig}");
        }
        let jwk = &d.header["jwk"];
        assert!(verify_compact(&proof, jwk), "{fig} signature");
        // The EC thumbprint of the proof key is the jkt of Figures 8/9.
        let public = PublicJwk::from_jwk(&jwk.to_string()).unwrap();
        assert_eq!(public.thumbprint(), jkt, "{fig}");
    }
    // ath of the example access token (Figures 6, 13, 14).
    let token = v["figure_6_access_token"].as_str().unwrap();
    assert_eq!(ath(token), v["figure_14_claims"]["ath"].as_str().unwrap());
}

#[test]
fn our_proof_matches_rfc9449_figure_4_shape() {
    let v = vector("rfc9449.json");
    let signer = DpopSigner::generate().unwrap();
    let want = &v["figure_4_claims"];
    let req = ProofRequest::new("POST", want["htu"].as_str().unwrap()).unwrap();
    let proof = signer.proof(&req, want["iat"].as_u64().unwrap()).unwrap();
    let d = decode(&proof);
    assert_eq!(d.header["typ"], "dpop+jwt");
    assert_eq!(d.header["alg"], "ES256");
    let mut members: Vec<&str> = d.header["jwk"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["crv", "kty", "x", "y"]);
    assert_eq!(d.claims["htm"], want["htm"]);
    assert_eq!(d.claims["htu"], want["htu"]);
    assert_eq!(d.claims["iat"], want["iat"]);
    assert!(d.claims.get("nonce").is_none() && d.claims.get("ath").is_none());
    assert!(verify_compact(&proof, &d.header["jwk"]));
    assert_eq!(
        PublicJwk::from_jwk(&d.header["jwk"].to_string())
            .unwrap()
            .thumbprint(),
        signer.thumbprint()
    );
}

#[test]
fn rfc9449_www_authenticate_examples() {
    let v = vector("rfc9449.json");
    for case in v["www_authenticate"].as_array().unwrap() {
        let header = unwrap_8792(&case["wrapped"]);
        let got = Challenge::parse_all(&header);
        let got: Vec<(String, Vec<(String, String)>)> =
            got.into_iter().map(|c| (c.scheme, c.params)).collect();
        let want: Vec<(String, Vec<(String, String)>)> = case["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["scheme"].as_str().unwrap().to_string(),
                    pairs(&c["params"]),
                )
            })
            .collect();
        assert_eq!(got, want, "figure {}", case["figure"]);
    }
}

#[test]
fn error_responses() {
    let v = vector("errors.json");
    for case in v["cases"].as_array().unwrap() {
        let what = case["what"].as_str().unwrap();
        let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
        let wa: Vec<&str> = case["www_authenticate"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let e = Error::from_response(status, &wa, case["body"].as_str().unwrap().as_bytes());
        let x = &case["expect"];
        assert_eq!(e.status(), Some(status), "{what}");
        match (x["kind"].as_str().unwrap(), &e) {
            ("okta", Error::Okta(o)) => {
                assert_eq!(o.code, x["code"].as_str().unwrap(), "{what}");
                assert_eq!(o.summary, x["summary"].as_str().unwrap(), "{what}");
                assert_eq!(o.link.as_deref(), x["link"].as_str(), "{what}");
                assert_eq!(o.id.as_deref(), x["id"].as_str(), "{what}");
                let causes: Vec<&str> = x["causes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap())
                    .collect();
                assert_eq!(o.causes, causes, "{what}");
                // Display carries code, summary, causes and errorId.
                let shown = e.to_string();
                assert!(
                    shown.contains(&o.code) && shown.contains(&o.summary),
                    "{shown}"
                );
            }
            ("oauth", Error::OAuth(o)) => {
                assert_eq!(o.error, x["error"].as_str().unwrap(), "{what}");
                assert_eq!(
                    o.description.as_deref(),
                    x["description"].as_str(),
                    "{what}"
                );
                let source = match x["source"].as_str().unwrap() {
                    "body" => ErrorSource::Body,
                    "dpop" => ErrorSource::Challenge(AuthScheme::Dpop),
                    _ => ErrorSource::Challenge(AuthScheme::Bearer),
                };
                assert_eq!(o.source, source, "{what}");
            }
            ("http", Error::Http { body, .. }) => {
                assert_eq!(body.as_deref(), x["body"].as_str(), "{what}");
            }
            (kind, other) => panic!("{what}: expected {kind}, got {other:?}"),
        }
        if let Some(r) = x.get("retryable") {
            assert_eq!(e.is_retryable(), r.as_bool().unwrap(), "{what}");
        }
        assert_eq!(
            e.is_use_dpop_nonce(),
            x.get("use_dpop_nonce").is_some(),
            "{what}"
        );
        assert_eq!(
            e.is_invalid_dpop_proof(),
            x.get("invalid_dpop_proof").is_some(),
            "{what}"
        );
        assert_eq!(
            e.is_invalid_token(),
            x.get("invalid_token").is_some(),
            "{what}"
        );
    }
}

#[test]
fn rfc8288_link_examples() {
    let v = vector("link.json");
    for case in v["rfc8288"].as_array().unwrap() {
        let header = case["header"].as_str().unwrap();
        let got = link::parse(header);
        let want = case["links"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{header}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.target, w["target"].as_str().unwrap(), "{header}");
            let rels: Vec<String> = g.relations().collect();
            let want_rels: Vec<&str> = w["rels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(rels, want_rels, "{header}");
            let params: Vec<(String, String)> = g
                .params
                .iter()
                .map(|(n, v)| (n.clone(), v.clone().unwrap_or_default()))
                .collect();
            let want_params = pairs(&w["params"]);
            assert_eq!(params, want_params, "{header}");
        }
    }
}

#[test]
fn okta_link_forms_give_next_verbatim() {
    let v = vector("link.json");
    for case in v["next"].as_array().unwrap() {
        let headers: Vec<&str> = case["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(
            link::next(headers.iter().copied()),
            case["next"].as_str(),
            "{}",
            case["what"]
        );
    }
}

/// A vector's `[[name, value], …]` as pairs (a malformed vector is a failed test).
#[allow(clippy::unwrap_used)]
fn pairs(list: &serde_json::Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
