//! SQLite leases: their deadlines live in memory (a lease is a promise of this process and
//! dies with it); which keys hang on which lease is in the `leased` table, written in the
//! same transaction as the keys, so a crash never leaves a leased key behind: the next open
//! deletes every key of the table (see `SqliteStore::start`).
//!
//! A lease is alive while it is in the table and its deadline has not passed. The writer
//! thread deletes the keys of expired leases (in a logical transaction of its own, with
//! `Delete` events) and checks liveness when it applies an `Op::PutLeased`, so a leased put
//! and the expiry of its lease are ordered like any two transactions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::LeaseId;

#[derive(Debug)]
pub(crate) struct Leases {
    inner: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    next: LeaseId,
    live: HashMap<LeaseId, Lease>,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    ttl: Duration,
    deadline: Instant,
}

impl Leases {
    pub(crate) fn new() -> Leases {
        // Ids start from the clock so an id a client kept from an earlier process does not
        // name a lease of this one.
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros());
        Leases {
            inner: Mutex::new(Table {
                next: LeaseId::try_from(micros).unwrap_or(1).max(1),
                live: HashMap::new(),
            }),
        }
    }

    pub(crate) fn grant(&self, ttl: Duration) -> LeaseId {
        let mut t = self.lock();
        let id = t.next;
        t.next = t.next.saturating_add(1);
        let deadline = Instant::now() + ttl;
        t.live.insert(id, Lease { ttl, deadline });
        id
    }

    /// Renews a live lease; `false` when it has expired or does not exist.
    pub(crate) fn keep_alive(&self, id: LeaseId) -> bool {
        let now = Instant::now();
        let mut t = self.lock();
        match t.live.get_mut(&id) {
            Some(lease) if lease.deadline > now => {
                lease.deadline = now + lease.ttl;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn is_alive(&self, id: LeaseId) -> bool {
        let now = Instant::now();
        self.lock().live.get(&id).is_some_and(|l| l.deadline > now)
    }

    /// Forgets a lease (revoked): from now on it is not alive.
    pub(crate) fn remove(&self, id: LeaseId) {
        self.lock().live.remove(&id);
    }

    /// The earliest deadline, for the writer's sleep.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lock().live.values().map(|l| l.deadline).min()
    }

    /// Removes and returns the leases whose deadline has passed.
    pub(crate) fn take_expired(&self) -> Vec<LeaseId> {
        let now = Instant::now();
        let mut t = self.lock();
        let expired: Vec<LeaseId> = t
            .live
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            t.live.remove(id);
        }
        expired
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every edit is a single insert, update or remove: a panic cannot leave it torn.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
