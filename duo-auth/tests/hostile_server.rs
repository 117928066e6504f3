//! The Duo clients against servers that misbehave on purpose, byte by byte (raw TCP listeners on
//! loopback, `test_support::hostile`): an announced or endless huge body, a body that stops, a
//! server that never answers, a redirect to another origin, 429 for ever. Each case must end in
//! its typed error having read no more than the cap. Time limits here are liveness guards many
//! times the configured bound, never the verdict.
//!
//! The memory bound is measured in a child process per case (`test_support::memory`): with the
//! default cap of 16 MiB, a server sending 1 GiB may raise the client's peak resident set by at
//! most the cap plus [`MARGIN`].
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use duo_auth::retry::RetryPolicy;
use duo_auth::runtime::{Runtime, SleepFuture};
use duo_auth::transport::Limits;
use duo_auth::{AuthClient, Credentials, Error};
use test_support::hostile::{self, answer, serve};
use test_support::memory;
use test_support::wait::ends_in_error;

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_body_bytes = 1024 * 1024;
    limits.stall_timeout = Duration::from_millis(300);
    limits
}

fn client(host: &str) -> AuthClient {
    let creds = Credentials::new("DIXXXXXXXXXXXXXXXXXX", "a".repeat(40), host).unwrap();
    AuthClient::builder(creds)
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(10))
        .limits(limits())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_announced_huge_body_is_refused_before_it_is_read() {
    let server = serve(hostile::huge_body(1 << 30)).await;
    let (err, _) = ends_in_error(client(&server.host).check()).await;
    assert!(
        matches!(err, Error::BodyTooLarge { limit: 1_048_576 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_body_bytes"), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap() {
    let server = serve(hostile::endless_body()).await;
    let (err, _) = ends_in_error(client(&server.host).check()).await;
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_a_stall() {
    // Told apart from the 10 s attempt timeout by the error's kind, not by a clock.
    let server = serve(hostile::stalled_body()).await;
    let (err, _) = ends_in_error(client(&server.host).check()).await;
    assert!(
        matches!(err, Error::Stalled { after } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let server = serve(hostile::black_hole()).await;
    let creds =
        Credentials::new("DIXXXXXXXXXXXXXXXXXX", "a".repeat(40), server.host.as_str()).unwrap();
    let client = AuthClient::builder(creds)
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.check()).await;
    assert!(
        matches!(err, Error::Timeout(t) if t == Duration::from_millis(400)),
        "{err:?}"
    );
}

/// Redirect statuses a client could follow: 307 and 308 would have it send a POST's body again.
const REDIRECTS: [&str; 5] = [
    "301 Moved Permanently",
    "302 Found",
    "303 See Other",
    "307 Temporary Redirect",
    "308 Permanent Redirect",
];

/// A server on another origin that would answer anything with success: the redirects point
/// there, and it must never be asked anything.
async fn elsewhere() -> hostile::Hostile {
    serve(|mut s| {
        Box::pin(async move {
            let body = br#"{"stat":"OK","response":{"time":1700000000}}"#;
            answer(&mut s, "200 OK", &[], body).await;
        })
    })
    .await
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_no_credential_leaves() {
    use duo_auth::client::{PreauthOptions, UserRef};
    for status in REDIRECTS {
        let code: u16 = status[..3].parse().unwrap();
        let elsewhere = elsewhere().await;
        let location = format!("http://{}/auth/v2/check", elsewhere.host);
        let server = serve(hostile::redirect_with(status, location)).await;
        let client = client(&server.host);
        // A GET and a POST with a body: neither goes on to the other origin.
        let (get, _) = ends_in_error(client.check()).await;
        let user = UserRef::from("jane.doe");
        let (post, _) = ends_in_error(client.preauth(&user, &PreauthOptions::default())).await;
        for err in [get, post] {
            match &err {
                Error::UnexpectedResponse { status, .. } => assert_eq!(*status, code),
                other => panic!("expected the {code} itself, got {other:?}"),
            }
        }
        // The signed requests reached the server they were addressed to, and only it.
        let sent = server.requests();
        assert_eq!(sent.len(), 2, "{status}");
        assert!(sent.iter().all(|r| r.header("authorization").is_some()));
        assert!(sent[1].body.contains("jane.doe"), "{sent:?}");
        assert_eq!(elsewhere.connections(), 0, "{status}");
    }
}

#[tokio::test]
async fn the_universal_prompt_follows_no_redirect_either() {
    use duo_auth::universal::UniversalClient;
    for status in REDIRECTS {
        let elsewhere = elsewhere().await;
        let location = format!("http://{}/oauth/v1/token", elsewhere.host);
        let server = serve(hostile::redirect_with(status, location)).await;
        let prompt = UniversalClient::builder(
            "DIXXXXXXXXXXXXXXXXXX",
            "a".repeat(40),
            server.host.as_str(),
            "https://portal.example/duo-callback",
        )
        .loopback_http(true)
        .build()
        .unwrap();
        let (health, _) = ends_in_error(prompt.health_check()).await;
        let (exchange, _) = ends_in_error(prompt.exchange_code("a-code", "jane.doe", None)).await;
        for err in [health, exchange] {
            assert!(
                matches!(err, duo_auth::universal::UniversalError::Http(_)),
                "{status}: {err:?}"
            );
        }
        // Each POST carried a client assertion, to the server addressed and nowhere else.
        let sent = server.requests();
        assert_eq!(sent.len(), 2, "{status}");
        assert!(
            sent.iter().all(|r| r.body.contains("client_assertion=")),
            "{sent:?}"
        );
        assert_eq!(elsewhere.connections(), 0, "{status}");
    }
}

#[tokio::test]
async fn the_universal_prompt_keeps_its_own_limits() {
    use duo_auth::universal::{UniversalClient, UniversalError};
    let prompt = |host: &str| {
        UniversalClient::builder(
            "DIXXXXXXXXXXXXXXXXXX",
            "a".repeat(40),
            host,
            "https://portal.example/duo-callback",
        )
        .loopback_http(true)
        .limits(limits())
        .build()
        .unwrap()
    };
    let huge = serve(hostile::huge_body(1 << 30)).await;
    let endless = serve(hostile::endless_body()).await;
    let stalled = serve(hostile::stalled_body()).await;
    for (server, case) in [(&huge, "huge"), (&endless, "endless")] {
        let (err, _) = ends_in_error(prompt(&server.host).health_check()).await;
        assert!(
            matches!(
                err,
                UniversalError::Http(Error::BodyTooLarge { limit: 1_048_576 })
            ),
            "{case}: {err:?}"
        );
    }
    let (err, _) =
        ends_in_error(prompt(&stalled.host).exchange_code("a-code", "jane.doe", None)).await;
    assert!(
        matches!(err, UniversalError::Http(Error::Stalled { after }) if after == Duration::from_millis(300)),
        "{err:?}"
    );
}

/// Records the retry waits and moves its clock by them, so a schedule of minutes runs at once.
#[derive(Debug, Default)]
struct Clock {
    slept: std::sync::Mutex<Vec<Duration>>,
}

impl Runtime for Clock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.slept.lock().unwrap().iter().sum::<Duration>()
    }
    fn sleep(&self, duration: Duration) -> SleepFuture {
        self.slept.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.99
    }
}

#[tokio::test]
async fn rate_limited_for_ever_ends_within_the_call_budget() {
    let server = serve(|mut s| {
        Box::pin(async move {
            let body = br#"{"stat":"FAIL","code":42901,"message":"Too Many Requests"}"#;
            let json = [("Content-Type", "application/json")];
            answer(&mut s, "429 Too Many Requests", &json, body).await;
        })
    })
    .await;
    let clock = Arc::new(Clock::default());
    let creds =
        Credentials::new("DIXXXXXXXXXXXXXXXXXX", "a".repeat(40), server.host.as_str()).unwrap();
    let policy = RetryPolicy {
        max_retries: 1_000, // only the budget can stop it
        ..RetryPolicy::default()
    };
    let mut limits = limits();
    limits.call_budget = Duration::from_secs(90);
    let client = AuthClient::builder(creds)
        .loopback_http(true)
        .retry_policy(policy)
        .runtime(clock.clone())
        .limits(limits)
        .build()
        .unwrap();
    let (err, _) = ends_in_error(client.check()).await;
    let slept: Vec<Duration> = clock.slept.lock().unwrap().clone();
    let total: Duration = slept.iter().sum();
    assert!(
        matches!(err, Error::RateLimited { attempts, .. } if attempts as usize == slept.len() + 1),
        "{err:?} after {slept:?}"
    );
    assert_eq!(server.connections(), slept.len() + 1);
    assert!(total <= Duration::from_secs(90), "{slept:?}");
    // Duo's schedule (1, 2, 4 … 32 s, plus jitter) runs until the next wait would pass the
    // budget, not before.
    assert!(
        total + slept[slept.len() - 1] > Duration::from_secs(90),
        "{slept:?}"
    );
    assert!(
        slept.iter().all(|w| *w < Duration::from_secs(33)),
        "{slept:?}"
    );
}

/// What a call may hold besides the body it reads, at its peak: hyper's read buffer, the
/// allocator's slack, the runtime's first allocations. Generous, and still far below the 1 GiB
/// sent: a client that kept reading would pass it many times over.
const MARGIN: u64 = 48 << 20;

/// What the hostile server sends in the memory cases.
const SENT: u64 = 1 << 30;

/// The peak growth of one `check()` against a body of `length` bytes, in a child process; the
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
        let creds =
            Credentials::new("DIXXXXXXXXXXXXXXXXXX", "a".repeat(40), server.host.as_str()).unwrap();
        let client = AuthClient::builder(creds)
            .loopback_http(true)
            .retry_policy(RetryPolicy::none())
            .limits(limits)
            .build()
            .unwrap();
        probe.start();
        let (err, _) = ends_in_error(client.check()).await;
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
        |err| assert!(matches!(err, Error::UnexpectedResponse { .. }), "{err:?}"),
    ) else {
        return;
    };
    println!("peak growth {} KiB for 128 MiB read whole", growth >> 10);
    assert!(growth > default_cap() + MARGIN, "{growth} bytes");
}
