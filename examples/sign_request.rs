//! Signs a Duo Admin API request and prints exactly what would be sent.
//!
//! Run with `cargo run --example sign_request`. It uses made-up credentials and touches no
//! network: the point is to show the canonical string Duo's HMAC covers and the headers that
//! carry it. Set `DUO_IKEY`, `DUO_SKEY` and `DUO_HOST` to sign with your own application's
//! values instead (the secret key is never printed).

use std::time::SystemTime;

use duo_auth::Credentials;
use duo_auth::sign::{Request, SignatureVersion, Signer, format_date};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let credentials = Credentials::new(
        env("DUO_IKEY", "DIWJ8X6AEYOR5OMC6TQ1"),
        env("DUO_SKEY", "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"),
        env("DUO_HOST", "api-xxxxxxxx.duosecurity.com"),
    )?;
    let date = format_date(SystemTime::now())?;

    for (label, version, request) in [
        (
            "v5 GET (the default): list users, one page",
            SignatureVersion::V5,
            Request::get("/admin/v1/users")
                .param("limit", "300")
                .param("offset", "0"),
        ),
        (
            "v5 POST: parameters travel as a JSON body, whose SHA-512 is signed",
            SignatureVersion::V5,
            Request::post("/admin/v1/users")
                .param("username", "jane.doe")
                .param("realname", "Jane Doe"),
        ),
        (
            "v2 POST with HMAC-SHA1 (legacy): parameters are form-encoded",
            SignatureVersion::V2Sha1,
            Request::post("/auth/v2/preauth").param("username", "jane.doe"),
        ),
    ] {
        let signer = Signer::with_version(credentials.clone(), version);
        let signed = signer.sign(&request, &date)?;
        println!("== {label}");
        println!("-- canonical string (what the HMAC covers):");
        println!("{}", signed.canonical());
        println!("-- request:");
        println!(
            "{} https://{}{}",
            signed.method(),
            credentials.api_host(),
            signed.path_and_query()
        );
        for (name, value) in signed.headers() {
            println!("{name}: {value}");
        }
        if let Some(body) = signed.body() {
            println!();
            println!("{}", String::from_utf8_lossy(body));
        }
        println!();
    }
    Ok(())
}
