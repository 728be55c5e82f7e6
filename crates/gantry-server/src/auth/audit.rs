//! The audit log: one JSON line per request, allowed or denied, in the spirit of CloudTrail,
//! appended to `<state_dir>/audit/audit.log` and rotated by size (`audit.log.1` is the
//! newest rotated file). Lines go to a writer thread through a bounded channel, so a slow or
//! full disk never blocks or fails a request: when the channel is full the line is dropped,
//! counted, and the count is logged. A record holds no secret and no request body.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use serde::{Deserialize, Serialize};

/// The file name inside the audit directory.
pub const FILE: &str = "audit.log";
/// Rotate when the file would pass this size.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Rotated files kept (`audit.log.1` … `audit.log.5`).
pub const KEEP: usize = 5;
/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 8192;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// RFC 3339 with milliseconds, UTC.
    pub time: String,
    pub request_id: String,
    /// Absent when the request was not authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    pub source_ip: String,
    /// The API's signing name: `ecs`, `iam`, `sts`.
    pub service: String,
    /// The operation (`RunTask`, `CreateUser`, the gateway's `RegisterContainerInstance`).
    pub action: String,
    /// The resource ARNs it was authorized on.
    #[serde(default)]
    pub resources: Vec<String>,
    /// `Allow` or `Deny` (refused authentication is a `Deny` too).
    pub decision: Decision,
    /// The error the request was answered with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// Whether the gate let the request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Allow,
    Deny,
}

/// The sending side, held by the server state.
#[derive(Debug)]
pub struct AuditLog {
    tx: Option<SyncSender<Record>>,
    dropped: std::sync::Arc<AtomicU64>,
}

impl AuditLog {
    /// No audit log (a server without a state dir: unit tests).
    pub fn off() -> Self {
        Self {
            tx: None,
            dropped: Default::default(),
        }
    }

    /// Starts the writer thread for `dir` (`<state_dir>/audit`).
    pub fn open(dir: PathBuf) -> Self {
        Self::open_with(dir, MAX_BYTES, KEEP)
    }

    /// [`Self::open`] with a rotation size and count (tests rotate small files).
    pub fn open_with(dir: PathBuf, max_bytes: u64, keep: usize) -> Self {
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let seen = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("gantry-audit".into())
            .spawn(move || write_loop(&dir, max_bytes, keep, &rx, &seen));
        match spawned {
            Ok(_) => Self {
                tx: Some(tx),
                dropped,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the audit log writer; requests are not audited");
                Self::off()
            }
        }
    }

    /// Queues `rec`; never blocks.
    pub fn record(&self, rec: Record) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(rec) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the writer fell behind or failed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

struct Sink {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    size: u64,
}

impl Sink {
    fn open(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE);
        let file = open_append(&path)?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(Self {
            path,
            file: Some(BufWriter::new(file)),
            size,
        })
    }

    fn write(&mut self, line: &[u8], max: u64, keep: usize) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > max {
            self.rotate(keep)?;
        }
        let f = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(BufWriter::new(open_append(&self.path)?)),
        };
        f.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self, keep: usize) -> std::io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()?;
        }
        let name = |n: usize| self.path.with_file_name(format!("{FILE}.{n}"));
        let _ = fs::remove_file(name(keep));
        for n in (1..keep).rev() {
            let _ = fs::rename(name(n), name(n + 1));
        }
        if keep > 0 {
            fs::rename(&self.path, name(1))?;
        } else {
            fs::remove_file(&self.path)?;
        }
        self.size = 0;
        self.file = Some(BufWriter::new(open_append(&self.path)?));
        Ok(())
    }

    fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Who did what is for the operator only.
        o.mode(0o600);
    }
    o.open(path)
}

fn write_loop(dir: &Path, max: u64, keep: usize, rx: &Receiver<Record>, dropped: &AtomicU64) {
    let mut sink = match Sink::open(dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot open the audit log; requests are not audited");
            for _ in rx.iter() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
    };
    let mut reported = 0;
    let write = |sink: &mut Sink, rec: &Record| {
        let mut line = serde_json::to_vec(rec).unwrap_or_default();
        line.push(b'\n');
        if let Err(e) = sink.write(&line, max, keep) {
            dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cannot write the audit log");
            sink.file = None;
        }
    };
    while let Ok(rec) = rx.recv() {
        write(&mut sink, &rec);
        // Write what else is queued, then flush, so `gantry audit` sees a request as soon
        // as it was answered while bursts still share one write.
        while let Ok(rec) = rx.try_recv() {
            write(&mut sink, &rec);
        }
        sink.flush();
        let d = dropped.load(Ordering::Relaxed);
        if d > reported {
            tracing::warn!(
                dropped = d,
                "audit log lines dropped (the writer fell behind or failed)"
            );
            reported = d;
        }
    }
    sink.flush();
}

/// Every audit record under `dir`, oldest first (rotated files, then the current one).
/// Unreadable lines are skipped.
pub fn read_all(dir: &Path) -> std::io::Result<Vec<Record>> {
    let mut files: Vec<PathBuf> = (1..=64)
        .rev()
        .map(|n| dir.join(format!("{FILE}.{n}")))
        .filter(|p| p.exists())
        .collect();
    files.push(dir.join(FILE));
    let mut out = Vec::new();
    for f in files {
        let text = match fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Record>(l).ok()),
        );
    }
    Ok(out)
}

impl Record {
    /// A record for a request that arrived at `now`, before anything is known of its caller.
    pub fn begin(now: f64, request_id: &str, source_ip: std::net::IpAddr, service: &str) -> Self {
        Self {
            time: super::dates::rfc3339_millis(now),
            request_id: request_id.to_string(),
            principal_arn: None,
            access_key_id: None,
            source_ip: source_ip.to_string(),
            service: service.to_string(),
            action: String::new(),
            resources: Vec::new(),
            decision: Decision::Deny,
            error_code: None,
        }
    }

    /// Notes who made the request.
    pub fn caller(&mut self, c: &super::Caller) {
        self.principal_arn = Some(c.principal.arn.clone());
        self.access_key_id = (!c.access_key_id.is_empty()).then(|| c.access_key_id.clone());
    }

    /// Notes the resources a request is authorized on (each once, in order).
    pub fn accesses(&mut self, accesses: &[super::Access]) {
        for a in accesses {
            if !self.resources.contains(&a.resource) {
                self.resources.push(a.resource.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize) -> Record {
        let mut r = Record::begin(
            1_700_000_000.5,
            &format!("rid-{n}"),
            [127, 0, 0, 1].into(),
            "ecs",
        );
        r.action = "ListClusters".into();
        r.decision = Decision::Allow;
        r
    }

    fn wait_for(dir: &Path, n: usize) -> Vec<Record> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let got = read_all(dir).unwrap();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn writes_one_line_a_request_and_rotates_by_size() {
        let dir = std::env::temp_dir().join(format!("gantry-audit-{}", uuid::Uuid::new_v4()));
        let log = AuditLog::open_with(dir.clone(), 600, 2);
        for n in 0..12 {
            log.record(rec(n));
        }
        // Rotation keeps 2 old files, so the oldest lines are gone; what is left is in order.
        // The writer thread works behind a queue: wait until it wrote the last record (and
        // so every rotation before it), not merely until some rotation happened.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !fs::read_to_string(dir.join(FILE))
            .is_ok_and(|t| t.contains(r#""requestId":"rid-11""#))
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        drop(log);
        let got = wait_for(&dir, 1);
        assert!(!got.is_empty() && got.len() < 12, "{}", got.len());
        let ids: Vec<_> = got.iter().map(|r| r.request_id.clone()).collect();
        assert_eq!(ids.last().map(String::as_str), Some("rid-11"));
        let mut sorted = ids.clone();
        sorted.sort_by_key(|i| i[4..].parse::<u32>().unwrap());
        assert_eq!(ids, sorted);
        assert!(!dir.join(format!("{FILE}.3")).exists());
        let line = fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(line.contains(r#""requestId":"rid-11""#), "{line}");
        assert!(
            line.contains(r#""time":"2023-11-14T22:13:20.500Z""#),
            "{line}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
