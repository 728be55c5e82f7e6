//! Leader election on any [`Store`]: the candidate that creates the election key, under its
//! own lease, leads until the lease ends. Every write the leader makes as leader carries
//! [`Leadership::fence`], a compare of the election key's revision, so a deposed leader that
//! still believes it leads cannot commit: the key it compares is gone or belongs to another.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{Compare, LeaseId, Result, Store};

/// Won leadership. Dropping it stops the keep-alive (the lease then expires); [`resign`]
/// revokes it at once.
///
/// [`resign`]: Leadership::resign
#[derive(Debug)]
pub struct Leadership {
    /// The election key.
    pub key: String,
    /// The revision that created the key: what [`fence`](Leadership::fence) compares.
    pub revision: u64,
    pub lease: LeaseId,
    /// Goes `true` when the lease could not be kept (expired, revoked, store unreachable
    /// past the TTL): the holder must stop acting as leader.
    pub lost: watch::Receiver<bool>,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Leadership {
    /// The compare every fenced transaction adds.
    pub fn fence(&self) -> Compare {
        Compare::Revision {
            key: self.key.clone(),
            revision: self.revision,
        }
    }

    /// Waits until the leadership is lost.
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|l| *l).await;
    }

    /// Gives the leadership up now (revokes the lease, which deletes the key).
    pub async fn resign<S: Store>(mut self, store: &S) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        store.revoke_lease(self.lease).await
    }
}

/// Campaigns for `key` with value `id` (who leads, for operators) until this candidate
/// leads: waits while another holds the key, retries when it is deleted. The lease has
/// `ttl` and is kept alive every `ttl / 3` in the background.
pub async fn campaign<S: Store>(
    store: Arc<S>,
    key: &str,
    id: &str,
    ttl: Duration,
) -> Result<Leadership> {
    let _ = (store, key, id, ttl);
    Err(crate::StoreError::Backend(
        "leader election is not implemented yet".into(),
    ))
}
