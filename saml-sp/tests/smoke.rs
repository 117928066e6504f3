//! Smoke test while building the crate.
mod common;
use common::*;
use idp_sandbox::saml::Signing;

#[test]
fn okta_default_response_is_accepted() {
    let mut f = flow();
    let xml = signed(&f.response(), Signing::Assertion);
    println!("{xml}");
    let login = f.post(&xml).unwrap();
    assert_eq!(login.name_id, "alice@example.com");
    assert_eq!(login.groups(), ["Everyone", "Portal Admins"]);
}
