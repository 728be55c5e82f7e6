//! The store as IAM uses it: the server's compare-and-swap helpers with IAM's errors.

use gantry_store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{IamError, IamResult};
use crate::persistence::db::{self, Versioned};
use crate::persistence::update::{self, Edit};

pub use crate::persistence::update::Attempt;

pub async fn get<S: Store, T: DeserializeOwned>(
    store: &S,
    key: &str,
) -> IamResult<Option<Versioned<T>>> {
    Ok(db::get(store, key).await?)
}

pub async fn list<S: Store, T: DeserializeOwned>(store: &S, prefix: &str) -> IamResult<Vec<T>> {
    Ok(db::list(store, prefix)
        .await?
        .into_iter()
        .map(|v: Versioned<T>| v.value)
        .collect())
}

/// [`update::update`] with `f` failing in IAM's terms; an error from `f` writes nothing.
pub async fn edit<S, T, R>(
    store: &S,
    key: &str,
    mut f: impl FnMut(Option<T>) -> IamResult<Edit<T, R>>,
) -> IamResult<R>
where
    S: Store,
    T: Serialize + DeserializeOwned,
{
    let mut failed: Option<IamError> = None;
    let r = update::update(store, key, |cur| match f(cur) {
        Ok(e) => Ok(e),
        Err(e) => {
            failed = Some(e);
            // Only ends the loop; `failed` is what the caller gets.
            Err(crate::error::client("iam edit refused"))
        }
    })
    .await;
    match (r, failed) {
        (_, Some(e)) => Err(e),
        (Ok(r), None) => Ok(r),
        (Err(e), None) => Err(e.into()),
    }
}

/// Runs `attempt` (read, check, one transaction) until it commits, like [`update::retry`].
pub async fn retry<R, F, Fut>(what: &str, mut attempt: F) -> IamResult<R>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = IamResult<Attempt<R>>>,
{
    for _ in 0..db::RETRIES {
        if let Attempt::Done(r) = attempt().await? {
            return Ok(r);
        }
    }
    Err(crate::error::Error::Contention {
        what: what.to_string(),
    }
    .into())
}

pub fn put<T: Serialize>(key: &str, value: &T) -> IamResult<gantry_store::Op> {
    Ok(db::put(key, value)?)
}

pub fn delete(key: &str) -> gantry_store::Op {
    gantry_store::Op::Delete {
        key: key.to_string(),
    }
}

pub fn unchanged(key: &str, revision: u64) -> gantry_store::Compare {
    db::unchanged(key, revision)
}

/// Commits; `false` when a compare failed.
pub async fn commit<S: Store>(
    store: &S,
    compares: Vec<gantry_store::Compare>,
    ops: Vec<gantry_store::Op>,
) -> IamResult<bool> {
    Ok(db::commit(store, compares, ops).await?)
}
