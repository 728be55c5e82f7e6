//! Leader election: one candidate leads, another takes over after a resign or an expiry,
//! and a deposed leader's fenced transaction fails.

use std::sync::Arc;
use std::time::Duration;

use super::put;
use crate::election::campaign;
use crate::{Event, Store};

const TTL: Duration = Duration::from_secs(2);
const TAKEOVER: Duration = Duration::from_secs(15);

pub async fn election_one_leads_then_another<S: Store>(store: S) {
    let store = Arc::new(store);
    let a = campaign(Arc::clone(&store), "e/leader", "a", TTL)
        .await
        .expect("a campaigns");
    let leader = store.get("e/leader").await.expect("get").expect("key");
    assert_eq!(
        (leader.value.as_slice(), leader.revision),
        (&b"a"[..], a.revision)
    );
    let b = tokio::spawn({
        let store = Arc::clone(&store);
        async move { campaign(store, "e/leader", "b", TTL).await }
    });
    // b waits while a holds the key, even past a's TTL (a's lease is kept alive).
    tokio::time::sleep(TTL * 2).await;
    assert!(!b.is_finished(), "b must not lead while a does");
    let fenced = store
        .txn(vec![a.fence()], vec![put("e/work", b"a")])
        .await
        .expect("txn");
    assert!(fenced.succeeded, "the leader's fenced write commits");
    assert!(!*a.lost.borrow());

    a.resign(store.as_ref()).await.expect("resign");
    let b = tokio::time::timeout(TAKEOVER, b)
        .await
        .expect("b leads soon after a resigns")
        .expect("task")
        .expect("b campaigns");
    let leader = store.get("e/leader").await.expect("get").expect("key");
    assert_eq!(leader.value, b"b");

    // b goes away without resigning: its lease expires and c takes over.
    let b_revision = b.revision;
    drop(b);
    let c = tokio::time::timeout(TAKEOVER, campaign(Arc::clone(&store), "e/leader", "c", TTL))
        .await
        .expect("c leads once b's lease expired")
        .expect("c campaigns");
    assert!(c.revision > b_revision);
    c.resign(store.as_ref()).await.expect("resign");
}

pub async fn election_fences_a_deposed_leader<S: Store>(store: S) {
    let store = Arc::new(store);
    let mut a = campaign(Arc::clone(&store), "f/leader", "a", TTL)
        .await
        .expect("a campaigns");
    let stale = a.fence();
    let mut watch = store.watch("f/leader");
    // Someone else ends a's lease (an operator, or the store expiring it during a pause).
    store.revoke_lease(a.lease).await.expect("revoke a's lease");
    tokio::time::timeout(TAKEOVER, a.lost())
        .await
        .expect("a learns it lost the leadership");
    // (A watch may first replay the put that made a leader: etcd's shared watches start
    // where their task is, see the etcd backend.)
    loop {
        let event = tokio::time::timeout(TAKEOVER, watch.recv()).await;
        match event {
            Ok(Ok(Event::Delete { .. })) => break,
            Ok(Ok(Event::Put(rec))) if rec.revision == a.revision => {}
            other => panic!("the election key is deleted with the lease: {other:?}"),
        }
    }
    let b = campaign(Arc::clone(&store), "f/leader", "b", TTL)
        .await
        .expect("b campaigns");
    // a still holds its old fence: its write must not commit.
    let out = store
        .txn(vec![stale], vec![put("f/work", b"from a")])
        .await
        .expect("txn");
    assert!(!out.succeeded, "a deposed leader's fenced write must fail");
    assert_eq!(store.get("f/work").await.expect("get"), None);
    let out = store
        .txn(vec![b.fence()], vec![put("f/work", b"from b")])
        .await
        .expect("txn");
    assert!(out.succeeded);
    b.resign(store.as_ref()).await.expect("resign");
}
