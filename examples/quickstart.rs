//! The whole story in one command, with no accounts:
//!
//! 1. start the loopback sandbox (a Duo account and an Okta org);
//! 2. sync Okta groups → portal roles through a **DPoP** token into a portal stored in SQLite;
//! 3. change the directory (a user leaves a group, an admin ends up in no group), sync again and
//!    see the revocations — then watch the guard refuse a mass revocation;
//! 4. sign a synced user in with Okta (SAML, the sandbox's IdP), then Duo push through the 2FA
//!    gate.
//!
//! ```sh
//! cargo run --example quickstart                       # everything on the sandbox
//! cargo run --example quickstart -- --db portal.sqlite # keep the portal database
//! ```
//!
//! With `OKTA_ORG_URL` (and `OKTA_CLIENT_ID`, `OKTA_PRIVATE_KEY`) set it syncs your real org
//! instead (step 3 needs the sandbox and is skipped); with `DUO_IKEY`, `DUO_SKEY`, `DUO_HOST`
//! and `DUO_USERNAME` set, step 4 pushes to that real Duo user. See `duo_okta_sdk::config`.

use std::error::Error;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use duo_auth::gate::{AllowReason, Gate, Login, Step};
use duo_auth::policy::UsernameFormat;
use duo_auth::policy::UsernameMapping;
use duo_auth::policy::ip::{InMemoryLastAuthStore, IpSkip};
use duo_okta_sdk::config::{self, OktaAuth};
use duo_okta_sdk::okta_sync::fetch_directory;
use duo_okta_sdk::portal::PortalStore;
use idp_sandbox::Sandbox;
use idp_sandbox::saml::{PostedResponse, SignInForm, SpSettings};
use okta_client::OktaClient;
use role_sync::{GrantSource, Mapping, Plan, Policy};
use saml_sp::{IdpMetadata, PendingLogins, ReplayCache, RequestId, SamlLogin, ServiceProvider};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The portal's break-glass account: protected, so no sync can ever revoke or downgrade it.
const BREAK_GLASS: &str = "root@portal.example";

#[tokio::main]
async fn main() {
    // Errors as their message, not as `Debug` (which escapes the text).
    if let Err(e) = run().await {
        eprintln!("quickstart: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let started = Instant::now();
    let db = db_path()?;

    step("1. Start the sandbox: a Duo account and an Okta org on loopback");
    // 60 people in 5 groups; Okta user i is Duo user i (Duo username = the login's local part).
    let sandbox = Sandbox::builder()
        .seed(7)
        .users(60)
        .groups(5)
        .start()
        .await?;
    println!("   sandbox at {}", sandbox.http_url());

    let okta = if config::real_okta() {
        println!("   OKTA_ORG_URL is set: syncing your real org");
        config::okta_from_env(OktaAuth::Dpop)?
    } else {
        config::okta_for_sandbox(&sandbox, OktaAuth::Dpop)?
    };

    // Group names as an administrator sees them in Okta → portal roles. A group may grant
    // several roles; a user in several groups gets the union.
    let mapping = Mapping::new()
        .map("Portal Admins", ["admin"])
        .map("Portal Users", ["viewer"])
        .map("Engineering", ["developer", "viewer"]);
    // The defaults: only ACTIVE (and transiently locked) users keep access; users in no mapped
    // group are revoked; at most 10 % / 100 users revoked and 100 promotions per run. Keep at
    // least one admin whatever Okta says.
    let policy = Policy::default().min_holders("admin", 1);

    step(&format!(
        "2. First sync into the portal database {}",
        db.display()
    ));
    let store = PortalStore::open(&db)?;
    store.add_user(BREAK_GLASS, Some("change me"), true)?;
    store.grant(BREAK_GLASS, "admin", GrantSource::Manual)?;
    if let Some(token) = okta.token_info().await? {
        let scopes = token.scope.unwrap_or_default();
        println!(
            "   Okta token: {:?}-bound, scopes {scopes}",
            token.token_type
        );
    }
    let plan = sync(&okta, &mapping, &policy, &store).await?;
    let admins = users_with(&store, "admin")?;
    println!("   admins now: {}", short_list(&admins));

    if config::real_okta() {
        println!("\n(step 3 changes the sandbox directory: skipped against a real org)");
    } else {
        step("3. The directory changes: someone leaves Engineering, an admin is in no group");
        let directory = sandbox.okta();
        let group_id = |name: &str| directory.group(name).map(|g| g.id);
        let engineering = group_id("Engineering").ok_or("no Engineering group")?;
        // Someone in Engineering who is not an admin, and an admin to strip of every group.
        // Prefer someone who is also in Portal Users: they keep `viewer` and only lose
        // `developer`, a role change rather than a revocation.
        let in_group = |c: &role_sync::Create, role: &str, group: &str| {
            c.roles
                .iter()
                .any(|r| r.role == role && r.groups.iter().any(|g| g == group))
        };
        let leaver = plan
            .creates()
            .iter()
            .filter(|c| {
                in_group(c, "developer", "Engineering") && !in_group(c, "admin", "Portal Admins")
            })
            .max_by_key(|c| in_group(c, "viewer", "Portal Users"))
            .map(|c| c.login.clone())
            .ok_or("nobody in Engineering")?;
        let admin = admins
            .iter()
            .find(|a| !a.eq_ignore_ascii_case(BREAK_GLASS))
            .cloned()
            .ok_or("no synced admin")?;
        directory.remove_member(&engineering, &leaver)?;
        println!("   {leaver} left Engineering");
        for (name, _) in mapping.groups() {
            let id = group_id(name).ok_or("a mapped group is missing")?;
            directory.remove_member(&id, &admin)?;
        }
        println!(
            "   {admin} was removed from every group (as in Okta Workforce integrations such as ThreatLocker's: an admin in no synced group is revoked)"
        );
        sync(&okta, &mapping, &policy, &store).await?;
        println!(
            "   admins now: {}",
            short_list(&users_with(&store, "admin")?)
        );

        step("4. An outage-shaped listing: Portal Users comes back almost empty");
        let portal_users = group_id("Portal Users").ok_or("no Portal Users")?;
        let members = directory.members(&portal_users)?;
        for member in members.iter().skip(1) {
            directory.remove_member(&portal_users, &member.login)?;
        }
        for member in directory.members(&engineering)? {
            directory.remove_member(&engineering, &member.login)?;
        }
        let before = store.load()?;
        match sync(&okta, &mapping, &policy, &store).await {
            Err(e) => println!("   nothing applied: {e}"),
            Ok(_) => return Err("the guard should have refused this plan".into()),
        }
        let unchanged = store.load()? == before;
        println!("   portal unchanged: {unchanged}");
    }

    step("5. A synced user signs in with Okta (SAML), then Duo push through the 2FA gate");
    let duo = config::duo_auth_client(Some(&sandbox))?;
    // Portal logins are e-mail addresses; the Duo usernames are their local part.
    let gate = Gate::builder(duo, InMemoryLastAuthStore::default())
        .mapping(UsernameMapping::new(UsernameFormat::LocalPart))
        .ip_skip(IpSkip {
            enabled: true,
            max_age: Some(Duration::from_secs(12 * 3600)),
        })
        .build();
    let who = match std::env::var("DUO_USERNAME") {
        Ok(name) if config::real_duo() => name,
        _ => pick_duo_user(&sandbox, &store)?,
    };
    let ip: IpAddr = "198.51.100.7".parse()?;
    if config::real_okta() {
        println!("   (the SAML sign-in uses the sandbox's Okta: skipped against a real org)");
    } else {
        let okta = okta_sign_in(&sandbox, &who).await?;
        println!(
            "   Okta (SAML): {who} picked on the IdP's sign-in page; the signed Response checked: \
             NameID {}, Okta groups now {}",
            okta.name_id,
            okta.groups().join(", ")
        );
    }
    let login = Login::new(&who, ip);
    println!("   {who} signs in from {ip}: Okta vouched, now Duo");
    let outcome = match gate.begin(&login).await {
        Step::ChooseFactor(challenge) => {
            println!(
                "   push sent to {}; approve it on the phone (the sandbox approves)",
                challenge.duo_username
            );
            gate.push(&login, &challenge, Duration::from_secs(60)).await
        }
        other => other,
    };
    match outcome {
        Step::Allow(allowed) => println!(
            "   ✔ signed in ({:?}), roles {:?}",
            allowed.reason,
            store.roles(&who)?
        ),
        other => println!("   ✘ not signed in: {other:?}"),
    }
    // Same user, same IP: the IP-skip policy lets them in without another push.
    match gate.begin(&login).await {
        Step::Allow(a) if a.reason == AllowReason::SameIp => {
            println!("   second sign-in from {ip}: Duo skipped (same IP as the last Duo login)")
        }
        other => println!("   second sign-in from {ip}: {other:?}"),
    }

    step(&format!("Done in {:.1} s", started.elapsed().as_secs_f64()));
    println!("   portal database: {}", db.display());
    sandbox.shutdown().await;
    Ok(())
}

/// Reads the directory, plans, prints the plan, and applies it unless a guard refused it.
async fn sync(
    okta: &OktaClient,
    mapping: &Mapping,
    policy: &Policy,
    store: &PortalStore,
) -> Result<Plan> {
    let directory = fetch_directory(okta, mapping, 4).await?;
    let portal = store.load()?;
    let plan = match role_sync::plan(mapping, &directory, &portal, policy) {
        Ok(plan) => plan,
        Err(refusal) => {
            print_plan(refusal.plan());
            return Err(format!("refused by the guard: {refusal}").into());
        }
    };
    print_plan(&plan);
    // `apply` re-reads the portal in its transaction and refuses a plan made from an older state.
    let applied = store.apply(&plan, &portal)?;
    println!(
        "   applied: {} users created, {} roles granted, {} sync grants removed",
        applied.created, applied.granted, applied.removed
    );
    Ok(plan)
}

/// The plan's diff, shortened for a terminal.
fn print_plan(plan: &Plan) {
    let text = plan.to_string();
    let lines: Vec<&str> = text.lines().collect();
    const SHOWN: usize = 14;
    for line in lines.iter().take(SHOWN) {
        println!("   │ {line}");
    }
    if lines.len() > SHOWN {
        println!(
            "   │ … {} more lines (the plan serializes to JSON too)",
            lines.len() - SHOWN
        );
    }
}

fn users_with(store: &PortalStore, role: &str) -> Result<Vec<String>> {
    let portal = store.load()?;
    Ok(portal
        .users()
        .iter()
        .filter(|u| u.grants().iter().any(|g| g.role == role))
        .map(|u| u.login().as_str().to_owned())
        .collect())
}

/// "Sign in with Okta" as a portal does it (`saml-sp`), the browser's part played by plain
/// requests: the AuthnRequest to the sandbox's SAML IdP, `login` picked on its sign-in page, and
/// the Response its page would post to the ACS URL, checked.
async fn okta_sign_in(sandbox: &Sandbox, login: &str) -> Result<SamlLogin> {
    let (acs, entity_id) = (
        "https://portal.example.com/saml/acs",
        "https://portal.example.com/saml/metadata",
    );
    // The Okta app, set up with the portal's Single sign-on URL and Audience URI.
    let idp = sandbox.saml();
    let app = idp.default_app();
    idp.set_sp(app.id(), SpSettings::new(acs, entity_id))?;
    let http = reqwest::Client::new();
    let metadata = http.get(app.metadata_url()).send().await?.text().await?;
    let sp = ServiceProvider::builder(entity_id, acs, IdpMetadata::parse(&metadata)?).build()?;
    let (mut pending, mut replay) = (PendingLogins::new(100), ReplayCache::new(100));
    let now = SystemTime::now();
    let request = sp.login_request(RequestId::from_random(rand::random()), now, None)?;
    pending.insert(&request, now)?;
    let page = http.get(&request.url).send().await?.text().await?;
    let form = SignInForm::parse(&page).ok_or("no sign-in page at the IdP")?;
    let answer = http
        .post(format!("{}{}", sandbox.http_url(), form.action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.body(login))
        .send()
        .await?
        .text()
        .await?;
    let posted = PostedResponse::parse(&answer).ok_or("the IdP did not answer with a Response")?;
    let relay_state = posted.relay_state.as_deref();
    let now = SystemTime::now();
    Ok(sp.accept(
        &posted.saml_response,
        relay_state,
        now,
        &mut pending,
        &mut replay,
    )?)
}

/// A synced portal user, active in Okta, whose Duo account can take a push.
fn pick_duo_user(sandbox: &Sandbox, store: &PortalStore) -> Result<String> {
    let portal = store.load()?;
    let active_in_okta = |login: &str| {
        sandbox
            .okta()
            .user(login)
            .is_some_and(|u| u.status == idp_sandbox::okta::OktaUserStatus::Active)
    };
    for duo_user in sandbox.duo().users() {
        if duo_user.status != "active" || duo_user.phones.is_empty() {
            continue;
        }
        if let Some(user) = portal.users().iter().find(|u| {
            u.login().as_str().split('@').next() == Some(duo_user.username.as_str())
                && !u.grants().is_empty()
                && active_in_okta(u.login().as_str())
        }) {
            return Ok(user.login().as_str().to_owned());
        }
    }
    Err("no synced user with an active Duo phone".into())
}

fn db_path() -> Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    let path = match (args.next().as_deref(), args.next()) {
        (Some("--db"), Some(path)) => PathBuf::from(path),
        (None, _) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("quickstart.sqlite");
            // A fresh portal every run, so the story reads the same each time.
            let _ = std::fs::remove_file(&path);
            path
        }
        _ => return Err("usage: quickstart [--db PATH]".into()),
    };
    Ok(path)
}

fn short_list(logins: &[String]) -> String {
    match logins.len() {
        0..=4 => logins.join(", "),
        n => format!("{n} ({}, …)", logins[..3].join(", ")),
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}
