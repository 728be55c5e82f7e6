//! Fan-out of committed changes to watchers, each interested in one key prefix.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::Event;

/// How many events a watcher may fall behind before it sees `RecvError::Lagged`; a lagged
/// watcher must `list` again to resynchronise.
const WATCH_CAPACITY: usize = 4096;

#[derive(Debug)]
pub(crate) struct Watchers {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    senders: Vec<(String, broadcast::Sender<Event>)>,
    /// The revision of the last change published: a watcher that asks for changes after an
    /// older revision cannot get them (no history is kept) and starts with a reset.
    published: u64,
}

impl Watchers {
    /// Watchers for a store whose last committed revision is `revision`.
    pub(crate) fn new(revision: u64) -> Watchers {
        Watchers {
            inner: Mutex::new(Inner {
                senders: Vec::new(),
                published: revision,
            }),
        }
    }

    /// Changes under `prefix` after revision `after` (`0`: from now on). This process keeps
    /// no history, so a watcher that asks for an older revision first gets
    /// [`Event::Reset`] with the last published revision: every event after it follows.
    pub(crate) fn subscribe_from(&self, prefix: &str, after: u64) -> broadcast::Receiver<Event> {
        let mut inner = self.lock();
        if after != 0 && after < inner.published {
            // Its own channel: the reset is for this watcher only.
            let (tx, rx) = broadcast::channel(WATCH_CAPACITY);
            let _ = tx.send(Event::Reset {
                revision: inner.published,
            });
            inner.senders.push((prefix.to_string(), tx));
            return rx;
        }
        // Watchers of one prefix share one channel: each event is stored once for all of
        // them, however many there are.
        if let Some((_, tx)) = inner
            .senders
            .iter()
            .find(|(p, tx)| p == prefix && tx.receiver_count() > 0)
        {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(WATCH_CAPACITY);
        inner.senders.push((prefix.to_string(), tx));
        rx
    }

    /// Sends `events` (in commit order) to every watcher whose prefix matches, and forgets
    /// watchers whose receivers are all gone. `revision` is the last revision committed.
    pub(crate) fn publish(&self, events: &[Event], revision: u64) {
        let mut inner = self.lock();
        inner.published = inner.published.max(revision);
        if events.is_empty() {
            return;
        }
        inner.senders.retain(|(_, tx)| tx.receiver_count() > 0);
        for (prefix, tx) in inner.senders.iter() {
            for event in events {
                if event_key(event).is_none_or(|k| k.starts_with(prefix.as_str())) {
                    // An error only means the last receiver went away meanwhile.
                    let _ = tx.send(event.clone());
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The list stays consistent even if a holder panicked: every edit is one push, one
        // retain or one max.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The key an event is about; `None` (a reset, a progress answer) concerns every watcher.
fn event_key(event: &Event) -> Option<&str> {
    match event {
        Event::Put(record) => Some(&record.key),
        Event::Delete { key, .. } => Some(key),
        Event::Reset { .. } | Event::Progress { .. } => None,
    }
}
