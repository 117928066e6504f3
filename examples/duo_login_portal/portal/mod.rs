//! The portal behind `duo_login_portal`: configuration, start-up, and the parts it is made of.
//! The browser test (`tests/browser.rs`) starts it through [`start`] too, so it drives exactly
//! what `cargo run --example duo_login_portal` serves.

// `pub(crate)` for the tests that include this module (`tests/portal_*.rs`).
pub(crate) mod app;
mod client_ip;
pub(crate) mod demo;
mod html;
mod session;
mod throttle;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use duo_auth::gate::Gate;
use duo_auth::policy::UsernameMapping;
use duo_auth::policy::ip::{InMemoryLastAuthStore, IpSkip, LastAuth, LastAuthStore};
use duo_auth::universal::UniversalClient;
use duo_auth::{AuthClient, Credentials};
use duo_okta_sdk::portal::PortalStore;

pub(crate) use demo::DemoUser;

/// Errors of the example: anything, with a message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which second factor the portal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Duo's Universal Prompt (OIDC redirect): the default, and what Duo recommends.
    Universal,
    /// The Auth API: the portal sends the push itself, with the IP skip and username mapping.
    Push,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "universal" => Ok(Mode::Universal),
            "push" => Ok(Mode::Push),
            other => Err(format!("unknown mode {other:?}: use universal or push")),
        }
    }
}

/// How to start the portal.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Universal Prompt or Auth API push.
    pub(crate) mode: Mode,
    /// Loopback port to listen on (0: any free port).
    pub(crate) port: u16,
    /// The SQLite file of the portal store; `None` keeps it in memory.
    pub(crate) db: Option<PathBuf>,
    /// A real Duo tenant, or `None` for the in-process sandbox.
    pub(crate) tenant: Option<Tenant>,
    /// The portal's URL as the browser reaches it (`PORTAL_BASE_URL`), when not
    /// `http://127.0.0.1:PORT`: behind a reverse proxy, say. An `https://` URL makes the session
    /// cookie `Secure` and turns on HSTS.
    pub(crate) public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`); none by default,
    /// so the client's address is the socket's peer address.
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// A real Okta SAML app's IdP metadata (`OKTA_SAML_METADATA_URL`, `OKTA_SAML_METADATA`), or
    /// `None` for the sandbox's Okta.
    pub(crate) idp: Option<app::saml::IdpSource>,
    /// Creates users the sync has not created yet, on their first SAML sign-in, when their Okta
    /// groups map to roles (`--saml-jit`). Off: such users are refused.
    pub(crate) saml_jit: bool,
}

impl Default for Options {
    /// Universal Prompt, any free port, an in-memory store, the sandbox, no proxy.
    fn default() -> Self {
        Options {
            mode: Mode::Universal,
            port: 0,
            db: None,
            tenant: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            idp: None,
            saml_jit: false,
        }
    }
}

/// A Duo Auth API application's keys.
#[derive(Debug, Clone)]
pub(crate) struct AuthApp {
    pub(crate) ikey: String,
    pub(crate) skey: String,
    pub(crate) host: String,
}

/// A Duo Web SDK (Universal Prompt) application's keys.
#[derive(Debug, Clone)]
pub(crate) struct UniversalApp {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) api_host: String,
}

/// A real Duo tenant, from the environment (names in the example's doc comment).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tenant {
    pub(crate) auth: Option<AuthApp>,
    pub(crate) universal: Option<UniversalApp>,
    /// Portal login → Duo username or alias.
    pub(crate) username_map: Vec<(String, String)>,
}

impl Tenant {
    /// Reads the environment; `None` when none of the Duo variables is set (then the sandbox
    /// is used). A half-set application is an error naming what is missing.
    pub(crate) fn from_env() -> Result<Option<Tenant>, BoxError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let group = |names: [&str; 3]| -> Result<Option<[String; 3]>, BoxError> {
            let values = names.map(var);
            if values.iter().all(Option::is_none) {
                return Ok(None);
            }
            let missing: Vec<&str> = names
                .iter()
                .zip(&values)
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            if !missing.is_empty() {
                return Err(
                    format!("set {} too (or none of {names:?})", missing.join(", ")).into(),
                );
            }
            Ok(Some(values.map(Option::unwrap_or_default)))
        };
        let auth = group(["DUO_IKEY", "DUO_SKEY", "DUO_HOST"])?.map(|[ikey, skey, host]| AuthApp {
            ikey,
            skey,
            host,
        });
        let universal = group(["DUO_CLIENT_ID", "DUO_CLIENT_SECRET", "DUO_API_HOST"])?.map(
            |[client_id, client_secret, api_host]| UniversalApp {
                client_id,
                client_secret,
                api_host,
            },
        );
        if auth.is_none() && universal.is_none() {
            return Ok(None);
        }
        // "alice=jane.doe,bob=bob.smith-alias"
        let username_map = var("DUO_USERNAME_MAP")
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
            .collect();
        Ok(Some(Tenant {
            auth,
            universal,
            username_map,
        }))
    }
}

/// The store of last successful Duo authentications (for the IP skip), shared by every gate the
/// portal builds: saving new keys on the settings page must not forget who approved from where.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedLastAuth(Arc<InMemoryLastAuthStore>);

impl LastAuthStore for SharedLastAuth {
    async fn last(&self, duo_username: &str) -> Option<LastAuth> {
        self.0.last(duo_username).await
    }
    async fn record(&self, duo_username: &str, auth: LastAuth) {
        self.0.record(duo_username, auth).await;
    }
}

/// The gate this portal uses.
pub(crate) type PortalGate = Gate<SharedLastAuth>;

/// Whether `host` (`name[:port]`) is a loopback address: only then may Duo be spoken to over
/// plain HTTP (the in-process sandbox). Real Duo is always HTTPS.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An Auth API client for these keys (validated by [`Credentials::new`]).
pub(crate) fn auth_client(app: &AuthApp) -> Result<AuthClient, BoxError> {
    let credentials = Credentials::new(app.ikey.trim(), app.skey.trim(), app.host.trim())?;
    let loopback = is_loopback_host(credentials.api_host());
    Ok(AuthClient::builder(credentials)
        .loopback_http(loopback)
        .timeout(Duration::from_secs(15))
        .build()?)
}

/// The 2FA gate: portal usernames mapped to Duo usernames or aliases, and the IP skip — a user
/// who approved from this IP in the last 12 hours is not asked again.
pub(crate) fn build_gate(
    client: AuthClient,
    mapping: &UsernameMapping,
    last: &SharedLastAuth,
) -> PortalGate {
    Gate::builder(client, last.clone())
        .mapping(mapping.clone())
        .ip_skip(IpSkip {
            enabled: true,
            max_age: Some(Duration::from_secs(12 * 3600)),
        })
        .build()
}

/// A Universal Prompt client that comes back to `{base_url}/duo-callback`.
pub(crate) fn universal_client(
    app: &UniversalApp,
    base_url: &str,
) -> Result<UniversalClient, BoxError> {
    let host = app.api_host.trim();
    Ok(UniversalClient::builder(
        app.client_id.trim(),
        app.client_secret.trim(),
        host,
        format!("{base_url}/duo-callback"),
    )
    .loopback_http(is_loopback_host(host))
    .timeout(Duration::from_secs(15))
    .build()?)
}

/// A running portal.
#[derive(Debug)]
pub(crate) struct Running {
    /// Where to point the browser.
    pub(crate) url: String,
    /// Where the portal listens (the same as `url` unless a public URL was given).
    pub(crate) addr: SocketAddr,
    /// The sandbox, when no real Duo tenant or no real Okta app was configured.
    pub(crate) sandbox: Option<idp_sandbox::Sandbox>,
    /// The demo users (sandbox mode) and what each shows.
    pub(crate) demo_users: Vec<DemoUser>,
    /// Which Duo applications and which IdP are used, for the start-up message.
    pub(crate) duo_summary: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the server and the sandbox.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
    }
}

/// Starts the portal (and the sandbox, unless a tenant is given) and serves it in a task.
pub(crate) async fn start(options: Options) -> Result<Running, BoxError> {
    // Loopback only: this is a demo with throw-away passwords.
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), options.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base_url = options
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{local}"));

    let store = match &options.db {
        Some(path) => PortalStore::open(path)?,
        None => PortalStore::open_in_memory()?,
    };
    demo::seed_break_glass(&store)?;

    // The sandbox stands in for whatever is not configured: Duo, Okta, or both.
    let sandbox = if options.tenant.is_none() || options.idp.is_none() {
        Some(demo::start_sandbox().await?)
    } else {
        None
    };
    let no_sandbox = "the sandbox was not started";
    let demo = match &options.tenant {
        Some(tenant) => demo::Duo::from_tenant(tenant),
        None => demo::Duo::sandbox(sandbox.as_ref().ok_or(no_sandbox)?).await?,
    };
    let mut duo_summary = String::new();
    let idp = match &options.idp {
        Some(source) => {
            duo_summary.push_str(&format!("Okta SAML app: metadata from {source:?}\n"));
            source.load().await?
        }
        None => {
            let sandbox = sandbox.as_ref().ok_or(no_sandbox)?;
            // The sandbox's Okta app answers this portal: its Single sign-on URL and Audience
            // URI are set as an administrator sets them in Okta, and its metadata is read from
            // its URL as from Okta's. Its users are the directory the role sync reads.
            let saml = sandbox.saml();
            let okta_app = saml.default_app();
            saml.set_sp(
                okta_app.id(),
                idp_sandbox::saml::SpSettings::new(
                    app::saml::acs_url(&base_url),
                    app::saml::entity_id(&base_url),
                ),
            )?;
            demo::sync_from_sandbox(sandbox, &store).await?;
            duo_summary.push_str(&format!(
                "Okta SAML app {} of the sandbox: metadata {}\n",
                okta_app.id(),
                okta_app.metadata_url()
            ));
            app::saml::IdpSource::Url(okta_app.metadata_url())
                .load()
                .await?
        }
    };
    let saml = app::saml::Saml::new(&base_url, idp, options.saml_jit)?;
    // Keys an administrator saved on the settings page win over the sandbox's (not over the
    // environment: what the operator sets explicitly is what runs).
    let auth_app = match (&options.tenant, app::saved_auth_app(&store)?) {
        (Some(t), _) if t.auth.is_some() => t.auth.clone(),
        (_, Some(saved)) => Some(saved),
        _ => demo.auth.clone(),
    };
    let universal_app = match (&options.tenant, app::saved_universal_app(&store)?) {
        (Some(t), _) if t.universal.is_some() => t.universal.clone(),
        (_, Some(saved)) => Some(saved),
        _ => demo.universal.clone(),
    };
    let last_auth = SharedLastAuth::default();
    let gate = match &auth_app {
        Some(a) => {
            duo_summary.push_str(&format!("Auth API application {} at {}\n", a.ikey, a.host));
            Some(Arc::new(build_gate(
                auth_client(a)?,
                &demo.mapping,
                &last_auth,
            )))
        }
        None => None,
    };
    let universal = match &universal_app {
        Some(u) => {
            duo_summary.push_str(&format!(
                "Web SDK application {} at {}\n",
                u.client_id, u.api_host
            ));
            Some(universal_client(u, &base_url)?)
        }
        None => None,
    };
    match options.mode {
        Mode::Push if gate.is_none() => {
            return Err(
                "--mode push needs an Auth API application: set DUO_IKEY, DUO_SKEY and DUO_HOST"
                    .into(),
            );
        }
        Mode::Universal if universal.is_none() => {
            return Err("--mode universal needs a Web SDK application: set DUO_CLIENT_ID, DUO_CLIENT_SECRET and DUO_API_HOST".into());
        }
        _ => {}
    }

    let state = Arc::new(app::AppState::new(app::Setup {
        mode: options.mode,
        store,
        demo_users: demo.users.clone(),
        mapping: demo.mapping.clone(),
        last_auth,
        gate,
        universal,
        base_url: base_url.clone(),
        trusted_proxies: client_ip::TrustedProxies::new(options.trusted_proxies.iter().copied()),
        saml: Some(saml),
        role_mapping: demo::role_mapping(),
    }));
    let router = app::router(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            eprintln!("portal server failed: {e}");
        }
    });
    Ok(Running {
        url: format!("{base_url}/login"),
        addr: local,
        sandbox,
        demo_users: demo.users,
        duo_summary,
        stop,
        server,
    })
}
