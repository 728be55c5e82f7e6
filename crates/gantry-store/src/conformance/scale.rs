//! Contention and size: many concurrent compare-and-swap writers on one key lose no update,
//! 1 MiB values round-trip, and 20,000 keys list in key order.

use std::sync::Arc;

use super::put;
use crate::{Event, Store, StoreError};

const WRITERS: usize = 32;
const ATTEMPTS: usize = 8;

/// Every writer reads the counter and writes it plus one if it is unchanged. The final
/// value is the number of successful writes: no success was lost or applied twice.
pub async fn concurrent_increments_lose_nothing<S: Store>(store: S) {
    let store = Arc::new(store);
    store
        .put("c/counter", b"0".to_vec(), 0)
        .await
        .expect("create");
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut won = 0u64;
                for _ in 0..ATTEMPTS {
                    let rec = store.get("c/counter").await.expect("get").expect("exists");
                    let n: u64 = std::str::from_utf8(&rec.value)
                        .expect("utf-8")
                        .parse()
                        .expect("a number");
                    match store
                        .put("c/counter", (n + 1).to_string().into_bytes(), rec.revision)
                        .await
                    {
                        Ok(_) => won += 1,
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut successes = 0;
    for w in writers {
        successes += w.await.expect("writer task");
    }
    let rec = store.get("c/counter").await.expect("get").expect("exists");
    assert_eq!(
        rec.value,
        successes.to_string().into_bytes(),
        "no lost update"
    );
    assert!(
        successes >= ATTEMPTS as u64,
        "at least one writer wins each round"
    );
}

/// 1 MiB, under etcd's default 1.5 MiB request limit (larger values fail there with a
/// clear error: see the etcd backend's docs).
pub async fn large_values<S: Store>(store: S) {
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut watch = store.watch("big/");
    let rev = store.put("big/1", big.clone(), 0).await.expect("put 1 MiB");
    let rec = store.get("big/1").await.expect("get").expect("exists");
    assert_eq!((rec.value.len(), rec.revision), (big.len(), rev));
    assert!(rec.value == big, "the value comes back unchanged");
    store
        .put("big/2", big.clone(), 0)
        .await
        .expect("put another 1 MiB");
    let listed = store.list("big/").await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r.value == big));
    match super::next(&mut watch).await {
        Event::Put(rec) => assert!(rec.value == big, "the watch carries the whole value"),
        other => panic!("expected the put, got {other:?}"),
    }
}

pub async fn many_keys_listed_in_order<S: Store>(store: S) {
    const KEYS: usize = 20_000;
    // Written in an order unlike key order, 100 to a transaction (etcd allows 128 ops).
    let mut order: Vec<usize> = (0..KEYS).collect();
    order.sort_by_key(|i| (i * 7919) % KEYS);
    for chunk in order.chunks(100) {
        let ops = chunk
            .iter()
            .map(|i| put(&format!("n/{i:05}"), i.to_string().as_bytes()))
            .collect();
        let out = store.txn(vec![], ops).await.expect("txn");
        assert!(out.succeeded);
    }
    store
        .put("n", Vec::new(), 0)
        .await
        .expect("a key outside the prefix");
    let listed = store.list("n/").await.expect("list");
    assert_eq!(listed.len(), KEYS);
    for (i, rec) in listed.iter().enumerate() {
        assert_eq!(rec.key, format!("n/{i:05}"), "key order");
        assert_eq!(rec.value, i.to_string().into_bytes());
    }
    assert_eq!(store.list("n/1999").await.expect("list").len(), 10);
}
