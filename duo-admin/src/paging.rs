//! The walk behind every paged listing: pages are decoded while the next ones are fetched.
//!
//! A page's `metadata.next_offset` sits in a few bytes at the end of its body (or at its start,
//! depending on how the server orders the envelope's members). A task of the walk's own
//! requests the pages: as soon as a page's body has arrived, [`next_offset_hint`] reads it there
//! and the page at that offset is requested, up to [`WINDOW`] pages beyond the one the listing
//! waits for; every page is decoded in a task of its own, so the listing's consumer is never
//! in the way of the next request. The hint only decides what is requested early: the walk
//! follows the `next_offset` of each fully decoded page, and prefetched pages at any other
//! offset are dropped, their tasks aborted. So the walk lists exactly what sequential paging
//! lists, refuses a `next_offset` that does not advance the same way, and has one request in
//! flight at a time. Dropping the walk aborts its tasks.

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
        }
    }
}

/// How many pages may be on their way beyond the one the listing waits for.
const WINDOW: usize = 4;

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
    /// Requests follow each other (one in flight at a time), each page decoded in a task of
    /// its own as soon as its body is there, at most [`WINDOW`] pages beyond the one awaited
    /// here. Only the offsets of decoded pages are followed: pages prefetched at any other
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
        let window = Arc::new(tokio::sync::Semaphore::new(WINDOW + 1));
        let chain = async move {
            let mut offset = offset;
            for _ in 0..budget.max(1) {
                let Ok(slot) = Arc::clone(&window).acquire_owned().await else {
                    return;
                };
                let (hint_tx, hint) = oneshot::channel();
                let fetch = walk.clone();
                let task = Task(tokio::spawn(
                    async move { fetch.client.fetch_page(&fetch, offset, Some(hint_tx)).await }
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
                // The next page is asked for once this one's body has arrived and names it;
                // a body without a readable `next_offset` (the last page, a failure) ends the
                // chain, and the listing goes on from the decoded page.
                match hint.await {
                    Ok(Some(next)) => offset = next,
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

/// `metadata.next_offset` read straight from a page's bytes: the metadata object is looked for
/// in the last and then the first few hundred bytes. `None` when it is not found there, or has
/// no `next_offset` (the last page). Only a hint: nothing but what is requested early depends on
/// it.
pub(crate) fn next_offset_hint(body: &[u8]) -> Option<u64> {
    const WINDOW: usize = 512;
    let tail = &body[body.len().saturating_sub(WINDOW)..];
    let head = &body[..body.len().min(WINDOW)];
    let (part, at) = [tail, head]
        .into_iter()
        .find_map(|part| Some((part, find(part, b"\"metadata\"")?)))?;
    let metadata = &part[at..];
    // Duo's metadata is flat (numbers): it ends at the first closing brace.
    let metadata = &metadata[..metadata.iter().position(|b| *b == b'}')?];
    let key = find(metadata, b"\"next_offset\"")?;
    let rest = skip_space(&metadata[key + b"\"next_offset\"".len()..]);
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
