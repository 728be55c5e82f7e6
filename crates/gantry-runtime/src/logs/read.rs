//! Reading a container's log records back, across rotated files, oldest first.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufRead;
use std::path::Path;

use super::{log_file, rotated_file, LogRecord};

/// Gives up looking for older files past this many (a bound, not a limit we write).
const MAX_ROTATED_SCAN: u32 = 1000;

/// Records of `container` in `log_dir`, oldest first: those at or after `since` (epoch
/// seconds), then only the last `tail`. A line that is not a record (the supervisor was
/// writing it as we read, or was killed mid-write) is skipped. No log yet: empty.
pub fn read_logs(
    log_dir: &Path,
    container: &str,
    since: Option<f64>,
    tail: Option<usize>,
) -> std::io::Result<Vec<LogRecord>> {
    let current = log_file(log_dir, container);
    // Open every file before reading any: an open file keeps its contents through a
    // rotation that renames it meanwhile.
    let mut files = Vec::new();
    for n in 0..MAX_ROTATED_SCAN {
        match File::open(rotated_file(&current, n)) {
            Ok(f) => files.push(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if n > 0 {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    let keep = tail.unwrap_or(usize::MAX);
    let mut out = VecDeque::new();
    if keep == 0 {
        return Ok(Vec::new());
    }
    for file in files.into_iter().rev() {
        for line in std::io::BufReader::new(file).split(b'\n') {
            let Ok(record) = serde_json::from_slice::<LogRecord>(&line?) else {
                continue;
            };
            if since.is_some_and(|s| record.ts < s) {
                continue;
            }
            if out.len() == keep {
                out.pop_front();
            }
            out.push_back(record);
        }
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::super::Stream;
    use super::*;

    #[test]
    fn since_tail_and_torn_lines() {
        let dir = std::env::temp_dir().join(format!("gantry-readlogs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert!(read_logs(&dir, "c", None, None).expect("empty").is_empty());
        let rec = |ts: f64, log: &str| {
            let r = LogRecord {
                ts,
                stream: Stream::Stderr,
                log: log.into(),
                partial: false,
            };
            serde_json::to_string(&r).expect("json") + "\n"
        };
        let current = log_file(&dir, "c");
        std::fs::write(rotated_file(&current, 2), rec(1.0, "a") + &rec(2.0, "b")).expect("w");
        std::fs::write(rotated_file(&current, 1), rec(3.0, "c")).expect("w");
        std::fs::write(&current, rec(4.0, "d") + &rec(5.0, "e") + "{\"ts\":6").expect("w");
        let logs = |since, tail| -> Vec<String> {
            read_logs(&dir, "c", since, tail)
                .expect("read")
                .into_iter()
                .map(|r| r.log)
                .collect()
        };
        assert_eq!(logs(None, None), ["a", "b", "c", "d", "e"]);
        assert_eq!(logs(Some(2.5), None), ["c", "d", "e"]);
        assert_eq!(logs(None, Some(2)), ["d", "e"]);
        assert_eq!(logs(Some(4.5), Some(3)), ["e"]);
        assert!(logs(None, Some(0)).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wire_shape() {
        let r = LogRecord {
            ts: 1.5,
            stream: Stream::Stdout,
            log: "hi \"x\"".into(),
            partial: false,
        };
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            r#"{"ts":1.5,"stream":"stdout","log":"hi \"x\""}"#
        );
        let p: LogRecord =
            serde_json::from_str(r#"{"ts":1,"stream":"stderr","log":"x","partial":true}"#)
                .expect("parse");
        assert!(p.partial);
    }
}
