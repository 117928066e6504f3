//! Walking 100,000 events of Duo's v2 authentication log from the sandbox over loopback, against
//! the official Python client (`duo-client`'s `get_authentication_log(api_version=2)` in the
//! caller's `next_offset` loop, `benches/peers/duo_auth_log.py`) on the same log in the same
//! run (issue #15).
//!
//! Both walk at 1,000 events a page with no pause between pages: ours with
//! `LogPacing::every(0)` (the default paces at one request a minute, as Duo asks, which would
//! measure the pause), the official client as its users loop. Runs are interleaved over several
//! rounds and medians reported, with the ratio. Only the walks are timed on both sides.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duo_admin::AdminClient;
use duo_admin::logs::{LogPacing, LogWindow};
use duo_auth::Credentials;
use duo_auth::sign::Request;
use duo_auth::transport::{Transport, TransportConfig};
use futures::TryStreamExt;
use idp_sandbox::{DuoApplication, Sandbox};

const EVENTS: usize = 100_000;
const ROUNDS: usize = 3;
const RUNS: usize = 3;

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
    EVENTS as f64 / d.as_secs_f64()
}

/// The floor: every page signed and read whole, only its paging metadata decoded (serde skips
/// the events unread) — what the sandbox's serving and HTTP cost any client.
async fn raw_walk(transport: &Transport, window: (u64, u64)) -> usize {
    #[derive(serde::Deserialize)]
    struct Page {
        response: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        next_offset: Option<Vec<String>>,
    }
    let mut pages = 0;
    let mut offset: Option<String> = None;
    loop {
        let mut request = Request::get("/admin/v2/logs/authentication")
            .param("mintime", window.0.to_string())
            .param("maxtime", window.1.to_string())
            .param("limit", "1000")
            .param("sort", "ts:asc");
        if let Some(o) = &offset {
            request = request.param("next_offset", o.clone());
        }
        let (raw, _) = transport.send(&request, None).await.expect("page");
        assert_eq!(raw.status, 200);
        pages += 1;
        let page: Page = serde_json::from_slice(&raw.body).expect("page");
        match page.response.metadata.next_offset {
            Some(next) if !next.is_empty() => offset = Some(next.join(",")),
            _ => return pages,
        }
    }
}

struct PeerRun {
    seconds: Vec<Duration>,
    first_txid: String,
    last_txid: String,
    peak_rss_growth_kib: Option<u64>,
}

fn run_python(python: &std::path::Path, app: &DuoApplication, window: (u64, u64)) -> PeerRun {
    let script = test_support::workspace_root().join("benches/peers/duo_auth_log.py");
    let mut input = serde_json::to_value(app).expect("json");
    input["runs"] = RUNS.into();
    input["mintime"] = window.0.into();
    input["maxtime"] = window.1.into();
    let v = test_support::run_peer_json(python, &script, &input);
    let counts = v["counts"].as_array().expect("counts");
    assert!(
        counts.iter().all(|c| c.as_u64() == Some(EVENTS as u64)),
        "{counts:?}"
    );
    PeerRun {
        seconds: test_support::peer_seconds(&v),
        first_txid: v["first_txid"].as_str().expect("first").to_owned(),
        last_txid: v["last_txid"].as_str().expect("last").to_owned(),
        peak_rss_growth_kib: v["peak_rss_growth_kib"].as_u64(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = rt
        .block_on(Sandbox::builder().users(200).start())
        .expect("sandbox");
    let window = sandbox.duo().generate_auth_log(EVENTS);
    let app = sandbox.credentials().duo.admin.clone();
    let client = AdminClient::builder(credentials(&app))
        .loopback_http(true)
        .log_pacing(LogPacing::every(Duration::ZERO))
        .build()
        .expect("client");
    let log_window = LogWindow::new(window.0, window.1);
    let walk = || {
        let started = Instant::now();
        let events: Vec<duo_admin::AuthLogEvent> = rt
            .block_on(client.authentication_log(log_window).try_collect())
            .expect("walk");
        let took = started.elapsed();
        assert_eq!(events.len(), EVENTS);
        (took, events)
    };

    use duo_okta_sdk::memory;
    let before = memory::rss_kib();
    let reset = memory::reset_peak();
    let (_, first_walk) = walk();
    let grew = match (reset, before, memory::peak_kib()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    let (first_txid, last_txid) = (
        first_walk
            .first()
            .map(|e| e.txid.clone())
            .unwrap_or_default(),
        first_walk
            .last()
            .map(|e| e.txid.clone())
            .unwrap_or_default(),
    );
    drop(first_walk);

    let transport = TransportConfig::new(credentials(&app), "bench")
        .loopback_http(true)
        .build()
        .expect("transport");
    let python = test_support::peer_python("duo_auth_log bench", &["duo_client"]);
    let (mut ours, mut theirs, mut their_mem) = (Vec::new(), Vec::new(), None);
    let mut floor = Vec::new();
    for _ in 0..ROUNDS {
        ours.extend((0..RUNS).map(|_| walk().0));
        floor.extend((0..RUNS).map(|_| {
            let started = Instant::now();
            let pages = rt.block_on(raw_walk(&transport, window));
            assert_eq!(pages, EVENTS.div_ceil(1000));
            started.elapsed()
        }));
        if let Some(python) = &python {
            let run = run_python(python, &app, window);
            assert_eq!(
                (run.first_txid.as_str(), run.last_txid.as_str()),
                (first_txid.as_str(), last_txid.as_str()),
                "the official client walks the same events"
            );
            their_mem = run.peak_rss_growth_kib;
            theirs.extend(run.seconds);
        }
    }
    let ours_median = median(ours.clone());
    eprintln!(
        "ours: authentication log, {EVENTS} events (1000/page, no pacing): median {:.0} events/s ({} runs); peak RSS growth during one walk {} (all events kept)",
        rate(ours_median),
        ours.len(),
        memory::mib(grew),
    );
    let floor = median(floor);
    eprintln!(
        "floor (sandbox serving + HTTP, pages read, only their paging metadata decoded): median {:.0} events/s, {:.2} s; ours {:.2}x the floor's time",
        rate(floor),
        floor.as_secs_f64(),
        ours_median.as_secs_f64() / floor.as_secs_f64(),
    );
    if python.is_some() {
        let m = median(theirs.clone());
        eprintln!(
            "official duo-client get_authentication_log(api_version=2) loop: median {:.0} events/s ({} runs); ours {:.2}x (medians); its peak RSS growth {}",
            rate(m),
            theirs.len(),
            m.as_secs_f64() / ours_median.as_secs_f64(),
            memory::mib(their_mem),
        );
    }

    let mut g = c.benchmark_group("duo_admin");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("auth_log_walk_100k", |b| {
        b.to_async(&rt).iter_with_large_drop(|| async {
            let events: Vec<duo_admin::AuthLogEvent> = client
                .authentication_log(log_window)
                .try_collect()
                .await
                .expect("walk");
            events
        })
    });
    g.finish();
    rt.block_on(sandbox.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
