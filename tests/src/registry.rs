//! A real OCI registry (Debian's `docker-registry`) on a loopback port, with the test images
//! pushed by rootfs-tools.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::TempDir;

pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: TempDir,
}

impl Registry {
    /// Starts a registry; with `auth`, it requires basic auth with those credentials.
    pub fn start(auth: Option<(&str, &str)>) -> Self {
        let dir = TempDir::new("registry");
        let port = crate::free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd (apache2-utils)");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: gantry-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("write registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        let reg = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let layouts = crate::images::layouts();
        let mut push = Command::new("bash");
        push.arg(crate::workspace().join("rootfs-tools").join("push.sh"))
            .arg(&layouts)
            .arg(&reg.addr);
        if let Some((user, pass)) = auth {
            push.arg(format!("{user}:{pass}"));
        }
        let st = push.status().expect("rootfs-tools/push.sh");
        assert!(st.success(), "pushing the test images failed");
        reg
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
