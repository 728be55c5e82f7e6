//! What a test may leave behind, and the hard clean-up for a test that failed half way.

use std::path::Path;

/// Mounts, cgroups and processes that belong to the Gantry instance rooted at `state`.
pub fn find(state: &Path, cgroup_parent: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    let root = state.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mounts.lines() {
        if line.contains(&root) {
            leaks.push(format!("mount: {line}"));
        }
    }
    for id in task_ids(state) {
        for base in cgroup_roots() {
            let p = base.join(cgroup_parent.trim_start_matches('/')).join(&id);
            if p.exists() {
                leaks.push(format!("cgroup: {}", p.display()));
            }
        }
    }
    for pid in supervisor_pids(state) {
        leaks.push(format!("process: supervisor pid {pid} still running"));
    }
    leaks
}

fn task_ids(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("agent").join("tasks"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Removes a test's (empty) cgroup parent from every hierarchy; anything still inside it is
/// reported as a leak.
pub fn remove_cgroup_parent(parent: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    for base in cgroup_roots() {
        let dir = base.join(parent.trim_start_matches('/'));
        if !dir.exists() {
            continue;
        }
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                leaks.push(format!("cgroup: {}", e.path().display()));
            }
        }
        if let Err(e) = std::fs::remove_dir(&dir) {
            leaks.push(format!(
                "cgroup: {} could not be removed: {e}",
                dir.display()
            ));
        }
    }
    leaks
}

/// Every cgroup hierarchy root (v1 controllers and the v2 one).
pub fn cgroup_roots() -> Vec<std::path::PathBuf> {
    let mut roots = Vec::new();
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        roots.push("/sys/fs/cgroup".into());
        return roots;
    }
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        roots.push(e.path());
    }
    roots
}

fn supervisor_pids(state: &Path) -> Vec<i32> {
    let root = state.display().to_string();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // A supervisor started for its task names the task directory; one that was waiting
        // when its task came (`gantry supervise -`) works in it.
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        if cmd.contains(" supervise ") && (cmd.contains(&root) || cwd.starts_with(state)) {
            pids.push(pid);
        }
    }
    pids
}

/// Kills supervisors and their containers, unmounts and removes cgroups of a failed test.
pub fn force_cleanup(state: &Path, cgroup_parent: &str) {
    for pid in supervisor_pids(state) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    // Give them their stop timeouts to clean up after themselves, then force the rest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    while !supervisor_pids(state).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for pid in supervisor_pids(state) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for id in task_ids(state) {
        for base in cgroup_roots() {
            let p = base.join(cgroup_parent.trim_start_matches('/')).join(&id);
            kill_cgroup(&p);
        }
    }
    let root = state.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = nix::mount::umount2(t, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn kill_cgroup(dir: &Path) {
    if !dir.exists() {
        return;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            kill_cgroup(&e.path());
        }
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _ = std::fs::remove_dir(dir);
}
