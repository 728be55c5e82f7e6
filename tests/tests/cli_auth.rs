//! The `gantry` CLI signs with the AWS credential chain: the environment, a shared
//! credentials file and `--profile`; a wrong key is refused as AWS refuses it, and no key at
//! all is a clear error before anything is sent.

use gantry_tests::dev::Dev;
use gantry_tests::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// `gantry cluster ls` with only `env` (and a HOME with no ~/.aws): (ok, stdout+stderr).
fn cluster_ls(dev: &Dev, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let home = gantry_tests::TempDir::new("cli-home");
    let out = std::process::Command::new(gantry_tests::gantry_bin())
        .args(["--endpoint", &dev.endpoint])
        .args(args)
        .args(["cluster", "ls"])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("gantry cluster ls");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_from_the_environment_a_file_or_a_profile() {
    let dev = Dev::start().await;
    let keys = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
    ];
    let (ok, out) = cluster_ls(&dev, &keys, &[]);
    assert!(ok, "environment keys: {out}");
    assert!(out.contains("default"), "{out}");

    let files = gantry_tests::TempDir::new("cli-creds");
    let file = files.path().join("credentials");
    std::fs::write(
        &file,
        format!(
            "[default]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n\n[ops]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n"
        ),
    )
    .expect("credentials file");
    let path = file.display().to_string();
    let (ok, out) = cluster_ls(&dev, &[("AWS_SHARED_CREDENTIALS_FILE", &path)], &[]);
    assert!(ok, "shared credentials file: {out}");
    let (ok, out) = cluster_ls(
        &dev,
        &[("AWS_SHARED_CREDENTIALS_FILE", &path)],
        &["--profile", "ops"],
    );
    assert!(ok, "--profile: {out}");

    let (ok, out) = cluster_ls(&dev, &[], &[]);
    assert!(!ok, "no credentials must fail: {out}");
    assert!(out.contains("no AWS credentials found"), "{out}");
    assert!(out.contains("<state-dir>/credentials"), "{out}");
    assert!(!out.contains("could not reach"), "nothing was sent: {out}");

    let (ok, out) = cluster_ls(
        &dev,
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            (
                "AWS_SECRET_ACCESS_KEY",
                "not-the-secret-0000000000000000000000000",
            ),
        ],
        &[],
    );
    assert!(!ok, "a wrong secret must be refused: {out}");
    assert!(out.contains("InvalidSignatureException"), "{out}");

    let (ok, out) = cluster_ls(
        &dev,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000"),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ],
        &[],
    );
    assert!(!ok, "an unknown key must be refused: {out}");
    assert!(out.contains("UnrecognizedClientException"), "{out}");

    let (ok, out) = cluster_ls(&dev, &keys, &["--region", "eu-west-3"]);
    assert!(!ok, "a signature for another region must be refused: {out}");
    assert!(out.contains("InvalidSignatureException"), "{out}");
    assert!(dev.shutdown().await.is_empty());
}
