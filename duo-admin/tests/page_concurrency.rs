//! Listings request their pages several at a time once the first page has said how long the
//! listing is (`AdminClientBuilder::page_concurrency`), and list exactly what one page after the
//! other lists: every user once, in order; a push-back from Duo drops the walk to one request
//! at a time; an import still restarts when the account changes under it.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalIdentity, import};
use duo_auth::Credentials;
use duo_auth::runtime::{Runtime, SleepFuture};
use futures::TryStreamExt;
use idp_sandbox::{DuoApplication, Fault, FaultKind, Sandbox};

/// Duo's 429 schedule without its waits.
#[derive(Debug, Default)]
struct NoWait;

impl Runtime for NoWait {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, _: Duration) -> SleepFuture {
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.0
    }
}

const USERS: usize = 95;
const PAGE: u32 = 10;
const USERS_PATH: &str = "/admin/v1/users";

fn client(app: &DuoApplication, concurrency: usize, prefetch: bool) -> AdminClient {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    AdminClient::builder(creds)
        .loopback_http(true)
        .runtime(Arc::new(NoWait))
        .page_size(PAGE)
        .prefetch(prefetch)
        .page_concurrency(concurrency)
        .build()
        .unwrap()
}

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .seed(16)
        .users(USERS)
        .duo_users(USERS)
        .start()
        .await
        .unwrap()
}

async fn ids(admin: &AdminClient) -> Vec<String> {
    admin
        .users()
        .map_ok(|u| u.user_id)
        .try_collect()
        .await
        .unwrap()
}

/// With a bound of `n`, the pages after the first go out `n` at a time — the first `n` of them
/// are held at a barrier until all `n` have arrived, so a client that never has `n` in flight
/// fails the count (after the barrier's liveness timeout) — and never more: later pages are
/// slowed down, so that a client going past its bound would show it. The listing is the same
/// as one page after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_go_out_together_up_to_the_bound_and_list_the_same_users() {
    let sb = sandbox().await;
    let app = sb.credentials().duo.admin.clone();
    let expected: Vec<String> = sb.duo().users().into_iter().map(|u| u.user_id).collect();
    assert_eq!(expected.len(), USERS);
    assert_eq!(ids(&client(&app, 1, false)).await, expected);

    for bound in [1u32, 3, 8] {
        sb.faults().clear();
        sb.faults().inject(
            Fault::new(USERS_PATH, FaultKind::Barrier(bound))
                .after(1)
                .times(bound),
        );
        sb.faults().inject(Fault::new(
            USERS_PATH,
            FaultKind::Latency(Duration::from_millis(40)),
        ));
        sb.duo().reset_max_in_flight();
        let listed = ids(&client(&app, bound as usize, true)).await;
        assert_eq!(listed, expected, "bound {bound}: every user once, in order");
        assert_eq!(
            sb.duo().max_in_flight(),
            u64::from(bound),
            "bound {bound}: requests in flight at once"
        );
    }
    // Without prefetching there is one request at a time, whatever the bound.
    sb.faults().clear();
    sb.faults().inject(Fault::new(
        USERS_PATH,
        FaultKind::Latency(Duration::from_millis(20)),
    ));
    sb.duo().reset_max_in_flight();
    assert_eq!(ids(&client(&app, 8, false)).await, expected);
    assert_eq!(sb.duo().max_in_flight(), 1);
}

/// A 429 on the first page (waited out on Duo's schedule) leaves the rest of the walk one
/// request at a time, although the bound would allow eight; a 429 in the middle of the
/// concurrent pages costs a retry, not a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_back_leaves_one_request_at_a_time() {
    let sb = sandbox().await;
    let app = sb.credentials().duo.admin.clone();
    let expected: Vec<String> = sb.duo().users().into_iter().map(|u| u.user_id).collect();

    sb.faults()
        .inject(Fault::new(USERS_PATH, FaultKind::TooManyRequests).times(1));
    sb.faults().inject(Fault::new(
        USERS_PATH,
        FaultKind::Latency(Duration::from_millis(30)),
    ));
    sb.duo().reset_max_in_flight();
    assert_eq!(ids(&client(&app, 8, true)).await, expected);
    // The refused request, then ten pages one after the other (the first one again).
    assert_eq!(sb.faults().fired(USERS_PATH), 1 + 10);
    assert_eq!(sb.duo().max_in_flight(), 1, "after a 429, one at a time");

    // In the middle: the third and fourth requests are refused once each.
    sb.faults().clear();
    sb.faults().inject(
        Fault::new(USERS_PATH, FaultKind::TooManyRequests)
            .after(2)
            .times(2),
    );
    assert_eq!(ids(&client(&app, 8, true)).await, expected);

    // A page whose body arrives cut short is fetched again (the walk's own retry, not Duo's
    // 429 schedule): a push-back too, after which one request at a time.
    sb.faults().clear();
    sb.faults().inject(
        Fault::new(USERS_PATH, FaultKind::TruncatedBody)
            .after(3)
            .times(1),
    );
    assert_eq!(ids(&client(&app, 8, true)).await, expected);
    assert_eq!(sb.faults().fired(USERS_PATH), 1);
}

/// The account changing in the middle of a concurrent walk (a user created while pages are
/// held) still restarts the import, which then reads every user once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_restarts_when_the_account_changes_mid_walk() {
    let sb = sandbox().await;
    let app = sb.credentials().duo.admin.clone();
    let admin = client(&app, 4, true);
    // The first page goes through; the second waits until the account has changed (the
    // others go on meanwhile).
    sb.faults()
        .inject(Fault::new(USERS_PATH, FaultKind::Hold).after(1).times(1));
    let portal: Vec<PortalIdentity> = sb
        .duo()
        .users()
        .into_iter()
        .map(|u| PortalIdentity::new(u.username))
        .collect();
    let mut attempts = Vec::new();
    let options = ImportOptions::default();
    let walk = import(&admin, &portal, &options, |p| attempts.push(p.attempt));
    let change = async {
        sb.faults().until_held(USERS_PATH, 1).await;
        admin
            .create_user(&duo_admin::NewUser::new("added.mid.walk"))
            .await
            .unwrap();
        sb.faults().release(USERS_PATH);
    };
    let (report, ()) = futures::join!(walk, change);
    let report = report.unwrap();
    assert_eq!(report.duo_users, USERS + 1, "the new user is read, once");
    assert_eq!(report.matched.len(), USERS);
    assert_eq!(
        report
            .unmatched_duo
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["added.mid.walk"]
    );
    assert!(
        attempts.contains(&1),
        "the walk that saw the change was restarted: {attempts:?}"
    );
}

/// Dropping an import while eight of its page requests are held at the sandbox abandons all of
/// them, and nothing is sent afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_concurrent_walk_abandons_every_request() {
    let sb = sandbox().await;
    let app = sb.credentials().duo.admin.clone();
    let admin = client(&app, 8, true);
    let duo = sb.duo();
    sb.faults()
        .inject(Fault::new(USERS_PATH, FaultKind::Hold).after(1));
    let portal: Vec<PortalIdentity> = Vec::new();
    let options = ImportOptions::default();
    let before = duo.requests();
    {
        let mut run = std::pin::pin!(import(&admin, &portal, &options, |_| {}));
        let held = tokio::time::timeout(
            Duration::from_secs(30),
            sb.faults().until_held(USERS_PATH, 8),
        );
        tokio::select! {
            _ = run.as_mut() => panic!("the import finished while pages were held"),
            held = held => held.expect("eight pages are asked for at once"),
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while duo.in_flight() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "held requests abandoned"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Long enough for a walk that outlived its cancellation to show itself by another request;
    // a correct client sends none however long this is.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        duo.requests() - before,
        1,
        "only the first page was answered"
    );
    assert_eq!(duo.in_flight(), 0);
    assert_eq!(
        sb.faults().fired(USERS_PATH),
        8,
        "the eight held, nothing after"
    );
}

/// A push-back outlives the import's restart: after a 429 on the first page, the walk that
/// sees the account change and the walk that reads it again both go one request at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_back_holds_across_an_import_restart() {
    let sb = sandbox().await;
    let app = sb.credentials().duo.admin.clone();
    let admin = client(&app, 8, true);
    let victim = sb.duo().users()[0].username.clone();
    sb.faults()
        .inject(Fault::new(USERS_PATH, FaultKind::TooManyRequests).times(1));
    // Requests the 429 rule takes are not counted here: the first page's retry passes, the
    // second page is held.
    sb.faults()
        .inject(Fault::new(USERS_PATH, FaultKind::Hold).after(1).times(1));
    sb.faults().inject(Fault::new(
        USERS_PATH,
        FaultKind::Latency(Duration::from_millis(20)),
    ));
    sb.duo().reset_max_in_flight();
    let portal: Vec<PortalIdentity> = Vec::new();
    let options = ImportOptions::default();
    let mut attempts = Vec::new();
    let walk = import(&admin, &portal, &options, |p| attempts.push(p.attempt));
    let change = async {
        tokio::time::timeout(
            Duration::from_secs(30),
            sb.faults().until_held(USERS_PATH, 1),
        )
        .await
        .expect("the second page is held");
        assert!(sb.duo().delete_user(&victim));
        sb.faults().release(USERS_PATH);
    };
    let (report, ()) = futures::join!(walk, change);
    assert_eq!(report.unwrap().duo_users, USERS - 1);
    assert!(attempts.contains(&1), "restarted: {attempts:?}");
    assert_eq!(sb.duo().max_in_flight(), 1, "one at a time, both walks");
}
