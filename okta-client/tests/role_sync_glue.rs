//! The `role-sync` feature against the sandbox: mapped group names resolved to ids, ambiguous
//! names refused, missing names left out (so role-sync's guard sees them missing), statuses
//! mapped, complete or an error; listings start largest group first, which the sandbox's `Hold`
//! faults show without any timing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use idp_sandbox::{Fault, FaultKind, Sandbox};
use okta_client::directory::{
    FetchError, fetch_directory, fetch_directory_with_progress, resolve_groups,
    resolve_mapped_groups,
};
use okta_client::{ApiToken, OktaClient};
use role_sync::{Mapping, UserStatus};

async fn setup() -> (Sandbox, OktaClient) {
    let sb = Sandbox::builder()
        .seed(3)
        .users(150)
        .groups(6)
        .start()
        .await
        .unwrap();
    let client = OktaClient::builder(
        sb.credentials().okta.org_url.parse().unwrap(),
        ApiToken::new(&sb.credentials().okta.api_token).unwrap(),
    )
    .build()
    .unwrap();
    (sb, client)
}

#[tokio::test]
async fn mapped_groups_become_a_directory_with_mapped_statuses() {
    let (sb, client) = setup().await;
    let mapping = Mapping::new()
        .map("Portal Admins", ["admin"])
        .map("Portal Users", ["user"])
        .map("No Such Group", ["ghost"]);
    let names = resolve_groups(&client, &mapping).await.unwrap();
    assert_eq!(names.len(), 2, "a missing name is left out: {names:?}");
    let directory = fetch_directory(&client, &mapping, 2).await.unwrap();
    let mut groups: Vec<&str> = directory.groups().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["Portal Admins", "Portal Users"]);
    for (name, id) in &names {
        let expected = sb.okta().members(id).unwrap();
        let got: Vec<_> = directory.members(name).unwrap().collect();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.id, e.id);
            assert_eq!(g.status, UserStatus::from(e.status.as_str()));
        }
    }
    let mut last = None;
    let with_progress = fetch_directory_with_progress(&client, &mapping, 2, |p| last = Some(p))
        .await
        .unwrap();
    let last = last.unwrap();
    assert_eq!(last.groups, 2);
    assert_eq!(last.groups_done, 2);
    assert_eq!(
        last.members,
        names
            .values()
            .map(|id| sb.okta().members(id).unwrap().len())
            .sum::<usize>()
    );
    assert_eq!(with_progress.users().len(), directory.users().len());
    sb.shutdown().await;
}

#[tokio::test]
async fn an_ambiguous_name_is_refused() {
    let (sb, client) = setup().await;
    sb.okta().create_group("Portal Admins", None);
    let mapping = Mapping::new().map("Portal Admins", ["admin"]);
    match fetch_directory(&client, &mapping, 2).await {
        Err(FetchError::AmbiguousGroup { name, count }) => {
            assert_eq!((name.as_str(), count), ("Portal Admins", 2));
        }
        other => panic!("{other:?}"),
    }
    sb.shutdown().await;
}

/// Four mapped groups whose sizes (31, 23, 15, 6) are in no relation to their names, each listed
/// over several pages of 5, and a client over SSWS (no token requests to tell apart).
struct Sized {
    sb: Sandbox,
    client: OktaClient,
    mapping: Mapping,
    /// (name, id, members), largest first.
    groups: Vec<(String, String, usize)>,
}

async fn sized() -> Sized {
    let sb = Sandbox::builder()
        .seed(7)
        .users(80)
        .groups(3)
        .start()
        .await
        .unwrap();
    let users = sb.okta().users();
    let mut groups = Vec::new();
    let mut mapping = Mapping::new();
    for (name, size) in [
        ("Sync Alpha", 6),
        ("Sync Bravo", 23),
        ("Sync Charlie", 15),
        ("Sync Delta", 31),
    ] {
        let id = sb.okta().create_group(name, None).id;
        for u in &users[..size] {
            assert!(sb.okta().add_member(&id, &u.id).unwrap());
        }
        mapping = mapping.map(name, [name.to_lowercase()]);
        groups.push((name.to_string(), id, size));
    }
    groups.sort_by_key(|(_, _, size)| std::cmp::Reverse(*size));
    let client = OktaClient::builder(
        sb.credentials().okta.org_url.parse().unwrap(),
        ApiToken::new(&sb.credentials().okta.api_token).unwrap(),
    )
    .member_page_limit(5)
    .build()
    .unwrap();
    Sized {
        sb,
        client,
        mapping,
        groups,
    }
}

fn members_path(id: &str) -> String {
    format!("/api/v1/groups/{id}/users")
}

/// Waits until the groups from `from` on (those not let go yet) hold `n` member requests in
/// all. It looks every few milliseconds; the limit is a liveness guard only (it fails a test
/// that is stuck, never a slow one that would pass), and what the test then asserts does not
/// depend on when the wait ended.
async fn until_held(s: &Sized, from: usize, n: u32) {
    let wait = async {
        while held(s)[from..].iter().sum::<u32>() < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("never {n} member requests held: {:?}", held(s)));
}

/// How many member requests each group has held at the sandbox now, largest group first.
fn held(s: &Sized) -> Vec<u32> {
    s.groups
        .iter()
        .map(|(_, id, _)| s.sb.faults().held(&members_path(id)))
        .collect()
}

/// Drives a sync while every group's member pages are held at the sandbox: the test lets one
/// group go at a time and looks at which listings have started, with no timing involved: a
/// listing can only start when one before it has been let go and has finished.
///
/// `concurrency` listings start at once: the largest ones. Then letting the largest go
/// starts the next largest, and so on.
async fn run_held<F: std::future::Future>(s: &Sized, concurrency: usize, sync: F) -> F::Output {
    for (_, id, _) in &s.groups {
        s.sb.faults()
            .inject(Fault::new(members_path(id), FaultKind::Hold));
    }
    let script = async {
        let n = s.groups.len();
        let mut started = concurrency.min(n);
        for done in 0..n {
            until_held(s, done, u32::try_from(started - done).unwrap()).await;
            // Of the groups not let go yet, exactly those started have asked for a page: the
            // largest. (A group let go may still count as held for a moment: not looked at.)
            let want: Vec<u32> = (done..n).map(|i| u32::from(i < started)).collect();
            assert_eq!(
                held(s)[done..],
                want,
                "concurrency {concurrency}, {done} group(s) let go (largest first: {:?})",
                s.groups
            );
            // Let the largest group still held go: all its pages; its end frees a slot.
            let (_, id, _) = &s.groups[done];
            assert_eq!(s.sb.faults().release(&members_path(id)), 1);
            started = (started + 1).min(n);
        }
    };
    let (out, ()) = tokio::join!(sync, script);
    s.sb.faults().clear();
    out
}

fn assert_complete(s: &Sized, directory: &role_sync::Directory) {
    for (name, id, size) in &s.groups {
        let got: Vec<String> = directory
            .members(name)
            .unwrap()
            .map(|u| u.id.to_string())
            .collect();
        let want: Vec<String> =
            s.sb.okta()
                .members(id)
                .unwrap()
                .into_iter()
                .map(|u| u.id)
                .collect();
        assert_eq!(got.len(), *size, "{name}");
        assert_eq!(got, want, "{name}");
    }
}

#[tokio::test]
async fn mapped_groups_resolve_with_their_counts_largest_first() {
    let s = sized().await;
    s.sb.okta().record_requests(true);
    let resolved = resolve_mapped_groups(&s.client, &s.mapping).await.unwrap();
    let got: Vec<(String, String, Option<u64>)> = resolved
        .iter()
        .map(|g| (g.name.clone(), g.id.clone(), g.users_count))
        .collect();
    let want: Vec<(String, String, Option<u64>)> = s
        .groups
        .iter()
        .map(|(n, id, size)| (n.clone(), id.clone(), Some(*size as u64)))
        .collect();
    assert_eq!(got, want);
    let listings: Vec<_> =
        s.sb.okta()
            .requests()
            .into_iter()
            .filter(|r| r.path == "/api/v1/groups")
            .collect();
    assert_eq!(listings.len(), 1, "one listing, no request per group");
    assert!(
        listings[0]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("expand=stats"),
        "{:?}",
        listings[0].query
    );
    // The name → id map is the same groups.
    let names = resolve_groups(&s.client, &s.mapping).await.unwrap();
    assert_eq!(
        names,
        s.groups
            .iter()
            .map(|(n, id, _)| (n.clone(), id.clone()))
            .collect()
    );
    s.sb.shutdown().await;
}

#[tokio::test]
async fn one_listing_at_a_time_runs_the_largest_group_first() {
    let s = sized().await;
    let directory = run_held(&s, 1, fetch_directory(&s.client, &s.mapping, 1))
        .await
        .unwrap();
    assert_complete(&s, &directory);

    let mut progress = Vec::new();
    let directory = run_held(
        &s,
        1,
        fetch_directory_with_progress(&s.client, &s.mapping, 1, |p| progress.push(p)),
    )
    .await
    .unwrap();
    assert_complete(&s, &directory);
    // One at a time, members arrive group by group: when the k-th group is done, the members
    // read so far are the k largest groups'.
    let at_each_end: Vec<usize> = progress
        .windows(2)
        .filter(|w| w[1].groups_done > w[0].groups_done)
        .map(|w| w[1].members)
        .collect();
    let cumulative: Vec<usize> = s
        .groups
        .iter()
        .scan(0, |sum, (_, _, size)| {
            *sum += size;
            Some(*sum)
        })
        .collect();
    assert_eq!(at_each_end, cumulative);
    s.sb.shutdown().await;
}

#[tokio::test]
async fn two_listings_at_a_time_start_with_the_two_largest_groups() {
    let s = sized().await;
    let directory = run_held(&s, 2, fetch_directory(&s.client, &s.mapping, 2))
        .await
        .unwrap();
    assert_complete(&s, &directory);
    let directory = run_held(
        &s,
        2,
        fetch_directory_with_progress(&s.client, &s.mapping, 2, |_| {}),
    )
    .await
    .unwrap();
    assert_complete(&s, &directory);
    s.sb.shutdown().await;
}

#[tokio::test]
async fn directory_snapshot_starts_listings_in_the_order_given() {
    let mut s = sized().await;
    // Given smallest first, the snapshot starts the smallest first: the order is the caller's.
    s.groups.reverse();
    let ids: Vec<&str> = s.groups.iter().map(|(_, id, _)| id.as_str()).collect();
    let snapshot = run_held(&s, 2, s.client.directory_snapshot(&ids, 2))
        .await
        .unwrap();
    for (_, id, size) in &s.groups {
        assert_eq!(snapshot.members[id].len(), *size);
    }
    s.sb.shutdown().await;
}

/// Dropping a fetch while its listings (each in a task of its own) wait on held pages abandons
/// them: the sandbox sees both requests go, and letting the pages go afterwards brings no
/// further request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_fetch_abandons_its_listings() {
    let s = sized().await;
    for (_, id, _) in &s.groups {
        s.sb.faults()
            .inject(Fault::new(members_path(id), FaultKind::Hold));
    }
    {
        let fetch = fetch_directory(&s.client, &s.mapping, 2);
        tokio::select! {
            _ = fetch => panic!("the fetch finished while its pages were held"),
            () = until_held(&s, 0, 2) => {}
        }
    }
    // The tasks are aborted, their connections closed: the sandbox drops the held requests.
    let gone = async {
        while held(&s).iter().sum::<u32>() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), gone)
        .await
        .unwrap_or_else(|_| panic!("held requests not abandoned: {:?}", held(&s)));
    let before = s.sb.okta().counters().group_members_requests;
    s.sb.faults().clear();
    // Long enough for a listing that outlived the fetch to ask for a page; a correct client
    // asks for none however long this is.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.sb.okta().counters().group_members_requests, before);
    s.sb.shutdown().await;
}
