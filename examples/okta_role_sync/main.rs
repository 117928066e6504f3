//! Okta group → portal role sync as a long-running service: the ThreatLocker-style "Okta
//! Workforce" integration.
//!
//! ```sh
//! cargo run --example okta_role_sync -- --once --dry-run          # one plan, nothing applied
//! cargo run --example okta_role_sync -- --once --json             # the plan as JSON on stdout
//! cargo run --example okta_role_sync -- --auth api-token          # every 15 min until Ctrl-C
//! cargo run --example okta_role_sync -- --sandbox-users 50000 --once   # watch the progress line
//! ```
//!
//! The mapping, interval and guards come from a TOML file (default
//! `examples/okta_role_sync/config.toml`). Without `OKTA_ORG_URL` it runs against an in-process
//! sandbox org; with it, against your org (`--auth`: `api-token` needs `OKTA_API_TOKEN`, `oauth`
//! and `dpop` need `OKTA_CLIENT_ID` and `OKTA_PRIVATE_KEY`; see `duo_okta_sdk::config`).
//!
//! Ctrl-C (or SIGTERM) stops it gracefully: a sync in progress finishes — a plan is applied in
//! one transaction or not at all — and then the service exits.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use duo_okta_sdk::config::{self, OktaAuth};
use duo_okta_sdk::okta_sync::{Progress, fetch_directory_with_progress};
use duo_okta_sdk::portal::PortalStore;
use idp_sandbox::Sandbox;
use okta_client::OktaClient;
use role_sync::{Guard, Mapping, Policy, SyncInterval};
use serde::Deserialize;
use tokio::sync::watch;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[derive(Parser, Debug)]
#[command(about = "Sync Okta group membership into portal roles")]
struct Args {
    /// The TOML file with the mapping, interval and policy.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/okta_role_sync/config.toml"))]
    config: PathBuf,
    /// Okta auth type: api-token, oauth or dpop.
    #[arg(long, default_value_t = OktaAuth::Dpop)]
    auth: OktaAuth,
    /// Override the file's interval (5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h).
    #[arg(long)]
    interval: Option<SyncInterval>,
    /// Sync once and exit (exit code 2 when a guard refused the plan).
    #[arg(long)]
    once: bool,
    /// Plan and print, apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print each plan as JSON on stdout (logs go to stderr).
    #[arg(long)]
    json: bool,
    /// The portal database.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/okta_role_sync.sqlite"))]
    db: PathBuf,
    /// Override a guard for this run only (repeatable): empty_source, revocations,
    /// escalations, minimum_holders, conflicts. For example `--allow escalations` for the
    /// first sync of a large org.
    #[arg(long = "allow", value_parser = parse_guard)]
    allow: Vec<Guard>,
    /// Print the whole plan diff instead of its first lines.
    #[arg(long)]
    full: bool,
    /// Size of the sandbox org (ignored with OKTA_ORG_URL).
    #[arg(long, default_value_t = 2_000)]
    sandbox_users: usize,
}

/// The TOML file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    interval: SyncInterval,
    #[serde(default = "default_concurrency", deserialize_with = "concurrency")]
    concurrency: usize,
    mapping: Mapping,
    #[serde(default)]
    policy: Policy,
}

fn parse_guard(s: &str) -> std::result::Result<Guard, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown guard {s:?}"))
}

fn default_concurrency() -> usize {
    okta_client::groups::DEFAULT_CONCURRENCY
}

/// The group listings in flight at once. Zero would list nothing; beyond 16 a sync only spends
/// the org's rate limit faster (Okta's per-minute limit on group members is shared by every
/// request), so both are refused at start rather than discovered mid-sync.
fn concurrency<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if !(1..=16).contains(&n) {
        return Err(serde::de::Error::custom(format_args!(
            "concurrency = {n}: give 1 to 16 group listings in flight (the default, 8, suits most orgs)"
        )));
    }
    Ok(n)
}

#[tokio::main]
async fn main() {
    // Errors as their message, not as `Debug` (which escapes the text).
    if let Err(e) = run().await {
        eprintln!("okta_role_sync: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("{}: {e}", args.config.display()))?;
    let config: Config =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let interval = args.interval.unwrap_or(config.interval);

    // Keep the sandbox alive for the whole run; `None` against a real org.
    let (okta, _sandbox) = if config::real_okta() {
        (config::okta_from_env(args.auth)?, None)
    } else {
        let groups = config.mapping.groups().count().max(5);
        let sandbox = Sandbox::builder()
            .users(args.sandbox_users)
            .groups(groups + 5)
            .start()
            .await?;
        log(&format!(
            "no OKTA_ORG_URL: using a sandbox org of {} users at {}",
            args.sandbox_users,
            sandbox.http_url()
        ));
        (
            config::okta_for_sandbox(&sandbox, args.auth)?,
            Some(sandbox),
        )
    };
    if let Some(parent) = args.db.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let store = PortalStore::open(&args.db)?;
    log(&format!(
        "auth {}, every {interval}, portal {}{}",
        args.auth,
        args.db.display(),
        if args.dry_run { ", dry run" } else { "" }
    ));

    let shutdown = shutdown_signal();
    loop {
        let outcome = sync_once(&okta, &config, &store, &args).await;
        match &outcome {
            Ok(()) => {}
            // A refusal or an Okta outage is logged; the service keeps its schedule, and the
            // portal keeps its last good state in the meantime.
            Err(e) => log(&format!("sync failed: {e}")),
        }
        if args.once {
            return match outcome {
                Ok(()) => Ok(()),
                Err(SyncError::Refused(_)) => std::process::exit(2),
                Err(SyncError::Other(e)) => Err(e),
            };
        }
        let mut stop = shutdown.clone();
        log(&format!("next sync in {interval}"));
        tokio::select! {
            _ = tokio::time::sleep(interval.as_duration()) => {}
            _ = stop.changed() => {
                log("shutting down");
                return Ok(());
            }
        }
        if *shutdown.borrow() {
            return Ok(());
        }
    }
}

#[derive(Debug)]
enum SyncError {
    Refused(String),
    Other(Box<dyn Error>),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "refused by a guard, nothing applied: {r}"),
            Self::Other(e) => e.fmt(f),
        }
    }
}

impl<E: Into<Box<dyn Error>>> From<E> for SyncError {
    fn from(e: E) -> Self {
        Self::Other(e.into())
    }
}

async fn sync_once(
    okta: &OktaClient,
    config: &Config,
    store: &PortalStore,
    args: &Args,
) -> std::result::Result<(), SyncError> {
    let started = Instant::now();
    let mut meter = ProgressLine::default();
    let directory = fetch_directory_with_progress(okta, &config.mapping, config.concurrency, |p| {
        meter.update(p)
    })
    .await?;
    meter.finish();
    let portal = store.load()?;
    let policy = args
        .allow
        .iter()
        .fold(config.policy.clone(), |policy, guard| policy.allow(*guard));
    let result = role_sync::plan(&config.mapping, &directory, &portal, &policy);
    let plan = match &result {
        Ok(plan) => plan,
        Err(refusal) => refusal.plan(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(plan)?);
    } else {
        let text = plan.to_string();
        let shown = if args.full { usize::MAX } else { 20 };
        for line in text.lines().take(shown) {
            eprintln!("  {line}");
        }
        let hidden = text.lines().count().saturating_sub(shown);
        if hidden > 0 {
            eprintln!(
                "  … {hidden} more lines (--full shows them, --json prints the plan as JSON)"
            );
        }
    }
    let plan = match result {
        Ok(plan) => plan,
        Err(refusal) => return Err(SyncError::Refused(refusal.to_string())),
    };
    if args.dry_run {
        log("dry run: nothing applied");
    } else if !plan.is_empty() {
        let applied = store.apply(&plan, &portal)?;
        log(&format!(
            "applied {}: {} users created, {} roles granted, {} sync grants removed",
            plan.fingerprint(),
            applied.created,
            applied.granted,
            applied.removed
        ));
    }
    if let Some(limit) = okta.last_rate_limit() {
        log(&format!("Okta rate limit last seen: {limit:?}"));
    }
    log(&format!(
        "sync done in {:.2} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A single updating line on stderr, redrawn at most five times a second.
#[derive(Default)]
struct ProgressLine {
    last: Option<Instant>,
    latest: Progress,
}

impl ProgressLine {
    fn update(&mut self, p: Progress) {
        self.latest = p;
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        self.draw();
    }

    fn draw(&self) {
        let p = self.latest;
        eprint!(
            "\r  listing Okta groups: {}/{} done, {} memberships read   ",
            p.groups_done, p.groups, p.members
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        self.draw();
        eprintln!();
    }
}

/// Flips to `true` on Ctrl-C or SIGTERM.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        // A sync in progress is not interrupted: the loop only looks at this between syncs.
        let _ = tx.send(true);
    });
    rx
}

fn log(message: &str) {
    eprintln!("[okta_role_sync] {message}");
}
