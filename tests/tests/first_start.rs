//! First start as an operator sees it: `gantry server` on a new state dir writes the
//! administrator's credentials file and, with TLS, the cluster CA, says where in its ready
//! line, and the real AWS CLI works with nothing but those two files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gantry_tests::aws::aws_bin;
use gantry_tests::{free_port, gantry_bin, wait_for, TempDir};
use serde_json::Value;

/// A `gantry server` process, killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `gantry server --state-dir <state> <args>` with none of the credential variables of the
/// environment, logging to `<logs>/server-<n>.log`.
fn spawn(state: &Path, logs: &Path, n: u32, args: &[&str]) -> Server {
    let log = logs.join(format!("server-{n}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(gantry_bin())
        .arg("server")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("GANTRY_ADMIN_ACCESS_KEY_ID")
        .env_remove("GANTRY_ADMIN_SECRET_ACCESS_KEY")
        .env_remove("GANTRY_TLS_CERT")
        .env_remove("GANTRY_TLS_KEY")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start gantry server");
    Server { child, log }
}

/// Waits for the ready line and returns it.
async fn ready_line(server: &Server) -> String {
    wait_for("the ready line", Duration::from_secs(30), || async {
        server
            .log()
            .lines()
            .find(|l| l.contains("gantry server ready on"))
            .map(String::from)
    })
    .await
}

/// `aws ecs list-clusters` with only the credentials file (and `extra` flags).
fn list_clusters(endpoint: &str, credentials: &Path, extra: &[&str]) -> Result<Value, String> {
    let out = Command::new(aws_bin())
        .args([
            "ecs",
            "list-clusters",
            "--endpoint-url",
            endpoint,
            "--output",
            "json",
        ])
        .args(extra)
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .map_err(|e| format!("could not run {}: {e}", aws_bin().display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn secret_of(credentials: &Path) -> String {
    let text = std::fs::read_to_string(credentials).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .expect("a secret in the credentials file")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentials_file_is_all_the_aws_cli_needs() {
    use std::os::unix::fs::PermissionsExt;
    let state = TempDir::new("first-start");
    let logs = TempDir::new("first-start-logs");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let endpoint = format!("http://{listen}");
    let credentials = state.path().join("credentials");

    let first = spawn(state.path(), logs.path(), 1, &["--listen", &listen]);
    let line = ready_line(&first).await;
    assert!(
        line.contains(&format!(
            "ready on {endpoint} (store: sqlite {}, credentials: {})",
            state.path().join("server").join("gantry.db").display(),
            credentials.display()
        )),
        "{line}"
    );
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&credentials).unwrap();
    assert!(
        text.starts_with("[default]\naws_access_key_id = AKIA"),
        "{text}"
    );
    let secret = secret_of(&credentials);
    assert_eq!(secret.len(), 40);

    let out = wait_for("aws ecs list-clusters", Duration::from_secs(20), || async {
        list_clusters(&endpoint, &credentials, &[]).ok()
    })
    .await;
    assert!(out["clusterArns"].is_array(), "{out}");
    assert!(!first.log().contains(&secret), "the secret is in the log");
    // Another key is refused: the file's key is what lets the CLI in.
    let forged = logs.path().join("forged");
    std::fs::write(
        &forged,
        "[default]\naws_access_key_id = AKIAFORGEDFORGED0001\naws_secret_access_key = ForgedForgedForgedForgedForgedForged0001\n",
    )
    .unwrap();
    let e = list_clusters(&endpoint, &forged, &[]).unwrap_err();
    assert!(e.contains("UnrecognizedClientException"), "{e}");

    // A second start on the same state dir keeps the key.
    drop(first);
    let second = spawn(state.path(), logs.path(), 2, &["--listen", &listen]);
    ready_line(&second).await;
    assert_eq!(std::fs::read_to_string(&credentials).unwrap(), text);
    wait_for(
        "aws ecs list-clusters again",
        Duration::from_secs(20),
        || async { list_clusters(&endpoint, &credentials, &[]).ok() },
    )
    .await;
    assert!(!second.log().contains(&secret), "the secret is in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_loopback_works_with_the_ca_bundle() {
    let state = TempDir::new("first-start-tls");
    let logs = TempDir::new("first-start-tls-logs");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let endpoint = format!("https://{listen}");
    let credentials = state.path().join("credentials");
    let ca = state.path().join("tls").join("ca.pem");

    let server = spawn(
        state.path(),
        logs.path(),
        1,
        &["--listen", &listen, "--tls"],
    );
    let line = ready_line(&server).await;
    assert!(
        line.contains(&format!(
            "ready on {endpoint} (store: sqlite {}, credentials: {}, CA: {})",
            state.path().join("server").join("gantry.db").display(),
            credentials.display(),
            ca.display()
        )),
        "{line}"
    );
    let ca_arg = ca.display().to_string();
    let out = wait_for("aws --ca-bundle", Duration::from_secs(20), || async {
        list_clusters(&endpoint, &credentials, &["--ca-bundle", &ca_arg]).ok()
    })
    .await;
    assert!(out["clusterArns"].is_array(), "{out}");
    // Without the CA the CLI refuses the certificate.
    let e = list_clusters(&endpoint, &credentials, &[]).unwrap_err();
    assert!(e.contains("SSL") || e.contains("certificate"), "{e}");
    // The same through localhost, which the certificate names too.
    let by_name = format!("https://localhost:{port}");
    list_clusters(&by_name, &credentials, &["--ca-bundle", &ca_arg]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_flags_replace_the_file() {
    let state = TempDir::new("first-start-flags");
    let logs = TempDir::new("first-start-flags-logs");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Command::new(gantry_bin())
        .args(["server", "--listen", &listen, "--state-dir"])
        .arg(state.path())
        .env("GANTRY_ADMIN_ACCESS_KEY_ID", "AKIAFIRSTSTARTTEST01")
        .env(
            "GANTRY_ADMIN_SECRET_ACCESS_KEY",
            "FirstStartTestSecret0123456789abcdefghij",
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.path().join("server-1.log")).unwrap())
        .spawn()
        .unwrap();
    let server = Server {
        child: server,
        log: logs.path().join("server-1.log"),
    };
    let line = ready_line(&server).await;
    assert!(
        line.contains("credentials: the --admin-access-key-id key"),
        "{line}"
    );
    assert!(!state.path().join("credentials").exists());
    let file = logs.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIAFIRSTSTARTTEST01\naws_secret_access_key = FirstStartTestSecret0123456789abcdefghij\n",
    )
    .unwrap();
    let endpoint = format!("http://{listen}");
    wait_for(
        "aws with the flags' key",
        Duration::from_secs(20),
        || async { list_clusters(&endpoint, &file, &[]).ok() },
    )
    .await;
    assert!(!server.log().contains("FirstStartTestSecret"));
}

#[test]
fn plain_http_on_a_network_address_and_half_a_key_are_refused() {
    let state = TempDir::new("first-start-refused");
    let run = |args: &[&str]| {
        let out = Command::new(gantry_bin())
            .arg("server")
            .arg("--state-dir")
            .arg(state.path())
            .args(args)
            .env_remove("GANTRY_ADMIN_ACCESS_KEY_ID")
            .env_remove("GANTRY_ADMIN_SECRET_ACCESS_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["--listen", "0.0.0.0:1", "--no-tls"]);
    assert!(
        e.contains("refusing to serve plain HTTP on 0.0.0.0:1")
            && e.contains("drop --no-tls")
            && e.contains("--tls-cert"),
        "{e}"
    );
    let e = run(&[
        "--listen",
        "127.0.0.1:1",
        "--admin-access-key-id",
        "AKIAONLYTHEKEYID0001",
    ]);
    assert!(e.contains("go together"), "{e}");
    // Nothing was made.
    assert!(!state.path().join("credentials").exists());
    assert!(!state.path().join("tls").exists());
}
