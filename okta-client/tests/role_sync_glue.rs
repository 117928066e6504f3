//! The `role-sync` feature against the sandbox: mapped group names resolved to ids, ambiguous
//! names refused, missing names left out (so role-sync's guard sees them missing), statuses
//! mapped, complete or an error.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use idp_sandbox::Sandbox;
use okta_client::directory::{
    FetchError, fetch_directory, fetch_directory_with_progress, resolve_groups,
};
use okta_client::{ApiToken, OktaClient};
use role_sync::{Mapping, UserStatus};

async fn setup() -> (Sandbox, OktaClient) {
    let sb = Sandbox::builder()
        .seed(3)
        .users(150)
        .groups(6)
        .start()
        .await
        .unwrap();
    let client = OktaClient::builder(
        sb.credentials().okta.org_url.parse().unwrap(),
        ApiToken::new(&sb.credentials().okta.api_token).unwrap(),
    )
    .build()
    .unwrap();
    (sb, client)
}

#[tokio::test]
async fn mapped_groups_become_a_directory_with_mapped_statuses() {
    let (sb, client) = setup().await;
    let mapping = Mapping::new()
        .map("Portal Admins", ["admin"])
        .map("Portal Users", ["user"])
        .map("No Such Group", ["ghost"]);
    let names = resolve_groups(&client, &mapping).await.unwrap();
    assert_eq!(names.len(), 2, "a missing name is left out: {names:?}");
    let directory = fetch_directory(&client, &mapping, 2).await.unwrap();
    let mut groups: Vec<&str> = directory.groups().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["Portal Admins", "Portal Users"]);
    for (name, id) in &names {
        let expected = sb.okta().members(id).unwrap();
        let got: Vec<_> = directory.members(name).unwrap().collect();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.id, e.id);
            assert_eq!(g.status, UserStatus::from(e.status.as_str()));
        }
    }
    let mut last = None;
    let with_progress = fetch_directory_with_progress(&client, &mapping, 2, |p| last = Some(p))
        .await
        .unwrap();
    let last = last.unwrap();
    assert_eq!(last.groups, 2);
    assert_eq!(last.groups_done, 2);
    assert_eq!(
        last.members,
        names
            .values()
            .map(|id| sb.okta().members(id).unwrap().len())
            .sum::<usize>()
    );
    assert_eq!(with_progress.users().len(), directory.users().len());
    sb.shutdown().await;
}

#[tokio::test]
async fn an_ambiguous_name_is_refused() {
    let (sb, client) = setup().await;
    sb.okta().create_group("Portal Admins", None);
    let mapping = Mapping::new().map("Portal Admins", ["admin"]);
    match fetch_directory(&client, &mapping, 2).await {
        Err(FetchError::AmbiguousGroup { name, count }) => {
            assert_eq!((name.as_str(), count), ("Portal Admins", 2));
        }
        other => panic!("{other:?}"),
    }
    sb.shutdown().await;
}
