//! The writer thread: group commit of queued transactions, each in its own savepoint.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

use super::{backend, lock, to_i64, Shared, WriteRequest};
use crate::{Compare, Event, Op, Record, Result, StoreError, TxnOutcome};

/// Upper bound on logical transactions folded into one SQLite commit.
const MAX_BATCH: usize = 512;

pub(super) fn run(conn: &Mutex<Connection>, queue: &mpsc::Receiver<WriteRequest>, shared: &Shared) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match lock(conn) {
            Ok(conn) => commit_batch(&conn, batch, shared),
            Err(e) => {
                for req in batch {
                    let _ = req.reply.send(Err(StoreError::Backend(e.to_string())));
                }
            }
        }
    }
}

fn commit_batch(conn: &Connection, batch: Vec<WriteRequest>, shared: &Shared) {
    let base = shared.revision.load(Ordering::Acquire);
    let mut revision = base;
    let (work, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|req| ((req.compares, req.ops), req.reply))
        .unzip();
    let mut outcomes: Vec<Result<TxnOutcome>> = Vec::with_capacity(work.len());
    let mut events = Vec::new();

    let committed = (|| -> rusqlite::Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for (compares, ops) in &work {
            conn.execute_batch("SAVEPOINT txn")?;
            let outcome = match apply(conn, compares, ops, revision + 1) {
                Ok(Some(mut applied)) => {
                    if !ops.is_empty() {
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
                    Err(backend(e))
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
            shared.watchers.publish(&events);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            // Nothing of the batch is on disk; leave the connection usable for the next one.
            let _ = conn.execute_batch("ROLLBACK");
            let msg = format!(
                "store commit failed, nothing was written: {e}; check free disk space and \
                 that the store file is writable, then retry"
            );
            for reply in replies {
                let _ = reply.send(Err(StoreError::Backend(msg.clone())));
            }
        }
    }
}

/// Checks every compare, then applies the ops at `revision`. `None` when a compare failed
/// (nothing written).
fn apply(
    conn: &Connection,
    compares: &[Compare],
    ops: &[Op],
    revision: u64,
) -> rusqlite::Result<Option<Vec<Event>>> {
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
    let stamp = to_i64(revision);
    let mut events = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            // TODO(issue 12): leased puts (the lease is checked and the key remembered).
            Op::Put { key, value } | Op::PutLeased { key, value, .. } => {
                conn.prepare_cached(
                    "INSERT INTO kv (key, value, revision) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
                     revision = excluded.revision",
                )?
                .execute(params![key, value, stamp])?;
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
