//! A container's stdout and stderr: pipes the supervisor drains into its log file.
//!
//! The container never writes to anything the agent must read: the supervisor empties the
//! pipes in its poll loop, so output neither blocks the container nor waits for the agent.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::event::now;
use crate::logs::{LineSplitter, LogRecord, RotatingFile, Stream, MAX_RECORD_BYTES};

/// Pipe capacity asked of the kernel (its default `pipe-max-size`): a container can write
/// this much while the supervisor is busy (starting another container) without blocking.
const PIPE_BYTES: i32 = 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Per pipe and per pass, so a flood on one pipe cannot starve signals or the other pipes.
const MAX_READ_PER_PASS: usize = 1024 * 1024;

/// The container's ends, handed to libcontainer (closed in the supervisor once it starts).
#[derive(Debug)]
pub struct ContainerEnds {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

#[derive(Debug)]
struct Pipe {
    stream: Stream,
    /// `None` once the stream ended (EOF).
    reader: Option<File>,
    splitter: LineSplitter,
}

#[derive(Debug)]
pub struct Output {
    pipes: [Pipe; 2],
    log: RotatingFile,
    /// Write errors are reported once, not once per line.
    write_failed: bool,
}

impl Output {
    /// Opens the log file and makes the two pipes.
    pub fn open(
        log_path: &Path,
        max_bytes: u64,
        max_files: u32,
    ) -> std::io::Result<(Self, ContainerEnds)> {
        let log = RotatingFile::open(log_path, max_bytes, max_files)?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let pipe = |stream, reader| Pipe {
            stream,
            reader: Some(File::from(reader)),
            splitter: LineSplitter::new(MAX_RECORD_BYTES),
        };
        let output = Output {
            pipes: [pipe(Stream::Stdout, out_r), pipe(Stream::Stderr, err_r)],
            log,
            write_failed: false,
        };
        Ok((
            output,
            ContainerEnds {
                stdout: out_w,
                stderr: err_w,
            },
        ))
    }

    /// The read ends still open, for `poll`.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes
            .iter()
            .filter_map(|p| p.reader.as_ref().map(|r| r.as_fd()))
    }

    pub fn is_closed(&self) -> bool {
        self.pipes.iter().all(|p| p.reader.is_none())
    }

    /// Reads what is available (bounded per pass), writes it as records, flushes.
    pub fn drain(&mut self) {
        for i in 0..self.pipes.len() {
            self.drain_pipe(i);
        }
        let result = self.log.flush();
        self.note(result);
    }

    fn drain_pipe(&mut self, i: usize) {
        let mut buf = [0u8; READ_CHUNK];
        let mut total = 0;
        while total < MAX_READ_PER_PASS {
            let pipe = &mut self.pipes[i];
            let Some(reader) = pipe.reader.as_mut() else {
                return;
            };
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    eprintln!("gantry supervisor: reading container output: {e}");
                    0
                }
            };
            total += n;
            let ts = now();
            let stream = pipe.stream;
            let log = &mut self.log;
            let mut failed = None;
            let mut emit = |bytes: &[u8], partial: bool| {
                let record = LogRecord {
                    ts,
                    stream,
                    log: String::from_utf8_lossy(bytes).into_owned(),
                    partial,
                };
                if let Err(e) = log.append(&record) {
                    failed = Some(e);
                }
            };
            if n == 0 {
                pipe.splitter.finish(&mut emit);
                pipe.reader = None;
            } else {
                pipe.splitter.push(&buf[..n], &mut emit);
            }
            if let Some(e) = failed {
                self.note(Err(e));
            }
        }
    }

    fn note(&mut self, result: std::io::Result<()>) {
        match result {
            Err(e) if !self.write_failed => {
                self.write_failed = true;
                eprintln!(
                    "gantry supervisor: cannot write {} (output is dropped until it can): {e}",
                    self.log.path().display()
                );
            }
            Err(_) => {}
            Ok(()) => self.write_failed = false,
        }
    }
}

/// A pipe with a non-blocking read end (ours) and a blocking write end (the container's);
/// both close-on-exec, so no other container inherits them.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    fcntl(r.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    // Best effort: a lower pipe-max-size leaves the default (64 KiB), which still works.
    if let Err(e) = fcntl(w.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_BYTES)) {
        eprintln!("gantry supervisor: cannot grow the output pipe to {PIPE_BYTES} bytes: {e}");
    }
    Ok((r, w))
}
