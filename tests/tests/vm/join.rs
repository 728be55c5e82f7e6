//! The real join: a `gantry server` on the host (TLS on loopback, reached by the guest through
//! the VM's one guestfwd), an SSM activation, `gantry agent install` in the guest, and what
//! a joined host must survive: agent restarts, `kill -9`, a reboot, deregistration, uninstall.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::vm::{Vm, HOST_ADDR};
use gantry_tests::TempDir;
use serde_json::{json, Value};

use super::{Api, GUEST_BIN, GUEST_IMAGES, T};

/// `gantry server` on the host's 127.0.0.1:<the VM's host port>, with a certificate that also
/// names the guest-side address. Killed (process group) on drop.
struct HostServer {
    child: Child,
    state: TempDir,
    port: u16,
}

impl HostServer {
    fn start(port: u16) -> Self {
        let state = TempDir::new("vm-server");
        let log = std::fs::File::create(state.path().join("server.log")).expect("server.log");
        let mut cmd = Command::new(gantry_tests::gantry_bin());
        gantry_tests::vm::die_with_parent(&mut cmd);
        let child = cmd
            .arg("server")
            .args(["--listen", &format!("127.0.0.1:{port}"), "--tls"])
            .args(["--tls-san", HOST_ADDR, "--state-dir"])
            .arg(state.path().join("server"))
            .envs(gantry_tests::key_env())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start gantry server");
        Self { child, state, port }
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.state.path().join("server/tls/ca.pem")).unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("server.log")).unwrap_or_default()
    }

    /// The pin of the cluster CA: SHA-256 of its DER, as `openssl x509 -outform der`.
    fn ca_sha256(&self) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl x509 -in {} -outform der | sha256sum | cut -d' ' -f1",
                self.state.path().join("server/tls/ca.pem").display()
            ))
            .output()
            .expect("openssl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `aws ssm <args>` against this server.
    fn ssm(&self, args: &[&str]) -> Value {
        let out = Command::new(gantry_tests::aws::aws_bin())
            .arg("ssm")
            .args(args)
            .args([
                "--endpoint-url",
                &format!("https://127.0.0.1:{}", self.port),
            ])
            .arg("--ca-bundle")
            .arg(self.state.path().join("server/tls/ca.pem"))
            .args(["--output", "json"])
            .env("AWS_ACCESS_KEY_ID", gantry_tests::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", gantry_tests::SECRET_ACCESS_KEY)
            .env("AWS_DEFAULT_REGION", gantry_tests::REGION)
            .env_remove("AWS_PROFILE")
            .output()
            .expect("run the AWS CLI");
        assert!(
            out.status.success(),
            "aws ssm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.wait();
    }
}

/// The main pid of the guest's gantry-agent unit.
fn agent_pid(vm: &Vm) -> String {
    vm.run_ok("systemctl show -p MainPID --value gantry-agent")
        .trim()
        .to_string()
}

/// The pids in a task's container cgroup (they must not change while the agent restarts).
fn task_pids(vm: &Vm, task_id: &str) -> String {
    vm.run_ok(&format!(
        "cat $(find /sys/fs/cgroup -type d -name {task_id} | head -n1)/main/cgroup.procs"
    ))
    .trim()
    .to_string()
}

async fn wait_connected(api: &Api, server: &HostServer, what: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(i) = api.instance().await {
            if i["status"] == "ACTIVE" && i["agentConnected"] == true {
                return i;
            }
        }
        assert!(
            start.elapsed() < T,
            "{what}: the instance is not ACTIVE and connected\n--- server ---\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A host server with the `default` cluster, and its API.
async fn host_server(vm: &Vm) -> (HostServer, Api) {
    let server = HostServer::start(vm.host_port());
    assert!(
        gantry_tests::vm::wait_until(T, || !server.ca_pem().is_empty()),
        "the server made no CA:\n{}",
        server.log()
    );
    let api = Api::tls(server.port, &server.ca_pem());
    gantry_tests::wait_for("the host's server to answer", T, || async {
        api.call("ListClusters", json!({})).await.ok()
    })
    .await;
    api.ok("CreateCluster", json!({ "clusterName": "default" }))
        .await;
    // The installer's source copy (an uninstall removes GUEST_BIN; this one stays).
    vm.run_ok(&format!(
        "test -e /root/gantry || cp {GUEST_BIN} /root/gantry"
    ));
    (server, api)
}

/// How a host is granted its node credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An SSM activation (`aws ssm create-activation`): the host joins as EXTERNAL.
    Activation,
    /// A cluster join token (`gantry token create`): the host joins as EC2.
    Token,
}

/// The grant flags of `gantry agent install` for a fresh activation.
fn activation_flags(server: &HostServer) -> String {
    let act = server.ssm(&[
        "create-activation",
        "--iam-role",
        "gantry-external-node",
        "--registration-limit",
        "1",
    ]);
    let id = act["ActivationId"].as_str().unwrap_or_default().to_string();
    let code = act["ActivationCode"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty() && !code.is_empty(), "{act}");
    let pin = server.ca_sha256();
    assert_eq!(pin.len(), 64, "{pin}");
    format!("--activation-id {id} --activation-code {code} --ca-sha256 {pin}")
}

/// The join command `gantry token create` prints on the host for the guest, as it is (the
/// operator's copy and paste), with the guest's copy of the binary.
fn token_join_command(vm: &Vm, server: &HostServer) -> String {
    let out = gantry_tests::gantry_cli(&format!("https://127.0.0.1:{}", server.port))
        .arg("--ca-bundle")
        .arg(server.state.path().join("server/tls/ca.pem"))
        .args(["token", "create", "--cluster", "default", "--ttl", "10m"])
        .args(["--server", &format!("https://{}", vm.host_addr())])
        .stdin(Stdio::null())
        .output()
        .expect("run gantry token create");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "gantry token create: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("gantry agent install "))
        .unwrap_or_else(|| panic!("no join command in the output of gantry token create:\n{text}"));
    // The token's CA pin is the one the server's own files give.
    assert!(
        line.ends_with(&format!("--ca-sha256 {}", server.ca_sha256())),
        "the join command does not pin the cluster CA: {line}"
    );
    format!("/root/{line}")
}

/// Runs the join command for `grant` in the guest; returns the time from the command to the
/// instance ACTIVE and connected on the server, and the instance.
async fn join_once(vm: &Vm, server: &HostServer, api: &Api, grant: Grant) -> (Duration, Value) {
    let command = match grant {
        Grant::Activation => format!(
            "/root/gantry agent install --server https://{addr} --cluster default {flags}",
            addr = vm.host_addr(),
            flags = activation_flags(server)
        ),
        Grant::Token => token_join_command(vm, server),
    };
    let install =
        format!("{command} -- --image-layout {GUEST_IMAGES}/test-images --stop-timeout 2");
    let t0 = Instant::now();
    let out = vm.run(&install);
    assert!(
        out.status.success(),
        "gantry agent install ({grant:?}) failed:\n{}\n{}\n--- server ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let inst = wait_connected(api, server, "after the install").await;
    (t0.elapsed(), inst)
}

/// Whether the instance carries ECS's attribute of external instances.
fn is_external(inst: &Value) -> bool {
    inst["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a["name"] == "ecs.capability.external")
}

/// The arn of a RUNNING task of service `ext-svc` other than `not`, once there is one.
async fn running_service_task(api: &Api, not: Option<&str>) -> String {
    gantry_tests::wait_for("a RUNNING task of service ext-svc", T, || async {
        let l = api
            .call("ListTasks", json!({ "serviceName": "ext-svc" }))
            .await
            .ok()?;
        let arns: Vec<&str> = l["taskArns"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .filter(|a| Some(*a) != not)
            .collect();
        let d = api
            .call("DescribeTasks", json!({ "tasks": arns }))
            .await
            .ok()?;
        d["tasks"]
            .as_array()?
            .iter()
            .find(|t| t["lastStatus"] == "RUNNING")
            .and_then(|t| t["taskArn"].as_str().map(String::from))
    })
    .await
}

/// Deregisters the instance (`--force`) and uninstalls the agent with its state.
async fn leave(vm: &Vm, api: &Api, inst: &Value) {
    let ci = inst["containerInstanceArn"].as_str().unwrap_or_default();
    api.ok(
        "DeregisterContainerInstance",
        json!({ "containerInstance": ci, "force": true }),
    )
    .await;
    vm.run_ok("/root/gantry agent uninstall --purge");
}

/// The "Join" figure: `runs` joins of the same guest with `grant`, uninstalled in between.
pub async fn join_times(vm: &Vm, runs: usize, grant: Grant) -> Vec<Duration> {
    let (server, api) = host_server(vm).await;
    let mut times = Vec::new();
    for _ in 0..runs {
        let (t, inst) = join_once(vm, &server, &api, grant).await;
        times.push(t);
        leave(vm, &api, &inst).await;
    }
    times
}

pub async fn the_host_joins_and_survives(vm: &mut Vm) {
    let (server, api) = host_server(vm).await;
    let (join, inst) = join_once(vm, &server, &api, Grant::Activation).await;
    println!("JOIN: install command to ACTIVE and connected: {join:?}");
    assert_eq!(
        vm.run_ok("systemctl is-active gantry-agent").trim(),
        "active"
    );
    let ec2 = inst["ec2InstanceId"].as_str().unwrap_or_default();
    assert!(
        ec2.starts_with("mi-"),
        "an activation joins as a managed instance: {inst}"
    );
    assert!(
        is_external(&inst),
        "EXTERNAL instances carry ecs.capability.external: {inst}"
    );
    let managed = server.ssm(&["describe-instance-information"]);
    assert!(managed.to_string().contains(ec2), "{managed}");

    // A task on the joined host.
    api.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "ext-web",
            "networkMode": "bridge",
            "requiresCompatibilities": ["EXTERNAL"],
            "containerDefinitions": [{
                "name": "main", "image": "web:latest", "essential": true, "memory": 64,
                "portMappings": [{ "containerPort": 80, "hostPort": 8082 }]
            }]
        }),
    )
    .await;
    let run = api
        .ok(
            "RunTask",
            json!({ "taskDefinition": "ext-web", "launchType": "EXTERNAL" }),
        )
        .await;
    let arn = run["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!arn.is_empty(), "RunTask placed nothing: {run}");
    let t = api.wait_status(&arn, "RUNNING").await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}\n{}", server.log());
    let task_id = arn.rsplit('/').next().unwrap_or_default().to_string();
    let pids = task_pids(vm, &task_id);
    assert!(!pids.is_empty());

    // systemctl restart, then kill -9: the task keeps running and is adopted again.
    for how in [
        "systemctl restart gantry-agent",
        "kill -9 $(systemctl show -p MainPID --value gantry-agent)",
    ] {
        let before = agent_pid(vm);
        vm.run_ok(how);
        assert!(
            gantry_tests::vm::wait_until(T, || {
                let now = agent_pid(vm);
                now != before && now != "0"
            }),
            "the agent did not come back after `{how}`"
        );
        wait_connected(&api, &server, how).await;
        assert_eq!(
            task_pids(vm, &task_id),
            pids,
            "the task's processes changed after `{how}`"
        );
        let t = api.task(&arn).await;
        assert_eq!(t["lastStatus"], "RUNNING", "after `{how}`: {t}");
    }

    // A service on the joined host, so the reboot also shows the service replacing the task
    // that died with the guest.
    api.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "ext-svc",
            "networkMode": "none",
            "requiresCompatibilities": ["EXTERNAL"],
            "containerDefinitions": [{
                "name": "main", "image": "web:latest", "essential": true, "memory": 32
            }]
        }),
    )
    .await;
    api.ok(
        "CreateService",
        json!({ "serviceName": "ext-svc", "taskDefinition": "ext-svc", "desiredCount": 1,
                "launchType": "EXTERNAL" }),
    )
    .await;
    let svc_task = running_service_task(&api, None).await;

    // A reboot: the agent comes back by itself; the task died with the guest and the server
    // stops it with a reason.
    vm.reboot();
    assert!(
        gantry_tests::vm::wait_until(T, || vm
            .run("systemctl is-active gantry-agent")
            .status
            .success()),
        "the agent is not active after the reboot"
    );
    wait_connected(&api, &server, "after the reboot").await;
    let t = api.wait_status(&arn, "STOPPED").await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    assert!(
        !t["stoppedReason"].as_str().unwrap_or_default().is_empty(),
        "no stoppedReason: {t}"
    );

    // The service's task died with the guest too: it is stopped and the service runs a new
    // one on the host that came back.
    let replaced = running_service_task(&api, Some(&svc_task)).await;
    let old = api.wait_status(&svc_task, "STOPPED").await;
    assert_eq!(old["lastStatus"], "STOPPED", "{old}");
    api.ok(
        "UpdateService",
        json!({ "service": "ext-svc", "desiredCount": 0 }),
    )
    .await;
    let t = api.wait_status(&replaced, "STOPPED").await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");
    api.ok("DeleteService", json!({ "service": "ext-svc" }))
        .await;

    // Deregistration, then uninstall: nothing left behind.
    leave(vm, &api, &inst).await;
    nothing_left(vm);

    // The same guest joins again, the operator's way: a cluster join token.
    the_host_joins_with_a_token(vm, &server, &api).await;
}

/// What `gantry agent uninstall --purge` must leave: no unit, config, state, binary or
/// process of the agent.
fn nothing_left(vm: &Vm) {
    let left = vm.run_ok(
        "ls -d /etc/gantry /etc/systemd/system/gantry-agent.service /var/lib/gantry/agent \
         /usr/local/bin/gantry 2>/dev/null; pgrep -a -f 'gantry (agent|supervise)'; \
         systemctl is-enabled gantry-agent 2>/dev/null; true",
    );
    assert!(
        left.trim().is_empty(),
        "left in the guest after uninstall: {left}"
    );
}

/// `gantry token create` on the host, its join command in the guest: the host is an EC2
/// instance (no `ecs.capability.external`, an `i-…` id), runs EC2 tasks and takes no
/// EXTERNAL one; deregistration and uninstall leave nothing.
async fn the_host_joins_with_a_token(vm: &Vm, server: &HostServer, api: &Api) {
    let step = Instant::now();
    let (join, inst) = join_once(vm, server, api, Grant::Token).await;
    println!("TOKEN JOIN: install command to ACTIVE and connected: {join:?}");
    assert_eq!(
        vm.run_ok("systemctl is-active gantry-agent").trim(),
        "active"
    );
    let ec2 = inst["ec2InstanceId"].as_str().unwrap_or_default();
    let hex = ec2.strip_prefix("i-").unwrap_or_default();
    assert!(
        !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "a token joins as an EC2 instance with an i-… id: {inst}"
    );
    assert!(
        !is_external(&inst),
        "an EC2 instance carries no ecs.capability.external: {inst}"
    );

    // An EXTERNAL task finds no instance for it: this host is not external.
    let ext = api
        .ok(
            "RunTask",
            json!({ "taskDefinition": "ext-web", "launchType": "EXTERNAL" }),
        )
        .await;
    assert!(
        ext["tasks"].as_array().is_some_and(Vec::is_empty),
        "an EXTERNAL task landed on an EC2 instance: {ext}"
    );
    assert!(
        ext["failures"].as_array().is_some_and(|f| !f.is_empty()),
        "RunTask placed nothing and says nothing: {ext}"
    );

    // An EC2 task runs on it.
    api.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "ec2-web",
            "networkMode": "bridge",
            "requiresCompatibilities": ["EC2"],
            "containerDefinitions": [{
                "name": "main", "image": "web:latest", "essential": true, "memory": 64,
                "portMappings": [{ "containerPort": 80, "hostPort": 8083 }]
            }]
        }),
    )
    .await;
    let run = api
        .ok(
            "RunTask",
            json!({ "taskDefinition": "ec2-web", "launchType": "EC2" }),
        )
        .await;
    let arn = run["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!arn.is_empty(), "RunTask placed nothing: {run}");
    assert_eq!(
        run["tasks"][0]["containerInstanceArn"], inst["containerInstanceArn"],
        "{run}"
    );
    let t = api.wait_status(&arn, "RUNNING").await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}\n{}", server.log());
    let task_id = arn.rsplit('/').next().unwrap_or_default().to_string();
    assert!(!task_pids(vm, &task_id).is_empty());
    api.ok("StopTask", json!({ "task": arn })).await;
    let t = api.wait_status(&arn, "STOPPED").await;
    assert_eq!(t["lastStatus"], "STOPPED", "{t}");

    leave(vm, api, &inst).await;
    nothing_left(vm);
    println!("TOKEN JOIN STEP: {:?} in all", step.elapsed());
}
