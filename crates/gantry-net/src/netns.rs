//! Network namespaces pinned to files, made the way `ip netns add` makes them: a thread
//! unshares its network namespace and bind-mounts `/proc/thread-self/ns/net` onto a file.
//! Only that thread changes namespace, so this is safe inside the agent's async runtime.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::{netns_path, Attachment, Mode, NetError, TaskNetwork};

/// The real kernel implementation.
#[derive(Debug, Clone)]
pub struct KernelNetwork {
    run_dir: PathBuf,
}

impl KernelNetwork {
    /// Namespaces are pinned under `run_dir/netns/`.
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        Self {
            run_dir: run_dir.into(),
        }
    }
}

impl TaskNetwork for KernelNetwork {
    fn setup(&self, task_id: &str, mode: Mode) -> Result<Attachment, NetError> {
        match mode {
            Mode::Host => Ok(Attachment::Host),
            Mode::None => {
                let path = netns_path(&self.run_dir, task_id);
                create_pinned(&path, task_id)?;
                Ok(Attachment::Namespace(path))
            }
        }
    }

    fn teardown(&self, task_id: &str) -> Result<(), NetError> {
        let path = netns_path(&self.run_dir, task_id);
        if !path.exists() {
            return Ok(());
        }
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(NetError::Remove {
                    path,
                    source: e.into(),
                })
            }
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(NetError::Remove { path, source }),
        }
    }
}

fn create_pinned(path: &Path, task_id: &str) -> Result<(), NetError> {
    let err = |source: io::Error| NetError::CreateNamespace {
        task: task_id.to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    fs::File::create(path).map_err(err)?;
    let target = path.to_path_buf();
    let task = task_id.to_string();
    let joined = std::thread::spawn(move || -> Result<(), NetError> {
        let err = |source: io::Error| NetError::CreateNamespace {
            task: task.clone(),
            source,
        };
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err(e.into()))?;
        loopback_up().map_err(|source| NetError::Loopback {
            task: task.clone(),
            source,
        })?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(e.into()))
    })
    .join();
    let result =
        joined.unwrap_or_else(|_| Err(err(io::Error::other("the namespace thread panicked"))));
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `sock` is a valid socket and `req` a properly initialised ifreq that outlives
    // the call; SIOCGIFFLAGS only writes into `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS just filled in.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_mode_pins_a_namespace_with_loopback_up_and_removes_it() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("gantry-net-test-{}", std::process::id()));
        let net = KernelNetwork::new(&dir);
        let att = net.setup("t1", Mode::None).expect("setup");
        let Attachment::Namespace(path) = att else {
            panic!("none mode must give a namespace")
        };
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", path.display()))
            .args(["ip", "-o", "link", "show"])
            .output()
            .expect("nsenter");
        let links = String::from_utf8_lossy(&out.stdout);
        assert_eq!(links.lines().count(), 1, "only loopback: {links}");
        assert!(links.contains("lo:") && links.contains("UP"), "{links}");
        net.teardown("t1").expect("teardown");
        net.teardown("t1").expect("teardown is idempotent");
        assert!(!path.exists());
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        assert!(!mounts.contains(&dir.display().to_string()));
        let _ = fs::remove_dir_all(&dir);
    }
}
