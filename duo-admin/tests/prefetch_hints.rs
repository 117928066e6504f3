//! Prefetching follows hints read from the bytes of a page, but lists only what the decoded
//! pages say: a server whose bodies carry a misleading `"metadata"` near their end (a user's own
//! field of that name, the real metadata at the start) gets requests for the wrong offsets, and
//! the listing still holds every user once, in order. A tiny HTTP server stands in for Duo: the
//! sandbox cannot be made to answer like that.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::sync::{Arc, Mutex};

use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalIdentity, import};
use futures::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USERS: u64 = 7;
const PAGE: u64 = 2;

fn user(i: u64, decoy: Option<u64>) -> String {
    let decoy = decoy.map_or(String::new(), |n| {
        format!(r#","metadata":{{"next_offset":{n}}}"#)
    });
    // Notes long enough that the end of the body holds only the decoy.
    let notes = "n".repeat(600);
    format!(
        r#"{{"user_id":"DU{i}","username":"user{i}","status":"active","aliases":{{}},"notes":"{notes}"{decoy}}}"#
    )
}

/// The page at `offset`: metadata first, and its last user carries a decoy `metadata` whose
/// `next_offset` is one past the real one (an offset no real page starts at).
fn page(offset: u64) -> String {
    let end = (offset + PAGE).min(USERS);
    let users: Vec<String> = (offset..end)
        .map(|i| user(i, (i + 1 == end).then_some(end + 1)))
        .collect();
    let next = if end < USERS {
        format!(r#","next_offset":{end}"#)
    } else {
        String::new()
    };
    format!(
        r#"{{"metadata":{{"total_objects":{USERS}{next}}},"stat":"OK","response":[{}]}}"#,
        users.join(",")
    )
}

/// Users in [`uneven_page`]'s listing.
const UNEVEN_USERS: u64 = 23;

/// The page at `offset` of a listing whose pages are two and three users wide in turn (a page
/// at a multiple of five holds two): the first page's `next_offset` and `total_objects`
/// predict offsets 2, 4, 6, … of which most are not page starts. The metadata is at the end,
/// where the hint is read.
fn uneven_page(offset: u64) -> String {
    let width = if offset.is_multiple_of(5) { 2 } else { 3 };
    let end = (offset + width).min(UNEVEN_USERS);
    let users: Vec<String> = (offset..end)
        .map(|i| format!(r#"{{"user_id":"DU{i}","username":"user{i}","status":"active"}}"#))
        .collect();
    let next = if end < UNEVEN_USERS {
        format!(r#","next_offset":{end}"#)
    } else {
        String::new()
    };
    format!(
        r#"{{"stat":"OK","response":[{}],"metadata":{{"total_objects":{UNEVEN_USERS}{next}}}}}"#,
        users.join(",")
    )
}

/// Serves pages over HTTP/1.1 keep-alive; records each requested offset.
async fn serve(
    listener: tokio::net::TcpListener,
    seen: Arc<Mutex<Vec<u64>>>,
    page: fn(u64) -> String,
) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                let mut chunk = [0u8; 4096];
                let n = match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let offset = head
                        .split(['?', '&', ' '])
                        .find_map(|p| p.strip_prefix("offset="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    seen.lock().unwrap().push(offset);
                    let body = page(offset);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misleading_hints_cost_requests_not_users() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(serve(listener, Arc::clone(&seen), page));
    let creds = duo_auth::Credentials::new("DIXXXXXXXXXXXXXXXXXX", "a".repeat(40), host).unwrap();
    let admin = AdminClient::builder(creds)
        .loopback_http(true)
        .page_size(PAGE as u32)
        .build()
        .unwrap();

    let ids: Vec<String> = admin
        .users()
        .map_ok(|u| u.user_id)
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<String> = (0..USERS).map(|i| format!("DU{i}")).collect();
    assert_eq!(ids, expected, "every user once, in order");
    let requested = seen.lock().unwrap().clone();
    // What holds in every interleaving: every real page was asked for, and nothing was asked
    // for but real page starts and the decoys' offsets. Whether a decoy request goes out before
    // the real metadata cancels its chain depends on timing, so it is not asserted here; that a
    // decoy is taken for the hint is checked on the bytes, in paging.rs's unit tests.
    for offset in (0..USERS).step_by(PAGE as usize) {
        assert!(requested.contains(&offset), "{offset} in {requested:?}");
    }
    // A decoy is one past a page's end; following one reaches only real starts or other decoys.
    let decoys: Vec<u64> = (0..USERS)
        .step_by(PAGE as usize)
        .map(|start| (start + PAGE).min(USERS) + 1)
        .collect();
    for offset in &requested {
        assert!(
            offset % PAGE == 0 && *offset < USERS || decoys.contains(offset),
            "{offset} is neither a page start nor a decoy, in {requested:?}"
        );
    }

    // The importer's own reading walks the same way.
    let portal: Vec<PortalIdentity> = (0..USERS)
        .map(|i| PortalIdentity::new(format!("USER{i}")))
        .collect();
    let report = import(&admin, &portal, &ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.duo_users, USERS as usize);
    assert_eq!(report.matched.len(), USERS as usize);
    server.abort();
}

/// Pages of uneven width make the concurrent walk's predicted offsets wrong: the pages at
/// offsets that are not page starts are dropped, and the listing still holds every user once,
/// in order, at any bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_uneven_width_cost_requests_not_users() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(serve(listener, Arc::clone(&seen), uneven_page));
    let creds = duo_auth::Credentials::new("DIXXXXXXXXXXXXXXXXXX", "a".repeat(40), host).unwrap();
    let expected: Vec<String> = (0..UNEVEN_USERS).map(|i| format!("DU{i}")).collect();
    for bound in [1, 2, 8] {
        let admin = AdminClient::builder(creds.clone())
            .loopback_http(true)
            .page_size(3)
            .page_concurrency(bound)
            .build()
            .unwrap();
        let ids: Vec<String> = admin
            .users()
            .map_ok(|u| u.user_id)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids, expected, "bound {bound}: every user once, in order");
    }
    // Every real page start was asked for.
    let requested = seen.lock().unwrap().clone();
    let mut start = 0;
    while start < UNEVEN_USERS {
        assert!(requested.contains(&start), "{start} in {requested:?}");
        start += if start.is_multiple_of(5) { 2 } else { 3 };
    }
    server.abort();
}
