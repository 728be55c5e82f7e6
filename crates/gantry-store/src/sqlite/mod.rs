//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! Writes go through one writer thread that commits whatever transactions are queued as one
//! SQLite transaction (group commit): each logical transaction runs inside its own savepoint,
//! so it still succeeds or fails alone, but many share one fsync. A caller is answered only
//! after the commit returned, so an acknowledged write is on disk. Reads use a second
//! connection and never wait for the writer's fsync; one reader thread owns it and serves the
//! queued reads in turn (see [`SqliteStore::read`]).
//!
//! Leases (see `lease`) are kept in memory: they die with the process, and the next open
//! deletes the keys they held. SQLite keeps no history of changes, so
//! [`Store::watch_from`] a revision older than the last change starts with
//! [`Event::Reset`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{broadcast, oneshot};

mod lease;
mod writer;

use crate::keyrange::prefix_end;
use crate::watch::Watchers;
use crate::{Compare, Event, LeaseId, Op, Record, Result, Store, StoreError, TxnOutcome};

/// A prefix scan as a primary-key range (see `keyrange`).
const LIST_RANGE: &str =
    "SELECT key, value, revision FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    revision INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, revision) VALUES (0, 0);
CREATE TABLE IF NOT EXISTS leased (
    key TEXT PRIMARY KEY NOT NULL,
    lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leased_by_lease ON leased (lease);
";

/// A [`Store`] on one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    /// The file (or "an in-memory database"), for messages.
    what: String,
    shared: Arc<Shared>,
    writer: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    reads: Option<mpsc::Sender<ReadJob>>,
    reader_thread: Option<JoinHandle<()>>,
}

/// One read for the reader thread: runs on its connection and answers its caller itself.
type ReadJob = Box<dyn FnOnce(Result<&Connection>) + Send>;

/// The reader thread: runs each queued read on the read connection, in arrival order, until
/// the store is dropped. Under load the queue is never empty, so reads follow each other
/// without a thread switch; a read waits only for the reads queued before it.
fn serve_reads(reader: &Mutex<Connection>, jobs: &mpsc::Receiver<ReadJob>) {
    while let Ok(job) = jobs.recv() {
        // A read that panics fails its own call (its answer is dropped), not the thread.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match lock(reader) {
            Ok(conn) => job(Ok(&conn)),
            Err(e) => job(Err(e)),
        }));
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) reader: Arc<Mutex<Connection>>,
    /// The last committed revision; the meta table holds the durable copy.
    pub(crate) revision: AtomicU64,
    pub(crate) watchers: Watchers,
    pub(crate) leases: lease::Leases,
}

/// What the writer thread is asked to do.
#[derive(Debug)]
pub(crate) enum Request {
    Txn(WriteRequest),
    /// Delete the keys of a revoked lease.
    Revoke {
        lease: LeaseId,
        reply: oneshot::Sender<Result<()>>,
    },
    /// A lease was granted: the writer recomputes when it must wake up.
    Wake,
}

#[derive(Debug)]
pub(crate) struct WriteRequest {
    pub(crate) compares: Vec<Compare>,
    pub(crate) ops: Vec<Op>,
    pub(crate) reply: oneshot::Sender<Result<TxnOutcome>>,
}

impl SqliteStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let what = path.display().to_string();
        let writer = Connection::open(path).map_err(|e| open_error(&what, &e))?;
        configure(&writer, true).map_err(|e| open_error(&what, &e))?;
        let reader = Connection::open(path).map_err(|e| open_error(&what, &e))?;
        configure(&reader, false).map_err(|e| open_error(&what, &e))?;
        Self::start(
            format!("sqlite://{what}"),
            Arc::new(Mutex::new(writer)),
            Arc::new(Mutex::new(reader)),
        )
    }

    /// A private in-memory store, for tests. Nothing survives the value.
    pub fn open_in_memory() -> Result<SqliteStore> {
        let what = "an in-memory database";
        let conn = Connection::open_in_memory().map_err(|e| open_error(what, &e))?;
        configure(&conn, true).map_err(|e| open_error(what, &e))?;
        // An in-memory database lives in one connection, so reads and writes share it.
        let conn = Arc::new(Mutex::new(conn));
        Self::start(what.to_string(), Arc::clone(&conn), conn)
    }

    fn start(
        what: String,
        writer: Arc<Mutex<Connection>>,
        reader: Arc<Mutex<Connection>>,
    ) -> Result<SqliteStore> {
        let revision = {
            let conn = lock(&writer)?;
            drop_orphaned_leased_keys(&conn).map_err(backend)?;
            let rev: i64 = conn
                .query_row("SELECT revision FROM meta WHERE id = 0", [], |r| r.get(0))
                .map_err(backend)?;
            to_u64(rev)?
        };
        let shared = Arc::new(Shared {
            reader,
            revision: AtomicU64::new(revision),
            watchers: Watchers::new(revision),
            leases: lease::Leases::new(),
        });
        let (reads, jobs) = mpsc::channel::<ReadJob>();
        let read_conn = Arc::clone(&shared.reader);
        let reader_thread = std::thread::Builder::new()
            .name("gantry-store-reader".into())
            .spawn(move || serve_reads(&read_conn, &jobs))
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot start the store reader thread: {e}; check the process thread limit"
                ))
            })?;
        let (tx, rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("gantry-store-writer".into())
            .spawn(move || writer::run(&writer, &rx, &thread_shared))
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot start the store writer thread: {e}; check the process thread limit"
                ))
            })?;
        Ok(SqliteStore {
            what,
            shared,
            writer: Some(tx),
            thread: Some(thread),
            reads: Some(reads),
            reader_thread: Some(reader_thread),
        })
    }

    /// The keys under `prefix` held by a lease of this process, in key order.
    pub async fn leased_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let start = prefix.to_string();
        let end = prefix_end(prefix);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key FROM leased WHERE key >= ?1 AND (?2 IS NULL OR key < ?2) ORDER BY key",
            )?;
            let keys = stmt
                .query_map(params![start, end], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>();
            keys
        })
        .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        // One thread owns the read connection (a queue, not a blocking-pool thread per read
        // waiting on its lock: under many concurrent calls those piled up by the hundred,
        // and most of the time went to switching between them).
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = reply.send(conn.and_then(|c| f(c).map_err(backend)));
        });
        self.reads
            .as_ref()
            .ok_or_else(reader_gone)?
            .send(job)
            .map_err(|_| reader_gone())?;
        answer.await.map_err(|_| reader_gone())?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish its batch and exit; joining it closes the
        // file before a reopen in the same process.
        self.writer.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.reads.take();
        if let Some(thread) = self.reader_thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<Record>> {
        let owned = key.to_string();
        let row = self
            .read(move |conn| {
                conn.prepare_cached("SELECT value, revision FROM kv WHERE key = ?1")?
                    .query_row([&owned], |row| {
                        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
                    })
                    .optional()
            })
            .await?;
        row.map(|(value, revision)| {
            Ok(Record {
                key: key.to_string(),
                value,
                revision: to_u64(revision)?,
            })
        })
        .transpose()
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Record>> {
        let start = prefix.to_string();
        let end = prefix_end(prefix);
        let rows = self
            .read(move |conn| {
                let map = |row: &rusqlite::Row<'_>| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                };
                match end {
                    Some(end) => conn
                        .prepare_cached(LIST_RANGE)?
                        .query_map(params![start, end], map)?
                        .collect::<rusqlite::Result<Vec<_>>>(),
                    None => conn
                        .prepare_cached(
                            "SELECT key, value, revision FROM kv WHERE key >= ?1 ORDER BY key",
                        )?
                        .query_map(params![start], map)?
                        .collect::<rusqlite::Result<Vec<_>>>(),
                }
            })
            .await?;
        rows.into_iter()
            .map(|(key, value, revision)| {
                Ok(Record {
                    key,
                    value,
                    revision: to_u64(revision)?,
                })
            })
            .collect()
    }

    fn txn(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
    ) -> impl std::future::Future<Output = Result<TxnOutcome>> + Send {
        // Queue now, not at first poll, so transactions commit in call order.
        let (reply, answer) = oneshot::channel();
        let queued = match &self.writer {
            Some(writer) => writer
                .send(Request::Txn(WriteRequest {
                    compares,
                    ops,
                    reply,
                }))
                .is_ok(),
            None => false,
        };
        async move {
            if !queued {
                return Err(writer_gone());
            }
            answer.await.map_err(|_| writer_gone())?
        }
    }

    async fn revision(&self) -> Result<u64> {
        Ok(self.shared.revision.load(Ordering::Acquire))
    }

    fn watch_from(&self, prefix: &str, after: u64) -> broadcast::Receiver<Event> {
        // SQLite keeps no history: a watcher behind the last change starts with a reset.
        self.shared.watchers.subscribe_from(prefix, after)
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    async fn grant_lease(&self, ttl: std::time::Duration) -> Result<LeaseId> {
        let id = self.shared.leases.grant(ttl);
        // The writer may be asleep until a later deadline than this lease's.
        if let Some(writer) = &self.writer {
            let _ = writer.send(Request::Wake);
        }
        Ok(id)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<bool> {
        Ok(self.shared.leases.keep_alive(lease))
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.shared.leases.remove(lease);
        let (reply, answer) = oneshot::channel();
        let queued = self
            .writer
            .as_ref()
            .is_some_and(|w| w.send(Request::Revoke { lease, reply }).is_ok());
        if !queued {
            return Err(writer_gone());
        }
        answer.await.map_err(|_| writer_gone())?
    }
}

/// Deletes the keys that leases of an earlier process left (their leases died with it), as
/// one transaction with its own revision.
fn drop_orphaned_leased_keys(conn: &Connection) -> rusqlite::Result<()> {
    let orphans: i64 = conn.query_row("SELECT count(*) FROM leased", [], |r| r.get(0))?;
    if orphans == 0 {
        return Ok(());
    }
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         DELETE FROM kv WHERE key IN (SELECT key FROM leased);
         DELETE FROM leased;
         UPDATE meta SET revision = revision + 1 WHERE id = 0;
         COMMIT;",
    )
}

fn configure(conn: &Connection, writer: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(32);
    // WAL lets reads run beside the writer; FULL fsyncs the WAL at every commit, which is
    // what makes an acknowledged write survive power loss (NORMAL does not).
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if mode != "wal" && mode != "memory" {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, WAL is required"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL")?;
    if writer {
        conn.execute_batch(SCHEMA)?;
    }
    Ok(())
}

pub(crate) fn lock(conn: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>> {
    conn.lock().map_err(|_| {
        StoreError::Backend(
            "the store connection was poisoned by an earlier panic; restart the server".into(),
        )
    })
}

fn open_error(what: &str, e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!(
        "cannot open the store at {what}: {e}; check that the directory exists, is writable, \
         and that the file is a gantry store"
    ))
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

fn reader_gone() -> StoreError {
    StoreError::Backend("the store reader has stopped; restart the server".into())
}

fn writer_gone() -> StoreError {
    StoreError::Backend("the store writer has stopped; restart the server".into())
}

fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| {
        StoreError::Backend(format!(
            "the store holds a negative revision ({v}); the file is corrupt, restore a backup"
        ))
    })
}

/// Revisions grow by one per transaction, so they never reach `i64::MAX` in practice;
/// saturate rather than wrap if they somehow do.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_an_index_range_scan() {
        let store = SqliteStore::open_in_memory().expect("open");
        let conn = lock(&store.shared.reader).expect("lock");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {LIST_RANGE}"))
            .expect("prepare")
            .query_map(params!["a/", "a0"], |row| row.get::<_, String>(3))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let plan = plan.join("; ");
        assert!(plan.contains("SEARCH kv USING PRIMARY KEY"), "{plan}");
        assert!(
            !plan.contains("TEMP B-TREE"),
            "no sort step expected: {plan}"
        );
    }
}
