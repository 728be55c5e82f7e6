//! A log file that rotates by size, keeping a bounded number of older files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{rotated_file, LogRecord};

/// Records are buffered and written by [`RotatingFile::flush`], once per read of the
/// container's pipes, so a chatty container costs one `write` per batch, not per line.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    /// Bytes in `file`, not counting `pending`.
    written: u64,
    pending: Vec<u8>,
    max_bytes: u64,
    max_files: u32,
}

impl RotatingFile {
    /// Opens (appends to) `path`; rotates once it would pass `max_bytes`, keeping
    /// `max_files` files in all (at least 1: then the file is simply truncated).
    pub fn open(path: &Path, max_bytes: u64, max_files: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            written,
            pending: Vec::new(),
            max_bytes: max_bytes.max(1),
            max_files: max_files.max(1),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one record (one line of JSON); rotates first if it would not fit.
    pub fn append(&mut self, record: &LogRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let size = self.written + self.pending.len() as u64;
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            self.flush()?;
            self.rotate()?;
        }
        self.pending.extend_from_slice(&line);
        Ok(())
    }

    /// Writes queued records. On failure (disk full) they are dropped, so a broken disk
    /// cannot make the supervisor hold unbounded memory or stop draining the pipes.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.pending);
        if result.is_ok() {
            self.written += self.pending.len() as u64;
        } else {
            self.written = self
                .file
                .metadata()
                .map(|m| m.len())
                .unwrap_or(self.written);
        }
        self.pending.clear();
        result
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_files == 1 {
            self.file.set_len(0)?;
            self.written = 0;
            return Ok(());
        }
        let oldest = rotated_file(&self.path, self.max_files - 1);
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (0..self.max_files - 1).rev() {
            let from = rotated_file(&self.path, n);
            match std::fs::rename(&from, rotated_file(&self.path, n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::super::Stream;
    use super::*;

    fn record(i: usize) -> LogRecord {
        LogRecord {
            // Same length for every i < 9000: ten records fill a file exactly.
            ts: 1000.0 + i as f64,
            stream: Stream::Stdout,
            log: format!("line {i:04}"),
            partial: false,
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("gantry-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("c.log");
        let line_len = serde_json::to_vec(&record(0)).expect("json").len() as u64 + 1;
        // Ten records a file.
        let mut f = RotatingFile::open(&path, line_len * 10, 3).expect("open");
        for i in 0..45 {
            f.append(&record(i)).expect("append");
            if i % 7 == 0 {
                f.flush().expect("flush");
            }
        }
        f.flush().expect("flush");
        let count = |p: PathBuf| std::fs::read_to_string(p).map(|s| s.lines().count()).ok();
        assert_eq!(count(path.clone()), Some(5));
        assert_eq!(count(rotated_file(&path, 1)), Some(10));
        assert_eq!(count(rotated_file(&path, 2)), Some(10));
        assert_eq!(count(rotated_file(&path, 3)), None, "only 3 files kept");
        let all = super::super::read_logs(&dir, "c", None, None).expect("read");
        let got: Vec<f64> = all.iter().map(|r| r.ts).collect();
        let want: Vec<f64> = (20..45).map(|i| 1000.0 + i as f64).collect();
        assert_eq!(got, want, "oldest first, across files");
        for file in 0..3 {
            let size = std::fs::metadata(rotated_file(&path, file))
                .expect("meta")
                .len();
            assert!(size <= line_len * 10, "file {file} is {size} bytes");
        }
        // Reopening continues the current file and its size accounting.
        let mut f = RotatingFile::open(&path, line_len * 10, 3).expect("reopen");
        for i in 45..50 {
            f.append(&record(i)).expect("append");
        }
        f.flush().expect("flush");
        assert_eq!(count(path.clone()), Some(10));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_single_file_is_truncated() {
        let dir = std::env::temp_dir().join(format!("gantry-rotate1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("c.log");
        let mut f = RotatingFile::open(&path, 100, 1).expect("open");
        for i in 0..20 {
            f.append(&record(i)).expect("append");
        }
        f.flush().expect("flush");
        assert!(std::fs::metadata(&path).expect("meta").len() <= 100);
        assert!(!rotated_file(&path, 1).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
