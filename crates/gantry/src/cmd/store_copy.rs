//! What `gantry store migrate` and `gantry store verify` do, on any two stores: copy every
//! record in transactions small enough for etcd, and compare two stores key by key.
//!
//! Keys and values are copied byte for byte; revisions are not (each store numbers its own
//! writes). Leased keys (the leader's election key, anything else written under a lease)
//! are runtime state of the servers that wrote them and are neither copied nor compared.

use std::collections::BTreeSet;

use gantry_store::{Compare, Op, Record, Store, StoreError};

/// How much one transaction may carry. etcd refuses a transaction of more than
/// `--max-txn-ops` (default 128) compares or operations, and a request of more than
/// `--max-request-bytes` (default 1.5 MiB).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_ops: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A margin under 1.5 MiB for the request's own framing.
        Limits {
            max_ops: 128,
            max_bytes: 1 << 20,
        }
    }
}

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    pub records: usize,
    /// Keys and values.
    pub bytes: u64,
    pub transactions: usize,
    /// The leased keys left behind.
    pub skipped: Vec<String>,
}

/// One way two stores differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    OnlyInSource(String),
    OnlyInDestination(String),
    ValueDiffers {
        key: String,
        source_bytes: usize,
        destination_bytes: usize,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::OnlyInSource(k) => write!(f, "{k}: only in the source"),
            Difference::OnlyInDestination(k) => write!(f, "{k}: only in the destination"),
            Difference::ValueDiffers {
                key,
                source_bytes,
                destination_bytes,
            } => write!(
                f,
                "{key}: the values differ (source {source_bytes} bytes, destination {destination_bytes} bytes)"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the destination {store} is not empty: it holds {count} key(s), the first {first}; migrate only into an empty store (for etcd: `etcdctl del --prefix <the --etcd-prefix>`, or pick another --etcd-prefix)")]
    NotEmpty {
        store: String,
        count: usize,
        first: String,
    },
    #[error("the record {key} takes {size} bytes, more than one transaction may carry ({max} bytes); raise etcd's --max-request-bytes")]
    TooLarge {
        key: String,
        size: usize,
        max: usize,
    },
    #[error("the destination {store} changed during the copy (the batch starting at {key} found a key already there): is a gantry server running on it? Clear it and migrate again")]
    Raced { store: String, key: String },
    #[error("the {side} store {store}: {source}")]
    Store {
        side: &'static str,
        store: String,
        source: StoreError,
    },
}

fn on<S: Store>(side: &'static str, store: &S) -> impl FnOnce(StoreError) -> CopyError {
    let store = store.describe();
    move |source| CopyError::Store {
        side,
        store,
        source,
    }
}

/// What a record costs in a transaction: its key twice (the put and the compare that it is
/// absent), its value, and a little framing.
fn cost(r: &Record) -> usize {
    2 * r.key.len() + r.value.len() + 32
}

/// Copies every record of `source` whose key `leased` does not hold into `destination`,
/// which must be empty. Each batch also checks that its keys are still absent, so a writer
/// that appears on the destination meanwhile fails the copy instead of being overwritten.
pub async fn copy<A: Store, B: Store>(
    source: &A,
    destination: &B,
    leased: &BTreeSet<String>,
    limits: Limits,
) -> Result<Copied, CopyError> {
    let present = destination
        .list("")
        .await
        .map_err(on("destination", destination))?;
    if let Some(first) = present.first() {
        return Err(CopyError::NotEmpty {
            store: destination.describe(),
            count: present.len(),
            first: first.key.clone(),
        });
    }
    let records = source.list("").await.map_err(on("source", source))?;
    let mut copied = Copied::default();
    let mut batch: Vec<Record> = Vec::new();
    let mut batch_bytes = 0;
    for r in records {
        if leased.contains(&r.key) {
            copied.skipped.push(r.key);
            continue;
        }
        let size = cost(&r);
        if size > limits.max_bytes {
            return Err(CopyError::TooLarge {
                key: r.key,
                size,
                max: limits.max_bytes,
            });
        }
        if batch.len() + 1 > limits.max_ops || batch_bytes + size > limits.max_bytes {
            commit(destination, std::mem::take(&mut batch), &mut copied).await?;
            batch_bytes = 0;
        }
        batch_bytes += size;
        batch.push(r);
    }
    if !batch.is_empty() {
        commit(destination, batch, &mut copied).await?;
    }
    Ok(copied)
}

async fn commit<B: Store>(
    destination: &B,
    batch: Vec<Record>,
    copied: &mut Copied,
) -> Result<(), CopyError> {
    let first = batch.first().map(|r| r.key.clone()).unwrap_or_default();
    let mut compares = Vec::with_capacity(batch.len());
    let mut ops = Vec::with_capacity(batch.len());
    let mut bytes = 0u64;
    for r in batch {
        bytes += (r.key.len() + r.value.len()) as u64;
        compares.push(Compare::Revision {
            key: r.key.clone(),
            revision: 0,
        });
        ops.push(Op::Put {
            key: r.key,
            value: r.value,
        });
    }
    let n = ops.len();
    let out = destination
        .txn(compares, ops)
        .await
        .map_err(on("destination", destination))?;
    if !out.succeeded {
        return Err(CopyError::Raced {
            store: destination.describe(),
            key: first,
        });
    }
    copied.records += n;
    copied.bytes += bytes;
    copied.transactions += 1;
    Ok(())
}

/// What a comparison found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Compared {
    /// Records of the source compared.
    pub records: usize,
    /// In key order.
    pub differences: Vec<Difference>,
}

/// Every way `source` and `destination` differ, leased keys of either side left out.
pub async fn compare<A: Store, B: Store>(
    source: &A,
    destination: &B,
    leased: &BTreeSet<String>,
) -> Result<Compared, CopyError> {
    let mut a = source.list("").await.map_err(on("source", source))?;
    let mut b = destination
        .list("")
        .await
        .map_err(on("destination", destination))?;
    a.retain(|r| !leased.contains(&r.key));
    b.retain(|r| !leased.contains(&r.key));
    // Both backends list in byte order already; sorting here makes the walk below correct
    // whatever a backend does.
    a.sort_by(|x, y| x.key.cmp(&y.key));
    b.sort_by(|x, y| x.key.cmp(&y.key));
    let records = a.len();
    let mut out = Vec::new();
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => {
                return Ok(Compared {
                    records,
                    differences: out,
                })
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(&y.key),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some(x) = a.next() {
                    out.push(Difference::OnlyInSource(x.key));
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some(y) = b.next() {
                    out.push(Difference::OnlyInDestination(y.key));
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some(x), Some(y)) = (a.next(), b.next()) {
                    if x.value != y.value {
                        out.push(Difference::ValueDiffers {
                            key: x.key,
                            source_bytes: x.value.len(),
                            destination_bytes: y.value.len(),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "store_copy_tests.rs"]
mod tests;
