//! Leases: expiry and revoke delete the leased keys (with `Delete` events), keep-alive
//! holds them, and a leased put on a dead lease writes nothing.
//!
//! TTLs are 2 s, etcd's minimum with its default election timeout (it raises shorter ones).

use std::time::{Duration, Instant};

use super::{next, put};
use crate::{Event, Op, Store, StoreError};

const TTL: Duration = Duration::from_secs(2);
/// Expiry is noticed by the store's own timer (etcd checks every 500 ms): generous bound.
const EXPIRY_DEADLINE: Duration = Duration::from_secs(15);

fn leased(key: &str, value: &[u8], lease: i64) -> Op {
    Op::PutLeased {
        key: key.to_string(),
        value: value.to_vec(),
        lease,
    }
}

pub async fn lease_expiry_deletes_its_keys<S: Store>(store: S) {
    let lease = store.grant_lease(TTL).await.expect("grant");
    let mut watch = store.watch("l/");
    let out = store
        .txn(
            vec![],
            vec![
                leased("l/1", b"1", lease),
                leased("l/2", b"2", lease),
                put("l/3", b"3"),
            ],
        )
        .await
        .expect("leased puts");
    assert!(out.succeeded);
    for _ in 0..3 {
        assert!(matches!(next(&mut watch).await, Event::Put(_)));
    }
    let started = Instant::now();
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let event = tokio::time::timeout(EXPIRY_DEADLINE, watch.recv())
            .await
            .expect("the lease expires and deletes its keys within 15 s")
            .expect("watch open");
        match event {
            Event::Delete { key, revision } => {
                assert!(revision > out.revision);
                deleted.push(key);
            }
            other => panic!("expected the deletes of the leased keys, got {other:?}"),
        }
    }
    deleted.sort();
    assert_eq!(deleted, ["l/1", "l/2"]);
    assert!(
        started.elapsed() >= TTL / 2,
        "the keys went before the lease could have expired"
    );
    assert_eq!(store.get("l/1").await.expect("get"), None);
    assert!(
        store.get("l/3").await.expect("get").is_some(),
        "an unleased key stays"
    );
    assert!(
        !store.keep_alive(lease).await.expect("keep alive"),
        "an expired lease stays dead"
    );
}

pub async fn lease_keep_alive_and_revoke<S: Store>(store: S) {
    let lease = store.grant_lease(TTL).await.expect("grant");
    store
        .txn(vec![], vec![leased("k/1", b"1", lease)])
        .await
        .expect("leased put");
    // Renewed every TTL/4 for three TTLs, the key stays.
    let until = Instant::now() + TTL * 3;
    while Instant::now() < until {
        assert!(
            store.keep_alive(lease).await.expect("keep alive"),
            "a kept lease is alive"
        );
        tokio::time::sleep(TTL / 4).await;
    }
    assert!(
        store.get("k/1").await.expect("get").is_some(),
        "a kept lease keeps its key"
    );

    let mut watch = store.watch("k/");
    store.revoke_lease(lease).await.expect("revoke");
    // Revoking deletes at once: no waiting for a timer.
    assert_eq!(store.get("k/1").await.expect("get"), None);
    assert!(matches!(next(&mut watch).await, Event::Delete { key, .. } if key == "k/1"));
    assert!(!store.keep_alive(lease).await.expect("keep alive"));
    store
        .revoke_lease(lease)
        .await
        .expect("revoking twice is not an error");
}

pub async fn leased_put_on_dead_lease_fails<S: Store>(store: S) {
    let lease = store.grant_lease(TTL).await.expect("grant");
    store.revoke_lease(lease).await.expect("revoke");
    let before = store.revision().await.expect("revision");
    for dead in [lease, 0x7eed_beef] {
        match store
            .txn(
                vec![],
                vec![put("p/plain", b"x"), leased("p/leased", b"y", dead)],
            )
            .await
        {
            Err(StoreError::LeaseNotFound(id)) => assert_eq!(id, dead),
            other => panic!("a put on the dead lease {dead} must fail, got {other:?}"),
        }
    }
    assert_eq!(
        store.revision().await.expect("revision"),
        before,
        "nothing was written"
    );
    assert!(store.list("p/").await.expect("list").is_empty());
}
