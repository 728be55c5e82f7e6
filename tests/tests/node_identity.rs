//! A host's node identity as an operator sees it: the agent joins once with a join token and
//! keeps its credential (private modes) in its state dir, so a restarted agent comes back as
//! the same node and instance without joining again; a used-up token is refused with the
//! server's text and not sent again; a wrong `--ca-sha256` refuses to join, the right one
//! pins the cluster CA; the credential rotates itself before it expires.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::TempDir;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A second `gantry agent` on its own state dir against `dev`'s server, with `env`; it must
/// exit (within 60 s) because it cannot join. (succeeded, stdout+stderr).
fn second_agent(dev: &Dev, state: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let log = state.join("agent.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut child = Command::new(gantry_tests::gantry_bin())
        .arg("agent")
        .arg("--state-dir")
        .arg(state)
        .arg("--server")
        .arg(&dev.endpoint)
        .arg("--cgroup-parent")
        .arg(format!("{}-second", dev.cgroup_parent()))
        .env_remove("GANTRY_JOIN_TOKEN")
        .env_remove("GANTRY_CA_SHA256")
        .env_remove("GANTRY_CA_BUNDLE")
        .env_remove("AWS_CA_BUNDLE")
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("dup"))
        .stderr(file)
        .spawn()
        .expect("start a second gantry agent");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("the second agent did not exit:\n{out}"));
    (status.success(), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_keeps_its_node_id_and_instance_without_joining_again() {
    let mut dev = Dev::start_split(DevOptions::default()).await;
    let node = dev.node_id().expect("the agent stored a node credential");
    assert!(node.starts_with("i-"), "{node}");
    let instances = dev.instances().await;
    assert_eq!(instances.len(), 1, "{instances:?}");

    // The private key is the host's alone.
    let dir = dev.node_dir();
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    let keys: Vec<_> = std::fs::read_dir(&dir)
        .expect("node dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("key-") && n.ends_with(".pem"))
        })
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(mode(&keys[0]), 0o600);
    assert_eq!(mode(&dir.join("node.json")), 0o600);

    dev.kill9_agent();
    dev.start_agent().await;
    assert_eq!(dev.node_id().as_deref(), Some(node.as_str()));
    assert_eq!(
        dev.instances().await,
        instances,
        "the same instance came back"
    );
    let log = gantry_tests::wait_for(
        "the restarted agent to log that it used its stored credential",
        Duration::from_secs(30),
        || async {
            let log = dev.log();
            log.contains("using the stored node credential")
                .then_some(log)
        },
    )
    .await;
    let joins = log
        .lines()
        .filter(|l| l.contains("joined the cluster") && l.contains("launch_type"))
        .count();
    assert_eq!(joins, 1, "joined once, not on the restart:\n{log}");
    assert!(log.contains("using the stored node credential"), "{log}");
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_token_is_refused_with_the_servers_text_and_not_sent_again() {
    let dev = Dev::start_split(DevOptions::default()).await;
    let used = dev.used_join_token().expect("a join token").to_string();
    let other = TempDir::new("second-agent");
    let (ok, out) = second_agent(&dev, other.path(), &[("GANTRY_JOIN_TOKEN", &used)]);
    assert!(!ok, "a used-up token must not join:\n{out}");
    assert!(
        out.contains("refused to let this host join: The join token"),
        "{out}"
    );
    assert!(
        out.contains("gantry token create"),
        "says what to do:\n{out}"
    );
    assert!(
        !out.contains(used.split('.').nth(1).unwrap_or("-")),
        "the secret is in the log"
    );
    assert!(!other.path().join("agent/node/node.json").exists());

    let (ok, again) = second_agent(&dev, other.path(), &[("GANTRY_JOIN_TOKEN", &used)]);
    assert!(!ok, "{again}");
    assert!(again.contains("refused before; not sent again"), "{again}");
    assert_eq!(dev.instances().await.len(), 1, "nothing registered");
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_hash_refuses_to_join_and_the_right_one_pins_the_ca() {
    let mut dev = Dev::start_split(DevOptions {
        tls: true,
        ..Default::default()
    })
    .await;
    assert!(dev.endpoint.starts_with("https://"), "{}", dev.endpoint);
    let pin = dev
        .ca_sha256()
        .expect("CreateJoinToken gave the CA hash")
        .to_string();
    let pinned = std::fs::read(dev.node_dir().join("ca.pem")).expect("the agent pinned the CA");
    let served = gantry_link::fetch_ca_pinned(&dev.endpoint, &pin)
        .await
        .expect("the server's CA has the hash");
    assert_eq!(pinned, served);

    let (token, _) = dev.new_join_token(1).await;
    let other = TempDir::new("wrong-pin");
    let zeros = "0".repeat(64);
    let (ok, out) = second_agent(
        &dev,
        other.path(),
        &[("GANTRY_JOIN_TOKEN", &token), ("GANTRY_CA_SHA256", &zeros)],
    );
    assert!(!ok, "a wrong pin must not join:\n{out}");
    assert!(out.contains("refusing to join"), "{out}");
    assert!(out.contains(&pin), "names the hash it got:\n{out}");
    assert!(!other.path().join("agent/node/node.json").exists());
    assert!(!other.path().join("agent/node/ca.pem").exists());

    // A restart trusts the pinned CA (no pin needed any more).
    dev.kill9_agent();
    dev.start_agent().await;
    assert_eq!(dev.instances().await.len(), 1);
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_rotates_at_two_thirds_of_its_life_and_the_session_goes_on() {
    // 15 s certificates: the agent rotates 10 s after each one arrives.
    let mut dev = Dev::start_split(DevOptions {
        server_args: vec!["--node-credential-ttl".into(), "15s".into()],
        ..Default::default()
    })
    .await;
    let node = dev.node_id().expect("joined");
    let generation = |dev: &Dev| -> u64 {
        std::fs::read_to_string(dev.node_dir().join("node.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["generation"].as_u64())
            .unwrap_or(0)
    };
    // The agent stores the new credential, then logs it: wait for both before the kill.
    gantry_tests::wait_for("a rotation", Duration::from_secs(40), || async {
        (generation(&dev) >= 2 && dev.log().contains("rotated the node credential")).then_some(())
    })
    .await;
    assert_eq!(dev.node_id().as_deref(), Some(node.as_str()), "same node");
    // A restarted agent registers and connects with the rotated credential.
    dev.kill9_agent();
    dev.wait_agent_connected(false).await;
    dev.start_agent().await;
    let log = dev.log();
    assert!(!log.contains("refused this node"), "{log}");
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}
