//! What survives a crash and a restart. The crash test re-runs this test binary as a child
//! that writes and reports each acknowledged write, then `kill -9`s it mid-stream.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use gantry_store::{Op, SqliteStore, Store};

const CHILD_ENV: &str = "GANTRY_STORE_CRASH_CHILD";

/// In the child: write keys forever, printing `acked <n> <revision>` after each write.
fn child(path: PathBuf) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open(&path).expect("child opens the store");
        for n in 0u64.. {
            let rev = store
                .put(&format!("crash/{n:08}"), n.to_be_bytes().to_vec(), 0)
                .await
                .expect("child write");
            println!("acked {n} {rev}");
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(PathBuf::from(path));
        return;
    }
    let dir = common::TempDir::new("crash");
    let path = dir.path().join("store.db");
    let exe = std::env::current_exe().expect("test binary path");
    let mut proc = Command::new(exe)
        .args([
            "acknowledged_writes_survive_kill_9",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = proc.stdout.take().expect("child stdout");
    let mut last = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child");
        if let Some(rest) = line.strip_prefix("acked ") {
            let mut parts = rest.split(' ');
            let n: u64 = parts.next().and_then(|s| s.parse().ok()).expect("n");
            let rev: u64 = parts.next().and_then(|s| s.parse().ok()).expect("rev");
            last = Some((n, rev));
            if n >= 200 {
                break;
            }
        }
    }
    // Child::kill is SIGKILL on Unix: no destructor, no flush, no clean close.
    proc.kill().expect("kill -9 the child");
    let _ = proc.wait();
    let (last_n, last_rev) = last.expect("the child acknowledged writes");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open(&path).expect("reopen after crash");
        for n in 0..=last_n {
            let rec = store
                .get(&format!("crash/{n:08}"))
                .await
                .expect("get")
                .unwrap_or_else(|| panic!("acknowledged write {n} lost"));
            assert_eq!(rec.value, n.to_be_bytes());
        }
        let rev = store.revision().await.expect("revision");
        assert!(
            rev >= last_rev,
            "revision went back from {last_rev} to {rev}"
        );
        let next = store
            .put("after", Vec::new(), 0)
            .await
            .expect("write after crash");
        assert!(next > rev);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_survives_restart_and_deletes() {
    let dir = common::TempDir::new("restart");
    let path = dir.path().join("store.db");
    let deleted_at = {
        let store = SqliteStore::open(&path).expect("open");
        let rev = store.put("a", b"1".to_vec(), 0).await.expect("put");
        let out = store
            .txn(Vec::new(), vec![Op::Delete { key: "a".into() }])
            .await
            .expect("delete");
        assert!(out.succeeded && out.revision > rev);
        out.revision
    };
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.revision().await.expect("revision"), deleted_at);
    assert_eq!(store.get("a").await.expect("get"), None);
    let rev = store.put("a", b"2".to_vec(), 0).await.expect("put again");
    assert!(rev > deleted_at, "a revision was reused after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    // Many writers at once must all be acknowledged, each with its own revision; the
    // writer folds them into few fsyncs.
    let dir = common::TempDir::new("group");
    let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("s.db")).expect("open"));
    let started = std::time::Instant::now();
    let writers: Vec<_> = (0..2000u32)
        .map(|n| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move { store.put(&format!("g/{n}"), Vec::new(), 0).await })
        })
        .collect();
    let mut revisions = std::collections::BTreeSet::new();
    for w in writers {
        revisions.insert(w.await.expect("task").expect("put"));
    }
    assert_eq!(
        revisions.len(),
        2000,
        "every write gets a distinct revision"
    );
    assert_eq!(store.list("g/").await.expect("list").len(), 2000);
    eprintln!("2000 concurrent durable writes in {:?}", started.elapsed());
}

#[test]
fn opening_a_directory_tells_the_user_what_to_check() {
    let dir = common::TempDir::new("baddir");
    let err = SqliteStore::open(dir.path()).expect_err("a directory is not a store");
    let msg = err.to_string();
    assert!(msg.contains("cannot open the store"), "{msg}");
}

/// Leases die with the process: the next open deletes the keys they held, and the
/// revision moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_keys_of_a_previous_process_are_deleted_on_open() {
    let dir = common::TempDir::new("leases");
    let path = dir.path().join("store.db");
    let written = {
        let store = SqliteStore::open(&path).expect("open");
        let lease = store
            .grant_lease(std::time::Duration::from_secs(3600))
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
                        key: "kept".into(),
                        value: b"k".to_vec(),
                    },
                ],
            )
            .await
            .expect("txn");
        assert!(out.succeeded);
        out.revision
    };
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.get("ha/leader").await.expect("get"), None);
    assert!(store.get("kept").await.expect("get").is_some());
    assert!(store.revision().await.expect("revision") > written);
}
