//! A small web portal: users sign in with Okta (SAML), then Duo two-factor authentication, and
//! get the roles an Okta role sync granted them.
//!
//! ```sh
//! cargo run --example duo_login_portal                 # Universal Prompt (default)
//! cargo run --example duo_login_portal -- --mode push  # Auth API push, IP skip, username mapping
//! ```
//!
//! Open the printed URL and click **Sign in with Okta**. In sandbox mode Okta is the in-process
//! sandbox's SAML IdP, whose sign-in page lists its directory: pick `alice@example.com` (admin)
//! or `bob@example.com` (viewer), who approve in Duo; `carol@example.com` is not enrolled in Duo
//! (push mode shows her the activation QR code and moves on once she has activated);
//! `dave@example.com`'s push is denied; `erin@example.com` is in Okta but in no mapped group, so
//! the sync never created her and the portal refuses her. The portal's users are what a role
//! sync made of the sandbox's Okta groups at start (`okta-client` over Okta's API, then
//! `role-sync`), so every user the sync created can sign in, and nobody else.
//!
//! - **SAML** (`saml-sp`): `GET /saml/login` sends the browser to Okta with an AuthnRequest;
//!   Okta posts the signed Response to `POST /saml/acs`, which checks it; the browser then
//!   finishes at `GET /saml/continue`, where the Response must answer the request this
//!   browser's session started (the session cookie is `SameSite=Lax`, so it is not sent with
//!   Okta's cross-site POST; see `portal/app/saml.rs`). A user the portal does not know is
//!   refused with a page that says why; `--saml-jit` creates users whose Okta groups map to
//!   roles instead. The SP's metadata is at `/saml/metadata` (also its entity ID).
//! - **Universal Prompt** (`--mode universal`, the default): the portal sends the browser to
//!   Duo's prompt with a `state` kept in the session, and on the way back checks the state,
//!   exchanges the code and validates the `id_token` (`duo_auth::universal::UniversalClient`).
//! - **Auth API push** (`--mode push`): `duo_auth::gate::Gate` maps the Okta login to a Duo
//!   username or alias, skips Duo when the user approved from the same IP address in the last 12
//!   hours, enrolls users Duo does not know, and sends the push.
//! - **Break-glass accounts** (`root`, `oncall`): protected accounts that no sync touches, the
//!   only ones that sign in with a password (then Duo) — for when Okta is unavailable. A
//!   password for anyone else is refused.
//!
//! The home page lists the user's roles from the portal store
//! (`duo_okta_sdk::portal::PortalStore`, SQLite), read at every request: a role the sync
//! removes is gone at the next page. Administrators get a settings page that checks Duo keys
//! with Duo (`AuthClient::verify`, the Universal health check) before saving them.
//!
//! Options: `--mode universal|push`, `--port N` (default 3000; loopback only), `--db PATH` (the
//! portal's SQLite file; default a new file in the temporary directory), `--trusted-proxy IP`
//! (repeatable: a reverse proxy whose `X-Forwarded-For` names the client; by default no header
//! is believed and the client is the socket's peer), `--saml-jit`.
//!
//! `PORTAL_BASE_URL` is the portal's URL as the browser reaches it (default
//! `http://127.0.0.1:PORT`); Okta posts to `PORTAL_BASE_URL/saml/acs` and Duo sends the browser
//! back to `PORTAL_BASE_URL/duo-callback`. Behind a TLS-terminating proxy set it to the
//! `https://` URL: the session cookie is then `Secure`.
//!
//! By default Okta and Duo are the in-process sandbox (`idp-sandbox`): nothing to sign up for.
//! To use real ones, set:
//!
//! - `OKTA_SAML_METADATA_URL` (or `OKTA_SAML_METADATA`, a file): a SAML 2.0 app integration's IdP
//!   metadata, the app set up with *Single sign-on URL* = `PORTAL_BASE_URL/saml/acs`, *Audience
//!   URI (SP Entity ID)* = `PORTAL_BASE_URL/saml/metadata`, *Name ID format* EmailAddress, and a
//!   group attribute statement `groups`; the store's users then come from `okta_role_sync`
//!   (`--db` the same file);
//! - `DUO_CLIENT_ID`, `DUO_CLIENT_SECRET`, `DUO_API_HOST`: a Web SDK application (Universal
//!   Prompt mode);
//! - `DUO_IKEY`, `DUO_SKEY`, `DUO_HOST`: an Auth API application (push mode);
//! - `DUO_USERNAME_MAP`: which Duo user (or alias) a login is, e.g.
//!   `jane@example.com=jane.doe,root=break.glass`; unmapped logins use their local part.

mod portal;

use std::path::PathBuf;

use portal::{BoxError, Options, Tenant};

/// The real Okta app's IdP metadata, if the environment names one.
fn idp_from_env() -> Option<portal::app::saml::IdpSource> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(url) = var("OKTA_SAML_METADATA_URL") {
        return Some(portal::app::saml::IdpSource::Url(url));
    }
    var("OKTA_SAML_METADATA").map(|path| portal::app::saml::IdpSource::File(PathBuf::from(path)))
}

fn parse_args() -> Result<(Options, bool), BoxError> {
    let mut options = Options {
        port: 3000,
        tenant: Tenant::from_env()?,
        public_url: std::env::var("PORTAL_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty()),
        idp: idp_from_env(),
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
            "--saml-jit" => options.saml_jit = true,
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
                     [--trusted-proxy IP]... [--saml-jit]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    // A new store per run unless told otherwise (removed at exit): the break-glass accounts are
    // seeded into it, and the sandbox's role sync fills it.
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
    if let Some(sandbox) = &running.sandbox {
        println!("Sandbox (Okta and/or Duo) at {}", sandbox.http_url());
    }
    print!("{}", running.duo_summary);
    if let Some(db) = &db {
        println!("Portal store: {}", db.display());
    }
    println!("Second factor: {mode:?}");
    for user in &running.demo_users {
        match user.password {
            Some(password) => println!("  {} / {}: {}", user.login, password, user.duo),
            None => println!("  {} (Okta): {}", user.login, user.duo),
        }
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
