//! A store that can be cut off: one SQLite store shared by several in-process replicas,
//! each seeing it through its own [`Flaky`], which fails every call while `down` (as a
//! replica partitioned from etcd sees it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gantry_store::{
    Compare, Event, LeaseId, Op, Record, Result, SqliteStore, Store, StoreError, TxnOutcome,
};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub struct Flaky {
    pub inner: Arc<SqliteStore>,
    pub down: Arc<AtomicBool>,
}

impl Flaky {
    pub fn new(inner: Arc<SqliteStore>) -> Self {
        Self {
            inner,
            down: Arc::default(),
        }
    }

    fn up(&self) -> Result<&SqliteStore> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the etcd cluster at 127.0.0.1:2379 cannot be reached: connection refused".into(),
            ));
        }
        Ok(&self.inner)
    }
}

impl Store for Flaky {
    async fn get(&self, key: &str) -> Result<Option<Record>> {
        self.up()?.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<Record>> {
        self.up()?.list(prefix).await
    }
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnOutcome> {
        self.up()?.txn(compares, ops).await
    }
    async fn revision(&self) -> Result<u64> {
        self.up()?.revision().await
    }
    fn watch_from(&self, prefix: &str, after: u64) -> broadcast::Receiver<Event> {
        self.inner.watch_from(prefix, after)
    }
    fn kind(&self) -> &'static str {
        "etcd"
    }
    fn describe(&self) -> String {
        "etcd://127.0.0.1:2379 (test)".into()
    }
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        self.up()?.grant_lease(ttl).await
    }
    async fn keep_alive(&self, lease: LeaseId) -> Result<bool> {
        self.up()?.keep_alive(lease).await
    }
    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.up()?.revoke_lease(lease).await
    }
}
