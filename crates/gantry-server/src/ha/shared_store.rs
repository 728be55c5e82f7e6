//! The state's store as an owned [`Store`], for [`gantry_store::campaign`], whose keep-alive
//! runs in the background and so needs an `Arc` of the store. The state owns its store
//! (`AppState<S>.store: S`), so this borrows it through the state's `Arc` instead of
//! changing what every handler sees.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gantry_store::{Compare, Event, LeaseId, Op, Record, Result, Store, TxnOutcome};
use tokio::sync::broadcast;

use crate::state::AppState;

/// `st.store`, owned through `st`.
#[derive(Debug)]
pub struct SharedStore<S>(pub Arc<AppState<S>>);

impl<S: Store> Store for SharedStore<S> {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Record>>> + Send {
        self.0.store.get(key)
    }
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<Record>>> + Send {
        self.0.store.list(prefix)
    }
    fn txn(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> impl Future<Output = Result<TxnOutcome>> + Send {
        self.0.store.txn(compares, ops)
    }
    fn revision(&self) -> impl Future<Output = Result<u64>> + Send {
        self.0.store.revision()
    }
    fn watch_from(&self, prefix: &str, after: u64) -> broadcast::Receiver<Event> {
        self.0.store.watch_from(prefix, after)
    }
    fn request_progress(&self, prefix: &str) -> impl Future<Output = Result<bool>> + Send {
        self.0.store.request_progress(prefix)
    }
    fn kind(&self) -> &'static str {
        self.0.store.kind()
    }
    fn describe(&self) -> String {
        self.0.store.describe()
    }
    fn grant_lease(&self, ttl: Duration) -> impl Future<Output = Result<LeaseId>> + Send {
        self.0.store.grant_lease(ttl)
    }
    fn keep_alive(&self, lease: LeaseId) -> impl Future<Output = Result<bool>> + Send {
        self.0.store.keep_alive(lease)
    }
    fn revoke_lease(&self, lease: LeaseId) -> impl Future<Output = Result<()>> + Send {
        self.0.store.revoke_lease(lease)
    }
}
