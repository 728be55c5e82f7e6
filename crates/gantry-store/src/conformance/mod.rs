//! The behaviour every [`Store`] backend must have. Each case takes a fresh, empty store;
//! a backend's tests call [`run_all`] (or single cases) with a factory. Cases panic on a
//! violation, like any test.
//!
//! Needs a multi-threaded tokio runtime (`#[tokio::test(flavor = "multi_thread")]`) because
//! the concurrency cases spawn tasks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::{Compare, Event, Op, Store, StoreError};

mod election;
mod leases;
mod scale;
mod watch;

pub use election::{election_fences_a_deposed_leader, election_one_leads_then_another};
pub use leases::{
    lease_expiry_deletes_its_keys, lease_keep_alive_and_revoke, leased_put_on_dead_lease_fails,
};
pub use scale::{concurrent_increments_lose_nothing, large_values, many_keys_listed_in_order};
pub use watch::{watch_from_past_replays_or_resets, watch_survives_interruption};

/// Runs every case, each on a store from `make`.
pub async fn run_all<S: Store>(make: impl Fn() -> S) {
    get_put_roundtrip(make()).await;
    list_by_prefix_in_key_order(make()).await;
    cas_rejects_stale_revision(make()).await;
    concurrent_writers_one_wins(make()).await;
    revision_is_monotonic(make()).await;
    delete_removes_and_bumps_revision(make()).await;
    failed_compare_writes_nothing(make()).await;
    multi_key_txn_is_stamped_once(make()).await;
    watch_delivers_only_its_prefix(make()).await;
    watch_from_past_replays_or_resets(make()).await;
    lease_expiry_deletes_its_keys(make()).await;
    lease_keep_alive_and_revoke(make()).await;
    leased_put_on_dead_lease_fails(make()).await;
    election_one_leads_then_another(make()).await;
    election_fences_a_deposed_leader(make()).await;
    concurrent_increments_lose_nothing(make()).await;
    large_values(make()).await;
    many_keys_listed_in_order(make()).await;
}

pub(crate) fn put(key: &str, value: &[u8]) -> Op {
    Op::Put {
        key: key.to_string(),
        value: value.to_vec(),
    }
}

pub(crate) fn cmp(key: &str, revision: u64) -> Compare {
    Compare::Revision {
        key: key.to_string(),
        revision,
    }
}

pub async fn get_put_roundtrip<S: Store>(store: S) {
    assert_eq!(store.get("a").await.expect("get"), None);
    let rev = store.put("a", b"one".to_vec(), 0).await.expect("create");
    assert!(rev > 0, "a write must move the revision past 0");
    let rec = store.get("a").await.expect("get").expect("a exists");
    assert_eq!(
        (rec.key.as_str(), rec.value.as_slice(), rec.revision),
        ("a", &b"one"[..], rev)
    );
    let rev2 = store.put("a", b"two".to_vec(), rev).await.expect("update");
    assert!(rev2 > rev);
    let rec = store.get("a").await.expect("get").expect("a exists");
    assert_eq!((rec.value.as_slice(), rec.revision), (&b"two"[..], rev2));
    // Empty values and odd keys are values like any other.
    store.put("", Vec::new(), 0).await.expect("empty key");
    store.put("k%_\0é", Vec::new(), 0).await.expect("odd key");
    let odd = store
        .get("k%_\0é")
        .await
        .expect("get")
        .expect("odd key exists");
    assert!(odd.value.is_empty());
}

pub async fn list_by_prefix_in_key_order<S: Store>(store: S) {
    let keys = [
        "a/2",
        "a/1",
        "a/10",
        "ab",
        "a",
        "b/1",
        "a/\u{10FFFF}",
        "a0",
        "a%",
        "a/é",
    ];
    for k in keys {
        store.put(k, k.as_bytes().to_vec(), 0).await.expect("put");
    }
    let listed: Vec<String> = store
        .list("a/")
        .await
        .expect("list")
        .into_iter()
        .map(|r| {
            assert_eq!(r.value, r.key.as_bytes(), "value belongs to its key");
            r.key
        })
        .collect();
    assert_eq!(listed, ["a/1", "a/10", "a/2", "a/é", "a/\u{10FFFF}"]);

    let all: Vec<String> = store
        .list("")
        .await
        .expect("list all")
        .into_iter()
        .map(|r| r.key)
        .collect();
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(all, sorted, "an empty prefix lists everything in key order");

    // `%` and `_` are not wildcards.
    let pct: Vec<String> = store
        .list("a%")
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(pct, ["a%"]);
    assert!(store.list("zzz").await.expect("list").is_empty());
}

pub async fn cas_rejects_stale_revision<S: Store>(store: S) {
    let rev = store.put("k", b"1".to_vec(), 0).await.expect("create");
    match store.put("k", b"2".to_vec(), 0).await {
        Err(StoreError::Conflict {
            expected, found, ..
        }) => assert_eq!((expected, found), (0, rev)),
        other => panic!("creating an existing key must conflict, got {other:?}"),
    }
    match store.put("k", b"2".to_vec(), rev + 100).await {
        Err(StoreError::Conflict { found, .. }) => assert_eq!(found, rev),
        other => panic!("a wrong revision must conflict, got {other:?}"),
    }
    match store.put("absent", b"2".to_vec(), rev).await {
        Err(StoreError::Conflict { found, .. }) => assert_eq!(found, 0),
        other => panic!("updating an absent key must conflict, got {other:?}"),
    }
    let rec = store.get("k").await.expect("get").expect("k exists");
    assert_eq!((rec.value.as_slice(), rec.revision), (&b"1"[..], rev));
}

pub async fn concurrent_writers_one_wins<S: Store>(store: S) {
    let store = Arc::new(store);
    let base = store.put("race", b"0".to_vec(), 0).await.expect("create");
    for round in 0..5u8 {
        let expected = store
            .get("race")
            .await
            .expect("get")
            .expect("exists")
            .revision;
        let writers: Vec<_> = (0..8u8)
            .map(|w| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.put("race", vec![round, w], expected).await })
            })
            .collect();
        let mut winners = 0;
        for w in writers {
            match w.await.expect("writer task") {
                Ok(rev) => {
                    winners += 1;
                    assert!(rev > expected);
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(
            winners, 1,
            "exactly one writer with revision {expected} may win"
        );
    }
    assert!(store.revision().await.expect("revision") >= base + 5);
}

pub async fn revision_is_monotonic<S: Store>(store: S) {
    let mut last = store.revision().await.expect("revision");
    for i in 0..20u64 {
        let key = format!("m/{}", i % 3);
        let current = store
            .get(&key)
            .await
            .expect("get")
            .map_or(0, |r| r.revision);
        let rev = store
            .put(&key, i.to_be_bytes().to_vec(), current)
            .await
            .expect("put");
        assert!(rev > last, "revision went from {last} to {rev}");
        assert_eq!(store.revision().await.expect("revision"), rev);
        last = rev;
    }
    // A failed transaction leaves the revision alone.
    let out = store
        .txn(vec![cmp("m/0", 0)], vec![put("m/0", b"x")])
        .await
        .expect("txn");
    assert!(!out.succeeded);
    assert_eq!(out.revision, last);
    assert_eq!(store.revision().await.expect("revision"), last);
}

pub async fn delete_removes_and_bumps_revision<S: Store>(store: S) {
    let rev = store.put("d/1", b"x".to_vec(), 0).await.expect("create");
    store.put("d/2", b"y".to_vec(), 0).await.expect("create");
    let out = store
        .txn(
            vec![cmp("d/1", rev)],
            vec![Op::Delete { key: "d/1".into() }],
        )
        .await
        .expect("delete");
    assert!(out.succeeded);
    let del_rev = out.revision;
    assert!(del_rev > rev);
    assert_eq!(store.get("d/1").await.expect("get"), None);
    let left: Vec<String> = store
        .list("d/")
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(left, ["d/2"]);
    // Deleted means absent: it can be created again with expected revision 0, and the
    // revision keeps growing.
    let again = store.put("d/1", b"z".to_vec(), 0).await.expect("recreate");
    assert!(again > del_rev);
}

pub async fn failed_compare_writes_nothing<S: Store>(store: S) {
    let ra = store.put("t/a", b"a".to_vec(), 0).await.expect("create");
    let rb = store.put("t/b", b"b".to_vec(), 0).await.expect("create");
    let before = store.revision().await.expect("revision");
    let out = store
        .txn(
            vec![cmp("t/a", ra), cmp("t/b", rb + 1)],
            vec![
                put("t/a", b"A"),
                put("t/c", b"C"),
                Op::Delete { key: "t/b".into() },
            ],
        )
        .await
        .expect("txn");
    assert!(!out.succeeded);
    assert_eq!(out.revision, before);
    assert_eq!(store.revision().await.expect("revision"), before);
    let keys: Vec<(String, Vec<u8>, u64)> = store
        .list("t/")
        .await
        .expect("list")
        .into_iter()
        .map(|r| (r.key, r.value, r.revision))
        .collect();
    assert_eq!(
        keys,
        [
            ("t/a".to_string(), b"a".to_vec(), ra),
            ("t/b".to_string(), b"b".to_vec(), rb)
        ]
    );
}

pub async fn multi_key_txn_is_stamped_once<S: Store>(store: S) {
    let before = store.revision().await.expect("revision");
    let out = store
        .txn(
            vec![cmp("x/1", 0), cmp("x/2", 0)],
            vec![put("x/1", b"1"), put("x/2", b"2"), put("x/3", b"3")],
        )
        .await
        .expect("txn");
    assert!(out.succeeded);
    assert_eq!(out.revision, before + 1, "one increment per transaction");
    let records = store.list("x/").await.expect("list");
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.revision == out.revision));
}

pub async fn watch_delivers_only_its_prefix<S: Store>(store: S) {
    let mut watch = store.watch("w/");
    let mut other = store.watch("v/");
    let r1 = store.put("w/1", b"1".to_vec(), 0).await.expect("put");
    store
        .put("x/1", b"x".to_vec(), 0)
        .await
        .expect("put outside");
    store
        .put("w", b"no".to_vec(), 0)
        .await
        .expect("put prefix of prefix");
    let out = store
        .txn(
            vec![cmp("w/1", r1)],
            vec![Op::Delete { key: "w/1".into() }, put("w/2", b"2")],
        )
        .await
        .expect("txn");
    assert!(out.succeeded);

    let first = next(&mut watch).await;
    match first {
        Event::Put(rec) => assert_eq!((rec.key.as_str(), rec.revision), ("w/1", r1)),
        e => panic!("expected the put of w/1, got {e:?}"),
    }
    assert_eq!(
        next(&mut watch).await,
        Event::Delete {
            key: "w/1".into(),
            revision: out.revision
        }
    );
    match next(&mut watch).await {
        Event::Put(rec) => assert_eq!((rec.key.as_str(), rec.revision), ("w/2", out.revision)),
        e => panic!("expected the put of w/2, got {e:?}"),
    }
    assert!(matches!(watch.try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(other.try_recv(), Err(TryRecvError::Empty)));

    // Dropped watchers are fine; the next write must not fail because of them.
    drop(other);
    store
        .put("v/1", Vec::new(), 0)
        .await
        .expect("put after watcher dropped");
    let keys: BTreeSet<String> = store
        .list("")
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(keys.contains("v/1"));
}

pub(crate) async fn next(rx: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the watch event arrives within 5s")
        .expect("the watch channel is open")
}
