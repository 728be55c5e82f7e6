//! The control plane's storage: versioned keys with compare-and-swap, prefix listing and
//! watches, leases, behind one [`Store`] trait. The embedded SQLite backend is the default
//! for one server; [`EtcdStore`] lets several servers share one etcd cluster ([`AnyStore`]
//! and [`StoreUrl`] pick one from `--store`). Every backend must pass the shared
//! conformance suite in [`conformance`] (the tests run it on SQLite and on real etcd
//! processes started by [`etcd_process`]). [`election`] builds fenced leadership on any
//! backend.
//!
//! This crate must never know what the keys mean: no ECS types here.

use std::future::Future;
use std::time::Duration;

mod any;
pub mod conformance;
pub mod election;
mod etcd;
pub mod etcd_process;
mod keyrange;
mod sqlite;
mod url;
mod watch;

pub use any::AnyStore;
pub use election::{campaign, Leadership};
pub use etcd::{EtcdOptions, EtcdStore};
pub use sqlite::SqliteStore;
pub use url::{StoreUrl, StoreUrlError};

/// A lease: keys written with it ([`Op::PutLeased`]) are deleted when it expires or is
/// revoked. Granted by [`Store::grant_lease`], kept by [`Store::keep_alive`].
pub type LeaseId = i64;

/// A stored value and the global revision of its last write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
    /// The store-wide revision at which this key was last written. Revisions only grow,
    /// across restarts too.
    pub revision: u64,
}

/// A condition a transaction checks before it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's revision is exactly this; `0` means "the key does not exist".
    Revision { key: String, revision: u64 },
}

/// A write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
    },
    /// A put whose key is deleted (with a [`Event::Delete`]) when `lease` expires or is
    /// revoked. A transaction with an unknown or expired lease fails with
    /// [`StoreError::LeaseNotFound`] and writes nothing.
    PutLeased {
        key: String,
        value: Vec<u8>,
        lease: LeaseId,
    },
    Delete {
        key: String,
    },
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOutcome {
    /// All compares held and all ops were applied, atomically and durably.
    pub succeeded: bool,
    /// The store's revision after the transaction (unchanged when it failed).
    pub revision: u64,
}

/// A change seen by a watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Put(Record),
    Delete {
        key: String,
        revision: u64,
    },
    /// The watch could not deliver every change up to `revision` (the store compacted the
    /// history it needed, or it fell too far behind): the watcher must read its prefix
    /// again. Changes after `revision` follow as usual.
    Reset {
        revision: u64,
    },
    /// Every change under the prefix up to `revision` has been delivered before this event:
    /// the answer to [`Store::request_progress`], sent to the prefix's "from now on"
    /// watchers. It changes nothing; a watcher that does not need it ignores it.
    Progress {
        revision: u64,
    },
}

/// Errors of any backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the record {key} was changed by another writer (expected revision {expected}, found {found}); read it again and retry")]
    Conflict {
        key: String,
        expected: u64,
        found: u64,
    },
    #[error("the lease {0} has expired or does not exist")]
    LeaseNotFound(LeaseId),
    /// The store cannot be reached or cannot commit now (etcd without a quorum, a timeout):
    /// the message names the store and what failed.
    #[error("{0}")]
    Unavailable(String),
    #[error("store backend failed: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Versioned key-value storage with compare-and-swap.
pub trait Store: Send + Sync + 'static {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Record>>> + Send;
    /// Every record whose key starts with `prefix`, in key order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<Record>>> + Send;
    /// Applies `ops` atomically if every compare holds. An acknowledged transaction is durable.
    fn txn(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> impl Future<Output = Result<TxnOutcome>> + Send;
    /// The store-wide revision now.
    fn revision(&self) -> impl Future<Output = Result<u64>> + Send;
    /// Changes under `prefix` from now on. (etcd: a watcher joining a prefix already watched
    /// may first get changes committed just before the call, in order; see the etcd backend.)
    fn watch(&self, prefix: &str) -> tokio::sync::broadcast::Receiver<Event> {
        self.watch_from(prefix, 0)
    }
    /// Changes under `prefix` with a revision above `after` (`0`: from now on). A backend
    /// that loses its connection resumes after the last revision it delivered; when the
    /// history it needs was compacted it sends [`Event::Reset`] and goes on from there.
    fn watch_from(&self, prefix: &str, after: u64) -> tokio::sync::broadcast::Receiver<Event>;
    /// Asks the "from now on" watch of `prefix` to say how far it has delivered: an
    /// [`Event::Progress`] with a revision at least the store's revision at the call follows
    /// on that watch's receivers. `Ok(false)`: this backend (or this prefix, watched by
    /// nobody) gives no such answer, and none follows. A cache fed by a watch uses it to
    /// know it holds everything up to a revision read from the store, without waiting for a
    /// change under its own prefix.
    fn request_progress(&self, prefix: &str) -> impl Future<Output = Result<bool>> + Send {
        let _ = prefix;
        std::future::ready(Ok(false))
    }

    /// What this store is, for `/healthz` and messages: `"sqlite"` or `"etcd"`.
    fn kind(&self) -> &'static str;
    /// Where it is, for messages: a file path, or the etcd endpoints. Never a secret.
    fn describe(&self) -> String;

    /// A new lease that expires `ttl` after its last keep-alive.
    fn grant_lease(&self, ttl: Duration) -> impl Future<Output = Result<LeaseId>> + Send;
    /// Renews `lease`; `Ok(false)` when it has already expired (its keys are gone).
    fn keep_alive(&self, lease: LeaseId) -> impl Future<Output = Result<bool>> + Send;
    /// Ends `lease` now and deletes its keys. Revoking an expired lease is not an error.
    fn revoke_lease(&self, lease: LeaseId) -> impl Future<Output = Result<()>> + Send;

    /// Writes `value` at `key` if its revision is `expected` (`0`: absent). Returns the new
    /// revision, or [`StoreError::Conflict`].
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
    ) -> impl Future<Output = Result<u64>> + Send {
        async move {
            let out = self
                .txn(
                    vec![Compare::Revision {
                        key: key.to_string(),
                        revision: expected,
                    }],
                    vec![Op::Put {
                        key: key.to_string(),
                        value,
                    }],
                )
                .await?;
            if out.succeeded {
                Ok(out.revision)
            } else {
                let found = self.get(key).await?.map_or(0, |r| r.revision);
                Err(StoreError::Conflict {
                    key: key.to_string(),
                    expected,
                    found,
                })
            }
        }
    }
}

/// A shared store is a store: two in-process servers (tests) can share one [`SqliteStore`],
/// and [`election::campaign`] takes an `Arc`.
impl<S: Store> Store for std::sync::Arc<S> {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Record>>> + Send {
        (**self).get(key)
    }
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<Record>>> + Send {
        (**self).list(prefix)
    }
    fn txn(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> impl Future<Output = Result<TxnOutcome>> + Send {
        (**self).txn(compares, ops)
    }
    fn revision(&self) -> impl Future<Output = Result<u64>> + Send {
        (**self).revision()
    }
    fn watch(&self, prefix: &str) -> tokio::sync::broadcast::Receiver<Event> {
        (**self).watch(prefix)
    }
    fn watch_from(&self, prefix: &str, after: u64) -> tokio::sync::broadcast::Receiver<Event> {
        (**self).watch_from(prefix, after)
    }
    fn request_progress(&self, prefix: &str) -> impl Future<Output = Result<bool>> + Send {
        (**self).request_progress(prefix)
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn grant_lease(&self, ttl: Duration) -> impl Future<Output = Result<LeaseId>> + Send {
        (**self).grant_lease(ttl)
    }
    fn keep_alive(&self, lease: LeaseId) -> impl Future<Output = Result<bool>> + Send {
        (**self).keep_alive(lease)
    }
    fn revoke_lease(&self, lease: LeaseId) -> impl Future<Output = Result<()>> + Send {
        (**self).revoke_lease(lease)
    }
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
    ) -> impl Future<Output = Result<u64>> + Send {
        (**self).put(key, value, expected)
    }
}
