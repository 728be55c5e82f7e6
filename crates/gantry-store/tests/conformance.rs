//! The shared conformance suite against the SQLite backend, in memory and on a file.

mod common;

use gantry_store::{conformance, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_passes_conformance() {
    conformance::run_all(|| SqliteStore::open_in_memory().expect("open in memory")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_passes_conformance() {
    let dir = common::TempDir::new("conformance");
    let counter = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SqliteStore::open(&dir.path().join(format!("store-{n}.db"))).expect("open file")
    })
    .await;
}
