//! How fast `okta-client` lists a big group: 100,000 members of `Everyone` from the loopback
//! sandbox, with a DPoP-bound token (a new proof per page) and pages of 1,000.
//!
//! Criterion's throughput is users/s. The sandbox's per-minute budget is lifted so that the
//! bench measures the client and the loopback server, not the rate limiter.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt as _;
use idp_sandbox::Sandbox;
use idp_sandbox::okta::OktaEndpoint;
use okta_client::key::PrivateKey;
use okta_client::{Dpop, OktaClient, PrivateKeyJwt};

const USERS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = rt
        .block_on(Sandbox::builder().users(USERS).groups(3).start())
        .expect("sandbox");
    sandbox
        .okta()
        .set_rate_limit(OktaEndpoint::GroupMembers, u32::MAX);
    let okta = &sandbox.credentials().okta;
    let app = &okta.dpop_ec;
    let key = PrivateKey::from_pem(&app.key.private_pem).expect("key");
    let creds = PrivateKeyJwt::builder(&app.client_id, key)
        .kid(&app.key.kid)
        .scopes(&app.scopes)
        .build()
        .expect("credentials");
    let client = OktaClient::builder(
        okta.org_url.parse().expect("domain"),
        Dpop::builder(creds).build().expect("dpop"),
    )
    .member_page_limit(1000)
    .build()
    .expect("client");
    let everyone = sandbox
        .okta()
        .groups()
        .into_iter()
        .max_by_key(|g| g.members)
        .expect("a group");
    assert_eq!(everyone.members, USERS);

    // Peak memory of one streamed listing (the stream holds one page at a time), measured as
    // the process's peak RSS above its RSS before — client and in-process sandbox together.
    use duo_okta_sdk::memory;
    let before = memory::rss_kib();
    let reset = memory::reset_peak();
    let started = std::time::Instant::now();
    let n = rt
        .block_on(
            client
                .list_group_members(&everyone.id)
                .try_fold(0usize, |n, _| async move { Ok(n + 1) }),
        )
        .expect("listing");
    assert_eq!(n, USERS);
    let grew = match (reset, before, memory::peak_kib()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    eprintln!(
        "listing {USERS} members: {:.0} users/s (single run); RSS before {}, peak RSS growth {}",
        USERS as f64 / started.elapsed().as_secs_f64(),
        memory::mib(before),
        memory::mib(grew)
    );

    let mut g = c.benchmark_group("okta_listing");
    g.sample_size(10);
    g.throughput(Throughput::Elements(USERS as u64));
    g.bench_function("group_members_100k_dpop_pages_of_1000", |b| {
        b.to_async(&rt).iter(|| async {
            let n = client
                .list_group_members(&everyone.id)
                .try_fold(0usize, |n, _| async move { Ok(n + 1) })
                .await
                .expect("listing");
            assert_eq!(n, USERS);
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
