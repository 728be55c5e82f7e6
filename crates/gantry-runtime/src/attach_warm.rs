//! Overlapping the kernel's wait for a cgroup attach with the rest of a start.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`, which libcontainer makes for
//! every container) takes the kernel's global `cgroup_threadgroup_rwsem` for writing. When
//! no attach happened within about one RCU grace period, that first waits for a whole grace
//! period (`rcu_sync_enter` -> `synchronize_rcu`): measured 7.8 ms per write on the idle
//! development VM and 13 ms p50 under load, against 0.1 ms for a write right after another
//! (`docs/benchmarks.md`). `runc run` pays it too. Nothing here skips it: [`warm`], called
//! when a task arrives, makes one attach of its own at once (the agent moves itself into
//! the cgroup it is already in: no change) on a short-lived thread, so the grace period
//! runs while the agent prepares the task, and libcontainer's attach a few milliseconds
//! later finds the lock's fast path.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set to `0` in the agent's environment to leave the wait to libcontainer (to measure
/// what this saves, or to rule it out).
pub const WARM_ENV: &str = "GANTRY_CGROUP_ATTACH_WARM";

/// Starts one no-op attach of this process on a background thread, unless one is running.
/// Best effort: a host where it cannot be done just waits in libcontainer as before.
pub fn warm() {
    static RUNNING: AtomicBool = AtomicBool::new(false);
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ENABLED.get_or_init(|| std::env::var_os(WARM_ENV).is_none_or(|v| v != "0")) {
        return;
    }
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("cgroup-attach-warm".into())
        .spawn(|| {
            if let Err(e) = attach_to_own_cgroup() {
                tracing::debug!("cgroup attach warm-up skipped: {e}");
            }
            RUNNING.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

/// Writes our pid into the `cgroup.procs` of the cgroup we are in, in one hierarchy: the
/// unified one (`0::`) when mounted, else the first v1 one that is.
fn attach_to_own_cgroup() -> std::io::Result<()> {
    let own = std::fs::read_to_string("/proc/self/cgroup")?;
    let v2 = crate::cgroup::is_v2().unwrap_or(false);
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        let dir = match (v2, controllers) {
            (true, "") => std::path::Path::new("/sys/fs/cgroup").join(rel),
            (false, "") => std::path::Path::new("/sys/fs/cgroup/unified").join(rel),
            (false, c) if !c.starts_with("name=") => {
                // co-mounted controllers ("cpu,cpuacct") share one mount point
                std::path::Path::new("/sys/fs/cgroup").join(c).join(rel)
            }
            _ => continue,
        };
        let procs = dir.join("cgroup.procs");
        if procs.exists() {
            return std::fs::write(procs, std::process::id().to_string());
        }
    }
    Err(std::io::Error::other(
        "no cgroup hierarchy of our own found",
    ))
}
