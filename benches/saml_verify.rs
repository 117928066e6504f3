//! Checking one Okta-shaped SAML Response (`saml-sp`'s `ServiceProvider::accept`) against the
//! peer's verification of the same Response (signxml 5.2.0, lxml + OpenSSL), in the same run.
//!
//! The Response is what Okta sends by default: the Assertion signed (RSA-2048 key, RSA-SHA256,
//! SHA-256 digest, exclusive C14N, the certificate in `KeyInfo`), a `groups` attribute statement
//! with three groups, about 5 KB; base64 as it arrives in the form field. It comes from the
//! sandbox's Okta-shaped IdP (`idp_sandbox::saml`).
//!
//! `accept` does more than verify the signature: it decodes, parses with bounds, refuses
//! wrapping layouts, verifies, then checks issuer, destination, audience, times, recipient,
//! `InResponseTo` (taking the pending request) and the replay cache. signxml verifies the
//! signature (pinned to the certificate and to RSA-SHA256/SHA-256) and returns the signed
//! element; a Python SP would do the SAML checks on top of that. So the ratio is conservative:
//! our whole check against the peer's signature verification alone.
//!
//! Figures: criterion group `saml_verify` (ours), then rounds that alternate ours (timed in
//! process) and the peer (a Python process timing its own calls after a warm-up), so that a
//! neighbour's build on a shared machine slows both alike; it prints each side's median and
//! the ratio. Without the peers venv (`bash .ci/install-peers`) only our side is measured.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use idp_sandbox::saml::{IdpKeys, OktaSamlApp, ResponseBuilder, Signing, encode, idp_metadata_xml};
use saml_sp::{IdpMetadata, PendingLogins, ReplayCache, RequestId, ServiceProvider};

const ENTITY_ID: &str = "https://portal.example.com/saml/metadata";
const ACS: &str = "https://portal.example.com/saml/acs";
/// Rounds of the interleaved comparison, and our calls per round.
const ROUNDS: usize = 5;
const CALLS: usize = 200;

struct Fixture {
    sp: ServiceProvider,
    xml: String,
    b64: String,
    cert_pem: String,
    request: saml_sp::LoginRedirect,
    started: SystemTime,
}

fn fixture() -> Fixture {
    let app = OktaSamlApp::example();
    let keys = IdpKeys::generate("dev-123456").expect("key");
    let sp = ServiceProvider::builder(
        ENTITY_ID,
        ACS,
        IdpMetadata::parse(&idp_metadata_xml(&app, &[&keys])).expect("metadata"),
    )
    .build()
    .expect("sp");
    // A fixed instant: every check sees the same times whenever the bench runs.
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let request = sp
        .login_request(RequestId::from_random([0x5a; 16]), started, None)
        .expect("request");
    let xml = ResponseBuilder::okta(&app, ENTITY_ID, ACS, "alice@example.com", started)
        .in_response_to(request.request_id.as_str())
        .groups(&["Everyone", "Portal Admins", "Engineering"])
        .sign(&keys, Signing::Assertion)
        .expect("signed");
    Fixture {
        sp,
        b64: encode(&xml),
        xml,
        cert_pem: keys.certificate_pem(),
        request,
        started,
    }
}

impl Fixture {
    /// What `accept` needs: the request pending, an empty replay cache (a fresh pair per call,
    /// made outside the timed part in criterion).
    fn state(&self) -> (PendingLogins, ReplayCache) {
        let mut pending = PendingLogins::new(16);
        pending.insert(&self.request, self.started).expect("insert");
        (pending, ReplayCache::new(16))
    }

    fn accept(&self, (mut pending, mut replay): (PendingLogins, ReplayCache)) -> String {
        let now = self.started + Duration::from_secs(20);
        self.sp
            .accept(black_box(&self.b64), None, now, &mut pending, &mut replay)
            .expect("accepted")
            .name_id
    }
}

/// One Python process timing signxml on the Response: its median per-call time.
fn peer_round(python: &std::path::Path, f: &Fixture) -> Duration {
    let script = test_support::workspace_root().join("benches/peers/saml_verify.py");
    let input = serde_json::json!({
        "xml": f.xml, "cert_pem": f.cert_pem, "calls": CALLS, "repeat": 5,
    })
    .to_string();
    let out = test_support::run_peer(python, &script, input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peer output");
    assert_eq!(v["name_id"], "alice@example.com", "signxml verified it");
    assert_eq!(v["signed"], "Assertion");
    Duration::from_secs_f64(v["median_us"].as_f64().expect("median") / 1e6)
}

/// Our median per-call time over `CALLS` calls (each with fresh state, made untimed).
fn our_round(f: &Fixture) -> Duration {
    let mut times: Vec<Duration> = (0..CALLS)
        .map(|_| {
            let state = f.state();
            let t = Instant::now();
            black_box(f.accept(state));
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    eprintln!(
        "Response: {} bytes of XML, {} in base64 (Assertion signed, RSA-2048, RSA-SHA256)",
        f.xml.len(),
        f.b64.len()
    );
    assert_eq!(f.accept(f.state()), "alice@example.com");

    let mut g = c.benchmark_group("saml_verify");
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("accept_okta_response_rsa2048_sha256", |b| {
        b.iter_batched(|| f.state(), |s| f.accept(s), BatchSize::SmallInput)
    });
    g.finish();

    let Some(python) = test_support::peer_python("saml_verify bench", &["signxml"]) else {
        return;
    };
    let (mut ours, mut peer, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which side goes first.
        let (o, p) = if round % 2 == 0 {
            let o = our_round(&f);
            (o, peer_round(&python, &f))
        } else {
            let p = peer_round(&python, &f);
            (our_round(&f), p)
        };
        ours.push(o);
        peer.push(p);
        ratios.push(p.as_secs_f64() / o.as_secs_f64());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    ratios.sort_by(f64::total_cmp);
    let (mo, mp) = (median(&mut ours), median(&mut peer));
    println!(
        "saml_verify: saml-sp accept {:.1} µs, signxml verify {:.1} µs (same Response, same run): \
         ours {:.2}x faster (median of {ROUNDS} interleaved rounds of {CALLS} calls; rounds: {})",
        mo.as_secs_f64() * 1e6,
        mp.as_secs_f64() * 1e6,
        ratios[ratios.len() / 2],
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
