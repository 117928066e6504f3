//! Real-world speed: the Duo import, the Okta directory fetch of a sync and the Duo
//! authentication-log walk with every request paying a network round trip, against the
//! latency floor and the official clients doing the same work at the same latency, in one run.
//!
//! The sandbox's latency fault holds every request (Duo and Okta, token requests included) for
//! the round-trip time before answering it: 50 ms, a tenant in the same region, and 150 ms, one
//! on another continent. For each workload the bench prints, from interleaved runs:
//!
//! - **ours**: the median wall-clock time at that RTT;
//! - **the latency floor**: the fewest round trips the protocol allows one after the other at
//!   the concurrency we use, times the RTT, plus our own time for the same work on loopback
//!   (median, same run). Duo: the first page (it tells `total_objects`), then the remaining
//!   pages `page_concurrency` at a time. Okta: the groups listing, then the largest group's
//!   pages (Okta pages by cursor: a group's pages follow each other; groups are listed at once,
//!   largest first; with fewer slots than groups, the longest-first schedule's length). The log:
//!   one page after the other (each page's cursor is in the one before);
//! - **the official client** at the same RTT in the same run: `duo-client` `get_users()` (pages
//!   of 300, as ours), `duo-client` `get_authentication_log(api_version=2)` in its caller's
//!   `next_offset` loop, the `okta` SDK listing the same groups one after the other, as its
//!   users write it (`benches/peers/okta_list_groups.py`);
//! - peak RSS growth of the first run of ours of each workload (client and in-process sandbox
//!   together; later runs reuse what the allocator kept; for the Duo import, after a walk that
//!   has the sandbox render its pages) and the official client's own (its process).
//!
//! The criterion group times ours at 50 ms. Knobs (environment): `REAL_WORLD_RTTS_MS` (default
//! `50,150`), `REAL_WORLD_RUNS` (runs of each side per RTT, default 3), `REAL_WORLD_ONLY`
//! (`duo`, `okta` or `log`). The peers need `bash .ci/install-peers`; without them their rows
//! are skipped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalIdentity, import};
use duo_admin::logs::{LogPacing, LogWindow};
use duo_auth::Credentials;
use duo_okta_sdk::memory;
use futures::TryStreamExt;
use idp_sandbox::okta::OktaEndpoint;
use idp_sandbox::{DuoApplication, Fault, FaultKind, Sandbox};
use okta_client::key::PrivateKey;
use okta_client::{Dpop, OktaClient, PrivateKeyJwt};

/// Duo's users page (its maximum).
const DUO_PAGE: u64 = 300;
/// Okta's group-members page: the documented default of `GET /api/v1/groups/{id}/users`.
const OKTA_PAGE: u64 = 1000;
/// The Okta org's 100,000 users in ten mapped groups of uneven sizes (none a multiple of a
/// page, so every group's last page is a short one).
const OKTA_GROUPS: [usize; 10] = [
    25_500, 19_500, 15_500, 11_500, 9_500, 7_500, 5_500, 3_500, 1_500, 500,
];
/// Groups listed at once by ours: every mapped group.
const OKTA_CONCURRENCY: usize = OKTA_GROUPS.len();
/// Authentication-log events walked (1,000 a page).
const LOG_EVENTS: usize = 100_000;

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn runs() -> usize {
    std::env::var("REAL_WORLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1)
}

fn wanted(part: &str) -> bool {
    std::env::var("REAL_WORLD_ONLY").map_or(true, |only| only == part)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn credentials(app: &DuoApplication) -> Credentials {
    Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .expect("creds")
}

/// Every request waits `rtt` at the sandbox before it is handled (none for zero).
fn set_rtt(sandbox: &Sandbox, rtt: Duration) {
    sandbox.faults().clear();
    if !rtt.is_zero() {
        sandbox
            .faults()
            .inject(Fault::new("/", FaultKind::Latency(rtt)));
    }
}

/// Runs `f` once, returning its result and the process's peak RSS growth meanwhile (KiB).
fn with_peak<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let before = memory::rss_kib();
    let reset = memory::reset_peak();
    let out = f();
    let grew = match (reset, before, memory::peak_kib()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    (out, grew)
}

/// A peer's timed runs, checked for the work they did.
struct PeerRun {
    seconds: Vec<Duration>,
    peak_rss_growth_kib: Option<u64>,
    output: serde_json::Value,
}

/// Runs a JSON peer script (blocking: the runtime's workers keep serving the sandbox).
fn run_peer(python: &std::path::Path, script: &str, input: serde_json::Value) -> PeerRun {
    let script = test_support::workspace_root().join(script);
    let output = test_support::run_peer_json(python, &script, &input);
    PeerRun {
        seconds: test_support::peer_seconds(&output),
        peak_rss_growth_kib: output["peak_rss_growth_kib"].as_u64(),
        output,
    }
}

/// One workload's figures at one RTT.
struct Row {
    what: String,
    rtt: Duration,
    ours: Duration,
    floor: Duration,
    floor_trips: u64,
    theirs: Option<Duration>,
    our_peak: Option<u64>,
    their_peak: Option<u64>,
}

impl Row {
    fn print(&self) {
        let theirs = self.theirs.map_or("peer not installed".to_owned(), |t| {
            format!(
                "{:.2} s, ours {:.2}x faster",
                secs(t),
                secs(t) / secs(self.ours)
            )
        });
        eprintln!(
            "{} @ {} ms RTT: ours {:.3} s | floor {:.3} s ({} round trips + our loopback time), ours {:.3}x the floor | official client {} | peak RSS growth: ours {}, theirs {}",
            self.what,
            self.rtt.as_millis(),
            secs(self.ours),
            secs(self.floor),
            self.floor_trips,
            secs(self.ours) / secs(self.floor),
            theirs,
            memory::mib(self.our_peak),
            memory::mib(self.their_peak),
        );
    }
}

/// The fewest sequential round trips of a Duo offset-paged listing of `total` objects: the
/// first page, then the rest `concurrency` at a time.
fn duo_trips(total: u64, concurrency: usize) -> u64 {
    let pages = total.div_ceil(DUO_PAGE).max(1);
    1 + (pages - 1).div_ceil(concurrency as u64)
}

/// The fewest sequential round trips of the Okta fetch: the groups listing, then the
/// longest-first schedule of the groups' page chains on `slots` parallel listings.
fn okta_trips(sizes: &[usize], slots: usize) -> u64 {
    let mut chains: Vec<u64> = sizes
        .iter()
        .map(|s| (*s as u64).div_ceil(OKTA_PAGE).max(1))
        .collect();
    chains.sort_unstable_by(|a, b| b.cmp(a));
    let mut load = vec![0u64; slots.max(1)];
    for c in chains {
        let least = load.iter_mut().min().expect("a slot");
        *least += c;
    }
    1 + load.into_iter().max().unwrap_or(0)
}

struct Duo {
    sandbox: Sandbox,
    users: usize,
    app: DuoApplication,
    portal: Vec<PortalIdentity>,
}

impl Duo {
    fn start(rt: &tokio::runtime::Runtime, users: usize) -> Self {
        let sandbox = rt
            .block_on(
                Sandbox::builder()
                    .users(users)
                    .duo_users(users)
                    .groups(20)
                    .start(),
            )
            .expect("sandbox");
        let app = sandbox.credentials().duo.admin.clone();
        let portal = sandbox
            .duo()
            .users()
            .into_iter()
            .map(|u| PortalIdentity::new(u.username))
            .collect();
        Self {
            sandbox,
            users,
            app,
            portal,
        }
    }

    fn client(&self, page_concurrency: usize) -> AdminClient {
        AdminClient::builder(credentials(&self.app))
            .loopback_http(true)
            .page_concurrency(page_concurrency)
            .log_pacing(LogPacing::every(Duration::ZERO))
            .build()
            .expect("client")
    }

    fn import(&self, rt: &tokio::runtime::Runtime, client: &AdminClient) -> Duration {
        let started = Instant::now();
        let report = rt
            .block_on(import(
                client,
                &self.portal,
                &ImportOptions::default(),
                |_| {},
            ))
            .expect("import");
        let took = started.elapsed();
        assert_eq!(report.duo_users, self.users);
        assert_eq!(report.matched.len(), self.users);
        took
    }

    fn rows(
        &self,
        rt: &tokio::runtime::Runtime,
        python: Option<&std::path::Path>,
        rtts: &[Duration],
    ) -> Vec<Row> {
        let client = self.client(duo_admin::DEFAULT_PAGE_CONCURRENCY);
        set_rtt(&self.sandbox, Duration::ZERO);
        // The sandbox renders and caches its user pages the first time they are asked for: a
        // walk that only skips over them comes first, so that the peak below is the import's.
        let skipped = rt
            .block_on(
                client
                    .pages::<serde::de::IgnoredAny>("/admin/v1/users", &[])
                    .try_fold(0usize, |n, _| async move { Ok(n + 1) }),
            )
            .expect("walk");
        assert_eq!(skipped, self.users);
        // Peak memory is read on the workload's first run: later runs reuse what the allocator
        // kept from it, so their growth says little.
        let (first, our_peak) = with_peak(|| self.import(rt, &client));
        let mut loopback = vec![first];
        loopback.extend((1..runs().max(5)).map(|_| self.import(rt, &client)));
        let loopback = median(loopback);
        let trips = duo_trips(self.users as u64, duo_admin::DEFAULT_PAGE_CONCURRENCY);
        let mut rows = Vec::new();
        for &rtt in rtts {
            set_rtt(&self.sandbox, rtt);
            let (mut ours, mut theirs, mut their_peak) = (Vec::new(), Vec::new(), None);
            for _ in 0..runs() {
                ours.push(self.import(rt, &client));
                if let Some(python) = python {
                    let mut input = serde_json::to_value(&self.app).expect("json");
                    input["runs"] = 1.into();
                    input["paging_limit"] = DUO_PAGE.into();
                    let run = run_peer(python, "benches/peers/duo_admin_get_users.py", input);
                    assert_eq!(
                        run.output["counts"][0].as_u64(),
                        Some(self.users as u64),
                        "duo-client read every user"
                    );
                    their_peak = their_peak.max(run.peak_rss_growth_kib);
                    theirs.extend(run.seconds);
                }
            }
            rows.push(Row {
                what: format!(
                    "Duo import of {} users (300/page, {} pages at once)",
                    self.users,
                    duo_admin::DEFAULT_PAGE_CONCURRENCY
                ),
                rtt,
                ours: median(ours),
                floor: rtt * trips as u32 + loopback,
                floor_trips: trips,
                theirs: (!theirs.is_empty()).then(|| median(theirs)),
                our_peak,
                their_peak,
            });
            rows.last().expect("row").print();
            if rtt == Duration::from_millis(50) && self.users >= 100_000 {
                // What the concurrency buys: the same import one page after the other.
                let sequential = self.import(rt, &self.client(1));
                eprintln!(
                    "  the same import with page_concurrency(1), one page after the other: {:.3} s ({} round trips at least)",
                    secs(sequential),
                    self.users.div_ceil(DUO_PAGE as usize)
                );
            }
        }
        set_rtt(&self.sandbox, Duration::ZERO);
        rows
    }

    fn log_rows(
        &self,
        rt: &tokio::runtime::Runtime,
        python: Option<&std::path::Path>,
        rtts: &[Duration],
    ) -> Vec<Row> {
        set_rtt(&self.sandbox, Duration::ZERO);
        let window = self.sandbox.duo().generate_auth_log(LOG_EVENTS);
        let client = self.client(duo_admin::DEFAULT_PAGE_CONCURRENCY);
        let log_window = LogWindow::new(window.0, window.1);
        let walk = || {
            let started = Instant::now();
            let n = rt
                .block_on(
                    client
                        .authentication_log(log_window)
                        .try_fold(0usize, |n, _| async move { Ok(n + 1) }),
                )
                .expect("walk");
            assert_eq!(n, LOG_EVENTS);
            started.elapsed()
        };
        let (first, our_peak) = with_peak(walk);
        let mut loopback = vec![first];
        loopback.extend((1..runs()).map(|_| walk()));
        let loopback = median(loopback);
        let trips = (LOG_EVENTS as u64).div_ceil(1000);
        let mut rows = Vec::new();
        for &rtt in rtts {
            set_rtt(&self.sandbox, rtt);
            let (mut ours, mut theirs, mut their_peak) = (Vec::new(), Vec::new(), None);
            for _ in 0..runs() {
                ours.push(walk());
                if let Some(python) = python {
                    let mut input = serde_json::to_value(&self.app).expect("json");
                    input["runs"] = 1.into();
                    input["mintime"] = window.0.into();
                    input["maxtime"] = window.1.into();
                    let run = run_peer(python, "benches/peers/duo_auth_log.py", input);
                    assert_eq!(run.output["counts"][0].as_u64(), Some(LOG_EVENTS as u64));
                    their_peak = their_peak.max(run.peak_rss_growth_kib);
                    theirs.extend(run.seconds);
                }
            }
            rows.push(Row {
                what: format!("Duo authentication-log walk of {LOG_EVENTS} events (1000/page)"),
                rtt,
                ours: median(ours),
                floor: rtt * trips as u32 + loopback,
                floor_trips: trips,
                theirs: (!theirs.is_empty()).then(|| median(theirs)),
                our_peak,
                their_peak,
            });
            rows.last().expect("row").print();
        }
        set_rtt(&self.sandbox, Duration::ZERO);
        rows
    }
}

struct Okta {
    client: OktaClient,
    mapping: role_sync::Mapping,
    ids: Vec<String>,
    org_url: String,
    app: serde_json::Value,
}

impl Okta {
    /// The ten mapped groups, filled from the org's users, on `sandbox`.
    fn prepare(sandbox: &Sandbox) -> Self {
        let okta = sandbox.okta();
        for endpoint in OktaEndpoint::ALL {
            // The per-minute budgets would measure the rate limiter, not the clients.
            okta.set_rate_limit(endpoint, u32::MAX);
        }
        let users = okta.users();
        assert!(users.len() >= OKTA_GROUPS.iter().sum::<usize>());
        let mut mapping = role_sync::Mapping::new();
        let mut ids = Vec::new();
        let mut next = 0;
        for (i, size) in OKTA_GROUPS.iter().enumerate() {
            let name = format!("Portal Role {i:02}");
            let group = okta.create_group(&name, None);
            for user in &users[next..next + size] {
                okta.add_member(&group.id, &user.id).expect("member");
            }
            next += size;
            mapping = mapping.map(name, [format!("role-{i}")]);
            ids.push(group.id);
        }
        let creds = &sandbox.credentials().okta;
        let app = &creds.dpop_ec;
        let key = PrivateKey::from_pem(&app.key.private_pem).expect("key");
        let jwt = PrivateKeyJwt::builder(&app.client_id, key)
            .kid(&app.key.kid)
            .scopes(&app.scopes)
            .build()
            .expect("credentials");
        let client = OktaClient::builder(
            creds.org_url.parse().expect("domain"),
            Dpop::builder(jwt).build().expect("dpop"),
        )
        .member_page_limit(OKTA_PAGE as u32)
        .build()
        .expect("client");
        Self {
            client,
            mapping,
            ids,
            org_url: creds.org_url.clone(),
            app: serde_json::to_value(creds).expect("json"),
        }
    }

    /// One timed run of the okta SDK listing the groups one after the other.
    fn peer(&self, python: &std::path::Path, auth: &str) -> PeerRun {
        let input = serde_json::json!({
            "org_url": self.org_url,
            "auth": auth,
            "app": self.app["dpop_rsa"],
            "api_token": self.app["api_token"],
            "group_ids": self.ids,
            "limit": OKTA_PAGE,
            "runs": 1,
        });
        let run = run_peer(python, "benches/peers/okta_list_groups.py", input);
        assert_eq!(
            run.output["counts"][0].as_u64(),
            Some(OKTA_GROUPS.iter().sum::<usize>() as u64),
            "the okta SDK read every member"
        );
        run
    }

    fn fetch(&self, rt: &tokio::runtime::Runtime) -> Duration {
        let started = Instant::now();
        let directory = rt
            .block_on(okta_client::directory::fetch_directory(
                &self.client,
                &self.mapping,
                OKTA_CONCURRENCY,
            ))
            .expect("fetch");
        let took = started.elapsed();
        let members: usize = directory
            .groups()
            .map(|g| directory.members(g).map_or(0, Iterator::count))
            .sum();
        assert_eq!(members, OKTA_GROUPS.iter().sum::<usize>());
        took
    }

    fn rows(
        &self,
        rt: &tokio::runtime::Runtime,
        sandbox: &Sandbox,
        python: Option<&std::path::Path>,
        rtts: &[Duration],
    ) -> Vec<Row> {
        set_rtt(sandbox, Duration::ZERO);
        // The first fetch gets the token (and the DPoP nonce); every timed one reuses them, as a
        // sync that runs every 15 minutes does within the token's hour.
        let ((), our_peak) = with_peak(|| {
            self.fetch(rt);
        });
        let loopback = median((0..runs().max(5)).map(|_| self.fetch(rt)).collect());
        let trips = okta_trips(&OKTA_GROUPS, OKTA_CONCURRENCY);
        let mut rows = Vec::new();
        for &rtt in rtts {
            set_rtt(sandbox, rtt);
            let (mut ours, mut theirs, mut their_peak) = (Vec::new(), Vec::new(), None);
            for _ in 0..runs() {
                ours.push(self.fetch(rt));
                if let Some(python) = python {
                    let run = self.peer(python, "dpop");
                    their_peak = their_peak.max(run.peak_rss_growth_kib);
                    theirs.extend(run.seconds);
                }
            }
            if let Some(python) = python {
                // For context: the SDK's DPoP signs a fresh RSA-3072 proof per request; with the
                // org's API token it has none to sign.
                let ssws = self.peer(python, "ssws");
                eprintln!(
                    "  the okta SDK with an SSWS API token instead of DPoP (one run): {:.2} s",
                    secs(ssws.seconds[0])
                );
            }
            rows.push(Row {
                what: format!(
                    "Okta directory fetch, {} members in {} groups (DPoP, 1000/page, {} groups at once, largest first)",
                    OKTA_GROUPS.iter().sum::<usize>(),
                    OKTA_GROUPS.len(),
                    OKTA_CONCURRENCY
                ),
                rtt,
                ours: median(ours),
                floor: rtt * trips as u32 + loopback,
                floor_trips: trips,
                theirs: (!theirs.is_empty()).then(|| median(theirs)),
                our_peak,
                their_peak,
            });
            rows.last().expect("row").print();
        }
        set_rtt(sandbox, Duration::ZERO);
        rows
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rtts: Vec<Duration> = env_list("REAL_WORLD_RTTS_MS", &[50, 150])
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let duo_python = test_support::peer_python("real_world bench", &["duo_client"]);
    let okta_python = test_support::peer_python("real_world bench", &["okta"]);
    let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut g = c.benchmark_group("real_world_50ms");
    g.sample_size(10);
    let rtt = Duration::from_millis(50);

    if wanted("duo") {
        let small = Duo::start(&rt, 10_000);
        rows.insert(
            "duo 10k".into(),
            small.rows(&rt, duo_python.as_deref(), &rtts),
        );
        rt.block_on(small.sandbox.shutdown());
    }
    let big = (wanted("duo") || wanted("log") || wanted("okta")).then(|| Duo::start(&rt, 100_000));
    if let Some(big) = &big {
        if wanted("duo") {
            rows.insert(
                "duo 100k".into(),
                big.rows(&rt, duo_python.as_deref(), &rtts),
            );
            set_rtt(&big.sandbox, rtt);
            let client = big.client(duo_admin::DEFAULT_PAGE_CONCURRENCY);
            g.bench_function("duo_import_100k", |b| b.iter(|| big.import(&rt, &client)));
            set_rtt(&big.sandbox, Duration::ZERO);
        }
        if wanted("okta") {
            let okta = Okta::prepare(&big.sandbox);
            rows.insert(
                "okta 100k".into(),
                okta.rows(&rt, &big.sandbox, okta_python.as_deref(), &rtts),
            );
            set_rtt(&big.sandbox, rtt);
            g.bench_function("okta_fetch_100k_in_10_groups", |b| {
                b.iter(|| okta.fetch(&rt))
            });
            set_rtt(&big.sandbox, Duration::ZERO);
        }
        if wanted("log") {
            rows.insert(
                "log 100k".into(),
                big.log_rows(&rt, duo_python.as_deref(), &rtts),
            );
        }
    }
    g.finish();
    eprintln!("\nsummary (medians of {} runs each):", runs());
    for row in rows.values().flatten() {
        row.print();
    }
    if let Some(big) = big {
        rt.block_on(big.sandbox.shutdown());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
