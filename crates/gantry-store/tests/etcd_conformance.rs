//! The shared conformance suite against a real etcd (Debian's etcd-server, started on
//! loopback ports by the test), plus what only etcd has: history, compaction and members
//! that die and come back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gantry_store::etcd_process::EtcdCluster;
use gantry_store::{
    conformance, AnyStore, EtcdOptions, EtcdStore, Event, Op, Store, StoreError, StoreUrl,
};

fn options(cluster: &EtcdCluster, prefix: &str) -> EtcdOptions {
    EtcdOptions {
        endpoints: cluster.endpoints(),
        prefix: prefix.to_string(),
        ..EtcdOptions::default()
    }
}

/// Every case on its own key prefix of one single-member cluster: each sees an empty store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_passes_conformance() {
    let cluster = EtcdCluster::start(1).expect("start etcd");
    let mut stores = Vec::new();
    for i in 0..32 {
        stores.push(
            EtcdStore::connect(&options(&cluster, &format!("/conformance/{i}/")))
                .await
                .expect("connect"),
        );
    }
    let stores = Mutex::new(stores);
    conformance::run_all(|| stores.lock().expect("lock").pop().expect("enough stores")).await;
}

/// A watch through a 3-member cluster survives each member being killed and restarted in
/// turn (one of them carries the watch stream), then the whole cluster stopping and
/// starting again: every acknowledged write is seen once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_watch_resumes_across_member_restarts() {
    let cluster = Arc::new(Mutex::new(EtcdCluster::start(3).expect("start etcd")));
    let resume = options(&cluster.lock().expect("lock"), "/resume/");
    let store = EtcdStore::connect(&resume).await.expect("connect");
    let c = Arc::clone(&cluster);
    conformance::watch_survives_interruption(store, || async move {
        tokio::task::spawn_blocking(move || {
            let mut cluster = c.lock().expect("lock");
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in 0..3 {
                cluster.kill(i).expect("kill");
                cluster.start_member(i).expect("restart");
                for j in 0..3 {
                    cluster.wait_healthy(j, deadline).expect("healthy again");
                }
            }
            for i in 0..3 {
                cluster.stop(i).expect("stop");
            }
            for i in 0..3 {
                cluster.start_member(i).expect("start again");
            }
            for j in 0..3 {
                cluster.wait_healthy(j, deadline).expect("healthy again");
            }
        })
        .await
        .expect("restart members");
    })
    .await;
}

/// A watch from a compacted revision gets a reset with the current revision, then the
/// changes after it; a running watch that etcd cancels for compaction does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compaction_resets_watches() {
    let cluster = EtcdCluster::start(1).expect("start etcd");
    let store = EtcdStore::connect(&options(&cluster, "/compact/"))
        .await
        .expect("connect");
    let first = store.put("c/1", b"1".to_vec(), 0).await.expect("put");
    let mut rev = first;
    for _ in 0..5 {
        rev = store.put("c/1", b"x".to_vec(), rev).await.expect("put");
    }
    store.compact(rev).await.expect("compact");
    let mut watch = store.watch_from("c/", first);
    let current = match next(&mut watch).await {
        Event::Reset { revision } => revision,
        other => panic!("a watch from a compacted revision must reset first, got {other:?}"),
    };
    assert!(current >= rev);
    let after = store.put("c/2", b"2".to_vec(), 0).await.expect("put");
    match next(&mut watch).await {
        Event::Put(r) => assert_eq!((r.key.as_str(), r.revision), ("c/2", after)),
        other => panic!("the changes after the reset follow, got {other:?}"),
    }
    // History still there: a watch from an uncompacted revision replays, no reset.
    let mut replay = store.watch_from("c/", rev);
    assert!(matches!(next(&mut replay).await, Event::Put(r) if r.revision == after));
}

/// Without a quorum, calls fail within the timeout as Unavailable, naming the store; they
/// succeed again once a member is back. Reads are never served stale by the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_without_quorum_is_unavailable_and_recovers() {
    let mut cluster = EtcdCluster::start(3).expect("start etcd");
    let store = EtcdStore::connect(&EtcdOptions {
        timeout: Duration::from_secs(2),
        ..options(&cluster, "/quorum/")
    })
    .await
    .expect("connect");
    store.put("q/1", b"1".to_vec(), 0).await.expect("put");
    cluster.stop(1).expect("stop");
    // Two of three: still a quorum.
    store
        .put("q/2", b"2".to_vec(), 0)
        .await
        .expect("put with 2 of 3");
    cluster.stop(2).expect("stop");
    let started = Instant::now();
    match store.put("q/3", b"3".to_vec(), 0).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(
                msg.contains(&cluster.endpoints()[0]),
                "names the store: {msg}"
            );
            assert!(msg.contains("quorum"), "says what to check: {msg}");
        }
        other => panic!("a write without quorum must be unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails within the deadline"
    );
    match store.get("q/1").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a linearizable read without quorum must fail, got {other:?}"),
    }
    cluster.start_member(1).expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.put("q/3", b"3".to_vec(), 0).await {
            Ok(_) => break,
            // The refused write's outcome was unknown: etcd had proposed it, and it
            // committed once the quorum was back.
            Err(StoreError::Conflict { .. }) => {
                let rec = store.get("q/3").await.expect("get").expect("q/3");
                assert_eq!(rec.value, b"3");
                break;
            }
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("writes resume with a quorum: {e}"),
        }
    }
    assert_eq!(store.list("q/").await.expect("list").len(), 3);
}

/// A value over etcd's request limit fails with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_refuses_values_over_its_request_limit_clearly() {
    let cluster = EtcdCluster::start(1).expect("start etcd");
    let store = EtcdStore::connect(&options(&cluster, "/big/"))
        .await
        .expect("connect");
    match store.put("huge", vec![7u8; 2 * 1024 * 1024], 0).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("too large"), "{msg}"),
        other => panic!("a 2 MiB value must be refused, got {other:?}"),
    }
}

async fn next(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("watch open")
}

/// `AnyStore::open` on both kinds of URL: the store works, says what it is, and tells
/// leased keys (runtime state) from the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_store_opens_both_kinds() {
    let cluster = EtcdCluster::start(1).expect("start etcd");
    let dir = std::env::temp_dir().join(format!("gantry-any-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let urls = [
        format!("sqlite://{}", dir.join("store.db").display()),
        format!("{}/any", cluster.store_url()),
    ];
    for (url, kind) in urls.iter().zip(["sqlite", "etcd"]) {
        let url = StoreUrl::parse(url).expect("parse");
        let store = AnyStore::open(&url, &EtcdOptions::default())
            .await
            .expect("open");
        assert_eq!(store.kind(), kind);
        let lease = store
            .grant_lease(Duration::from_secs(10))
            .await
            .expect("grant");
        let out = store
            .txn(
                vec![],
                vec![
                    Op::PutLeased {
                        key: "ha/leader".into(),
                        value: b"a".to_vec(),
                        lease,
                    },
                    Op::Put {
                        key: "ha/other".into(),
                        value: b"b".to_vec(),
                    },
                ],
            )
            .await
            .expect("txn");
        assert!(out.succeeded);
        assert_eq!(
            store.leased_keys("ha/").await.expect("leased"),
            ["ha/leader"]
        );
        assert_eq!(store.list("").await.expect("list").len(), 2);
        store.revoke_lease(lease).await.expect("revoke");
        assert!(store.leased_keys("").await.expect("leased").is_empty());
    }
    std::fs::remove_dir_all(&dir).expect("remove dir");
}

/// etcd with authentication on: the store works with a user and password, and a wrong
/// password is refused when connecting, with a message naming the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_user_and_password() {
    let cluster = EtcdCluster::start(1).expect("start etcd");
    let mut admin = etcd_client::Client::connect(cluster.endpoints(), None)
        .await
        .expect("admin connect");
    admin
        .user_add("root", "rootpw", None)
        .await
        .expect("add root");
    admin.role_add("root").await.expect("add role");
    admin.user_grant_role("root", "root").await.expect("grant");
    admin.auth_enable().await.expect("enable auth");
    let with = |user: &str, password: &str| EtcdOptions {
        user: Some(user.to_string()),
        password: Some(password.to_string()),
        ..options(&cluster, "/auth/")
    };
    let store = EtcdStore::connect(&with("root", "rootpw"))
        .await
        .expect("connect with the password");
    let rev = store.put("k", b"v".to_vec(), 0).await.expect("put");
    assert_eq!(
        store.get("k").await.expect("get").map(|r| r.revision),
        Some(rev)
    );
    match EtcdStore::connect(&with("root", "wrong")).await {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(&cluster.endpoints()[0]), "{msg}");
            assert!(msg.contains("authentication failed"), "{msg}");
        }
        Ok(_) => panic!("a wrong password must be refused"),
    }
    match EtcdStore::connect(&options(&cluster, "/auth/")).await {
        Err(e) => assert!(e.to_string().contains("user name is empty"), "{e}"),
        Ok(_) => panic!("no user must be refused once auth is on"),
    }
}

/// A watch asked for its progress says it has delivered everything up to the revision read
/// just before, though no change under its prefix came after its last event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_watch_progress_reaches_the_revision_read_before() {
    let cluster = EtcdCluster::start(1).expect("start etcd");
    let store = EtcdStore::connect(&options(&cluster, "/progress/"))
        .await
        .expect("connect");
    let mut watch = store.watch("p/");
    // The watch is set up in the background ("from now on" is when etcd creates it): write
    // a marker until the watch delivers one, so the change below is one it must deliver and
    // not one made before it started.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    'ready: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watch delivered no change within 10 s"
        );
        store.put("p/ready", b"1".to_vec(), 0).await.expect("put");
        while let Ok(ev) = tokio::time::timeout(Duration::from_millis(200), watch.recv()).await {
            if matches!(&ev.expect("watch open"), Event::Put(r) if r.key == "p/ready") {
                break 'ready;
            }
        }
    }
    store.put("p/a", b"1".to_vec(), 0).await.expect("put");
    // Changes elsewhere only: nothing under p/ moves the watch on.
    for i in 0..3 {
        store
            .put(&format!("q/{i}"), b"1".to_vec(), 0)
            .await
            .expect("put");
    }
    let revision = store.revision().await.expect("revision");
    assert!(store.request_progress("p/").await.expect("ask"));
    assert!(!store.request_progress("unwatched/").await.expect("ask"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut saw_put = false;
    loop {
        let ev = tokio::time::timeout_at(deadline, watch.recv())
            .await
            .expect("a progress answer within 10 s")
            .expect("watch open");
        match ev {
            Event::Put(r) if r.key == "p/a" => saw_put = true,
            Event::Progress { revision: at } if at >= revision => break,
            _ => {}
        }
    }
    assert!(saw_put, "the progress answer overtook the change before it");
}
