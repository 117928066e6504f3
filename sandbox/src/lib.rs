//! A loopback Duo + Okta emulator that checks what the real services check.
//!
//! Nobody can test a Duo or Okta integration without accounts, and canned responses accept
//! anything. This sandbox serves the Duo Auth API, the Duo Admin API, the Duo Universal Prompt
//! and Okta's org API (OAuth 2.0 token endpoint with `private_key_jwt` and DPoP, groups and
//! members) on loopback, and **verifies** requests the way the real services do: Duo signatures
//! (v2 and v5) and dates, Okta client assertions, DPoP proofs and nonces. It serves a
//! deterministic organisation generated from a seed, rate-limits with the real headers and
//! injects faults on request.
//!
//! ```no_run
//! # async fn demo() -> Result<(), idp_sandbox::SandboxError> {
//! let sandbox = idp_sandbox::Sandbox::builder().seed(7).users(200).groups(10).start().await?;
//! let duo = &sandbox.credentials().duo.auth;
//! println!("Duo Auth API at {} with ikey {}", duo.api_host, duo.integration_key);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! It binds only to loopback addresses.
#![forbid(unsafe_code)]

pub mod clients;
pub mod duo;
pub mod faults;
pub mod okta;
mod origin;
mod people;
pub mod saml;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

pub use duo::{DuoAccount, DuoApplication, DuoCredentials, UniversalApplication};
pub use faults::{Fault, FaultKind, Faults};
pub use okta::{OktaCredentials, OktaDirectory};
pub use people::Person;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The bind address is not a loopback address; the sandbox never listens elsewhere.
    #[error("refusing to bind {0}: the sandbox listens on loopback addresses only")]
    NotLoopback(IpAddr),
    /// Binding or serving failed.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TLS certificate could not be made or loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// The shape of the generated organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSpec {
    /// Seed of every generated value (people, ids, keys are random per start).
    pub seed: u64,
    /// Number of people (Okta users; Duo users are the first `duo_users` of them).
    pub users: usize,
    /// Number of Okta groups.
    pub groups: usize,
    /// Number of Duo users (at most `users`).
    pub duo_users: usize,
}

impl Default for OrgSpec {
    fn default() -> Self {
        Self {
            seed: 1,
            users: 50,
            groups: 5,
            duo_users: 50,
        }
    }
}

/// Configures and starts a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    spec: OrgSpec,
    duo_users_set: bool,
    ip: IpAddr,
    port: u16,
    tls: bool,
    https_port: u16,
    faults: Vec<Fault>,
}

impl SandboxBuilder {
    /// The seed of the generated organisation (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.spec.seed = seed;
        self
    }

    /// How many people the organisation has (default 50).
    pub fn users(mut self, n: usize) -> Self {
        self.spec.users = n;
        self
    }

    /// How many Okta groups (default 5).
    pub fn groups(mut self, n: usize) -> Self {
        self.spec.groups = n;
        self
    }

    /// How many of the people have Duo accounts (default: all of them).
    pub fn duo_users(mut self, n: usize) -> Self {
        self.spec.duo_users = n;
        self.duo_users_set = true;
        self
    }

    /// The loopback address to bind (default 127.0.0.1); anything else is refused at start.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// The HTTP port (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Also serve HTTPS with a certificate made at start (its PEM is [`Sandbox::ca_pem`]); the
    /// official Duo Universal client only speaks HTTPS.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// The HTTPS port (default 0: any free port).
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = port;
        self
    }

    /// A fault active from the start.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Generates the organisation, binds and starts serving.
    pub async fn start(self) -> Result<Sandbox, SandboxError> {
        if !self.ip.is_loopback() {
            return Err(SandboxError::NotLoopback(self.ip));
        }
        let mut spec = self.spec;
        if !self.duo_users_set || spec.duo_users > spec.users {
            spec.duo_users =
                spec.duo_users
                    .min(spec.users)
                    .max(if self.duo_users_set { 0 } else { spec.users });
        }
        let faults = Faults::default();
        for f in self.faults {
            faults.inject(f);
        }

        let addr = SocketAddr::new(self.ip, self.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let http_addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let https_listener = if self.tls {
            let addr = SocketAddr::new(self.ip, self.https_port);
            let l = std::net::TcpListener::bind(addr)
                .map_err(|source| SandboxError::Bind { addr, source })?;
            l.set_nonblocking(true)
                .map_err(|source| SandboxError::Bind { addr, source })?;
            Some(l)
        } else {
            None
        };
        let https_addr = match &https_listener {
            Some(l) => Some(
                l.local_addr()
                    .map_err(|source| SandboxError::Bind { addr, source })?,
            ),
            None => None,
        };

        let duo = Arc::new(duo::DuoState::new(&spec));
        let okta = Arc::new(okta::OktaState::new(&spec));
        let app = Router::new()
            .merge(duo::router(duo.clone(), faults.clone()))
            .merge(okta::router(okta.clone(), faults.clone()))
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::middleware,
            ))
            .layer(axum::middleware::from_fn_with_state(
                okta.clone(),
                okta::edge_middleware,
            ))
            .layer(axum::middleware::from_fn_with_state(
                duo.clone(),
                duo::edge_middleware,
            ));

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        {
            let app = app.clone().layer(axum::Extension(origin::Scheme("http")));
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "sandbox HTTP server failed");
                }
            }));
        }
        let mut ca_pem = None;
        if let Some(listener) = https_listener {
            let cert = tls::Certificate::generate(self.ip).map_err(SandboxError::Tls)?;
            let config = axum_server::tls_rustls::RustlsConfig::from_pem(
                cert.chain_pem.clone().into_bytes(),
                cert.key_pem.clone().into_bytes(),
            )
            .await
            .map_err(|e| SandboxError::Tls(e.to_string()))?;
            ca_pem = Some(cert.ca_pem);
            let app = app.layer(axum::Extension(origin::Scheme("https")));
            let handle = axum_server::Handle::new();
            let server = axum_server::from_tcp_rustls(listener, config)
                .map_err(|e| SandboxError::Tls(e.to_string()))?
                .handle(handle.clone());
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = stop.wait_for(|s| *s).await;
                handle.graceful_shutdown(Some(std::time::Duration::from_secs(1)));
            }));
            tasks.push(tokio::spawn(async move {
                if let Err(e) = server.serve(app.into_make_service()).await {
                    tracing::error!(error = %e, "sandbox HTTPS server failed");
                }
            }));
        }

        let http_url = format!("http://{http_addr}");
        let duo_host = match https_addr {
            // The Universal Prompt's official client insists on https://{host}.
            Some(a) => a.to_string(),
            None => http_addr.to_string(),
        };
        let credentials = Credentials {
            duo: duo.credentials(&http_addr.to_string(), &duo_host),
            okta: okta.credentials(&http_url),
        };
        Ok(Sandbox {
            spec,
            http_addr,
            https_addr,
            ca_pem,
            credentials,
            faults,
            duo,
            okta,
            stop: stop_tx,
            tasks,
        })
    }
}

/// Everything a client needs to talk to the sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct Credentials {
    /// Duo applications.
    pub duo: DuoCredentials,
    /// Okta org and service apps.
    pub okta: OktaCredentials,
}

/// A running sandbox. Dropping it stops the servers; [`shutdown`](Self::shutdown) waits for them.
#[derive(Debug)]
pub struct Sandbox {
    spec: OrgSpec,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    ca_pem: Option<String>,
    credentials: Credentials,
    faults: Faults,
    duo: Arc<duo::DuoState>,
    okta: Arc<okta::OktaState>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// A builder with the defaults: seed 1, 50 people, 5 groups, HTTP on a free loopback port.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            spec: OrgSpec::default(),
            duo_users_set: false,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tls: false,
            https_port: 0,
            faults: Vec::new(),
        }
    }

    /// The organisation's shape.
    pub fn spec(&self) -> &OrgSpec {
        &self.spec
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The HTTP listener's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// `https://127.0.0.1:PORT` when TLS is on.
    pub fn https_url(&self) -> Option<String> {
        self.https_addr.map(|a| format!("https://{a}"))
    }

    /// The PEM of the throw-away CA that signed the HTTPS listener's certificate, to trust in
    /// clients.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The generated credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The live fault rules.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The Duo account: users, behaviours, counters.
    pub fn duo(&self) -> DuoAccount {
        DuoAccount::new(self.duo.clone())
    }

    /// The Okta directory: change users, groups and memberships between syncs.
    pub fn okta(&self) -> OktaDirectory {
        OktaDirectory::new(self.okta.clone())
    }

    /// The Okta org's SAML apps: the sandbox as Okta's SAML IdP, signing in the directory's
    /// users (see [`saml::SamlIdp`]).
    pub fn saml(&self) -> saml::SamlIdp {
        saml::SamlIdp::new(self.okta.clone(), self.http_url())
    }

    /// Stops the servers and waits for them. Requests held by faults
    /// ([`FaultKind::Hold`], [`FaultKind::Barrier`]) are let go first, so that they do not keep
    /// the servers waiting.
    pub async fn shutdown(mut self) {
        self.faults.clear();
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.faults.clear();
        let _ = self.stop.send(true);
    }
}

/// An Okta error object response (`errorCode`, `errorSummary`, `errorLink`, `errorId`,
/// `errorCauses`), shared by the Okta routes and the fault middleware.
pub(crate) fn okta_error_body(status: StatusCode, code: &str, summary: &str) -> Response {
    let body = serde_json::json!({
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": format!("oae{}", random_id(19)),
        "errorCauses": [],
    });
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A random alphanumeric id of `len` characters (OS randomness: ids must not repeat across runs).
pub(crate) fn random_id(len: usize) -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
