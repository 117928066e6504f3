//! Importing Duo users into a portal, and the access review, against the sandbox.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use duo_admin::AdminClient;
use duo_admin::import::{Conflict, DuoRef, ImportOptions, MatchedBy, PortalIdentity, import};
use duo_admin::review::AccessReview;
use duo_auth::Credentials;
use duo_auth::runtime::{Runtime, SleepFuture};
use idp_sandbox::{DuoApplication, Fault, FaultKind, Sandbox};
use test_support::wait::eventually;

#[derive(Debug)]
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

fn client(app: &DuoApplication) -> AdminClient {
    client_with(app, duo_admin::DEFAULT_PAGE_CONCURRENCY)
}

/// A client with this many page requests in flight at most; 1 requests each page once the
/// body of the one before has arrived, which the tests that count pages ahead rely on
/// (tests/page_concurrency.rs covers the concurrent walk).
fn client_with(app: &DuoApplication, page_concurrency: usize) -> AdminClient {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    AdminClient::builder(creds)
        .loopback_http(true)
        .runtime(Arc::new(NoWait))
        .page_concurrency(page_concurrency)
        .build()
        .unwrap()
}

/// A portal with one user per Duo user, by username.
fn portal_of_usernames(duo: &idp_sandbox::DuoAccount) -> Vec<PortalIdentity> {
    duo.users()
        .into_iter()
        .map(|u| PortalIdentity::new(u.username))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_ten_thousand_users_exactly_through_faults() {
    let sandbox = Sandbox::builder()
        .users(10_000)
        .groups(12)
        .start()
        .await
        .unwrap();
    let duo = sandbox.duo();
    // Two Duo users share an alias: a portal user with that name is ambiguous.
    let users = duo.users();
    assert!(duo.add_alias(&users[1].username, "shared.alias"));
    assert!(duo.add_alias(&users[3].username, "shared.alias"));
    let users = duo.users();

    // The portal: most by username, some by alias, some by email only, one explicit mapping,
    // two portal users claiming one Duo user by email, one ambiguous alias, extras Duo lacks.
    let mut portal = Vec::new();
    let mut expected_by = std::collections::HashMap::new();
    for (i, u) in users.iter().enumerate().skip(10) {
        let (name, email, how) = match i % 10 {
            2 if !u.aliases.is_empty() => (u.aliases[0].to_uppercase(), None, MatchedBy::Alias),
            1 => (
                format!("portal-{i}"),
                Some(u.email.clone()),
                MatchedBy::Email,
            ),
            3 if i == 13 => ("root".to_owned(), None, MatchedBy::Explicit),
            _ => (u.username.clone(), None, MatchedBy::Username),
        };
        expected_by.insert(name.to_lowercase(), (u.user_id.clone(), how));
        let identity = PortalIdentity::new(name);
        portal.push(match email {
            Some(email) => identity.email(email),
            None => identity,
        });
    }
    portal.push(PortalIdentity::new("twin-a").email(users[5].email.clone()));
    portal.push(PortalIdentity::new("twin-b").email(users[5].email.to_uppercase()));
    portal.push(PortalIdentity::new("shared.alias"));
    portal.push(PortalIdentity::new("only.in.portal").email("nobody@example.org"));
    let options =
        ImportOptions::default().explicit("ROOT", DuoRef::UserId(users[13].user_id.clone()));

    // Faults mid-run: a burst of 429s, a 5xx, a truncated page.
    let faults = sandbox.faults();
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::TooManyRequests)
            .after(3)
            .times(4),
    );
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::ServerError(503))
            .after(10)
            .times(1),
    );
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::TruncatedBody)
            .after(20)
            .times(1),
    );
    let mut pages = 0;
    let report = import(
        &client(&sandbox.credentials().duo.admin),
        &portal,
        &options,
        |p| pages = p.pages,
    )
    .await
    .unwrap();
    assert_eq!(faults.fired("/admin/v1/users"), 6, "every fault fired");
    assert_eq!(pages, 34);
    assert_eq!(report.duo_users, 10_000);

    // Every Duo user exactly once: matched ∪ unmatched ∪ conflicted = all, disjoint.
    let matched: HashSet<&str> = report
        .matched
        .iter()
        .map(|m| m.duo_user_id.as_str())
        .collect();
    let unmatched: HashSet<&str> = report
        .unmatched_duo
        .iter()
        .map(|u| u.user_id.as_str())
        .collect();
    assert_eq!(
        matched.len(),
        report.matched.len(),
        "no Duo user matched twice"
    );
    assert!(matched.is_disjoint(&unmatched));
    for m in &report.matched {
        let (id, how) = &expected_by[&m.portal_username.to_lowercase()];
        assert_eq!(
            (&m.duo_user_id, m.matched_by),
            (id, *how),
            "{}",
            m.portal_username
        );
    }
    assert_eq!(report.matched.len(), 9_990);
    assert!(
        report
            .matched
            .iter()
            .any(|m| m.matched_by == MatchedBy::Alias)
    );
    assert!(
        report
            .matched
            .iter()
            .any(|m| m.matched_by == MatchedBy::Email)
    );
    assert_eq!(
        report
            .matched
            .iter()
            .filter(|m| m.matched_by == MatchedBy::Explicit)
            .count(),
        1
    );
    // Authenticators come along.
    let with_phone = report
        .matched
        .iter()
        .find(|m| {
            m.authenticators
                .iter()
                .any(|a| matches!(a, duo_admin::import::Authenticator::Phone { .. }))
        })
        .unwrap();
    assert!(!with_phone.authenticators.is_empty());
    assert!(report.matched.iter().any(|m| {
        m.authenticators
            .iter()
            .any(|a| matches!(a, duo_admin::import::Authenticator::WebAuthn { .. }))
    }));
    // Groups too: the sandbox puts two users in three in a group.
    let index: std::collections::HashMap<&str, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.user_id.as_str(), i))
        .collect();
    for m in &report.matched {
        let i = index[m.duo_user_id.as_str()];
        assert_eq!(
            m.groups.len(),
            usize::from(!i.is_multiple_of(3)),
            "{}",
            m.duo_username
        );
        assert!(
            m.groups
                .iter()
                .all(|g| g.group_id.starts_with("DG") && !g.name.is_empty())
        );
    }

    // Conflicts, never a silent pick.
    assert!(
        report
            .conflicts
            .contains(&Conflict::DuoUserMatchedBySeveral {
                duo_user_id: users[5].user_id.clone(),
                portal_usernames: vec!["twin-a".into(), "twin-b".into()],
            })
    );
    assert!(report.conflicts.iter().any(|c| matches!(c, Conflict::PortalUserMatchesSeveral { portal_username, duo_user_ids } if portal_username == "shared.alias" && duo_user_ids.len() == 2)));
    assert_eq!(report.unmatched_portal, vec!["only.in.portal".to_owned()]);
    // Duo users 0..10 are not in the portal; user 5 is claimed twice, so it is a conflict, not
    // "unmatched": 9 + 9,990 matched + 1 conflicted = every user.
    assert_eq!(unmatched.len(), 9);
    assert!(
        !unmatched.contains(users[5].user_id.as_str())
            && !matched.contains(users[5].user_id.as_str())
    );

    // Stable: the same import twice serializes identically.
    let again = import(
        &client(&sandbox.credentials().duo.admin),
        &portal,
        &options,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&report).unwrap()
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_mid_walk_restarts_the_walk() {
    // Ten pages, one request at a time: the walk prefetches at most five beyond the one it
    // hands over, so the last pages are requested after the deletion and see Duo's count change.
    let sandbox = Sandbox::builder().users(3_000).start().await.unwrap();
    let duo = sandbox.duo();
    let portal = portal_of_usernames(&duo);
    let victim = duo.users()[0].username.clone();
    let mut deleted = false;
    let mut attempts = HashSet::new();
    let report = import(
        &client_with(&sandbox.credentials().duo.admin, 1),
        &portal,
        &ImportOptions::default(),
        |p| {
            attempts.insert(p.attempt);
            if p.pages == 1 && !deleted {
                deleted = duo.delete_user(&victim);
            }
        },
    )
    .await
    .unwrap();
    assert!(deleted);
    assert_eq!(attempts.len(), 2, "the walk started again");
    assert_eq!(
        report.duo_users, 2_999,
        "every remaining user, none hidden by the shift"
    );
    assert_eq!(report.matched.len(), 2_999);
    assert_eq!(report.unmatched_portal, vec![victim]);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_review_snapshot_and_official_client_agree() {
    let sandbox = Sandbox::builder()
        .users(640)
        .groups(6)
        .start()
        .await
        .unwrap();
    let admin = client(&sandbox.credentials().duo.admin);
    let review = AccessReview::read(&admin).await.unwrap();
    assert_eq!(review.users.len(), 640);
    assert!(review.users.windows(2).all(|w| w[0].user_id < w[1].user_id));
    assert_eq!(review.groups.len(), 6);
    assert!(review.admins.iter().any(|a| a.role == "Owner"));
    let users_csv = review.users_csv().unwrap();
    assert_eq!(users_csv.lines().count(), 641);
    assert!(users_csv.starts_with(
        "user_id,username,realname,email,status,is_enrolled,last_login,authenticators"
    ));
    assert!(users_csv.contains("locked out"));
    let expected_memberships: usize = sandbox.duo().users().len()
        - sandbox
            .duo()
            .users()
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 0)
            .count();
    assert_eq!(review.memberships.len(), expected_memberships);
    assert_eq!(
        review.memberships_csv().unwrap().lines().count(),
        expected_memberships + 1
    );
    assert_eq!(
        AccessReview::read(&admin).await.unwrap().to_json(),
        review.to_json(),
        "stable"
    );
    let json: serde_json::Value = serde_json::from_str(&review.to_json()).unwrap();
    assert_eq!(json["users"].as_array().unwrap().len(), 640);

    // The official Python client lists the same users in the same order as we do.
    if let Some(python) = test_support::peer_python(
        "access_review_snapshot_and_official_client_agree",
        &["duo_client"],
    ) {
        let app = sandbox.credentials().duo.admin.clone();
        let script = test_support::workspace_root().join("duo-admin/tests/peers/get_users.py");
        let out = tokio::task::spawn_blocking(move || {
            test_support::run_peer(
                &python,
                &script,
                serde_json::to_string(&app).unwrap().as_bytes(),
            )
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        let ours: Vec<String> = {
            use futures::TryStreamExt;
            admin
                .users()
                .map_ok(|u| u.user_id)
                .try_collect()
                .await
                .unwrap()
        };
        assert_eq!(theirs.len(), 640);
        assert_eq!(theirs, ours);
    }
    sandbox.shutdown().await;
}

/// Long enough for a walk that outlived its cancellation to show itself by another request. A
/// correct client sends none however long this is, so it decides nothing about one.
const QUIET: Duration = Duration::from_millis(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_import_cancels_it_and_the_client_stays_usable() {
    // 3,000 users: ten pages of 300. The fourth page is held at the sandbox, so when the import
    // is dropped it is certainly mid-run: three pages answered, the fourth in flight.
    let sandbox = Sandbox::builder().users(3_000).start().await.unwrap();
    let duo = sandbox.duo();
    let portal = portal_of_usernames(&duo);
    let faults = sandbox.faults();
    faults.inject(Fault::new("/admin/v1/users", FaultKind::Hold).after(3));
    // One request at a time, so that exactly one is held (tests/page_concurrency.rs drops a
    // walk with eight held).
    let admin = client_with(&sandbox.credentials().duo.admin, 1);
    let options = ImportOptions::default();

    let before = duo.requests();
    let mut pages = 0;
    {
        let mut run = std::pin::pin!(import(&admin, &portal, &options, |p| pages = p.pages));
        let held = tokio::time::timeout(
            Duration::from_secs(30),
            faults.until_held("/admin/v1/users", 1),
        );
        tokio::select! {
            _ = run.as_mut() => panic!("the import finished while a page was held"),
            held = held => held.expect("the fourth page is asked for"),
        }
    }
    assert!(pages <= 3, "dropped mid-run, after {pages} pages");

    // The dropped import abandons its request: the sandbox sees the client hang up and drops
    // the held request (an import still running would keep it held). Nothing else was sent.
    eventually("the held page is abandoned", || duo.in_flight() == 0).await;
    assert_eq!(duo.requests() - before, 3, "three pages were answered");
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        (duo.requests() - before, duo.in_flight()),
        (3, 0),
        "no request reaches the sandbox after the import is dropped"
    );
    assert_eq!(faults.fired("/admin/v1/users"), 1, "the fourth page only");

    // The same client then imports everything, with one request per page (prefetching asks
    // for no page twice and for none past the last).
    faults.clear();
    let before = duo.requests();
    let report = import(&admin, &portal, &options, |_| {}).await.unwrap();
    assert_eq!(report.duo_users, 3_000);
    assert_eq!(report.matched.len(), 3_000);
    assert_eq!(duo.requests() - before, 10);

    // Dropping a listing stream part-way through is a cancellation too. The stream asks for the
    // second page on its own (prefetch) while the first is in hand; that request is held.
    faults.inject(Fault::new("/admin/v1/users", FaultKind::Hold).after(1));
    let before = duo.requests();
    {
        use futures::StreamExt;
        let mut users = std::pin::pin!(admin.user_pages());
        let first = users.next().await.unwrap().unwrap();
        assert_eq!(first.items.len(), 300);
        tokio::time::timeout(
            Duration::from_secs(30),
            faults.until_held("/admin/v1/users", 1),
        )
        .await
        .expect("the second page is asked for");
    }
    eventually("the held page is abandoned", || duo.in_flight() == 0).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!((duo.requests() - before, duo.in_flight()), (1, 0));
    assert_eq!(faults.fired("/admin/v1/users"), 1, "the second page only");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_importers_own_reading_matches_like_whole_users() {
    // `import` reads only what it uses of each user; `match_users` over whole `User`s must give
    // the same report.
    let sandbox = Sandbox::builder().users(700).start().await.unwrap();
    let duo = sandbox.duo();
    let users = duo.users();
    assert!(duo.add_alias(&users[1].username, "shared.alias"));
    assert!(duo.add_alias(&users[3].username, "shared.alias"));
    let mut portal: Vec<PortalIdentity> = users
        .iter()
        .enumerate()
        .skip(5)
        .map(|(i, u)| {
            if i % 7 == 0 {
                PortalIdentity::new(format!("other-{i}")).email(u.email.clone())
            } else {
                PortalIdentity::new(u.username.to_uppercase())
            }
        })
        .collect();
    portal.push(PortalIdentity::new("shared.alias"));
    let options =
        ImportOptions::default().explicit("x", DuoRef::Username(users[2].username.clone()));
    let admin = client(&sandbox.credentials().duo.admin);
    let imported = import(&admin, &portal, &options, |_| {}).await.unwrap();
    let whole = duo_admin::import::all_users(&admin, 2, |_| {})
        .await
        .unwrap();
    let matched = duo_admin::import::match_users(&whole, &portal, &options);
    assert_eq!(imported, matched);
    assert!(imported.matched.iter().any(|m| !m.groups.is_empty()));
    assert!(!imported.conflicts.is_empty());
    assert!(
        imported
            .matched
            .iter()
            .any(|m| m.matched_by == MatchedBy::Email)
    );
    sandbox.shutdown().await;
}
