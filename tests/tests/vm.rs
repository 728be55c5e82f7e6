//! The VM suite: a real Debian 12 guest (qemu + KVM, Debian's kernel, systemd as PID 1, the
//! distribution's pure cgroup v2 layout) runs Gantry, so the cgroup v2 paths this hybrid host
//! cannot exercise run under test. One boot for the whole suite: nextest runs each test in a
//! process of its own, so the suite is one test that walks through its steps in order.
//!
//! Build the image with `tests/vm/build-image.sh` (the test builds it too, once; cached).

use std::time::Duration;

use gantry_tests::vm::Vm;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(90);

#[path = "vm/join.rs"]
mod join;

/// Where the suite puts things in the guest.
const GUEST_BIN: &str = "/usr/local/bin/gantry";
const GUEST_IMAGES: &str = "/opt/gantry-test";

/// The ECS API of a cluster, reached over a tunnel or loopback.
struct Api {
    endpoint: String,
    http: reqwest::Client,
}

impl Api {
    fn new(port: u16) -> Self {
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// An https endpoint whose certificate the cluster CA `ca_pem` signed.
    fn tls(port: u16, ca_pem: &[u8]) -> Self {
        let cert = reqwest::Certificate::from_pem(ca_pem).expect("the cluster CA PEM");
        Self {
            endpoint: format!("https://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .tls_certs_only([cert])
                .build()
                .expect("https client"),
        }
    }

    /// The cluster's one container instance, if it registered.
    async fn instance(&self) -> Option<Value> {
        let l = self.call("ListContainerInstances", json!({})).await.ok()?;
        let arns = l["containerInstanceArns"].as_array()?.clone();
        if arns.is_empty() {
            return None;
        }
        let d = self
            .call(
                "DescribeContainerInstances",
                json!({ "containerInstances": arns }),
            )
            .await
            .ok()?;
        Some(d["containerInstances"][0].clone())
    }

    async fn call(&self, op: &str, body: Value) -> Result<Value, Value> {
        let resp = gantry_tests::post_ecs(&self.http, &self.endpoint, op, body.to_string().into())
            .await
            .map_err(|e| json!(e.to_string()))?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(v)
        } else {
            Err(v)
        }
    }

    async fn ok(&self, op: &str, body: Value) -> Value {
        match self.call(op, body.clone()).await {
            Ok(v) => v,
            Err(v) => panic!("{op} {body} failed: {v}"),
        }
    }

    async fn task(&self, arn: &str) -> Value {
        self.ok("DescribeTasks", json!({ "tasks": [arn] })).await["tasks"][0].clone()
    }

    async fn wait_status(&self, arn: &str, status: &str) -> Value {
        gantry_tests::wait_for(&format!("task {arn} to be {status}"), T, || async {
            let t = self.task(arn).await;
            let last = t["lastStatus"].as_str().unwrap_or_default();
            (last == status || last == "STOPPED").then_some(t)
        })
        .await
    }
}

/// Pure cgroup v2 and systemd as PID 1: what the rest of the suite relies on.
fn guest_is_debian_12_with_systemd_and_pure_cgroup_v2(vm: &Vm) {
    let os = vm.run_ok(". /etc/os-release && echo $VERSION_CODENAME");
    assert_eq!(os.trim(), "bookworm");
    let init = vm.run_ok("cat /proc/1/comm");
    assert_eq!(init.trim(), "systemd");
    let fs = vm.run_ok("stat -f -c %T /sys/fs/cgroup");
    assert_eq!(
        fs.trim(),
        "cgroup2fs",
        "the guest's /sys/fs/cgroup is not cgroup v2 alone"
    );
    let controllers = vm.run_ok("cat /sys/fs/cgroup/cgroup.controllers");
    for c in ["cpu", "memory", "pids"] {
        assert!(
            controllers.split_whitespace().any(|x| x == c),
            "controller {c} missing: {controllers}"
        );
    }
    // What the agent links and runs.
    vm.run_ok("test -e /usr/lib/x86_64-linux-gnu/libseccomp.so.2 && command -v ip nft nsenter");
}

/// Copies the host's `gantry` and the test images in; checks the binary runs in the guest.
fn install_gantry(vm: &Vm) {
    vm.copy_file(&gantry_tests::gantry_bin(), GUEST_BIN);
    vm.copy_in(&gantry_tests::images::layouts(), GUEST_IMAGES);
    let v = vm.run_ok(&format!("{GUEST_BIN} --version"));
    assert!(v.contains("gantry"), "{v}");
}

fn env_flags() -> String {
    gantry_tests::key_env()
        .iter()
        .map(|(k, v)| format!("--setenv={k}={v} "))
        .collect()
}

/// `gantry dev` in the guest: a task's limits in the guest's cgroup v2 files, its host port
/// reachable in the guest, and nothing left once it stopped.
async fn task_limits_and_port_in_the_guest(vm: &mut Vm) {
    vm.run_ok(&format!(
        "systemd-run --unit=gantry-dev {env} --setenv=RUST_LOG=info {GUEST_BIN} dev \
         --listen 127.0.0.1:8080 --state-dir /var/lib/gantry-dev --cgroup-parent /gantry-vm \
         --image-layout {GUEST_IMAGES}/test-images --stop-timeout 2",
        env = env_flags()
    ));
    let api = Api::new(vm.forward(8080));
    gantry_tests::wait_for("the guest's gantry dev to connect its agent", T, || async {
        let l = api.call("ListContainerInstances", json!({})).await.ok()?;
        let arns = l["containerInstanceArns"].as_array()?.clone();
        let d = api
            .call(
                "DescribeContainerInstances",
                json!({ "containerInstances": arns }),
            )
            .await
            .ok()?;
        (d["containerInstances"][0]["agentConnected"] == true).then_some(())
    })
    .await;
    api.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "limited-web",
            "networkMode": "bridge",
            "cpu": "512",
            "memory": "256",
            "containerDefinitions": [{
                "name": "main", "image": "web:latest", "essential": true,
                "cpu": 300, "memory": 96, "memoryReservation": 48,
                "portMappings": [{ "containerPort": 80, "hostPort": 8081 }]
            }]
        }),
    )
    .await;
    let run = api
        .ok("RunTask", json!({ "taskDefinition": "limited-web" }))
        .await;
    let arn = run["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!arn.is_empty(), "RunTask placed nothing: {run}");
    let t = api.wait_status(&arn, "RUNNING").await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    let id = arn.rsplit('/').next().unwrap_or_default();
    let task = format!("/sys/fs/cgroup/gantry-vm/{id}");
    let read = |f: &str| vm.run_ok(&format!("cat {f}")).trim().to_string();
    assert_eq!(
        read(&format!("{task}/main/memory.max")),
        (96u64 << 20).to_string()
    );
    assert_eq!(
        read(&format!("{task}/main/memory.low")),
        (48u64 << 20).to_string()
    );
    assert_eq!(
        read(&format!("{task}/memory.max")),
        (256u64 << 20).to_string()
    );
    assert_eq!(read(&format!("{task}/cpu.max")), "50000 100000");
    let pids = read(&format!("{task}/main/pids.max"));
    assert!(
        pids.parse::<u64>().is_ok(),
        "pids.max of the container: {pids}"
    );
    // The container's process is in its container's cgroup.
    let procs = read(&format!("{task}/main/cgroup.procs"));
    assert!(!procs.is_empty(), "no process in {task}/main");
    // The task's host port answers in the guest (bash's /dev/tcp: busybox's wget crashes
    // on a refused connection under TCG).
    let get = "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8081 && \
               printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3'";
    let reached = gantry_tests::vm::wait_until(T, || {
        let out = vm.run(get);
        String::from_utf8_lossy(&out.stdout).contains("Hello from Gantry")
    });
    assert!(
        reached,
        "the task's port 8081 does not answer in the guest: {}\n{}",
        String::from_utf8_lossy(&vm.run(get).stderr),
        vm.run_ok("ss -ltnp; nft list ruleset; journalctl -u gantry-dev --no-pager | tail -n 40")
    );
    api.ok("StopTask", json!({ "task": arn })).await;
    let t = api.wait_status(&arn, "STOPPED").await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    // The task's cgroups go with it.
    gantry_tests::wait_for("the task's cgroup to be removed", T, || async {
        (!vm.run(&format!("test -e {task}")).status.success()).then_some(())
    })
    .await;
    vm.run_ok("systemctl stop gantry-dev");
    let left = vm.run_ok("find /sys/fs/cgroup/gantry-vm -mindepth 1 -type d 2>/dev/null || true");
    assert!(left.trim().is_empty(), "cgroups left in the guest: {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gantry_in_a_debian_12_guest() {
    let mut vm = Vm::boot();
    guest_is_debian_12_with_systemd_and_pure_cgroup_v2(&vm);
    install_gantry(&vm);
    task_limits_and_port_in_the_guest(&mut vm).await;
    join::the_host_joins_and_survives(&mut vm).await;
}

/// `tests/vm/run.sh`: runs the nextest archive `$GANTRY_VM_ARCHIVE` (the project's own
/// privileged suites, built on the host) inside a fresh guest, with the filter arguments in
/// `$GANTRY_VM_NEXTEST_ARGS`, and fails if any test there failed. Not part of the normal run.
#[test]
#[ignore = "run by tests/vm/run.sh"]
fn suites_in_the_guest() {
    let Some(archive) = std::env::var_os("GANTRY_VM_ARCHIVE") else {
        panic!("set GANTRY_VM_ARCHIVE to a `cargo nextest archive` file (tests/vm/run.sh does)");
    };
    let args = std::env::var("GANTRY_VM_NEXTEST_ARGS").unwrap_or_default();
    let vm = Vm::boot();
    guest_is_debian_12_with_systemd_and_pure_cgroup_v2(&vm);
    vm.copy_file(&gantry_tests::gantry_bin(), GUEST_BIN);
    // The suites find the test images and the workspace where the host built them, so the
    // guest gets the same paths.
    let ws = gantry_tests::workspace();
    let ws = ws.display();
    vm.copy_in(&gantry_tests::images::layouts(), &format!("{ws}/target"));
    vm.copy_in(
        &gantry_tests::workspace().join("rootfs-tools"),
        &ws.to_string(),
    );
    vm.copy_file(
        &gantry_tests::workspace().join("Cargo.toml"),
        &format!("{ws}/Cargo.toml"),
    );
    let nextest = String::from_utf8_lossy(
        &std::process::Command::new("sh")
            .args(["-c", "command -v cargo-nextest"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    assert!(
        !nextest.is_empty(),
        "cargo-nextest is not on the host's PATH"
    );
    vm.copy_file(
        std::path::Path::new(&nextest),
        "/usr/local/bin/cargo-nextest",
    );
    vm.copy_file(std::path::Path::new(&archive), "/root/tests.tar.zst");
    let script = format!(
        "mkdir -p {ws}/tests && cd {ws} && GANTRY_BIN={GUEST_BIN} cargo-nextest nextest run --archive-file /root/tests.tar.zst \
         --workspace-remap {ws} --no-fail-fast {args} 2>&1; echo \"nextest exit $?\""
    );
    let out = vm.run(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        text.trim_end().ends_with("nextest exit 0"),
        "tests failed in the guest (see above)"
    );
}

/// The "Join" figure: from `gantry agent install` to the instance ACTIVE and connected, the
/// median of `$GANTRY_VM_JOIN_RUNS` (default 5) joins of one booted guest, uninstalled in
/// between, with an SSM activation and with a join token. `cargo nextest run -p gantry-tests --test vm --run-ignored only -E
/// 'test(join_figure)' --no-capture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark"]
async fn join_figure() {
    let runs = std::env::var("GANTRY_VM_JOIN_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let vm = Vm::boot();
    install_gantry(&vm);
    for grant in [join::Grant::Activation, join::Grant::Token] {
        let mut times = join::join_times(&vm, runs, grant).await;
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "JOIN FIGURE ({grant:?}): runs {times:?}, median {median:?} (accel {:?})",
            gantry_tests::vm::accel()
        );
    }
}
