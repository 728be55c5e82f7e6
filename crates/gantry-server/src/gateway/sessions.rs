//! The live agent sessions of this server, by instance id, and the logs requests routed
//! through them. Plain data behind locks: no store, no I/O.

use gantry_api::protocol::ServerFrame;
use gantry_api::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify};

#[derive(Debug)]
struct Entry {
    generation: u64,
    /// By the server's clock.
    last_seen: Timestamp,
    kick: Arc<Notify>,
    /// Frames other handlers (`gantry logs`) want sent down this session.
    outbox: mpsc::UnboundedSender<ServerFrame>,
}

/// A part of the answer to a logs request, as the agent sent it.
#[derive(Debug)]
pub struct LogsPart {
    pub lines: Vec<gantry_api::protocol::LogLine>,
    pub done: bool,
    pub error: Option<String>,
}

/// Where the chunks of one logs request go: the waiting HTTP handler, and the session that
/// must be the one answering.
#[derive(Debug)]
struct LogsRoute {
    instance: String,
    generation: u64,
    to: mpsc::UnboundedSender<LogsPart>,
}

/// A logs request bound to a live session: send frames on `outbox`, read the answer on
/// `parts`. `parts` ends (all senders dropped) when the session closes.
#[derive(Debug)]
pub struct LogsChannel {
    pub request_id: u64,
    pub outbox: mpsc::UnboundedSender<ServerFrame>,
    pub parts: mpsc::UnboundedReceiver<LogsPart>,
}

/// The live sessions of this server, by instance id. At most one per instance: a new one
/// replaces (and closes) the old.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<(u64, HashMap<String, Entry>)>,
    /// When each instance's last session ended: silence after a disconnect is measured
    /// from here, not from the server's start.
    departed: Mutex<HashMap<String, Timestamp>>,
    /// Open logs requests by request id.
    logs: Mutex<(u64, HashMap<u64, LogsRoute>)>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<String, Entry>)> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the session of `id` at `now`, replacing (and kicking) an older one.
    pub fn connect(
        &self,
        id: &str,
        now: Timestamp,
    ) -> (u64, Arc<Notify>, mpsc::UnboundedReceiver<ServerFrame>) {
        let mut g = self.lock();
        g.0 += 1;
        let generation = g.0;
        let kick = Arc::new(Notify::new());
        let (outbox, inbox) = mpsc::unbounded_channel();
        if let Some(old) = g.1.insert(
            id.to_string(),
            Entry {
                generation,
                last_seen: now,
                kick: kick.clone(),
                outbox,
            },
        ) {
            old.kick.notify_one();
        }
        (generation, kick, inbox)
    }

    fn logs_lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, LogsRoute>)> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a logs request on the live session of instance `id`, or `None` if its agent is
    /// not connected here. The caller sends the [`ServerFrame::LogsRequest`] itself.
    pub fn open_logs(&self, id: &str) -> Option<LogsChannel> {
        let (generation, outbox) = {
            let g = self.lock();
            let e = g.1.get(id)?;
            (e.generation, e.outbox.clone())
        };
        let (to, parts) = mpsc::unbounded_channel();
        let mut l = self.logs_lock();
        l.0 += 1;
        let request_id = l.0;
        l.1.insert(
            request_id,
            LogsRoute {
                instance: id.to_string(),
                generation,
                to,
            },
        );
        Some(LogsChannel {
            request_id,
            outbox,
            parts,
        })
    }

    /// Forgets logs request `request_id` (answered, or its reader went away).
    pub fn close_logs(&self, request_id: u64) {
        self.logs_lock().1.remove(&request_id);
    }

    /// Hands a chunk from the agent of `id` to whoever asked for it. Chunks for requests
    /// that are gone, or that another instance's session was asked, are dropped.
    pub fn route_logs(&self, id: &str, request_id: u64, part: LogsPart) {
        let mut l = self.logs_lock();
        let Some(route) = l.1.get(&request_id).filter(|r| r.instance == id) else {
            tracing::debug!(
                instance = id,
                request_id,
                "logs chunk for no open request ignored"
            );
            return;
        };
        let done = part.done || part.error.is_some();
        if route.to.send(part).is_err() || done {
            l.1.remove(&request_id);
        }
    }

    /// Drops the logs requests answered by session `generation` of `id`: their readers see
    /// the channel end and report the agent gone.
    pub fn end_logs(&self, id: &str, generation: u64) {
        self.logs_lock()
            .1
            .retain(|_, r| !(r.instance == id && r.generation == generation));
    }

    /// Whether instance `id` has a live session here.
    pub fn is_open(&self, id: &str) -> bool {
        self.lock().1.contains_key(id)
    }

    /// Forgets the session if it is still the current one; says whether it was.
    pub fn disconnect(&self, id: &str, generation: u64) -> bool {
        let mut g = self.lock();
        if g.1.get(id).is_some_and(|e| e.generation == generation) {
            if let Some(e) = g.1.remove(id) {
                self.depart(id, e.last_seen);
            }
            true
        } else {
            false
        }
    }

    fn depart(&self, id: &str, at: Timestamp) {
        self.departed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), at);
    }

    /// The agent of `id` was heard from at `now`.
    pub fn seen(&self, id: &str, now: Timestamp) {
        if let Some(e) = self.lock().1.get_mut(id) {
            e.last_seen = now;
        }
    }

    /// When the agent of `id` was last heard from, if it has a session here.
    pub fn last_seen(&self, id: &str) -> Option<Timestamp> {
        if let Some(at) = self.lock().1.get(id).map(|e| e.last_seen) {
            return Some(at);
        }
        self.departed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
    }

    /// The instances with a session here.
    pub fn open(&self) -> Vec<String> {
        self.lock().1.keys().cloned().collect()
    }

    /// The instances whose session here has been silent for longer than `after` at `now`.
    pub fn silent(&self, now: Timestamp, after: std::time::Duration) -> Vec<String> {
        self.lock()
            .1
            .iter()
            .filter(|(_, e)| now - e.last_seen > after.as_secs_f64())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Closes the session of `id`, if any (its agent went silent).
    pub fn drop_session(&self, id: &str) {
        if let Some(e) = self.lock().1.remove(id) {
            self.depart(id, e.last_seen);
            e.kick.notify_one();
        }
    }
}
