//! The demo data: four portal users with passwords, their roles from a role sync, and — in
//! sandbox mode — their Duo accounts in the in-process sandbox.

use std::time::Duration;

use duo_auth::client::{Capability, PreauthOptions, PreauthResult, UserRef};
use duo_auth::policy::UsernameMapping;
use idp_sandbox::Sandbox;
use idp_sandbox::duo::Behaviour;
use role_sync::{Directory, DirectoryUser, GrantSource, Mapping, Policy, UserStatus};

use super::{AuthApp, BoxError, Tenant, UniversalApp, auth_client};
use duo_okta_sdk::portal::PortalStore;

/// One demo user, as the login page lists it.
#[derive(Debug, Clone)]
pub(crate) struct DemoUser {
    pub(crate) login: &'static str,
    pub(crate) password: &'static str,
    /// What happens at the second factor.
    pub(crate) duo: String,
}

/// The demo logins and passwords (throw-away values, loopback only).
const USERS: [(&str, &str); 4] = [
    ("alice", "alice-password"),
    ("bob", "bob-password"),
    ("carol", "carol-password"),
    ("dave", "dave-password"),
];

/// Who is in which Okta group in the demo directory: (group, Okta user id, login).
pub(crate) const MEMBERSHIPS: [(&str, &str, &str); 4] = [
    ("Portal Admins", "00u1alice", "alice"),
    ("Portal Viewers", "00u2bob", "bob"),
    ("Portal Viewers", "00u3carol", "carol"),
    ("Portal Viewers", "00u4dave", "dave"),
];

/// Which portal roles each Okta group grants.
pub(crate) fn role_mapping() -> Mapping {
    Mapping::new()
        .map("Portal Admins", ["admin", "viewer"])
        .map("Portal Viewers", ["viewer"])
}

/// A directory snapshot with these memberships, every user active.
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

/// Adds the demo users to an empty store, and their roles through a role sync.
///
/// The roles come the way a real portal gets them: a directory snapshot (here written out; in
/// a real portal `okta-client`'s `directory_snapshot`), a group → role [`Mapping`], and a plan
/// from `role_sync::plan` that the store applies, recording each grant as a sync grant. One
/// grant is made by hand to show the difference: the sync never touches it.
pub(crate) fn seed_store(store: &PortalStore) -> Result<(), BoxError> {
    if store.has_user("alice")? {
        return Ok(()); // a --db file from an earlier run
    }
    for (login, password) in USERS {
        store.add_user(login, Some(password), false)?;
    }
    sync_roles(
        store,
        &role_mapping(),
        &directory(&MEMBERSHIPS),
        &Policy::default(),
    )?;
    store.grant("carol", "auditor", GrantSource::Manual)?;
    Ok(())
}

/// The Duo side of the demo.
#[derive(Debug)]
pub(crate) struct Duo {
    pub(crate) sandbox: Option<Sandbox>,
    pub(crate) auth: Option<AuthApp>,
    pub(crate) universal: Option<UniversalApp>,
    /// Portal login → Duo username or alias.
    pub(crate) mapping: UsernameMapping,
    pub(crate) users: Vec<DemoUser>,
}

impl Duo {
    /// A real tenant: its applications and the `DUO_USERNAME_MAP` entries.
    pub(crate) fn from_tenant(tenant: &Tenant) -> Self {
        let mapping = tenant
            .username_map
            .iter()
            .fold(UsernameMapping::default(), |m, (portal, duo)| {
                m.map(portal, duo)
            });
        Duo {
            sandbox: None,
            auth: tenant.auth.clone(),
            universal: tenant.universal.clone(),
            mapping,
            users: Vec::new(),
        }
    }

    /// Starts the sandbox and gives alice, bob and dave Duo accounts there (carol has none:
    /// she enrolls at her first login in push mode).
    pub(crate) async fn sandbox() -> Result<Self, BoxError> {
        let sandbox = Sandbox::builder()
            .seed(7)
            .users(30)
            .groups(2)
            .start()
            .await?;
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
        // The sandbox generates its own people (ada.lovelace…); pick three active ones whose
        // phone takes pushes, asking Duo itself (preauth) rather than guessing.
        let client = auth_client(&auth)?;
        let duo = sandbox.duo();
        let mut picks = Vec::new();
        for user in duo.users() {
            if picks.len() == 3 {
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
        let [alice, bob, dave] = <[String; 3]>::try_from(picks)
            .map_err(|_| "the sandbox has fewer than three push-capable Duo users")?;
        // dave's Duo account knows him by an alias too; the portal maps him to it.
        let dave_alias = "dave.portal";
        duo.add_alias(&dave, dave_alias);
        duo.set_behaviour(&dave, Behaviour::Deny);
        // Long enough to see the QR code, short enough for a demo.
        duo.set_enroll_delay(Duration::from_secs(3));
        let mapping = UsernameMapping::default()
            .map("alice", &alice)
            .map("bob", &bob)
            .map("dave", dave_alias);
        let [a, b, c, d] = USERS;
        let users = vec![
            DemoUser {
                login: a.0,
                password: a.1,
                duo: format!("Duo user {alice}; roles admin and viewer"),
            },
            DemoUser {
                login: b.0,
                password: b.1,
                duo: format!("Duo user {bob}; role viewer"),
            },
            DemoUser {
                login: c.0,
                password: c.1,
                duo: "not in Duo yet: push mode shows her the activation QR code".to_owned(),
            },
            DemoUser {
                login: d.0,
                password: d.1,
                duo: format!("Duo alias {dave_alias} of {dave}; denies pushes (push mode)"),
            },
        ];
        Ok(Duo {
            sandbox: Some(sandbox),
            auth: Some(auth),
            universal: Some(universal),
            mapping,
            users,
        })
    }
}
