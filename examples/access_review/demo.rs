//! The access review, shared by the example's `main` and the browser test: read the portal's
//! accounts from its store, collect the evidence from Okta and Duo, review, write the files.
//! On the sandbox it first builds a portal worth reviewing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use access_review::collect::{Collector, Progress, Stage};
use access_review::{Evidence, PortalAccount, Report, ReviewPolicy, Timestamp, review};
use duo_admin::import::{self, Authenticator, PortalIdentity};
use duo_okta_sdk::config::{self, OktaAuth};
use duo_okta_sdk::okta_sync::fetch_directory;
use duo_okta_sdk::portal::{self, PortalStore};
use idp_sandbox::Sandbox;
use idp_sandbox::okta::OktaUserStatus;
use role_sync::{GrantSource, Mapping, Policy};
use serde::Deserialize;

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What to review and where to write it.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The portal's database. `None` on the sandbox: a demo portal is built in `out`.
    pub(crate) db: Option<PathBuf>,
    /// The directory the report files go to.
    pub(crate) out: PathBuf,
    /// The sync's TOML file, for its `[mapping]` (other keys are the sync's and ignored here).
    pub(crate) config: PathBuf,
    /// Okta auth type against a real org.
    pub(crate) auth: OktaAuth,
    /// The portal's Okta app, whose assignments are read (the sandbox's own portal app when on
    /// the sandbox).
    pub(crate) app_id: Option<String>,
    /// Days without sign-in before an account is stale.
    pub(crate) stale_days: u32,
    /// Days of Duo authentication log to read.
    pub(crate) log_days: u32,
    /// Roles whose holders must have a second factor.
    pub(crate) privileged: Vec<String>,
    /// Whether to print progress on stderr.
    pub(crate) progress: bool,
}

/// What a run wrote.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) report: Report,
    pub(crate) files: Vec<PathBuf>,
}

/// The `[mapping]` of the sync's configuration file; its other keys belong to the sync.
#[derive(Deserialize)]
struct SyncFile {
    mapping: Mapping,
}

pub(crate) fn read_mapping(path: &Path) -> Result<Mapping> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the mapping file {}: {e}", path.display()))?;
    let file: SyncFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file.mapping)
}

pub(crate) async fn run(options: &Options) -> Result<Written> {
    let mapping = read_mapping(&options.config)?;
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    let real = config::real_okta() || std::env::var_os("DUO_ADMIN_IKEY").is_some();
    let (sandbox, db) = match (&options.db, real) {
        (Some(db), _) => (None, db.clone()),
        (None, true) => {
            return Err(
                "against a real Okta org or Duo account, --db must name the portal's \
                        database (the one okta_role_sync keeps)"
                    .into(),
            );
        }
        (None, false) => {
            let db = options.out.join("demo-portal.sqlite");
            let _ = std::fs::remove_file(&db);
            let sandbox = Sandbox::builder()
                .seed(7)
                .users(60)
                .groups(5)
                .start()
                .await?;
            let store = PortalStore::open(&db)?;
            build_demo_portal(&sandbox, &store, &mapping).await?;
            (Some(sandbox), db)
        }
    };

    let okta = match &sandbox {
        Some(sb) if !config::real_okta() => config::okta_for_sandbox(sb, OktaAuth::Dpop)?,
        _ => config::okta_from_env(options.auth)?,
    };
    let duo = config::duo_admin_client(sandbox.as_ref()).map_err(|e| e.to_string())?;
    let app_id = options.app_id.clone().or_else(|| {
        sandbox
            .as_ref()
            .and_then(|sb| sb.okta().portal_app().map(|(id, _)| id))
    });

    // The portal's accounts: read-only, so a review never changes the store it reviews.
    let store = PortalStore::open_read_only(&db)?;
    let mut evidence = Evidence::new(&mapping);
    for user in store.load()?.users() {
        let login = user.login().as_str();
        let duo_user = store.duo_user_id(login)?;
        evidence
            .portal
            .push(PortalAccount::from_portal_user(user, duo_user.as_deref()));
    }

    let now = Timestamp::now();
    let mut collector = Collector::new(evidence, now)
        .okta(&okta)
        .duo(&duo)
        .duo_log_days(options.log_days);
    if let Some(app) = &app_id {
        collector = collector.okta_app(app.as_str());
    }
    if sandbox.is_some() {
        // The sandbox logs an authentication the moment it happens; Duo holds back two minutes.
        collector = collector.duo_log_delay(Duration::ZERO);
    }
    let show = options.progress;
    let evidence = collector
        .run(|p: Progress| {
            if show {
                let what = match p.stage {
                    Stage::OktaGroups => "Okta: members of the mapped groups",
                    Stage::OktaUsers => "Okta: portal logins in no mapped group",
                    Stage::OktaApp => "Okta: the portal app's assignments",
                    Stage::DuoUsers => "Duo: users",
                    Stage::DuoAdmins => "Duo: administrators",
                    Stage::DuoLog => "Duo: authentication log events",
                    _ => "reading",
                };
                eprintln!("  {what}: {}", p.done);
            }
        })
        .await?;

    let mut policy = ReviewPolicy::default().stale_after_days(options.stale_days);
    for role in &options.privileged {
        policy = policy.privileged_role(role.as_str());
    }
    let report = review(&evidence, &policy, now);
    let mut files = Vec::new();
    let mut write = |name: &str, body: String| -> Result<()> {
        let path = options.out.join(name);
        std::fs::write(&path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        files.push(path);
        Ok(())
    };
    write("review.json", report.to_json())?;
    write("review.html", report.to_html())?;
    write("users.csv", report.users_csv()?)?;
    write("findings.csv", report.findings_csv()?)?;
    write("duo_admins.csv", report.duo_admins_csv()?)?;
    // The evidence itself, so that the fingerprint can be checked and the review re-run.
    write(
        "evidence.json",
        serde_json::to_string_pretty(&evidence.normalized())?,
    )?;
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(Written { report, files })
}

/// The demo portal: a sync from the sandbox's Okta, the Duo users linked, then what a real
/// portal accumulates — sign-ins, a suspension the sync has not seen yet, a Duo bypass, a
/// manual grant, a contractor account Okta never had.
async fn build_demo_portal(
    sandbox: &Sandbox,
    store: &PortalStore,
    mapping: &Mapping,
) -> Result<()> {
    store.add_user("root@portal.example", Some("change me"), true)?;
    store.grant("root@portal.example", "admin", GrantSource::Manual)?;
    let okta = config::okta_for_sandbox(sandbox, OktaAuth::Dpop)?;
    let directory = fetch_directory(&okta, mapping, 4).await?;
    let before = store.load()?;
    let plan = role_sync::plan(mapping, &directory, &before, &Policy::default())
        .map_err(|refusal| format!("the demo sync was refused: {refusal}"))?;
    store.apply(&plan, &before)?;

    // Link the Duo users (the portal login's local part is the Duo username).
    let duo = config::duo_admin_client(Some(sandbox)).map_err(|e| e.to_string())?;
    let logins: Vec<String> = store
        .load()?
        .users()
        .iter()
        .map(|u| u.login().as_str().to_owned())
        .collect();
    let local = |login: &str| login.split('@').next().unwrap_or(login).to_owned();
    let identities: Vec<PortalIdentity> = logins
        .iter()
        .map(|l| PortalIdentity::new(local(l)).email(l.as_str()))
        .collect();
    let imported = import::import(&duo, &identities, &Default::default(), |_| {}).await?;
    let links: Vec<(String, String, Vec<portal::Authenticator>)> = imported
        .matched
        .iter()
        .filter_map(|m| {
            let login = logins.iter().find(|l| local(l) == m.portal_username)?;
            let authenticators = m.authenticators.iter().map(describe).collect();
            Some((login.clone(), m.duo_user_id.clone(), authenticators))
        })
        .collect();
    store.link_duo_all(
        links
            .iter()
            .map(|(l, d, a)| (l.as_str(), d.as_str(), a.as_slice())),
    )?;

    // Two in three synced users signed in through Okta (SAML) and Duo (push) today; the rest
    // last signed in when the sandbox's history says, years ago.
    let portal = store.load()?;
    let synced: Vec<String> = portal
        .users()
        .iter()
        .filter(|u| !u.is_protected())
        .map(|u| u.login().as_str().to_owned())
        .collect();
    for (i, login) in synced.iter().enumerate() {
        if i % 3 != 2 {
            sandbox.okta().record_sign_in(login, true, true);
            sandbox
                .duo()
                .record_auth_event(&local(login), "duo_push", "success", "user_approved");
        }
    }
    let holders = |role: &str| -> Vec<String> {
        portal
            .users()
            .iter()
            .filter(|u| !u.is_protected() && u.grants().iter().any(|g| g.role == role))
            .map(|u| u.login().as_str().to_owned())
            .collect()
    };
    if let Some(admin) = holders("admin").first() {
        sandbox.duo().set_status(&local(admin), "bypass");
    }
    // Someone without admin is suspended in Okta after the sync ran (the next sync would revoke
    // them); an admin is given `developer` by hand, a role the sync manages.
    let admins = holders("admin");
    let others: Vec<String> = synced
        .iter()
        .filter(|l| !admins.contains(l))
        .cloned()
        .collect();
    if let Some(user) = others.first() {
        sandbox.okta().set_status(user, OktaUserStatus::Suspended)?;
    }
    let developers = holders("developer");
    let without_developer = admins.iter().find(|l| !developers.contains(l)).cloned();
    if let Some(admin) = without_developer {
        store.grant(&admin, "developer", GrantSource::Manual)?;
    }
    store.add_user("contractor@partner.example", None, false)?;
    store.grant("contractor@partner.example", "viewer", GrantSource::Manual)?;
    Ok(())
}

fn describe(a: &Authenticator) -> portal::Authenticator {
    match a {
        Authenticator::Phone { number, .. } => {
            portal::Authenticator::new("phone", number.as_deref().unwrap_or("no number"))
        }
        Authenticator::Token { serial, .. } => {
            portal::Authenticator::new("token", serial.as_deref().unwrap_or(""))
        }
        Authenticator::WebAuthn { name, .. } => {
            portal::Authenticator::new("webauthn", name.as_deref().unwrap_or(""))
        }
        _ => portal::Authenticator::new("other", ""),
    }
}
