//! Reading the evidence from Okta and Duo (feature `collect`).
//!
//! What is read, and why that much and no more:
//! - **Okta**: the mapped groups (names resolved to ids as the sync does) and all their members
//!   — the people the mapping can give roles to, with `status` and `lastLogin`; then each portal
//!   login that is in no mapped group, one by one (a 404 is recorded as "not found"); then the
//!   portal app's assignments when an app id is given.
//! - **Duo**: the linked users by id (and unlinked portal logins by username), 100 per request
//!   (Duo's list limit); every administrator; the authentication log over the window for each
//!   user's latest successful authentication and its factor.
//!
//! Every read goes through the clients' own retries, rate-limit handling and size caps, and the
//! result is complete or an error: a review is never written from a partial read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use duo_admin::{AdminClient, LogWindow};
use futures::{StreamExt, TryStreamExt};
use okta_client::OktaClient;
use tracing::Instrument;

use crate::evidence::{
    AppAccess, AuthenticatorFact, DuoAccount, DuoAdmin, DuoEvidence, Evidence, LastAuth,
    OktaAccount, OktaEvidence, key,
};
use crate::{Timestamp, TimestampError};

/// Why the evidence could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// Okta refused or failed a request.
    #[error("reading Okta: {0}")]
    Okta(#[from] okta_client::Error),
    /// The mapped groups could not be resolved (for example two Okta groups share a name).
    #[error("reading Okta's groups: {0}")]
    OktaGroups(#[from] okta_client::directory::FetchError),
    /// Duo refused or failed a request.
    #[error("reading Duo: {0}")]
    Duo(#[from] duo_admin::Error),
    /// A service sent a date-time that is not RFC 3339.
    #[error("{source} (in {field})")]
    Timestamp {
        /// Which field.
        field: &'static str,
        /// The refused value.
        source: TimestampError,
    },
}

/// Which stage a collection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Listing the members of the mapped Okta groups.
    OktaGroups,
    /// Looking up portal logins that are in no mapped group.
    OktaUsers,
    /// Reading the app's assignments.
    OktaApp,
    /// Reading the Duo users.
    DuoUsers,
    /// Reading the Duo administrators.
    DuoAdmins,
    /// Walking the Duo authentication log.
    DuoLog,
}

/// How far a collection has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The stage.
    pub stage: Stage,
    /// Items read in this stage so far (members, users, events).
    pub done: u64,
}

/// Reads [`Evidence`] from Okta and Duo for a portal's accounts.
///
/// ```no_run
/// # async fn demo(okta: okta_client::OktaClient, duo: duo_admin::AdminClient,
/// #   accounts: Vec<access_review::PortalAccount>) -> Result<(), access_review::collect::CollectError> {
/// use access_review::{collect::Collector, review, Evidence, ReviewPolicy, Timestamp};
/// use role_sync::Mapping;
///
/// let mapping = Mapping::new().map("Portal Admins", ["admin"]).map("Engineering", ["developer"]);
/// let mut evidence = Evidence::new(&mapping);
/// evidence.portal = accounts;
/// let now = Timestamp::now();
/// let evidence = Collector::new(evidence, now)
///     .okta(&okta)
///     .okta_app("0oa1portal")
///     .duo(&duo)
///     .duo_log_days(90)
///     .run(|p| eprintln!("{:?}: {}", p.stage, p.done))
///     .await?;
/// let report = review(&evidence, &ReviewPolicy::default(), now);
/// std::fs::write("review.html", report.to_html()).ok();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Collector<'a> {
    evidence: Evidence,
    now: Timestamp,
    okta: Option<&'a OktaClient>,
    okta_app: Option<String>,
    duo: Option<&'a AdminClient>,
    duo_log_days: u32,
    duo_log_delay: Duration,
    concurrency: usize,
}

/// Duo's `user_id_list` / `username_list` take at most 100 entries.
const DUO_LIST_MAX: usize = 100;
/// Duo's v2 authentication log holds back the last two minutes ("a two minute delay in the
/// availability of new authentications"), so a window ending now would be incomplete.
pub const DUO_LOG_DELAY: Duration = Duration::from_secs(120);

impl<'a> Collector<'a> {
    /// Collects into `evidence` (its portal accounts and mapping set), as of `now`.
    pub fn new(evidence: Evidence, now: Timestamp) -> Self {
        Self {
            evidence,
            now,
            okta: None,
            okta_app: None,
            duo: None,
            duo_log_days: 90,
            duo_log_delay: DUO_LOG_DELAY,
            concurrency: 4,
        }
    }

    /// Builder: read Okta with `client`.
    #[must_use]
    pub fn okta(mut self, client: &'a OktaClient) -> Self {
        self.okta = Some(client);
        self
    }

    /// Builder: read the assignments of the portal's Okta app.
    #[must_use]
    pub fn okta_app(mut self, app_id: impl Into<String>) -> Self {
        self.okta_app = Some(app_id.into());
        self
    }

    /// Builder: read Duo with `client`.
    #[must_use]
    pub fn duo(mut self, client: &'a AdminClient) -> Self {
        self.duo = Some(client);
        self
    }

    /// Builder: how many days of Duo's authentication log to read (default 90; 0 reads none).
    /// Duo keeps 180 days of log on most plans.
    #[must_use]
    pub fn duo_log_days(mut self, days: u32) -> Self {
        self.duo_log_days = days;
        self
    }

    /// Builder: how far before `now` the log window ends (default [`DUO_LOG_DELAY`], Duo's own
    /// delay; an emulator without one, such as the sandbox, can use zero).
    #[must_use]
    pub fn duo_log_delay(mut self, delay: Duration) -> Self {
        self.duo_log_delay = delay;
        self
    }

    /// Builder: Okta listings in flight at once (default 4, at least 1).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Reads everything, calling `on_progress` as it goes.
    pub async fn run(
        self,
        mut on_progress: impl FnMut(Progress),
    ) -> Result<Evidence, CollectError> {
        let mut evidence = self.evidence.clone();
        if let Some(okta) = self.okta {
            let span = tracing::info_span!("access_review.okta");
            evidence.okta = Some(
                self.read_okta(okta, &mut on_progress)
                    .instrument(span)
                    .await?,
            );
        }
        if let Some(duo) = self.duo {
            let span = tracing::info_span!("access_review.duo", log_days = self.duo_log_days);
            evidence.duo = Some(
                self.read_duo(duo, &mut on_progress)
                    .instrument(span)
                    .await?,
            );
        }
        Ok(evidence)
    }

    async fn read_okta(
        &self,
        okta: &OktaClient,
        on_progress: &mut impl FnMut(Progress),
    ) -> Result<OktaEvidence, CollectError> {
        let mapping = self.evidence.to_mapping();
        let names = okta_client::directory::resolve_groups(okta, &mapping).await?;
        let mut out = OktaEvidence::new();
        out.missing_groups = self
            .evidence
            .mapping
            .keys()
            .filter(|name| !names.contains_key(*name))
            .cloned()
            .collect();

        let mut users: BTreeMap<String, OktaAccount> = BTreeMap::new();
        let mut done = 0u64;
        let mut members = futures::stream::iter(names.iter().map(|(name, id)| {
            okta.list_group_members(id)
                .map_ok(move |user| (name.clone(), user))
        }))
        .flatten_unordered(self.concurrency);
        while let Some((group, user)) = members.try_next().await? {
            let entry = match users.entry(user.id.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(okta_account(&user)?),
            };
            entry.groups.insert(group);
            done += 1;
            if done.is_multiple_of(500) {
                on_progress(Progress {
                    stage: Stage::OktaGroups,
                    done,
                });
            }
        }
        on_progress(Progress {
            stage: Stage::OktaGroups,
            done,
        });

        // Portal logins in no mapped group: looked up one by one. Okta answers a login it does
        // not have with 404 (E0000007), which is evidence, not an error.
        let known: BTreeSet<String> = users.values().map(|u| key(&u.login)).collect();
        let missing: Vec<&str> = self
            .evidence
            .portal
            .iter()
            .map(|a| a.login.as_str())
            .filter(|l| !known.contains(&key(l)))
            .collect();
        let mut lookups = futures::stream::iter(missing.into_iter().map(|login| async move {
            match okta.user(login).await {
                Ok(user) => Ok((login, Some(user))),
                Err(e) if e.status() == Some(404) => Ok((login, None)),
                Err(e) => Err(e),
            }
        }))
        .buffer_unordered(self.concurrency);
        let mut looked_up = 0u64;
        while let Some((login, user)) = lookups.try_next().await? {
            match user {
                Some(user) => {
                    users.entry(user.id.clone()).or_insert(okta_account(&user)?);
                }
                None => out.not_found.push(login.to_owned()),
            }
            looked_up += 1;
            on_progress(Progress {
                stage: Stage::OktaUsers,
                done: looked_up,
            });
        }
        out.users = users.into_values().collect();

        if let Some(app_id) = &self.okta_app {
            let mut app = AppAccess::new(app_id.as_str());
            let mut assigned =
                okta.list_app_users(app_id, Some(okta_client::access::MAX_APP_USERS_LIMIT));
            while let Some(user) = assigned.try_next().await? {
                let scope = user.scope.clone().unwrap_or_else(|| "USER".to_owned());
                app.users.insert(user.id, scope);
                if app.users.len().is_multiple_of(500) {
                    on_progress(Progress {
                        stage: Stage::OktaApp,
                        done: app.users.len() as u64,
                    });
                }
            }
            app.groups = okta
                .list_app_groups(app_id, Some(okta_client::access::MAX_APP_GROUPS_LIMIT))
                .map_ok(|g| g.id)
                .try_collect()
                .await?;
            on_progress(Progress {
                stage: Stage::OktaApp,
                done: app.users.len() as u64,
            });
            out.app = Some(app);
        }
        Ok(out)
    }

    async fn read_duo(
        &self,
        duo: &AdminClient,
        on_progress: &mut impl FnMut(Progress),
    ) -> Result<DuoEvidence, CollectError> {
        let mut out = DuoEvidence::new();
        let ids: Vec<String> = self
            .evidence
            .portal
            .iter()
            .filter_map(|a| a.duo_user_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let names: Vec<String> = self
            .evidence
            .portal
            .iter()
            .filter(|a| a.duo_user_id.is_none())
            .map(|a| a.login.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut users: BTreeMap<String, DuoAccount> = BTreeMap::new();
        for chunk in ids.chunks(DUO_LIST_MAX) {
            let mut page = duo.users_by_ids(chunk);
            while let Some(user) = page.try_next().await? {
                users.insert(user.user_id.clone(), duo_account(&user));
            }
            on_progress(Progress {
                stage: Stage::DuoUsers,
                done: users.len() as u64,
            });
        }
        for chunk in names.chunks(DUO_LIST_MAX) {
            let mut page = duo.users_by_usernames(chunk);
            while let Some(user) = page.try_next().await? {
                users
                    .entry(user.user_id.clone())
                    .or_insert_with(|| duo_account(&user));
            }
            on_progress(Progress {
                stage: Stage::DuoUsers,
                done: users.len() as u64,
            });
        }

        out.admins = duo
            .admins_with_roles()
            .map_ok(|a| DuoAdmin {
                admin_id: a.admin_id,
                name: a.name,
                email: a.email,
                role: a.role,
                status: a.status,
                last_login: a.last_login.map(Timestamp::from_unix),
            })
            .try_collect()
            .await?;
        on_progress(Progress {
            stage: Stage::DuoAdmins,
            done: out.admins.len() as u64,
        });

        if self.duo_log_days > 0 {
            // `now` is whole seconds: the window runs to the end of that second, so an event
            // logged a moment before `now` is inside it when there is no delay.
            let delay_ms = u64::try_from(self.duo_log_delay.as_millis()).unwrap_or(u64::MAX);
            let to_ms = self
                .now
                .unix()
                .saturating_add(1)
                .saturating_mul(1000)
                .saturating_sub(delay_ms);
            let to = Timestamp::from_unix_millis(to_ms);
            let from = to.minus_days(self.duo_log_days);
            let mut latest: HashMap<String, LastAuth> = HashMap::new();
            let from_ms = to_ms.saturating_sub(u64::from(self.duo_log_days) * 86_400_000);
            let mut walk = duo.authentication_log(LogWindow::new(from_ms, to_ms));
            let mut events = 0u64;
            while let Some(event) = walk.try_next().await? {
                events += 1;
                if events.is_multiple_of(1000) {
                    on_progress(Progress {
                        stage: Stage::DuoLog,
                        done: events,
                    });
                }
                if event.result.as_deref() != Some("success") {
                    continue;
                }
                let Some(user_id) = event.user.as_ref().and_then(|u| u.key.clone()) else {
                    continue;
                };
                if !users.contains_key(&user_id) {
                    continue;
                }
                let at = Timestamp::from_unix(event.timestamp);
                if latest.get(&user_id).is_none_or(|l| at >= l.at) {
                    latest.insert(
                        user_id,
                        LastAuth {
                            at,
                            factor: event.factor.clone().unwrap_or_default(),
                            application: event.application.as_ref().and_then(|a| a.name.clone()),
                        },
                    );
                }
            }
            on_progress(Progress {
                stage: Stage::DuoLog,
                done: events,
            });
            for (user_id, auth) in latest {
                if let Some(user) = users.get_mut(&user_id) {
                    user.last_auth = Some(auth);
                }
            }
            out.log_window = Some((from, to));
        }
        out.users = users.into_values().collect();
        Ok(out)
    }
}

fn okta_account(user: &okta_client::User) -> Result<OktaAccount, CollectError> {
    let last_login = user
        .last_login()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|source| CollectError::Timestamp {
            field: "Okta user lastLogin",
            source,
        })?;
    Ok(OktaAccount {
        id: user.id.clone(),
        login: user.profile.login.clone(),
        email: user.profile.email.clone(),
        status: user.status.as_str().to_owned(),
        last_login,
        groups: BTreeSet::new(),
    })
}

/// The facts a review needs about a Duo user: phones, tokens, WebAuthn and U2F credentials and
/// Duo Desktop authenticators all count as enrolled second factors.
pub fn duo_account(user: &duo_admin::User) -> DuoAccount {
    let mut authenticators = Vec::new();
    for p in &user.phones {
        let label = p
            .number
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| p.name.clone())
            .unwrap_or_else(|| p.phone_id.clone());
        authenticators.push(AuthenticatorFact::new("phone", label));
    }
    for t in &user.tokens {
        authenticators.push(AuthenticatorFact::new(
            "token",
            t.serial.clone().unwrap_or_else(|| t.token_id.clone()),
        ));
    }
    for w in &user.webauthncredentials {
        let label = w
            .credential_name
            .clone()
            .or_else(|| w.label.clone())
            .or_else(|| w.webauthnkey.clone())
            .unwrap_or_default();
        authenticators.push(AuthenticatorFact::new("webauthn", label));
    }
    for u in &user.u2ftokens {
        let label = u
            .get("registration_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        authenticators.push(AuthenticatorFact::new("u2f", label));
    }
    for d in &user.desktoptokens {
        let label = d
            .get("name")
            .or_else(|| d.get("desktoptoken_id"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        authenticators.push(AuthenticatorFact::new("duo_desktop", label));
    }
    DuoAccount {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        aliases: user.aliases.clone(),
        email: user.email.clone(),
        status: user.status.as_str().to_owned(),
        is_enrolled: user.is_enrolled,
        last_login: user.last_login.map(Timestamp::from_unix),
        authenticators,
        last_auth: None,
    }
}
