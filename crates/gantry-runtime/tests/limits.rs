//! Privileged tests of enforced limits: the memory limit OOM-kills, the pids limit
//! contains a fork bomb.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{exit_code, Task};
use gantry_runtime::client;
use gantry_runtime::event::SupervisorEvent;

fn oom_killed(events: &[SupervisorEvent], name: &str) -> Option<bool> {
    events.iter().find_map(|e| match e {
        SupervisorEvent::Exited {
            container,
            oom_killed,
            ..
        } if container == name => Some(*oom_killed),
        _ => None,
    })
}

#[test]
fn container_over_its_memory_limit_is_oom_killed() -> Result<()> {
    let mut task = Task::new("oom")?;
    // The shell doubles a string until the 16 MiB limit is hit; it is pid 1, so the
    // kernel's SIGKILL is its exit status.
    task.add(
        "hog",
        &["sh", "-c", "x=a; while :; do x=$x$x; done"],
        true,
        5,
        |c| c.memory_limit = Some(16 << 20),
    )?;
    // A neighbour under no pressure is not reported as OOM-killed.
    task.add("calm", &["sleep", "1000"], false, 1, |c| {
        c.memory_limit = Some(16 << 20)
    })?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "hog") == Some(137), "{events:#?}");
    ensure!(oom_killed(&events, "hog") == Some(true), "{events:#?}");
    ensure!(oom_killed(&events, "calm") == Some(false), "{events:#?}");
    task.assert_clean()
}

/// The OOM kill hits a child of the container's init: init survives it and exits with
/// 137 itself (as a shell reports a killed child); still an OOM kill.
#[test]
fn oom_kill_of_a_child_process_is_reported() -> Result<()> {
    let mut task = Task::new("oomchild")?;
    task.add(
        "hog",
        &["sh", "-c", "sh -c 'x=a; while :; do x=$x$x; done'; exit $?"],
        true,
        5,
        |c| c.memory_limit = Some(16 << 20),
    )?;
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "hog") == Some(137), "{events:#?}");
    ensure!(oom_killed(&events, "hog") == Some(true), "{events:#?}");
    task.assert_clean()
}

fn pids_events_max(task: &Task, name: &str) -> Result<u64> {
    let rel = format!("{}/{name}", task.cgroup_parent().trim_start_matches('/'));
    let path = if gantry_runtime::cgroup::is_v2()? {
        format!("/sys/fs/cgroup/{rel}/pids.events")
    } else {
        format!("/sys/fs/cgroup/pids/{rel}/pids.events")
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("max "))
        .context("no max in pids.events")?
        .trim()
        .parse()
        .context("pids.events max")
}

#[test]
fn fork_bomb_is_contained_by_the_pids_limit() -> Result<()> {
    let mut bomb = Task::new("bomb")?;
    // A real fork bomb; busybox prints "can't fork: Resource temporarily unavailable"
    // (EAGAIN) when the pids controller refuses.
    bomb.add(
        "bomb",
        &["sh", "-c", "f() { f | f & }; f; sleep 1000"],
        true,
        1,
        |c| c.pids_limit = Some(64),
    )?;
    bomb.spawn()?;
    bomb.wait_started("bomb")?;
    let t0 = std::time::Instant::now();
    while pids_events_max(&bomb, "bomb")? == 0 {
        ensure!(
            t0.elapsed() < Duration::from_secs(20),
            "the bomb never hit the limit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The task next to it still forks 20 processes while the bomb is at its limit.
    let mut neighbour = Task::new("neighbour")?;
    neighbour.add(
        "n",
        &[
            "sh",
            "-c",
            "for i in $(seq 20); do sleep 0.2 & done; wait && echo forked-20",
        ],
        true,
        5,
        |c| c.pids_limit = Some(64),
    )?;
    neighbour.spawn()?;
    let events = neighbour.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "n") == Some(0), "{events:#?}");
    ensure!(
        neighbour.stdout("n") == "forked-20\n",
        "{}",
        neighbour.stdout("n")
    );
    neighbour.assert_clean()?;

    let limited = pids_events_max(&bomb, "bomb")?;
    let err = bomb.output("bomb", Some(gantry_runtime::logs::Stream::Stderr));
    ensure!(
        err.contains("Resource temporarily unavailable"),
        "no EAGAIN seen inside: {}",
        &err[..err.len().min(500)]
    );
    client::request_stop(&bomb.dir)?;
    let events = bomb.wait_exit(Duration::from_secs(60))?;
    ensure!(exit_code(&events, "bomb") == Some(137), "{events:#?}");
    eprintln!("fork refused {limited} times by the pids limit");
    bomb.assert_clean()
}

/// A busy loop in busybox sh.
const SPIN: &str = "while :; do :; done";

/// CPU time used by cgroup `path` so far, in nanoseconds.
fn cpu_usage_ns(path: &str) -> Result<u64> {
    let rel = path.trim_start_matches('/');
    if gantry_runtime::cgroup::is_v2()? {
        let file = format!("/sys/fs/cgroup/{rel}/cpu.stat");
        let text = std::fs::read_to_string(&file).with_context(|| format!("read {file}"))?;
        let usec: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .context("no usage_usec in cpu.stat")?
            .trim()
            .parse()?;
        return Ok(usec * 1000);
    }
    let mount =
        libcgroups::v1::util::get_subsystem_mount_point(&libcgroups::v1::ControllerType::CpuAcct)?;
    let file = mount.join(rel).join("cpuacct.usage");
    let text = std::fs::read_to_string(&file).with_context(|| format!("read {file:?}"))?;
    Ok(text.trim().parse()?)
}

/// Creates the task cgroup before the supervisor does and confines it to CPU 0, so its
/// containers compete for one CPU whatever else the machine runs. The supervisor keeps
/// the existing directory; libcgroups copies the parent's cpuset into each container's.
fn pin_to_cpu0(task: &Task) -> Result<()> {
    let rel = task.cgroup_parent().trim_start_matches('/').to_string();
    let dir = if gantry_runtime::cgroup::is_v2()? {
        let root = std::path::Path::new("/sys/fs/cgroup");
        std::fs::write(root.join("cgroup.subtree_control"), "+cpuset")
            .context("enable the cpuset controller")?;
        let dir = root.join(&rel);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("cgroup.subtree_control"), "+cpuset +cpu")?;
        dir
    } else {
        let root = libcgroups::v1::util::get_subsystem_mount_point(
            &libcgroups::v1::ControllerType::CpuSet,
        )?;
        let dir = root.join(&rel);
        std::fs::create_dir_all(&dir)?;
        let mems = std::fs::read_to_string(root.join("cpuset.mems"))?;
        std::fs::write(dir.join("cpuset.mems"), mems.trim())?;
        dir
    };
    std::fs::write(dir.join("cpuset.cpus"), "0").context("write cpuset.cpus")?;
    Ok(())
}

/// CPU used by each cgroup over `window`, in nanoseconds, measured once all have started.
fn usage_over(paths: &[String], window: Duration) -> Result<Vec<u64>> {
    let before = paths
        .iter()
        .map(|p| cpu_usage_ns(p))
        .collect::<Result<Vec<_>>>()?;
    std::thread::sleep(window);
    let after = paths
        .iter()
        .map(|p| cpu_usage_ns(p))
        .collect::<Result<Vec<_>>>()?;
    Ok(after.iter().zip(&before).map(|(a, b)| a - b).collect())
}

#[test]
fn cpu_shares_divide_a_contended_cpu() -> Result<()> {
    let mut task = Task::new("shares")?;
    pin_to_cpu0(&task)?;
    // ECS container `cpu` 1024 vs 256: two busy containers on one CPU.
    task.add("big", &["sh", "-c", SPIN], true, 1, |c| {
        c.cpu_shares = Some(1024)
    })?;
    task.add("small", &["sh", "-c", SPIN], true, 1, |c| {
        c.cpu_shares = Some(256)
    })?;
    task.spawn()?;
    task.wait_started("big")?;
    task.wait_started("small")?;
    let parent = task.cgroup_parent();
    let paths = [format!("{parent}/big"), format!("{parent}/small")];
    // Let both settle into the contended state first.
    std::thread::sleep(Duration::from_millis(500));
    let used = usage_over(&paths, Duration::from_secs(4))?;
    let ratio = used[0] as f64 / used[1].max(1) as f64;
    eprintln!(
        "cpu over 4 s: big {:.2} s, small {:.2} s, ratio {ratio:.2}",
        used[0] as f64 / 1e9,
        used[1] as f64 / 1e9
    );
    // Both must have run, or the ratio says nothing.
    ensure!(used[1] > 50_000_000, "small barely ran: {used:?}");
    ensure!(
        (2.5..=6.0).contains(&ratio),
        "cpu shares 1024:256 gave a ratio of {ratio:.2} (expected about 4)"
    );
    client::request_stop(&task.dir)?;
    task.wait_exit(Duration::from_secs(60))?;
    task.assert_clean()
}

#[test]
fn task_cpu_quota_caps_usage() -> Result<()> {
    let mut task = Task::new("quota")?;
    // Half a core for the task; the container tries to use two.
    task.task_cpu = Some(512);
    let script = format!("{SPIN} & {SPIN}");
    task.add("spin", &["sh", "-c", &script], true, 1, |_| {})?;
    task.spawn()?;
    task.wait_started("spin")?;
    std::thread::sleep(Duration::from_millis(500));
    let window = Duration::from_secs(4);
    let used = usage_over(&[task.cgroup_parent()], window)?[0];
    let cores = used as f64 / window.as_nanos() as f64;
    eprintln!("task with cpu 512 used {cores:.3} cores over {window:?}");
    ensure!(
        cores <= 0.55,
        "cpu 512 should cap the task at half a core, it used {cores:.3}"
    );
    // It did run: the cap, not an idle container, kept the figure low.
    ensure!(cores >= 0.2, "the busy loops barely ran: {cores:.3} cores");
    client::request_stop(&task.dir)?;
    task.wait_exit(Duration::from_secs(60))?;
    task.assert_clean()
}
