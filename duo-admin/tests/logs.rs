//! The log walks, account information and the escape hatches against the sandbox: every event
//! exactly once across pages, faults and resumes; pacing as asked; a 100,000-event walk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use duo_admin::logs::{AuthLogCheckpoint, LogPacing, LogWindow};
use duo_admin::{AdminClient, AuthLogEvent, Error};
use duo_auth::Credentials;
use duo_auth::runtime::{Runtime, SleepFuture};
use futures::{StreamExt, TryStreamExt};
use idp_sandbox::{DuoApplication, Fault, FaultKind, Sandbox};

/// No waiting, and every wait asked for is recorded (pacing is checked by what was asked, never
/// by the clock): its clock stands at its creation and moves only by the waits asked for, so
/// the waits do not depend on how fast anything ran.
#[derive(Debug)]
struct Recorder {
    start: SystemTime,
    sleeps: Mutex<Vec<Duration>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            start: SystemTime::now(),
            sleeps: Mutex::default(),
        }
    }
}

impl Runtime for Recorder {
    fn now(&self) -> SystemTime {
        self.start + self.sleeps.lock().unwrap().iter().sum::<Duration>()
    }
    fn sleep(&self, d: Duration) -> SleepFuture {
        self.sleeps.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.0
    }
}

fn client_with(app: &DuoApplication, runtime: Arc<Recorder>, pacing: LogPacing) -> AdminClient {
    let creds = Credentials::new(
        app.integration_key.as_str(),
        app.secret_key.as_str(),
        app.api_host.as_str(),
    )
    .unwrap();
    AdminClient::builder(creds)
        .loopback_http(true)
        .runtime(runtime)
        .log_pacing(pacing)
        .build()
        .unwrap()
}

fn client(app: &DuoApplication) -> AdminClient {
    client_with(
        app,
        Arc::new(Recorder::default()),
        LogPacing::every(Duration::ZERO),
    )
}

fn txids(events: &[AuthLogEvent]) -> Vec<String> {
    events.iter().map(|e| e.txid.clone()).collect()
}

/// The sandbox's own log, as txids, in order.
fn expected_txids(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .duo()
        .auth_log()
        .iter()
        .map(|e| e["txid"].as_str().unwrap().to_owned())
        .collect()
}

fn whole_window() -> LogWindow {
    LogWindow::new(0, u64::MAX / 2)
}

#[tokio::test]
async fn the_authentication_log_walks_every_event_once_and_real_pushes_appear() {
    let sandbox = Sandbox::builder().users(30).start().await.unwrap();
    let (first, last) = sandbox.duo().generate_auth_log(2_500);
    // A push, a passcode and a wrong passcode through the Auth API: the log holds them.
    let auth_app = &sandbox.credentials().duo.auth;
    let auth = duo_auth::AuthClient::builder(
        Credentials::new(
            auth_app.integration_key.as_str(),
            auth_app.secret_key.as_str(),
            auth_app.api_host.as_str(),
        )
        .unwrap(),
    )
    .loopback_http(true)
    .build()
    .unwrap();
    let user = sandbox
        .duo()
        .users()
        .into_iter()
        .find(|u| u.status == "active" && !u.phones.is_empty())
        .unwrap();
    let who = duo_auth::client::UserRef::Username(user.username.clone());
    let options = duo_auth::client::AuthOptions::default();
    let pushed = auth
        .auth(
            &who,
            &duo_auth::client::Factor::Push(duo_auth::client::PushOptions::default()),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(pushed.result, duo_auth::client::AuthResult::Allow);
    auth.auth(
        &who,
        &duo_auth::client::Factor::Passcode(user.passcode.clone()),
        &options,
    )
    .await
    .unwrap();
    auth.auth(
        &who,
        &duo_auth::client::Factor::Passcode("000000x".into()),
        &options,
    )
    .await
    .unwrap();

    let admin = client(&sandbox.credentials().duo.admin);
    let events: Vec<AuthLogEvent> = admin
        .authentication_log(whole_window())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 2_503);
    assert_eq!(txids(&events), expected_txids(&sandbox));
    let real = &events[2_500..];
    let name = |e: &AuthLogEvent| e.user.as_ref().and_then(|u| u.name.clone());
    assert!(
        real.iter()
            .all(|e| name(e).as_deref() == Some(user.username.as_str()))
    );
    assert_eq!(real[0].factor.as_deref(), Some("duo_push"));
    assert_eq!(real[0].result.as_deref(), Some("success"));
    assert_eq!(real[1].factor.as_deref(), Some("passcode"));
    assert_eq!(real[2].result.as_deref(), Some("denied"));
    assert_eq!(real[2].reason.as_deref(), Some("invalid_passcode"));
    // The user's last login moved with the push, as Duo's does.
    let duo_user = admin.users_by_username(&user.username).await.unwrap();
    assert!(duo_user[0].last_login.is_some());

    // A window: both ends included (the generated events come three to a millisecond).
    let inner = LogWindow::new(first + 1_237, last - 1_237);
    let windowed: Vec<AuthLogEvent> = admin.authentication_log(inner).try_collect().await.unwrap();
    // 2,500 = 833 * 3 + 1: the first millisecond's three events and the last one's one are out.
    assert_eq!(windowed.len(), 2_500 - 4);
    assert_eq!(txids(&windowed), expected_txids(&sandbox)[3..2_499]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn faults_on_the_way_repeat_and_lose_nothing() {
    let sandbox = Sandbox::builder().users(10).start().await.unwrap();
    sandbox.duo().generate_auth_log(4_321);
    let expected = expected_txids(&sandbox);
    let path = "/admin/v2/logs/authentication";
    for kind in [
        FaultKind::TooManyRequests,
        FaultKind::ServerError(503),
        FaultKind::TruncatedBody,
        FaultKind::DropConnection,
        FaultKind::InvalidJson,
    ] {
        sandbox.faults().clear();
        // The 3rd page fails twice (the third answer is the page).
        sandbox
            .faults()
            .inject(Fault::new(path, kind.clone()).after(2).times(2));
        let admin = client(&sandbox.credentials().duo.admin);
        let events: Vec<AuthLogEvent> = admin
            .authentication_log(whole_window())
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(txids(&events), expected, "{kind:?}");
        assert_eq!(sandbox.faults().fired(path), 2, "{kind:?}");
    }
    // Past the page retries: the walk fails, and its checkpoint resumes it exactly.
    sandbox.faults().clear();
    sandbox.faults().inject(
        Fault::new(path, FaultKind::ServerError(500))
            .after(2)
            .times(3),
    );
    let admin = client(&sandbox.credentials().duo.admin);
    let mut walk = admin.authentication_log(whole_window());
    let mut got = Vec::new();
    let err = loop {
        match walk.next().await {
            Some(Ok(e)) => got.push(e),
            Some(Err(e)) => break e,
            None => panic!("the walk should have failed"),
        }
    };
    assert!(matches!(err, Error::Duo(_)), "{err}");
    assert_eq!(got.len(), 2_000);
    let checkpoint = walk.checkpoint();
    let rest: Vec<AuthLogEvent> = admin
        .authentication_log_from(checkpoint)
        .try_collect()
        .await
        .unwrap();
    got.extend(rest);
    assert_eq!(txids(&got), expected);

    // A cursor that does not advance is an error, not a loop.
    sandbox.faults().clear();
    sandbox
        .faults()
        .inject(Fault::new(path, FaultKind::RepeatCursor).after(1).times(1));
    let err = admin
        .authentication_log(whole_window())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CursorDidNotAdvance { .. }), "{err}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_checkpoint_resumes_exactly_anywhere() {
    let sandbox = Sandbox::builder().users(10).start().await.unwrap();
    sandbox.duo().generate_auth_log(2_100);
    let expected = expected_txids(&sandbox);
    let admin = client(&sandbox.credentials().duo.admin);
    // Stops inside a page, at its end, at the start of the next one, and at the very end.
    for stop in [0, 1, 999, 1_000, 1_001, 2_000, 2_099, 2_100] {
        let mut walk = admin.authentication_log(whole_window());
        let mut got = Vec::new();
        for _ in 0..stop {
            got.push(walk.try_next().await.unwrap().unwrap());
        }
        // Stored and read back as a caller would.
        let stored = serde_json::to_string(&walk.checkpoint()).unwrap();
        drop(walk);
        let checkpoint: AuthLogCheckpoint = serde_json::from_str(&stored).unwrap();
        assert_eq!(checkpoint.done, stop == 2_100, "stop {stop}");
        let rest: Vec<AuthLogEvent> = admin
            .authentication_log_from(checkpoint)
            .try_collect()
            .await
            .unwrap();
        got.extend(rest);
        assert_eq!(txids(&got), expected, "stop {stop}");
    }
    // A checkpoint whose page changed under it is refused, not trusted.
    let mut walk = admin.authentication_log(whole_window());
    walk.try_next().await.unwrap();
    let mut checkpoint = walk.checkpoint();
    checkpoint.last_txid = Some("not-this-one".into());
    let err = admin
        .authentication_log_from(checkpoint)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CheckpointMismatch { .. }), "{err}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn log_requests_are_paced_once_a_minute_by_default() {
    let sandbox = Sandbox::builder().users(5).start().await.unwrap();
    sandbox.duo().generate_auth_log(3_500);
    let runtime = Arc::new(Recorder::default());
    let admin = client_with(
        &sandbox.credentials().duo.admin,
        runtime.clone(),
        LogPacing::default(),
    );
    let n = admin
        .authentication_log(whole_window())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    assert_eq!(n, 3_500);
    // Four pages: the first at once, each next one a minute after the one before.
    let sleeps = runtime.sleeps.lock().unwrap().clone();
    assert_eq!(sleeps, [Duration::from_secs(60); 3], "the waits asked for");
    // The administrator log is paced on its own.
    runtime.sleeps.lock().unwrap().clear();
    let _ = admin
        .administrator_log(0, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(runtime.sleeps.lock().unwrap().is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_administrator_log_walks_same_second_events_exactly_once() {
    let sandbox = Sandbox::builder().users(20).start().await.unwrap();
    let first = sandbox.duo().generate_admin_log(2_600);
    let admin = client(&sandbox.credentials().duo.admin);
    // A write through the Admin API is logged after the generated history.
    admin
        .create_user(&duo_admin::NewUser::new("logged.hire"))
        .await
        .unwrap();
    let expected: Vec<serde_json::Value> = sandbox.duo().admin_log();
    assert_eq!(expected.len(), 2_601);
    let as_json = |events: &[duo_admin::AdminLogEvent]| -> Vec<serde_json::Value> {
        events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    };
    let all: Vec<duo_admin::AdminLogEvent> = admin
        .administrator_log(first, None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(as_json(&all), expected);
    let last = all.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.object.as_deref()),
        ("user_create", Some("logged.hire"))
    );
    // Identical twins in one second are both there.
    assert!(
        all.windows(2)
            .any(|w| w[0] == w[1] && w[0].timestamp == w[1].timestamp)
    );
    // Resumed anywhere, including inside a second split across two answers (1,000 = 333 * 3 + 1).
    for stop in [1, 2, 999, 1_000, 1_001, 1_002, 2_600] {
        let mut walk = admin.administrator_log(first, None);
        let mut got = Vec::new();
        for _ in 0..stop {
            got.push(walk.try_next().await.unwrap().unwrap());
        }
        let checkpoint = walk.checkpoint();
        drop(walk);
        got.extend(
            admin
                .administrator_log_from(checkpoint)
                .try_collect::<Vec<_>>()
                .await
                .unwrap(),
        );
        assert_eq!(as_json(&got), expected, "stop {stop}");
    }
    // A walk that caught up is a tail: its checkpoint picks up what is logged later.
    let mut walk = admin.administrator_log(first, None);
    while walk.try_next().await.unwrap().is_some() {}
    let checkpoint = walk.checkpoint();
    admin
        .create_user(&duo_admin::NewUser::new("later.hire"))
        .await
        .unwrap();
    let later: Vec<duo_admin::AdminLogEvent> = admin
        .administrator_log_from(checkpoint)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].object.as_deref(), Some("later.hire"));
    // A window's end is kept.
    let bounded: Vec<duo_admin::AdminLogEvent> = admin
        .administrator_log(first, Some(first + 9))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(bounded.len(), 30);
    // Faults on the way: nothing lost, nothing repeated.
    for kind in [
        FaultKind::TooManyRequests,
        FaultKind::ServerError(502),
        FaultKind::TruncatedBody,
    ] {
        sandbox.faults().clear();
        sandbox.faults().inject(
            Fault::new("/admin/v1/logs/administrator", kind.clone())
                .after(1)
                .times(2),
        );
        let got: Vec<duo_admin::AdminLogEvent> = admin
            .administrator_log(first, None)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(as_json(&got).len(), expected.len() + 1, "{kind:?}");
        assert_eq!(as_json(&got)[..expected.len()], expected[..], "{kind:?}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn summary_bypass_codes_desktop_authenticators_and_admins() {
    let sandbox = Sandbox::builder().users(40).start().await.unwrap();
    let admin = client(&sandbox.credentials().duo.admin);
    let summary = admin.info_summary().await.unwrap();
    assert_eq!(summary.user_count, Some(40));
    assert!(summary.admin_count.unwrap() >= 1);
    let users: Vec<duo_admin::User> = admin.users().try_collect().await.unwrap();
    let all_codes: Vec<duo_admin::BypassCode> = admin.bypass_codes().try_collect().await.unwrap();
    assert!(!all_codes.is_empty());
    let mut per_user = 0;
    for u in &users {
        let codes: Vec<duo_admin::BypassCode> = admin
            .user_bypass_codes(&u.user_id)
            .try_collect()
            .await
            .unwrap();
        assert!(
            codes
                .iter()
                .all(|c| c.user_id() == Some(u.user_id.as_str()))
        );
        per_user += codes.len();
    }
    assert_eq!(per_user, all_codes.len());
    let desktop: Vec<duo_admin::DesktopAuthenticator> =
        admin.desktop_authenticators().try_collect().await.unwrap();
    assert_eq!(desktop.len(), 10);
    assert!(desktop.iter().all(|d| {
        d.dakey.starts_with("DA")
            && users
                .iter()
                .any(|u| Some(u.user_id.as_str()) == d.user_id())
    }));
    let admins: Vec<duo_admin::Admin> = admin.admins_with_roles().try_collect().await.unwrap();
    assert!(admins.iter().all(|a| a.role.is_some()));
    // Logs and the summary need "Grant read information".
    let read_only = client(&sandbox.credentials().duo.admin_read_only);
    assert_eq!(
        read_only.info_summary().await.unwrap_err().duo_code(),
        Some(40301)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn escape_hatches_sign_page_and_stay_on_the_host() {
    let sandbox = Sandbox::builder().users(700).start().await.unwrap();
    let admin = client(&sandbox.credentials().duo.admin);
    // A typed read of any endpoint.
    #[derive(serde::Deserialize)]
    struct Summary {
        user_count: u64,
    }
    let s: Summary = admin.get("/admin/v1/info/summary", &[]).await.unwrap();
    assert_eq!(s.user_count, 700);
    // A paged stream of any listing, with the built-ins' paging (700 users at 300 a page).
    #[derive(serde::Deserialize)]
    struct Slim {
        user_id: String,
    }
    let slim: Vec<Slim> = admin
        .pages("/admin/v1/users", &[])
        .try_collect()
        .await
        .unwrap();
    let ids: HashSet<String> = slim.into_iter().map(|u| u.user_id).collect();
    assert_eq!(ids.len(), 700);
    let small: Vec<Slim> = admin
        .pages("/admin/v1/users", &[("limit", "111")])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(small.len(), 700);
    // Faults are retried there as in the built-in listings.
    sandbox.faults().inject(
        Fault::new("/admin/v1/users", FaultKind::TruncatedBody)
            .after(1)
            .times(1),
    );
    let again: Vec<Slim> = admin
        .pages("/admin/v1/users", &[])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(again.len(), 700);
    // Duo's errors come through typed.
    let missing = admin
        .get::<serde_json::Value>("/admin/v1/users/DUNOSUCHUSER", &[])
        .await
        .unwrap_err();
    assert_eq!(missing.duo_code(), Some(40401));
    // Nothing leaves the host: refused before anything is sent.
    let before = sandbox.duo().requests();
    for bad in [
        "https://evil.example/admin/v1/users",
        "//evil.example/admin/v1/users",
        "admin/v1/users",
        "/admin/v1/users?limit=1",
        "/admin/v1/../v2/users",
        "/admin/v1/users#x",
        "",
    ] {
        let e = admin.get::<serde_json::Value>(bad, &[]).await.unwrap_err();
        assert!(matches!(e, Error::InvalidPath { .. }), "{bad}: {e}");
        let e = admin
            .pages::<serde_json::Value>(bad, &[])
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidPath { .. }), "{bad}: {e}");
    }
    assert_eq!(sandbox.duo().requests(), before);
    sandbox.shutdown().await;
}

/// The 100,000-event walk: every event once, in order, through 100 pages of 1,000. Prints the
/// rate (a figure for the report, never asserted: tests do not depend on speed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_event_walk() {
    let sandbox = Sandbox::builder().users(200).start().await.unwrap();
    sandbox.duo().generate_auth_log(100_000);
    let admin = client(&sandbox.credentials().duo.admin);
    let started = std::time::Instant::now();
    let mut walk = admin.authentication_log(whole_window());
    let mut seen = HashSet::with_capacity(100_000);
    let mut previous: Option<(u64, String)> = None;
    while let Some(event) = walk.try_next().await.unwrap() {
        let key = (event.timestamp, event.txid.clone());
        if let Some(p) = &previous {
            assert!(p.0 <= key.0, "in time order");
        }
        assert!(seen.insert(event.txid), "every event once");
        previous = Some(key);
    }
    let elapsed = started.elapsed();
    assert_eq!(seen.len(), 100_000);
    assert!(walk.checkpoint().done);
    println!(
        "100,000 authentication-log events in {:.2} s: {:.0} events/s ({} build)",
        elapsed.as_secs_f64(),
        100_000.0 / elapsed.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    sandbox.shutdown().await;
}
