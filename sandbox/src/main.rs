//! `idp-sandbox`: serve the loopback Duo + Okta emulator and print its credentials.
//!
//! ```text
//! idp-sandbox --users 500 --groups 20 --seed 7 --port 8080 --tls \
//!             --faults 'GET /admin/v1/users=429x3' --faults '/api/v1/groups=latency:200'
//! idp-sandbox --saml-acs http://127.0.0.1:3000/saml/acs \
//!             --saml-audience http://127.0.0.1:3000/saml/metadata --saml-fault expired
//! ```

use std::net::IpAddr;

use clap::Parser;
use idp_sandbox::{Fault, Sandbox};

/// A loopback Duo + Okta emulator that verifies requests like the real services.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Number of people in the generated organisation (Okta users).
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Number of Okta groups.
    #[arg(long, default_value_t = 5)]
    groups: usize,
    /// Number of the people with Duo accounts (default: all).
    #[arg(long)]
    duo_users: Option<usize>,
    /// Seed of the generated organisation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Loopback address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTP port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Also serve HTTPS (needed by Duo's official Universal Prompt client).
    #[arg(long)]
    tls: bool,
    /// HTTPS port (0: any free port).
    #[arg(long, default_value_t = 0)]
    https_port: u16,
    /// Fault rules, `[METHOD ]PATH=KIND[xTIMES][@AFTER]`; repeat the flag or separate with ','.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<Fault>,
    /// The SAML app's Single sign-on URL: your SP's ACS URL (with --saml-audience).
    #[arg(long, requires = "saml_audience")]
    saml_acs: Option<String>,
    /// The SAML app's Audience URI: your SP's entity ID (with --saml-acs).
    #[arg(long, requires = "saml_acs")]
    saml_audience: Option<String>,
    /// A defect in every SAML Response: expired, wrong-audience, wrong-certificate, unsigned.
    #[arg(long)]
    saml_fault: Option<idp_sandbox::saml::SamlFault>,
    /// Sign the SAML Responses' assertion (Okta's default), the response, or both.
    #[arg(long, default_value = "assertion", value_parser = ["assertion", "response", "both"])]
    saml_signing: String,
    /// Print the credentials as JSON only (for scripts).
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut builder = Sandbox::builder()
        .users(args.users)
        .groups(args.groups)
        .seed(args.seed)
        .ip(args.bind)
        .port(args.port)
        .tls(args.tls)
        .https_port(args.https_port);
    if let Some(n) = args.duo_users {
        builder = builder.duo_users(n);
    }
    for fault in args.faults {
        builder = builder.fault(fault);
    }
    let sandbox = match builder.start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("idp-sandbox: {e}");
            std::process::exit(1);
        }
    };
    let saml = sandbox.saml().default_app();
    let signing = match args.saml_signing.as_str() {
        "response" => idp_sandbox::saml::Signing::Response,
        "both" => idp_sandbox::saml::Signing::Both,
        _ => idp_sandbox::saml::Signing::Assertion,
    };
    let mut configured = sandbox
        .saml()
        .set_signing(saml.id(), signing)
        .and_then(|()| sandbox.saml().set_fault(saml.id(), args.saml_fault));
    if let (Some(acs), Some(audience)) = (args.saml_acs, args.saml_audience) {
        let sp = idp_sandbox::saml::SpSettings::new(acs, audience);
        configured = configured.and_then(|()| sandbox.saml().set_sp(saml.id(), sp));
    }
    if let Err(e) = configured {
        eprintln!("idp-sandbox: {e}");
        std::process::exit(1);
    }
    let credentials = serde_json::to_string_pretty(sandbox.credentials()).unwrap_or_default();
    if args.json {
        println!("{credentials}");
    } else {
        println!("idp-sandbox serving on {}", sandbox.http_url());
        if let Some(url) = sandbox.https_url() {
            println!("                 and {url} (trust the CA below)");
        }
        println!(
            "organisation: seed {}, {} people, {} groups",
            args.seed, args.users, args.groups
        );
        println!(
            "SAML IdP (Okta-shaped app {}): metadata {}, SSO {}",
            saml.id(),
            saml.metadata_url(),
            saml.sso_url()
        );
        println!("credentials (throw-away test values):\n{credentials}");
        if let Some(ca) = sandbox.ca_pem() {
            println!("CA certificate:\n{ca}");
        }
        println!("Ctrl-C to stop.");
    }
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("idp-sandbox: cannot wait for Ctrl-C; stopping");
    }
    sandbox.shutdown().await;
}
