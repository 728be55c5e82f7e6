//! Cold pull of the rootfs-tools busybox image from a loopback registry:
//! `ImageStore::ensure` (fresh store each run) vs `skopeo copy` + `umoci unpack`.
//! Run with `cargo bench -p gantry-image --bench pull` (as root).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use common::TempDir;
use gantry_image::{ImageStore, ImageStoreConfig, PullPolicy};

const RUNS: usize = 10;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let images = TempDir::new("bench-images");
    common::build_images(images.path())?;
    let registry = common::Registry::start(None)?;
    registry.push(images.path(), None)?;
    let reference = format!("{}/busybox:latest", registry.addr);
    let rt = tokio::runtime::Runtime::new()?;

    let mut gantry = Vec::new();
    for _ in 0..RUNS {
        let root = TempDir::new("bench-store");
        let t = Instant::now();
        let store = ImageStore::open(ImageStoreConfig::new(root.path()))?;
        rt.block_on(store.ensure(&reference, PullPolicy::Always, None))?;
        gantry.push(t.elapsed());
    }

    let mut skopeo = Vec::new();
    for _ in 0..RUNS {
        let tmp = TempDir::new("bench-skopeo");
        let layout = tmp.path().join("oci");
        let t = Instant::now();
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &format!("oci:{}:latest", layout.display()),
        ]))?;
        run(Command::new("umoci").args([
            "unpack",
            "--image",
            &format!("{}:latest", layout.display()),
            &tmp.path().join("bundle").display().to_string(),
        ]))?;
        skopeo.push(t.elapsed());
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (g, s) = (median(gantry.clone()), median(skopeo.clone()));
    println!("cold pull of {reference} (busybox, 1 layer, ~1 MiB gzip), {RUNS} runs each");
    println!("| method | median ms | min ms | max ms |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, v, m) in [
        ("gantry-image ensure (fresh store)", &gantry, g),
        ("skopeo copy + umoci unpack", &skopeo, s),
    ] {
        let min = v.iter().min().copied().unwrap_or_default();
        let max = v.iter().max().copied().unwrap_or_default();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            ms(m),
            ms(min),
            ms(max)
        );
    }
    Ok(())
}
