//! The sandbox's credentials as the SDK's clients take them.
//!
//! Each conversion is the one an integrator would otherwise write by hand: Duo applications into
//! [`duo_auth::Credentials`], the Okta org URL into an [`okta_client::OktaDomain`], the API token
//! into an [`okta_client::ApiToken`], and a service app into the `private_key_jwt` (or, for the
//! apps that require it, DPoP) credentials it was registered for — its key, key id and scopes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use idp_sandbox::Sandbox;
//!
//! let sandbox = Sandbox::builder().users(20).start().await?;
//! let creds = sandbox.credentials();
//!
//! let duo = duo_auth::AuthClient::builder((&creds.duo.auth).try_into()?)
//!     .loopback_http(true) // the sandbox serves plain HTTP on loopback
//!     .build()?;
//! duo.check().await?;
//!
//! // The DPoP app gets DPoP credentials (with a fresh proof key), the others private_key_jwt.
//! let okta = okta_client::OktaClient::builder(
//!     (&creds.okta).try_into()?,
//!     okta_client::Credentials::try_from(&creds.okta.dpop_ec)?,
//! )
//! .build()?;
//! let groups = okta.groups(&Default::default()).await?;
//! # let _ = groups;
//! # Ok(()) }
//! ```
//!
//! Only the plumbing is shared with the clients: the sandbox still verifies every signature with
//! its own cryptography (AWS-LC), not theirs.

use crate::duo::DuoApplication;
use crate::okta::{OktaCredentials, OktaServiceApp};

impl TryFrom<&DuoApplication> for duo_auth::Credentials {
    type Error = duo_auth::CredentialsError;

    /// The application's integration key, secret key and API host (`127.0.0.1:PORT`).
    fn try_from(app: &DuoApplication) -> Result<Self, Self::Error> {
        duo_auth::Credentials::new(
            app.integration_key.as_str(),
            app.secret_key.as_str(),
            app.api_host.as_str(),
        )
    }
}

impl TryFrom<&OktaCredentials> for okta_client::OktaDomain {
    type Error = okta_client::Error;

    /// The org URL (`http://127.0.0.1:PORT`: plain HTTP is accepted for loopback hosts only).
    fn try_from(okta: &OktaCredentials) -> Result<Self, Self::Error> {
        okta.org_url.parse()
    }
}

impl TryFrom<&OktaCredentials> for okta_client::ApiToken {
    type Error = okta_client::Error;

    /// The org's API token (SSWS).
    fn try_from(okta: &OktaCredentials) -> Result<Self, Self::Error> {
        okta_client::ApiToken::new(okta.api_token.as_str())
    }
}

impl TryFrom<&OktaServiceApp> for okta_client::PrivateKeyJwt {
    type Error = okta_client::Error;

    /// The app's client id, its main key (the private JWK with its `kid`, as Okta's console
    /// hands it out) and every scope granted to it.
    fn try_from(app: &OktaServiceApp) -> Result<Self, Self::Error> {
        let key = okta_client::key::PrivateKey::from_jwk(&app.key.private_jwk)?;
        okta_client::PrivateKeyJwt::builder(app.client_id.as_str(), key)
            .scopes(&app.scopes)
            .build()
    }
}

impl TryFrom<&OktaServiceApp> for okta_client::Credentials {
    type Error = okta_client::Error;

    /// What the app was registered for: DPoP (with a fresh P-256 proof key, never the client
    /// key) when it requires DPoP, plain `private_key_jwt` otherwise.
    fn try_from(app: &OktaServiceApp) -> Result<Self, Self::Error> {
        let client = okta_client::PrivateKeyJwt::try_from(app)?;
        Ok(if app.dpop {
            okta_client::Dpop::builder(client).build()?.into()
        } else {
            client.into()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::Sandbox;

    #[tokio::test]
    async fn every_conversion_gives_working_credentials() {
        let sandbox = Sandbox::builder().users(3).groups(1).start().await.unwrap();
        let creds = sandbox.credentials();

        for app in [&creds.duo.auth, &creds.duo.admin] {
            let c = duo_auth::Credentials::try_from(app).unwrap();
            assert_eq!(c.integration_key(), app.integration_key);
            assert_eq!(c.api_host(), app.api_host);
        }
        let duo = duo_auth::AuthClient::builder((&creds.duo.auth).try_into().unwrap())
            .loopback_http(true)
            .build()
            .unwrap();
        duo.check().await.unwrap();

        let domain = okta_client::OktaDomain::try_from(&creds.okta).unwrap();
        let token = okta_client::ApiToken::try_from(&creds.okta).unwrap();
        let apps = [
            &creds.okta.bearer_rsa,
            &creds.okta.dpop_rsa,
            &creds.okta.dpop_ec,
        ];
        let mut clients = vec![okta_client::OktaClient::builder(domain.clone(), token)];
        for app in apps {
            let jwt = okta_client::PrivateKeyJwt::try_from(app).unwrap();
            assert_eq!(jwt.client_id(), app.client_id);
            assert_eq!(jwt.kid(), Some(app.key.kid.as_str()));
            assert_eq!(jwt.scopes(), app.scopes.as_slice());
            let credentials = okta_client::Credentials::try_from(app).unwrap();
            assert_eq!(
                matches!(credentials, okta_client::Credentials::Dpop(_)),
                app.dpop,
                "{}",
                app.name
            );
            clients.push(okta_client::OktaClient::builder(
                domain.clone(),
                credentials,
            ));
        }
        // Each one is accepted by the org: the token endpoint checked the assertion (and the
        // DPoP proofs), the resource API the token.
        let mut seen = Vec::new();
        for client in clients {
            let groups = client.build().unwrap().groups(&Default::default()).await;
            let mut ids: Vec<String> = groups.unwrap().into_iter().map(|g| g.id).collect();
            ids.sort();
            seen.push(ids);
        }
        assert!(!seen[0].is_empty());
        assert!(seen.iter().all(|ids| *ids == seen[0]), "{seen:?}");
    }
}
