//! Okta DPoP proofs and client assertions against their floor: the raw signature.
//!
//! Target: an ES256 DPoP proof costs at most 1.1× a raw P-256 ECDSA signature over a message of
//! the same size (same key, RFC 6979 like ours), so the JSON, base64 and randomness around the
//! signature must be nearly free. The proof header is encoded once per key (`DpopSigner::new`).
//!
//! Figures: criterion groups `okta_dpop_es256` and `okta_assertion_rs256`, then an interleaved
//! measurement (proof and raw signature alternating in small batches, so that a neighbour's
//! build on a shared machine slows both alike) that prints the ratio.
//! Compare with the official Python SDK: `target/peers/venv/bin/python benches/peers/okta_dpop.py`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use okta_client::assertion::ClientAssertion;
use okta_client::dpop::{DpopSigner, ProofRequest};
use okta_client::key::PrivateKey;
use p256::ecdsa::signature::Signer as _;

/// The request of `benches/peers/okta_dpop.py`: a paged group-members GET with a bound token
/// and a server nonce.
const URL: &str = "https://dev-123456.okta.com/api/v1/groups/00g1a2b3c4d5e6f7g8h9/users?limit=200&after=00u1a2b3c4d5e6f7g8h9";
const ACCESS_TOKEN: &str = "eyJraWQiOiJxNGdVZ0x1NHpMWHpVUmVqd3ctc0lxT0pLTUl3R0lMU0JYbWdVQjNfQ0g0IiwiYWxnIjoiUlMyNTYifQ.eyJ2ZXIiOjEsImp0aSI6IkFULmV4YW1wbGUiLCJpc3MiOiJodHRwczovL2Rldi0xMjM0NTYub2t0YS5jb20iLCJhdWQiOiJodHRwczovL2Rldi0xMjM0NTYub2t0YS5jb20iLCJzY3AiOlsib2t0YS5ncm91cHMucmVhZCJdfQ.c2lnbmF0dXJl";
const NONCE: &str = "eyJ7S_zG.eyJH0-Z.HX4w-7v";
const IAT: u64 = 1_700_000_000;
const RSA_PEM: &str = include_str!("../okta-client/tests/fixtures/keys/rsa2048.pkcs8.pem");
const P256_PEM: &str = include_str!("../okta-client/tests/fixtures/keys/p256.pkcs8.pem");

fn p256_raw_key() -> p256::ecdsa::SigningKey {
    use p256::pkcs8::DecodePrivateKey as _;
    p256::ecdsa::SigningKey::from_pkcs8_pem(P256_PEM).expect("fixture key")
}

fn bench(c: &mut Criterion) {
    let signer = DpopSigner::new(PrivateKey::from_pem(P256_PEM).expect("fixture key"));
    let raw_key = p256_raw_key();
    let req = ProofRequest::new("GET", URL)
        .expect("url")
        .nonce(NONCE)
        .access_token(ACCESS_TOKEN);
    let sample = signer.proof(&req, IAT).expect("proof");
    let signing_input = sample
        .rsplit_once('.')
        .expect("three parts")
        .0
        .as_bytes()
        .to_vec();
    eprintln!(
        "ES256 proof: {} bytes, signing input {} bytes",
        sample.len(),
        signing_input.len()
    );

    let mut g = c.benchmark_group("okta_dpop_es256");
    g.bench_function("raw_p256_sign_same_size", |b| {
        b.iter(|| {
            let sig: p256::ecdsa::Signature = raw_key.sign(black_box(&signing_input));
            sig
        })
    });
    g.bench_function("proof_prepared_request", |b| {
        b.iter(|| {
            signer
                .proof(black_box(&req), black_box(IAT))
                .expect("proof")
        })
    });
    g.bench_function("proof_from_url_and_token", |b| {
        b.iter(|| {
            let r = ProofRequest::new("GET", black_box(URL))
                .expect("url")
                .nonce(NONCE)
                .access_token(black_box(ACCESS_TOKEN));
            signer.proof(&r, black_box(IAT)).expect("proof")
        })
    });
    g.finish();

    let rsa = PrivateKey::from_pem(RSA_PEM)
        .expect("fixture key")
        .with_kid("key-1");
    let assertion = ClientAssertion::new(
        "0oa1a2b3c4d5e6f7g8h9",
        "https://dev-123456.okta.com/oauth2/v1/token",
    );
    let mut g = c.benchmark_group("okta_assertion_rs256");
    g.sample_size(30);
    g.bench_function("client_assertion_rsa2048", |b| {
        b.iter(|| {
            assertion
                .sign(black_box(&rsa), black_box(IAT))
                .expect("assertion")
        })
    });
    g.finish();

    let mut sign = || {
        let sig: p256::ecdsa::Signature = raw_key.sign(black_box(&signing_input));
        black_box(sig);
    };
    report_ratio("prepared request", &mut sign, &mut || {
        black_box(signer.proof(black_box(&req), IAT).expect("proof"));
    });
    report_ratio("from URL and token", &mut sign, &mut || {
        let r = ProofRequest::new("GET", black_box(URL))
            .expect("url")
            .nonce(NONCE)
            .access_token(black_box(ACCESS_TOKEN));
        black_box(signer.proof(&r, IAT).expect("proof"));
    });
}

/// Median of per-round ratios, proof and raw signature timed in alternating batches.
fn report_ratio(what: &str, sign: &mut dyn FnMut(), proof: &mut dyn FnMut()) {
    const ROUNDS: usize = 300;
    const BATCH: u32 = 20;
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..BATCH {
            f();
        }
        t.elapsed() / BATCH
    };
    let (mut p, mut s, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (tp, ts) = if round % 2 == 0 {
            let tp = time(proof);
            (tp, time(sign))
        } else {
            let ts = time(sign);
            (time(proof), ts)
        };
        p.push(tp);
        s.push(ts);
        r.push(tp.as_secs_f64() / ts.as_secs_f64());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    r.sort_by(f64::total_cmp);
    let (mp, ms) = (median(&mut p), median(&mut s));
    println!(
        "okta_dpop: ES256 proof ({what}) {:.2} µs, raw P-256 signature {:.2} µs, ratio {:.3} \
         (median of {ROUNDS} interleaved rounds; target ≤ 1.10)",
        mp.as_secs_f64() * 1e6,
        ms.as_secs_f64() * 1e6,
        r[r.len() / 2],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
