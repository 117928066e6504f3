//! Access-review reads against the sandbox: users with search, filter and `lastLogin`, one user,
//! a user's groups, the System Log (walk and poll) consistent with what happened, app
//! assignments, and the escape hatches — with every auth type, across pages and faults, every
//! record exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Recorder;

use std::collections::HashSet;
use std::sync::Arc;

use futures::TryStreamExt as _;
use idp_sandbox::okta::OktaServiceApp;
use idp_sandbox::{Fault, FaultKind, Sandbox};
use okta_client::access::{LogQuery, UserQuery};
use okta_client::key::PrivateKey;
use okta_client::{ApiToken, Dpop, Error, OktaClient, OktaDomain, PrivateKeyJwt, User};

async fn sandbox(users: usize) -> Sandbox {
    Sandbox::builder()
        .seed(5)
        .users(users)
        .groups(6)
        .start()
        .await
        .unwrap()
}

fn domain(sb: &Sandbox) -> OktaDomain {
    sb.credentials().okta.org_url.parse().unwrap()
}

fn no_wait(b: okta_client::OktaClientBuilder) -> OktaClient {
    b.runtime(Arc::new(Recorder::default())).build().unwrap()
}

fn ssws(sb: &Sandbox) -> OktaClient {
    no_wait(OktaClient::builder(
        domain(sb),
        ApiToken::new(&sb.credentials().okta.api_token).unwrap(),
    ))
}

fn pkjwt(app: &OktaServiceApp) -> PrivateKeyJwt {
    let key = PrivateKey::from_jwk(&app.key.private_jwk).unwrap();
    PrivateKeyJwt::builder(&app.client_id, key)
        .scopes(&app.scopes)
        .build()
        .unwrap()
}

fn bearer(sb: &Sandbox) -> OktaClient {
    no_wait(OktaClient::builder(
        domain(sb),
        pkjwt(&sb.credentials().okta.bearer_rsa),
    ))
}

fn dpop(sb: &Sandbox) -> OktaClient {
    let creds = Dpop::builder(pkjwt(&sb.credentials().okta.dpop_rsa))
        .build()
        .unwrap();
    no_wait(OktaClient::builder(domain(sb), creds))
}

fn ids(users: &[User]) -> Vec<String> {
    users.iter().map(|u| u.id.clone()).collect()
}

#[tokio::test]
async fn users_search_filter_paging_and_faults() {
    let sb = sandbox(450).await;
    let all: Vec<String> = sb.okta().users().into_iter().map(|u| u.id).collect();
    for client in [ssws(&sb), bearer(&sb), dpop(&sb)] {
        // 450 users at 200 a page: three pages, every user once, in order.
        let users = client.users(&UserQuery::new()).await.unwrap();
        assert_eq!(ids(&users), all);
        let small = client.users(&UserQuery::new().limit(7)).await.unwrap();
        assert_eq!(ids(&small), all);
    }
    let client = ssws(&sb);
    // search / filter.
    let active = client
        .users(&UserQuery::new().search(r#"status eq "ACTIVE""#).limit(50))
        .await
        .unwrap();
    let expected_active: Vec<String> = sb
        .okta()
        .users()
        .into_iter()
        .filter(|u| u.status.as_str() == "ACTIVE")
        .map(|u| u.id)
        .collect();
    assert_eq!(ids(&active), expected_active);
    let someone = &sb.okta().users()[17];
    let by_login = client
        .users(&UserQuery::new().filter(format!(r#"profile.login eq "{}""#, someone.login)))
        .await
        .unwrap();
    assert_eq!(ids(&by_login), std::slice::from_ref(&someone.id));
    let recent = client
        .users(&UserQuery::new().search(r#"lastUpdated gt "2021-01-01T00:00:00.000Z""#))
        .await
        .unwrap();
    assert!(
        recent
            .iter()
            .all(|u| u.last_updated().unwrap() > "2021-01-01T00:00:00.000Z")
    );
    assert!(!recent.is_empty() && recent.len() < 450);
    // What the sandbox does not support is Okta's E0000031, typed.
    for bad in [
        r#"status eq"#,
        r#"profile.nickName eq "x""#,
        r#"status zz "A""#,
    ] {
        let err = client
            .users(&UserQuery::new().search(bad))
            .await
            .unwrap_err();
        assert_eq!(err.okta_error_code(), Some("E0000031"), "{bad}: {err}");
    }
    // Okta's maximum is refused before sending.
    let err = client
        .users(&UserQuery::new().limit(201))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    // Faults: 429, 5xx, truncated bodies on the second page; every user once.
    for kind in [
        FaultKind::TooManyRequests,
        FaultKind::ServerError(503),
        FaultKind::TruncatedBody,
    ] {
        sb.faults().clear();
        sb.faults()
            .inject(Fault::new("/api/v1/users", kind.clone()).after(1).times(2));
        let users = client.users(&UserQuery::new().limit(100)).await.unwrap();
        assert_eq!(ids(&users), all, "{kind:?}");
        assert_eq!(sb.faults().fired("/api/v1/users"), 2);
    }
    sb.faults().clear();
    // One user, by id and by login; a user's groups.
    let u = client.user(&someone.id).await.unwrap();
    assert_eq!(u.profile.login, someone.login);
    assert_eq!(client.user(&someone.login).await.unwrap().id, someone.id);
    let groups = client.user_groups(&someone.id).await.unwrap();
    let expected: HashSet<String> = sb
        .okta()
        .groups()
        .into_iter()
        .filter(|g| {
            sb.okta()
                .members(&g.id)
                .unwrap()
                .iter()
                .any(|m| m.id == someone.id)
        })
        .map(|g| g.id)
        .collect();
    assert_eq!(
        groups.iter().map(|g| g.id.clone()).collect::<HashSet<_>>(),
        expected
    );
    assert!(groups.iter().any(|g| g.profile.name == "Everyone"));
    let missing = client.user("00unosuchuser").await.unwrap_err();
    assert_eq!(missing.okta_error_code(), Some("E0000007"));
    sb.shutdown().await;
}

#[tokio::test]
async fn sign_ins_and_token_grants_are_in_the_system_log_and_last_login() {
    let sb = sandbox(60).await;
    let someone = sb
        .okta()
        .users()
        .into_iter()
        .find(|u| u.status.as_str() == "ACTIVE")
        .unwrap();
    // A token grant (the bearer client fetches one), then two sign-ins.
    let client = bearer(&sb);
    let before = client.user(&someone.id).await.unwrap();
    assert!(sb.okta().record_sign_in(&someone.login, true, true));
    assert!(sb.okta().record_sign_in(&someone.id, false, true));
    let after = client.user(&someone.id).await.unwrap();
    assert!(after.last_login().is_some());
    assert_ne!(after.last_login(), before.last_login());

    let events = client
        .system_log(&LogQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "app.oauth2.as.token.grant.access_token",
            "user.authentication.sso",
            "user.session.start"
        ]
    );
    let grant = &events[0];
    assert_eq!(
        grant.actor.as_ref().unwrap().id.as_deref(),
        Some(sb.credentials().okta.bearer_rsa.client_id.as_str())
    );
    let sso = &events[1];
    assert_eq!(
        sso.actor.as_ref().unwrap().alternate_id.as_deref(),
        Some(someone.login.as_str())
    );
    let (app_id, _) = sb.okta().portal_app().unwrap();
    assert_eq!(
        sso.target.as_ref().unwrap()[0].id.as_deref(),
        Some(app_id.as_str())
    );
    assert_eq!(
        sso.outcome.as_ref().unwrap().result.as_deref(),
        Some("SUCCESS")
    );
    // The user's lastLogin is the sign-in's time, as the log published it.
    assert_eq!(after.last_login(), Some(events[2].published.as_str()));
    // filter and q.
    let sso_only: Vec<_> = client
        .system_log(&LogQuery::new().filter(r#"eventType eq "user.authentication.sso""#))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sso_only.len(), 1);
    let by_keyword: Vec<_> = client
        .system_log(&LogQuery::new().q(&someone.login))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_keyword.len(), 2);
    let err = client
        .system_log(&LogQuery::new().filter(r#"nonsense.attr eq "x""#))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.okta_error_code(), Some("E0000031"));
    let err = client
        .system_log(&LogQuery::new().limit(1001))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)));
    sb.shutdown().await;
}

#[tokio::test]
async fn the_system_log_walks_pages_and_faults_once_and_polls_with_after() {
    let sb = sandbox(30).await;
    let users = sb.okta().users();
    for i in 0..250 {
        sb.okta()
            .record_sign_in(&users[i % 30].id, i % 2 == 0, true);
    }
    // The client's token grant is logged too: fetch it first.
    let client = dpop(&sb);
    client.user(&users[0].id).await.unwrap();
    let expected: Vec<String> = sb
        .okta()
        .system_log()
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 251);
    let uuids = |events: &[okta_client::LogEvent]| -> Vec<String> {
        events.iter().map(|e| e.uuid.clone()).collect()
    };
    for kind in [
        None,
        Some(FaultKind::TooManyRequests),
        Some(FaultKind::ServerError(500)),
        Some(FaultKind::TruncatedBody),
        Some(FaultKind::DropConnection),
    ] {
        sb.faults().clear();
        if let Some(k) = &kind {
            sb.faults()
                .inject(Fault::new("/api/v1/logs", k.clone()).after(2).times(2));
        }
        let events: Vec<_> = client
            .system_log(&LogQuery::new().limit(40))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(uuids(&events), expected, "{kind:?}");
    }
    sb.faults().clear();
    // A bounded window: `until` ends the walk without an empty page.
    let last = sb.okta().system_log()[99]["published"]
        .as_str()
        .unwrap()
        .to_owned();
    let bounded: Vec<_> = client
        .system_log(&LogQuery::new().until(last.clone()).limit(30))
        .try_collect()
        .await
        .unwrap();
    assert!(bounded.iter().all(|e| e.published < last));

    // Polling: the cursor always moves on, an empty poll keeps it, new events come once.
    let mut poll = client.poll_system_log(&LogQuery::new().limit(100)).unwrap();
    let mut got = Vec::new();
    loop {
        let batch = poll.poll().await.unwrap();
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    assert_eq!(uuids(&got), expected);
    assert!(poll.poll().await.unwrap().is_empty());
    // Stored, resumed elsewhere, and new events arrive exactly once.
    let stored = poll.cursor().to_owned();
    sb.okta().record_sign_in(&users[3].id, true, false);
    let mut resumed = client.resume_system_log(&stored).unwrap();
    let new = resumed.poll().await.unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(
        new[0].outcome.as_ref().unwrap().result.as_deref(),
        Some("FAILURE")
    );
    assert!(resumed.poll().await.unwrap().is_empty());
    // A fault during a poll leaves the cursor where it was.
    sb.okta().record_sign_in(&users[4].id, true, true);
    sb.faults()
        .inject(Fault::new("/api/v1/logs", FaultKind::ServerError(500)).times(10));
    let cursor = resumed.cursor().to_owned();
    assert!(resumed.poll().await.is_err());
    assert_eq!(resumed.cursor(), cursor);
    sb.faults().clear();
    assert_eq!(resumed.poll().await.unwrap().len(), 1);
    // A cursor off the org is refused.
    assert!(
        client
            .resume_system_log("https://evil.example/api/v1/logs")
            .is_err()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn app_assignments_list_who_can_reach_the_portal() {
    let sb = sandbox(400).await;
    let (app_id, group_ids) = sb.okta().portal_app().unwrap();
    assert_eq!(group_ids.len(), 2);
    let mut expected: Vec<String> = Vec::new();
    for u in sb.okta().users() {
        let member = group_ids
            .iter()
            .any(|g| sb.okta().members(g).unwrap().iter().any(|m| m.id == u.id));
        if member && u.status.as_str() != "DEPROVISIONED" {
            expected.push(u.id);
        }
    }
    assert!(expected.len() > 50, "{}", expected.len());
    for client in [ssws(&sb), bearer(&sb), dpop(&sb)] {
        let groups: Vec<_> = client
            .list_app_groups(&app_id, Some(1))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
            group_ids
        );
        let users: Vec<_> = client
            .list_app_users(&app_id, Some(37))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            expected
        );
        assert!(
            users
                .iter()
                .all(|u| u.scope.as_deref() == Some("GROUP") && u.user_name().is_some())
        );
    }
    let client = ssws(&sb);
    sb.faults().inject(
        Fault::new("/api/v1/apps", FaultKind::TruncatedBody)
            .after(1)
            .times(1),
    );
    let users: Vec<_> = client
        .list_app_users(&app_id, None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), expected.len());
    let err = client
        .list_app_users(&app_id, Some(501))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)));
    let err = client
        .list_app_groups("0oanosuchapp", None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.okta_error_code(), Some("E0000007"));
    sb.shutdown().await;
}

#[tokio::test]
async fn escape_hatches_use_the_same_auth_paging_and_stay_on_the_org() {
    let sb = sandbox(300).await;
    let everyone = sb.okta().groups()[0].id.clone();
    for client in [ssws(&sb), bearer(&sb), dpop(&sb)] {
        let group: serde_json::Value = client
            .get(&format!("/api/v1/groups/{everyone}"), &[])
            .await
            .unwrap();
        assert_eq!(group["profile"]["name"], "Everyone");
        // Link paging, 300 members at 64 a page.
        let members: Vec<serde_json::Value> = client
            .pages(
                &format!("/api/v1/groups/{everyone}/users"),
                &[("limit", "64")],
            )
            .try_collect()
            .await
            .unwrap();
        assert_eq!(members.len(), 300);
        let unique: HashSet<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(unique.len(), 300);
    }
    let client = ssws(&sb);
    sb.faults().inject(
        Fault::new("/api/v1/groups", FaultKind::TooManyRequests)
            .after(1)
            .times(1),
    );
    let members: Vec<serde_json::Value> = client
        .pages(
            &format!("/api/v1/groups/{everyone}/users"),
            &[("limit", "100")],
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(members.len(), 300);
    let err = client
        .get::<serde_json::Value>("/api/v1/groups/00gnosuchgroup", &[])
        .await
        .unwrap_err();
    assert_eq!(err.okta_error_code(), Some("E0000007"));
    sb.okta().record_requests(true);
    for bad in [
        "https://evil.example/api/v1/groups",
        "//evil.example/api/v1/groups",
        "api/v1/groups",
        "/api/v1/groups?limit=1",
        "/api/v1/../v2/groups",
        "/api/v1/groups#x",
    ] {
        let e = client.get::<serde_json::Value>(bad, &[]).await.unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{bad}: {e}");
        let e = client
            .pages::<serde_json::Value>(bad, &[])
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{bad}: {e}");
    }
    assert!(sb.okta().requests().is_empty(), "nothing was sent");
    sb.shutdown().await;
}
