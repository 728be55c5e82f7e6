//! Uninstall, and the systemd path of install driven by a stand-in systemctl.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::*;

#[test]
fn uninstall_removes_what_install_wrote_and_is_idempotent() {
    let host = Host::new("uninstall");
    host.install(&["--join-token", "t.s", "--ca-sha256", HASH])
        .expect("install");
    let agent_dir = host.at("/var/lib/gantry/agent");
    std::fs::create_dir_all(agent_dir.join("node")).expect("state");
    std::fs::write(agent_dir.join("node/node.json"), b"{}").expect("credential");
    host.uninstall(false).expect("uninstall");
    // Only the agent's state is left without --purge.
    assert_eq!(
        host.files(),
        vec![agent_dir.join("node/node.json").display().to_string()]
    );
    assert!(!host.at("/etc/gantry").exists());
    host.uninstall(false).expect("again");
    host.uninstall(true).expect("purge");
    assert!(host.files().is_empty(), "{:?}", host.files());
    assert!(!host.at("/var/lib/gantry").exists());
    host.uninstall(true).expect("purge again");
}

#[test]
fn purge_is_refused_while_a_task_runs() {
    let host = Host::new("uninstall-running");
    host.install(&["--join-token", "t.s", "--ca-sha256", HASH])
        .expect("install");
    let task = host.at("/var/lib/gantry/agent/tasks/0123abcd");
    std::fs::create_dir_all(&task).expect("task dir");
    // A stand-in supervisor: alive, working in its task directory.
    let mut sup = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&task)
        .spawn()
        .expect("sleep");
    let pid_file = gantry_runtime::task_dir::TaskDir::new(&task).pid_file();
    std::fs::write(&pid_file, sup.id().to_string()).expect("pid");
    let refused = host.uninstall(true);
    let _ = sup.kill();
    let _ = sup.wait();
    let msg = refused.expect_err("refused").to_string();
    assert!(
        msg.contains("0123abcd") && msg.contains("nothing was removed"),
        "{msg}"
    );
    assert!(host.at(CONFIG).exists() && host.at(BINARY).exists());
    // The supervisor gone, purge goes ahead.
    host.uninstall(true).expect("purge");
    assert!(host.files().is_empty(), "{:?}", host.files());
}

/// A stand-in systemctl that logs its arguments and, if `joins`, plays an agent that
/// registers on `restart`.
fn fake_systemctl(host: &Host, joins: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = host.dir.path().join("systemctl.log");
    let agent_dir = host.at("/var/lib/gantry/agent");
    let join = if joins {
        format!(
            "mkdir -p {dir}; printf '{{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:000000000000:container-instance/prod/abc\",\"cluster\":\"prod\",\"nodeId\":\"mi-0123456789abcdef0\",\"pid\":1,\"readyAt\":%s}}' \"$(date +%s)\" > {dir}/status.json",
            dir = agent_dir.display()
        )
    } else {
        ":".to_string()
    };
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$1\" in restart) {join} ;; esac\nexit 0\n",
        log = log.display()
    );
    let exe = host.dir.path().join("systemctl");
    std::fs::write(&exe, script).expect("script");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (exe, log)
}

#[test]
fn with_systemctl_it_starts_the_unit_waits_for_the_join_and_drops_the_grant() {
    let host = Host::new("install-systemctl");
    let (exe, log) = fake_systemctl(&host, true);
    let args = host.args(&["--join-token", "t.s", "--ca-sha256", HASH]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut plan = plan(&install_args(&args)).expect("plan");
    plan.systemctl = Some(exe);
    plan.wait = Duration::from_secs(30);
    let said = apply(&plan).expect("joined");
    assert!(
        said.contains("joined cluster prod as container instance arn:aws:ecs:us-east-1:000000000000:container-instance/prod/abc, node mi-0123456789abcdef0"),
        "{said}"
    );
    let calls = std::fs::read_to_string(&log).expect("log");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(
        calls[..3],
        [
            "daemon-reload",
            "enable gantry-agent",
            "restart --no-block gantry-agent"
        ]
    );
    assert!(
        calls[3..]
            .iter()
            .all(|c| *c == "is-active --quiet gantry-agent"),
        "{calls:?}"
    );
    // The grant is spent; the rest stays.
    let table = agent_toml(&host);
    let keys: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["server", "cluster", "state-dir", "ca-sha256"])
    );
    assert_eq!(mode(&host.at(CONFIG)), 0o600);
    // systemctl enables the unit itself: no symlink of ours.
    assert!(!host.at(UNIT_LINK).exists());
}

#[test]
fn an_agent_that_does_not_join_in_time_is_reported() {
    let host = Host::new("install-timeout");
    let (exe, _) = fake_systemctl(&host, false);
    let args = host.args(&["--join-token", "t.s", "--ca-sha256", HASH]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut plan = plan(&install_args(&args)).expect("plan");
    plan.systemctl = Some(exe);
    plan.wait = Duration::from_secs(1);
    let e = apply(&plan).expect_err("no join");
    assert!(e.to_string().contains("did not register within 1 s"), "{e}");
    // The grant stays for the unit's next try.
    let text = std::fs::read_to_string(host.at(CONFIG)).expect("config");
    assert!(text.contains("join-token"));
}
