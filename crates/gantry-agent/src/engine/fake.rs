//! Recording fakes of the engine's side effects, for its unit tests: no kernel, no
//! registry, no processes. Every call goes into one shared, ordered log ([`Calls`]); the
//! test plays the supervisor by appending to a task's journal and ringing its bell.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use gantry_api::protocol::TaskSecrets;
use gantry_image::{Image, ImageConfig, ImageError, MountError, PullPolicy, RegistryAuth};
use gantry_net::fake::FakeNetwork;
use gantry_net::{Ipv4Subnet, NetError, NetworkManager, ReconcileReport, TaskNetSpec, TaskNetwork};
use gantry_runtime::client::ClientError;
use gantry_runtime::event::{SupervisorEvent, STOP_ESSENTIAL_EXITED};
use gantry_runtime::secret_env::SecretEnv;
use gantry_runtime::TaskDir;
use tokio::sync::mpsc;

use super::effects::{Handover, Images, Rootfs, Secrets, Supervised, Supervisors, Wake};
use super::reporter::lock;

/// The ordered log of every side effect, shared by all fakes.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn push(&self, call: String) {
        lock(&self.0).push(call);
    }

    pub fn all(&self) -> Vec<String> {
        lock(&self.0).clone()
    }
}

/// Images resolve at once to a one-layer image, except references marked as failing.
#[derive(Debug, Default)]
pub struct FakeImages {
    pub calls: Calls,
    pub failing: Mutex<HashSet<String>>,
}

impl Images for FakeImages {
    fn ensure<'a>(
        &'a self,
        reference: &'a str,
        _policy: PullPolicy,
        _auth: Option<&'a RegistryAuth>,
    ) -> BoxFuture<'a, Result<Image, ImageError>> {
        self.calls.push(format!("pull {reference}"));
        let fails = lock(&self.failing).contains(reference);
        Box::pin(async move {
            if fails {
                return Err(ImageError::InvalidReference {
                    reference: reference.to_string(),
                    reason: "the fake registry has no such image".to_string(),
                });
            }
            Ok(Image {
                reference: reference.to_string(),
                digest: format!("sha256:{reference}"),
                config: ImageConfig {
                    cmd: vec!["sh".into()],
                    ..Default::default()
                },
                layers: vec![PathBuf::from(format!("/fake/layers/{reference}"))],
            })
        })
    }
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Mounts nothing: makes the rootfs directory and records the call.
#[derive(Debug, Default)]
pub struct FakeRootfs {
    pub calls: Calls,
}

impl Rootfs for FakeRootfs {
    fn mount(&self, _layers: &[PathBuf], dir: &Path) -> Result<PathBuf, MountError> {
        self.calls.push(format!("mount {}", name_of(dir)));
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(|source| MountError::Prepare {
            path: rootfs.clone(),
            source,
        })?;
        Ok(rootfs)
    }

    fn unmount(&self, dir: &Path) -> Result<(), MountError> {
        self.calls.push(format!("unmount {}", name_of(dir)));
        Ok(())
    }

    fn hand_over(&self, h: &Handover) -> std::io::Result<()> {
        self.calls.push(format!("hand_over {}", h.rootfs.display()));
        Ok(())
    }
}

/// gantry-net's own fake, with its calls in the shared log.
#[derive(Debug, Default)]
pub struct LoggedNetwork {
    pub calls: Calls,
    pub inner: FakeNetwork,
}

impl NetworkManager for LoggedNetwork {
    fn setup(&self, spec: &TaskNetSpec) -> Result<TaskNetwork, NetError> {
        self.calls
            .push(format!("net setup {} {}", spec.task_id, spec.mode.as_ecs()));
        self.inner.setup(spec)
    }

    fn lookup(&self, task_id: &str) -> Result<Option<TaskNetwork>, NetError> {
        self.calls.push(format!("net lookup {task_id}"));
        self.inner.lookup(task_id)
    }

    fn teardown(&self, task_id: &str) -> Result<(), NetError> {
        self.calls.push(format!("net teardown {task_id}"));
        self.inner.teardown(task_id)
    }

    fn reconcile(&self, live: &[String]) -> Result<ReconcileReport, NetError> {
        self.calls.push(format!("net reconcile {}", live.join(",")));
        self.inner.reconcile(live)
    }

    fn add_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError> {
        self.inner.add_peer_route(subnet, via)
    }

    fn remove_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError> {
        self.inner.remove_peer_route(subnet, via)
    }
}

#[derive(Debug)]
struct FakeSup {
    journal: Vec<SupervisorEvent>,
    alive: bool,
    bell: mpsc::UnboundedSender<Wake>,
    /// Until a follower takes it.
    follower: Option<mpsc::UnboundedReceiver<Wake>>,
}

impl FakeSup {
    fn new(alive: bool, journal: Vec<SupervisorEvent>) -> Self {
        let (bell, rx) = mpsc::unbounded_channel();
        Self {
            journal,
            alive,
            bell,
            follower: Some(rx),
        }
    }

    fn follower(&mut self) -> mpsc::UnboundedReceiver<Wake> {
        self.follower.take().unwrap_or_else(|| {
            let (bell, rx) = mpsc::unbounded_channel();
            self.bell = bell;
            rx
        })
    }
}

/// Supervisors the test plays.
#[derive(Debug)]
pub struct FakeSupervisors {
    pub calls: Calls,
    sups: Mutex<HashMap<String, FakeSup>>,
    /// `spawn <id>` and `stop <id>`, as they happen, so a test can wait for them.
    seen: mpsc::UnboundedSender<String>,
}

impl FakeSupervisors {
    pub fn new(calls: Calls) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (seen, rx) = mpsc::unbounded_channel();
        let sups = Self {
            calls,
            sups: Mutex::default(),
            seen,
        };
        (sups, rx)
    }

    fn note(&self, call: String) {
        self.calls.push(call.clone());
        let _ = self.seen.send(call);
    }

    /// A supervisor an earlier agent started; when it is dead, its follower hears so at once.
    pub fn existing(&self, task_id: &str, alive: bool, journal: Vec<SupervisorEvent>) {
        let sup = FakeSup::new(alive, journal);
        if !alive {
            let _ = sup.bell.send(Wake::Gone {
                cause: "it (pid 42) was gone when the agent started".into(),
            });
        }
        lock(&self.sups).insert(task_id.to_string(), sup);
    }

    /// The supervisor records `events` and rings its bell.
    pub fn record(&self, task_id: &str, events: Vec<SupervisorEvent>) {
        let mut sups = lock(&self.sups);
        if let Some(s) = sups.get_mut(task_id) {
            s.journal.extend(events);
            let _ = s.bell.send(Wake::Bell);
        }
    }

    /// The supervisor dies without recording anything more.
    pub fn die(&self, task_id: &str, cause: &str) {
        let mut sups = lock(&self.sups);
        if let Some(s) = sups.get_mut(task_id) {
            s.alive = false;
            let _ = s.bell.send(Wake::Gone {
                cause: cause.to_string(),
            });
        }
    }
}

struct FakeFollower(mpsc::UnboundedReceiver<Wake>);

impl Supervised for FakeFollower {
    fn wait(&mut self) -> BoxFuture<'_, Wake> {
        Box::pin(async move {
            match self.0.recv().await {
                Some(w) => w,
                None => std::future::pending().await,
            }
        })
    }
}

impl Supervisors for FakeSupervisors {
    fn spawn(
        &self,
        task: &TaskDir,
        secrets: &SecretEnv,
    ) -> Result<Box<dyn Supervised>, ClientError> {
        let id = task.task_id();
        let rx = lock(&self.sups)
            .entry(id.clone())
            .or_insert_with(|| FakeSup::new(true, Vec::new()))
            .follower();
        if secrets.is_empty() {
            self.note(format!("spawn {id}"));
        } else {
            self.note(format!("spawn {id} with {secrets:?}"));
        }
        Ok(Box::new(FakeFollower(rx)))
    }

    fn adopt(&self, task: &TaskDir) -> Box<dyn Supervised> {
        let id = task.task_id();
        let rx = lock(&self.sups)
            .entry(id.clone())
            .or_insert_with(|| FakeSup::new(false, Vec::new()))
            .follower();
        self.note(format!("adopt {id}"));
        Box::new(FakeFollower(rx))
    }

    fn journal(&self, task: &TaskDir) -> Vec<SupervisorEvent> {
        lock(&self.sups)
            .get(&task.task_id())
            .map(|s| s.journal.clone())
            .unwrap_or_default()
    }

    fn alive(&self, task: &TaskDir) -> bool {
        lock(&self.sups)
            .get(&task.task_id())
            .is_some_and(|s| s.alive)
    }

    fn stop(&self, task: &TaskDir) -> Result<(), ClientError> {
        self.note(format!("stop {}", task.task_id()));
        Ok(())
    }

    /// Records what the real salvage records for a task that had started.
    fn salvage<'a>(&'a self, task: &'a TaskDir, cause: &'a str) -> BoxFuture<'a, bool> {
        let id = task.task_id();
        self.note(format!("salvage {id}: {cause}"));
        if let Some(s) = lock(&self.sups).get_mut(&id) {
            s.journal.push(SupervisorEvent::Stopping {
                stop_code: STOP_ESSENTIAL_EXITED.to_string(),
                reason: format!("The task supervisor died ({cause})"),
                at: 9.0,
            });
            s.journal.push(SupervisorEvent::TaskExited { at: 9.0 });
        }
        Box::pin(async { true })
    }
}

/// The control plane's answers to secrets requests: each task's, by ARN (none: no secrets).
#[derive(Default)]
pub struct FakeSecrets {
    pub answers: Mutex<std::collections::HashMap<String, Result<TaskSecrets, String>>>,
    pub calls: Calls,
}

impl Secrets for FakeSecrets {
    fn fetch<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, Result<TaskSecrets, String>> {
        self.calls.push(format!("secrets {task_arn}"));
        let answer = lock(&self.answers)
            .get(task_arn)
            .cloned()
            .unwrap_or_else(|| Ok(TaskSecrets::default()));
        Box::pin(async move { answer })
    }
}
