//! How fast the sandbox serves pages, so that it is never the bottleneck of the other benches.
//!
//! Target (issue: sandbox): Okta member pages of 200 users at ≥ 500 pages/s and signed Duo Admin
//! pages at a comparable rate, on the 2-core CI machine, client and server sharing the cores.
//! Each iteration fetches one page over loopback HTTP with a keep-alive connection; criterion's
//! time per iteration is the inverse of pages/s. Two requests are kept in flight to use both
//! cores.

use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duo_auth::Credentials;
use duo_auth::sign::{Request, Signer, format_date};
use idp_sandbox::Sandbox;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = rt
        .block_on(Sandbox::builder().users(2_000).groups(10).start())
        .expect("sandbox");
    let client = reqwest::Client::new();

    let admin = &sandbox.credentials().duo.admin;
    let signer = Signer::new(
        Credentials::new(
            admin.integration_key.as_str(),
            admin.secret_key.as_str(),
            admin.api_host.as_str(),
        )
        .expect("credentials"),
    );
    let host = admin.api_host.clone();
    let mut g = c.benchmark_group("sandbox");
    g.throughput(Throughput::Elements(2));
    g.bench_function("duo_admin_users_page_200_x2", |b| {
        let mut offset = 0usize;
        b.to_async(&rt).iter(|| {
            offset = (offset + 400) % 1_600;
            let pages = [offset, offset + 200].map(|o| {
                let signed = signer
                    .sign(
                        &Request::get("/admin/v1/users")
                            .param("limit", "200")
                            .param("offset", o.to_string()),
                        &format_date(SystemTime::now()).expect("date"),
                    )
                    .expect("sign");
                let mut req = client.get(format!("http://{host}{}", signed.path_and_query()));
                for (n, v) in signed.headers() {
                    req = req.header(n.as_ref(), v);
                }
                async move {
                    let response = req.send().await.expect("response");
                    assert!(response.status().is_success());
                    response.bytes().await.expect("body").len()
                }
            });
            async move {
                let [a, b] = pages;
                let (a, b) = futures::join!(a, b);
                assert!(a > 10_000 && b > 10_000, "full pages");
            }
        })
    });

    // Okta: the `Everyone` group's members, 200 per page, SSWS (the cheapest auth, so the figure
    // is the server's page cost; DPoP adds one proof verification per page).
    let okta = sandbox.credentials().okta.clone();
    sandbox
        .okta()
        .set_rate_limit(idp_sandbox::okta::OktaEndpoint::GroupMembers, u32::MAX);
    let everyone = sandbox
        .okta()
        .groups()
        .into_iter()
        .find(|g| g.name == "Everyone")
        .expect("Everyone group");
    let members_url = format!(
        "{}/api/v1/groups/{}/users?limit=200",
        okta.org_url, everyone.id
    );
    let auth = format!("SSWS {}", okta.api_token);
    g.bench_function("okta_members_page_200_x2", |b| {
        b.to_async(&rt).iter(|| {
            let pages = [0, 1].map(|_| {
                let req = client
                    .get(&members_url)
                    .header("authorization", &auth)
                    .header("accept", "application/json");
                async move {
                    let response = req.send().await.expect("response");
                    assert!(response.status().is_success(), "{}", response.status());
                    response.bytes().await.expect("body").len()
                }
            });
            async move {
                let [a, b] = pages;
                let (a, b) = futures::join!(a, b);
                assert!(a > 50_000 && b > 50_000, "full pages");
            }
        })
    });
    g.finish();
    rt.block_on(sandbox.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
