//! The real AWS CLI against Parameter Store (`aws ssm put-parameter`, `get-parameter
//! --with-decryption`, `get-parameters-by-path --recursive`, `label-parameter-version`,
//! `delete-parameter`), on a server with a state dir and a SQLite file, and afterwards a
//! check that no file the server wrote (the store, its WAL, the audit log) holds the
//! SecureString's plain text.

mod aws_cli;
mod common;
mod iam_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_cli::aws;
use gantry_store::SqliteStore;
use iam_support::{ADMIN_ID, ADMIN_SECRET};

const CANARY: &str = "canary-7f3a9c-parameter-plaintext";

/// Removes the directory when the test ends, however it ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn the_aws_cli_stores_and_reads_parameters_and_no_file_holds_the_plaintext() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "gantry-params-cli-{}-{}",
        std::process::id(),
        rand_suffix()
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    let cfg = gantry_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        max_body_bytes: 64 * 1024,
        agent_lost_after: Duration::from_secs(30),
        state_dir: Some(dir.0.clone()),
        admin_key: Some(gantry_server::AccessKeyPair {
            access_key_id: ADMIN_ID.into(),
            secret_access_key: ADMIN_SECRET.into(),
        }),
        ..gantry_server::ServerConfig::default()
    };
    let store = SqliteStore::open(&dir.0.join("store.db")).unwrap();
    let bound = gantry_server::bind(cfg, store).await.unwrap();
    let url = format!("http://{}", bound.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));

    let put = aws(
        &url,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/app/db/password",
            "--value",
            CANARY,
            "--type",
            "SecureString",
            "--tags",
            "Key=team,Value=db",
        ],
    )
    .await
    .unwrap();
    assert_eq!(put["Version"], 1);
    assert_eq!(put["Tier"], "Standard");
    aws(
        &url,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/app/db/host",
            "--value",
            "db.internal",
            "--type",
            "String",
        ],
    )
    .await
    .unwrap();
    aws(
        &url,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/app/web/hosts",
            "--value",
            "a,b",
            "--type",
            "StringList",
        ],
    )
    .await
    .unwrap();

    let g = aws(
        &url,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/app/db/password",
            "--with-decryption",
        ],
    )
    .await
    .unwrap();
    assert_eq!(g["Parameter"]["Value"], CANARY);
    assert_eq!(
        g["Parameter"]["ARN"],
        "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password"
    );
    let hidden = aws(
        &url,
        &["ssm", "get-parameter", "--name", "/app/db/password"],
    )
    .await
    .unwrap();
    assert_ne!(hidden["Parameter"]["Value"], CANARY);

    let by_path = aws(
        &url,
        &[
            "ssm",
            "get-parameters-by-path",
            "--path",
            "/app",
            "--recursive",
        ],
    )
    .await
    .unwrap();
    let names: Vec<&str> = by_path["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["/app/db/host", "/app/db/password", "/app/web/hosts"]
    );

    let e = aws(
        &url,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/app/db/host",
            "--value",
            "x",
            "--type",
            "String",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("ParameterAlreadyExists"), "{e}");
    aws(
        &url,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/app/db/host",
            "--value",
            "db2",
            "--overwrite",
        ],
    )
    .await
    .unwrap();
    let l = aws(
        &url,
        &[
            "ssm",
            "label-parameter-version",
            "--name",
            "/app/db/host",
            "--parameter-version",
            "1",
            "--labels",
            "first",
        ],
    )
    .await
    .unwrap();
    assert_eq!(l["ParameterVersion"], 1);
    let first = aws(
        &url,
        &["ssm", "get-parameter", "--name", "/app/db/host:first"],
    )
    .await
    .unwrap();
    assert_eq!(first["Parameter"]["Value"], "db.internal");
    let d = aws(
        &url,
        &[
            "ssm",
            "describe-parameters",
            "--parameter-filters",
            "Key=Type,Values=SecureString",
        ],
    )
    .await
    .unwrap();
    assert_eq!(d["Parameters"][0]["Name"], "/app/db/password");
    aws(
        &url,
        &["ssm", "delete-parameter", "--name", "/app/web/hosts"],
    )
    .await
    .unwrap();
    let e = aws(&url, &["ssm", "get-parameter", "--name", "/app/web/hosts"])
        .await
        .unwrap_err();
    assert!(e.contains("ParameterNotFound"), "{e}");

    let _ = tx.send(());
    let _ = server.await;
    let mut all = Vec::new();
    files(&dir.0, &mut all);
    assert!(all.iter().any(|p| p.ends_with("store.db")), "{all:?}");
    for p in &all {
        let bytes = std::fs::read(p).unwrap();
        let needle = CANARY.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} holds the plain text",
            p.display()
        );
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}
