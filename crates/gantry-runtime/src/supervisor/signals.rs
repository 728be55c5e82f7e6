//! Signals as data: SIGCHLD, SIGTERM and SIGINT are blocked and read from a signalfd, so the
//! supervisor's single thread handles them in its loop instead of in async handlers.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the signals we handle and opens the signalfd; ignores SIGPIPE so a departed
    /// agent (closed stdout) cannot kill us. Containers get both undone (see `launch`).
    pub fn install() -> nix::Result<Self> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
        // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety concern;
        // we are single-threaded at this point.
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Self { fd })
    }

    /// Waits up to `timeout` (forever if `None`) for a signal or for one of `extra` to be
    /// readable (or hung up), and returns every signal that arrived.
    pub fn wait(
        &mut self,
        timeout: Option<Duration>,
        extra: &[BorrowedFd<'_>],
    ) -> nix::Result<Vec<Signal>> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.as_millis().clamp(1, i32::MAX as u128);
                PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        fds.extend(extra.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)));
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
        self.drain()
    }

    /// Returns pending signals without waiting.
    pub fn drain(&mut self) -> nix::Result<Vec<Signal>> {
        let mut got = Vec::new();
        while let Some(info) = self.fd.read_signal()? {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                got.push(sig);
            }
        }
        Ok(got)
    }
}

/// Undoes `Signals::install` in a process about to exec a workload: the signal mask and
/// ignored dispositions survive execve, and a container must start with neither.
pub fn reset_for_exec() {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: SIG_DFL installs no handler; this runs in the single-threaded container init
    // right before execve.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
