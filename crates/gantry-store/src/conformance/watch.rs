//! Watches from a past revision, and watches that must survive an interruption of the
//! store (an etcd member restart) without losing or repeating a change.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::{next, put};
use crate::{Event, Store, StoreError};

/// A watch from a past revision either replays every change after it (etcd keeps history)
/// or starts with a `Reset` (SQLite keeps none); either way the changes after it follow.
pub async fn watch_from_past_replays_or_resets<S: Store>(store: S) {
    let r1 = store.put("h/1", b"1".to_vec(), 0).await.expect("put");
    let r2 = store.put("h/2", b"2".to_vec(), 0).await.expect("put");
    let mut watch = store.watch_from("h/", r1);
    let r3 = store.put("h/3", b"3".to_vec(), 0).await.expect("put");
    match next(&mut watch).await {
        Event::Reset { revision } => assert!(revision >= r2 && revision < r3),
        Event::Put(rec) => {
            assert_eq!(
                (rec.key.as_str(), rec.revision),
                ("h/2", r2),
                "replay starts after r1"
            );
        }
        other => panic!("expected a replay or a reset, got {other:?}"),
    }
    loop {
        match next(&mut watch).await {
            Event::Put(rec) if rec.revision == r3 => break,
            Event::Put(rec) => assert!(rec.revision < r3),
            other => panic!("unexpected {other:?}"),
        }
    }
    // From the current revision: no reset, only what follows.
    let now = store.revision().await.expect("revision");
    let mut watch = store.watch_from("h/", now);
    let r4 = store.put("h/4", b"4".to_vec(), 0).await.expect("put");
    assert!(matches!(next(&mut watch).await, Event::Put(rec) if rec.revision == r4));
}

/// Writes under `r/` before, during and after `interrupt` (which, for etcd, kills and
/// restarts members); the watch sees every acknowledged write once, in revision order.
/// Writes refused as unavailable while the store is interrupted are retried.
pub async fn watch_survives_interruption<S, F, Fut>(store: S, interrupt: F)
where
    S: Store,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut watch = store.watch("r/");
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        acked.insert(write(&store, i).await);
    }
    interrupt().await;
    for i in 20..40 {
        acked.insert(write(&store, i).await);
    }
    let last = *acked.last().expect("writes");
    let mut seen = Vec::new();
    while seen.last().is_none_or(|r| *r < last) {
        let event = tokio::time::timeout(Duration::from_secs(30), watch.recv())
            .await
            .expect("the watch delivers within 30 s");
        match event {
            Ok(Event::Put(rec)) => seen.push(rec.revision),
            Ok(other) => panic!("only puts were made, got {other:?}"),
            Err(RecvError::Lagged(n)) => panic!("the watch lagged by {n}"),
            Err(RecvError::Closed) => panic!("the watch closed"),
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "no change twice, in order: {seen:?}"
    );
    let missing: Vec<_> = acked.iter().filter(|r| !seen.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing from the watch: {missing:?}"
    );
}

/// One put, retried while the store is unavailable. A retry may commit a second time (the
/// first attempt's outcome is unknown); both then show in the watch with their own revisions.
async fn write<S: Store>(store: &S, i: usize) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match store
            .txn(vec![], vec![put(&format!("r/{i:03}"), b"v")])
            .await
        {
            Ok(out) => return out.revision,
            Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("write {i}: {e}"),
        }
    }
}
