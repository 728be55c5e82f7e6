//! One store type for the server: SQLite or etcd, chosen by `--store` ([`StoreUrl`]).

use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::broadcast;

use crate::{
    Compare, EtcdOptions, EtcdStore, Event, LeaseId, Op, Record, Result, SqliteStore, Store,
    StoreUrl, TxnOutcome,
};

/// The store a server runs on.
#[derive(Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Etcd(EtcdStore),
}

impl AnyStore {
    /// Opens the store `url` names. For etcd, the endpoints come from the URL and the
    /// prefix from the URL when it has one, else from `etcd`; the rest of `etcd` (TLS,
    /// user, timeout) applies as given. `etcd` is ignored for SQLite.
    ///
    /// Opening SQLite deletes the keys that leases of an earlier process left (see
    /// [`SqliteStore`]); nothing else is written.
    pub async fn open(url: &StoreUrl, etcd: &EtcdOptions) -> Result<AnyStore> {
        match url {
            StoreUrl::Sqlite(path) => SqliteStore::open(path).map(AnyStore::Sqlite),
            StoreUrl::Etcd { endpoints, prefix } => {
                let options = EtcdOptions {
                    endpoints: endpoints.clone(),
                    prefix: prefix.clone().unwrap_or_else(|| etcd.prefix.clone()),
                    ..etcd.clone()
                };
                EtcdStore::connect(&options).await.map(AnyStore::Etcd)
            }
        }
    }

    /// The keys under `prefix` held by a lease (runtime state such as the election key,
    /// which `gantry store migrate` must not copy), in key order.
    pub async fn leased_keys(&self, prefix: &str) -> Result<Vec<String>> {
        match self {
            AnyStore::Sqlite(s) => s.leased_keys(prefix).await,
            AnyStore::Etcd(e) => e.leased_keys(prefix).await,
        }
    }
}

impl Store for AnyStore {
    async fn get(&self, key: &str) -> Result<Option<Record>> {
        match self {
            AnyStore::Sqlite(s) => s.get(key).await,
            AnyStore::Etcd(e) => e.get(key).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Record>> {
        match self {
            AnyStore::Sqlite(s) => s.list(prefix).await,
            AnyStore::Etcd(e) => e.list(prefix).await,
        }
    }

    fn txn(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> impl Future<Output = Result<TxnOutcome>> + Send {
        // Not an `async fn`: SQLite queues the transaction when it is called, which keeps
        // transactions in call order; delegating inside a future would delay that.
        match self {
            AnyStore::Sqlite(s) => s.txn(compares, ops).left_future(),
            AnyStore::Etcd(e) => e.txn(compares, ops).right_future(),
        }
    }

    async fn revision(&self) -> Result<u64> {
        match self {
            AnyStore::Sqlite(s) => s.revision().await,
            AnyStore::Etcd(e) => e.revision().await,
        }
    }

    fn watch_from(&self, prefix: &str, after: u64) -> broadcast::Receiver<Event> {
        match self {
            AnyStore::Sqlite(s) => s.watch_from(prefix, after),
            AnyStore::Etcd(e) => e.watch_from(prefix, after),
        }
    }

    async fn request_progress(&self, prefix: &str) -> Result<bool> {
        match self {
            AnyStore::Sqlite(s) => s.request_progress(prefix).await,
            AnyStore::Etcd(e) => e.request_progress(prefix).await,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(s) => s.kind(),
            AnyStore::Etcd(e) => e.kind(),
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyStore::Sqlite(s) => s.describe(),
            AnyStore::Etcd(e) => e.describe(),
        }
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        match self {
            AnyStore::Sqlite(s) => s.grant_lease(ttl).await,
            AnyStore::Etcd(e) => e.grant_lease(ttl).await,
        }
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<bool> {
        match self {
            AnyStore::Sqlite(s) => s.keep_alive(lease).await,
            AnyStore::Etcd(e) => e.keep_alive(lease).await,
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        match self {
            AnyStore::Sqlite(s) => s.revoke_lease(lease).await,
            AnyStore::Etcd(e) => e.revoke_lease(lease).await,
        }
    }
}
