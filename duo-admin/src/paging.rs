//! The walk behind every paged listing: pages are decoded while the next ones are fetched, and
//! once the listing's size is known, requested several at a time.
//!
//! A page's `metadata` (`next_offset`, `total_objects`) sits in a few bytes at the end of its
//! body (or at its start, depending on how the server orders the envelope's members). A task of
//! the walk's own requests the pages: as soon as a page's body has arrived, [`metadata_hint`]
//! reads them there. With only a `next_offset`, the page at that offset is requested next (one
//! request in flight). With a `total_objects` too, every offset of the listing is known — Duo
//! pages by offset, each page `next_offset - offset` wide — so the remaining pages are requested
//! at once, at most [`Concurrency`] of them in flight (Duo's 429s and the client's pacing still
//! decide when each one goes; the first retried request drops the walk to one at a time), and at
//! most [`WINDOW`] pages beyond those in flight wait for the listing's consumer. Every page is
//! decoded in a task of its own, so the consumer is never in the way of the next request.
//!
//! The hints only decide what is requested early: the walk follows the `next_offset` of each
//! fully decoded page, and prefetched pages at any other offset are dropped, their tasks
//! aborted. So the walk lists exactly what sequential paging lists, and refuses a `next_offset`
//! that does not advance the same way. Dropping the walk aborts its tasks.

use std::sync::Arc;

use duo_auth::transport::RawResponse;
use futures::channel::oneshot;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::{AdminClient, Error, Page};

/// How a page's body becomes items and paging metadata.
pub(crate) trait Decode: Send + Sync + 'static {
    /// What a page holds.
    type Item: Send + 'static;
    /// The page's items and its `metadata` member (`Value::Null` when absent); Duo's error
    /// answers become errors.
    fn decode(&self, raw: &RawResponse, attempts: u32) -> Result<(Vec<Self::Item>, Value), Error>;
}

/// Duo's envelope with `response` read as a list of `T` (every listing but the importer's).
pub(crate) struct Typed<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub(crate) fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T: DeserializeOwned + Send + 'static> Decode for Typed<T> {
    type Item = T;
    fn decode(&self, raw: &RawResponse, attempts: u32) -> Result<(Vec<T>, Value), Error> {
        Ok(duo_auth::transport::parse_typed::<Vec<T>>(raw, attempts)?)
    }
}

/// What a listing walks.
pub(crate) struct Walk<D> {
    pub(crate) client: AdminClient,
    pub(crate) path: Arc<str>,
    pub(crate) params: Arc<[(String, String)]>,
    pub(crate) limit: u32,
    /// Whether to request pages ahead of the consumer (needs a tokio runtime for the tasks).
    pub(crate) prefetch: bool,
    pub(crate) decoder: Arc<D>,
    /// The most pages the listing follows ([`Limits::max_pages`]); the chain of prefetched
    /// pages stops there too, so that a server whose paging never ends is not asked for more.
    ///
    /// [`Limits::max_pages`]: duo_auth::transport::Limits::max_pages
    pub(crate) max_pages: u64,
    /// How many of the walk's requests may be in flight at once (shared by every chain of the
    /// walk, so that slowing down after a 429 outlives a restarted chain).
    pub(crate) requests: Arc<Concurrency>,
}

// Not derived: that would ask `D: Clone`.
impl<D> Clone for Walk<D> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            path: Arc::clone(&self.path),
            params: Arc::clone(&self.params),
            limit: self.limit,
            prefetch: self.prefetch,
            decoder: Arc::clone(&self.decoder),
            max_pages: self.max_pages,
            requests: Arc::clone(&self.requests),
        }
    }
}

/// How many fetched pages may wait for the listing's consumer beyond those in flight: what bounds
/// a walk's memory when the consumer is slower than the network.
const WINDOW: usize = 4;

/// What a page's bytes say of the listing, read before the page is decoded ([`metadata_hint`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hint {
    /// `metadata.next_offset`: absent on the last page.
    pub(crate) next: Option<u64>,
    /// `metadata.total_objects`: the listing's size when the page was served.
    pub(crate) total: Option<u64>,
}

/// The bound on a walk's requests in flight, which the walk lowers to one at its first retried
/// request (a 429, or a failure retried by the caller's retry policy): a service that pushes
/// back gets sequential paging from then on, not the same burst again.
#[derive(Debug)]
pub(crate) struct Concurrency {
    permits: Arc<tokio::sync::Semaphore>,
    /// The bound now.
    limit: std::sync::atomic::AtomicUsize,
    /// Permits given out before the bound was lowered, to be forgotten as they come back.
    excess: std::sync::atomic::AtomicUsize,
}

/// One request's place among those in flight; given back (or forgotten, when the bound has been
/// lowered meanwhile) when dropped.
#[derive(Debug)]
pub(crate) struct RequestPermit {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    owner: Arc<Concurrency>,
}

impl Drop for RequestPermit {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        if let Some(permit) = self.permit.take()
            && self
                .owner
                .excess
                .fetch_update(SeqCst, SeqCst, |e| e.checked_sub(1))
                .is_ok()
        {
            permit.forget();
        }
    }
}

impl Concurrency {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        let limit = limit.clamp(1, crate::MAX_PAGE_CONCURRENCY);
        Arc::new(Self {
            permits: Arc::new(tokio::sync::Semaphore::new(limit)),
            limit: limit.into(),
            excess: 0.into(),
        })
    }

    /// The bound now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits for a place among the requests in flight.
    async fn acquire(self: &Arc<Self>) -> Option<RequestPermit> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        Some(RequestPermit {
            permit: Some(permit),
            owner: Arc::clone(self),
        })
    }

    /// Lowers the bound to one request in flight (once; later calls do nothing).
    pub(crate) fn slow_down(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let before = self.limit.swap(1, SeqCst);
        if before > 1 {
            // Free permits go at once; those held by requests in flight as they come back.
            let now = self.permits.forget_permits(before - 1);
            self.excess.fetch_add(before - 1 - now, SeqCst);
            tracing::info!(
                from = before,
                "the service pushed back: one page request at a time from now on"
            );
        }
    }
}

/// Told when a page's body has arrived: hands its [`Hint`] to the chain and gives the request's
/// place in flight back. Dropped unsent (the request failed), it gives the place back all the
/// same, and the chain sees no hint.
pub(crate) struct Arrival {
    hint: Option<oneshot::Sender<Hint>>,
    request: Option<RequestPermit>,
}

impl Arrival {
    /// The body has arrived: the hint goes to the chain (the first time only) and the place in
    /// flight is given back.
    pub(crate) fn arrived(&mut self, hint: Hint) {
        if let Some(tx) = self.hint.take() {
            // The receiver may be gone (the listing moved on); nothing to do then.
            let _ = tx.send(hint);
        }
        self.request = None;
    }

    /// The page is to be fetched again: it needs a place in flight again if it gave its own
    /// back (a body that arrived whole but could not be read).
    pub(crate) async fn again(&mut self, requests: &Arc<Concurrency>) {
        if self.request.is_none() {
            self.request = requests.acquire().await;
        }
    }
}

/// A spawned task, aborted when dropped (a dropped listing leaves nothing running).
struct Task<R>(tokio::task::JoinHandle<R>);

impl<R> Drop for Task<R> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<R> Task<R> {
    async fn join(&mut self) -> Result<R, Error> {
        match (&mut self.0).await {
            Ok(r) => Ok(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Cancelled),
        }
    }
}

/// A page requested ahead of being needed: its request and decoding run in `task`; `_slot` is
/// its place in the window, given back when the listing is done with it.
struct InFlight<T> {
    offset: u64,
    task: Task<Result<Page<T>, Error>>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// The prefetching side of a walk: a task that requests page after page — the next as soon
/// as the body of the one before has arrived, while the window has room — and hands them over
/// in order.
pub(crate) struct Ahead<T> {
    pages: tokio::sync::mpsc::UnboundedReceiver<InFlight<T>>,
    _chain: Task<()>,
}

impl<D: Decode> Walk<D> {
    /// The page at `offset`, and what is on its way after it. `ahead` is what the previous
    /// call returned; `listed` is how many pages the listing has had before this one.
    ///
    /// Requests go out as the chain allows (one after the other until a page names the
    /// listing's total, then up to the walk's [`Concurrency`] at once), each page decoded in a
    /// task of its own as soon as its body is there, at most [`WINDOW`] pages beyond those in
    /// flight. Only the offsets of decoded pages are followed: pages prefetched at any other
    /// offset are dropped and the chain starts again from the right one.
    pub(crate) async fn page(
        &self,
        offset: u64,
        ahead: Option<Ahead<D::Item>>,
        listed: u64,
    ) -> Result<(Page<D::Item>, Option<Ahead<D::Item>>), Error> {
        if !self.prefetch {
            let page = self.client.fetch_page(self, offset, None).await?;
            return Ok((page, None));
        }
        // Nothing on its way yet for the first page.
        let mut current = ahead;
        let (mut page, ahead) = loop {
            let mut chain = match current.take() {
                Some(chain) => chain,
                None => self.chain(offset, self.max_pages.saturating_sub(listed)),
            };
            match chain.pages.recv().await {
                Some(p) if p.offset == offset => break (p, chain),
                // The chain ended early (a hint missing from a body) or went astray: dropped
                // (which aborts what it started) before one from `offset` starts.
                _ => drop(chain),
            }
        };
        let page = page.task.join().await??;
        Ok((page, Some(ahead)))
    }

    /// Starts requesting pages from `offset`, at most `budget` of them (what is left of
    /// `max_pages`).
    fn chain(&self, offset: u64, budget: u64) -> Ahead<D::Item> {
        let (tx, pages) = tokio::sync::mpsc::unbounded_channel();
        let walk = self.clone();
        let requests = Arc::clone(&self.requests);
        let window = Arc::new(tokio::sync::Semaphore::new(WINDOW + requests.limit()));
        let chain = async move {
            let mut offset = offset;
            // Once a page's bytes have named both its successor and the listing's size: the
            // width of a page and the offset where the listing ends.
            let mut known: Option<(u64, u64)> = None;
            for _ in 0..budget.max(1) {
                if known.is_some_and(|(_, end)| offset >= end) {
                    return;
                }
                let Ok(slot) = Arc::clone(&window).acquire_owned().await else {
                    return;
                };
                let Some(request) = requests.acquire().await else {
                    return;
                };
                let (hint_tx, hint) = oneshot::channel();
                let arrival = Arrival {
                    hint: Some(hint_tx),
                    request: Some(request),
                };
                let fetch = walk.clone();
                let task = Task(tokio::spawn(
                    async move { fetch.client.fetch_page(&fetch, offset, Some(arrival)).await }
                        .instrument(tracing::Span::current()),
                ));
                if tx
                    .send(InFlight {
                        offset,
                        task,
                        _slot: slot,
                    })
                    .is_err()
                {
                    return;
                }
                if let Some((width, _)) = known {
                    // Every offset is known: the next request goes as soon as there is room.
                    // (Offsets past u64 are no listing's: the chain ends, the walk goes on from
                    // the decoded pages.)
                    let Some(next) = offset.checked_add(width) else {
                        return;
                    };
                    offset = next;
                    continue;
                }
                // The next page is asked for once this one's body has arrived and names it; a
                // body without a readable `next_offset` (the last page, a failure) ends the
                // chain, and the listing goes on from the decoded page.
                match hint.await {
                    Ok(Hint {
                        next: Some(next),
                        total,
                    }) if next > offset => {
                        if let Some(total) = total
                            && requests.limit() > 1
                        {
                            known = Some((next - offset, total));
                        }
                        offset = next;
                    }
                    _ => return,
                }
            }
        };
        Ahead {
            pages,
            _chain: Task(tokio::spawn(chain.instrument(tracing::Span::current()))),
        }
    }
}

/// `metadata.next_offset` and `metadata.total_objects` read straight from a page's bytes: the
/// metadata object is looked for in the last and then the first few hundred bytes. Either is
/// `None` when it is not found there (`next` also on the last page). Only a hint: nothing but
/// what is requested early depends on it.
pub(crate) fn metadata_hint(body: &[u8]) -> Hint {
    const WINDOW: usize = 512;
    let tail = &body[body.len().saturating_sub(WINDOW)..];
    let head = &body[..body.len().min(WINDOW)];
    let Some((part, at)) = [tail, head]
        .into_iter()
        .find_map(|part| Some((part, find(part, b"\"metadata\"")?)))
    else {
        return Hint::default();
    };
    let metadata = &part[at..];
    // Duo's metadata is flat (numbers): it ends at the first closing brace.
    let Some(close) = metadata.iter().position(|b| *b == b'}') else {
        return Hint::default();
    };
    let metadata = &metadata[..close];
    Hint {
        next: number_after(metadata, b"\"next_offset\""),
        total: number_after(metadata, b"\"total_objects\""),
    }
}

/// `metadata.next_offset` alone (see [`metadata_hint`]).
#[cfg(test)]
pub(crate) fn next_offset_hint(body: &[u8]) -> Option<u64> {
    metadata_hint(body).next
}

/// The number (bare or quoted) after `"key":` in a flat object's bytes.
fn number_after(object: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(object, key)?;
    let rest = skip_space(&object[at + key.len()..]);
    let rest = skip_space(rest.strip_prefix(b":")?);
    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::next_offset_hint;

    #[test]
    fn hints_come_from_either_end_of_the_body() {
        let tail = br#"{"stat":"OK","response":[{"a":1}],"metadata":{"next_offset":300,"prev_offset":0,"total_objects":650}}"#;
        assert_eq!(next_offset_hint(tail), Some(300));
        let head = br#"{"metadata": {"total_objects": 650, "next_offset": "600"}, "response": [], "stat": "OK"}"#;
        assert_eq!(next_offset_hint(head), Some(600));
        let last =
            br#"{"stat":"OK","response":[],"metadata":{"prev_offset":300,"total_objects":650}}"#;
        assert_eq!(next_offset_hint(last), None);
        // A next_offset outside the metadata object is not one.
        let elsewhere = br#"{"stat":"OK","metadata":{},"response":[{"next_offset":5}]}"#;
        assert_eq!(next_offset_hint(elsewhere), None);
        for junk in [
            &b""[..],
            b"{",
            b"\"metadata\"",
            b"\"metadata\":{\"next_offset\":}",
        ] {
            assert_eq!(next_offset_hint(junk), None);
        }
        let long = format!(
            r#"{{"stat":"OK","response":[{}],"metadata":{{"next_offset":9900}}}}"#,
            "1,".repeat(5000) + "1"
        );
        assert_eq!(next_offset_hint(long.as_bytes()), Some(9900));
    }

    #[test]
    fn the_total_comes_with_the_next_offset() {
        use super::{Hint, metadata_hint};
        let tail = br#"{"stat":"OK","response":[{"a":1}],"metadata":{"next_offset":300,"prev_offset":0,"total_objects":650}}"#;
        assert_eq!(
            metadata_hint(tail),
            Hint {
                next: Some(300),
                total: Some(650)
            }
        );
        let head = br#"{"metadata": {"total_objects": "650", "next_offset": 600}, "response": [], "stat": "OK"}"#;
        assert_eq!(
            metadata_hint(head),
            Hint {
                next: Some(600),
                total: Some(650)
            }
        );
        let last =
            br#"{"stat":"OK","response":[],"metadata":{"prev_offset":300,"total_objects":650}}"#;
        assert_eq!(
            metadata_hint(last),
            Hint {
                next: None,
                total: Some(650)
            }
        );
        // A total outside the metadata object is not one.
        let elsewhere =
            br#"{"stat":"OK","metadata":{"next_offset":2},"response":[{"total_objects":5}]}"#;
        assert_eq!(metadata_hint(elsewhere).total, None);
        assert_eq!(metadata_hint(b"").total, None);
    }

    /// The bound on requests in flight drops to one at the first push-back: free places go at
    /// once, places held by requests in flight as those requests end.
    #[tokio::test]
    async fn slowing_down_leaves_one_request_in_flight() {
        let c = super::Concurrency::new(4);
        let held: Vec<_> = futures::future::join_all((0..3).map(|_| c.acquire()))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect();
        c.slow_down();
        assert_eq!(c.limit(), 1);
        // The one free place was taken away; three are held.
        assert_eq!(c.permits.available_permits(), 0);
        drop(held);
        // Two of the three come back forgotten, one comes back.
        assert_eq!(c.permits.available_permits(), 1);
        let one = c.acquire().await.unwrap();
        assert_eq!(c.permits.available_permits(), 0);
        drop(one);
        c.slow_down();
        assert_eq!(
            c.permits.available_permits(),
            1,
            "a second slow-down changes nothing"
        );
    }

    /// A user's own `"metadata"` field near the end of a long body wins over the real metadata
    /// at the start: the hint is wrong, which is why a hint only decides what is requested early
    /// and never what is listed (tests/prefetch_hints.rs checks the listing against such pages).
    #[test]
    fn a_decoy_near_the_end_is_taken_for_the_hint() {
        let notes = "n".repeat(600);
        let body = format!(
            r#"{{"metadata":{{"total_objects":7,"next_offset":2}},"stat":"OK","response":[{{"user_id":"DU1","notes":"{notes}","metadata":{{"next_offset":3}}}}]}}"#
        );
        assert_eq!(next_offset_hint(body.as_bytes()), Some(3));
    }
}
