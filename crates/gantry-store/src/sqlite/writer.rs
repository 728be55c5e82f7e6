//! The writer thread: group commit of queued transactions, each in its own savepoint, and
//! the deletion of the keys of revoked and expired leases.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{backend, lock, to_i64, Request, Shared, WriteRequest};
use crate::{Compare, Event, LeaseId, Op, Record, Result, StoreError, TxnOutcome};

/// Upper bound on logical transactions folded into one SQLite commit.
const MAX_BATCH: usize = 512;

pub(super) fn run(conn: &Mutex<Connection>, queue: &mpsc::Receiver<Request>, shared: &Shared) {
    loop {
        // Sleep until a request comes or the next lease is due, whichever is first.
        let first = match shared.leases.next_deadline() {
            None => queue
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(deadline) => {
                queue.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
        };
        let mut batch = match first {
            Ok(req) => vec![req],
            Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Expired leases are revoked in the same batch, before the queued transactions, so
        // a leased put queued after the deadline finds its lease gone.
        let mut work: Vec<Work> = shared
            .leases
            .take_expired()
            .into_iter()
            .map(|lease| Work::Revoke(lease, None))
            .collect();
        work.extend(batch.into_iter().filter_map(|req| match req {
            Request::Txn(t) => Some(Work::Txn(t)),
            Request::Revoke { lease, reply } => Some(Work::Revoke(lease, Some(reply))),
            Request::Wake => None,
        }));
        if work.is_empty() {
            continue;
        }
        match lock(conn) {
            Ok(conn) => commit_batch(&conn, work, shared),
            Err(e) => {
                for w in work {
                    w.answer(Err(StoreError::Backend(e.to_string())));
                }
            }
        }
    }
}

/// One logical transaction of a batch.
enum Work {
    Txn(WriteRequest),
    /// Deletes the lease's keys; the reply is `None` for an expiry.
    Revoke(LeaseId, Option<oneshot::Sender<Result<()>>>),
}

impl Work {
    fn answer(self, outcome: Result<TxnOutcome>) {
        match self {
            Work::Txn(req) => {
                let _ = req.reply.send(outcome);
            }
            Work::Revoke(_, Some(reply)) => {
                let _ = reply.send(outcome.map(|_| ()));
            }
            Work::Revoke(_, None) => {}
        }
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Work>, shared: &Shared) {
    let base = shared.revision.load(Ordering::Acquire);
    let mut revision = base;
    let mut outcomes: Vec<Result<TxnOutcome>> = Vec::with_capacity(batch.len());
    let mut events = Vec::new();

    let committed = (|| -> rusqlite::Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for work in &batch {
            conn.execute_batch("SAVEPOINT txn")?;
            let applied = match work {
                Work::Txn(req) => apply(conn, &req.compares, &req.ops, revision + 1, shared),
                Work::Revoke(lease, _) => revoke(conn, *lease, revision + 1).map(Some),
            };
            let outcome = match applied {
                Ok(Some(mut applied)) => {
                    let writes = match work {
                        Work::Txn(req) => !req.ops.is_empty(),
                        Work::Revoke(..) => !applied.is_empty(),
                    };
                    if writes {
                        revision += 1;
                    }
                    conn.execute_batch("RELEASE txn")?;
                    events.append(&mut applied);
                    Ok(TxnOutcome {
                        succeeded: true,
                        revision,
                    })
                }
                Ok(None) => {
                    conn.execute_batch("RELEASE txn")?;
                    Ok(TxnOutcome {
                        succeeded: false,
                        revision,
                    })
                }
                Err(e) => {
                    conn.execute_batch("ROLLBACK TO txn; RELEASE txn")?;
                    Err(match e {
                        ApplyError::Sql(e) => backend(e),
                        ApplyError::Lease(id) => StoreError::LeaseNotFound(id),
                    })
                }
            };
            outcomes.push(outcome);
        }
        if revision != base {
            conn.prepare_cached("UPDATE meta SET revision = ?1 WHERE id = 0")?
                .execute([to_i64(revision)])?;
        }
        conn.execute_batch("COMMIT")
    })();

    match committed {
        Ok(()) => {
            shared.revision.store(revision, Ordering::Release);
            // Watchers hear of a change before its writer is answered, so a caller that
            // watches and then writes always sees its own write.
            shared.watchers.publish(&events, revision);
            for (work, outcome) in batch.into_iter().zip(outcomes) {
                work.answer(outcome);
            }
        }
        Err(e) => {
            // Nothing of the batch is on disk; leave the connection usable for the next one.
            let _ = conn.execute_batch("ROLLBACK");
            let msg = format!(
                "store commit failed, nothing was written: {e}; check free disk space and \
                 that the store file is writable, then retry"
            );
            for work in batch {
                work.answer(Err(StoreError::Backend(msg.clone())));
            }
        }
    }
}

enum ApplyError {
    Sql(rusqlite::Error),
    Lease(LeaseId),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        ApplyError::Sql(e)
    }
}

/// Deletes the keys of `lease` at `revision`.
fn revoke(
    conn: &Connection,
    lease: LeaseId,
    revision: u64,
) -> std::result::Result<Vec<Event>, ApplyError> {
    let keys: Vec<String> = conn
        .prepare_cached("SELECT key FROM leased WHERE lease = ?1 ORDER BY key")?
        .query_map([lease], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut events = Vec::with_capacity(keys.len());
    for key in keys {
        let removed = conn
            .prepare_cached("DELETE FROM kv WHERE key = ?1")?
            .execute([&key])?;
        if removed > 0 {
            events.push(Event::Delete { key, revision });
        }
    }
    conn.prepare_cached("DELETE FROM leased WHERE lease = ?1")?
        .execute([lease])?;
    Ok(events)
}

/// Checks every compare, then applies the ops at `revision`. `None` when a compare failed
/// (nothing written).
fn apply(
    conn: &Connection,
    compares: &[Compare],
    ops: &[Op],
    revision: u64,
    shared: &Shared,
) -> std::result::Result<Option<Vec<Event>>, ApplyError> {
    for compare in compares {
        let Compare::Revision {
            key,
            revision: expected,
        } = compare;
        let found: i64 = conn
            .prepare_cached("SELECT revision FROM kv WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?
            .unwrap_or(0);
        if found != to_i64(*expected) {
            return Ok(None);
        }
    }
    for op in ops {
        if let Op::PutLeased { lease, .. } = op {
            if !shared.leases.is_alive(*lease) {
                return Err(ApplyError::Lease(*lease));
            }
        }
    }
    let stamp = to_i64(revision);
    let mut events = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Put { key, value } | Op::PutLeased { key, value, .. } => {
                conn.prepare_cached(
                    "INSERT INTO kv (key, value, revision) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
                     revision = excluded.revision",
                )?
                .execute(params![key, value, stamp])?;
                // The key now belongs to this op's lease, or (a plain put) to none, as in etcd.
                match op {
                    Op::PutLeased { lease, .. } => conn
                        .prepare_cached(
                            "INSERT INTO leased (key, lease) VALUES (?1, ?2) \
                             ON CONFLICT(key) DO UPDATE SET lease = excluded.lease",
                        )?
                        .execute(params![key, lease])?,
                    _ => conn
                        .prepare_cached("DELETE FROM leased WHERE key = ?1")?
                        .execute([key])?,
                };
                events.push(Event::Put(Record {
                    key: key.clone(),
                    value: value.clone(),
                    revision,
                }));
            }
            Op::Delete { key } => {
                let removed = conn
                    .prepare_cached("DELETE FROM kv WHERE key = ?1")?
                    .execute([key])?;
                conn.prepare_cached("DELETE FROM leased WHERE key = ?1")?
                    .execute([key])?;
                if removed > 0 {
                    events.push(Event::Delete {
                        key: key.clone(),
                        revision,
                    });
                }
            }
        }
    }
    Ok(Some(events))
}
