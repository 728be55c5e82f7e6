//! Secrets in task definitions, end to end: real containers, the AWS CLI for IAM, Secrets
//! Manager and Parameter Store, `gantry server` and `gantry agent` as two processes.
//!
//! Containers print a hash of each secret they got, never the value. After a task's whole
//! life, a failed start, an agent `kill -9` and adoption, a supervisor killed and salvaged,
//! and a rotation, every file under the state dir (the server's and the agent's) and the
//! log hold none of the canary values.

use std::path::Path;
use std::time::Duration;

use gantry_tests::aws::cli;
use gantry_tests::dev::{Dev, DevOptions};
use gantry_tests::registry::Registry;
use gantry_tests::split::kill9_pid;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(90);

const CANARY_DB: &str = "canary-db-7Qx2Lm9Vt";
const CANARY_PW: &str = "canary-pw-Hs83Kd0Pq";
const CANARY_TOKEN: &str = "canary-tok-Wn4Ya6Zr1";
const CANARY_ROTATED: &str = "canary-rot-Bf5Gj2Xc";
const CANARY_REGISTRY: &str = "canary-reg-Mt6Pw1Qa";

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn aws(dev: &Dev, service: &str, args: &[&str]) -> Value {
    cli(&dev.endpoint, service, args)
        .unwrap_or_else(|e| panic!("aws {service} {args:?} failed: {e}"))
}

/// sha256 of `s`, hex, as the container's `sha256sum` prints it.
fn sha(s: &str) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), s.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A role ECS may assume with `policy` inline (none: no permissions at all).
fn role(dev: &Dev, name: &str, policy: Option<&str>) -> String {
    let r = aws(
        dev,
        "iam",
        &[
            "create-role",
            "--role-name",
            name,
            "--assume-role-policy-document",
            TRUST,
        ],
    );
    if let Some(p) = policy {
        aws(
            dev,
            "iam",
            &[
                "put-role-policy",
                "--role-name",
                name,
                "--policy-name",
                "secrets",
                "--policy-document",
                p,
            ],
        );
    }
    r["Role"]["Arn"].as_str().expect("role ARN").to_string()
}

fn create_secret(dev: &Dev, name: &str, value: &str) -> String {
    let out = aws(
        dev,
        "secretsmanager",
        &["create-secret", "--name", name, "--secret-string", value],
    );
    out["ARN"].as_str().expect("secret ARN").to_string()
}

/// The lines the task's container printed.
fn logs(dev: &Dev, arn: &str) -> String {
    let id = arn.rsplit('/').next().unwrap_or_default();
    let out = dev
        .cli()
        .args(["logs", id, "--container", "main"])
        .output()
        .expect("gantry logs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the task's container printed a line starting with `prefix`; the line.
async fn printed(dev: &Dev, arn: &str, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + T;
    loop {
        let out = logs(dev, arn);
        if let Some(l) = out.lines().find(|l| l.starts_with(prefix)) {
            return l.to_string();
        }
        let id = arn.rsplit('/').next().unwrap_or_default();
        assert!(
            std::time::Instant::now() < deadline,
            "{arn} did not print {prefix}: logs {out:?}, task {}, supervisor.log {}",
            dev.describe(arn).await,
            std::fs::read_to_string(dev.tasks_dir().join(id).join("supervisor.log"))
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every file under `dir` (not following links) that holds one of `canaries`.
fn files_holding(dir: &Path, canaries: &[&str], out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            files_holding(&path, canaries, out);
        } else if ft.is_file() {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for c in canaries {
                if bytes.windows(c.len()).any(|w| w == c.as_bytes()) {
                    out.push(format!("{} holds {c}", path.display()));
                }
            }
        }
    }
}

/// The script the container runs: a hash of each variable, then it waits.
fn hashes(vars: &[&str]) -> String {
    let mut s = String::new();
    for v in vars {
        s.push_str(&format!(
            "echo \"{v}=$(printf %s \"${v}\" | sha256sum | cut -d' ' -f1)\"; "
        ));
    }
    s.push_str("exec sleep 600");
    s
}

async fn register(dev: &Dev, family: &str, role: &str, secrets: Value, script: &str) {
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": family, "networkMode": "none", "executionRoleArn": role,
            "containerDefinitions": [{"name": "main", "image": "busybox:latest", "memory": 64,
                "environment": [{"name": "PLAIN", "value": "not-a-secret"}],
                "secrets": secrets, "command": ["sh", "-c", script]}]}),
    )
    .await;
}

async fn stop(dev: &Dev, arn: &str) -> Value {
    dev.ok("StopTask", json!({"task": arn})).await;
    dev.wait_status(arn, "STOPPED", T).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_only_the_container_environment() {
    let mut dev = Dev::start_split(DevOptions::default()).await;
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:app/*"},{"Effect":"Allow","Action":"ssm:GetParameters","Resource":"arn:aws:ssm:*:*:parameter/app/*"}]}"#;
    let exec = role(&dev, "exec", Some(allow));
    let none = role(&dev, "exec-without-permissions", None);
    let db = create_secret(&dev, "app/db", CANARY_DB);
    let json_secret = create_secret(
        &dev,
        "app/json",
        &json!({"user": "app", "password": CANARY_PW}).to_string(),
    );
    aws(
        &dev,
        "ssm",
        &[
            "put-parameter",
            "--name",
            "/app/token",
            "--type",
            "SecureString",
            "--value",
            CANARY_TOKEN,
        ],
    );
    let secrets = json!([
        {"name": "DB", "valueFrom": db},
        {"name": "PW", "valueFrom": format!("{json_secret}:password::")},
        {"name": "TOKEN", "valueFrom": "/app/token"},
    ]);
    register(
        &dev,
        "with-secrets",
        &exec,
        secrets.clone(),
        &hashes(&["DB", "PW", "TOKEN", "PLAIN"]),
    )
    .await;

    // 1. A whole life: the container has every value; DescribeTaskDefinition shows only
    // where they come from.
    let first = dev.run_one("with-secrets").await;
    let t = dev.wait_status(&first, "RUNNING", T).await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    assert_eq!(
        printed(&dev, &first, "DB=").await,
        format!("DB={}", sha(CANARY_DB))
    );
    assert_eq!(
        printed(&dev, &first, "PW=").await,
        format!("PW={}", sha(CANARY_PW))
    );
    assert_eq!(
        printed(&dev, &first, "TOKEN=").await,
        format!("TOKEN={}", sha(CANARY_TOKEN))
    );
    assert_eq!(
        printed(&dev, &first, "PLAIN=").await,
        format!("PLAIN={}", sha("not-a-secret"))
    );
    let td = dev
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "with-secrets"}),
        )
        .await;
    assert_eq!(
        td["taskDefinition"]["containerDefinitions"][0]["secrets"], secrets,
        "{td}"
    );

    // 2. The agent is killed with -9 and comes back: it adopts the task, which keeps
    // running with its values.
    let sup = dev.supervisor_pid(&first);
    dev.kill9_agent();
    dev.start_agent().await;
    let t = dev.describe(&first).await;
    assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    assert_eq!(dev.supervisor_pid(&first), sup, "adopted, not restarted");

    // 3. Rotation: a running task keeps the value it started with; a task started after
    // the new value gets it.
    aws(
        &dev,
        "secretsmanager",
        &[
            "put-secret-value",
            "--secret-id",
            "app/db",
            "--secret-string",
            CANARY_ROTATED,
        ],
    );
    let second = dev.run_one("with-secrets").await;
    assert_eq!(
        printed(&dev, &second, "DB=").await,
        format!("DB={}", sha(CANARY_ROTATED))
    );
    let first_logs = logs(&dev, &first);
    assert!(
        !first_logs.contains(&sha(CANARY_ROTATED)),
        "a running task's value changed: {first_logs}"
    );
    let t = stop(&dev, &first).await;
    assert_eq!(t["stopCode"], "UserInitiated", "{t}");

    // 4. The supervisor is killed: the agent salvages the task.
    kill9_pid(dev.supervisor_pid(&second));
    let t = dev.wait_status(&second, "STOPPED", T).await;
    assert!(
        t["stoppedReason"]
            .as_str()
            .unwrap_or_default()
            .contains("supervisor died"),
        "{t}"
    );

    // 5. A failed start after the values reached the supervisor: no such command.
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": "bad-command", "networkMode": "none", "executionRoleArn": exec,
            "containerDefinitions": [{"name": "main", "image": "busybox:latest", "memory": 64,
                "secrets": secrets, "command": ["/no/such/command"]}]}),
    )
    .await;
    let bad = dev.run_one("bad-command").await;
    let t = dev.wait_status(&bad, "STOPPED", T).await;
    assert_eq!(t["stopCode"], "TaskFailedToStart", "{t}");

    // 6. Failures before any container starts, with ECS's reason naming the secret.
    let reason_of = |t: &Value| t["stoppedReason"].as_str().unwrap_or_default().to_string();
    register(&dev, "denied", &none, secrets.clone(), "true").await;
    let arn = dev.run_one("denied").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    let r = reason_of(&t);
    assert!(
        r.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: ")
            && r.contains(&db)
            && r.contains("AccessDeniedException")
            && r.contains("assumed-role/exec-without-permissions/"),
        "{t}"
    );
    assert_eq!(t["stopCode"], "TaskFailedToStart", "{t}");
    assert!(t["containers"][0]["exitCode"].is_null(), "{t}");
    register(
        &dev,
        "missing",
        &exec,
        json!([{"name": "X", "valueFrom": "/app/no-such-parameter"}]),
        "true",
    )
    .await;
    let arn = dev.run_one("missing").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    let r = reason_of(&t);
    assert!(
        r.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: ")
            && r.contains("invalid ssm parameters: /app/no-such-parameter"),
        "{t}"
    );
    // As on ECS: secrets need an execution role.
    let (kind, body) = dev
        .call(
            "RegisterTaskDefinition",
            json!({"family": "no-role", "containerDefinitions": [{"name": "main",
                "image": "busybox:latest", "memory": 64, "secrets": secrets}]}),
        )
        .await
        .expect_err("secrets without executionRoleArn");
    assert_eq!(kind, "ClientException", "{body}");

    // Nothing anywhere on disk or in the log, the server's and the agent's state included.
    let mut found = Vec::new();
    let canaries = [CANARY_DB, CANARY_PW, CANARY_TOKEN, CANARY_ROTATED];
    files_holding(dev.state.path(), &canaries, &mut found);
    assert!(found.is_empty(), "secret values on disk: {found:?}");
    let log = dev.log();
    assert!(
        canaries.iter().all(|c| !log.contains(c)),
        "a secret value in the log"
    );
    assert!(dev.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_credentials_pull_from_a_private_registry() {
    let reg = Registry::start(Some(("gantry", CANARY_REGISTRY)));
    let dev = Dev::start_split(DevOptions::default()).await;
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let exec = role(&dev, "exec", Some(allow));
    let creds = create_secret(
        &dev,
        "registry/creds",
        &json!({"username": "gantry", "password": CANARY_REGISTRY}).to_string(),
    );
    let image = format!("{}/busybox:latest", reg.addr);
    // Without credentials the registry refuses the pull.
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": "anonymous", "networkMode": "none",
            "containerDefinitions": [{"name": "main", "image": image, "memory": 32,
                "command": ["echo", "pulled"]}]}),
    )
    .await;
    let arn = dev.run_one("anonymous").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert!(
        t["stoppedReason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("CannotPullContainerError:"),
        "{t}"
    );
    dev.ok(
        "RegisterTaskDefinition",
        json!({"family": "private", "networkMode": "none", "executionRoleArn": exec,
            "containerDefinitions": [{"name": "main", "image": image, "memory": 32,
                "repositoryCredentials": {"credentialsParameter": creds},
                "command": ["echo", "pulled"]}]}),
    )
    .await;
    let arn = dev.run_one("private").await;
    let t = dev.wait_status(&arn, "STOPPED", T).await;
    assert_eq!(t["containers"][0]["exitCode"], 0, "{t}");
    let mut found = Vec::new();
    files_holding(dev.state.path(), &[CANARY_REGISTRY], &mut found);
    assert!(found.is_empty(), "registry password on disk: {found:?}");
    assert!(!dev.log().contains(CANARY_REGISTRY));
    assert!(dev.shutdown().await.is_empty());
}
