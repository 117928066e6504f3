//! An access review with evidence: for each portal account its roles and their source, the
//! Okta groups that grant them, Okta status and last sign-in, the linked Duo user, the last Duo
//! authentication and its factor, the enrolled authenticators; the Duo administrators; and the
//! findings an auditor asks about first. Written as `review.json` (schema `access-review/1`),
//! `review.html` (one self-contained page, findings first), `users.csv`, `findings.csv`,
//! `duo_admins.csv`, and the `evidence.json` it was computed from.
//!
//! ```sh
//! cargo run --example access_review                 # a demo portal on the sandbox
//! cargo run --example access_review -- --db target/okta_role_sync.sqlite --app-id 0oa… \
//!     --out review/ --stale-days 90 --log-days 90   # your portal, with OKTA_* and DUO_ADMIN_* set
//! ```
//!
//! The mapping comes from the sync's own file (`--config`, default the `okta_role_sync`
//! example's). The store is opened read-only: a review never changes what it reviews. Exit code
//! 0 when the review was written (whatever it found), 1 when it could not be.

#[allow(dead_code)]
mod demo;

use std::path::PathBuf;

use clap::Parser;
use duo_okta_sdk::config::OktaAuth;

#[derive(Parser, Debug)]
#[command(about = "Write an access review of the portal, with evidence from Okta and Duo")]
struct Args {
    /// The portal's database (required against real tenants; the sandbox builds a demo portal).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Where the report files go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/access-review"))]
    out: PathBuf,
    /// The sync's TOML file, for its [mapping].
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/okta_role_sync/config.toml"))]
    config: PathBuf,
    /// Okta auth type against a real org: api-token, oauth or dpop.
    #[arg(long, default_value_t = OktaAuth::Dpop)]
    auth: OktaAuth,
    /// The portal's Okta app id, whose assignments say who can sign in by SAML.
    #[arg(long)]
    app_id: Option<String>,
    /// Days without a sign-in before an account holding roles is stale.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    stale_days: u32,
    /// Days of Duo authentication log to read for last authentications (Duo keeps 180).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=180))]
    log_days: u32,
    /// One more role whose holders must have a second factor (repeatable; `admin` always is).
    #[arg(long = "privileged")]
    privileged: Vec<String>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let options = demo::Options {
        db: args.db,
        out: args.out,
        config: args.config,
        auth: args.auth,
        app_id: args.app_id,
        stale_days: args.stale_days,
        log_days: args.log_days,
        privileged: args.privileged,
        progress: !args.quiet,
    };
    match demo::run(&options).await {
        Ok(written) => {
            let r = &written.report;
            let c = &r.counts;
            println!(
                "access review taken {} (inputs {})",
                r.taken_at, r.fingerprint
            );
            println!(
                "  {} portal accounts ({} holding roles, {} protected), {} Okta users, {} Duo users, {} Duo administrators",
                c.portal_users,
                c.with_roles,
                c.protected_accounts,
                c.okta_users,
                c.duo_users,
                c.duo_admins
            );
            println!("  {} findings:", r.findings.len());
            for (kind, n) in &c.findings_by_kind {
                println!("    {n:>4}  {kind}");
            }
            for finding in r.findings.iter().take(8) {
                println!(
                    "  [{:?}] {}: {}",
                    finding.severity, finding.subject, finding.message
                );
            }
            for file in &written.files {
                println!("  wrote {}", file.display());
            }
        }
        Err(e) => {
            eprintln!("access_review: {e}");
            std::process::exit(1);
        }
    }
}
