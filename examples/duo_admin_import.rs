//! Import existing Duo users and their authenticators into a portal, then print an access-review
//! snapshot — what authentik's Duo import and Drata's Duo connector do.
//!
//! ```sh
//! cargo run --example duo_admin_import                          # sandbox account, CSV review
//! cargo run --example duo_admin_import -- --format json         # the review as JSON
//! cargo run --example duo_admin_import -- --map ops@corp.example=jdoe --out target/review
//! ```
//!
//! Without `DUO_ADMIN_IKEY`, `DUO_ADMIN_SKEY` and `DUO_ADMIN_HOST` it runs against the in-process
//! sandbox with a made-up portal; with them it reads your Duo account and matches the users
//! already in the portal database (`--db`, for example the one `quickstart` left behind).
//!
//! Matching never guesses: a portal user matching several Duo users, or a Duo user matched by
//! several portal users, is reported as a conflict and left unlinked.

use std::error::Error;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use duo_admin::import::{self, Authenticator, DuoRef, ImportOptions, PortalIdentity};
use duo_admin::review::AccessReview;
use duo_okta_sdk::config;
use duo_okta_sdk::portal::{self, PortalStore};
use idp_sandbox::Sandbox;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[derive(Parser, Debug)]
#[command(about = "Import Duo users into the portal and print an access review")]
struct Args {
    /// The portal database.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/duo_admin_import.sqlite"))]
    db: PathBuf,
    /// An explicit link, `PORTAL_LOGIN=DUO_USERNAME` or `PORTAL_LOGIN=id:DUO_USER_ID`
    /// (repeatable); it wins over every other rule.
    #[arg(long = "map", value_parser = parse_link)]
    links: Vec<(String, DuoRef)>,
    /// Review format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Write the review into this directory (users.csv, admins.csv, … or review.json)
    /// instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Json,
}

fn parse_link(s: &str) -> std::result::Result<(String, DuoRef), String> {
    let (portal, duo) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected PORTAL_LOGIN=DUO_USERNAME"))?;
    let duo = match duo.strip_prefix("id:") {
        Some(id) => DuoRef::UserId(id.to_owned()),
        None => DuoRef::Username(duo.to_owned()),
    };
    Ok((portal.to_owned(), duo))
}

#[tokio::main]
async fn main() {
    // Errors as their message, not as `Debug` (which escapes the text).
    if let Err(e) = run().await {
        eprintln!("duo_admin_import: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = Args::parse();
    let real = std::env::var_os("DUO_ADMIN_IKEY").is_some();
    let sandbox = if real {
        None
    } else {
        Some(
            Sandbox::builder()
                .seed(3)
                .users(400)
                .duo_users(300)
                .start()
                .await?,
        )
    };
    let client = config::duo_admin_client(sandbox.as_ref())?;
    if let Some(parent) = args.db.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let store = PortalStore::open(&args.db)?;
    if let Some(sandbox) = &sandbox {
        seed_demo_portal(sandbox, &store)?;
    }

    // The portal's users as the importer sees them: portal logins are e-mail addresses, and
    // the local part is what most organisations use as the Duo username.
    let logins: Vec<String> = store
        .load()?
        .users()
        .iter()
        .map(|u| u.login().as_str().to_owned())
        .collect();
    let username_of = |login: &str| login.split('@').next().unwrap_or(login).to_owned();
    let portal: Vec<PortalIdentity> = logins
        .iter()
        .map(|login| {
            let identity = PortalIdentity::new(username_of(login));
            if login.contains('@') {
                identity.email(login.as_str())
            } else {
                identity
            }
        })
        .collect();
    // Back from the importer's usernames to portal logins (a username shared by two logins is
    // a conflict the importer reports, so it is never linked).
    let login_of: std::collections::HashMap<String, &String> =
        logins.iter().map(|l| (username_of(l), l)).collect();
    let options = args
        .links
        .iter()
        .fold(ImportOptions::default(), |options, (login, duo)| {
            options.explicit(username_of(login), duo.clone())
        });

    eprintln!("reading Duo users (every page, paced, retried on 429/5xx)…");
    let report = import::import(&client, &portal, &options, |p| {
        if p.pages % 5 == 0 {
            let total = p.total.map_or_else(|| "?".to_owned(), |t| t.to_string());
            eprintln!("  page {}: {} of {total} users", p.pages, p.users);
        }
    })
    .await?;

    // Every link in one transaction: an import stopped part-way links nobody, and the next
    // run starts from the same state.
    let links: Vec<(&str, &str, Vec<portal::Authenticator>)> = report
        .matched
        .iter()
        .filter_map(|matched| {
            let login = login_of.get(&matched.portal_username)?;
            let authenticators = matched.authenticators.iter().map(describe).collect();
            Some((login.as_str(), matched.duo_user_id.as_str(), authenticators))
        })
        .collect();
    store.link_duo_all(links.iter().map(|(l, d, a)| (*l, *d, a.as_slice())))?;
    eprintln!(
        "import: {} Duo users read; {} portal users linked, {} Duo users unmatched, {} portal users without Duo, {} conflicts",
        report.duo_users,
        report.matched.len(),
        report.unmatched_duo.len(),
        report.unmatched_portal.len(),
        report.conflicts.len()
    );
    for m in report.matched.iter().take(3) {
        eprintln!(
            "  {} → Duo {} ({:?}, by {:?}, {} authenticators)",
            m.portal_username,
            m.duo_username,
            m.status,
            m.matched_by,
            m.authenticators.len()
        );
    }
    for conflict in &report.conflicts {
        eprintln!(
            "  conflict, left unlinked: {}",
            serde_json::to_string(conflict)?
        );
    }

    eprintln!("reading the access review (users, admins with roles, groups, memberships)…");
    let review = AccessReview::read(&client).await?;
    let files: Vec<(&str, String)> = match args.format {
        Format::Json => vec![("review.json", review.to_json())],
        Format::Csv => vec![
            ("users.csv", review.users_csv()?),
            ("admins.csv", review.admins_csv()?),
            ("groups.csv", review.groups_csv()?),
            ("memberships.csv", review.memberships_csv()?),
        ],
    };
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            for (name, body) in &files {
                std::fs::write(dir.join(name), body)?;
                eprintln!("  wrote {}", dir.join(name).display());
            }
        }
        None => {
            for (name, body) in &files {
                println!("# {name}");
                // The first rows are enough on a terminal; --out writes everything.
                for line in body.lines().take(8) {
                    println!("{line}");
                }
                let more = body.lines().count().saturating_sub(8);
                if more > 0 {
                    println!("… {more} more lines (--out DIR writes them all)");
                }
            }
        }
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(())
}

/// How the portal shows an authenticator: kind and a label the user recognises.
fn describe(a: &Authenticator) -> portal::Authenticator {
    let (kind, label) = match a {
        Authenticator::Phone {
            number, platform, ..
        } => (
            "phone",
            format!(
                "{} ({})",
                number.as_deref().unwrap_or("no number"),
                platform
                    .as_ref()
                    .map_or("unknown platform".to_owned(), |p| format!("{p:?}"))
            ),
        ),
        Authenticator::Token {
            serial, token_type, ..
        } => (
            "token",
            format!(
                "{} {}",
                token_type.as_deref().unwrap_or("token"),
                serial.as_deref().unwrap_or("")
            ),
        ),
        Authenticator::WebAuthn { name, .. } => (
            "webauthn",
            name.clone().unwrap_or_else(|| "security key".to_owned()),
        ),
        // A kind of authenticator a later version of the crate knows.
        _ => ("other", String::new()),
    };
    portal::Authenticator::new(kind, label.trim())
}

/// A made-up portal for the sandbox: most Duo users, one known only by a Duo alias, one with no
/// Duo account, and two portal users that match the same Duo user (a conflict).
fn seed_demo_portal(sandbox: &Sandbox, store: &PortalStore) -> Result<()> {
    let duo = sandbox.duo();
    let users = duo.users();
    for user in users.iter().take(250) {
        store.add_user(&user.email, None, false)?;
    }
    // Known in the portal under another name, which the Duo admin added as an alias.
    if let Some(user) = users.get(260) {
        duo.add_alias(&user.username, "legacy.name");
        store.add_user("legacy.name@portal.example", None, false)?;
    }
    store.add_user("contractor@elsewhere.example", None, false)?;
    // Same local part as users[0] under another domain: two portal users claim one Duo user.
    if let Some(user) = users.first() {
        store.add_user(&format!("{}@portal.example", user.username), None, false)?;
    }
    Ok(())
}
