//! Two replicas on one store: exactly one leads; resigning or losing the store hands the
//! leadership over; the deposed one's fenced writes fail.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use gantry_store::SqliteStore;

use super::*;
use crate::error::Error;
use crate::ha::fence::{self, commit_fenced};
use crate::ha::health::report;
use crate::ha::test_store::Flaky;
use crate::persistence::db;
use crate::state::ServerConfig;

const TTL: Duration = Duration::from_millis(900);

struct Replica {
    st: Arc<AppState<Flaky>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn replica(store: &Arc<SqliteStore>, id: &str) -> Replica {
    let cfg = ServerConfig {
        replica_id: Some(id.to_string()),
        leader_ttl: TTL,
        ..ServerConfig::default()
    };
    let flaky = Flaky::new(store.clone());
    let down = flaky.down.clone();
    let st = Arc::new(AppState::new(cfg, flaky));
    let task = tokio::spawn(run(st.clone()));
    Replica { st, down, task }
}

/// Waits until `f` holds, for at most 10 s.
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn write(st: &AppState<Flaky>, key: &str) -> crate::error::Result<bool> {
    commit_fenced(st, vec![], vec![db::put(key, &1).unwrap()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_replica_leads_and_resigning_hands_it_over() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let a = replica(&store, "a");
    let b = replica(&store, "b");
    until("a replica leads", || a.st.is_leader() || b.st.is_leader()).await;
    let (leader, follower) = if a.st.is_leader() { (&a, &b) } else { (&b, &a) };
    // Over several lease periods the follower never leads beside it.
    let watch_until = Instant::now() + 3 * TTL;
    while Instant::now() < watch_until {
        assert!(leader.st.is_leader() && !follower.st.is_leader());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in [leader, follower] {
        let (code, body) = report(&r.st).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["leader"], r.st.is_leader());
        assert_eq!(body["replica"], r.st.replica.as_str());
        assert_eq!(body["leaderReplica"], leader.st.replica.as_str());
        assert!(body["storeRevision"].as_u64().unwrap() > 0);
    }
    assert!(write(&leader.st, "k1").await.unwrap());
    assert!(matches!(
        write(&follower.st, "k2").await,
        Err(Error::NotLeader { .. })
    ));

    // A stopping leader resigns: the other leads well before the lease would have ended.
    let stale = leader.st.leadership().unwrap();
    let t0 = Instant::now();
    leader.st.shutdown.send_replace(true);
    until("the follower leads", || follower.st.is_leader()).await;
    assert!(t0.elapsed() < TTL, "took {:?}", t0.elapsed());
    assert!(!leader.st.is_leader());
    let r = fence::commit(
        &leader.st.store,
        &stale,
        vec![],
        vec![db::put("k3", &1).unwrap()],
    );
    assert!(matches!(r.await, Err(Error::NotLeader { .. })));
    assert!(store.get("k3").await.unwrap().is_none());
    let (_, body) = report(&leader.st).await;
    assert_eq!(body["leaderReplica"], follower.st.replica.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_store_is_fenced_replaced_and_rejoins_as_follower() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let a = replica(&store, "a");
    until("a leads", || a.st.is_leader()).await;
    let b = replica(&store, "b");
    let believed = a.st.leadership().unwrap();

    a.down.store(true, Ordering::SeqCst);
    let (code, body) = report(&a.st).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "store-unavailable");
    assert!(body["error"].as_str().unwrap().contains("etcd"), "{body}");
    until("b leads", || b.st.is_leader()).await;
    until("a knows it lost", || !a.st.is_leader()).await;

    // Healed: what a wrote as leader before it noticed is refused by the fence.
    a.down.store(false, Ordering::SeqCst);
    let r = fence::commit(
        &a.st.store,
        &believed,
        vec![],
        vec![db::put("k", &1).unwrap()],
    );
    assert!(matches!(r.await, Err(Error::NotLeader { .. })));
    assert!(store.get("k").await.unwrap().is_none());
    // It campaigns again and follows: b keeps the leadership.
    let (code, body) = report(&a.st).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["leaderReplica"], "b");
    assert!(b.st.is_leader() && !a.st.is_leader());
}
