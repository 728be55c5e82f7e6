//! Which tasks each instance holds, kept from one store watch for the whole server.
//!
//! An agent session needs two things: to wake when one of *its* tasks changes, and to read
//! *its* tasks to build the desired set. Doing either per session over the whole cluster
//! (a watch per session that decodes every task change, a list of every task of the
//! cluster per push) costs O(sessions × tasks): at 1,000 instances and 10,000 tasks that is
//! most of the server's time and memory. Here one loop watches `tasks/`, decodes each change
//! once, keeps `instance → task keys` for the tasks not yet STOPPED, and wakes only the
//! session of the instance a change touches.
//!
//! And only when the change touches what that node is told: a task joined or left its
//! desired set (placed, moved, STOPPED, deleted) or its desired status changed. A report
//! rewrites the task record on every step (PENDING, RUNNING, health, exit codes); those
//! writes are the agent's own news and wake nobody, so N reports cause no push.
//!
//! The index is a hint for what to read, never the data: a session reads each task record
//! from the store, after reading the store's revision, so the desired set is at least as new
//! as its sequence number. A task committed but not yet indexed is simply absent from that
//! set (the agent does not know it yet either); its indexing wakes the session again. A
//! lagged watch rebuilds the index from a full list and wakes every session. Sessions wait
//! until the first build is done, so no agent ever sees an empty set for want of an index.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gantry_api::TaskStatus;
use gantry_store::{Event, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{watch, Notify};

use crate::error::Result;
use crate::persistence::db;
use crate::persistence::records::{TaskRecord, TaskWhere};

const TASKS: &str = "tasks/";

/// What an indexed task's node knows of it: where it runs and what it should be. A task
/// change that leaves this alone is not pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placed {
    instance: String,
    desired: TaskStatus,
}

#[derive(Debug, Default)]
struct Inner {
    /// Instance id → keys of its tasks that are not STOPPED.
    by_instance: HashMap<String, BTreeSet<String>>,
    /// Task key → the instance it is indexed under and its desired status: the part of
    /// the task its node is told (see [`Placed`]).
    at: HashMap<String, Placed>,
    /// Instance id → the wake-up of its session (created on first use).
    wake: HashMap<String, Arc<Notify>>,
}

/// The index and the session wake-ups. See the module docs.
#[derive(Debug)]
pub struct TaskIndex {
    inner: Mutex<Inner>,
    ready: watch::Sender<bool>,
    /// The store revision up to which the index holds every task change: the revision read
    /// before its last full list, or the latest task change applied since.
    seen: watch::Sender<u64>,
}

impl Default for TaskIndex {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            ready: watch::Sender::new(false),
            seen: watch::Sender::new(0),
        }
    }
}

impl TaskIndex {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every edit leaves the maps consistent; a panic elsewhere cannot tear them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wake-up of instance `id`'s session: notified whenever one of its tasks changes.
    pub fn waker(&self, id: &str) -> Arc<Notify> {
        self.lock()
            .wake
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Waits until the index has been built once.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        // `wait_for` fails only if the sender is gone, and `self` holds it.
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Waits (at most `within`) until the index holds every task change up to `revision`.
    /// Returns whether it does. Task changes and the store's progress answers
    /// ([`Event::Progress`], see [`catch_up`]) move the index on.
    pub async fn caught_up(&self, revision: u64, within: Duration) -> bool {
        let mut rx = self.seen.subscribe();
        tokio::time::timeout(within, rx.wait_for(|s| *s >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn saw(&self, revision: u64) {
        self.seen.send_if_modified(|s| {
            let newer = revision > *s;
            if newer {
                *s = revision;
            }
            newer
        });
    }

    /// Keys of the tasks of instance `id` that were not STOPPED when last seen.
    pub fn tasks_of(&self, id: &str) -> Vec<String> {
        self.lock()
            .by_instance
            .get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Indexes one task; returns the instances to wake: where it was and where it is, if
    /// the part their agents are told changed, else none.
    fn note(g: &mut Inner, key: &str, t: Option<&TaskWhere>) -> Vec<String> {
        let old = g.at.remove(key);
        if let Some(o) = &old {
            if let Some(set) = g.by_instance.get_mut(&o.instance) {
                set.remove(key);
                if set.is_empty() {
                    g.by_instance.remove(&o.instance);
                }
            }
        }
        let new = t.and_then(|t| {
            let instance = t.instance_id.clone()?;
            (t.last_status != TaskStatus::Stopped).then_some(Placed {
                instance,
                desired: t.desired_status,
            })
        });
        if let Some(n) = &new {
            g.by_instance
                .entry(n.instance.clone())
                .or_default()
                .insert(key.to_string());
            g.at.insert(key.to_string(), n.clone());
        }
        if old == new {
            return Vec::new();
        }
        let mut touched: Vec<String> = old.into_iter().map(|o| o.instance).collect();
        if let Some(n) = new {
            if !touched.contains(&n.instance) {
                touched.push(n.instance);
            }
        }
        touched
    }

    fn apply(&self, ev: &Event) {
        let woken = {
            let mut g = self.lock();
            let touched = match ev {
                Event::Put(rec) => match serde_json::from_slice::<TaskWhere>(&rec.value) {
                    Ok(t) => Self::note(&mut g, &rec.key, Some(&t)),
                    Err(e) => {
                        tracing::warn!(key = %rec.key, error = %e, "undecodable task record not routed");
                        Self::note(&mut g, &rec.key, None)
                    }
                },
                Event::Delete { key, .. } => Self::note(&mut g, key, None),
                // `run` rebuilds on a reset before it gets here.
                Event::Reset { .. } | Event::Progress { .. } => Vec::new(),
            };
            match ev {
                Event::Put(rec) => self.saw(rec.revision),
                Event::Delete { revision, .. } | Event::Progress { revision } => {
                    self.saw(*revision)
                }
                Event::Reset { .. } => {}
            }
            touched
                .iter()
                .filter_map(|id| g.wake.get(id).cloned())
                .collect::<Vec<_>>()
        };
        for w in woken {
            w.notify_one();
        }
    }

    /// Replaces the index with `tasks`, listed after the store was at revision `at`, and
    /// wakes every session.
    fn rebuild(&self, tasks: Vec<(String, TaskWhere)>, at: u64) {
        let woken: Vec<Arc<Notify>> = {
            let mut g = self.lock();
            g.by_instance.clear();
            g.at.clear();
            for (key, t) in &tasks {
                Self::note(&mut g, key, Some(t));
            }
            g.wake.values().cloned().collect()
        };
        self.saw(at);
        self.ready.send_replace(true);
        for w in woken {
            w.notify_one();
        }
    }
}

/// Every task, and a revision the list is at least as new as.
async fn list_all<S: Store>(store: &S) -> Result<(Vec<(String, TaskWhere)>, u64)> {
    let at = store.revision().await?;
    let all = db::list::<S, TaskWhere>(store, TASKS)
        .await?
        .into_iter()
        .map(|v| (v.key, v.value))
        .collect();
    Ok((all, at))
}

/// Keeps `index` in step with `store` until the server stops.
pub async fn run<S: Store>(store: &S, index: &TaskIndex) {
    let mut changes = store.watch(TASKS);
    let mut backoff = Duration::from_millis(100);
    // Subscribed first, so nothing committed after the list is missed.
    loop {
        match list_all(store).await {
            Ok((all, at)) => {
                index.rebuild(all, at);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not list tasks to route them; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    loop {
        match changes.recv().await {
            Ok(ev @ (Event::Put(_) | Event::Delete { .. } | Event::Progress { .. })) => {
                index.apply(&ev)
            }
            Ok(Event::Reset { revision }) => {
                tracing::info!(
                    revision,
                    "the store reset the task watch; rebuilding the index"
                );
                match list_all(store).await {
                    Ok((all, at)) => index.rebuild(all, at),
                    Err(e) => tracing::warn!(error = %e, "could not list tasks to route them"),
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::info!(missed = n, "task routing fell behind; rebuilding its index");
                match list_all(store).await {
                    Ok((all, at)) => index.rebuild(all, at),
                    Err(e) => tracing::warn!(error = %e, "could not list tasks to route them"),
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Waits until `index` holds every task change up to `revision`, read from the store just
/// before: asks the store's task watch for its progress (etcd answers once it has sent every
/// event up to its revision now, which is at least `revision`), again every [`ASK_AGAIN`] in
/// case a reconnect of the watch swallowed the question, for at most `cap`. Returns whether
/// it is caught up. A store that gives no progress answers can only wait for a task change.
pub async fn catch_up<S: Store>(
    store: &S,
    index: &TaskIndex,
    revision: u64,
    cap: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + cap;
    loop {
        if index.caught_up(revision, Duration::ZERO).await {
            return true;
        }
        let asked = matches!(store.request_progress(TASKS).await, Ok(true));
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let wait = if asked { left.min(ASK_AGAIN) } else { left };
        if index.caught_up(revision, wait).await {
            return true;
        }
    }
}

/// How long [`catch_up`] waits for a progress answer before it asks again.
const ASK_AGAIN: Duration = Duration::from_millis(500);

/// The current records of instance `id`'s tasks that are not STOPPED.
pub async fn records_of<S: Store>(
    store: &S,
    index: &TaskIndex,
    id: &str,
) -> Result<Vec<TaskRecord>> {
    index.ready().await;
    let mut out = Vec::new();
    for key in index.tasks_of(id) {
        if let Some(v) = db::get::<S, TaskRecord>(store, &key).await? {
            let t = v.value;
            if t.instance_id.as_deref() == Some(id) && t.last_status != TaskStatus::Stopped {
                out.push(t);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(id: &str, status: TaskStatus) -> TaskWhere {
        TaskWhere {
            instance_id: Some(id.to_string()),
            group: "g".to_string(),
            last_status: status,
            desired_status: TaskStatus::Running,
        }
    }

    #[test]
    fn wakes_only_when_the_desired_part_changes() {
        let r = TaskIndex::default();
        let mut g = r.lock();
        assert_eq!(
            TaskIndex::note(
                &mut g,
                "tasks/c/1",
                Some(&on("a", TaskStatus::Provisioning))
            ),
            vec!["a"],
            "placed"
        );
        // The agent's reports move lastStatus, health, exit codes: nobody is woken.
        for s in [
            TaskStatus::Pending,
            TaskStatus::Running,
            TaskStatus::Running,
        ] {
            assert!(TaskIndex::note(&mut g, "tasks/c/1", Some(&on("a", s))).is_empty());
        }
        let mut stopping = on("a", TaskStatus::Running);
        stopping.desired_status = TaskStatus::Stopped;
        assert_eq!(
            TaskIndex::note(&mut g, "tasks/c/1", Some(&stopping)),
            vec!["a"],
            "StopTask"
        );
        assert!(TaskIndex::note(&mut g, "tasks/c/1", Some(&stopping)).is_empty());
        // A STOPPED task that was never indexed concerns no node.
        assert!(
            TaskIndex::note(&mut g, "tasks/c/9", Some(&on("a", TaskStatus::Stopped))).is_empty()
        );
    }

    #[test]
    fn follows_tasks_between_instances_and_forgets_stopped_ones() {
        let r = TaskIndex::default();
        let mut g = r.lock();
        assert_eq!(
            TaskIndex::note(&mut g, "tasks/c/1", Some(&on("a", TaskStatus::Running))),
            vec!["a"]
        );
        TaskIndex::note(&mut g, "tasks/c/2", Some(&on("a", TaskStatus::Pending)));
        assert_eq!(g.by_instance["a"].len(), 2);
        // Stopped: gone from the index, but its instance is still woken.
        assert_eq!(
            TaskIndex::note(&mut g, "tasks/c/1", Some(&on("a", TaskStatus::Stopped))),
            vec!["a"]
        );
        assert_eq!(g.by_instance["a"].len(), 1);
        // Moved (a record rewritten elsewhere): both instances woken.
        assert_eq!(
            TaskIndex::note(&mut g, "tasks/c/2", Some(&on("b", TaskStatus::Running))),
            vec!["a", "b"]
        );
        assert!(!g.by_instance.contains_key("a"));
        assert_eq!(TaskIndex::note(&mut g, "tasks/c/2", None), vec!["b"]);
        assert!(TaskIndex::note(&mut g, "tasks/c/2", None).is_empty());
        assert!(g.by_instance.is_empty() && g.at.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn is_caught_up_once_it_holds_the_task_changes_up_to_a_revision() {
        let r = TaskIndex::default();
        r.rebuild(Vec::new(), 10);
        assert!(r.caught_up(10, Duration::from_millis(1)).await);
        // A change at 12 not yet seen: a session's first set waits, boundedly.
        assert!(!r.caught_up(12, Duration::from_millis(200)).await);
        r.apply(&Event::Delete {
            key: "tasks/c/1".into(),
            revision: 12,
        });
        assert!(r.caught_up(12, Duration::from_millis(1)).await);
        // Older events (replayed after a rebuild) never move it back.
        r.apply(&Event::Delete {
            key: "tasks/c/2".into(),
            revision: 11,
        });
        assert!(r.caught_up(12, Duration::from_millis(1)).await);
    }
}
