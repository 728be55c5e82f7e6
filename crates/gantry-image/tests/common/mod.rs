//! Test fixtures: temp dirs, the rootfs-tools images, a loopback docker-registry.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub mod oci;

/// A directory removed (after unmounting anything under `rootfs`) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "gantry-image-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn rootfs_tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rootfs-tools")
}

/// Runs rootfs-tools/build-images.sh into `out` (layouts `out/busybox`, `out/web`).
pub fn build_images(out: &Path) -> Result<()> {
    let status = Command::new(rootfs_tools().join("build-images.sh"))
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .context("running build-images.sh")?;
    if !status.success() {
        bail!("build-images.sh failed: {status}");
    }
    Ok(())
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A docker-registry on 127.0.0.1; killed and its storage removed on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: TempDir,
}

impl Registry {
    /// `htpasswd`: Some((user, pass)) enables basic auth.
    pub fn start(htpasswd: Option<(&str, &str)>) -> Result<Self> {
        let dir = TempDir::new("registry");
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .context("running htpasswd")?;
            if !out.status.success() {
                bail!("htpasswd failed");
            }
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout)?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: gantry-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log"))?)
            .spawn()
            .context("starting docker-registry")?;
        let reg = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            if Instant::now() > deadline {
                bail!("docker-registry did not listen on {}", reg.addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(reg)
    }

    /// rootfs-tools/push.sh of the layouts in `images`.
    pub fn push(&self, images: &Path, creds: Option<&str>) -> Result<()> {
        let mut cmd = Command::new(rootfs_tools().join("push.sh"));
        cmd.arg(images).arg(&self.addr).stdout(Stdio::null());
        if let Some(c) = creds {
            cmd.arg(c);
        }
        let status = cmd.status().context("running push.sh")?;
        if !status.success() {
            bail!("push.sh failed: {status}");
        }
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
