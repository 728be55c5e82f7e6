//! What the node's processes cost, read from /proc: RSS, PSS and private memory
//! (smaps_rollup), open files, the machine's MemAvailable. Used by the benchmarks.

/// One `kB` field of `/proc/<pid>/<file>` (`VmRSS:` in status, `Pss:` in smaps_rollup, ...).
pub fn kib(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn rss_kib(pid: u32) -> u64 {
    kib(pid, "status", "VmRSS:")
}

/// A process's memory as the kernel accounts it: resident, proportional (shared pages
/// divided among their users) and private (dirty + clean pages no one else maps).
#[derive(Debug, Default, Clone, Copy)]
pub struct Mem {
    pub rss: u64,
    pub pss: u64,
    pub private: u64,
}

pub fn mem_kib(pid: u32) -> Mem {
    let f = |k| kib(pid, "smaps_rollup", k);
    Mem {
        rss: f("Rss:"),
        pss: f("Pss:"),
        private: f("Private_Clean:") + f("Private_Dirty:"),
    }
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The machine's MemAvailable.
pub fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Pids whose command line contains every one of `needles`.
pub fn pids_matching(needles: &[&str]) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if needles.iter().all(|n| cmd.contains(n)) {
            pids.push(pid);
        }
    }
    pids
}

/// Every process in the cgroups under `parent` (any hierarchy), for leak checks.
pub fn processes_under_cgroup(parent: &str) -> Vec<u32> {
    fn walk(dir: &std::path::Path, out: &mut Vec<u32>) {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        out.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for root in crate::leaks::cgroup_roots() {
        walk(&root.join(parent.trim_start_matches('/')), &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Cgroup directories under `parent` (any hierarchy), the parent itself excluded.
pub fn cgroups_under(parent: &str) -> Vec<String> {
    let mut out = Vec::new();
    for root in crate::leaks::cgroup_roots() {
        let dir = root.join(parent.trim_start_matches('/'));
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}
