//! What boxing a listing costs: the public listings of duo-admin and okta-client are boxed once
//! (so that callers can `.try_next()` without `pin!`), which adds one allocation per listing and
//! one dynamic call per item polled.
//!
//! Measured here on the listings' own shape (pages of 300 items flattened into items, the stream
//! `paged` returns), pinned on the stack against boxed, with no IO, so that the difference is
//! not lost in network time. A real listing spends microseconds per item decoding JSON; compare
//! the per-item difference printed here with that.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::executor::block_on;
use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};

const ITEMS: u64 = 100_000;
const PAGE: u64 = 300;

/// Pages arriving one after the other, flattened into items: the shape of a listing.
fn listing() -> impl Stream<Item = Result<u64, ()>> + Send + 'static {
    stream::try_unfold(0u64, |offset| async move {
        if offset >= ITEMS {
            return Ok(None);
        }
        let end = (offset + PAGE).min(ITEMS);
        let page: Vec<u64> = (offset..end).collect();
        Ok(Some((page, end)))
    })
    .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
    .try_flatten()
}

fn drain_pinned() -> u64 {
    block_on(async {
        let mut items = std::pin::pin!(listing());
        let mut sum = 0;
        while let Some(i) = items.try_next().await.unwrap_or_default() {
            sum += black_box(i);
        }
        sum
    })
}

fn drain_boxed() -> u64 {
    block_on(async {
        let mut items = listing().boxed();
        let mut sum = 0;
        while let Some(i) = items.try_next().await.unwrap_or_default() {
            sum += black_box(i);
        }
        sum
    })
}

fn bench(c: &mut Criterion) {
    assert_eq!(drain_pinned(), drain_boxed());
    let mut group = c.benchmark_group("stream_boxing_100k_items");
    group.bench_function("pinned", |b| b.iter(drain_pinned));
    group.bench_function("boxed", |b| b.iter(drain_boxed));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
