//! The Admin API client against the sandbox: every read, paging, writes, faults.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use duo_admin::{AdminClient, Error, NewUser, UserStatus};
use duo_auth::Credentials;
use duo_auth::retry::RetryPolicy;
use duo_auth::runtime::{Runtime, SleepFuture};
use futures::TryStreamExt;
use idp_sandbox::{DuoApplication, Fault, FaultKind, Sandbox};

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

fn client(app: &DuoApplication, page_size: Option<u32>) -> AdminClient {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    let mut b = AdminClient::builder(creds)
        .loopback_http(true)
        .runtime(Arc::new(NoWait));
    if let Some(n) = page_size {
        b = b.page_size(n);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn reads_every_page_of_everything() {
    let sandbox = Sandbox::builder()
        .users(1_234)
        .groups(7)
        .start()
        .await
        .unwrap();
    let admin = client(&sandbox.credentials().duo.admin, None);
    let expected: Vec<String> = sandbox
        .duo()
        .users()
        .into_iter()
        .map(|u| u.user_id)
        .collect();

    let users: Vec<duo_admin::User> = admin.users().try_collect().await.unwrap();
    assert_eq!(
        users.iter().map(|u| u.user_id.clone()).collect::<Vec<_>>(),
        expected
    );
    // Smaller pages than Duo's maximum give the same users.
    let small: Vec<duo_admin::User> = client(&sandbox.credentials().duo.admin, Some(97))
        .users()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(small.len(), 1_234);
    assert_eq!(
        small
            .iter()
            .map(|u| &u.user_id)
            .collect::<HashSet<_>>()
            .len(),
        1_234
    );

    // Typed fields: statuses, aliases, phones with capabilities, tokens, WebAuthn.
    assert!(users.iter().any(|u| u.status == UserStatus::Bypass));
    assert!(users.iter().any(|u| u.status == UserStatus::LockedOut));
    let with_alias = users.iter().find(|u| !u.aliases.is_empty()).unwrap();
    assert!(users.iter().any(|u| {
        u.phones
            .iter()
            .any(|p| p.capabilities.contains(&duo_admin::Capability::Push))
    }));
    assert!(users.iter().any(|u| !u.tokens.is_empty()));
    assert!(users.iter().any(|u| !u.webauthncredentials.is_empty()));
    assert!(users.iter().any(|u| !u.is_enrolled));

    // Filters; username matches aliases.
    let found = admin
        .users_by_username(&with_alias.aliases[0])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user_id, with_alias.user_id);
    let by_email = admin
        .users_by_email(with_alias.email.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(by_email[0].user_id, with_alias.user_id);
    let names = vec![
        users[0].username.clone(),
        users[5].username.clone(),
        "nobody".into(),
    ];
    let listed: Vec<duo_admin::User> = admin
        .users_by_usernames(&names)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let ids = vec![users[3].user_id.clone()];
    let listed: Vec<duo_admin::User> = admin.users_by_ids(&ids).try_collect().await.unwrap();
    assert_eq!(listed[0].username, users[3].username);
    assert_eq!(
        admin.user(&users[9].user_id).await.unwrap().username,
        users[9].username
    );
    assert_eq!(
        admin.user("DUNOSUCHUSER").await.unwrap_err().duo_code(),
        Some(40401)
    );

    // Phones, groups, group members (v2, v5-signed), admins.
    let enrolled = users.iter().find(|u| !u.phones.is_empty()).unwrap();
    let phones: Vec<duo_admin::Phone> = admin
        .user_phones(&enrolled.user_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(phones.len(), enrolled.phones.len());
    let groups: Vec<duo_admin::Group> = admin.groups().try_collect().await.unwrap();
    assert_eq!(groups.len(), 7);
    let in_group = users.iter().find(|u| !u.groups.is_empty()).unwrap();
    let user_groups: Vec<duo_admin::Group> = admin
        .user_groups(&in_group.user_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(user_groups[0].group_id, in_group.groups[0].group_id);
    let members: Vec<duo_admin::GroupMember> = admin
        .group_members(&in_group.groups[0].group_id)
        .try_collect()
        .await
        .unwrap();
    let expected_members = users
        .iter()
        .filter(|u| {
            u.groups
                .iter()
                .any(|g| g.group_id == in_group.groups[0].group_id)
        })
        .count();
    assert_eq!(members.len(), expected_members);
    let all_phones: Vec<duo_admin::Phone> = admin.phones().try_collect().await.unwrap();
    assert_eq!(
        all_phones.len(),
        users.iter().map(|u| u.phones.len()).sum::<usize>()
    );
    assert!(all_phones.iter().all(|p| p.users.len() == 1));
    let admins: Vec<duo_admin::Admin> = admin.admins().try_collect().await.unwrap();
    assert!(admins.iter().any(|a| a.role.as_deref() == Some("Owner")));
    let read_only = client(&sandbox.credentials().duo.admin_read_only, None);
    let refused: Result<Vec<duo_admin::Admin>, Error> = read_only.admins().try_collect().await;
    assert_eq!(refused.unwrap_err().duo_code(), Some(40301));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn writes_create_users_and_memberships() {
    let sandbox = Sandbox::builder()
        .users(10)
        .groups(2)
        .start()
        .await
        .unwrap();
    let admin = client(&sandbox.credentials().duo.admin, None);
    let user = admin
        .create_user(&NewUser::new("new.hire").email("new.hire@example.com"))
        .await
        .unwrap();
    assert_eq!(user.username, "new.hire");
    let dup = admin
        .create_user(&NewUser::new("new.hire"))
        .await
        .unwrap_err();
    assert_eq!(dup.duo_code(), Some(40003));
    let created = admin
        .bulk_create(&[
            NewUser::new("bulk.one"),
            NewUser::new("bulk.two").realname("Bulk Two"),
        ])
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    let groups: Vec<duo_admin::Group> = admin.groups().try_collect().await.unwrap();
    admin
        .add_user_to_group(&user.user_id, &groups[1].group_id)
        .await
        .unwrap();
    let members: Vec<duo_admin::GroupMember> = admin
        .group_members(&groups[1].group_id)
        .try_collect()
        .await
        .unwrap();
    assert!(members.iter().any(|m| m.user_id == user.user_id));
    admin
        .enroll_user("emailed.user", "emailed@example.com")
        .await
        .unwrap();
    assert!(sandbox.duo().user("emailed.user").is_some());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn paging_survives_rate_limits_and_refuses_a_stuck_offset() {
    let sandbox = Sandbox::builder().users(700).start().await.unwrap();
    let app = sandbox.credentials().duo.admin.clone();
    let faults = sandbox.faults();

    // 429 bursts in the middle of a listing: retried, nothing lost or repeated.
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::TooManyRequests)
            .after(1)
            .times(3),
    );
    let users: Vec<duo_admin::User> = client(&app, None).users().try_collect().await.unwrap();
    assert_eq!(users.len(), 700);
    assert_eq!(
        users
            .iter()
            .map(|u| &u.user_id)
            .collect::<HashSet<_>>()
            .len(),
        700
    );
    assert_eq!(faults.fired("/admin/v1/users"), 3);

    // A 5xx, a truncated page and a cut connection mid-run: the page is fetched again (page
    // retries, default 2) and the listing completes, exactly.
    for kind in [
        FaultKind::ServerError(502),
        FaultKind::TruncatedBody,
        FaultKind::DropConnection,
    ] {
        faults.clear();
        faults.inject(
            Fault::new("/admin/v1/users", kind.clone())
                .after(1)
                .times(1),
        );
        let users: Vec<duo_admin::User> = client(&app, None).users().try_collect().await.unwrap();
        assert_eq!(users.len(), 700, "{kind:?}");
        assert_eq!(
            users
                .iter()
                .map(|u| &u.user_id)
                .collect::<HashSet<_>>()
                .len(),
            700
        );
    }
    // Without page retries the same 5xx fails the listing with a transient error.
    faults.clear();
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::ServerError(502))
            .after(1)
            .times(1),
    );
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    let strict = AdminClient::builder(creds.clone())
        .loopback_http(true)
        .runtime(Arc::new(NoWait))
        .page_retries(0)
        .build()
        .unwrap();
    let failed: Result<Vec<duo_admin::User>, Error> = strict.users().try_collect().await;
    assert!(
        matches!(failed, Err(Error::Duo(ref e)) if e.is_transient()),
        "{:?}",
        failed.map(|v| v.len())
    );
    // Or the retry policy itself may retry server errors.
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::ServerError(502))
            .after(1)
            .times(1),
    );
    let patient = AdminClient::builder(creds.clone())
        .loopback_http(true)
        .runtime(Arc::new(NoWait))
        .page_retries(0)
        .retry_policy(RetryPolicy {
            retry_server_errors: true,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let users: Vec<duo_admin::User> = patient.users().try_collect().await.unwrap();
    assert_eq!(users.len(), 700);

    // A server that repeats its offset is caught instead of looped on.
    faults.clear();
    faults.inject(
        Fault::new("/admin/v1/users", FaultKind::RepeatCursor)
            .after(1)
            .times(1),
    );
    let stuck: Result<Vec<duo_admin::User>, Error> = client(&app, None).users().try_collect().await;
    assert!(
        matches!(
            stuck,
            Err(Error::OffsetDidNotAdvance {
                offset: 300,
                next: 300,
                ..
            })
        ),
        "{stuck:?}"
    );

    // A user deleted between two pages: the listing goes on and nothing is repeated, but with
    // Duo's offset paging the first user of the next page shifts into the page already read and
    // is not seen — a hazard the stream cannot detect alone (the importer must re-check).
    // Plain paging, without prefetch: the next page is asked for only once this one is read,
    // so the deletion is certain to fall between the two (prefetched, later pages may already
    // have been fetched before it).
    faults.clear();
    let admin = AdminClient::builder(creds)
        .loopback_http(true)
        .runtime(Arc::new(NoWait))
        .page_size(100)
        .prefetch(false)
        .build()
        .unwrap();
    let mut stream = std::pin::pin!(admin.users());
    let mut seen = Vec::new();
    while let Some(u) = stream.try_next().await.unwrap() {
        seen.push(u.user_id.clone());
        if seen.len() == 150 {
            let first = sandbox.duo().users()[0].username.clone();
            assert!(sandbox.duo().delete_user(&first));
        }
    }
    assert_eq!(seen.len(), 699);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 699);
    sandbox.shutdown().await;
}

/// Records the waits it is asked for without waiting. Its clock is virtual: it stands still
/// but for those waits (the start, plus every wait asked for), so what the client is told to
/// wait does not depend on how long its requests take.
#[derive(Debug)]
struct Recorder {
    start: SystemTime,
    waits: std::sync::Mutex<Vec<Duration>>,
}

impl Recorder {
    fn new() -> Self {
        Self {
            start: SystemTime::now(),
            waits: std::sync::Mutex::default(),
        }
    }

    fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl Runtime for Recorder {
    fn now(&self) -> SystemTime {
        self.start + self.waits().iter().sum::<Duration>()
    }
    fn sleep(&self, d: Duration) -> SleepFuture {
        self.waits.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.0
    }
}

#[tokio::test]
async fn pacing_spaces_requests_per_endpoint_class() {
    let sandbox = Sandbox::builder().users(250).start().await.unwrap();
    let app = &sandbox.credentials().duo.admin;
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    let recorder = Arc::new(Recorder::new());
    let paced = AdminClient::builder(creds)
        .loopback_http(true)
        .runtime(recorder.clone())
        .page_size(50)
        .pacing(duo_admin::pacing::Pacing {
            reads_per_minute: 60,
            writes_per_minute: 6,
            logs_per_minute: 1,
        })
        .build()
        .unwrap();
    let users: Vec<duo_admin::User> = paced.users().try_collect().await.unwrap();
    assert_eq!(users.len(), 250);
    // Five pages at 60 reads/minute: the first at once, then each 1 s after the one before.
    let second = Duration::from_secs(1);
    assert_eq!(recorder.waits(), [second; 4]);
    // Writes are paced on their own budget: the first write is not held back by the reads;
    // the second waits its full 10 s slot (6 writes/minute).
    paced.create_user(&NewUser::new("paced.one")).await.unwrap();
    assert_eq!(recorder.waits(), [second; 4]);
    paced.create_user(&NewUser::new("paced.two")).await.unwrap();
    assert_eq!(
        recorder.waits(),
        [second, second, second, second, Duration::from_secs(10)]
    );
    sandbox.shutdown().await;
}
