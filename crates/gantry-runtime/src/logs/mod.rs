//! Container logs: what the supervisor writes and `gantry logs` reads.
//!
//! Each container has `<log dir>/<container>.log`, one JSON [`LogRecord`] a line. When the
//! file would pass the task's `log_max_bytes` it is renamed to `.1` (older ones shift to
//! `.2`, ...) and a new one is started; at most `log_max_files` files are kept, the current
//! one included (Docker's `max-file`).

mod read;
mod rotate;
mod split;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use read::read_logs;
pub use rotate::RotatingFile;
pub use split::LineSplitter;

/// Default size at which a log file is rotated.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of files kept per container, the current one included.
pub const DEFAULT_LOG_MAX_FILES: u32 = 5;
/// Longer lines are split into records of at most this many bytes, all but the last
/// marked `partial` (Docker splits at 16 KiB too).
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line (or one piece of a long line) of container output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When the supervisor read it, in seconds since the epoch.
    pub ts: f64,
    pub stream: Stream,
    /// The text, without its newline; invalid UTF-8 is replaced by U+FFFD.
    pub log: String,
    /// The output did not end with a newline here: the line was longer than
    /// [`MAX_RECORD_BYTES`] and continues in the next record of the same stream, or the
    /// stream ended without a final newline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// `<log_dir>/<container>.log`.
pub fn log_file(log_dir: &Path, container: &str) -> PathBuf {
    log_dir.join(format!("{container}.log"))
}

/// The `n`th rotated file of `current` (`x.log` -> `x.log.1`); `n == 0` is `current`.
pub fn rotated_file(current: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return current.to_path_buf();
    }
    let mut name = current.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}
