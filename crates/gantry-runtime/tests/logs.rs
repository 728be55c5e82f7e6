//! Privileged tests of container output: pipes drained by the supervisor into rotated
//! JSON-record log files, whether or not anyone reads the supervisor.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{exit_code, Task};
use gantry_runtime::client;
use gantry_runtime::logs::{rotated_file, Stream, MAX_RECORD_BYTES};
use gantry_runtime::spec::BindMount;

const LINES: usize = 20_000;
/// 48 bytes of padding: each stream writes about 1.1 MiB.
const PAD: &str = "................................................";

/// The numbers `prefix N` of `stream`'s whole lines, in order.
fn numbered(task: &Task, name: &str, stream: Stream, prefix: &str) -> Result<Vec<usize>> {
    task.records(name)?
        .into_iter()
        .filter(|r| r.stream == stream && !r.partial && r.log.starts_with(prefix))
        .map(|r| {
            r.log[prefix.len()..]
                .split_whitespace()
                .next()
                .context("no number")?
                .parse::<usize>()
                .with_context(|| format!("bad line {:?}", r.log))
        })
        .collect()
}

#[test]
fn fast_output_on_both_streams_is_complete_ordered_and_rotated() -> Result<()> {
    let mut task = Task::new("logs")?;
    task.log_max_bytes = 512 * 1024;
    task.log_max_files = 100; // keep everything, to check every line
    let script = format!(
        "i=0; while [ $i -lt {LINES} ]; do echo \"out $i {PAD}\"; echo \"err $i {PAD}\" >&2; \
         i=$((i+1)); done; head -c 40000 /dev/zero | tr '\\0' x; echo; printf tail"
    );
    task.add("chatty", &["sh", "-c", &script], true, 5, |_| {})?;
    let t0 = Instant::now();
    task.spawn()?;
    let events = task.wait_exit(Duration::from_secs(120))?;
    let took = t0.elapsed();
    ensure!(exit_code(&events, "chatty") == Some(0), "{events:#?}");

    let want: Vec<usize> = (0..LINES).collect();
    ensure!(
        numbered(&task, "chatty", Stream::Stdout, "out ")? == want,
        "stdout lost or reordered lines"
    );
    ensure!(
        numbered(&task, "chatty", Stream::Stderr, "err ")? == want,
        "stderr lost or reordered lines"
    );

    // A 40000-byte line is three records, the first two partial; the unterminated
    // last output is kept as a partial record.
    let records = task.records("chatty")?;
    let xs: Vec<_> = records
        .iter()
        .filter(|r| r.stream == Stream::Stdout && r.log.starts_with('x'))
        .collect();
    ensure!(
        xs.iter()
            .map(|r| (r.log.len(), r.partial))
            .collect::<Vec<_>>()
            == [
                (MAX_RECORD_BYTES, true),
                (MAX_RECORD_BYTES, true),
                (40_000 - 2 * MAX_RECORD_BYTES, false)
            ],
        "long line records: {:?}",
        xs.iter()
            .map(|r| (r.log.len(), r.partial))
            .collect::<Vec<_>>()
    );
    // (Order across the two streams is the order the supervisor read them in.)
    let last = records
        .iter()
        .rfind(|r| r.stream == Stream::Stdout)
        .context("no records")?;
    ensure!(last.log == "tail" && last.partial, "last record {last:?}");
    ensure!(
        records.windows(2).all(|w| w[0].ts <= w[1].ts),
        "timestamps go backwards"
    );

    // Rotation at 512 KiB: about 5 MiB of records make ~10 files, none above the limit.
    let current = gantry_runtime::logs::log_file(&task.log_dir(), "chatty");
    let mut files = 0;
    while rotated_file(&current, files).exists() {
        let size = std::fs::metadata(rotated_file(&current, files))?.len();
        ensure!(size <= 512 * 1024, "file {files} is {size} bytes");
        files += 1;
    }
    ensure!(files >= 5, "only {files} log files");
    let bytes: u64 = (0..files)
        .map(|n| std::fs::metadata(rotated_file(&current, n)).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()?;
    eprintln!(
        "logged {} records, {} KiB of output, {} KiB of log in {files} files, in {took:?}",
        records.len(),
        2 * LINES * (PAD.len() + 10) / 1024,
        bytes / 1024
    );

    // `tail` and `since` as `gantry logs` uses them.
    let tail = client::read_logs(&task.log_dir(), "chatty", None, Some(3))?;
    ensure!(tail == records[records.len() - 3..], "{tail:?}");
    let since = client::read_logs(&task.log_dir(), "chatty", Some(last.ts), None)?;
    ensure!(
        since.contains(last) && since.len() < records.len(),
        "{since:?}"
    );
    task.assert_clean()
}

/// The agent is gone from the start (nobody reads the supervisor's stdout) and the
/// container writes as fast as it can: it keeps running, far past what any pipe holds.
#[test]
fn nonstop_writer_is_never_blocked_without_an_agent() -> Result<()> {
    let mut task = Task::new("flood")?;
    task.log_max_bytes = 1024 * 1024;
    task.log_max_files = 3;
    let progress = task.dir.join("progress");
    std::fs::create_dir_all(&progress)?;
    let script = format!(
        "i=0; while :; do echo \"line $i {PAD}\"; i=$((i+1)); \
         [ $((i % 2000)) -eq 0 ] && echo $i > /progress/t && mv /progress/t /progress/n; done"
    );
    task.add("flood", &["sh", "-c", &script], true, 1, |c| {
        c.mounts = vec![BindMount {
            source: progress.clone(),
            destination: "/progress".into(),
            readonly: false,
        }];
    })?;
    task.spawn_without_agent()?;
    task.wait_started("flood")?;
    let count = || -> u64 {
        std::fs::read_to_string(progress.join("n"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0) = (count(), Instant::now());
    let mut samples = Vec::new();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        samples.push(count());
    }
    let secs = t0.elapsed().as_secs_f64();
    let line = (PAD.len() + 12) as f64;
    let rate = (samples[3] - c0) as f64 * line / secs;
    eprintln!(
        "counter {c0} -> {samples:?} over {secs:.2} s: {:.1} MiB/s of output",
        rate / (1024.0 * 1024.0)
    );
    ensure!(
        samples.windows(2).all(|w| w[1] > w[0]) && samples[0] > c0,
        "the writer stalled: {c0} -> {samples:?}"
    );
    // More than the 1 MiB pipe could hold, and the 1 MiB/s the issue asks for.
    ensure!(rate > 1024.0 * 1024.0, "only {rate} bytes/s");

    client::request_stop(&task.dir)?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "flood") == Some(137), "{events:#?}");
    // Rotation kept the disk bounded, and what is kept has no gap.
    let current = gantry_runtime::logs::log_file(&task.log_dir(), "flood");
    ensure!(
        !rotated_file(&current, 3).exists(),
        "more than 3 files kept"
    );
    let n = numbered(&task, "flood", Stream::Stdout, "line ")?;
    ensure!(n.len() > 10_000, "only {} lines kept", n.len());
    ensure!(
        n.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap in the kept lines"
    );
    task.assert_clean()
}

/// A stuck agent: the supervisor's stdout is a pipe that is already full and that nobody
/// reads, but whose read end stays open (no EPIPE). Events go to the journal anyway, the
/// container's output to its log, and the task runs to its end.
#[test]
fn a_full_event_pipe_that_nobody_reads_never_blocks_the_supervisor() -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let mut task = Task::new("stuck")?;
    task.add(
        "main",
        &["sh", "-c", "echo first; sleep 0.5; echo second"],
        true,
        1,
        |_| {},
    )?;
    let (read_end, write_end) = nix::unistd::pipe()?;
    // Fill the pipe (non-blocking, to know when it is full), then hand it over blocking.
    let fd = write_end.as_raw_fd();
    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    let chunk = [b'\n'; 4096];
    while nix::unistd::write(&write_end, &chunk).is_ok() {}
    fcntl(fd, FcntlArg::F_SETFL(OFlag::empty()))?;
    task.spawn_with_stdout(std::process::Stdio::from(write_end))?;
    let events = task.wait_exit(Duration::from_secs(30))?;
    ensure!(exit_code(&events, "main") == Some(0), "{events:#?}");
    ensure!(
        task.stdout("main") == "first\nsecond\n",
        "{}",
        task.stdout("main")
    );
    drop(read_end);
    task.assert_clean()
}
