//! Collecting the evidence from the sandbox's Okta and Duo — after a real sync, sign-ins and
//! Duo pushes — and reviewing it: each finding traced to what was done to the sandbox, and the
//! same evidence whatever faults the services throw on the way.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use access_review::collect::{Collector, Stage};
use access_review::{
    Evidence, FindingKind, PortalAccount, ReviewPolicy, SecondFactorGap, Timestamp, review,
};
use duo_admin::AdminClient;
use duo_admin::logs::LogPacing;
use idp_sandbox::okta::OktaUserStatus;
use idp_sandbox::{Fault, FaultKind, Sandbox};
use okta_client::{ApiToken, OktaClient};
use role_sync::{GrantSource, Mapping, Policy, Portal};

/// No waiting (retries and log pacing happen, instantly): the verdicts never depend on time.
#[derive(Debug)]
struct Instant;

impl duo_auth::runtime::Runtime for Instant {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, _: Duration) -> duo_auth::runtime::SleepFuture {
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.0
    }
}

impl okta_client::runtime::Runtime for Instant {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, _: Duration) -> okta_client::runtime::SleepFuture {
        Box::pin(std::future::ready(()))
    }
    fn random(&self) -> f64 {
        0.0
    }
}

fn mapping() -> Mapping {
    Mapping::new()
        .map("Portal Admins", ["admin"])
        .map("Portal Users", ["viewer"])
        .map("Engineering", ["developer", "viewer"])
}

fn clients(sb: &Sandbox) -> (OktaClient, AdminClient) {
    let okta = OktaClient::builder(
        sb.credentials().okta.org_url.parse().unwrap(),
        ApiToken::new(&sb.credentials().okta.api_token).unwrap(),
    )
    .runtime(Arc::new(Instant))
    .build()
    .unwrap();
    let app = &sb.credentials().duo.admin;
    let duo = AdminClient::builder(
        duo_auth::Credentials::new(
            app.integration_key.as_str(),
            app.secret_key.as_str(),
            app.api_host.as_str(),
        )
        .unwrap(),
    )
    .loopback_http(true)
    .runtime(Arc::new(Instant))
    .log_pacing(LogPacing::every(Duration::ZERO))
    .build()
    .unwrap();
    (okta, duo)
}

/// What the test did to the sandbox, to check the review against.
struct Scenario {
    sb: Sandbox,
    okta: OktaClient,
    duo: AdminClient,
    evidence: Evidence,
    signed_in: String,
    suspended: String,
    bypassed_admin: String,
    manual: String,
    ghost: &'static str,
    app_id: String,
}

async fn scenario() -> Scenario {
    let sb = Sandbox::builder()
        .seed(21)
        .users(60)
        .groups(5)
        .start()
        .await
        .unwrap();
    let (okta, duo) = clients(&sb);
    // A real sync into an in-memory portal.
    let directory = okta_client::directory::fetch_directory(&okta, &mapping(), 2)
        .await
        .unwrap();
    let mut portal = Portal::new();
    let plan = role_sync::plan(&mapping(), &directory, &portal, &Policy::default()).unwrap();
    portal.apply(&plan);
    assert!(portal.users().len() > 10, "the sync created the portal");

    let okta_dir = sb.okta();
    let duo_account = sb.duo();
    let duo_id_of: BTreeMap<String, String> = duo_account
        .users()
        .into_iter()
        .map(|u| (u.email.to_ascii_lowercase(), u.user_id))
        .collect();
    let holders = |role: &str| -> Vec<String> {
        portal
            .users()
            .iter()
            .filter(|u| u.grants().iter().any(|g| g.role == role))
            .map(|u| u.login().as_str().to_owned())
            .collect()
    };
    let linked = |login: &str| duo_id_of.contains_key(&login.to_ascii_lowercase());
    let admins: Vec<String> = holders("admin").into_iter().filter(|l| linked(l)).collect();
    let viewers: Vec<String> = holders("viewer")
        .into_iter()
        .filter(|l| linked(l) && !admins.contains(l))
        .collect();
    assert!(
        admins.len() >= 2 && viewers.len() >= 3,
        "{admins:?} {viewers:?}"
    );

    // An admin who signs in now (Okta SAML sign-in, then a Duo push)…
    let signed_in = admins[0].clone();
    assert!(okta_dir.record_sign_in(&signed_in, true, true));
    let username = |login: &str| login.split('@').next().unwrap().to_owned();
    duo_account.record_auth_event(
        &username(&signed_in),
        "duo_push",
        "success",
        "user_approved",
    );
    // … an admin put in Duo bypass, a viewer suspended in Okta after the sync, a viewer given
    // a managed role by hand, and a portal account Okta never had.
    let bypassed_admin = admins[1].clone();
    assert!(duo_account.set_status(&username(&bypassed_admin), "bypass"));
    let suspended = viewers[0].clone();
    okta_dir
        .set_status(&suspended, OktaUserStatus::Suspended)
        .unwrap();
    let manual = viewers[1].clone();
    let ghost = "ghost@portal.example";

    let mut evidence = Evidence::new(&mapping());
    for user in portal.users() {
        let login = user.login().as_str();
        let mut account = PortalAccount::from_portal_user(
            user,
            duo_id_of
                .get(&login.to_ascii_lowercase())
                .map(String::as_str),
        );
        if login == manual {
            account = account.grant("developer", GrantSource::Manual);
        }
        evidence = evidence.account(account);
    }
    evidence = evidence.account(PortalAccount::new(ghost).grant("viewer", GrantSource::Sync));
    let (app_id, _) = okta_dir.portal_app().unwrap();
    Scenario {
        sb,
        okta,
        duo,
        evidence,
        signed_in,
        suspended,
        bypassed_admin,
        manual,
        ghost,
        app_id,
    }
}

/// The collection's clock: now. The pushes above were logged a moment ago, possibly within this
/// very second, and the window runs to the end of `now`'s second (the sandbox has no ingestion
/// delay: `duo_log_delay(ZERO)`).
fn collection_time() -> Timestamp {
    Timestamp::now()
}

async fn collect(s: &Scenario, now: Timestamp) -> (Evidence, Vec<Stage>) {
    let mut stages = Vec::new();
    let evidence = Collector::new(s.evidence.clone(), now)
        .okta(&s.okta)
        .okta_app(s.app_id.as_str())
        .duo(&s.duo)
        .duo_log_days(30)
        .duo_log_delay(Duration::ZERO)
        .run(|p| {
            if stages.last() != Some(&p.stage) {
                stages.push(p.stage);
            }
        })
        .await
        .unwrap();
    (evidence, stages)
}

#[tokio::test]
async fn the_evidence_matches_the_sandbox_and_every_finding_traces_to_what_was_done() {
    let s = scenario().await;
    let now = collection_time();
    let (evidence, stages) = collect(&s, now).await;
    assert_eq!(
        stages,
        [
            Stage::OktaGroups,
            Stage::OktaUsers,
            Stage::OktaApp,
            Stage::DuoUsers,
            Stage::DuoAdmins,
            Stage::DuoLog
        ]
    );

    // Okta: every member of the mapped groups, as the sandbox has them.
    let okta = evidence.okta.as_ref().unwrap();
    let mut members = BTreeSet::new();
    for name in ["Portal Admins", "Portal Users", "Engineering"] {
        let group = s.sb.okta().group(name).unwrap();
        for m in s.sb.okta().members(&group.id).unwrap() {
            members.insert(m.id.clone());
        }
    }
    let read: BTreeSet<String> = okta.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(read, members);
    assert_eq!(okta.not_found, [s.ghost]);
    let suspended = okta.users.iter().find(|u| u.login == s.suspended).unwrap();
    assert_eq!(suspended.status, "SUSPENDED");
    let app = okta.app.as_ref().unwrap();
    assert_eq!(app.app_id, s.app_id);
    assert!(!app.groups.is_empty());

    // Duo: one account per linked portal user, every generated administrator, and the push
    // just recorded as the signed-in admin's last authentication.
    let duo = evidence.duo.as_ref().unwrap();
    let linked: BTreeSet<&str> = s
        .evidence
        .portal
        .iter()
        .filter_map(|a| a.duo_user_id.as_deref())
        .collect();
    assert_eq!(
        duo.users
            .iter()
            .map(|u| u.user_id.as_str())
            .collect::<BTreeSet<_>>(),
        linked
    );
    assert_eq!(duo.admins.len(), 7);
    let signed_in_duo = s
        .evidence
        .portal
        .iter()
        .find(|a| a.login == s.signed_in)
        .and_then(|a| a.duo_user_id.clone())
        .unwrap();
    let auth = duo
        .users
        .iter()
        .find(|u| u.user_id == signed_in_duo)
        .and_then(|u| u.last_auth.clone())
        .unwrap();
    assert_eq!(auth.factor, "duo_push");
    assert!(auth.at.unix().abs_diff(Timestamp::now().unix()) < 600);

    let report = review(&evidence, &ReviewPolicy::default(), now);
    let kinds = |subject: &str| -> BTreeSet<String> {
        report
            .findings
            .iter()
            .filter(|f| f.subject.eq_ignore_ascii_case(subject))
            .map(|f| f.kind.name().to_owned())
            .collect()
    };
    // The admin who just signed in through Okta and Duo: nothing to say.
    assert!(kinds(&s.signed_in).is_empty(), "{:?}", kinds(&s.signed_in));
    let signed = report
        .users
        .iter()
        .find(|u| u.login == s.signed_in)
        .unwrap();
    assert!(signed.okta.as_ref().unwrap().app_assignment.is_some());
    assert_eq!(
        signed
            .duo
            .as_ref()
            .unwrap()
            .last_auth
            .as_ref()
            .unwrap()
            .factor,
        "duo_push"
    );
    assert!(kinds(&s.bypassed_admin).contains("privileged_without_second_factor"));
    assert!(report.findings.iter().any(|f| f.subject == s.bypassed_admin
        && matches!(
            f.kind,
            FindingKind::PrivilegedWithoutSecondFactor {
                gap: SecondFactorGap::Bypass,
                ..
            }
        )));
    assert!(kinds(&s.suspended).contains("inactive_in_okta"));
    assert!(kinds(&s.manual).contains("manual_grant_of_managed_role"));
    assert_eq!(
        kinds(s.ghost),
        ["absent_from_okta", "stale_account"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    // The sandbox's users last signed in years ago (its generated lastLogin): stale, except the
    // one who signed in now.
    let stale = report.counts.findings_by_kind["stale_account"];
    assert!(stale >= report.counts.with_roles - 1, "{stale}");
    // The sandbox's seven Duo administrators are nobody in the portal.
    assert_eq!(
        report.counts.findings_by_kind["duo_admin_not_portal_user"],
        7
    );
    // Engineering is not assigned to the portal's app: its members who hold roles but are in
    // neither assigned group cannot sign in by SAML.
    for user in &report.users {
        let Some(okta) = &user.okta else { continue };
        let flagged = user.findings.iter().any(|k| k == "not_assigned_to_app");
        assert_eq!(flagged, okta.app_assignment.is_none(), "{}", user.login);
    }
}

#[tokio::test]
async fn faults_on_the_way_change_nothing_in_the_evidence() {
    let s = scenario().await;
    let now = collection_time();
    let (clean, _) = collect(&s, now).await;
    // (path, fault, requests let through before it fires): mid-listing where there are pages.
    for (path, kind, after) in [
        ("/api/v1/groups", FaultKind::TooManyRequests, 1),
        ("/api/v1/apps", FaultKind::ServerError(503), 1),
        ("/api/v1/users", FaultKind::ServerError(503), 0),
        ("/admin/v1/users", FaultKind::TooManyRequests, 0),
        ("/admin/v1/admins", FaultKind::ServerError(502), 0),
        ("/admin/v2/logs/authentication", FaultKind::TruncatedBody, 0),
    ] {
        s.sb.faults().clear();
        s.sb.faults()
            .inject(Fault::new(path, kind.clone()).after(after).times(2));
        let (evidence, _) = collect(&s, now).await;
        assert_eq!(evidence, clean, "{path} {kind:?}");
        assert_eq!(s.sb.faults().fired(path), 2, "{path} {kind:?}");
        assert_eq!(evidence.fingerprint(), clean.fingerprint());
    }
}

#[tokio::test]
async fn a_failure_past_the_retries_is_an_error_never_a_partial_review() {
    let s = scenario().await;
    s.sb.faults()
        .inject(Fault::new("/admin/v1/admins", FaultKind::ServerError(500)));
    let err = Collector::new(s.evidence.clone(), collection_time())
        .okta(&s.okta)
        .duo(&s.duo)
        .run(|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, access_review::collect::CollectError::Duo(_)),
        "{err}"
    );
    assert!(err.to_string().starts_with("reading Duo"), "{err}");
}
