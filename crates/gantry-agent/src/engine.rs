//! The task engine: a level-triggered reconciler from the server's desired task set to the
//! tasks this node runs. Desired state arrives whole with a sequence number; anything older
//! than what was applied is ignored. Known state lives in each task's runner and flows back
//! as reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gantry_api::protocol::{TaskReport, TaskSpec};
use gantry_api::TaskStatus;
use gantry_image::ImageStore;
use gantry_net::NetworkManager;
use tokio::sync::{mpsc, watch};

use crate::runner::{self, StopRequest};
use crate::AgentConfig;

/// Shared by every task runner.
pub struct RunnerCtx {
    pub cfg: Arc<AgentConfig>,
    pub images: ImageStore,
    pub network: Arc<dyn NetworkManager>,
}

/// Sends a task's reports and remembers the latest, to resend after a reconnect.
#[derive(Clone)]
pub struct Reporter {
    latest: Arc<Mutex<HashMap<String, TaskReport>>>,
    tx: mpsc::UnboundedSender<TaskReport>,
}

impl Reporter {
    pub fn send(&self, report: TaskReport) {
        lock(&self.latest).insert(report.task_arn.clone(), report.clone());
        // The receiver lives as long as the session loop; if it is gone the agent is exiting.
        let _ = self.tx.send(report);
    }
}

struct Entry {
    stop: watch::Sender<Option<StopRequest>>,
    done: watch::Receiver<bool>,
}

/// The engine handle the session drives.
#[derive(Clone)]
pub struct Engine {
    ctx: Arc<RunnerCtx>,
    reporter: Reporter,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    applied_seq: u64,
    tasks: HashMap<String, Entry>,
    /// Whether task directories left by an earlier agent were checked against the first set.
    swept: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub fn new(
        cfg: Arc<AgentConfig>,
        images: ImageStore,
        network: Arc<dyn NetworkManager>,
    ) -> (Self, mpsc::UnboundedReceiver<TaskReport>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = Self {
            ctx: Arc::new(RunnerCtx {
                cfg,
                images,
                network,
            }),
            reporter: Reporter {
                latest: Arc::default(),
                tx,
            },
            state: Arc::default(),
        };
        (engine, rx)
    }

    /// Applies a whole desired set. Returns false when it was older than the applied one.
    pub fn apply(&self, seq: u64, specs: Vec<TaskSpec>) -> bool {
        let mut st = lock(&self.state);
        if seq < st.applied_seq {
            tracing::debug!(
                seq,
                applied = st.applied_seq,
                "ignoring a stale desired set"
            );
            return false;
        }
        st.applied_seq = seq;
        let wanted: std::collections::HashSet<String> =
            specs.iter().map(|s| s.task_arn.clone()).collect();
        if !st.swept {
            st.swept = true;
            let ids: std::collections::HashSet<String> =
                specs.iter().map(|s| s.task_id.clone()).collect();
            self.sweep_orphans(&ids);
        }
        for spec in specs {
            let stop = (spec.desired_status == TaskStatus::Stopped).then(|| StopRequest {
                stop_code: spec.stop_code.clone(),
                reason: spec.stopped_reason.clone(),
            });
            match st.tasks.get(&spec.task_arn) {
                Some(entry) => {
                    if let Some(req) = stop {
                        entry.stop.send_if_modified(|cur| {
                            if cur.is_none() {
                                *cur = Some(req);
                                true
                            } else {
                                false
                            }
                        });
                    }
                }
                None => {
                    let (stop_tx, stop_rx) = watch::channel(stop);
                    let (done_tx, done_rx) = watch::channel(false);
                    let arn = spec.task_arn.clone();
                    let ctx = self.ctx.clone();
                    let reporter = self.reporter.clone();
                    tokio::spawn(async move {
                        runner::run(ctx, spec, stop_rx, reporter).await;
                        let _ = done_tx.send(true);
                    });
                    st.tasks.insert(
                        arn,
                        Entry {
                            stop: stop_tx,
                            done: done_rx,
                        },
                    );
                }
            }
        }
        // Tasks the server no longer lists: stop what still runs, forget what has ended.
        st.tasks.retain(|arn, entry| {
            if wanted.contains(arn) {
                return true;
            }
            if *entry.done.borrow() {
                lock(&self.reporter.latest).remove(arn);
                return false;
            }
            entry.stop.send_if_modified(|cur| {
                if cur.is_none() {
                    *cur = Some(StopRequest {
                        stop_code: Some("TaskFailedToStart".to_string()),
                        reason: Some(
                            "The control plane no longer assigns this task to this instance."
                                .to_string(),
                        ),
                    });
                    true
                } else {
                    false
                }
            });
            true
        });
        true
    }

    /// Stops tasks an earlier agent left running that the server no longer assigns here, and
    /// removes the directories of tasks that have ended (DESIGN.md §4: the server has given
    /// them up, so they must not keep running).
    fn sweep_orphans(&self, wanted_ids: &std::collections::HashSet<String>) {
        let tasks_dir = self.ctx.cfg.state_dir.join("tasks");
        let Ok(entries) = std::fs::read_dir(&tasks_dir) else {
            return;
        };
        let entries: Vec<_> = entries.flatten().collect();
        // Free the network of every task that is neither wanted nor still running.
        let mut live: Vec<String> = wanted_ids.iter().cloned().collect();
        for e in &entries {
            if gantry_runtime::client::supervisor_pid(&e.path()).is_some_and(|s| s.alive) {
                live.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        match self.ctx.network.reconcile(&live) {
            Ok(r) if !r.released_tasks.is_empty() || !r.removed_leftovers.is_empty() => {
                tracing::info!(released = ?r.released_tasks, removed = ?r.removed_leftovers, "freed the network of tasks that are gone");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "network reconcile failed"),
        }
        for e in entries {
            let id = e.file_name().to_string_lossy().into_owned();
            if wanted_ids.contains(&id) {
                continue;
            }
            let dir = e.path();
            let ctx = self.ctx.clone();
            tokio::spawn(async move {
                let alive =
                    || gantry_runtime::client::supervisor_pid(&dir).is_some_and(|s| s.alive);
                if alive() {
                    tracing::warn!(task = %id, "stopping a task the control plane no longer assigns to this instance");
                    if let Err(e) = gantry_runtime::client::request_stop(&dir) {
                        tracing::warn!(task = %id, error = %e, "could not stop an orphaned task");
                    }
                    while alive() {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
                if let Err(e) = ctx.network.teardown(&id) {
                    tracing::warn!(task = %id, error = %e, "network teardown failed");
                }
                // Its logs stay for the usual wait, counted from now.
                tokio::time::sleep(ctx.cfg.task_cleanup_wait).await;
                let _ = tokio::fs::remove_dir_all(&dir).await;
            });
        }
    }

    /// Runs image GC every `every`: unreferenced images unused for `min_age` go, least
    /// recently used first; images of tasks that have not stopped are always kept.
    pub async fn image_gc_loop(&self, every: std::time::Duration, min_age: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let referenced: std::collections::HashSet<String> = lock(&self.reporter.latest)
                .values()
                .filter(|r| r.last_status < Some(TaskStatus::Stopped))
                .flat_map(|r| r.containers.iter().filter_map(|c| c.image_digest.clone()))
                .collect();
            let policy = gantry_image::GcPolicy {
                min_age,
                keep_bytes: None,
                referenced: &referenced,
            };
            match self
                .ctx
                .images
                .gc(policy, std::time::SystemTime::now())
                .await
            {
                Ok(r) if !r.removed_images.is_empty() => tracing::info!(
                    images = r.removed_images.len(),
                    layers = r.removed_layers.len(),
                    freed_bytes = r.freed_bytes,
                    "image cache cleaned"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "image cache clean-up failed"),
            }
        }
    }

    /// Where task directories live.
    pub fn tasks_dir(&self) -> std::path::PathBuf {
        self.ctx.cfg.state_dir.join("tasks")
    }

    /// The latest report of every task, for a fresh session.
    pub fn latest_reports(&self) -> Vec<TaskReport> {
        lock(&self.reporter.latest).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_api::model::{ContainerDefinition, TaskDefinition};
    use gantry_net::fake::FakeNetwork;

    fn spec(id: &str, desired: TaskStatus) -> TaskSpec {
        TaskSpec {
            task_arn: format!("arn:aws:ecs:us-east-1:0:task/default/{id}"),
            task_id: id.to_string(),
            cluster: "default".to_string(),
            desired_status: desired,
            task_definition: TaskDefinition {
                network_mode: Some("none".into()),
                container_definitions: Some(vec![ContainerDefinition {
                    name: Some("main".into()),
                    // Not in any layout or registry: the runner fails fast without a kernel.
                    image: Some("gantry.local/does-not-exist:1".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            overrides: None,
            stop_code: None,
            stopped_reason: None,
        }
    }

    fn engine(
        dir: &std::path::Path,
    ) -> (
        Engine,
        mpsc::UnboundedReceiver<TaskReport>,
        Arc<FakeNetwork>,
    ) {
        let mut cfg = AgentConfig::new("http://127.0.0.1:1", dir);
        cfg.pull_policy = gantry_image::PullPolicy::PreferCached;
        let images = ImageStore::open(gantry_image::ImageStoreConfig::new(dir.join("images")))
            .expect("image store");
        let net = Arc::new(FakeNetwork::default());
        let (e, rx) = Engine::new(Arc::new(cfg), images, net.clone());
        (e, rx, net)
    }

    #[tokio::test]
    async fn an_older_desired_set_is_ignored() {
        let dir = std::env::temp_dir().join(format!("gantry-engine-test-{}", std::process::id()));
        let (e, mut reports, _net) = engine(&dir);
        assert!(e.apply(5, vec![spec("a", TaskStatus::Running)]));
        // A replayed older set that would stop task `a` changes nothing.
        assert!(!e.apply(3, vec![]));
        assert!(!e.apply(4, vec![spec("a", TaskStatus::Stopped)]));
        // The same set again, or a newer one, is applied.
        assert!(e.apply(5, vec![spec("a", TaskStatus::Running)]));
        assert!(e.apply(6, vec![spec("a", TaskStatus::Running)]));
        // The task ran once: its runner failed to pull and reported STOPPED exactly once.
        let mut stopped = 0;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Ok(Some(r)) = tokio::time::timeout_at(deadline, reports.recv()).await {
            if r.last_status == Some(TaskStatus::Stopped) {
                stopped += 1;
                assert!(
                    r.stopped_reason
                        .as_deref()
                        .unwrap_or_default()
                        .starts_with("CannotPullContainerError"),
                    "{r:?}"
                );
                break;
            }
        }
        assert_eq!(stopped, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
