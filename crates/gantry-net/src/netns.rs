//! Network namespaces pinned to files, made the way `ip netns add` makes them: a thread
//! unshares its network namespace and bind-mounts `/proc/thread-self/ns/net` onto a file.
//! Only that thread changes namespace, so this is safe inside the agent's async runtime.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::NetError;

/// Where the namespace of a task is pinned under `run_dir`.
pub fn netns_path(run_dir: &Path, task_id: &str) -> PathBuf {
    run_dir.join("netns").join(task_id)
}

/// The task ids with a namespace pinned under `run_dir`.
pub(crate) fn pinned(run_dir: &Path) -> io::Result<Vec<String>> {
    match fs::read_dir(run_dir.join("netns")) {
        Ok(dir) => Ok(dir
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Unpins and removes the namespace file; fine if it is gone. The namespace itself dies
/// with its last user (the task's containers are gone by then), taking `eth0` with it.
pub(crate) fn remove_pinned(path: &Path) -> Result<(), NetError> {
    if !path.exists() {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(NetError::Remove {
                path: path.to_path_buf(),
                source: e.into(),
            })
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub(crate) fn create_pinned(path: &Path, task_id: &str) -> Result<(), NetError> {
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
