//! From a local OCI layout (built by rootfs-tools) to a mounted overlay rootfs.
//! Runs as root on a real kernel.

mod common;

use std::path::PathBuf;

use anyhow::Result;
use common::TempDir;
use gantry_image::{mount_rootfs, unmount_rootfs, ImageStore, ImageStoreConfig, PullPolicy};

fn store(images: &TempDir, root: &TempDir) -> Result<ImageStore> {
    let mut cfg = ImageStoreConfig::new(root.path().join("store"));
    cfg.layouts = vec![images.path().join("busybox"), images.path().join("web")];
    Ok(ImageStore::open(cfg)?)
}

/// Unmounts on drop so a failed assertion leaves no mount behind.
struct Mounted(PathBuf);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount_rootfs(&self.0);
    }
}

#[tokio::test]
async fn ensure_from_layout_and_mount() -> Result<()> {
    let images = TempDir::new("images");
    common::build_images(images.path())?;
    let root = TempDir::new("store");
    let store = store(&images, &root)?;

    let bb = store
        .ensure("busybox:latest", PullPolicy::Always, None)
        .await?;
    assert!(bb.digest.starts_with("sha256:"));
    assert_eq!(bb.config.cmd, vec!["sh"]);
    assert!(bb.config.env.iter().any(|e| e.starts_with("PATH=")));
    assert_eq!(bb.layers.len(), 1);

    // Other spellings of the same name match the same layout.
    for name in [
        "gantry.local/busybox:latest",
        "docker.io/library/busybox:latest",
    ] {
        let again = store.ensure(name, PullPolicy::Default, None).await?;
        assert_eq!(again.digest, bb.digest);
        assert_eq!(again.layers, bb.layers);
    }

    let web = store.ensure("web", PullPolicy::Default, None).await?;
    assert_eq!(web.layers.len(), 2);
    assert_eq!(web.layers[0], bb.layers[0], "the busybox layer is shared");
    assert_eq!(web.config.cmd[0], "httpd");

    let dir = root.path().join("ctr");
    let guard = Mounted(dir.clone());
    let rootfs = mount_rootfs(&web.layers, &dir)?;
    assert_eq!(
        mount_rootfs(&web.layers, &dir)?,
        rootfs,
        "mounting twice is a no-op"
    );
    assert!(std::fs::symlink_metadata(rootfs.join("bin/sh")).is_ok());
    assert!(rootfs.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("www/index.html"))?,
        "Hello from Gantry\n"
    );
    // Writes go to the upper dir, never to the shared layer.
    std::fs::write(rootfs.join("tmp/scratch"), "x")?;
    assert!(dir.join("upper/tmp/scratch").is_file());
    assert!(!web.layers[0].join("tmp/scratch").exists());
    unmount_rootfs(&dir)?;
    assert!(!rootfs.join("bin/sh").exists());
    unmount_rootfs(&dir)?;
    drop(guard);
    Ok(())
}

#[tokio::test]
async fn concurrent_ensure_unpacks_once() -> Result<()> {
    let images = TempDir::new("images");
    common::build_images(images.path())?;
    let root = TempDir::new("store");
    let store = store(&images, &root)?;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.ensure("web:latest", PullPolicy::Default, None).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await??);
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let layers = std::fs::read_dir(root.path().join("store/layers"))?.count();
    assert_eq!(layers, 2);
    let tmp = std::fs::read_dir(root.path().join("store/tmp"))?.count();
    assert_eq!(tmp, 0, "no temp debris");
    Ok(())
}

#[tokio::test]
async fn bad_references_and_unknown_images_fail_clearly() -> Result<()> {
    let root = TempDir::new("store");
    let store = ImageStore::open(ImageStoreConfig::new(root.path()))?;
    let err = store
        .ensure("Not A Reference", PullPolicy::Default, None)
        .await
        .expect_err("invalid");
    assert!(err
        .cannot_pull_reason()
        .starts_with("CannotPullContainerError: invalid image reference"));
    Ok(())
}
