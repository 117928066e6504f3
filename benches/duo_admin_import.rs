//! Importing 10,000 Duo users (with phones, groups, tokens, WebAuthn) from the sandbox over
//! loopback, against the official Python client's `get_users()` on the same org in the same run.
//!
//! Target (issue: duo-admin): ≥ 5× the official client's users/s. The Python run is timed once
//! per bench run (outside criterion: it takes seconds) when the peers are installed
//! (`bash .ci/install-peers`). Peak memory is the process's peak RSS during one import above
//! its RSS before — client and in-process sandbox together, so it over-states the client alone.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalUser, import};
use duo_auth::Credentials;
use idp_sandbox::Sandbox;

const USERS: usize = 10_000;

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
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .expect("creds");
    let client = AdminClient::builder(creds)
        .loopback_http(true)
        .build()
        .expect("client");
    let portal: Vec<PortalUser> = sandbox
        .duo()
        .users()
        .into_iter()
        .map(|u| PortalUser {
            username: u.username,
            email: None,
        })
        .collect();
    let options = ImportOptions::default();

    // Peak memory of one import.
    use duo_okta_sdk::memory;
    let before = memory::rss_kib();
    let reset = memory::reset_peak();
    let started = Instant::now();
    let report = rt
        .block_on(import(&client, &portal, &options, |_| {}))
        .expect("import");
    let ours = started.elapsed();
    assert_eq!(report.matched.len(), USERS);
    let grew = match (reset, before, memory::peak_kib()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    eprintln!(
        "import of {USERS} users: {:.0} users/s (single run); RSS before {}, peak RSS growth during the import {}",
        USERS as f64 / ours.as_secs_f64(),
        memory::mib(before),
        memory::mib(grew)
    );

    // The official client on the same org, same process run.
    if let Some(python) = test_support::peer_python("duo_admin_import bench", &["duo_client"]) {
        let script = test_support::workspace_root().join("duo-admin/tests/peers/get_users.py");
        let input = serde_json::to_string(&app).expect("json");
        let mut best = Duration::MAX;
        for _ in 0..2 {
            let started = Instant::now();
            let out = rt.block_on(async {
                let (python, script, input) = (python.clone(), script.clone(), input.clone());
                tokio::task::spawn_blocking(move || {
                    test_support::run_peer(&python, &script, input.as_bytes())
                })
                .await
                .expect("join")
            });
            let elapsed = started.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ids: Vec<String> = serde_json::from_slice(&out.stdout).expect("ids");
            assert_eq!(ids.len(), USERS);
            best = best.min(elapsed);
        }
        eprintln!(
            "official duo-client get_users(): {:.0} users/s (best of 2, interpreter start included); ours {:.1}x",
            USERS as f64 / best.as_secs_f64(),
            best.as_secs_f64() / ours.as_secs_f64()
        );
    }

    let mut g = c.benchmark_group("duo_admin");
    g.throughput(Throughput::Elements(USERS as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("import_10k_users", |b| {
        b.to_async(&rt).iter(|| async {
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
