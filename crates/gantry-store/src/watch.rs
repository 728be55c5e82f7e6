//! Fan-out of committed changes to watchers, each interested in one key prefix.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::Event;

/// How many events a watcher may fall behind before it sees `RecvError::Lagged`; a lagged
/// watcher must `list` again to resynchronise.
const WATCH_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Watchers {
    senders: Mutex<Vec<(String, broadcast::Sender<Event>)>>,
}

impl Watchers {
    /// Watchers of one prefix share one channel: each event is stored once for all of them,
    /// however many there are.
    pub(crate) fn subscribe(&self, prefix: &str) -> broadcast::Receiver<Event> {
        let mut senders = self.lock();
        if let Some((_, tx)) = senders
            .iter()
            .find(|(p, tx)| p == prefix && tx.receiver_count() > 0)
        {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(WATCH_CAPACITY);
        senders.push((prefix.to_string(), tx));
        rx
    }

    /// Sends `events` (in commit order) to every watcher whose prefix matches, and forgets
    /// watchers whose receivers are all gone.
    pub(crate) fn publish(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut senders = self.lock();
        senders.retain(|(_, tx)| tx.receiver_count() > 0);
        for (prefix, tx) in senders.iter() {
            for event in events {
                if event_key(event).is_none_or(|k| k.starts_with(prefix.as_str())) {
                    // An error only means the last receiver went away meanwhile.
                    let _ = tx.send(event.clone());
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, broadcast::Sender<Event>)>> {
        // The list stays consistent even if a holder panicked: every edit is one push or
        // one retain.
        self.senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The key an event is about; `None` (a reset) concerns every watcher.
fn event_key(event: &Event) -> Option<&str> {
    match event {
        Event::Put(record) => Some(&record.key),
        Event::Delete { key, .. } => Some(key),
        Event::Reset { .. } => None,
    }
}
