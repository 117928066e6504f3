//! The review on a scenario with every finding present, checked field by field; determinism,
//! the fingerprint, the schema's field names, CSV and HTML escaping.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;

use access_review::{
    AppAccess, AuthenticatorFact, DuoAccount, DuoAdmin, DuoEvidence, Evidence, FindingKind,
    LastAuth, OktaAccount, OktaEvidence, PortalAccount, Report, ReviewPolicy, SecondFactorGap,
    Severity, Timestamp, review,
};
use role_sync::{GrantSource, Mapping};
use serde_json::Value;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-12-05T12:00:00Z").unwrap()
}

fn mapping() -> Mapping {
    Mapping::new()
        .map("Portal Admins", ["admin"])
        .map("Portal Users", ["viewer"])
        .map("Engineering", ["developer", "viewer"])
}

/// One person per finding, plus a clean one and a break-glass account:
/// - ann: admin through Portal Admins, signed in yesterday, Duo push — clean;
/// - bob: viewer, last Okta sign-in 200 days ago, no Duo authentication — stale;
/// - cat: a portal account Okta does not have — absent (and, with a role, stale: never);
/// - dan: holds developer while SUSPENDED in Okta — inactive;
/// - eve: admin, her Duo user has no authenticator — privileged without second factor;
/// - fay: admin by hand (a managed role) — manual grant; her Duo user is in bypass — gap;
/// - gus: viewer, not assigned to the portal app — not assigned;
/// - root: protected break-glass admin by hand, not in Okta, no Duo user — only the missing
///   second factor;
/// - Duo admins: one is ann (by email), one is nobody in the portal.
fn scenario() -> Evidence {
    let day = |n: u32| now().minus_days(n);
    let okta = OktaEvidence::new()
        .user(
            OktaAccount::new("00uann", "ann@example.com", "ACTIVE")
                .member_of("Portal Admins")
                .last_login(day(1)),
        )
        .user(
            OktaAccount::new("00ubob", "Bob@Example.com", "ACTIVE")
                .member_of("Portal Users")
                .last_login(day(200)),
        )
        .user(
            OktaAccount::new("00udan", "dan@example.com", "SUSPENDED")
                .member_of("Engineering")
                .last_login(day(3)),
        )
        .user(
            OktaAccount::new("00ueve", "eve@example.com", "ACTIVE")
                .member_of("Portal Admins")
                .last_login(day(5)),
        )
        .user(OktaAccount::new("00ufay", "fay@example.com", "ACTIVE").last_login(day(2)))
        .user(
            OktaAccount::new("00ugus", "gus@example.com", "ACTIVE")
                .member_of("Portal Users")
                .last_login(day(4)),
        )
        .not_found("cat@example.com")
        .not_found("root@portal.example")
        .app(
            ["00uann", "00ubob", "00udan", "00ueve", "00ufay"]
                .into_iter()
                .fold(AppAccess::new("0oaportal"), |app, id| {
                    app.assigned(id, "GROUP")
                }),
        );
    let push = |n| LastAuth::new(day(n), "duo_push");
    let duo = DuoEvidence::new()
        .user(
            DuoAccount::new("DUANN", "ann")
                .email("ann@example.com")
                .authenticator(AuthenticatorFact::new("phone", "+15550100"))
                .last_auth(push(1)),
        )
        .user(DuoAccount::new("DUBOB", "bob").authenticator(AuthenticatorFact::new("token", "T-1")))
        .user(
            DuoAccount::new("DUDAN", "dan")
                .authenticator(AuthenticatorFact::new("webauthn", "YubiKey"))
                .last_auth(push(3)),
        )
        .user(DuoAccount::new("DUEVE", "eve"))
        .user(
            DuoAccount::new("DUFAY", "fay")
                .status("bypass")
                .authenticator(AuthenticatorFact::new("phone", "+15550101")),
        )
        .user(
            DuoAccount::new("DUGUS", "gus")
                .authenticator(AuthenticatorFact::new("phone", "+15550102"))
                .last_auth(LastAuth::new(day(4), "passcode")),
        )
        .admin(
            DuoAdmin::new("DEANN")
                .email("ANN@example.com")
                .role("Owner")
                .name("Ann"),
        )
        .admin(
            DuoAdmin::new("DEOLD")
                .email("old.admin@example.com")
                .role("Administrator"),
        );
    Evidence::new(&mapping())
        .account(
            PortalAccount::new("ann@example.com")
                .grant("admin", GrantSource::Sync)
                .duo_user("DUANN"),
        )
        .account(
            PortalAccount::new("bob@example.com")
                .grant("viewer", GrantSource::Sync)
                .duo_user("DUBOB"),
        )
        .account(PortalAccount::new("cat@example.com").grant("viewer", GrantSource::Sync))
        .account(
            PortalAccount::new("dan@example.com")
                .grant("developer", GrantSource::Sync)
                .grant("viewer", GrantSource::Sync)
                .duo_user("DUDAN"),
        )
        .account(
            PortalAccount::new("eve@example.com")
                .grant("admin", GrantSource::Sync)
                .duo_user("DUEVE"),
        )
        .account(
            PortalAccount::new("fay@example.com")
                .grant("admin", GrantSource::Manual)
                .duo_user("DUFAY"),
        )
        .account(
            PortalAccount::new("gus@example.com")
                .grant("viewer", GrantSource::Sync)
                .duo_user("DUGUS"),
        )
        .account(
            PortalAccount::new("root@portal.example")
                .grant("admin", GrantSource::Manual)
                .protect(),
        )
        .okta(okta)
        .duo(duo.clone())
}

fn kinds_for(report: &Report, subject: &str) -> BTreeSet<String> {
    report
        .findings
        .iter()
        .filter(|f| f.subject == subject)
        .map(|f| f.kind.name().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn every_finding_is_raised_for_the_right_person_and_no_one_else() {
    let report = review(&scenario(), &ReviewPolicy::default(), now());
    assert_eq!(kinds_for(&report, "ann@example.com"), set(&[]));
    assert_eq!(
        kinds_for(&report, "bob@example.com"),
        set(&["stale_account"])
    );
    assert_eq!(
        kinds_for(&report, "cat@example.com"),
        set(&["absent_from_okta", "stale_account"])
    );
    assert_eq!(
        kinds_for(&report, "dan@example.com"),
        set(&["inactive_in_okta"])
    );
    assert_eq!(
        kinds_for(&report, "eve@example.com"),
        set(&["privileged_without_second_factor"])
    );
    assert_eq!(
        kinds_for(&report, "fay@example.com"),
        set(&[
            "manual_grant_of_managed_role",
            "privileged_without_second_factor"
        ])
    );
    assert_eq!(
        kinds_for(&report, "gus@example.com"),
        set(&["not_assigned_to_app"])
    );
    // Break-glass: never stale, never "absent from Okta", its manual grant expected — but an
    // admin with no second factor is still flagged, protected or not.
    assert_eq!(
        kinds_for(&report, "root@portal.example"),
        set(&["privileged_without_second_factor"])
    );
    assert_eq!(
        kinds_for(&report, "old.admin@example.com"),
        set(&["duo_admin_not_portal_user"])
    );
    assert_eq!(report.findings.len(), 10);
}

#[test]
fn each_finding_carries_its_facts() {
    let report = review(&scenario(), &ReviewPolicy::default(), now());
    let find = |subject: &str, kind: &str| {
        report
            .findings
            .iter()
            .find(|f| f.subject == subject && f.kind.name() == kind)
            .unwrap_or_else(|| panic!("no {kind} for {subject}"))
            .clone()
    };
    let bob = find("bob@example.com", "stale_account");
    assert_eq!(bob.severity, Severity::Medium);
    assert_eq!(
        bob.kind,
        FindingKind::StaleAccount {
            last_sign_in: Some(now().minus_days(200)),
            days: Some(200)
        }
    );
    assert!(bob.message.contains("200 days"), "{}", bob.message);
    assert_eq!(
        find("cat@example.com", "stale_account").kind,
        FindingKind::StaleAccount {
            last_sign_in: None,
            days: None
        }
    );
    let cat = find("cat@example.com", "absent_from_okta");
    assert_eq!(
        (cat.severity, cat.kind),
        (Severity::High, FindingKind::AbsentFromOkta)
    );
    assert_eq!(
        find("dan@example.com", "inactive_in_okta").kind,
        FindingKind::InactiveInOkta {
            status: "SUSPENDED".into()
        }
    );
    let eve = find("eve@example.com", "privileged_without_second_factor");
    assert_eq!(
        (eve.severity, eve.kind),
        (
            Severity::High,
            FindingKind::PrivilegedWithoutSecondFactor {
                roles: vec!["admin".into()],
                gap: SecondFactorGap::NotEnrolled
            }
        )
    );
    assert_eq!(
        find("fay@example.com", "privileged_without_second_factor").kind,
        FindingKind::PrivilegedWithoutSecondFactor {
            roles: vec!["admin".into()],
            gap: SecondFactorGap::Bypass
        }
    );
    assert_eq!(
        find("fay@example.com", "manual_grant_of_managed_role").kind,
        FindingKind::ManualGrantOfManagedRole {
            role: "admin".into()
        }
    );
    assert_eq!(
        find("gus@example.com", "not_assigned_to_app").kind,
        FindingKind::NotAssignedToApp {
            app_id: "0oaportal".into()
        }
    );
    assert_eq!(
        find("old.admin@example.com", "duo_admin_not_portal_user").kind,
        FindingKind::DuoAdminNotPortalUser {
            admin_id: "DEOLD".into(),
            role: Some("Administrator".into())
        }
    );
    // Most serious first.
    let severities: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
    assert_eq!(report.counts.findings_by_severity[&Severity::High], 5);
    assert_eq!(report.counts.findings_by_severity[&Severity::Medium], 4);
    assert_eq!(report.counts.findings_by_severity[&Severity::Low], 1);
}

#[test]
fn user_rows_carry_roles_sources_groups_and_both_sides() {
    let report = review(&scenario(), &ReviewPolicy::default(), now());
    let logins: Vec<&str> = report.users.iter().map(|u| u.login.as_str()).collect();
    assert_eq!(
        logins,
        [
            "ann@example.com",
            "bob@example.com",
            "cat@example.com",
            "dan@example.com",
            "eve@example.com",
            "fay@example.com",
            "gus@example.com",
            "root@portal.example"
        ]
    );
    let user = |login: &str| report.users.iter().find(|u| u.login == login).unwrap();

    let ann = user("ann@example.com");
    assert_eq!(ann.roles.len(), 1);
    assert_eq!(ann.roles[0].role, "admin");
    assert_eq!(ann.roles[0].source, GrantSource::Sync);
    assert!(ann.roles[0].managed);
    assert_eq!(ann.roles[0].granted_by, ["Portal Admins"]);
    let okta = ann.okta.as_ref().unwrap();
    assert_eq!(
        (okta.id.as_str(), okta.status.as_str()),
        ("00uann", "ACTIVE")
    );
    assert_eq!(okta.last_login, Some(now().minus_days(1)));
    assert_eq!(okta.groups, ["Portal Admins"]);
    assert_eq!(okta.app_assignment.as_deref(), Some("GROUP"));
    let duo = ann.duo.as_ref().unwrap();
    assert_eq!(
        (duo.user_id.as_str(), duo.username.as_str()),
        ("DUANN", "ann")
    );
    assert!(duo.is_enrolled);
    assert_eq!(
        duo.authenticators,
        [AuthenticatorFact::new("phone", "+15550100")]
    );
    let auth = duo.last_auth.as_ref().unwrap();
    assert_eq!(
        (auth.at, auth.factor.as_str()),
        (now().minus_days(1), "duo_push")
    );
    assert_eq!(ann.last_sign_in, Some(now().minus_days(1)));
    assert!(ann.findings.is_empty());

    // Logins match Okta case-insensitively; Dan's two roles each name the granting group.
    assert_eq!(user("bob@example.com").okta.as_ref().unwrap().id, "00ubob");
    let dan = user("dan@example.com");
    for role in &dan.roles {
        assert_eq!(role.granted_by, ["Engineering"], "{}", role.role);
    }
    // Fay's admin is manual and no group of hers grants it.
    let fay = user("fay@example.com");
    assert_eq!(fay.roles[0].source, GrantSource::Manual);
    assert!(fay.roles[0].granted_by.is_empty());
    // Cat: no Okta side, no Duo side, never signed in.
    let cat = user("cat@example.com");
    assert!(cat.okta.is_none() && cat.duo.is_none() && cat.last_sign_in.is_none());
    // The newest of Okta's lastLogin and the last Duo authentication wins.
    assert_eq!(
        user("gus@example.com").last_sign_in,
        Some(now().minus_days(4))
    );
    let root = user("root@portal.example");
    assert!(root.protected && root.okta.is_none() && root.duo.is_none());
    assert_eq!(root.findings, ["privileged_without_second_factor"]);

    assert_eq!(report.duo_admins.len(), 2);
    assert_eq!(report.duo_admins[0].admin_id, "DEANN");
    assert_eq!(
        report.duo_admins[0].portal_user.as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(report.duo_admins[1].portal_user, None);

    let c = &report.counts;
    assert_eq!(
        (c.portal_users, c.protected_accounts, c.with_roles),
        (8, 1, 8)
    );
    assert_eq!((c.okta_users, c.duo_users, c.duo_admins), (6, 6, 2));
    assert_eq!(c.findings_by_kind["stale_account"], 2);
    assert!(report.sources.okta && report.sources.duo);
    assert_eq!(report.sources.okta_app.as_deref(), Some("0oaportal"));
}

#[test]
fn the_policy_moves_the_thresholds() {
    let strict = ReviewPolicy::default()
        .stale_after_days(2)
        .privileged_role("viewer");
    let report = review(&scenario(), &strict, now());
    // Dan (3 days), Eve (5), Gus (4) are now stale too; Ann (1) and Fay (2: not more than 2)
    // are not.
    let stale: BTreeSet<String> = report
        .findings
        .iter()
        .filter(|f| f.kind.name() == "stale_account")
        .map(|f| f.subject.clone())
        .collect();
    assert_eq!(
        stale,
        set(&[
            "bob@example.com",
            "cat@example.com",
            "dan@example.com",
            "eve@example.com",
            "gus@example.com"
        ])
    );
    // Viewer is privileged now: Cat (no Duo user) joins.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.subject == "cat@example.com"
                && f.kind
                    == FindingKind::PrivilegedWithoutSecondFactor {
                        roles: vec!["viewer".into()],
                        gap: SecondFactorGap::NoDuoUser
                    })
    );
}

#[test]
fn sources_not_read_raise_no_findings_that_need_them() {
    let mut evidence = scenario();
    evidence.okta = None;
    evidence.duo = None;
    let report = review(&evidence, &ReviewPolicy::default(), now());
    // Only what the portal alone shows: Fay's manual grant of a managed role.
    assert_eq!(
        report
            .findings
            .iter()
            .map(|f| (f.subject.as_str(), f.kind.name()))
            .collect::<Vec<_>>(),
        [("fay@example.com", "manual_grant_of_managed_role")]
    );
    assert!(!report.sources.okta && !report.sources.duo);
}

#[test]
fn the_same_facts_in_any_order_give_the_same_bytes_and_fingerprint() {
    let evidence = scenario();
    let mut shuffled = evidence.clone();
    shuffled.portal.reverse();
    shuffled.okta.as_mut().unwrap().users.reverse();
    let duo = shuffled.duo.as_mut().unwrap();
    duo.users.reverse();
    duo.admins.reverse();
    let a = review(&evidence, &ReviewPolicy::default(), now());
    let b = review(&shuffled, &ReviewPolicy::default(), now());
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_html(), b.to_html());
    assert_eq!(a.users_csv().unwrap(), b.users_csv().unwrap());
    assert!(a.fingerprint.starts_with("sha256:") && a.fingerprint.len() == 7 + 64);

    // Any changed fact changes the fingerprint.
    let mut changed = evidence.clone();
    changed.duo.as_mut().unwrap().users[0].last_auth = None;
    assert_ne!(changed.fingerprint(), evidence.fingerprint());
    let mut changed = evidence.clone();
    changed.portal[1].grants[0].source = GrantSource::Manual;
    assert_ne!(changed.fingerprint(), evidence.fingerprint());
}

#[test]
fn the_json_has_the_documented_fields_and_reads_back() {
    let report = review(&scenario(), &ReviewPolicy::default(), now());
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        set(&[
            "schema",
            "taken_at",
            "fingerprint",
            "policy",
            "sources",
            "counts",
            "findings",
            "users",
            "duo_admins"
        ])
    );
    assert_eq!(json["schema"], "access-review/1");
    assert_eq!(json["taken_at"], "2026-12-05T12:00:00Z");
    assert_eq!(
        keys(&json["policy"]),
        set(&["stale_after_days", "privileged_roles"])
    );
    assert_eq!(
        keys(&json["sources"]),
        set(&[
            "okta",
            "okta_app",
            "okta_missing_groups",
            "duo",
            "duo_log_window"
        ])
    );
    assert_eq!(
        keys(&json["counts"]),
        set(&[
            "portal_users",
            "protected_accounts",
            "with_roles",
            "okta_users",
            "duo_users",
            "duo_admins",
            "findings_by_severity",
            "findings_by_kind"
        ])
    );
    assert_eq!(
        json["counts"]["findings_by_severity"],
        serde_json::json!({"high": 5, "medium": 4, "low": 1})
    );
    let ann = &json["users"][0];
    assert_eq!(
        keys(ann),
        set(&[
            "login",
            "protected",
            "roles",
            "okta",
            "duo",
            "last_sign_in",
            "findings"
        ])
    );
    assert_eq!(
        keys(&ann["roles"][0]),
        set(&["role", "source", "managed", "granted_by"])
    );
    assert_eq!(ann["roles"][0]["source"], "sync");
    assert_eq!(
        keys(&ann["okta"]),
        set(&["id", "status", "last_login", "groups", "app_assignment"])
    );
    assert_eq!(
        keys(&ann["duo"]),
        set(&[
            "user_id",
            "username",
            "status",
            "is_enrolled",
            "last_auth",
            "last_login",
            "authenticators"
        ])
    );
    assert_eq!(
        keys(&ann["duo"]["last_auth"]),
        set(&["at", "factor", "application"])
    );
    assert_eq!(
        keys(&json["duo_admins"][0]),
        set(&[
            "admin_id",
            "name",
            "email",
            "role",
            "status",
            "last_login",
            "portal_user"
        ])
    );
    let stale = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "stale_account" && f["subject"] == "bob@example.com")
        .unwrap();
    assert_eq!(
        keys(stale),
        set(&[
            "severity",
            "subject",
            "message",
            "kind",
            "last_sign_in",
            "days"
        ])
    );
    assert_eq!(stale["days"], 200);

    let back: Report = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(back, report);
}

#[test]
fn hostile_values_are_escaped_in_html_and_neutralized_in_csv() {
    let hostile = "<script>alert(1)</script>@example.com";
    let evidence = Evidence::new(&mapping())
        .account(PortalAccount::new(hostile).grant("viewer", GrantSource::Sync))
        .duo(
            DuoEvidence::new().admin(
                DuoAdmin::new("DE1")
                    .email("=HYPERLINK(\"http://evil\")")
                    .name("\"><img src=x onerror=alert(1)>"),
            ),
        );
    let report = review(&evidence, &ReviewPolicy::default(), now());
    let html = report.to_html();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"));
    assert!(html.contains("default-src 'none'"));
    // No script and no element that loads anything: the page is one self-contained file.
    let lower = html.to_ascii_lowercase();
    for tag in ["<script", "<img", "<link", "<iframe", "<object"] {
        assert!(!lower.contains(tag), "{tag}");
    }

    let admins = report.duo_admins_csv().unwrap();
    let mut reader = csv::Reader::from_reader(admins.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[2], "'=HYPERLINK(\"http://evil\")");
    let findings = report.findings_csv().unwrap();
    assert!(findings.contains("'=HYPERLINK"), "{findings}");
}

#[test]
fn the_csv_has_one_row_per_user_with_the_documented_columns() {
    let report = review(&scenario(), &ReviewPolicy::default(), now());
    let csv_text = report.users_csv().unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers.len(), 16);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let dan = &rows[3];
    assert_eq!(&dan[col("login")], "dan@example.com");
    assert_eq!(
        &dan[col("roles")],
        "developer(sync: Engineering); viewer(sync: Engineering)"
    );
    assert_eq!(&dan[col("okta_status")], "SUSPENDED");
    assert_eq!(&dan[col("last_duo_factor")], "duo_push");
    assert_eq!(&dan[col("last_duo_auth")], "2026-12-02T12:00:00Z");
    assert_eq!(&dan[col("authenticators")], "webauthn YubiKey");
    assert_eq!(&dan[col("findings")], "inactive_in_okta");

    let findings = report.findings_csv().unwrap();
    assert_eq!(findings.lines().count(), 1 + 10);
    let admins = report.duo_admins_csv().unwrap();
    assert_eq!(admins.lines().count(), 1 + 2);
}

#[test]
fn the_html_puts_the_findings_first() {
    let report = review(&scenario(), &ReviewPolicy::default(), now());
    let html = report.to_html();
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(at("id=\"findings\"") < at("id=\"counts\""));
    assert!(at("id=\"counts\"") < at("id=\"users\""));
    assert!(at("id=\"users\"") < at("id=\"duo-admins\""));
    assert!(html.contains(&report.fingerprint));
    assert!(html.contains("2026-12-05T12:00:00Z"));
    // One row per finding, per user and per admin.
    let rows = |table: &str| {
        let start = at(&format!("id=\"{table}\""));
        let end = start + html[start..].find("</table>").unwrap();
        html[start..end].matches("<tr").count() - 1
    };
    assert_eq!(rows("findings"), 10);
    assert_eq!(rows("users"), 8);
    assert_eq!(rows("duo-admins"), 2);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the names and times, the review neither panics nor loses a user, and its
        /// JSON reads back equal.
        #[test]
        fn any_evidence_reviews_and_round_trips(
            logins in proptest::collection::vec("[a-zA-Z<>&\"'=@. ]{0,12}", 0..8),
            days in proptest::collection::vec(0u32..400, 0..8),
            stale in 0u32..400,
        ) {
            let mut okta = OktaEvidence::new();
            let mut evidence = Evidence::new(&mapping());
            for (i, login) in logins.iter().enumerate() {
                evidence = evidence.account(PortalAccount::new(login.as_str()).grant("viewer", GrantSource::Sync));
                let mut user = OktaAccount::new(format!("00u{i}"), login.as_str(), "ACTIVE");
                if let Some(d) = days.get(i) {
                    user = user.last_login(now().minus_days(*d));
                }
                okta = okta.user(user);
            }
            let report = review(&evidence.okta(okta), &ReviewPolicy::default().stale_after_days(stale), now());
            prop_assert_eq!(report.users.len(), logins.len());
            let back: Report = serde_json::from_str(&report.to_json()).unwrap();
            prop_assert_eq!(back, report);
        }
    }
}
