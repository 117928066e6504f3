//! The Admin API client against servers that misbehave on purpose (raw TCP listeners on
//! loopback, `test_support::hostile`): paging metadata that lies — a `next_offset` that never
//! ends, stays, goes back or is no number, a `total_objects` beyond belief — a body of a GiB,
//! a redirect to another origin. Each case ends in its typed error (or, for what is only
//! reported, in the listing the pages hold), never in an endless listing. Time limits here are
//! liveness guards, never the verdict.
#![allow(clippy::unwrap_used, missing_docs)]

use duo_admin::{AdminClient, Error, NewUser, User};
use duo_auth::Credentials;
use duo_auth::retry::RetryPolicy;
use duo_auth::transport::Limits;
use futures::{Stream, StreamExt};
use test_support::hostile::{self, BoxFuture, Head, answer, serve, serve_requests};
use test_support::memory;
use test_support::wait::ends_in_error;
use tokio::net::TcpStream;

const SKEY: &str = "Zx9mQ2vL8rT4wY6uI1oP3aS5dF7gH0jK2lZ4xC6v";

fn client(host: &str, prefetch: bool, limits: Limits) -> AdminClient {
    let creds = Credentials::new("DIXXXXXXXXXXXXXXXXXX", SKEY, host).unwrap();
    AdminClient::builder(creds)
        .loopback_http(true)
        .retry_policy(RetryPolicy::none())
        .page_retries(0)
        .prefetch(prefetch)
        .limits(limits)
        .build()
        .unwrap()
}

/// Pages of one user each; `metadata(offset)` is the page's `metadata` member as JSON text.
fn pages(
    metadata: impl Fn(u64) -> String + Send + Sync + 'static,
) -> impl Fn(Head, TcpStream) -> BoxFuture + Send + Sync + 'static {
    move |head, mut s| {
        let offset: u64 = head
            .query_param("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let body = format!(
            r#"{{"stat":"OK","response":[{{"user_id":"DU{offset}","username":"user{offset}","status":"active"}}],"metadata":{}}}"#,
            metadata(offset)
        );
        Box::pin(async move {
            let json = [("Content-Type", "application/json")];
            answer(&mut s, "200 OK", &json, body.as_bytes()).await;
        })
    }
}

/// Reads a listing to its end or its first error: the users listed, and the error.
async fn read<S: Stream<Item = Result<User, Error>> + Unpin>(
    mut users: S,
) -> (Vec<String>, Option<Error>) {
    let mut listed = Vec::new();
    let read = async {
        while let Some(user) = users.next().await {
            match user {
                Ok(u) => listed.push(u.user_id),
                Err(e) => return Some(e),
            }
        }
        None
    };
    let err = tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("the listing did not end on its own within 60 s");
    (listed, err)
}

#[tokio::test]
async fn paging_that_never_ends_stops_at_max_pages() {
    for prefetch in [false, true] {
        // Every page names the next one: a listing without end.
        let server = serve_requests(pages(|offset| {
            format!(r#"{{"next_offset":{}}}"#, offset + 1)
        }))
        .await;
        let mut limits = Limits::default();
        limits.max_pages = 7;
        let (listed, err) = read(client(&server.host, prefetch, limits).users()).await;
        assert!(
            matches!(
                &err,
                Some(Error::TooManyPages { path, pages: 7, next: 7 }) if path == "/admin/v1/users"
            ),
            "prefetch {prefetch}: {err:?}"
        );
        assert!(err.unwrap().to_string().contains("max_pages"));
        // The seventh page names an eighth: it is not listed, and the eighth never asked for.
        assert_eq!(listed.len(), 6, "prefetch {prefetch}: {listed:?}");
        assert_eq!(server.requests().len(), 7, "prefetch {prefetch}");
    }
}

#[tokio::test]
async fn a_next_offset_that_stays_or_goes_back_is_refused() {
    for prefetch in [false, true] {
        let stuck = serve_requests(pages(|offset| format!(r#"{{"next_offset":{offset}}}"#))).await;
        let (listed, err) = read(client(&stuck.host, prefetch, Limits::default()).users()).await;
        assert!(
            matches!(
                err,
                Some(Error::OffsetDidNotAdvance {
                    offset: 0,
                    next: 0,
                    ..
                })
            ),
            "{err:?}"
        );
        assert!(listed.is_empty());
        assert_eq!(stuck.requests().len(), 1);

        // 0 → 5 → 2: back to where the listing has been.
        let back = serve_requests(pages(|offset| {
            let next = if offset == 0 { 5 } else { 2 };
            format!(r#"{{"next_offset":{next}}}"#)
        }))
        .await;
        let (listed, err) = read(client(&back.host, prefetch, Limits::default()).users()).await;
        assert!(
            matches!(
                err,
                Some(Error::OffsetDidNotAdvance {
                    offset: 5,
                    next: 2,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(listed, ["DU0"]);

        // As far as an offset goes, and then nowhere further.
        let far = serve_requests(pages(|_| format!(r#"{{"next_offset":{}}}"#, u64::MAX))).await;
        let (listed, err) = read(client(&far.host, prefetch, Limits::default()).users()).await;
        assert!(
            matches!(
                err,
                Some(Error::OffsetDidNotAdvance {
                    offset: u64::MAX,
                    next: u64::MAX,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(listed, ["DU0"]);
    }
}

#[tokio::test]
async fn a_next_offset_that_is_no_offset_is_a_typed_error() {
    for bad in [
        r#""abc""#,
        "-1",
        "1.5",
        r#""-1""#,
        "1e400",
        "18446744073709551616",
        "true",
        "[]",
        "{}",
    ] {
        let metadata = format!(r#"{{"next_offset":{bad}}}"#);
        let server = serve_requests(pages(move |_| metadata.clone())).await;
        let (listed, err) = read(client(&server.host, true, Limits::default()).users()).await;
        assert!(
            matches!(
                &err,
                Some(Error::Duo(duo_auth::Error::UnexpectedResponse { .. }))
            ),
            "{bad}: {err:?}"
        );
        assert!(listed.is_empty(), "{bad}");
    }
}

#[tokio::test]
async fn an_absurd_total_objects_is_only_reported() {
    // `total_objects` decides nothing a listing does (nothing is sized by it): three pages that
    // claim any total list their three users and end.
    for total in [
        "18446744073709551615",
        "-1",
        "1e300",
        r#""lots""#,
        "null",
        "[1]",
    ] {
        let metadata = move |offset: u64| match offset {
            2 => format!(r#"{{"total_objects":{total}}}"#),
            _ => format!(
                r#"{{"next_offset":{},"total_objects":{total}}}"#,
                offset + 1
            ),
        };
        let server = serve_requests(pages(metadata)).await;
        let client = client(&server.host, true, Limits::default());
        let (listed, err) = read(client.users()).await;
        assert!(err.is_none(), "{total}: {err:?}");
        assert_eq!(listed, ["DU0", "DU1", "DU2"], "{total}");
        let pages: Vec<_> = client.user_pages().collect().await;
        let first = pages[0].as_ref().unwrap();
        let expected = (total == "18446744073709551615").then_some(u64::MAX);
        assert_eq!(first.total_objects, expected, "{total}");
    }
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_no_credential_leaves() {
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let code: u16 = status[..3].parse().unwrap();
        let elsewhere = serve(|mut s| {
            Box::pin(async move {
                let body = br#"{"stat":"OK","response":[],"metadata":{}}"#;
                answer(&mut s, "200 OK", &[], body).await;
            })
        })
        .await;
        let location = format!("http://{}/admin/v1/users", elsewhere.host);
        let server = serve(hostile::redirect_with(status, location)).await;
        let client = client(&server.host, true, Limits::default());
        // A listing (GET) and a write (POST with a body): neither goes on elsewhere.
        let (_, listing) = read(client.users()).await;
        let write = client.create_user(&NewUser::new("jane.doe")).await.err();
        for err in [listing, write] {
            assert!(
                matches!(
                    &err,
                    Some(Error::Duo(duo_auth::Error::UnexpectedResponse { status, .. })) if *status == code
                ),
                "{err:?}"
            );
        }
        // The signed requests went where they were addressed, and nowhere else.
        let sent = server.requests();
        assert_eq!(sent.len(), 2, "{status}");
        assert!(sent.iter().all(|r| r.header("authorization").is_some()));
        assert!(sent[1].body.contains("jane.doe"), "{sent:?}");
        assert_eq!(elsewhere.connections(), 0, "{status}");
    }
}

/// What a listing may hold besides the body it reads, at its peak (see duo-auth's hostile
/// tests: the same read path).
const MARGIN: u64 = 48 << 20;

#[test]
fn a_gib_page_costs_no_more_memory_than_the_cap() {
    const TEST: &str = "a_gib_page_costs_no_more_memory_than_the_cap";
    let Some(growth) = memory::peak_growth(TEST, |probe| async move {
        let server = serve(hostile::sized_body(1 << 30, false)).await;
        let client = client(&server.host, true, Limits::default());
        probe.start();
        let (err, _) = ends_in_error(AdminClient::collect(client.users())).await;
        assert!(
            matches!(err, Error::Duo(duo_auth::Error::BodyTooLarge { limit }) if limit == 16 << 20),
            "{err:?}"
        );
    }) else {
        return;
    };
    println!("peak growth {} KiB for 1024 MiB sent", growth >> 10);
    assert!(
        growth < Limits::default().max_body_bytes as u64 + MARGIN,
        "{growth} bytes"
    );
}
