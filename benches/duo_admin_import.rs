//! Importing 10,000 Duo users (with phones, groups, tokens, WebAuthn) from the sandbox over
//! loopback, against the official Python client's `get_users()` on the same org in the same run.
//!
//! Target (issue #5): ≥ 5× the official client's users/s. Measured in one run, on one in-process
//! sandbox:
//! - ours: `import()` (every page, decoded, plus the matching against a 10,000-user portal), the
//!   median of several runs, and criterion's own estimate afterwards;
//! - the official client (when the peers are installed: `bash .ci/install-peers`): only the
//!   `admin.get_users()` call is timed, inside Python (`benches/peers/duo_admin_get_users.py`),
//!   so interpreter start and imports are not counted; with the same page size as ours (300,
//!   Duo's maximum for users, set through the client's `paging_limit`) and with its own default
//!   (100). Runs of both are interleaved over several rounds, medians reported;
//! - the floor: the same signed page requests with the bodies read but not decoded, i.e. what
//!   the sandbox's serving and HTTP cost any client, at both page sizes.
//!
//! Peak memory is the process's peak RSS during one import above its RSS before (client and
//! in-process sandbox together, so it over-states the client alone); the official client's is
//! its own process's peak RSS growth during its calls.
//!
//! `DUO_ADMIN_IMPORT_PROFILE=N` runs N imports and nothing else (for callgrind or perf; it prints
//! their median). `SHOW_RUNS=1` prints every timed import of ours, in order.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalIdentity, import};
use duo_auth::Credentials;
use duo_auth::sign::Request;
use duo_auth::transport::{Transport, TransportConfig};
use futures::TryStreamExt;
use idp_sandbox::{DuoApplication, Sandbox};

const USERS: usize = 10_000;
/// Rounds of (ours × RUNS, the official client × RUNS at each page size).
const ROUNDS: usize = 3;
const RUNS: usize = 5;

fn credentials(app: &DuoApplication) -> Credentials {
    Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .expect("creds")
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn rate(d: Duration) -> f64 {
    USERS as f64 / d.as_secs_f64()
}

/// Every page of users, signed and read whole, not decoded.
async fn raw_walk(transport: &Transport, limit: usize) -> usize {
    let mut bytes = 0;
    let mut offset = 0;
    while offset < USERS {
        let request = Request::get("/admin/v1/users")
            .param("limit", limit.to_string())
            .param("offset", offset.to_string());
        let (raw, _) = transport.send(&request, None).await.expect("page");
        assert_eq!(raw.status, 200);
        bytes += raw.body.len();
        offset += limit;
    }
    bytes
}

/// One run of the official client: `runs` timed `get_users()` calls in one interpreter.
struct PeerRun {
    paging_limit: u64,
    seconds: Vec<Duration>,
    peak_rss_growth_kib: Option<u64>,
    ids: Vec<String>,
}

fn run_python(
    python: &std::path::Path,
    app: &DuoApplication,
    paging_limit: Option<u32>,
) -> PeerRun {
    let script = test_support::workspace_root().join("benches/peers/duo_admin_get_users.py");
    let mut input = serde_json::to_value(app).expect("json");
    input["runs"] = RUNS.into();
    input["paging_limit"] = paging_limit.map_or(serde_json::Value::Null, Into::into);
    let v = test_support::run_peer_json(python, &script, &input);
    let counts = v["counts"].as_array().expect("counts");
    assert!(
        counts.iter().all(|c| c.as_u64() == Some(USERS as u64)),
        "{counts:?}"
    );
    PeerRun {
        paging_limit: v["paging_limit"].as_u64().expect("paging_limit"),
        seconds: test_support::peer_seconds(&v),
        peak_rss_growth_kib: v["peak_rss_growth_kib"].as_u64(),
        ids: v["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|s| s.as_str().expect("id").to_owned())
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = rt
        .block_on(Sandbox::builder().users(USERS).groups(20).start())
        .expect("sandbox");
    let app = sandbox.credentials().duo.admin.clone();
    let client = AdminClient::builder(credentials(&app))
        .loopback_http(true)
        .build()
        .expect("client");
    let portal: Vec<PortalIdentity> = sandbox
        .duo()
        .users()
        .into_iter()
        .map(|u| PortalIdentity::new(u.username))
        .collect();
    // The same client, fetching one page after the other (to show what prefetching gives).
    let sequential = AdminClient::builder(credentials(&app))
        .loopback_http(true)
        .prefetch(false)
        .build()
        .expect("client");
    let options = ImportOptions::default();
    let import_with = |client: &AdminClient| {
        let started = Instant::now();
        let report = rt
            .block_on(import(client, &portal, &options, |_| {}))
            .expect("import");
        let took = started.elapsed();
        assert_eq!(report.matched.len(), USERS);
        took
    };
    let run_import = || import_with(&client);
    // The listing alone, every user decoded whole (phones, groups, tokens, WebAuthn): the same
    // work as the official client's get_users(), which neither matches nor builds a report.
    let run_listing = || {
        let started = Instant::now();
        let users: Vec<duo_admin::User> = rt.block_on(client.users().try_collect()).expect("users");
        let took = started.elapsed();
        assert_eq!(users.len(), USERS);
        took
    };

    if let Some(n) = std::env::var("DUO_ADMIN_IMPORT_PROFILE")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    {
        let mut times: Vec<Duration> = (0..n).map(|_| run_import()).collect();
        times.sort();
        eprintln!(
            "PROFILE median {:.2} ms",
            times[times.len() / 2].as_secs_f64() * 1e3
        );
        rt.block_on(sandbox.shutdown());
        return;
    }

    // One page first: the connection is open and the sandbox has what it serves ready, so the
    // memory figure is the import's.
    rt.block_on(async {
        let mut pages = client.user_pages();
        pages.try_next().await.expect("first page").expect("a page");
    });

    // Peak memory of one import.
    use duo_okta_sdk::memory;
    let before = memory::rss_kib();
    let reset = memory::reset_peak();
    let first = run_import();
    let grew = match (reset, before, memory::peak_kib()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };

    // The floor: what serving and HTTP cost, without decoding.
    let transport = TransportConfig::new(credentials(&app), "bench")
        .loopback_http(true)
        .build()
        .expect("transport");
    let floor = |limit: usize| {
        let runs: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                rt.block_on(raw_walk(&transport, limit));
                started.elapsed()
            })
            .collect();
        median(runs)
    };

    // Ours and the official client, interleaved.
    let python = test_support::peer_python("duo_admin_import bench", &["duo_client"]);
    let mut ours = Vec::new();
    let mut ours_sequential = Vec::new();
    let mut ours_listing = Vec::new();
    let (mut py_same, mut py_default) = (Vec::new(), Vec::new());
    let (mut py_same_limit, mut py_default_limit, mut py_mem) = (0, 0, None);
    let (mut floor_300, mut floor_100) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.extend((0..RUNS).map(|_| run_import()));
        ours_sequential.extend((0..RUNS).map(|_| import_with(&sequential)));
        ours_listing.extend((0..RUNS).map(|_| run_listing()));
        floor_300.push(floor(300));
        floor_100.push(floor(100));
        if let Some(python) = &python {
            let same = run_python(python, &app, Some(300));
            let ids: Vec<String> = rt.block_on(async {
                client
                    .users()
                    .map_ok(|u| u.user_id)
                    .try_collect()
                    .await
                    .expect("ids")
            });
            assert_eq!(same.ids, ids, "the official client lists the same users");
            py_same_limit = same.paging_limit;
            py_mem = same.peak_rss_growth_kib;
            py_same.extend(same.seconds);
            let default = run_python(python, &app, None);
            py_default_limit = default.paging_limit;
            py_default.extend(default.seconds);
        }
    }
    if std::env::var_os("SHOW_RUNS").is_some() {
        eprintln!(
            "ours runs (ms, in order): {:?}",
            ours.iter()
                .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
                .collect::<Vec<_>>()
        );
    }
    let ours_median = median(ours.clone());
    let ours_best = ours.iter().min().copied().unwrap_or(first);
    let floor_300 = median(floor_300);
    let floor_100 = median(floor_100);
    eprintln!(
        "ours: import of {USERS} users (300/page): median {:.0} users/s, best {:.0} ({} runs); peak RSS growth during one import {} (RSS before {})",
        rate(ours_median),
        rate(ours_best),
        ours.len(),
        memory::mib(grew),
        memory::mib(before),
    );
    eprintln!(
        "ours without prefetching (one page after the other): median {:.0} users/s",
        rate(median(ours_sequential))
    );
    let listing_median = median(ours_listing);
    eprintln!(
        "ours: listing alone, users() collected as whole typed users (the work of get_users()): median {:.0} users/s",
        rate(listing_median)
    );
    eprintln!(
        "floor (sandbox serving + HTTP, bodies read, not decoded): {:.1} ms at 300/page ({:.0} users/s), {:.1} ms at 100/page ({:.0} users/s)",
        floor_300.as_secs_f64() * 1e3,
        rate(floor_300),
        floor_100.as_secs_f64() * 1e3,
        rate(floor_100),
    );
    if python.is_some() {
        for (label, limit, runs) in [
            ("same page size", py_same_limit, &py_same),
            ("its default page size", py_default_limit, &py_default),
        ] {
            let m = median(runs.clone());
            let best = runs.iter().min().copied().unwrap_or(m);
            eprintln!(
                "official duo-client get_users(), {label} ({limit}/page): median {:.0} users/s, best {:.0} ({} runs, get_users() alone); ours {:.2}x (medians), {:.2}x (bests); our listing alone {:.2}x (medians)",
                rate(m),
                rate(best),
                runs.len(),
                m.as_secs_f64() / ours_median.as_secs_f64(),
                best.as_secs_f64() / ours_best.as_secs_f64(),
                m.as_secs_f64() / listing_median.as_secs_f64(),
            );
        }
        eprintln!(
            "official duo-client peak RSS growth during its get_users() calls: {}",
            memory::mib(py_mem)
        );
    }

    let mut g = c.benchmark_group("duo_admin");
    g.throughput(Throughput::Elements(USERS as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("import_10k_users", |b| {
        // The report is dropped outside the timing, as the official client's list is freed
        // outside its timing (and as the medians above are taken).
        b.to_async(&rt).iter_with_large_drop(|| async {
            import(&client, &portal, &options, |_| {})
                .await
                .expect("import")
        })
    });
    g.finish();
    rt.block_on(sandbox.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
