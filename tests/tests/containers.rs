//! Real containers through the whole stack: exit codes, essential semantics, stopTimeout,
//! the container's view of env/cwd/user, and cgroup limits read from the kernel's files.

use std::time::Duration;

use gantry_tests::dev::Dev;
use serde_json::json;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_reported() {
    let dev = Dev::start().await;
    dev.register_busybox("ok", &["true"], json!({})).await;
    dev.register_busybox("three", &["sh", "-c", "exit 3"], json!({}))
        .await;
    let a = dev.run_one("ok").await;
    let b = dev.run_one("three").await;
    let ta = dev.wait_status(&a, "STOPPED", T).await;
    let tb = dev.wait_status(&b, "STOPPED", T).await;
    assert_eq!(ta["containers"][0]["exitCode"], 0, "{ta}");
    assert_eq!(tb["containers"][0]["exitCode"], 3, "{tb}");
    assert_eq!(tb["stopCode"], "EssentialContainerExited", "{tb}");
    for t in [&ta, &tb] {
        assert!(t["executionStoppedAt"].is_number(), "{t}");
        assert!(t["stoppedAt"].is_number(), "{t}");
    }
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_timeout_escalates_to_sigkill() {
    let dev = Dev::start().await;
    // Ignores SIGTERM: only SIGKILL after stopTimeout ends it (exit 137).
    dev.register_busybox(
        "stubborn",
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
        json!({ "stopTimeout": 1 }),
    )
    .await;
    // Exits on SIGTERM with 143.
    dev.register_busybox(
        "polite",
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; while :; do sleep 0.1; done",
        ],
        json!({ "stopTimeout": 20 }),
    )
    .await;
    let s = dev.run_one("stubborn").await;
    let p = dev.run_one("polite").await;
    dev.wait_status(&s, "RUNNING", T).await;
    dev.wait_status(&p, "RUNNING", T).await;
    let t0 = std::time::Instant::now();
    dev.ok("StopTask", json!({ "task": s })).await;
    dev.ok("StopTask", json!({ "task": p })).await;
    let ts = dev.wait_status(&s, "STOPPED", T).await;
    let tp = dev.wait_status(&p, "STOPPED", T).await;
    assert_eq!(ts["containers"][0]["exitCode"], 137, "{ts}");
    assert_eq!(tp["containers"][0]["exitCode"], 143, "{tp}");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "the polite task should not wait for its 20 s timeout"
    );
    assert_eq!(ts["stopCode"], "UserInitiated");
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn essential_exit_stops_the_others() {
    let dev = Dev::start().await;
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "pair",
            "networkMode": "none",
            "containerDefinitions": [
                { "name": "side", "image": "busybox:latest", "essential": false, "memory": 32,
                  "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"] },
                { "name": "main", "image": "busybox:latest", "essential": true, "memory": 32,
                  "command": ["sh", "-c", "sleep 1; exit 7"] }
            ]
        }),
    )
    .await;
    let arn = dev.run_one("pair").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["stopCode"], "EssentialContainerExited", "{t}");
    let by = |n: &str| {
        t["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by("main")["exitCode"], 7);
    assert_eq!(
        by("side")["exitCode"],
        0,
        "the non-essential container got SIGTERM: {t}"
    );
    assert!(
        t["stoppedReason"]
            .as_str()
            .unwrap_or_default()
            .contains("ssential"),
        "{t}"
    );
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_sees_its_env_cwd_and_user() {
    let dev = Dev::start().await;
    dev.register_busybox(
        "whoami",
        &["sh", "-c", "echo FOO=$FOO; pwd; id -u; hostname"],
        json!({
            "environment": [{ "name": "FOO", "value": "bar baz" }],
            "workingDirectory": "/tmp",
            "user": "1000",
            "hostname": "gantry-box"
        }),
    )
    .await;
    let arn = dev.run_one("whoami").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
    let log = stdout_of(&dev, &arn);
    assert!(log.contains("FOO=bar baz"), "{log}");
    assert!(log.contains("/tmp\n"), "{log}");
    assert!(log.contains("1000\n"), "{log}");
    assert!(log.contains("gantry-box"), "{log}");
    assert!(dev.shutdown().await.is_empty());
}

/// The stdout of the task's `main` container, read from its log file on the node.
fn stdout_of(dev: &Dev, arn: &str) -> String {
    let id = arn.rsplit('/').next().unwrap();
    // One JSON record per line of output: {"ts", "stream", "log"}.
    let raw =
        std::fs::read_to_string(dev.tasks_dir().join(id).join("logs").join("main.log")).unwrap();
    let mut log = String::new();
    for line in raw.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).expect("a JSON log record");
        assert!(rec["ts"].is_number(), "{rec}");
        assert_eq!(rec["stream"], "stdout", "{rec}");
        log.push_str(rec["log"].as_str().unwrap_or_default());
        log.push('\n');
    }
    log
}

/// Runs one task of `family` (whose command starts with `cat /proc/self/uid_map`) to its
/// exit, checks it exited 0 with container root mapped to host 100000, and returns its output.
async fn run_in_user_namespace(dev: &Dev, family: &str) -> String {
    let arn = dev.run_one(family).await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    let log = stdout_of(dev, &arn);
    assert_eq!(t["containers"][0]["exitCode"], 0, "{t}\n{log}");
    let map: Vec<&str> = log
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(map, ["0", "100000", "65536"], "{log}");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_namespace_option_maps_container_root_to_an_unprivileged_range() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dev = Dev::start_with(gantry_tests::dev::DevOptions {
        args: vec!["--user-namespace".into(), "100000:65536".into()],
        ..Default::default()
    })
    .await;
    let shared = gantry_tests::TempDir::new("userns-vol");
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = "cat /proc/self/uid_map; echo uid=$(id -u); \
        touch /shared/made-inside && touch /scratch/x && touch /at-root && echo writes-ok; \
        if touch /etc/x 2>/dev/null; then echo etc-writable; fi";
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "userns",
            "networkMode": "host",
            "volumes": [
                { "name": "shared", "host": { "sourcePath": shared.path() } },
                { "name": "scratch" }
            ],
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true, "memory": 64,
                "command": ["sh", "-c", script],
                "mountPoints": [
                    { "sourceVolume": "shared", "containerPath": "/shared" },
                    { "sourceVolume": "scratch", "containerPath": "/scratch" }
                ]
            }]
        }),
    )
    .await;
    let log = run_in_user_namespace(&dev, "userns").await;
    assert!(log.contains("uid=0\n"), "{log}");
    // The rootfs top, the scratch volume and a world-writable host dir are writable...
    assert!(log.contains("writes-ok"), "{log}");
    // ...but the image's own files, owned by host root, are not container root's.
    assert!(!log.contains("etc-writable"), "{log}");
    let made = std::fs::metadata(shared.path().join("made-inside")).unwrap();
    assert_eq!((made.uid(), made.gid()), (100_000, 100_000));
    // A task with its own network namespace (networkMode none: loopback only) runs in the
    // user namespace too: the supervisor joins the task's network namespace first.
    dev.register_busybox(
        "userns-none",
        &["sh", "-c", "cat /proc/self/uid_map; cat /proc/net/dev"],
        json!({}),
    )
    .await;
    let log = run_in_user_namespace(&dev, "userns-none").await;
    let links: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .filter(|n| !n.contains('|'))
        .collect();
    assert_eq!(links, ["lo"], "{log}");
    assert!(dev.shutdown().await.is_empty());
}

fn read(p: std::path::PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroup_limits_are_in_the_kernel_files() {
    let dev = Dev::start().await;
    dev.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "limited",
            "networkMode": "none",
            "cpu": "512",
            "memory": "256",
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true,
                "cpu": 300, "memory": 96, "memoryReservation": 48,
                "command": ["sleep", "600"]
            }]
        }),
    )
    .await;
    let arn = dev.run_one("limited").await;
    dev.wait_status(&arn, "RUNNING", T).await;
    let id = arn.rsplit('/').next().unwrap();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let parent = dev.cgroup_parent().trim_start_matches('/').to_string();
    if v2 {
        let task = std::path::PathBuf::from("/sys/fs/cgroup")
            .join(&parent)
            .join(id);
        let c = task.join("main");
        assert_eq!(read(c.join("memory.max")), (96u64 << 20).to_string());
        assert_eq!(read(c.join("memory.low")), (48u64 << 20).to_string());
        assert!(read(c.join("pids.max")).parse::<u64>().is_ok());
        assert_eq!(read(task.join("memory.max")), (256u64 << 20).to_string());
        assert_eq!(read(task.join("cpu.max")), "50000 100000");
    } else {
        let m = std::path::PathBuf::from("/sys/fs/cgroup/memory")
            .join(&parent)
            .join(id);
        assert_eq!(
            read(m.join("main").join("memory.limit_in_bytes")),
            (96u64 << 20).to_string()
        );
        assert_eq!(
            read(m.join("main").join("memory.soft_limit_in_bytes")),
            (48u64 << 20).to_string()
        );
        assert_eq!(
            read(m.join("memory.limit_in_bytes")),
            (256u64 << 20).to_string()
        );
        let cpu = std::path::PathBuf::from("/sys/fs/cgroup/cpu")
            .join(&parent)
            .join(id);
        assert_eq!(read(cpu.join("main").join("cpu.shares")), "300");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
        let pids = std::path::PathBuf::from("/sys/fs/cgroup/pids")
            .join(&parent)
            .join(id)
            .join("main");
        assert_eq!(read(pids.join("pids.max")), "4096");
    }
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_run_inside_the_container_and_reach_describe_tasks() {
    let dev = Dev::start().await;
    dev.register_busybox(
        "healthy",
        &["sleep", "600"],
        json!({ "healthCheck": { "command": ["CMD-SHELL", "test -d /tmp"], "interval": 5, "retries": 1 } }),
    )
    .await;
    dev.register_busybox(
        "sick",
        &["sleep", "600"],
        json!({ "healthCheck": { "command": ["CMD", "false"], "interval": 5, "retries": 1 } }),
    )
    .await;
    let h = dev.run_one("healthy").await;
    let s = dev.run_one("sick").await;
    for (arn, want) in [(&h, "HEALTHY"), (&s, "UNHEALTHY")] {
        let t = gantry_tests::wait_for(&format!("{arn} to be {want}"), T, || async {
            let t = dev.describe(arn).await;
            (t["healthStatus"] == want).then_some(t)
        })
        .await;
        assert_eq!(t["containers"][0]["healthStatus"], want, "{t}");
    }
    assert!(dev.shutdown().await.is_empty());
}
