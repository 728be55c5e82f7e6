//! Typed access to the [`Store`]: JSON records with the revision they were read at, so every
//! write can be a compare-and-swap on exactly what was read.

use gantry_store::{Compare, Op, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// A decoded record and the revision it was read at.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub key: String,
    pub value: T,
    pub revision: u64,
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Corrupt {
        key: key.to_string(),
        source,
    })
}

pub async fn get<S: Store, T: DeserializeOwned>(
    store: &S,
    key: &str,
) -> Result<Option<Versioned<T>>> {
    match store.get(key).await? {
        None => Ok(None),
        Some(rec) => Ok(Some(Versioned {
            value: decode(&rec.key, &rec.value)?,
            key: rec.key,
            revision: rec.revision,
        })),
    }
}

pub async fn list<S: Store, T: DeserializeOwned>(
    store: &S,
    prefix: &str,
) -> Result<Vec<Versioned<T>>> {
    store
        .list(prefix)
        .await?
        .into_iter()
        .map(|rec| {
            Ok(Versioned {
                value: decode(&rec.key, &rec.value)?,
                key: rec.key,
                revision: rec.revision,
            })
        })
        .collect()
}

/// Like [`list`], but decodes in full only the records whose cheap view `L` (a struct of a
/// few fields; serde skips the rest) passes `keep`. For scans that want a few records of
/// many, such as one instance's or one service's tasks.
pub async fn list_where<S: Store, L: DeserializeOwned, T: DeserializeOwned>(
    store: &S,
    prefix: &str,
    keep: impl Fn(&L) -> bool,
) -> Result<Vec<Versioned<T>>> {
    let mut out = Vec::new();
    for rec in store.list(prefix).await? {
        let light: L = decode(&rec.key, &rec.value)?;
        if keep(&light) {
            out.push(Versioned {
                value: decode(&rec.key, &rec.value)?,
                key: rec.key,
                revision: rec.revision,
            });
        }
    }
    Ok(out)
}

pub fn put<T: Serialize>(key: &str, value: &T) -> Result<Op> {
    let value = serde_json::to_vec(value).map_err(|source| Error::Encode {
        what: "a record",
        source,
    })?;
    Ok(Op::Put {
        key: key.to_string(),
        value,
    })
}

/// The key still has the revision it was read at (`0`: still absent).
pub fn unchanged(key: &str, revision: u64) -> Compare {
    Compare::Revision {
        key: key.to_string(),
        revision,
    }
}

/// Runs a transaction; `Ok(false)` when a compare failed and the caller should re-read.
/// Inside a controller (a [`crate::ha::fence::fenced`] scope) the transaction is fenced:
/// see [`crate::ha::fence::commit_fenced`].
pub async fn commit<S: Store>(store: &S, compares: Vec<Compare>, ops: Vec<Op>) -> Result<bool> {
    match crate::ha::fence::current() {
        Some(fence) => crate::ha::fence::commit(store, &fence, compares, ops).await,
        None => Ok(store.txn(compares, ops).await?.succeeded),
    }
}

/// How many times a read-modify-write is tried before giving up: [`super::update`]'s
/// bound, and placement's re-checks.
pub const RETRIES: usize = 8;
