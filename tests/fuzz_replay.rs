//! Every input of the fuzz corpus (`fuzz/corpus/<target>/`), through the same checks the
//! cargo-fuzz targets run (`fuzz/src/targets.rs`), on stable: so CI replays what the fuzzers
//! found and kept, and a decoder that starts to panic on one of them fails here.
#![allow(clippy::unwrap_used)]

#[path = "../fuzz/src/targets.rs"]
#[allow(unreachable_pub)] // `pub` for the fuzz crate, which exports them
mod targets;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target} panics on {}", path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "the corpus of {target} is empty");
}

#[test]
fn duo_responses() {
    replay("duo_response", targets::duo_response);
}

#[test]
fn okta_responses() {
    replay("okta_response", targets::okta_response);
}

#[test]
fn keys() {
    replay("keys", targets::keys);
}

#[test]
fn sync_configs() {
    replay("sync_config", targets::sync_config);
}

#[test]
fn saml_responses() {
    replay("saml_response", targets::saml_response);
}

#[test]
fn portal_requests() {
    replay("portal_request", targets::portal_request);
}
