//! "Did anything under this prefix change since I last looked?" for the in-memory caches in
//! front of the store (the auth cache over `iam/`, the node verifier over `nodes/node/`).
//! A cache drains it before each lookup and forgets everything when it says yes; a lagged or
//! closed watch counts as a change, so a missed event can only cost a re-read, never a stale
//! answer.

use gantry_store::{Event, Store};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// A store watch of one prefix, subscribed on first use.
#[derive(Debug, Default)]
pub struct ChangeWatch {
    rx: Option<broadcast::Receiver<Event>>,
}

impl ChangeWatch {
    /// Drains the pending events of `prefix` (always the same one for a given watch); true
    /// when there was any, or the watch was just made, lagged or closed: when what a cache
    /// holds may be stale.
    pub fn changed<S: Store>(&mut self, store: &S, prefix: &str) -> bool {
        let Some(rx) = &mut self.rx else {
            self.rx = Some(store.watch(prefix));
            return true;
        };
        match rx.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => {
                // Drain the rest: one clear covers them all.
                while !matches!(
                    rx.try_recv(),
                    Err(TryRecvError::Empty | TryRecvError::Closed)
                ) {}
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(TryRecvError::Closed) => {
                self.rx = None;
                true
            }
        }
    }
}
