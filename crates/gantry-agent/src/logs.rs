//! Serves `gantry logs`: reads a task's container logs (the supervisor's record files) and
//! sends them up the session in chunks, following new lines when asked.

use std::path::PathBuf;
use std::time::Duration;

use gantry_api::protocol::{AgentFrame, LogLine, LogsRequest};
use gantry_runtime::logs::{LogRecord, Stream};
use gantry_runtime::TaskDir;
use tokio::sync::mpsc;

const CHUNK: usize = 500;
const FOLLOW_POLL: Duration = Duration::from_millis(250);

fn containers(task: &TaskDir, only: Option<&str>) -> Vec<String> {
    if let Some(c) = only {
        return vec![c.to_string()];
    }
    let mut names: Vec<String> = std::fs::read_dir(task.logs())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log").map(String::from)
        })
        .collect();
    names.sort();
    names
}

fn line(container: &str, r: LogRecord) -> LogLine {
    LogLine {
        container: container.to_string(),
        ts: r.ts,
        stream: match r.stream {
            Stream::Stdout => "stdout".to_string(),
            Stream::Stderr => "stderr".to_string(),
        },
        log: r.log,
    }
}

fn ended(task: &TaskDir) -> bool {
    gantry_runtime::client::read_events(task.root())
        .map(|evs| {
            evs.iter()
                .any(|e| matches!(e, gantry_runtime::event::SupervisorEvent::TaskExited { .. }))
        })
        .unwrap_or(true)
}

/// Reads what is there now: per container, records after `since`, skipping the `seen` records
/// that carry exactly `since` (they were sent already).
fn read_once(
    task: &TaskDir,
    names: &[String],
    since: &mut [(f64, usize)],
    tail: Option<usize>,
) -> Result<Vec<LogLine>, String> {
    let log_dir = task.logs();
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (from, seen) = since[i];
        let from_opt = (from > 0.0).then_some(from);
        let records = gantry_runtime::client::read_logs(&log_dir, name, from_opt, tail)
            .map_err(|e| e.to_string())?;
        let mut skip = seen;
        for r in records {
            if r.ts < from {
                continue;
            }
            if r.ts == from && skip > 0 {
                skip -= 1;
                continue;
            }
            if r.ts == since[i].0 {
                since[i].1 += 1;
            } else {
                since[i] = (r.ts, 1);
            }
            out.push(line(name, r));
        }
    }
    out.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    Ok(out)
}

/// Answers one request on `out`; returns when done (or when the session is gone).
pub async fn serve(tasks_dir: PathBuf, req: LogsRequest, out: mpsc::UnboundedSender<AgentFrame>) {
    let task = TaskDir::under(&tasks_dir, &req.task_id);
    let send = |lines: Vec<LogLine>, done: bool, error: Option<String>| {
        out.send(AgentFrame::LogsChunk {
            request_id: req.request_id,
            lines,
            done,
            error,
        })
        .is_ok()
    };
    // A task placed a moment ago may not have its directory yet.
    if req.follow {
        for _ in 0..40 {
            if task.logs().is_dir() {
                break;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
    if !task.root().is_dir() {
        send(
            Vec::new(),
            true,
            Some(format!(
                "task {} has no logs on this instance (it never ran here, or its directory was cleaned up)",
                req.task_id
            )),
        );
        return;
    }
    let mut names: Vec<String> = Vec::new();
    let mut since: Vec<(f64, usize)> = Vec::new();
    let mut tail = req.tail;
    loop {
        let finished = ended(&task);
        // Containers start one after another: pick up log files that appeared since.
        for n in containers(&task, req.container.as_deref()) {
            if !names.contains(&n) {
                names.push(n);
                since.push((req.since.unwrap_or(0.0), 0));
            }
        }
        let dir = task.clone();
        let ns = names.clone();
        let mut s = since.clone();
        let read = tokio::task::spawn_blocking(move || {
            let r = read_once(&dir, &ns, &mut s, tail);
            (r, s)
        })
        .await;
        let (lines, s) = match read {
            Ok((Ok(lines), s)) => (lines, s),
            Ok((Err(e), _)) => {
                send(Vec::new(), true, Some(e));
                return;
            }
            Err(e) => {
                send(Vec::new(), true, Some(e.to_string()));
                return;
            }
        };
        since = s;
        tail = None;
        let mut chunks = lines.chunks(CHUNK).peekable();
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            if !send(c.to_vec(), last && (!req.follow || finished), None) {
                return;
            }
        }
        if !req.follow || finished {
            if lines.is_empty() {
                send(Vec::new(), true, None);
            }
            return;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}
