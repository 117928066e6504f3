//! A small web portal with Duo two-factor authentication and roles from an Okta role sync.
//!
//! ```sh
//! cargo run --example duo_login_portal                 # Universal Prompt (default)
//! cargo run --example duo_login_portal -- --mode push  # Auth API push, IP skip, username mapping
//! ```
//!
//! Open the printed URL and sign in with a demo user listed on the login page:
//! `alice` (admin) and `bob` (viewer) approve, `carol` is not enrolled in Duo (push mode shows
//! her the activation QR code and moves on once she has activated), `dave`'s push is denied.
//! After the password:
//!
//! - **Universal Prompt** (`--mode universal`, the default): the portal sends the browser to
//!   Duo's prompt with a `state` kept in the session, and on the way back checks the state,
//!   exchanges the code and validates the `id_token` (`duo_auth::universal::UniversalClient`).
//! - **Auth API push** (`--mode push`): `duo_auth::gate::Gate` maps the portal login to a Duo
//!   username or alias, skips Duo when the user approved from the same IP address in the last 12
//!   hours, enrolls users Duo does not know, and sends the push.
//!
//! The home page lists the user's roles as the role sync (`role-sync`) granted them, from the
//! portal store (`duo_okta_sdk::portal::PortalStore`, SQLite). Administrators get a settings page
//! that checks Duo keys with Duo (`AuthClient::verify`, the Universal health check) before saving
//! them, and says what is wrong when Duo refuses them.
//!
//! Options: `--mode universal|push`, `--port N` (default 3000; loopback only), `--db PATH` (the
//! portal's SQLite file; default a new file in the temporary directory), `--trusted-proxy IP`
//! (repeatable: a reverse proxy whose `X-Forwarded-For` names the client; by default no header
//! is believed and the client is the socket's peer).
//!
//! `PORTAL_BASE_URL` is the portal's URL as the browser reaches it (default
//! `http://127.0.0.1:PORT`); Duo sends the browser back to `PORTAL_BASE_URL/duo-callback`. Behind
//! a TLS-terminating proxy set it to the `https://` URL: the session cookie is then `Secure`.
//!
//! By default Duo is the in-process sandbox (`idp-sandbox`): nothing to sign up for. To use a
//! real Duo tenant, set:
//!
//! - `DUO_CLIENT_ID`, `DUO_CLIENT_SECRET`, `DUO_API_HOST`: a Web SDK application (Universal
//!   Prompt mode);
//! - `DUO_IKEY`, `DUO_SKEY`, `DUO_HOST`: an Auth API application (push mode);
//! - `DUO_USERNAME_MAP`: which Duo user (or alias) each demo login is, e.g.
//!   `alice=jane.doe,bob=bob.smith`; unmapped logins are used as they are.

mod portal;

use std::path::PathBuf;

use portal::{BoxError, Options, Tenant};

fn parse_args() -> Result<(Options, bool), BoxError> {
    let mut options = Options {
        port: 3000,
        tenant: Tenant::from_env()?,
        public_url: std::env::var("PORTAL_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty()),
        ..Options::default()
    };
    let mut db = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--mode" => options.mode = value()?.parse()?,
            "--port" => options.port = value()?.parse()?,
            "--db" => db = Some(PathBuf::from(value()?)),
            "--trusted-proxy" => {
                let proxy = value()?;
                let ip = proxy
                    .parse()
                    .map_err(|e| format!("--trusted-proxy {proxy:?}: {e}"))?;
                options.trusted_proxies.push(ip);
            }
            "-h" | "--help" => {
                println!(
                    "duo_login_portal [--mode universal|push] [--port N] [--db PATH] \
                     [--trusted-proxy IP]..."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    // A new store per run unless told otherwise (removed at exit): the demo users are seeded
    // into it.
    let temporary = db.is_none();
    options.db = Some(db.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("duo_login_portal-{}.sqlite", std::process::id()))
    }));
    Ok((options, temporary))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The audit trail (wrong passwords, lockouts) on stderr; RUST_LOG widens or narrows it.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("portal::audit=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let (options, temporary_db) = parse_args()?;
    let mode = options.mode;
    let db = options.db.clone();
    let running = portal::start(options).await?;
    match &running.sandbox {
        Some(sandbox) => println!("Duo: the in-process sandbox at {}", sandbox.http_url()),
        None => println!("Duo: the tenant from the environment"),
    }
    print!("{}", running.duo_summary);
    if let Some(db) = &db {
        println!("Portal store: {}", db.display());
    }
    println!("Second factor: {mode:?}");
    for user in &running.demo_users {
        println!("  {} / {}: {}", user.login, user.password, user.duo);
    }
    println!("\nOpen {}  (Ctrl-C to stop)", running.url);
    if !running
        .url
        .starts_with(&format!("http://{}/", running.addr))
    {
        // Behind a proxy: where the proxy must send the requests.
        println!("Listening on {}", running.addr);
    }
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    if let (true, Some(db)) = (temporary_db, db) {
        let _ = std::fs::remove_file(db);
    }
    Ok(())
}
