//! What a newcomer meets first: listings that `.try_next()` works on without pinning, futures
//! that `tokio::spawn` accepts, and an error that says what to change when an app requires DPoP
//! and the client was built without it.
#![allow(clippy::unwrap_used, missing_docs)]

use futures::TryStreamExt as _;
use idp_sandbox::Sandbox;
use okta_client::{Error, GroupQuery, OktaClient, OktaDomain, PrivateKeyJwt};

fn send_and_unpin<T: Send + Unpin>(_: &T) {}
fn send<T: Send>(_: T) {}

#[allow(dead_code)] // type-checked, never run
fn listings_are_send_and_unpin(client: &OktaClient) {
    send_and_unpin(&client.list_groups(&GroupQuery::default()));
    send_and_unpin(&client.list_group_members("00g1"));
    send(client.groups(&GroupQuery::default()));
    send(client.group_members("00g1"));
    send(client.directory_snapshot(&["00g1"], 2));
}

#[tokio::test]
async fn a_listing_is_read_with_try_next_and_no_pin() {
    let sandbox = Sandbox::builder().users(5).groups(2).start().await.unwrap();
    let okta = &sandbox.credentials().okta;
    let client = OktaClient::builder(
        OktaDomain::try_from(okta).unwrap(),
        okta_client::ApiToken::try_from(okta).unwrap(),
    )
    .build()
    .unwrap();
    let mut groups = client.list_groups(&GroupQuery::default());
    let mut listed = 0;
    while let Some(group) = groups.try_next().await.unwrap() {
        assert!(!group.id.is_empty());
        listed += 1;
    }
    assert_eq!(
        listed,
        client.groups(&GroupQuery::default()).await.unwrap().len()
    );
    assert!(listed > 0);
}

#[tokio::test]
async fn an_app_that_requires_dpop_says_so_when_called_without_it() {
    let sandbox = Sandbox::builder().users(5).groups(1).start().await.unwrap();
    let okta = &sandbox.credentials().okta;
    // The DPoP app's key and scopes, but plain private_key_jwt: no proof on the token request.
    let plain = PrivateKeyJwt::try_from(&okta.dpop_rsa).unwrap();
    let client = OktaClient::builder(OktaDomain::try_from(okta).unwrap(), plain)
        .build()
        .unwrap();
    let err = client.groups(&GroupQuery::default()).await.unwrap_err();
    let Error::OAuth(oauth) = &err else {
        panic!("expected Okta's OAuth error, got {err:?}");
    };
    assert_eq!(oauth.error, "invalid_dpop_proof");
    let text = err.to_string();
    assert!(text.contains("okta_client::Dpop"), "{text}");
    assert!(text.contains("requires DPoP"), "{text}");

    // The same app with DPoP credentials works, and other errors carry no such hint.
    let dpop = okta_client::Credentials::try_from(&okta.dpop_rsa).unwrap();
    let client = OktaClient::builder(OktaDomain::try_from(okta).unwrap(), dpop)
        .build()
        .unwrap();
    client.groups(&GroupQuery::default()).await.unwrap();
    let refused = client.group_members("00gNOSUCHGROUP").await.unwrap_err();
    assert!(
        !refused.to_string().contains("okta_client::Dpop"),
        "{refused}"
    );
}
