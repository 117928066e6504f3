//! The demo data. In sandbox mode, the sandbox's Okta org gets the demo's people and groups,
//! and the portal store gets its users the way a real portal does: a role sync reads the mapped
//! Okta groups over Okta's API (`okta-client`) and applies the plan. Those users sign in with
//! Okta (SAML, the sandbox's IdP, which signs in the same directory); two protected break-glass
//! accounts keep a local password. Their Duo accounts are in the sandbox too.

use std::time::Duration;

use duo_auth::client::{Capability, PreauthOptions, PreauthResult, UserRef};
use duo_auth::policy::{UsernameFormat, UsernameMapping};
use duo_okta_sdk::config::{OktaAuth, okta_for_sandbox};
use duo_okta_sdk::okta_sync::fetch_directory;
use idp_sandbox::Sandbox;
use idp_sandbox::duo::Behaviour;
use idp_sandbox::okta::NewOktaUser;
use role_sync::{Directory, DirectoryUser, GrantSource, Mapping, Policy, UserStatus};

use super::{AuthApp, BoxError, Tenant, UniversalApp, auth_client};
use duo_okta_sdk::portal::PortalStore;

/// One demo user, as the login page lists it.
#[derive(Debug, Clone)]
pub(crate) struct DemoUser {
    pub(crate) login: &'static str,
    /// Break-glass accounts only: everyone else signs in with Okta.
    pub(crate) password: Option<&'static str>,
    /// What happens at sign-in.
    pub(crate) duo: String,
}

/// The Okta users of the demo (their logins are their NameIDs).
pub(crate) const ALICE: &str = "alice@example.com";
pub(crate) const BOB: &str = "bob@example.com";
pub(crate) const CAROL: &str = "carol@example.com";
pub(crate) const DAVE: &str = "dave@example.com";
/// In Okta, but in no mapped group: the sync never created her, so the portal refuses her.
pub(crate) const ERIN: &str = "erin@example.com";

/// The break-glass accounts: protected (no sync touches them), a local password, admin.
pub(crate) const BREAK_GLASS: [(&str, &str); 2] =
    [("root", "root-password"), ("oncall", "oncall-password")];

/// Who is in which mapped Okta group: (group, Okta user id as the tests' hand-made directories
/// spell it, login). The sync matches users by login.
pub(crate) const MEMBERSHIPS: [(&str, &str, &str); 4] = [
    ("Portal Admins", "00u1alice", ALICE),
    ("Portal Viewers", "00u2bob", BOB),
    ("Portal Viewers", "00u3carol", CAROL),
    ("Portal Viewers", "00u4dave", DAVE),
];

/// The demo's Okta people: (login, first name, last name).
const PEOPLE: [(&str, &str, &str); 5] = [
    (ALICE, "Alice", "Anderson"),
    (BOB, "Bob", "Brown"),
    (CAROL, "Carol", "Clark"),
    (DAVE, "Dave", "Davis"),
    (ERIN, "Erin", "Evans"),
];

/// Which portal roles each Okta group grants.
pub(crate) fn role_mapping() -> Mapping {
    Mapping::new()
        .map("Portal Admins", ["admin", "viewer"])
        .map("Portal Viewers", ["viewer"])
}

/// A directory snapshot with these memberships, every user active (the tests sync from such
/// snapshots by hand).
#[allow(dead_code)]
pub(crate) fn directory<'a>(
    members: impl IntoIterator<Item = &'a (&'a str, &'a str, &'a str)>,
) -> Directory {
    let mut directory = Directory::new();
    for (group, id, login) in members {
        directory.add_member(*group, DirectoryUser::new(*id, *login, UserStatus::Active));
    }
    directory
}

/// One role sync, as `okta_role_sync` runs it against the same store: plan from the directory,
/// then apply (the store refuses the plan if the portal changed since `load`: a stale plan).
pub(crate) fn sync_roles(
    store: &PortalStore,
    mapping: &Mapping,
    directory: &Directory,
    policy: &Policy,
) -> Result<(), BoxError> {
    let portal = store.load()?;
    let plan = role_sync::plan(mapping, directory, &portal, policy)?;
    store.apply(&plan, &portal)?;
    Ok(())
}

/// Adds the break-glass accounts to the store: protected, with a password, admin by hand.
pub(crate) fn seed_break_glass(store: &PortalStore) -> Result<(), BoxError> {
    for (login, password) in BREAK_GLASS {
        if !store.has_user(login)? {
            store.add_user(login, Some(password), true)?;
            store.grant(login, "admin", GrantSource::Manual)?;
        }
    }
    Ok(())
}

/// Starts the sandbox and gives its Okta org the demo's people and groups: alice in Portal
/// Admins; bob, carol and dave in Portal Viewers; erin in no mapped group.
pub(crate) async fn start_sandbox() -> Result<Sandbox, BoxError> {
    let sandbox = Sandbox::builder()
        .seed(7)
        .users(30)
        .groups(2)
        .start()
        .await?;
    let okta = sandbox.okta();
    for (login, first, last) in PEOPLE {
        okta.add_user(NewOktaUser::new(login).name(first, Some(last)))?;
    }
    let admins = okta.create_group("Portal Admins", Some("Administrators of the portal"));
    let viewers = okta.create_group("Portal Viewers", None);
    for (group, _, login) in MEMBERSHIPS {
        let id = if group == "Portal Admins" {
            &admins.id
        } else {
            &viewers.id
        };
        okta.add_member(id, login)?;
    }
    // erin is in a group, just not a mapped one.
    if let Some(engineering) = okta.groups().into_iter().find(|g| g.name == "Engineering") {
        okta.add_member(&engineering.id, ERIN)?;
    }
    Ok(sandbox)
}

/// The role sync of the demo, against the sandbox's Okta org over its API (the API token; the
/// `okta_role_sync` example shows OAuth and DPoP too): the store's users and sync grants.
pub(crate) async fn sync_from_sandbox(
    sandbox: &Sandbox,
    store: &PortalStore,
) -> Result<(), BoxError> {
    let okta = okta_for_sandbox(sandbox, OktaAuth::ApiToken)?;
    let directory = fetch_directory(&okta, &role_mapping(), 2).await?;
    sync_roles(store, &role_mapping(), &directory, &Policy::default())?;
    // A grant made by hand, to show the difference: the sync never touches it.
    if !store.roles(CAROL)?.iter().any(|r| r == "auditor") {
        store.grant(CAROL, "auditor", GrantSource::Manual)?;
    }
    Ok(())
}

/// The Duo side of the demo.
#[derive(Debug)]
pub(crate) struct Duo {
    pub(crate) auth: Option<AuthApp>,
    pub(crate) universal: Option<UniversalApp>,
    /// Portal login → Duo username or alias.
    pub(crate) mapping: UsernameMapping,
    pub(crate) users: Vec<DemoUser>,
}

impl Duo {
    /// A real tenant: its applications and the `DUO_USERNAME_MAP` entries.
    pub(crate) fn from_tenant(tenant: &Tenant) -> Self {
        let mapping = tenant.username_map.iter().fold(
            UsernameMapping::new(UsernameFormat::LocalPart),
            |m, (portal, duo)| m.map(portal, duo),
        );
        Duo {
            auth: tenant.auth.clone(),
            universal: tenant.universal.clone(),
            mapping,
            users: Vec::new(),
        }
    }

    /// The sandbox's Duo: alice, bob, dave and the break-glass accounts get Duo users there
    /// (carol has none: she enrolls at her first sign-in in push mode).
    pub(crate) async fn sandbox(sandbox: &Sandbox) -> Result<Self, BoxError> {
        let creds = sandbox.credentials().duo.clone();
        let auth = AuthApp {
            ikey: creds.auth.integration_key,
            skey: creds.auth.secret_key,
            host: creds.auth.api_host,
        };
        let universal = UniversalApp {
            client_id: creds.universal.client_id,
            client_secret: creds.universal.client_secret,
            api_host: creds.universal.api_host,
        };
        // The sandbox generates its own Duo people (ada.lovelace…); pick five active ones whose
        // phone takes pushes, asking Duo itself (preauth) rather than guessing.
        let client = auth_client(&auth)?;
        let duo = sandbox.duo();
        let mut picks = Vec::new();
        for user in duo.users() {
            if picks.len() == 5 {
                break;
            }
            if user.status != "active" || user.phones.is_empty() {
                continue;
            }
            let who = UserRef::Username(user.username.clone());
            let pre = client.preauth(&who, &PreauthOptions::default()).await?;
            if pre.result == PreauthResult::Auth
                && pre.devices.iter().any(|d| d.can(&Capability::Push))
            {
                picks.push(user.username);
            }
        }
        let [alice, bob, dave, root, oncall] = <[String; 5]>::try_from(picks)
            .map_err(|_| "the sandbox has fewer than five push-capable Duo users")?;
        // dave's Duo account knows him by an alias too; the portal maps him to it.
        let dave_alias = "dave.portal";
        duo.add_alias(&dave, dave_alias);
        duo.set_behaviour(&dave, Behaviour::Deny);
        // Long enough to see the QR code, short enough for a demo.
        duo.set_enroll_delay(Duration::from_secs(3));
        // Okta logins are e-mail addresses; Duo usernames are usually their local part (carol
        // becomes `carol`, whom Duo does not know yet). The demo's Okta people are mapped
        // explicitly to the sandbox's generated Duo people.
        let [(root_login, root_password), (oncall_login, oncall_password)] = BREAK_GLASS;
        let mapping = UsernameMapping::new(UsernameFormat::LocalPart)
            .map(ALICE, &alice)
            .map(BOB, &bob)
            .map(DAVE, dave_alias)
            .map(root_login, &root)
            .map(oncall_login, &oncall);
        let okta = |login, duo: String| DemoUser {
            login,
            password: None,
            duo,
        };
        let users = vec![
            okta(
                ALICE,
                format!("Okta group Portal Admins (roles admin, viewer); Duo user {alice}"),
            ),
            okta(
                BOB,
                format!("Okta group Portal Viewers (role viewer); Duo user {bob}"),
            ),
            okta(
                CAROL,
                "Portal Viewers, plus auditor granted by hand; not in Duo yet: push mode shows \
                 her the activation QR code"
                    .to_owned(),
            ),
            okta(
                DAVE,
                format!("Portal Viewers; Duo alias {dave_alias} of {dave}, denies pushes"),
            ),
            okta(
                ERIN,
                "in Okta, in no mapped group: the sync did not create her, the portal refuses her"
                    .to_owned(),
            ),
            DemoUser {
                login: root_login,
                password: Some(root_password),
                duo: format!("break-glass account (protected, admin); Duo user {root}"),
            },
            DemoUser {
                login: oncall_login,
                password: Some(oncall_password),
                duo: format!("break-glass account (protected, admin); Duo user {oncall}"),
            },
        ];
        Ok(Duo {
            auth: Some(auth),
            universal: Some(universal),
            mapping,
            users,
        })
    }
}
