//! The Groups API: groups and their members as streams that follow `Link rel="next"`, and a
//! complete-or-error directory snapshot.

use std::collections::{BTreeMap, HashSet};

use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::client::{OktaClient, Raw};
use crate::error::{Error, Result};
use crate::model::{Group, User};

/// How many group listings to run at once when reading a directory: the `concurrency` argument
/// of [`OktaClient::directory_snapshot`] and of `directory::fetch_directory*` (feature
/// `role-sync`).
///
/// Why 8:
/// * Okta's concurrency limit is 75 simultaneous requests per org for Workforce and Customer
///   Identity orgs and 35 on the Integrator Free plan, shared with everything else the org
///   serves (sign-ins, other integrations); Okta adds that even large bulk loads rarely need more
///   than 10 (<https://developer.okta.com/docs/reference/rl2-concurrency/>,
///   <https://developer.okta.com/docs/reference/rl-additional-limits/>). 8 is under a quarter of
///   the smallest plan's 35.
/// * Member pages count against the per-minute budget of "Create or list groups"
///   (`/api/v1/groups` except `/api/v1/groups/{id}`): 500 requests a minute on Workforce
///   Identity, 600 on Enterprise and One App, 100 on the Integrator Free Plan
///   (<https://developer.okta.com/docs/reference/rl-global-mgmt/>). By Okta's own formula,
///   concurrency = requests per minute / 60 × seconds per request, spending 600 a minute with
///   pages of 200 users that take ~0.8 s each needs 8 listings; more only reach the 429 sooner.
///
/// `directory::fetch_directory*` start the largest group first (a snapshot starts them in the
/// order given), so with enough slots a sync lasts about as long as its largest group alone.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The parameters of `GET /api/v1/groups`.
///
/// ```
/// use okta_client::GroupQuery;
/// let q = GroupQuery::new().search(r#"type eq "OKTA_GROUP""#).limit(50).expand_stats();
/// assert_eq!(q.search.as_deref(), Some(r#"type eq "OKTA_GROUP""#));
/// assert_eq!(q.expand.as_deref(), Some("stats"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupQuery {
    /// `q`: name prefix search (Okta does not page these).
    pub q: Option<String>,
    /// `search`: a SCIM filter, e.g. `type eq "OKTA_GROUP"`.
    pub search: Option<String>,
    /// `filter`: the older filter syntax.
    pub filter: Option<String>,
    /// `limit`: page size.
    pub limit: Option<u32>,
    /// `expand`: metadata Okta embeds in each group under `_embedded` (`stats`, `app`, or both
    /// comma-separated); see [`GroupQuery::expand_stats`].
    pub expand: Option<String>,
}

impl GroupQuery {
    /// Every group.
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

    /// Sets `expand=stats`: each group then carries `_embedded.stats`, whose `usersCount`
    /// [`Group::users_count`] reads. The counts come with the listing itself, so ordering
    /// groups by size costs no request per group.
    #[must_use]
    pub fn expand_stats(mut self) -> Self {
        self.expand = Some("stats".to_string());
        self
    }
}

/// Every member of the groups asked for, fetched completely.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DirectorySnapshot {
    /// Group id → its members, in the order Okta paged them.
    pub members: BTreeMap<String, Vec<User>>,
}

impl DirectorySnapshot {
    /// The number of memberships (a user in two groups counts twice).
    pub fn membership_count(&self) -> usize {
        self.members.values().map(Vec::len).sum()
    }
}

impl OktaClient {
    pub(crate) fn api_url(&self, segments: &[&str]) -> Result<url::Url> {
        let mut url =
            url::Url::parse(self.inner.domain.as_str()).map_err(|_| Error::InvalidUrl {
                url: self.inner.domain.as_str().to_string(),
                reason: "the org URL cannot be extended",
            })?;
        url.path_segments_mut()
            .map_err(|()| Error::InvalidUrl {
                url: self.inner.domain.as_str().to_string(),
                reason: "the org URL cannot have a path",
            })?
            .clear()
            .extend(segments);
        Ok(url)
    }

    /// `GET /api/v1/groups` with `query`, every page, as a stream of groups.
    pub fn list_groups(
        &self,
        query: &GroupQuery,
    ) -> impl Stream<Item = Result<Group>> + Send + Unpin + 'static {
        let first = self.api_url(&["api", "v1", "groups"]).map(|mut url| {
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in [
                    ("q", &query.q),
                    ("search", &query.search),
                    ("filter", &query.filter),
                    ("expand", &query.expand),
                ] {
                    if let Some(v) = v {
                        pairs.append_pair(k, v);
                    }
                }
                if let Some(l) = query.limit {
                    pairs.append_pair("limit", &l.to_string());
                }
            }
            let mut s = String::from(url);
            if s.ends_with('?') {
                s.pop();
            }
            s
        });
        // Boxed so that callers can `.try_next()` without pinning; one allocation per listing.
        self.items(first).boxed()
    }

    /// `GET /api/v1/groups/{id}/users`, every page (of the client's member page limit), as a
    /// stream of users.
    pub fn list_group_members(
        &self,
        group_id: &str,
    ) -> impl Stream<Item = Result<User>> + Send + Unpin + 'static {
        let first = self
            .api_url(&["api", "v1", "groups", group_id, "users"])
            .map(|mut url| {
                url.query_pairs_mut()
                    .append_pair("limit", &self.inner.member_page_limit.to_string());
                String::from(url)
            });
        self.items(first).boxed()
    }

    /// Every group matching `query`, collected.
    pub async fn groups(&self, query: &GroupQuery) -> Result<Vec<Group>> {
        self.list_groups(query).try_collect().await
    }

    /// Every member of a group, collected.
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<User>> {
        self.list_group_members(group_id).try_collect().await
    }

    /// Every member of every group in `group_ids`, with at most `concurrency` groups fetched at
    /// once ([`DEFAULT_CONCURRENCY`] is a good start). **Complete or an error**: if any page of
    /// any group fails (after the retry policy), the whole snapshot is an error and no partial
    /// result is returned.
    ///
    /// Listings start in the order given: the first `concurrency` groups at once, then each next
    /// one as soon as a listing ends. A group's pages are sequential (Okta pages members by
    /// cursor), so the snapshot takes at least as long as its largest group: give the largest
    /// first ([`Group::users_count`] with [`GroupQuery::expand_stats`]) so that it never starts
    /// last.
    ///
    /// Progress is reported as `tracing` spans: `okta.directory_snapshot` (with `groups` and, at
    /// the end, `members`), one `okta.group_members` per group (with `members` and `pages`) and,
    /// inside it, the listing's `okta.list`.
    pub async fn directory_snapshot<S: AsRef<str>>(
        &self,
        group_ids: &[S],
        concurrency: usize,
    ) -> Result<DirectorySnapshot> {
        let ids: Vec<String> = {
            let mut seen = HashSet::new();
            group_ids
                .iter()
                .map(|g| g.as_ref().to_string())
                .filter(|g| seen.insert(g.clone()))
                .collect()
        };
        let span = tracing::info_span!(
            "okta.directory_snapshot",
            groups = ids.len(),
            concurrency,
            members = tracing::field::Empty
        );
        // Fields are recorded on the span handles themselves, not on `Span::current()`, which
        // needs a subscriber that tracks the current span.
        let snapshot_span = span.clone();
        let run = async {
            let fetched: Vec<(String, Vec<User>)> = stream::iter(ids)
                .map(|id| {
                    let client = self.clone();
                    let span = tracing::debug_span!(
                        "okta.group_members",
                        group_id = %id,
                        members = tracing::field::Empty,
                        pages = tracing::field::Empty
                    );
                    let group_span = span.clone();
                    async move {
                        let pages: Vec<Vec<User>> = client.member_pages(&id).try_collect().await?;
                        group_span.record("pages", pages.len());
                        let users: Vec<User> = pages.into_iter().flatten().collect();
                        group_span.record("members", users.len());
                        Ok::<_, Error>((id, users))
                    }
                    .instrument(span)
                })
                .buffer_unordered(concurrency.max(1))
                .try_collect()
                .await?;
            let snapshot = DirectorySnapshot {
                members: fetched.into_iter().collect(),
            };
            snapshot_span.record("members", snapshot.membership_count());
            tracing::info!(
                groups = snapshot.members.len(),
                members = snapshot.membership_count(),
                "directory snapshot complete"
            );
            Ok(snapshot)
        };
        run.instrument(span).await
    }

    pub(crate) fn member_pages(
        &self,
        group_id: &str,
    ) -> impl Stream<Item = Result<Vec<User>>> + Send + 'static {
        let first = self
            .api_url(&["api", "v1", "groups", group_id, "users"])
            .map(|mut url| {
                url.query_pairs_mut()
                    .append_pair("limit", &self.inner.member_page_limit.to_string());
                String::from(url)
            });
        self.page_stream(first)
    }

    pub(crate) fn items<T: DeserializeOwned + Send + 'static>(
        &self,
        first: Result<String>,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        self.page_stream(first)
            .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The pages of a listing, following `Link rel="next"` verbatim until there is none.
    ///
    /// The listing runs in an `okta.list` span (`path`, then `pages` and `items` so far, updated
    /// after each page), which closes when the stream is dropped.
    pub(crate) fn page_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        first: Result<String>,
    ) -> impl Stream<Item = Result<Vec<T>>> + Send + 'static {
        let client = self.clone();
        let path = first
            .as_ref()
            .ok()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        let span = tracing::debug_span!(
            "okta.list",
            path = %path,
            pages = 0u64,
            items = 0u64,
        );
        let start = first.map(Some);
        stream::try_unfold(
            (start, HashSet::new(), 0u64, 0u64),
            move |(next, mut seen, pages, items): (
                Result<Option<String>>,
                HashSet<String>,
                u64,
                u64,
            )| {
                let client = client.clone();
                let span = span.clone();
                async move {
                    let Some(url) = next? else {
                        return Ok(None);
                    };
                    let (items_page, link) = client
                        .get_with(&url, parse_page::<T>)
                        .instrument(span.clone())
                        .await?;
                    let (pages, items) = (pages + 1, items + items_page.len() as u64);
                    span.record("pages", pages);
                    span.record("items", items);
                    if let Some(l) = &link
                        && pages >= client.inner.limits.max_pages
                    {
                        return Err(Error::Paging {
                            url: l.clone(),
                            reason: "the listing goes on past Limits::max_pages pages",
                        });
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
                    Ok(Some((items_page, (Ok(next), seen, pages, items))))
                }
            },
        )
    }

    /// Checks that a `next` link stays on the org (the token must not go elsewhere); a relative
    /// link is resolved against the org URL. The link is otherwise used verbatim.
    pub(crate) fn resolve_next(&self, link: &str) -> Result<String> {
        let origin = self.inner.domain.as_str();
        if link.starts_with('/') && !link.starts_with("//") {
            return Ok(format!("{origin}{link}"));
        }
        let same_origin = link
            .get(..origin.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(origin))
            && matches!(link.as_bytes().get(origin.len()), Some(b'/' | b'?') | None);
        if same_origin {
            Ok(link.to_string())
        } else {
            Err(Error::Paging {
                url: link.to_string(),
                reason: "the next link points outside the org",
            })
        }
    }
}

pub(crate) fn parse_page<T: DeserializeOwned>(raw: &Raw) -> Result<(Vec<T>, Option<String>)> {
    let items: Vec<T> = serde_json::from_slice(&raw.body).map_err(|e| Error::Decode {
        status: raw.status,
        reason: format!("not a JSON array of the expected objects: {e}"),
        request_id: raw.request_id(),
    })?;
    let next = crate::link::next(raw.header_values("link")).map(str::to_string);
    Ok((items, next))
}
