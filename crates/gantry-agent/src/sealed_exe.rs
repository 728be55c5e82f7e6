//! CVE-2019-5736: while a container is being set up, its process is a clone of the
//! supervisor, so `/proc/<pid>/exe` points at the binary that started it. If that were the
//! `gantry` file on disk, a hostile container could open it through `/proc` and overwrite it.
//! libcontainer leaves this to its caller. The agent copies its own binary once into a sealed
//! memfd (no writes, no resizing, seals locked) and starts every supervisor from it, so what a
//! container can reach is an immutable in-memory copy; the file on disk is never exposed.
//! Cost: one copy of the binary in memory per agent, made once at start.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// A sealed in-memory copy of an executable, kept open for the agent's lifetime.
#[derive(Debug)]
pub struct SealedExe {
    fd: OwnedFd,
}

impl SealedExe {
    /// Copies `source` into a new memfd and seals it.
    pub fn copy_of(source: &std::path::Path) -> io::Result<Self> {
        let fd = memfd_create(
            c"gantry-supervisor",
            MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
        )?;
        let mut dst = File::from(fd);
        let mut src = File::open(source)?;
        io::copy(&mut src, &mut dst)?;
        let seals = SealFlag::F_SEAL_SEAL
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE;
        fcntl(dst.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
        Ok(Self { fd: dst.into() })
    }

    /// The path that executes the sealed copy. A child resolves it before the
    /// close-on-exec descriptor goes away, so it works with `Command`.
    pub fn exec_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sealed_copy_runs_and_refuses_writes() {
        let sealed = SealedExe::copy_of(std::path::Path::new("/bin/true")).expect("seal");
        let st = std::process::Command::new(sealed.exec_path())
            .status()
            .expect("exec the sealed copy");
        assert!(st.success());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(sealed.exec_path())
            .expect("open for write");
        let err = f
            .write_all(b"overwrite")
            .expect_err("a sealed memfd refuses writes");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }
}
