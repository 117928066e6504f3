//! Whatever bytes arrive, `accept` returns an error or the genuine login, and never panics:
//! random byte flips in the posted base64 and in the XML under it.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use std::sync::OnceLock;

use base64::Engine as _;
use common::*;
use idp_sandbox::saml::{Signing, encode};
use proptest::prelude::*;
use saml_sp::{PendingLogins, ReplayCache, RequestId};

/// One genuine Response (signing is the slow part), and the request it answers.
fn genuine() -> &'static (String, String) {
    static G: OnceLock<(String, String)> = OnceLock::new();
    G.get_or_init(|| {
        let f = flow();
        (signed(&f.response(), Signing::Both), f.request_id.clone())
    })
}

/// Posts `b64` in a fresh state waiting for the genuine request; an accepted login must be
/// the genuine one.
fn check(b64: &str) {
    let sp = sp();
    let mut pending = PendingLogins::new(4);
    let login = sp
        .login_request(RequestId::from_random([9; 16]), t0(), Some("r1"))
        .unwrap();
    assert_eq!(login.request_id.as_str(), genuine().1);
    pending.insert(&login, t0()).unwrap();
    let mut replay = ReplayCache::new(4);
    if let Ok(l) = sp.accept(b64, Some("r1"), t0() + secs(30), &mut pending, &mut replay) {
        assert_eq!(l.name_id, "alice@example.com");
        assert_eq!(l.groups(), ["Everyone", "Portal Admins"]);
    }
}

#[test]
fn the_genuine_response_is_accepted() {
    let sp = sp();
    let mut pending = PendingLogins::new(4);
    let login = sp
        .login_request(RequestId::from_random([9; 16]), t0(), Some("r1"))
        .unwrap();
    pending.insert(&login, t0()).unwrap();
    let r = sp.accept(
        &encode(&genuine().0),
        Some("r1"),
        t0() + secs(30),
        &mut pending,
        &mut ReplayCache::new(4),
    );
    assert!(r.is_ok(), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flipped_base64_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut b64 = encode(&genuine().0).into_bytes();
        for (at, byte) in flips {
            let i = at.index(b64.len());
            b64[i] = byte;
        }
        check(&String::from_utf8_lossy(&b64));
    }

    #[test]
    fn flipped_xml_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut xml = genuine().0.clone().into_bytes();
        for (at, byte) in flips {
            let i = at.index(xml.len());
            xml[i] ^= byte | 1;
        }
        check(&base64::engine::general_purpose::STANDARD.encode(&xml));
    }
}
