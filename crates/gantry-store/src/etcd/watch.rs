//! etcd watches, as the broadcast channels of [`Store::watch_from`].
//!
//! Each watched prefix has a background task that holds one etcd watch and forwards its
//! events. The task remembers the revision after the last event it delivered; when the
//! stream breaks (a member killed or partitioned, a member losing its leader, which cancels
//! the watch because requests require a leader) it watches again from there, through any
//! member, so no change is lost and none is delivered twice. When etcd has compacted that
//! revision it sends [`Event::Reset`] with the current revision and goes on from there. A
//! task ends when its channel has no receiver left.
//!
//! Watchers "from now on" (`after == 0`) of one prefix share one task and channel (one etcd
//! watch per prefix, however many sessions watch it). A new task starts after the highest
//! revision this client has seen, so a caller that watches and then writes sees its own
//! write. A watcher that joins a running task gets what the task delivers next: that may
//! include changes committed shortly before the call that the task had not forwarded yet
//! (always in revision order, never a gap), so a consumer that lists after subscribing
//! converges, as with SQLite, where a change can show in both the list and the watch.
//!
//! [`Store::watch_from`]: crate::Store::watch_from

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::{broadcast, Notify};

use super::{range_end, Inner, MAX_RESPONSE};
use crate::{Event, Record};

/// Same bound as the SQLite backend's watchers.
const CAPACITY: usize = 4096;
/// How often an idle task checks whether anyone still listens.
const IDLE_CHECK: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A shared watch: its channel, and the wake-up that makes its task ask etcd for progress.
type Shared = (broadcast::Sender<Event>, Arc<Notify>);

#[derive(Debug, Default)]
pub(super) struct Watches {
    shared: Mutex<HashMap<String, Shared>>,
}

impl Watches {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Shared>> {
        // Every edit is one insert or one remove.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(super) fn subscribe(
    inner: &Arc<Inner>,
    prefix: &str,
    after: u64,
) -> broadcast::Receiver<Event> {
    if after == 0 {
        let mut shared = inner.watches.lock();
        if let Some((tx, _)) = shared.get(prefix).filter(|(tx, _)| tx.receiver_count() > 0) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(CAPACITY);
        let progress = Arc::new(Notify::new());
        shared.insert(prefix.to_string(), (tx.clone(), Arc::clone(&progress)));
        let from = inner.seen.load(std::sync::atomic::Ordering::Acquire) + 1;
        inner.runtime.spawn(run(
            Arc::clone(inner),
            prefix.to_string(),
            from,
            tx,
            Some(progress),
        ));
        return rx;
    }
    let (tx, rx) = broadcast::channel(CAPACITY);
    inner.runtime.spawn(run(
        Arc::clone(inner),
        prefix.to_string(),
        after + 1,
        tx,
        None,
    ));
    rx
}

/// Makes the shared watch of `prefix` ask etcd for its progress; `false` when nobody
/// watches `prefix` from now on. Requests made before the task sends one are answered by
/// it (a [`Notify`] permit coalesces them).
pub(super) fn request_progress(inner: &Inner, prefix: &str) -> bool {
    let shared = inner.watches.lock();
    match shared.get(prefix).filter(|(tx, _)| tx.receiver_count() > 0) {
        Some((_, progress)) => {
            progress.notify_one();
            true
        }
        None => false,
    }
}

/// Forwards the changes under `prefix` from revision `next` on, across reconnects.
async fn run(
    inner: Arc<Inner>,
    prefix: String,
    mut next: u64,
    tx: broadcast::Sender<Event>,
    progress: Option<Arc<Notify>>,
) {
    let shared = progress.is_some();
    let start = format!("{}{prefix}", inner.prefix).into_bytes();
    let end = range_end(&start);
    let mut backoff = Duration::from_millis(50);
    loop {
        if gone(&inner, &prefix, &tx, shared) {
            return;
        }
        let options = WatchOptions::new()
            .with_range(end.clone())
            .with_start_revision(super::to_i64(next));
        let mut client = inner
            .client
            .watch_client()
            .max_decoding_message_size(MAX_RESPONSE);
        let opened =
            tokio::time::timeout(inner.timeout, client.watch(start.clone(), Some(options)));
        let mut stream = match opened.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(store = %inner.what, prefix, error = %e, "etcd watch: cannot open, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut idle = tokio::time::interval(IDLE_CHECK);
        loop {
            tokio::select! {
                message = stream.message() => match message {
                    Ok(Some(resp)) => {
                        if resp.compact_revision() > 0 {
                            // The history after `next` is gone: the watchers re-read.
                            let Some(current) = current_revision(&inner, &prefix, &tx, shared).await
                            else {
                                return;
                            };
                            tracing::info!(store = %inner.what, prefix, wanted = next, compacted = resp.compact_revision(), current, "etcd watch: revision compacted, watchers re-read");
                            let _ = tx.send(Event::Reset { revision: current });
                            next = current + 1;
                            break;
                        }
                        if resp.canceled() {
                            tracing::debug!(store = %inner.what, prefix, reason = resp.cancel_reason(), "etcd watch: canceled, resuming");
                            break;
                        }
                        if resp.events().is_empty() && !resp.created() {
                            // A progress answer: every event up to its header revision
                            // was sent before it (etcd >= 3.4.24 / 3.5.8 orders it
                            // with the events; see docs/ha.md).
                            if let Some(h) = resp.header() {
                                let revision = u64::try_from(h.revision()).unwrap_or(0);
                                let _ = tx.send(Event::Progress { revision });
                            }
                            continue;
                        }
                        // Every event of one revision comes in one response, so the
                        // response is delivered whole before `next` moves past it.
                        let from = next;
                        for event in resp.events() {
                            let Some(kv) = event.kv() else { continue };
                            let revision = u64::try_from(kv.mod_revision()).unwrap_or(0);
                            if revision < from {
                                // Already delivered before a reconnect.
                                continue;
                            }
                            next = next.max(revision + 1);
                            let Some(key) = inner.strip(kv.key()) else { continue };
                            let event = match event.event_type() {
                                EventType::Put => Event::Put(Record {
                                    key,
                                    value: kv.value().to_vec(),
                                    revision,
                                }),
                                EventType::Delete => Event::Delete { key, revision },
                            };
                            inner.seen.fetch_max(revision, std::sync::atomic::Ordering::AcqRel);
                            // An error only means no receiver is left; checked below.
                            let _ = tx.send(event);
                        }
                        backoff = Duration::from_millis(50);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(store = %inner.what, prefix, error = %e, "etcd watch: stream broke, resuming");
                        break;
                    }
                },
                _ = idle.tick() => if gone(&inner, &prefix, &tx, shared) {
                    return;
                },
                () = wait_progress(progress.as_deref()) => {
                    if let Err(e) = stream.request_progress().await {
                        tracing::debug!(store = %inner.what, prefix, error = %e, "etcd watch: progress request failed");
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Resolves when someone asked the shared watch for progress (never for a private one).
async fn wait_progress(progress: Option<&Notify>) {
    match progress {
        Some(p) => p.notified().await,
        None => std::future::pending().await,
    }
}

/// The current revision, retried until it is known; `None` when nobody listens any more.
async fn current_revision(
    inner: &Arc<Inner>,
    prefix: &str,
    tx: &broadcast::Sender<Event>,
    shared: bool,
) -> Option<u64> {
    let store = super::EtcdStore {
        inner: Arc::clone(inner),
    };
    loop {
        if gone(inner, prefix, tx, shared) {
            return None;
        }
        match crate::Store::revision(&store).await {
            Ok(rev) => return Some(rev),
            Err(_) => tokio::time::sleep(MAX_BACKOFF).await,
        }
    }
}

/// Whether the task may end: no receiver is left. A shared task also leaves the table,
/// under its lock, so a new watcher never subscribes to a channel that is about to close.
fn gone(inner: &Inner, prefix: &str, tx: &broadcast::Sender<Event>, shared: bool) -> bool {
    if !shared {
        return tx.receiver_count() == 0;
    }
    let mut table = inner.watches.lock();
    if tx.receiver_count() > 0 {
        return false;
    }
    if table.get(prefix).is_some_and(|(t, _)| t.same_channel(tx)) {
        table.remove(prefix);
    }
    true
}
