//! Compile-time checks of the Rust API Guidelines points that a caller relies on without
//! reading the docs: every error type is an `Error + Send + Sync + 'static` (so `?` into
//! `Box<dyn Error + Send + Sync>` or anyhow works, and errors cross tasks), clients and
//! credentials are `Clone + Send + Sync + Debug` (shared across a web server's handlers), and
//! the secrets' `Debug` is redacted. If one stops holding, this file no longer compiles or fails.
#![allow(clippy::unwrap_used)]

use std::error::Error as StdError;
use std::fmt::Debug;

fn error<E: StdError + Send + Sync + 'static>() {}
fn shared<T: Clone + Send + Sync + Debug + 'static>() {}

#[test]
fn every_error_is_send_sync_static() {
    error::<duo_auth::Error>();
    error::<duo_auth::CredentialsError>();
    error::<duo_auth::sign::SignError>();
    error::<duo_auth::policy::MappingError>();
    error::<duo_auth::universal::UniversalError>();
    error::<duo_auth::universal::UniversalConfigError>();
    error::<duo_auth::universal::IdTokenError>();
    error::<duo_admin::Error>();
    error::<okta_client::Error>();
    error::<role_sync::Refusal>();
    error::<role_sync::ParseError>();
}

#[test]
fn clients_and_credentials_can_be_shared() {
    shared::<duo_auth::AuthClient>();
    shared::<duo_auth::Credentials>();
    shared::<duo_admin::AdminClient>();
    shared::<okta_client::OktaClient>();
    shared::<okta_client::Credentials>();
    shared::<role_sync::Mapping>();
    shared::<role_sync::Policy>();
}

#[test]
fn secrets_do_not_print() {
    let skey = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";
    let creds =
        duo_auth::Credentials::new("DIWJ8X6AEYOR5OMC6TQ1", skey, "api-x.duosecurity.com").unwrap();
    assert!(!format!("{creds:?}").contains(skey));
    let token = "00abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    let api_token = okta_client::ApiToken::new(token).unwrap();
    assert!(!format!("{api_token:?}").contains(token));
    assert!(!format!("{:?}", okta_client::Credentials::from(api_token)).contains(token));
}
