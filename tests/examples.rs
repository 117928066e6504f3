//! The command-line examples run end to end on the sandbox: their exit codes, their JSON and
//! CSV output and the portal database they leave behind. (`quickstart` runs in CI as the
//! README's first command; `duo_login_portal` has its browser test.)
//!
//! The examples are built (in this test's profile and target directory) before the
//! first one runs, so the test never runs a stale binary.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

use duo_okta_sdk::portal::PortalStore;

fn example(name: &str) -> Command {
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    // `cargo test --test examples` alone does not build the examples, and a stale binary would
    // test old code: build them once (a no-op when `cargo test` already did).
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--examples", "-p", "duo-okta-sdk"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the examples failed");
    });
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing", path.display());
    Command::new(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sdk-examples-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    if !out.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn plan_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON plan ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn okta_role_sync_plans_applies_and_converges_with_every_auth_type() {
    let dir = scratch("sync");
    let db = dir.join("portal.sqlite");
    let sync = |extra: &[&str]| {
        let mut cmd = example("okta_role_sync");
        cmd.args(["--once", "--json", "--sandbox-users", "300", "--db"])
            .arg(&db)
            .args(extra);
        run(&mut cmd)
    };

    // A first sync of 300 people creates more than the escalation guard's 100: refused (exit
    // code 2), the refused plan still printed, nothing written.
    let refused = sync(&[]);
    assert_eq!(refused.status.code(), Some(2));
    let plan = plan_json(&refused);
    let creates = plan["creates"].as_array().unwrap().len();
    assert!(creates > 100, "{creates} creates");
    assert!(
        PortalStore::open(&db)
            .unwrap()
            .load()
            .unwrap()
            .users()
            .is_empty()
    );

    // Allowed explicitly for this run: applied.
    let applied = sync(&["--allow", "escalations"]);
    assert!(applied.status.success());
    assert_eq!(
        plan_json(&applied)["creates"].as_array().unwrap().len(),
        creates
    );
    let store = PortalStore::open(&db).unwrap();
    assert_eq!(store.load().unwrap().users().len(), creates);
    let first = &plan["creates"][0];
    let login = first["login"].as_str().unwrap();
    let mut roles: Vec<&str> = first["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(store.roles(login).unwrap(), roles);

    // The same org read with each auth type gives the same, now empty, plan.
    let mut fingerprints = Vec::new();
    for auth in ["dpop", "oauth", "api-token"] {
        let again = sync(&["--auth", auth, "--dry-run"]);
        assert!(again.status.success(), "{auth}");
        let plan = plan_json(&again);
        assert!(plan["creates"].as_array().unwrap().is_empty(), "{auth}");
        assert!(plan["revocations"].as_array().unwrap().is_empty(), "{auth}");
        assert_eq!(plan["unchanged"].as_u64(), Some(creates as u64), "{auth}");
        fingerprints.push(plan["fingerprint"].as_str().unwrap().to_owned());
    }
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 1, "{fingerprints:?}");
}

/// Every bad setting stops the sync at start, before any network call or database write, with a
/// message that names the setting and the fix.
#[test]
fn okta_role_sync_refuses_a_bad_config_with_the_reason() {
    let dir = scratch("bad-config");
    let config = dir.join("config.toml");
    let db = dir.join("portal.sqlite");
    const GROUPS: &str = "[mapping.groups]\n\"Portal Admins\" = [\"admin\"]\n";
    // (config file, what the message must say)
    let files: &[(&str, &[&str])] = &[
        ("interval = \"10m\"\n", &["config.toml", "10m", "15m"]),
        (
            "intervall = \"15m\"\n",
            &["unknown field `intervall`", "`interval`"],
        ),
        ("concurrency = 0\n", &["concurrency = 0", "give 1 to 16"]),
        (
            "concurrency = 500\n",
            &["concurrency = 500", "give 1 to 16"],
        ),
        (
            "[policy]\nmax_revoked_percent = 250\n",
            &["250 is not a percentage", "0 to 100"],
        ),
        (
            "[policy]\nunmatched = \"delete\"\n",
            &["`delete`", "`revoke` or `keep`"],
        ),
        ("[policy]\nmax_revoked_users = -3\n", &["max_revoked_users"]),
    ];
    for (text, wanted) in files {
        // The [policy] table must come after the top-level keys and before nothing else.
        let text = if text.starts_with('[') {
            format!("{GROUPS}{text}")
        } else {
            format!("{text}{GROUPS}")
        };
        std::fs::write(&config, &text).unwrap();
        let out = run(example("okta_role_sync")
            .env_remove("OKTA_ORG_URL")
            .args(["--once", "--config"])
            .arg(&config)
            .arg("--db")
            .arg(&db));
        assert_eq!(out.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for want in *wanted {
            assert!(stderr.contains(want), "{text}: wanted {want:?} in {stderr}");
        }
        assert!(!db.exists(), "{text}: a refused config opened the database");
    }

    std::fs::write(&config, GROUPS).unwrap();
    /// (environment, what the message must say, `--auth`)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let envs: &[Case] = &[
        (
            &[("OKTA_ORG_URL", "http://acme.okta.com")],
            &["OKTA_ORG_URL", "requires https://"],
            "api-token",
        ),
        (
            &[("OKTA_ORG_URL", "https://acme.okta.com/oauth2/default")],
            &["OKTA_ORG_URL", "it has a path", "without /oauth2/"],
            "api-token",
        ),
        (
            &[("OKTA_ORG_URL", "acme.okta.com")],
            &["OKTA_ORG_URL", "https://<your domain>"],
            "api-token",
        ),
        (
            &[("OKTA_ORG_URL", "https://acme.okta.com")],
            &["OKTA_API_TOKEN is not set"],
            "api-token",
        ),
        (
            &[
                ("OKTA_ORG_URL", "https://acme.okta.com"),
                ("OKTA_CLIENT_ID", "0oa1"),
                ("OKTA_PRIVATE_KEY", "not a key"),
            ],
            &["OKTA_PRIVATE_KEY", "neither PEM", "nor JWK JSON"],
            "oauth",
        ),
        (
            &[
                ("OKTA_ORG_URL", "https://acme.okta.com"),
                ("OKTA_CLIENT_ID", "0oa1"),
                (
                    "OKTA_PRIVATE_KEY",
                    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                ),
            ],
            &["OKTA_PRIVATE_KEY", "CERTIFICATE, not a private key"],
            "dpop",
        ),
    ];
    for (vars, wanted, auth) in envs {
        let mut cmd = example("okta_role_sync");
        for var in ["OKTA_API_TOKEN", "OKTA_CLIENT_ID", "OKTA_PRIVATE_KEY"] {
            cmd.env_remove(var);
        }
        for (k, v) in *vars {
            cmd.env(k, v);
        }
        let out = run(cmd
            .args(["--once", "--auth", auth, "--config"])
            .arg(&config)
            .arg("--db")
            .arg(&db));
        assert_eq!(out.status.code(), Some(1), "{vars:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for want in *wanted {
            assert!(
                stderr.contains(want),
                "{vars:?}: wanted {want:?} in {stderr}"
            );
        }
        assert!(
            !db.exists(),
            "{vars:?}: a refused config opened the database"
        );
    }

    let out = run(example("okta_role_sync").args(["--once", "--auth", "kerberos"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api-token, oauth or dpop"));

    // A database that is not one: refused with the fix, and not a byte of it changed.
    std::fs::write(&db, "not a database\n".repeat(500)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = run(example("okta_role_sync")
        .env_remove("OKTA_ORG_URL")
        .args(["--once", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(&db));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("restore it from a backup"), "{stderr}");
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the database file changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn duo_admin_import_links_users_and_writes_the_review() {
    let dir = scratch("import");
    let db = dir.join("portal.sqlite");
    let out = run(example("duo_admin_import")
        .args(["--format", "json", "--out"])
        .arg(dir.join("review"))
        .arg("--db")
        .arg(&db));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("250 portal users linked"), "{stderr}");
    assert!(stderr.contains("1 conflicts"), "{stderr}");

    let review: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("review/review.json")).unwrap()).unwrap();
    let users = review["users"].as_array().unwrap();
    assert_eq!(users.len(), 300);
    assert!(!review["admins"].as_array().unwrap().is_empty());

    // Linked portal users carry their Duo id and authenticators.
    let store = PortalStore::open(&db).unwrap();
    let linked = store
        .load()
        .unwrap()
        .users()
        .iter()
        .filter(|u| store.duo_user_id(u.login().as_str()).unwrap().is_some())
        .count();
    assert_eq!(linked, 250);
    let user = &users[0];
    let email = user["email"].as_str().unwrap();
    if let Some(id) = store.duo_user_id(email).unwrap() {
        assert_eq!(id, user["user_id"].as_str().unwrap());
    }

    // CSV on stdout: one header line per table.
    let out = run(example("duo_admin_import")
        .arg("--db")
        .arg(dir.join("csv.sqlite")));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for header in [
        "# users.csv",
        "# admins.csv",
        "# groups.csv",
        "# memberships.csv",
    ] {
        assert!(stdout.contains(header), "{header} missing");
    }
    assert!(stdout.contains("user_id,username,realname,email,status"));
}

/// `kill -9` at several points of a sync — before the plan, while it prints, right before and
/// right after the apply — leaves the store as before the run or as after it, never in between
/// (one SQLite transaction), the database passes `PRAGMA integrity_check`, and the next run
/// converges. Where exactly each kill lands varies with the machine; what is asserted holds at
/// every point.
#[test]
fn okta_role_sync_killed_at_any_point_leaves_the_store_before_or_after() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = scratch("crash");
    let db = dir.join("portal.sqlite");
    let sync = || {
        let mut cmd = example("okta_role_sync");
        cmd.args(["--once", "--allow", "escalations", "--auth", "api-token"])
            .args(["--sandbox-users", "300", "--db"])
            .arg(&db);
        cmd
    };
    // (sync runs logged, users, grants, integrity) as the store holds them now.
    let state = || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0);
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (
            count("SELECT count(*) FROM sync_log"),
            count("SELECT count(*) FROM users"),
            count("SELECT count(*) FROM grants"),
            integrity,
        )
    };

    let mut seen = Vec::new();
    // Lines of the run's log read before the kill: 0 = at once, 3 = as the plan starts to
    // print, 25 = after the plan's last line (the apply is next), 26 = after "applied".
    for lines in [0usize, 3, 12, 25, 26] {
        let mut child = sync()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        for _ in 0..lines {
            if log.next().is_none() {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let now = state();
        assert_eq!(now.3, "ok", "after a kill at line {lines}");
        assert!(now.0 <= 1, "{now:?}");
        if now.0 == 0 {
            assert_eq!(
                (now.1, now.2),
                (0, 0),
                "a half-applied store after line {lines}"
            );
        }
        seen.push((lines, now));
    }

    // A whole run: the state every "after" above must equal; then nothing is left to do.
    let out = run(&mut sync());
    assert!(out.status.success());
    let done = state();
    assert_eq!(done.3, "ok");
    assert!(done.1 > 0 && done.2 > 0, "{done:?}");
    for (lines, (runs, users, grants, _)) in &seen {
        if *runs == 1 {
            assert_eq!((*users, *grants), (done.1, done.2), "after line {lines}");
        }
    }
    let again = run(sync().arg("--json"));
    assert!(again.status.success());
    let plan = plan_json(&again);
    assert_eq!(plan["creates"].as_array().map(Vec::len), Some(0), "{plan}");
    assert_eq!(state().1, done.1);
}

/// The access review on the sandbox's demo portal: the files it promises, each finding the demo
/// plants traced in the JSON, the evidence file reproducing the fingerprint, the CSV and HTML
/// agreeing with the JSON; a review against a real tenant without `--db` and a bad flag fail
/// with the reason.
#[test]
fn access_review_writes_the_report_and_its_evidence() {
    let dir = scratch("review");
    let out = run(example("access_review").arg("--out").arg(&dir));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in [
        "review.json",
        "review.html",
        "users.csv",
        "findings.csv",
        "duo_admins.csv",
        "evidence.json",
    ] {
        assert!(dir.join(name).exists(), "{name} missing");
        assert!(stdout.contains(name), "{stdout}");
    }
    let report: access_review::Report =
        serde_json::from_slice(&std::fs::read(dir.join("review.json")).unwrap()).unwrap();
    assert_eq!(report.schema, access_review::SCHEMA);
    // Every planted finding is there, and the contractor Okta never had is absent from Okta.
    for kind in [
        "absent_from_okta",
        "inactive_in_okta",
        "privileged_without_second_factor",
        "stale_account",
        "manual_grant_of_managed_role",
        "duo_admin_not_portal_user",
        "not_assigned_to_app",
    ] {
        assert!(
            report
                .counts
                .findings_by_kind
                .get(kind)
                .copied()
                .unwrap_or(0)
                > 0,
            "no {kind}: {:?}",
            report.counts.findings_by_kind
        );
    }
    let contractor = report
        .users
        .iter()
        .find(|u| u.login == "contractor@partner.example")
        .unwrap();
    assert!(contractor.okta.is_none());
    assert!(contractor.findings.iter().any(|k| k == "absent_from_okta"));
    // Two in three synced users signed in today through Okta and a Duo push.
    let pushed = report
        .users
        .iter()
        .filter(|u| {
            u.duo
                .as_ref()
                .and_then(|d| d.last_auth.as_ref())
                .is_some_and(|a| a.factor == "duo_push")
        })
        .count();
    assert!(pushed * 2 >= report.counts.portal_users, "{pushed}");
    // The evidence written beside it reproduces the report exactly.
    let evidence: access_review::Evidence =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    assert_eq!(evidence.fingerprint(), report.fingerprint);
    let again = access_review::review(&evidence, &report.policy, report.taken_at);
    assert_eq!(again, report);
    // CSV and HTML say the same.
    let users_csv = std::fs::read_to_string(dir.join("users.csv")).unwrap();
    assert_eq!(users_csv.lines().count(), 1 + report.users.len());
    let findings_csv = std::fs::read_to_string(dir.join("findings.csv")).unwrap();
    assert_eq!(findings_csv.lines().count(), 1 + report.findings.len());
    let html = std::fs::read_to_string(dir.join("review.html")).unwrap();
    assert!(html.contains(&report.fingerprint));

    // Against a real org the portal's store must be named.
    let out = run(example("access_review")
        .arg("--out")
        .arg(dir.join("real"))
        .env("OKTA_ORG_URL", "https://example.okta.com"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--db must name"), "{stderr}");
    let out = run(example("access_review").args(["--stale-days", "0"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stale-days"));
    let out = run(example("access_review")
        .args(["--config"])
        .arg(dir.join("no-such.toml")));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the mapping file"));
}
