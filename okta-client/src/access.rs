//! Access review reads: users (search, filter, `lastLogin`), a user's groups, the System Log
//! (a walk over a window, and polling with the `after` cursor), app assignments (who can reach
//! an app), and the escape hatches [`OktaClient::get`] and [`OktaClient::pages`] for any other
//! read.
//!
//! Everything here goes through the same request path as the Groups API: SSWS, OAuth or DPoP
//! (with nonces and token refetch), the retry policy, rate-limit handling, [`Limits`] and
//! `Link` paging that stays on the org. A `limit` above Okta's documented maximum for the
//! endpoint is refused before anything is sent ([`Error::InvalidConfig`]) rather than silently
//! capped: users 200, System Log 1,000, app users 500, app groups 200.
//!
//! **The System Log** answers a request without `until` as a *poll*: its `next` link is always
//! there, even on an empty page, because more events may come (Okta's System Log API
//! reference). So [`OktaClient::system_log`] ends at the first empty page or where there is
//! no `next` link (a bounded query, with `until`, ends there), and [`LogPoll`] is for tailing:
//! each [`LogPoll::poll`] asks the current `next` link once and moves on; its
//! [`cursor`](LogPoll::cursor) is that link, to store and resume with
//! [`OktaClient::resume_system_log`]. Okta advises polling no more often than its rate limits
//! allow; the caller chooses the interval.
//!
//! [`Limits`]: crate::Limits

use std::collections::HashSet;

use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::OktaClient;
use crate::error::{Error, Result};
use crate::groups::parse_page;
use crate::model::{Group, User};

/// Okta's largest `limit` for `GET /api/v1/users`.
pub const MAX_USERS_LIMIT: u32 = 200;
/// Okta's largest `limit` for `GET /api/v1/logs`.
pub const MAX_LOGS_LIMIT: u32 = 1000;
/// Okta's largest `limit` for `GET /api/v1/apps/{id}/users`.
pub const MAX_APP_USERS_LIMIT: u32 = 500;
/// Okta's largest `limit` for `GET /api/v1/apps/{id}/groups`.
pub const MAX_APP_GROUPS_LIMIT: u32 = 200;

/// The parameters of `GET /api/v1/users`.
///
/// ```
/// use okta_client::access::UserQuery;
/// let q = UserQuery::new().search(r#"status eq "ACTIVE" and lastLogin gt "2024-01-01T00:00:00.000Z""#);
/// assert!(q.search.is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserQuery {
    /// `q`: a first name, last name, email or login prefix (Okta does not page these).
    pub q: Option<String>,
    /// `search`: a SCIM filter over any user attribute, e.g. `profile.department eq "Sales"`.
    pub search: Option<String>,
    /// `filter`: the older filter syntax (`status`, `lastUpdated`, `id`, `profile.login`, …).
    pub filter: Option<String>,
    /// `limit`: page size (at most [`MAX_USERS_LIMIT`]).
    pub limit: Option<u32>,
}

impl UserQuery {
    /// Every user.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `q`.
    #[must_use]
    pub fn q(mut self, q: impl Into<String>) -> Self {
        self.q = Some(q.into());
        self
    }

    /// Sets `search`.
    #[must_use]
    pub fn search(mut self, search: impl Into<String>) -> Self {
        self.search = Some(search.into());
        self
    }

    /// Sets `filter`.
    #[must_use]
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Sets `limit`.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The parameters of `GET /api/v1/logs`. Times are ISO 8601 (`2024-05-01T00:00:00.000Z`).
///
/// ```
/// use okta_client::access::LogQuery;
/// let q = LogQuery::new()
///     .since("2024-05-01T00:00:00.000Z")
///     .until("2024-05-02T00:00:00.000Z")
///     .filter(r#"eventType eq "user.authentication.sso""#)
///     .limit(1000);
/// assert_eq!(q.limit, Some(1000));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogQuery {
    /// `since`: the window's start (Okta's default: seven days before `until`).
    pub since: Option<String>,
    /// `until`: the window's end; without it a request is a poll.
    pub until: Option<String>,
    /// `filter`: an expression over event attributes, e.g. `outcome.result eq "FAILURE"`.
    pub filter: Option<String>,
    /// `q`: keywords, each to be found in the event.
    pub q: Option<String>,
    /// `limit`: page size (at most [`MAX_LOGS_LIMIT`]; Okta's default is 100).
    pub limit: Option<u32>,
}

impl LogQuery {
    /// Every event of the last seven days.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `since`.
    #[must_use]
    pub fn since(mut self, since: impl Into<String>) -> Self {
        self.since = Some(since.into());
        self
    }

    /// Sets `until`.
    #[must_use]
    pub fn until(mut self, until: impl Into<String>) -> Self {
        self.until = Some(until.into());
        self
    }

    /// Sets `filter`.
    #[must_use]
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Sets `q`.
    #[must_use]
    pub fn q(mut self, q: impl Into<String>) -> Self {
        self.q = Some(q.into());
        self
    }

    /// Sets `limit`.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Who or what a System Log event is about (its actor or a target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogEntity {
    /// Id (`00u…`, `0oa…`).
    #[serde(default)]
    pub id: Option<String>,
    /// `User`, `AppInstance`, `PublicClientApp`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Login, client id, app label, …
    #[serde(default, rename = "alternateId")]
    pub alternate_id: Option<String>,
    /// Display name.
    #[serde(default, rename = "displayName")]
    pub display_name: Option<String>,
}

/// A System Log event's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogOutcome {
    /// `SUCCESS`, `FAILURE`, `SKIPPED`, `ALLOW`, `DENY`, `CHALLENGE`, `UNKNOWN`.
    #[serde(default)]
    pub result: Option<String>,
    /// Why, when Okta says.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A System Log event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogEvent {
    /// Unique id of the event (deduplicate on it).
    pub uuid: String,
    /// When it was published (ISO 8601).
    pub published: String,
    /// `user.authentication.sso`, `app.oauth2.as.token.grant.access_token`, …
    #[serde(rename = "eventType")]
    pub event_type: String,
    /// `DEBUG`, `INFO`, `WARN`, `ERROR`.
    #[serde(default)]
    pub severity: Option<String>,
    /// A human summary.
    #[serde(default, rename = "displayMessage")]
    pub display_message: Option<String>,
    /// Who did it.
    #[serde(default)]
    pub actor: Option<LogEntity>,
    /// What happened.
    #[serde(default)]
    pub outcome: Option<LogOutcome>,
    /// What it was done to.
    #[serde(default)]
    pub target: Option<Vec<LogEntity>>,
    /// Every other member (`client`, `transaction`, `debugContext`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user assigned to an app (`/api/v1/apps/{id}/users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppUser {
    /// The user's id.
    pub id: String,
    /// `USER` (assigned directly) or `GROUP` (through a group).
    #[serde(default)]
    pub scope: Option<String>,
    /// The assignment's status (`ACTIVE`, `PROVISIONED`, …).
    #[serde(default)]
    pub status: Option<String>,
    /// The app credentials (`userName`, …), as Okta sends them.
    #[serde(default)]
    pub credentials: Option<Value>,
    /// The app profile, as Okta sends it.
    #[serde(default)]
    pub profile: Option<Value>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AppUser {
    /// The user name the app sees (`credentials.userName`).
    pub fn user_name(&self) -> Option<&str> {
        self.credentials.as_ref()?.get("userName")?.as_str()
    }
}

/// A group assigned to an app (`/api/v1/apps/{id}/groups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppGroup {
    /// The group's id.
    pub id: String,
    /// The assignment's priority.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Every other member (`lastUpdated`, `profile`, `_links`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// `lastLogin`: when the user last signed in (ISO 8601), if ever.
    pub fn last_login(&self) -> Option<&str> {
        self.extra.get("lastLogin")?.as_str()
    }

    /// `lastUpdated` (ISO 8601).
    pub fn last_updated(&self) -> Option<&str> {
        self.extra.get("lastUpdated")?.as_str()
    }
}

/// A poll of the System Log: each [`poll`](Self::poll) fetches the events published since the
/// last one. Its [`cursor`](Self::cursor) (Okta's `next` link) is what to store to resume.
#[derive(Debug, Clone)]
pub struct LogPoll {
    client: OktaClient,
    next: String,
}

impl LogPoll {
    /// The events logged since the last poll (often none), at most one page of them; the cursor
    /// moves past them. Call again for more.
    pub async fn poll(&mut self) -> Result<Vec<LogEvent>> {
        let (events, link) = self
            .client
            .get_with(&self.next, parse_page::<LogEvent>)
            .await?;
        // Okta always names the next poll; without one, the same link is asked again.
        if let Some(link) = link {
            self.next = self.client.resolve_next(&link)?;
        }
        Ok(events)
    }

    /// Where the next poll starts: an absolute URL on the org, with Okta's opaque `after`.
    pub fn cursor(&self) -> &str {
        &self.next
    }
}

/// Appends `(name, value)` pairs that are set.
fn with_query(mut url: url::Url, pairs: &[(&str, Option<&str>)]) -> String {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    let mut s = String::from(url);
    if s.ends_with('?') {
        s.pop();
    }
    s
}

fn check_limit(limit: Option<u32>, max: u32, what: &str) -> Result<()> {
    match limit {
        Some(n) if n == 0 || n > max => Err(Error::InvalidConfig(format!(
            "limit {n} for {what} is outside Okta's 1..={max}"
        ))),
        _ => Ok(()),
    }
}

/// A stream whose only item is `e`.
fn failed<T: Send + 'static>(e: Error) -> stream::BoxStream<'static, Result<T>> {
    stream::once(futures::future::ready(Err(e))).boxed()
}

impl OktaClient {
    /// `GET /api/v1/users` with `query`, every page, as a stream of users.
    ///
    /// ```no_run
    /// # async fn demo(client: okta_client::OktaClient) -> Result<(), okta_client::Error> {
    /// use futures::TryStreamExt as _;
    /// use okta_client::access::UserQuery;
    /// let active: Vec<_> = client
    ///     .list_users(&UserQuery::new().search(r#"status eq "ACTIVE""#))
    ///     .try_collect()
    ///     .await?;
    /// for u in &active {
    ///     println!("{} last signed in {:?}", u.profile.login, u.last_login());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_users(
        &self,
        query: &UserQuery,
    ) -> impl Stream<Item = Result<User>> + Send + Unpin + 'static {
        if let Err(e) = check_limit(query.limit, MAX_USERS_LIMIT, "/api/v1/users") {
            return failed(e);
        }
        let limit = query.limit.map(|l| l.to_string());
        let first = self.api_url(&["api", "v1", "users"]).map(|url| {
            with_query(
                url,
                &[
                    ("q", query.q.as_deref()),
                    ("search", query.search.as_deref()),
                    ("filter", query.filter.as_deref()),
                    ("limit", limit.as_deref()),
                ],
            )
        });
        self.items(first).boxed()
    }

    /// Every user matching `query`, collected.
    pub async fn users(&self, query: &UserQuery) -> Result<Vec<User>> {
        self.list_users(query).try_collect().await
    }

    /// `GET /api/v1/users/{id}`: one user, by id or login.
    pub async fn user(&self, id_or_login: &str) -> Result<User> {
        let url = String::from(self.api_url(&["api", "v1", "users", id_or_login])?);
        self.get_with(&url, parse_one::<User>).await
    }

    /// `GET /api/v1/users/{id}/groups`: the user's groups, as a stream.
    pub fn list_user_groups(
        &self,
        user_id: &str,
    ) -> impl Stream<Item = Result<Group>> + Send + Unpin + 'static {
        let first = self
            .api_url(&["api", "v1", "users", user_id, "groups"])
            .map(String::from);
        self.items(first).boxed()
    }

    /// The user's groups, collected.
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<Group>> {
        self.list_user_groups(user_id).try_collect().await
    }

    /// `GET /api/v1/apps/{id}/users`: who is assigned to the app (directly or through a
    /// group), every page, at `limit` a page (Okta's default 50 when `None`).
    pub fn list_app_users(
        &self,
        app_id: &str,
        limit: Option<u32>,
    ) -> impl Stream<Item = Result<AppUser>> + Send + Unpin + 'static {
        if let Err(e) = check_limit(limit, MAX_APP_USERS_LIMIT, "/api/v1/apps/{id}/users") {
            return failed(e);
        }
        let limit = limit.map(|l| l.to_string());
        let first = self
            .api_url(&["api", "v1", "apps", app_id, "users"])
            .map(|url| with_query(url, &[("limit", limit.as_deref())]));
        self.items(first).boxed()
    }

    /// `GET /api/v1/apps/{id}/groups`: the groups assigned to the app, every page.
    pub fn list_app_groups(
        &self,
        app_id: &str,
        limit: Option<u32>,
    ) -> impl Stream<Item = Result<AppGroup>> + Send + Unpin + 'static {
        if let Err(e) = check_limit(limit, MAX_APP_GROUPS_LIMIT, "/api/v1/apps/{id}/groups") {
            return failed(e);
        }
        let limit = limit.map(|l| l.to_string());
        let first = self
            .api_url(&["api", "v1", "apps", app_id, "groups"])
            .map(|url| with_query(url, &[("limit", limit.as_deref())]));
        self.items(first).boxed()
    }

    fn logs_url(&self, query: &LogQuery) -> Result<String> {
        check_limit(query.limit, MAX_LOGS_LIMIT, "/api/v1/logs")?;
        let limit = query.limit.map(|l| l.to_string());
        let url = self.api_url(&["api", "v1", "logs"])?;
        Ok(with_query(
            url,
            &[
                ("since", query.since.as_deref()),
                ("until", query.until.as_deref()),
                ("filter", query.filter.as_deref()),
                ("q", query.q.as_deref()),
                ("limit", limit.as_deref()),
            ],
        ))
    }

    /// The System Log events matching `query`, oldest first: every page until one is empty or
    /// there is no `next` link (see the [module docs](self) on polling). With `until` the walk
    /// covers the window; without it, the events logged so far.
    ///
    /// ```no_run
    /// # async fn demo(client: okta_client::OktaClient) -> Result<(), okta_client::Error> {
    /// use futures::TryStreamExt as _;
    /// use okta_client::access::LogQuery;
    /// let sso: Vec<_> = client
    ///     .system_log(&LogQuery::new().filter(r#"eventType eq "user.authentication.sso""#))
    ///     .try_collect()
    ///     .await?;
    /// println!("{} sign-ins", sso.len());
    /// # Ok(()) }
    /// ```
    pub fn system_log(
        &self,
        query: &LogQuery,
    ) -> impl Stream<Item = Result<LogEvent>> + Send + Unpin + 'static {
        let first = match self.logs_url(query) {
            Ok(u) => u,
            Err(e) => return failed(e),
        };
        let client = self.clone();
        stream::try_unfold(
            (Some(first), HashSet::new(), 0u64),
            move |(next, mut seen, pages): (Option<String>, HashSet<String>, u64)| {
                let client = client.clone();
                async move {
                    let Some(url) = next else {
                        return Ok(None);
                    };
                    if pages >= client.inner.limits.max_pages {
                        return Err(Error::Paging {
                            url,
                            reason: "the listing goes on past Limits::max_pages pages",
                        });
                    }
                    let (events, link) = client.get_with(&url, parse_page::<LogEvent>).await?;
                    if events.is_empty() {
                        return Ok(None);
                    }
                    seen.insert(url);
                    let next = match link {
                        Some(l) => {
                            let l = client.resolve_next(&l)?;
                            if seen.contains(&l) {
                                return Err(Error::Paging {
                                    url: l,
                                    reason: "the next link repeats a page already fetched",
                                });
                            }
                            Some(l)
                        }
                        None => None,
                    };
                    Ok(Some((
                        stream::iter(events.into_iter().map(Ok)),
                        (next, seen, pages + 1),
                    )))
                }
            },
        )
        .try_flatten()
        .boxed()
    }

    /// A poll of the System Log from `query` (usually `since` and a `filter`, no `until`).
    /// Nothing is sent until the first [`LogPoll::poll`].
    pub fn poll_system_log(&self, query: &LogQuery) -> Result<LogPoll> {
        Ok(LogPoll {
            client: self.clone(),
            next: self.logs_url(query)?,
        })
    }

    /// A poll resumed from a stored [`LogPoll::cursor`]; a cursor off the org is refused.
    pub fn resume_system_log(&self, cursor: &str) -> Result<LogPoll> {
        Ok(LogPoll {
            client: self.clone(),
            next: self.resolve_next(cursor)?,
        })
    }

    /// Any read the crate does not wrap: `GET path?query` on the org, authenticated, retried
    /// and bounded like every call here, the JSON answer read as a `T`.
    ///
    /// `path` is a path on the org (`/api/v1/…`); a URL, a scheme-relative `//host`, a query
    /// string or dot segments in it are refused ([`Error::InvalidUrl`]) before anything is
    /// sent, so the token and its DPoP proofs go only to the org.
    ///
    /// ```no_run
    /// # async fn demo(client: okta_client::OktaClient) -> Result<(), okta_client::Error> {
    /// let app: serde_json::Value = client.get("/api/v1/apps/0oa1abc", &[]).await?;
    /// println!("{}", app["label"]);
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T> {
        let url = self.path_url(path, query)?;
        self.get_with(&url, parse_one::<T>).await
    }

    /// Any `Link`-paged listing the crate does not wrap, as a stream of `T`: `next` links are
    /// followed on the org as for groups, with the same retries, bounds and checks. `path` is
    /// checked as [`get`](Self::get) checks it; a refused path is the stream's only item.
    ///
    /// ```no_run
    /// # async fn demo(client: okta_client::OktaClient) -> Result<(), okta_client::Error> {
    /// use futures::TryStreamExt as _;
    /// let apps: Vec<serde_json::Value> =
    ///     client.pages("/api/v1/apps", &[("limit", "200")]).try_collect().await?;
    /// println!("{} apps", apps.len());
    /// # Ok(()) }
    /// ```
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> impl Stream<Item = Result<T>> + Send + Unpin + 'static {
        self.items(self.path_url(path, query)).boxed()
    }

    fn path_url(&self, path: &str, query: &[(&str, &str)]) -> Result<String> {
        let refuse = |reason| {
            Err(Error::InvalidUrl {
                url: path.to_owned(),
                reason,
            })
        };
        if !path.starts_with('/') {
            return refuse("not a path on the org (it must start with '/')");
        }
        if path.starts_with("//") {
            return refuse("'//' names another host");
        }
        if path.contains(['?', '#']) {
            return refuse("the query goes in `query`, and a fragment is never sent");
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
        {
            return refuse("it holds a space, a backslash or a control character");
        }
        if path
            .split('/')
            .any(|s| s == "." || s == ".." || s.eq_ignore_ascii_case("%2e%2e"))
        {
            return refuse("dot segments are not allowed");
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let url = self.api_url(&segments)?;
        let pairs: Vec<(&str, Option<&str>)> = query.iter().map(|(k, v)| (*k, Some(*v))).collect();
        Ok(with_query(url, &pairs))
    }
}

fn parse_one<T: DeserializeOwned>(raw: &crate::client::Raw) -> Result<T> {
    serde_json::from_slice(&raw.body).map_err(|e| Error::Decode {
        status: raw.status,
        reason: format!("not the expected JSON object: {e}"),
        request_id: raw.request_id(),
    })
}
