//! The etcd backend: the [`Store`] of several `gantry server` replicas, on an etcd v3
//! cluster, through the `etcd-client` crate (tonic gRPC).
//!
//! Design choices:
//! - Every key lives under a prefix (default `/gantry/`), so one etcd can serve other users.
//! - Reads are linearizable (etcd's default; never `serializable`): a member cut off from
//!   the quorum cannot answer with stale data, it fails as [`StoreError::Unavailable`].
//!   Requests carry etcd's "require leader" flag, so a member without a leader refuses at
//!   once instead of hanging.
//! - A [`Record`]'s revision is etcd's `mod_revision`, and [`Compare::Revision`] compares
//!   it (`0`: absent, which is what etcd compares for a missing key). The store revision is
//!   etcd's header revision.
//! - `list` reads in pages of [`PAGE`] keys, all at the revision of the first page, so a
//!   large prefix is one consistent snapshot without one huge response.
//! - Every call has a deadline ([`EtcdOptions::timeout`], 5 s by default); a timeout or a
//!   lost quorum is [`StoreError::Unavailable`] naming the endpoints.
//! - Watches: see `watch`. Leases are etcd leases: see `lease`; etcd's TTLs are whole
//!   seconds (rounded up) and at least its minimum (2 s with default timings).
//! - etcd refuses requests over `--max-request-bytes` (1.5 MiB by default): a larger value
//!   fails with an error that says so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp, ConnectOptions, GetOptions, KvClient, PutOptions,
    Txn, TxnOp,
};
use tokio::sync::broadcast;

mod error;
mod lease;
mod options;
mod watch;

use crate::{Compare, Event, LeaseId, Op, Record, Result, Store, StoreError, TxnOutcome};
use error::Ctx;
use options::tls_options;
pub use options::EtcdOptions;

/// Keys per page of a `list`.
const PAGE: i64 = 500;
/// The largest response accepted (a page of large values); etcd's own request limit is
/// far lower, so this only bounds a page.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// A [`Store`] on an etcd cluster. Cloning shares the connection and the watches.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    client: Client,
    kv: KvClient,
    prefix: String,
    /// The endpoints, for messages.
    what: String,
    timeout: Duration,
    /// The highest revision seen in any response: where a watch "from now on" starts.
    seen: AtomicU64,
    watches: watch::Watches,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.what)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects and reads the current revision (so the cluster must answer within the
    /// timeout). Must run inside a tokio runtime: watches run on it.
    pub async fn connect(options: &EtcdOptions) -> Result<EtcdStore> {
        let what = options.endpoints.join(",");
        if options.endpoints.is_empty() {
            return Err(StoreError::Backend(
                "the etcd store needs at least one endpoint (etcd://HOST:PORT,...)".into(),
            ));
        }
        let mut connect = ConnectOptions::new()
            .with_timeout(options.timeout)
            .with_connect_timeout(options.timeout)
            // Finds a dead connection (a killed or partitioned member) in seconds, so
            // watches and calls move to another member.
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_require_leader(true);
        if let Some(tls) = tls_options(options, &what)? {
            connect = connect.with_tls(tls);
        }
        if let Some(user) = &options.user {
            connect = connect
                .with_user(user.clone(), options.password.clone().unwrap_or_default())
                .with_auto_token_refresh(true);
        }
        let ctx = Ctx {
            what: &what,
            timeout: options.timeout,
        };
        let client = ctx
            .run(true, || {
                Client::connect(options.endpoints.clone(), Some(connect.clone()))
            })
            .await?;
        let kv = client.kv_client().max_decoding_message_size(MAX_RESPONSE);
        let store = EtcdStore {
            inner: Arc::new(Inner {
                client,
                kv,
                prefix: options.prefix.clone(),
                what,
                timeout: options.timeout,
                seen: AtomicU64::new(0),
                watches: watch::Watches::default(),
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        store.revision().await?;
        Ok(store)
    }

    /// Compacts etcd's history up to `revision` (operators and tests; etcd's own
    /// `--auto-compaction-*` does this in production). Watches behind it get a reset.
    pub async fn compact(&self, revision: u64) -> Result<()> {
        let kv = &self.inner.kv;
        self.inner
            .ctx()
            .run(false, || {
                let mut kv = kv.clone();
                async move { kv.compact(to_i64(revision), None).await }
            })
            .await?;
        Ok(())
    }

    /// The keys under `prefix` that hang on a lease (runtime state, e.g. the election key),
    /// without the store prefix.
    pub async fn leased_keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .inner
            .range(prefix)
            .await?
            .into_iter()
            .filter(|(_, lease)| *lease != 0)
            .map(|(r, _)| r.key)
            .collect())
    }
}

impl Inner {
    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            what: &self.what,
            timeout: self.timeout,
        }
    }

    fn full(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.prefix).into_bytes()
    }

    /// Converts an etcd key back; `None` for one outside the prefix or not UTF-8 (not
    /// written by Gantry).
    pub(crate) fn strip(&self, key: &[u8]) -> Option<String> {
        let rest = key.strip_prefix(self.prefix.as_bytes())?;
        String::from_utf8(rest.to_vec()).ok()
    }

    pub(crate) fn saw(&self, header: Option<&etcd_client::ResponseHeader>) -> u64 {
        let rev = header.map_or(0, |h| u64::try_from(h.revision()).unwrap_or(0));
        self.seen.fetch_max(rev, Ordering::AcqRel).max(rev)
    }

    /// Every record under `prefix` with its lease, in key order, as one snapshot.
    async fn range(&self, prefix: &str) -> Result<Vec<(Record, i64)>> {
        let start = self.full(prefix);
        let end = range_end(&start);
        let mut out = Vec::new();
        let mut from = start;
        let mut at = 0i64;
        loop {
            let options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(PAGE)
                .with_revision(at);
            let page = || {
                let (mut kv, from, options) = (self.kv.clone(), from.clone(), options.clone());
                async move { kv.get(from, Some(options)).await }
            };
            let resp = match self.ctx().run(true, page).await {
                Ok(resp) => resp,
                // Compacted between two pages: start the snapshot again, at a newer revision.
                Err(e) if at != 0 && error::is_compacted(&e) => {
                    out.clear();
                    from = self.full(prefix);
                    at = 0;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let rev = self.saw(resp.header());
            if at == 0 {
                at = to_i64(rev);
            }
            for kv in resp.kvs() {
                if let Some(key) = self.strip(kv.key()) {
                    out.push((
                        Record {
                            key,
                            value: kv.value().to_vec(),
                            revision: u64::try_from(kv.mod_revision()).unwrap_or(0),
                        },
                        kv.lease(),
                    ));
                }
            }
            match (resp.more(), resp.kvs().last()) {
                (true, Some(last)) => {
                    // The next page starts just after the last key.
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(out),
            }
        }
    }
}

impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<Record>> {
        let inner = &self.inner;
        let full = inner.full(key);
        let resp = inner
            .ctx()
            .run(true, || {
                let (mut kv, full) = (inner.kv.clone(), full.clone());
                async move { kv.get(full, None).await }
            })
            .await?;
        inner.saw(resp.header());
        Ok(resp.kvs().first().map(|kv| Record {
            key: key.to_string(),
            value: kv.value().to_vec(),
            revision: u64::try_from(kv.mod_revision()).unwrap_or(0),
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Record>> {
        Ok(self
            .inner
            .range(prefix)
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnOutcome> {
        let inner = &self.inner;
        let when: Vec<EtcdCompare> = compares
            .iter()
            .map(|Compare::Revision { key, revision }| {
                EtcdCompare::mod_revision(inner.full(key), CompareOp::Equal, to_i64(*revision))
            })
            .collect();
        let then: Vec<TxnOp> = ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => TxnOp::put(inner.full(key), value.clone(), None),
                Op::PutLeased { key, value, lease } => TxnOp::put(
                    inner.full(key),
                    value.clone(),
                    Some(PutOptions::new().with_lease(*lease)),
                ),
                Op::Delete { key } => TxnOp::delete(inner.full(key), None),
            })
            .collect();
        let txn = Txn::new().when(when).and_then(then);
        let resp = match inner
            .ctx()
            .run(false, || {
                let (mut kv, txn) = (inner.kv.clone(), txn.clone());
                async move { kv.txn(txn).await }
            })
            .await
        {
            Ok(resp) => resp,
            Err(e) if error::is_lease_not_found(&e) => {
                return Err(StoreError::LeaseNotFound(error::lease_of(&ops)))
            }
            Err(e) => return Err(e),
        };
        let revision = inner.saw(resp.header());
        Ok(TxnOutcome {
            succeeded: resp.succeeded(),
            revision: resp.header().map_or(revision, |h| {
                u64::try_from(h.revision()).unwrap_or(revision)
            }),
        })
    }

    async fn revision(&self) -> Result<u64> {
        let inner = &self.inner;
        // A linearizable count of one key: the cheapest read that returns the revision.
        let full = inner.full("");
        let resp = inner
            .ctx()
            .run(true, || {
                let (mut kv, full) = (inner.kv.clone(), full.clone());
                async move {
                    kv.get(full, Some(GetOptions::new().with_count_only()))
                        .await
                }
            })
            .await?;
        inner.saw(resp.header());
        Ok(resp
            .header()
            .map_or(0, |h| u64::try_from(h.revision()).unwrap_or(0)))
    }

    fn watch_from(&self, prefix: &str, after: u64) -> broadcast::Receiver<Event> {
        watch::subscribe(&self.inner, prefix, after)
    }

    async fn request_progress(&self, prefix: &str) -> Result<bool> {
        Ok(watch::request_progress(&self.inner, prefix))
    }

    fn kind(&self) -> &'static str {
        "etcd"
    }

    fn describe(&self) -> String {
        self.inner.what.clone()
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        lease::grant(&self.inner, ttl).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<bool> {
        lease::keep_alive(&self.inner, lease).await
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        lease::revoke(&self.inner, lease).await
    }
}

/// The end of etcd's range for keys starting with `start` (etcd's own prefix rule: bump the
/// last byte below 0xff; `\0` means "to the end of the key space").
fn range_end(start: &[u8]) -> Vec<u8> {
    let mut end = start.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
