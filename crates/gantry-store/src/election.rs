//! Leader election on any [`Store`]: the candidate that creates the election key, under its
//! own lease, leads until the lease ends. Every write the leader makes as leader carries
//! [`Leadership::fence`], a compare of the election key's revision, so a deposed leader that
//! still believes it leads cannot commit: the key it compares is gone or belongs to another.

use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;

use tokio::sync::{broadcast, oneshot, watch};

use crate::{Compare, Event, LeaseId, Op, Result, Store, StoreError};

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
///
/// A candidate takes a lease only when it sees the key free, so a waiting candidate holds
/// nothing. While waiting it re-reads the key at least once per `ttl`, so a missed or lagged
/// watch event delays it by one `ttl` at most.
pub async fn campaign<S: Store>(
    store: Arc<S>,
    key: &str,
    id: &str,
    ttl: Duration,
) -> Result<Leadership> {
    loop {
        // Watch before reading, so a delete between the read and the wait is not missed.
        let mut watch = store.watch(key);
        if store.get(key).await?.is_some() {
            wait_for_delete(&mut watch, key, ttl).await;
            continue;
        }
        let lease = store.grant_lease(ttl).await?;
        let out = store
            .txn(
                vec![Compare::Revision {
                    key: key.to_string(),
                    revision: 0,
                }],
                vec![Op::PutLeased {
                    key: key.to_string(),
                    value: id.as_bytes().to_vec(),
                    lease,
                }],
            )
            .await;
        match out {
            Ok(out) if out.succeeded => {
                let (lost_tx, lost) = watch::channel(false);
                let (stop, stopped) = oneshot::channel();
                tokio::spawn(keep_leading(
                    Arc::clone(&store),
                    Held {
                        key: key.to_string(),
                        revision: out.revision,
                        lease,
                        ttl,
                    },
                    watch,
                    lost_tx,
                    stopped,
                ));
                return Ok(Leadership {
                    key: key.to_string(),
                    revision: out.revision,
                    lease,
                    lost,
                    stop: Some(stop),
                });
            }
            // Another candidate was faster, or the lease ended before the put (a slow
            // store): give the lease back and wait again.
            Ok(_) | Err(StoreError::LeaseNotFound(_)) => {
                let _ = store.revoke_lease(lease).await;
            }
            Err(e) => {
                let _ = store.revoke_lease(lease).await;
                return Err(e);
            }
        }
    }
}

/// Returns when `key` may be free: its delete was seen, the watch reset or lagged or closed,
/// or `ttl` passed (the caller reads the key again).
async fn wait_for_delete(watch: &mut broadcast::Receiver<Event>, key: &str, ttl: Duration) {
    let deadline = tokio::time::Instant::now() + ttl;
    loop {
        match tokio::time::timeout_at(deadline, watch.recv()).await {
            Ok(Ok(Event::Delete { key: k, .. })) if k == key => return,
            Ok(Ok(Event::Put(_) | Event::Delete { .. } | Event::Progress { .. })) => {}
            Ok(Ok(Event::Reset { .. }) | Err(_)) | Err(_) => return,
        }
    }
}

/// What the keep-alive task needs of the leadership it keeps.
struct Held {
    key: String,
    revision: u64,
    lease: LeaseId,
    ttl: Duration,
}

/// Renews the lease every `ttl / 3` and says `lost` when the store refuses (the lease
/// expired), when no renewal succeeded for `ttl` (the store may already have expired it),
/// or when the election key is deleted or rewritten. Ends when `stop` fires or its sender
/// (the [`Leadership`]) is dropped.
async fn keep_leading<S: Store>(
    store: Arc<S>,
    held: Held,
    mut watch: broadcast::Receiver<Event>,
    lost: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let period = held.ttl / 3;
    // Measured from when the last successful renewal was sent: the store's deadline is at
    // least that late, so this side gives up no later than the store.
    let mut renewed = Instant::now();
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                let sent = Instant::now();
                let attempt = tokio::time::timeout(period, store.keep_alive(held.lease)).await;
                match attempt {
                    Ok(Ok(true)) => renewed = sent,
                    Ok(Ok(false)) => break,
                    Ok(Err(_)) | Err(_) => {}
                }
                if renewed.elapsed() >= held.ttl {
                    break;
                }
            }
            event = watch.recv() => match event {
                // Only changes after the key was created count: the watch may first replay
                // the previous leader's put and delete.
                Ok(Event::Delete { key, revision }) if key == held.key && revision > held.revision => {
                    break
                }
                Ok(Event::Put(rec)) if rec.key == held.key && rec.revision > held.revision => {
                    break
                }
                Ok(Event::Reset { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed events: check the key itself.
                    match store.get(&held.key).await {
                        Ok(Some(rec)) if rec.revision == held.revision => {}
                        Ok(_) => break,
                        Err(_) => {}
                    }
                }
                Ok(_) => {}
                // The store dropped its watchers (it is shutting down): renewals go on.
                Err(broadcast::error::RecvError::Closed) => watch = store.watch(&held.key),
            },
        }
    }
    let _ = lost.send(true);
    // Keep the channel open until the holder drops or resigns, so `lost()` sees `true`.
    let _ = stop.await;
}
