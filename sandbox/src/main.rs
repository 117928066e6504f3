//! `idp-sandbox`: serve the loopback Duo + Okta emulator and print its credentials.

fn main() {
    eprintln!("idp-sandbox: the command-line server is not built yet; use the library");
    std::process::exit(2);
}
