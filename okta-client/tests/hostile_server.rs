//! The Okta client against servers that misbehave on purpose, byte by byte (raw TCP listeners
//! on loopback, `test_support::hostile`): an announced or endless huge body, a body that stops,
//! a server that never answers, a redirect, a `Link: next` to another origin, 429 for ever.
//! Each case must end in its typed error having read no more than the cap, and nothing may be
//! sent to another origin. Time limits here are liveness guards, never the verdict.
//!
//! The memory bound is measured in a child process per case (`test_support::memory`): with the
//! default cap of 16 MiB, a server sending 1 GiB may raise the client's peak resident set by at
//! most the cap plus [`MARGIN`].
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use okta_client::rate_limit::RetryPolicy;
use okta_client::{ApiToken, Error, GroupQuery, Limits, OktaClient, OktaDomain};
use test_support::hostile::{self, answer, serve};
use test_support::memory;
use test_support::wait::ends_in_error;

use common::Recorder;

const TOKEN: &str = "00abcdefghijklmnopqrstuvwxyz0123456789ABCD";

fn client(host: &str) -> OktaClient {
    let mut limits = Limits::default();
    limits.max_body_bytes = 1024 * 1024;
    limits.stall_timeout = Duration::from_millis(300);
    let domain: OktaDomain = format!("http://{host}").parse().unwrap();
    OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .retry_policy(RetryPolicy::new().with_max_retries(0))
        .timeout(Duration::from_secs(10))
        .limits(limits)
        .build()
        .unwrap()
}

fn groups_page(
    link: Option<&str>,
) -> impl Fn(tokio::net::TcpStream) -> hostile::BoxFuture + Send + Sync + 'static {
    let link = link.map(str::to_owned);
    move |mut s| {
        let link = link.clone();
        Box::pin(async move {
            let body = br#"[{"id":"00g1","type":"OKTA_GROUP","profile":{"name":"Engineering"}}]"#;
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(link) = &link {
                headers.push(("Link", link.as_str()));
            }
            answer(&mut s, "200 OK", &headers, body).await;
        })
    }
}

#[tokio::test]
async fn an_announced_huge_body_is_refused_before_it_is_read() {
    let server = serve(hostile::huge_body(1 << 30)).await;
    let (err, _) = ends_in_error(client(&server.host).groups(&GroupQuery::default())).await;
    assert!(
        matches!(err, Error::BodyTooLarge { limit: 1_048_576 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_body_bytes"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap() {
    let server = serve(hostile::endless_body()).await;
    let (err, _) = ends_in_error(client(&server.host).groups(&GroupQuery::default())).await;
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_a_stall() {
    // Told apart from the 10 s attempt timeout by the error's kind, not by a clock.
    let server = serve(hostile::stalled_body()).await;
    let (err, _) = ends_in_error(client(&server.host).groups(&GroupQuery::default())).await;
    assert!(
        matches!(err, Error::Stalled { after } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let server = serve(hostile::black_hole()).await;
    let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
    let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .retry_policy(RetryPolicy::new().with_max_retries(0))
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
    assert!(
        matches!(err, Error::Timeout(t) if t == Duration::from_millis(400)),
        "{err:?}"
    );
}

/// Redirect statuses a client could follow: 307 and 308 would have it send a POST's body (the
/// client assertion) again.
const REDIRECTS: [&str; 5] = [
    "301 Moved Permanently",
    "302 Found",
    "303 See Other",
    "307 Temporary Redirect",
    "308 Permanent Redirect",
];

#[tokio::test]
async fn a_redirect_is_never_followed_and_the_token_stays_home() {
    for status in REDIRECTS {
        let code: u16 = status[..3].parse().unwrap();
        let elsewhere = serve(groups_page(None)).await;
        let location = format!("http://{}/api/v1/groups", elsewhere.host);
        let server = serve(hostile::redirect_with(status, location)).await;
        let (err, _) = ends_in_error(client(&server.host).groups(&GroupQuery::default())).await;
        assert_eq!(err.status(), Some(code), "{err:?}");
        let sent = server.requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].header("authorization"),
            Some(format!("SSWS {TOKEN}").as_str())
        );
        assert_eq!(elsewhere.connections(), 0, "{status}");
    }
}

#[tokio::test]
async fn a_redirected_token_request_takes_its_assertion_nowhere() {
    use okta_client::PrivateKeyJwt;
    use okta_client::key::PrivateKey;
    for status in REDIRECTS {
        let elsewhere = serve(groups_page(None)).await;
        let location = format!("http://{}/oauth2/v1/token", elsewhere.host);
        let server = serve(hostile::redirect_with(status, location)).await;
        let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
        let credentials = PrivateKeyJwt::builder("0oaclient", PrivateKey::generate_p256().unwrap())
            .scope("okta.groups.read")
            .build()
            .unwrap();
        let client = OktaClient::builder(domain, credentials)
            .retry_policy(RetryPolicy::new().with_max_retries(0))
            .build()
            .unwrap();
        let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
        assert!(err.status().is_some(), "{status}: {err:?}");
        // The assertion went to the token endpoint addressed, and nowhere else.
        let sent = server.requests();
        assert_eq!(sent.len(), 1, "{status}");
        assert!(sent[0].target().starts_with("/oauth2/v1/token"), "{sent:?}");
        assert!(sent[0].body.contains("client_assertion="), "{sent:?}");
        assert_eq!(elsewhere.connections(), 0, "{status}");
    }
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_a_paging_error() {
    let elsewhere = serve(groups_page(None)).await;
    let link = format!(
        "<http://{}/api/v1/groups?after=00g1>; rel=\"next\"",
        elsewhere.host
    );
    let server = serve(groups_page(Some(&link))).await;
    let (err, _) = ends_in_error(client(&server.host).groups(&GroupQuery::default())).await;
    assert!(matches!(err, Error::Paging { .. }), "{err:?}");
    assert_eq!(elsewhere.connections(), 0);
}

#[tokio::test]
async fn a_next_link_that_never_runs_out_stops_at_max_pages() {
    // Every page links to a new one (`after` counts up): a cursor without end.
    let pages = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let served = pages.clone();
    let server = serve(move |mut s| {
        let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Box::pin(async move {
            let link = format!("</api/v1/groups?after={n}>; rel=\"next\"");
            let body = br#"[{"id":"00g1","type":"OKTA_GROUP","profile":{"name":"Engineering"}}]"#;
            let headers = [
                ("Content-Type", "application/json"),
                ("Link", link.as_str()),
            ];
            answer(&mut s, "200 OK", &headers, body).await;
        })
    })
    .await;
    let mut limits = Limits::default();
    limits.max_pages = 7;
    let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
    let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .limits(limits)
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
    assert!(
        matches!(&err, Error::Paging { reason, .. } if reason.contains("max_pages")),
        "{err:?}"
    );
    assert_eq!(pages.load(std::sync::atomic::Ordering::SeqCst), 7);
}

#[tokio::test]
async fn rate_limited_for_ever_ends_within_the_deadline() {
    // 429 for ever (no reset header: the policy's own backoff): only the deadline stops it.
    let server = serve(|mut s| {
        Box::pin(async move {
            let body = br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#;
            let json = [("Content-Type", "application/json")];
            answer(&mut s, "429 Too Many Requests", &json, body).await;
        })
    })
    .await;
    let clock = Arc::new(Recorder::default());
    let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
    let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .retry_policy(RetryPolicy::new().with_max_retries(1_000))
        .runtime(clock.clone())
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
    let slept: Vec<Duration> = clock.sleeps();
    assert_eq!(err.status(), Some(429), "{err:?}");
    assert_eq!(server.connections(), slept.len() + 1);
    let total: Duration = slept.iter().sum();
    // The default deadline, 120 s from the first attempt, bounds the waits in all.
    assert!(total <= Duration::from_secs(120), "{slept:?}");
    assert!(
        total > Duration::from_secs(60),
        "stopped before the deadline: {slept:?}"
    );
}

/// What a call may hold besides the body it reads, at its peak: hyper's read buffer, the
/// allocator's slack, the runtime's first allocations. Generous, and still far below the 1 GiB
/// sent: a client that kept reading would pass it many times over.
const MARGIN: u64 = 48 << 20;

/// What the hostile server sends in the memory cases.
const SENT: u64 = 1 << 30;

/// The peak growth of one listing against a body of `length` bytes, in a child process; the
/// error is handed to `assert`.
fn peak_growth_reading(
    test: &str,
    length: u64,
    announced: bool,
    limits: Limits,
    assert: fn(&Error),
) -> Option<u64> {
    memory::peak_growth(test, |probe| async move {
        let server = serve(hostile::sized_body(length, announced)).await;
        let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
        let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
            .retry_policy(RetryPolicy::new().with_max_retries(0))
            .limits(limits)
            .build()
            .unwrap();
        probe.start();
        let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
        assert(&err);
    })
}

fn default_cap() -> u64 {
    Limits::default().max_body_bytes as u64
}

#[test]
fn a_gib_body_in_chunks_costs_no_more_memory_than_the_cap() {
    let Some(growth) = peak_growth_reading(
        "a_gib_body_in_chunks_costs_no_more_memory_than_the_cap",
        SENT,
        false,
        Limits::default(),
        |err| {
            assert!(
                matches!(err, Error::BodyTooLarge { limit } if *limit == 16 << 20),
                "{err:?}"
            )
        },
    ) else {
        return;
    };
    println!(
        "peak growth {} KiB for {} MiB sent",
        growth >> 10,
        SENT >> 20
    );
    assert!(growth < default_cap() + MARGIN, "{growth} bytes");
}

#[test]
fn a_gib_body_announced_costs_no_more_memory_than_the_cap() {
    let Some(growth) = peak_growth_reading(
        "a_gib_body_announced_costs_no_more_memory_than_the_cap",
        SENT,
        true,
        Limits::default(),
        |err| {
            assert!(
                matches!(err, Error::BodyTooLarge { limit } if *limit == 16 << 20),
                "{err:?}"
            )
        },
    ) else {
        return;
    };
    println!(
        "peak growth {} KiB for {} MiB sent",
        growth >> 10,
        SENT >> 20
    );
    assert!(growth < default_cap() + MARGIN, "{growth} bytes");
}

/// The probe's power: with the cap raised above the body, the same measure sees the body read
/// whole, far past the bound the cases above assert. (128 MiB, not 1 GiB: enough to pass the
/// bound twice over without taking a gigabyte of a shared machine.)
#[test]
fn without_the_cap_the_memory_bound_would_fail() {
    let mut limits = Limits::default();
    limits.max_body_bytes = 256 << 20;
    let Some(growth) = peak_growth_reading(
        "without_the_cap_the_memory_bound_would_fail",
        128 << 20,
        false,
        limits,
        // Spaces are no JSON: the body was read, then refused.
        |err| assert!(matches!(err, Error::Decode { .. }), "{err:?}"),
    ) else {
        return;
    };
    println!("peak growth {} KiB for 128 MiB read whole", growth >> 10);
    assert!(growth > default_cap() + MARGIN, "{growth} bytes");
}

/// `X-Rate-Limit-Reset` a thousand years from now.
fn far_reset() -> String {
    (31_557_600_000u64 * 1_000).to_string()
}

#[tokio::test]
async fn a_rate_limit_reset_from_beyond_belief_slows_down_no_longer_than_the_cap() {
    // Three pages, each saying the budget is spent until a reset a thousand years away: slowing
    // down spreads what is left over the time to the reset, but no wait passes the cap.
    let pages = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let served = pages.clone();
    let server = serve(move |mut s| {
        let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let (far, link) = (
                far_reset(),
                format!("</api/v1/groups?after={}>; rel=\"next\"", n + 1),
            );
            let mut headers = vec![
                ("Content-Type", "application/json"),
                ("X-Rate-Limit-Limit", "600"),
                ("X-Rate-Limit-Remaining", "0"),
                ("X-Rate-Limit-Reset", far.as_str()),
            ];
            if n < 2 {
                headers.push(("Link", link.as_str()));
            }
            let body = br#"[{"id":"00g1","type":"OKTA_GROUP","profile":{"name":"Engineering"}}]"#;
            answer(&mut s, "200 OK", &headers, body).await;
        })
    })
    .await;
    let clock = Arc::new(Recorder::default());
    let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
    let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .slow_down_below(Some(0.5))
        .runtime(clock.clone())
        .build()
        .unwrap();
    let groups = tokio::time::timeout(
        Duration::from_secs(60),
        client.groups(&GroupQuery::default()),
    )
    .await
    .expect("the listing did not end on its own within 60 s")
    .unwrap();
    assert_eq!(groups.len(), 3);
    // Before the second and the third page, each capped.
    let cap = RetryPolicy::new().max_delay();
    assert_eq!(cap, Duration::from_secs(60));
    assert_eq!(clock.sleeps(), [cap, cap]);
}

#[tokio::test]
async fn a_429_that_says_wait_for_ever_waits_no_longer_than_the_cap() {
    let server = serve(|mut s| {
        Box::pin(async move {
            let far = far_reset();
            let headers = [
                ("Content-Type", "application/json"),
                ("Retry-After", "999999999999"),
                ("X-Rate-Limit-Limit", "600"),
                ("X-Rate-Limit-Remaining", "0"),
                ("X-Rate-Limit-Reset", far.as_str()),
                ("Date", "Sat, 05 Dec 2026 00:00:00 GMT"),
            ];
            let body = br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#;
            answer(&mut s, "429 Too Many Requests", &headers, body).await;
        })
    })
    .await;
    let clock = Arc::new(Recorder::default());
    let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
    let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .retry_policy(RetryPolicy::new().with_max_retries(1_000))
        .runtime(clock.clone())
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
    assert_eq!(err.status(), Some(429), "{err:?}");
    let slept = clock.sleeps();
    let cap = RetryPolicy::new().max_delay();
    assert!(!slept.is_empty());
    assert!(slept.iter().all(|w| *w <= cap), "{slept:?}");
    assert!(
        slept.iter().sum::<Duration>() <= Duration::from_secs(120),
        "{slept:?}"
    );
}

#[tokio::test]
async fn a_stall_is_retried_like_a_cut_connection() {
    let server = serve(hostile::stalled_body()).await;
    let mut limits = Limits::default();
    limits.stall_timeout = Duration::from_millis(300);
    let domain: OktaDomain = format!("http://{}", server.host).parse().unwrap();
    let client = OktaClient::builder(domain, ApiToken::new(TOKEN).unwrap())
        .retry_policy(RetryPolicy::new().with_max_retries(2))
        .runtime(Arc::new(Recorder::default()))
        .limits(limits)
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.groups(&GroupQuery::default())).await;
    match &err {
        Error::RetriesExhausted {
            attempts: 3, last, ..
        } => {
            assert!(matches!(**last, Error::Stalled { .. }), "{err:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.connections(), 3);
}
