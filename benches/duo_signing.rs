//! Duo request signing against its floor: a raw HMAC-SHA512 over the same canonical bytes.
//!
//! The target (issue: foundation) is v5 signing of a typical Admin API GET at most 1.2× the raw
//! HMAC-SHA512 *with key setup* over the identical canonical string. We report two signer
//! figures: a reused `Signer` (keyed once, the way a client uses it) and a fresh `Signer` per
//! request (key setup included, like the floor).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use duo_auth::Credentials;
use duo_auth::sign::{Request, SignatureVersion, Signer};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;

const DATE: &str = "Tue, 21 Aug 2012 17:29:18 -0000";
const SKEY: &str = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";

fn credentials() -> Credentials {
    Credentials::new("DIWJ8X6AEYOR5OMC6TQ1", SKEY, "api-xxxxxxxx.duosecurity.com")
        .expect("valid credentials")
}

/// A typical Admin API GET with five parameters.
fn admin_get() -> Request {
    Request::get("/admin/v1/users")
        .param("limit", "300")
        .param("offset", "600")
        .param("username", "jane.doe@example.com")
        .param("email", "jane.doe@example.com")
        .param(
            "user_id_list",
            "[\"DUJZ2U4L80HT45MQ4EOQ\",\"DU2RW8J7P3M1A9XW5T7Q\"]",
        )
}

/// A v5 POST with a JSON body of about 1 KiB.
fn json_post() -> Request {
    let users: Vec<serde_json::Value> = (0..12)
        .map(|i| {
            serde_json::json!({
                "username": format!("user{i:03}@example.com"),
                "realname": format!("Example User {i}"),
                "status": "active",
            })
        })
        .collect();
    Request::post("/admin/v1/users/bulk_create").json(serde_json::json!({ "users": users }))
}

fn raw_hmac(canonical: &[u8]) -> [u8; 64] {
    let mut mac = Hmac::<Sha512>::new_from_slice(SKEY.as_bytes()).expect("any key length");
    mac.update(canonical);
    mac.finalize().into_bytes().into()
}

fn bench(c: &mut Criterion) {
    let signer = Signer::with_version(credentials(), SignatureVersion::V5);
    let get = admin_get();
    let post = json_post();
    let get_canonical = signer
        .sign(&get, DATE)
        .expect("sign")
        .canonical()
        .to_string();
    let post_signed = signer.sign(&post, DATE).expect("sign");
    let post_canonical = post_signed.canonical().to_string();
    eprintln!(
        "admin GET canonical: {} bytes; JSON POST body: {} bytes, canonical {} bytes",
        get_canonical.len(),
        post_signed.body().map_or(0, <[u8]>::len),
        post_canonical.len()
    );

    let mut g = c.benchmark_group("duo_v5_admin_get");
    g.bench_function("raw_hmac_sha512_with_key_setup", |b| {
        b.iter(|| raw_hmac(black_box(get_canonical.as_bytes())))
    });
    g.bench_function("sign_reused_signer", |b| {
        b.iter(|| signer.sign(black_box(&get), black_box(DATE)).expect("sign"))
    });
    g.bench_function("sign_fresh_signer", |b| {
        let creds = credentials();
        b.iter(|| {
            Signer::with_version(black_box(creds.clone()), SignatureVersion::V5)
                .sign(black_box(&get), black_box(DATE))
                .expect("sign")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("duo_v5_json_post_1k");
    g.bench_function("raw_hmac_sha512_with_key_setup", |b| {
        b.iter(|| raw_hmac(black_box(post_canonical.as_bytes())))
    });
    g.bench_function("sign_reused_signer", |b| {
        b.iter(|| {
            signer
                .sign(black_box(&post), black_box(DATE))
                .expect("sign")
        })
    });
    g.finish();

    let v2 = Signer::with_version(credentials(), SignatureVersion::V2Sha1);
    let mut g = c.benchmark_group("duo_v2_sha1_admin_get");
    g.bench_function("sign_reused_signer", |b| {
        b.iter(|| v2.sign(black_box(&get), black_box(DATE)).expect("sign"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
