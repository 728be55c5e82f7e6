//! The one way the server changes a record: read, decide, compare-and-swap, and on a
//! conflict read again — at most [`RETRIES`] times, then [`Error::Contention`].
//!
//! [`update`] is the single-key form: `f` sees the record (or `None`) and says what to
//! write. [`retry`] is the same loop for writes that span several keys (a task and its
//! instance, a family counter and a revision): each attempt reads what it needs, commits
//! one transaction and says whether it went through. Both try [`RETRIES`] times and give
//! up with the same error.

use std::future::Future;

use gantry_store::{Op, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::db;
use crate::error::{Error, Result};

pub use super::db::RETRIES;

/// The outcome of one attempt of [`retry`].
#[derive(Debug)]
pub enum Attempt<R> {
    /// Finished (committed, or nothing to write): the result.
    Done(R),
    /// A compare failed: read again.
    Conflict,
}

/// What [`update`]'s `f` decided.
#[derive(Debug)]
pub enum Edit<T, R> {
    /// Write `T` (and the extra ops with it, in the same transaction), then return `R`.
    Put(T, Vec<Op>, R),
    /// Write nothing; return `R`.
    Keep(R),
}

impl<T, R> Edit<T, R> {
    /// Write `value` alone.
    pub fn put(value: T, result: R) -> Self {
        Self::Put(value, Vec::new(), result)
    }
}

/// Runs `attempt` until it is [`Attempt::Done`], at most [`RETRIES`] times. `what` names
/// the contended thing in the error.
pub async fn retry<R, F, Fut>(what: impl FnOnce() -> String, mut attempt: F) -> Result<R>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<R>>>,
{
    for _ in 0..RETRIES {
        if let Attempt::Done(r) = attempt().await? {
            return Ok(r);
        }
    }
    Err(Error::Contention { what: what() })
}

/// Reads the record at `key`, lets `f` decide, and writes the result if the record is still
/// at the revision read; retried on conflict. An error from `f` ends it, writing nothing.
pub async fn update<S, T, R>(
    store: &S,
    key: &str,
    mut f: impl FnMut(Option<T>) -> Result<Edit<T, R>>,
) -> Result<R>
where
    S: Store,
    T: Serialize + DeserializeOwned,
{
    for _ in 0..RETRIES {
        let current = db::get::<S, T>(store, key).await?;
        let revision = current.as_ref().map_or(0, |c| c.revision);
        let (value, also, r) = match f(current.map(|c| c.value))? {
            Edit::Keep(r) => return Ok(r),
            Edit::Put(value, also, r) => (value, also, r),
        };
        let mut ops = vec![db::put(key, &value)?];
        ops.extend(also);
        if db::commit(store, vec![db::unchanged(key, revision)], ops).await? {
            return Ok(r);
        }
    }
    Err(Error::Contention {
        what: format!("the record {key}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_store::SqliteStore;

    #[tokio::test]
    async fn writes_what_f_decides_and_keeps_when_told() {
        let store = SqliteStore::open_in_memory().unwrap();
        let n: u32 = update(&store, "k", |v: Option<u32>| {
            let next = v.unwrap_or(0) + 1;
            Ok(Edit::put(next, next))
        })
        .await
        .unwrap();
        assert_eq!(n, 1);
        let kept: u32 = update(&store, "k", |v: Option<u32>| Ok(Edit::Keep(v.unwrap_or(0))))
            .await
            .unwrap();
        assert_eq!(kept, 1);
        let rev = store.revision().await.unwrap();
        update(&store, "k", |_: Option<u32>| Ok(Edit::<u32, ()>::Keep(())))
            .await
            .unwrap();
        assert_eq!(store.revision().await.unwrap(), rev, "Keep writes nothing");
    }

    #[tokio::test]
    async fn a_conflict_reads_again_and_gives_up_after_the_limit() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut tries = 0;
        let r: Result<()> = retry(
            || "it".to_string(),
            || {
                tries += 1;
                async { Ok(Attempt::Conflict) }
            },
        )
        .await;
        assert!(matches!(r, Err(Error::Contention { .. })));
        assert_eq!(tries, RETRIES);
        // An error from f ends it at once.
        let e = update(&store, "k", |_: Option<u32>| -> Result<Edit<u32, ()>> {
            Err(crate::error::invalid("no"))
        })
        .await;
        assert!(matches!(e, Err(Error::Api(_))));
    }
}
