//! What the service controller has to look at: services marked by store watches, by the
//! periodic resync, and by the requeue times their last reconcile asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gantry_api::Timestamp;
use gantry_store::Event;
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::persistence::records::{InstanceRecord, TaskWhere};
use crate::persistence::service_records::{service_key, SERVICES};

/// What needs a look.
#[derive(Debug, Default)]
pub struct Dirty {
    pub services: BTreeSet<String>,
    pub clusters: BTreeSet<String>,
    pub all: bool,
}

impl Dirty {
    /// Notes one watch event; `false` when there was none to note.
    pub fn note(&mut self, ev: std::result::Result<Event, TryRecvError>) -> bool {
        match ev {
            Ok(Event::Put(rec)) => {
                if rec.key.starts_with(SERVICES) {
                    self.services.insert(rec.key);
                } else if rec.key.starts_with("tasks/") {
                    let cluster = rec.key.split('/').nth(1).unwrap_or_default().to_string();
                    match serde_json::from_slice::<TaskWhere>(&rec.value) {
                        Ok(t) => {
                            if let Some(name) = t.group.strip_prefix("service:") {
                                self.services.insert(service_key(&cluster, name));
                            }
                        }
                        Err(_) => self.all = true,
                    }
                } else {
                    match serde_json::from_slice::<InstanceRecord>(&rec.value) {
                        Ok(i) => {
                            self.clusters.insert(i.cluster);
                        }
                        Err(_) => self.all = true,
                    }
                }
                true
            }
            Ok(Event::Delete { .. } | Event::Reset { .. }) | Err(TryRecvError::Lagged(_)) => {
                self.all = true;
                true
            }
            // A progress answer changes nothing (but the queue may hold more).
            Ok(Event::Progress { .. }) => true,
            Err(TryRecvError::Empty | TryRecvError::Closed) => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.services.is_empty() && self.clusters.is_empty()
    }
}

/// A watch's `recv` result in `try_recv`'s terms.
pub fn lift(
    r: std::result::Result<Event, broadcast::error::RecvError>,
) -> std::result::Result<Event, TryRecvError> {
    r.map_err(|e| match e {
        broadcast::error::RecvError::Lagged(n) => TryRecvError::Lagged(n),
        broadcast::error::RecvError::Closed => TryRecvError::Closed,
    })
}

/// When each service asked to be looked at again (`Actions::requeue_at`), by the clock.
#[derive(Debug, Default)]
pub struct Requeue(BTreeMap<String, Timestamp>);

impl Requeue {
    /// Looks at `key` again at `at` (or sooner, if it asked for sooner already).
    pub fn at(&mut self, key: &str, at: Timestamp) {
        let e = self.0.entry(key.to_string()).or_insert(at);
        *e = e.min(at);
    }

    /// Forgets `key`'s requeue (a later reconcile did not ask for one).
    pub fn forget(&mut self, key: &str) {
        self.0.remove(key);
    }

    /// How long from `now` until the earliest requeue, if any.
    pub fn next_in(&self, now: Timestamp) -> Option<Duration> {
        let earliest = self.0.values().copied().reduce(f64::min)?;
        Some(Duration::from_secs_f64((earliest - now).max(0.0)))
    }

    /// Moves the services due at `now` into `dirty`.
    pub fn take_due(&mut self, now: Timestamp, dirty: &mut Dirty) {
        self.0.retain(|k, at| {
            let due = *at <= now;
            if due {
                dirty.services.insert(k.clone());
            }
            !due
        });
    }
}

/// Sleeps for `d`, or forever without one.
pub async fn sleep_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requeues_come_due_in_order() {
        let mut r = Requeue::default();
        let mut d = Dirty::default();
        assert_eq!(r.next_in(0.0), None);
        r.at("a", 10.0);
        r.at("b", 5.0);
        r.at("a", 20.0);
        assert_eq!(r.next_in(1.0), Some(Duration::from_secs(4)));
        r.take_due(6.0, &mut d);
        assert_eq!(d.services.iter().collect::<Vec<_>>(), ["b"]);
        assert_eq!(r.next_in(6.0), Some(Duration::from_secs(4)));
        r.forget("a");
        assert_eq!(r.next_in(6.0), None);
    }
}
