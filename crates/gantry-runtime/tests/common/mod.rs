//! Shared fixtures for the privileged supervisor tests and the start benchmark: a busybox
//! rootfs, a task directory with bundles, a supervisor run, and a guard that leaves nothing
//! behind even when a test fails.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use gantry_runtime::cgroup::{cgroup_dirs, TaskCgroup};
use gantry_runtime::client;
use gantry_runtime::event::SupervisorEvent;
use gantry_runtime::logs::{LogRecord, Stream};
use gantry_runtime::plan::{ContainerPlan, TaskPlan};
use gantry_runtime::spec::{build_spec, ContainerConfig, NetworkMode};

pub const SUPERVISOR: &str = env!("CARGO_BIN_EXE_gantry-runtime-supervise");
const APPLETS: &[&str] = &[
    "sh",
    "sleep",
    "echo",
    "true",
    "false",
    "cat",
    "id",
    "pwd",
    "env",
    "ls",
    "hostname",
    "touch",
    "head",
    "tr",
    "seq",
    "dd",
    "tail",
    "wc",
    "unshare",
    "mount",
    "readlink",
    "sha256sum",
    "grep",
    "yes",
    "ps",
    "nsenter",
    "chroot",
    "mv",
];

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Builds a busybox rootfs under `dir`.
pub fn busybox_rootfs(dir: &Path) -> Result<PathBuf> {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys", "home/app"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).context("copy /bin/busybox")?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))?;
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )?;
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n",
    )?;
    Ok(rootfs)
}

/// One task: a temp dir with a rootfs and bundles. Dropping it kills and removes whatever
/// the task left (supervisor, containers, cgroups, mounts, files).
pub struct Task {
    pub id: String,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub containers: Vec<ContainerPlan>,
    pub task_cpu: Option<u64>,
    pub task_memory: Option<i64>,
    pub log_max_bytes: u64,
    pub log_max_files: u32,
    pub child: Option<Child>,
    pub stdout_lines: Arc<Mutex<Vec<String>>>,
}

impl Task {
    pub fn new(name: &str) -> Result<Self> {
        let id = format!(
            "rt-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("gantry-test-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let rootfs = busybox_rootfs(&dir)?;
        Ok(Self {
            id,
            dir,
            rootfs,
            containers: Vec::new(),
            task_cpu: None,
            task_memory: None,
            log_max_bytes: gantry_runtime::logs::DEFAULT_LOG_MAX_BYTES,
            log_max_files: gantry_runtime::logs::DEFAULT_LOG_MAX_FILES,
            child: None,
            stdout_lines: Arc::default(),
        })
    }

    pub fn cgroup_parent(&self) -> String {
        // One top-level cgroup per test task, so no shared parent is left behind.
        format!("/gantry-rt-{}", self.id)
    }

    /// A container config with test defaults; `tweak` adjusts it before the bundle is written.
    pub fn add(
        &mut self,
        name: &str,
        args: &[&str],
        essential: bool,
        stop_timeout_secs: u64,
        tweak: impl FnOnce(&mut ContainerConfig),
    ) -> Result<ContainerPlan> {
        let mut cfg = ContainerConfig {
            rootfs: self.rootfs.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            cwd: "/".into(),
            user: None,
            hostname: Some(name.into()),
            readonly_rootfs: false,
            ulimits: vec![],
            mounts: vec![],
            network: NetworkMode::New,
            cpu_shares: None,
            memory_limit: None,
            memory_reservation: None,
            pids_limit: Some(100),
            cgroups_path: format!("{}/{name}", self.cgroup_parent()),
            cap_add: vec![],
            cap_drop: vec![],
            privileged: false,
            user_namespace: None,
        };
        tweak(&mut cfg);
        let bundle = self.dir.join("bundles").join(name);
        std::fs::create_dir_all(&bundle)?;
        // As the agent writes it: the seccomp profile precompiled beside config.json.
        gantry_runtime::seccomp_bpf::write_bundle(&bundle, &build_spec(&cfg)?)?;
        let plan = ContainerPlan {
            name: name.into(),
            container_id: TaskPlan::container_id(&self.id, name),
            bundle,
            rootfs_dir: None,
            essential,
            stop_timeout_secs,
            log_path: gantry_runtime::logs::log_file(&self.log_dir(), name),
            health_check: None,
            depends_on: Vec::new(),
            start_timeout_secs: None,
        };
        self.containers.push(plan.clone());
        Ok(plan)
    }

    pub fn plan(&self) -> TaskPlan {
        TaskPlan {
            task_id: self.id.clone(),
            cgroup_parent: self.cgroup_parent(),
            task_cpu: self.task_cpu,
            task_memory: self.task_memory,
            containers: self.containers.clone(),
            log_max_bytes: self.log_max_bytes,
            log_max_files: self.log_max_files,
            netns: None,
        }
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Writes the plan and spawns the supervisor; its stdout is collected in the background.
    pub fn spawn(&mut self) -> Result<()> {
        let stdout = self.spawn_child()?.stdout.take().context("no stdout")?;
        let lines = self.stdout_lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(|l| l.ok())
            {
                if let Ok(mut v) = lines.lock() {
                    v.push(line);
                }
            }
        });
        Ok(())
    }

    /// Like `spawn`, then the "agent" goes away: the read end of the supervisor's stdout
    /// is closed at once and nobody ever reads its events there.
    pub fn spawn_without_agent(&mut self) -> Result<()> {
        drop(self.spawn_child()?.stdout.take());
        Ok(())
    }

    /// Like `spawn`, with `stdout` as the supervisor's stdout (e.g. a pipe nobody reads).
    pub fn spawn_with_stdout(&mut self, stdout: std::process::Stdio) -> Result<()> {
        self.plan().write(&self.dir)?;
        let child = client::supervisor_command(Path::new(SUPERVISOR), &[], &self.dir)
            .stdout(stdout)
            .spawn()
            .context("spawn supervisor")?;
        self.child = Some(child);
        Ok(())
    }

    fn spawn_child(&mut self) -> Result<&mut Child> {
        self.plan().write(&self.dir)?;
        let child = client::supervisor_command(Path::new(SUPERVISOR), &[], &self.dir)
            .spawn()
            .context("spawn supervisor")?;
        Ok(self.child.insert(child))
    }

    pub fn events(&self) -> Result<Vec<SupervisorEvent>> {
        Ok(client::read_events(&self.dir)?)
    }

    /// Polls the durable events until `pred` holds.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[SupervisorEvent]) -> bool,
    ) -> Result<Vec<SupervisorEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events()?;
            if pred(&events) {
                return Ok(events);
            }
            if Instant::now() > deadline {
                bail!("timed out; events so far: {events:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_started(&self, name: &str) -> Result<i32> {
        let events = self.wait_for(Duration::from_secs(20), |ev| {
            ev.iter().any(
                |e| matches!(e, SupervisorEvent::Started { container, .. } if container == name),
            ) || ev
                .iter()
                .any(|e| matches!(e, SupervisorEvent::TaskExited { .. }))
        })?;
        events
            .iter()
            .find_map(|e| match e {
                SupervisorEvent::Started { container, pid, .. } if container == name => Some(*pid),
                _ => None,
            })
            .with_context(|| format!("{name} never started: {events:#?}"))
    }

    /// Waits for the supervisor to exit successfully and returns the events.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Vec<SupervisorEvent>> {
        let child = self.child.as_mut().context("not spawned")?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                bail!(
                    "supervisor still running after {timeout:?}: {:#?}",
                    self.events()?
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        if !status.success() {
            bail!("supervisor exited with {status}: {:#?}", self.events()?);
        }
        self.events()
    }

    /// Every log record of container `name`, oldest first.
    pub fn records(&self, name: &str) -> Result<Vec<LogRecord>> {
        Ok(client::read_logs(&self.log_dir(), name, None, None)?)
    }

    /// The text of `name`'s output on `stream` (`None`: both, in the order read).
    pub fn output(&self, name: &str, stream: Option<Stream>) -> String {
        let mut text = String::new();
        for r in self.records(name).unwrap_or_default() {
            if stream.is_none_or(|s| s == r.stream) {
                text.push_str(&r.log);
                if !r.partial {
                    text.push('\n');
                }
            }
        }
        text
    }

    pub fn stdout(&self, name: &str) -> String {
        self.output(name, Some(Stream::Stdout))
    }

    /// Nothing the task owned is left: cgroups in any hierarchy, processes whose root is
    /// our rootfs, mounts under the temp dir.
    pub fn assert_clean(&self) -> Result<()> {
        let mut left = Vec::new();
        for entry in std::fs::read_dir("/sys/fs/cgroup")? {
            let dir = entry?
                .path()
                .join(self.cgroup_parent().trim_start_matches('/'));
            if dir.exists() {
                left.push(format!("cgroup {}", dir.display()));
            }
        }
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let root = entry.path().join("root");
            if let Ok(target) = std::fs::read_link(&root) {
                if target.starts_with(&self.dir) {
                    left.push(format!("process {:?}", entry.file_name()));
                }
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
        let dir = self.dir.to_string_lossy();
        for line in mounts.lines().filter(|l| l.contains(dir.as_ref())) {
            left.push(format!("mount {line}"));
        }
        if !left.is_empty() {
            bail!("task {} left behind: {left:#?}", self.id);
        }
        Ok(())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = TaskCgroup::open(&self.cgroup_parent()).remove();
        if let Ok(dirs) = cgroup_dirs(&self.cgroup_parent()) {
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") {
            let dir = self.dir.to_string_lossy().into_owned();
            for line in mounts.lines() {
                if let Some(target) = line.split(' ').nth(4).filter(|t| t.starts_with(&dir)) {
                    let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn exit_code(events: &[SupervisorEvent], name: &str) -> Option<i32> {
    events.iter().find_map(|e| match e {
        SupervisorEvent::Exited {
            container,
            exit_code,
            ..
        } if container == name => Some(*exit_code),
        _ => None,
    })
}

pub fn stop_code(events: &[SupervisorEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        SupervisorEvent::Stopping { stop_code, .. } => Some(stop_code.clone()),
        _ => None,
    })
}
