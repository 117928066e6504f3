//! Scenario files: `tests/scenarios/*.json`, each a mapping, a directory, a portal and a policy
//! with the plan (or refusal) they must produce. Every scenario whose plan is accepted is also
//! applied to its portal and planned again, which must give an empty plan.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use role_sync::{
    Change, Conflict, Create, Directory, Mapping, Plan, Policy, Portal, Revocation, Violation,
    Warning, plan,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    mapping: Mapping,
    directory: Directory,
    portal: Portal,
    #[serde(default)]
    policy: Policy,
    expect: Expect,
    /// Lines the human diff (Display) must contain.
    #[serde(default)]
    display_contains: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Expect {
    Plan(ExpectedPlan),
    Refusal(ExpectedRefusal),
}

/// The plan without its fingerprint (pinned separately, in `properties.rs`).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedPlan {
    #[serde(default)]
    creates: Vec<Create>,
    #[serde(default)]
    changes: Vec<Change>,
    #[serde(default)]
    revocations: Vec<Revocation>,
    #[serde(default)]
    conflicts: Vec<Conflict>,
    #[serde(default)]
    warnings: Vec<Warning>,
    unchanged: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedRefusal {
    violations: Vec<Violation>,
    /// The refused plan, when the scenario pins it too.
    #[serde(default)]
    plan: Option<ExpectedPlan>,
}

impl ExpectedPlan {
    fn of(plan: &Plan) -> Self {
        Self {
            creates: plan.creates().to_vec(),
            changes: plan.changes().to_vec(),
            revocations: plan.revocations().to_vec(),
            conflicts: plan.conflicts().to_vec(),
            warnings: plan.warnings().to_vec(),
            unchanged: plan.summary().unchanged,
        }
    }
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<{e}>"))
}

fn compare_plan(expected: &ExpectedPlan, plan: &Plan, problems: &mut Vec<String>) {
    let actual = ExpectedPlan::of(plan);
    if &actual != expected {
        problems.push(format!(
            "plan differs\n--- expected\n{}\n--- actual\n{}",
            pretty(expected),
            pretty(&actual)
        ));
    }
}

fn run(path: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scenario: Scenario = match serde_json::from_str(&text) {
        Ok(scenario) => scenario,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    if scenario.description.trim().is_empty() {
        problems.push("has no description".to_owned());
    }
    let result = plan(
        &scenario.mapping,
        &scenario.directory,
        &scenario.portal,
        &scenario.policy,
    );
    let shown = match &result {
        Ok(plan) => plan.to_string(),
        Err(refusal) => format!("{refusal}\n{}", refusal.plan()),
    };
    match (&scenario.expect, &result) {
        (Expect::Plan(expected), Ok(plan)) => {
            compare_plan(expected, plan, &mut problems);
            // Apply, then plan again: nothing left to do.
            let mut portal = scenario.portal.clone();
            portal.apply(plan);
            match role_sync::plan(
                &scenario.mapping,
                &scenario.directory,
                &portal,
                &scenario.policy,
            ) {
                Ok(again) if again.is_empty() => {}
                Ok(again) => problems.push(format!("plan after apply is not empty:\n{again}")),
                Err(refusal) => problems.push(format!("plan after apply is refused: {refusal}")),
            }
        }
        (Expect::Plan(_), Err(refusal)) => {
            problems.push(format!(
                "expected a plan, got a refusal: {refusal}\n{}",
                refusal.plan()
            ));
        }
        (Expect::Refusal(expected), Err(refusal)) => {
            if refusal.violations() != expected.violations.as_slice() {
                problems.push(format!(
                    "violations differ\n--- expected\n{}\n--- actual\n{}",
                    pretty(&expected.violations),
                    pretty(&refusal.violations())
                ));
            }
            if let Some(expected) = &expected.plan {
                compare_plan(expected, refusal.plan(), &mut problems);
            }
        }
        (Expect::Refusal(_), Ok(plan)) => {
            problems.push(format!("expected a refusal, got a plan:\n{plan}"));
        }
    }
    for line in &scenario.display_contains {
        if !shown.contains(line.as_str()) {
            problems.push(format!("display lacks {line:?}:\n{shown}"));
        }
    }
    problems
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()).unwrap_or_default())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_file_holds() {
    let files = scenario_files();
    assert!(
        files.len() >= 20,
        "expected at least 20 scenarios, found {}",
        files.len()
    );
    let mut report = String::new();
    for path in &files {
        let problems = run(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for problem in problems {
            let _ = writeln!(report, "\n### {name}: {problem}");
        }
    }
    assert!(report.is_empty(), "scenario failures:{report}");
}

#[test]
fn the_runner_can_fail() {
    // A scenario whose expectation is wrong must be reported, not pass.
    let dir = std::env::temp_dir().join(format!("role-sync-runner-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("wrong.json");
    fs::write(
        &path,
        r#"{"description": "wrong on purpose",
            "mapping": {"groups": {"g": ["r"]}},
            "directory": {"users": [{"login": "a@x", "status": "ACTIVE"}], "groups": {"g": ["a@x"]}},
            "portal": {"users": []},
            "expect": {"plan": {"unchanged": 0}}}"#,
    )
    .unwrap();
    let problems = run(&path);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("plan differs"), "{problems:?}");
}
