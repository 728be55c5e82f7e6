//! Fenced writes. While this replica leads, every write the controllers make carries one
//! more compare: the election key still has the revision it had when this replica won it.
//! A deposed leader that still believes it leads (paused, partitioned from the store, its
//! lease expired unseen) compares a key that is gone or belongs to the next leader, so its
//! transaction writes nothing. Jepsen found etcd's locks unsafe without such a check: a
//! lease says who *should* lead, only the compare in the same transaction makes it so.
//!
//! The controllers run inside [`fenced`]; every write of theirs goes through
//! [`crate::persistence::db::commit`], which adds the fence of the scope it runs in. So the
//! write paths the controllers share with the API (placement, StopTask's, `agentConnected`)
//! are fenced when a controller calls them and stay plain compare-and-swap when a request
//! does, without a "who is writing" parameter on each of them.

use std::future::Future;

use gantry_store::{Compare, Leadership, Op, Store};
use tokio::sync::watch;

use crate::error::{Error, Result};

/// Proof of leadership a write compares: the election key and the revision that made it.
#[derive(Debug, Clone)]
pub struct Fence {
    key: String,
    revision: u64,
    /// Goes `true` when the leadership is lost.
    lost: watch::Receiver<bool>,
}

impl Fence {
    pub fn of(l: &Leadership) -> Self {
        Self {
            key: l.key.clone(),
            revision: l.revision,
            lost: l.lost.clone(),
        }
    }

    /// The election key's revision this leadership holds (what the fence compares).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The election key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Not yet known to be lost. A `true` is no proof: only the compare in the transaction
    /// is.
    pub fn holds(&self) -> bool {
        !*self.lost.borrow()
    }

    fn compare(&self) -> Compare {
        Compare::Revision {
            key: self.key.clone(),
            revision: self.revision,
        }
    }

    fn refused(&self) -> Error {
        Error::NotLeader {
            key: self.key.clone(),
            revision: self.revision,
        }
    }
}

tokio::task_local! {
    static FENCE: Fence;
}

/// Runs `f` with every [`crate::persistence::db::commit`] inside it fenced by `fence`.
/// Tasks `f` spawns are not inside (task-locals do not follow a spawn).
pub async fn fenced<F: Future>(fence: Fence, f: F) -> F::Output {
    FENCE.scope(fence, f).await
}

/// The fence of the scope the caller runs in, if any.
pub fn current() -> Option<Fence> {
    FENCE.try_with(Fence::clone).ok()
}

/// Commits `ops` if `compares` hold and `fence` still leads. `Ok(false)`: a record changed
/// (re-read and retry); [`Error::NotLeader`]: the leadership is gone, nothing was written,
/// and retrying cannot help.
pub async fn commit<S: Store>(
    store: &S,
    fence: &Fence,
    mut compares: Vec<Compare>,
    ops: Vec<Op>,
) -> Result<bool> {
    if !fence.holds() {
        tracing::warn!(
            revision = fence.revision,
            "refusing a controller write: this replica no longer leads"
        );
        return Err(fence.refused());
    }
    compares.push(fence.compare());
    if store.txn(compares, ops).await?.succeeded {
        return Ok(true);
    }
    // Which compare failed? The election key's revision never comes back once it changed
    // (revisions only grow), so a key at another revision now means the fence failed.
    let now = store.get(&fence.key).await?.map_or(0, |r| r.revision);
    if now != fence.revision {
        tracing::warn!(
            revision = fence.revision,
            election_key_revision = now,
            "a controller write was refused by the fence: another replica leads now"
        );
        return Err(fence.refused());
    }
    Ok(false)
}

/// Runs a transaction only while `st`'s replica leads, with the leadership's fence among
/// its compares: [`Error::NotLeader`](Error::NotLeader) when it does not
/// lead (or no longer does, whatever it believed), writing nothing.
pub async fn commit_fenced<S: Store>(
    st: &crate::state::AppState<S>,
    compares: Vec<Compare>,
    ops: Vec<Op>,
) -> Result<bool> {
    let Some(fence) = st.leadership() else {
        return Err(Error::NotLeader {
            key: crate::ha::LEADER_KEY.to_string(),
            revision: 0,
        });
    };
    commit(&st.store, &fence, compares, ops).await
}

#[cfg(test)]
mod tests {
    use gantry_store::SqliteStore;

    use super::*;
    use crate::persistence::db;

    /// A fence on an election key written by hand, as a campaign would.
    async fn fence_on(store: &SqliteStore) -> (Fence, watch::Sender<bool>) {
        let revision = store.put("ha/leader", b"a".to_vec(), 0).await.unwrap();
        let (tx, lost) = watch::channel(false);
        let key = "ha/leader".to_string();
        (
            Fence {
                key,
                revision,
                lost,
            },
            tx,
        )
    }

    async fn value(store: &SqliteStore, key: &str) -> Option<Vec<u8>> {
        store.get(key).await.unwrap().map(|r| r.value)
    }

    #[tokio::test]
    async fn a_write_inside_the_fence_commits_while_it_leads_and_conflicts_as_before() {
        let store = SqliteStore::open_in_memory().unwrap();
        let (f, _tx) = fence_on(&store).await;
        let ok = fenced(
            f.clone(),
            db::commit(&store, vec![], vec![db::put("k", &1).unwrap()]),
        )
        .await
        .unwrap();
        assert!(ok);
        // A stale record revision is a conflict (re-read), not a lost leadership.
        let stale = vec![db::unchanged("k", 0)];
        let r = fenced(
            f,
            db::commit(&store, stale, vec![db::put("k", &2).unwrap()]),
        )
        .await;
        assert!(matches!(r, Ok(false)), "{r:?}");
        assert_eq!(value(&store, "k").await.unwrap(), b"1");
    }

    #[tokio::test]
    async fn a_deposed_leader_that_believes_it_leads_cannot_commit() {
        let store = SqliteStore::open_in_memory().unwrap();
        let (f, _tx) = fence_on(&store).await;
        // Another replica's leadership replaces the key; this one has not noticed.
        store
            .txn(vec![], vec![Op::Delete { key: f.key.clone() }])
            .await
            .unwrap();
        store.put("ha/leader", b"b".to_vec(), 0).await.unwrap();
        assert!(f.holds(), "it still believes it leads");
        let r = fenced(
            f,
            db::commit(&store, vec![], vec![db::put("k", &1).unwrap()]),
        )
        .await;
        assert!(matches!(r, Err(Error::NotLeader { .. })), "{r:?}");
        assert_eq!(value(&store, "k").await, None, "nothing written");
    }

    #[tokio::test]
    async fn a_leadership_known_lost_writes_nothing_and_outside_the_fence_writes_stay_plain() {
        let store = SqliteStore::open_in_memory().unwrap();
        let (f, tx) = fence_on(&store).await;
        tx.send_replace(true);
        let before = store.revision().await.unwrap();
        let r = fenced(
            f,
            db::commit(&store, vec![], vec![db::put("k", &1).unwrap()]),
        )
        .await;
        assert!(matches!(r, Err(Error::NotLeader { .. })), "{r:?}");
        assert_eq!(store.revision().await.unwrap(), before);
        // An API write (no fence in scope) is a plain compare-and-swap whoever leads.
        store
            .txn(
                vec![],
                vec![Op::Delete {
                    key: "ha/leader".into(),
                }],
            )
            .await
            .unwrap();
        assert!(db::commit(&store, vec![], vec![db::put("k", &1).unwrap()])
            .await
            .unwrap());
    }
}
