//! `gantry logs`: a task's container output, streamed by the server from the task's agent
//! (`GET /gantry/v1/logs`, SigV4-signed for `ecs`).

use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use futures_util::StreamExt;
use gantry_api::protocol::LogLine;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Task id or ARN (optional with --log-stream).
    pub task: Option<String>,
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Only this container.
    #[arg(long)]
    pub container: Option<String>,
    /// Keep printing new lines until the task stops.
    #[arg(long, short)]
    pub follow: bool,
    /// Only lines newer than this (e.g. 30s, 10m, 2h).
    #[arg(long)]
    pub since: Option<humantime::Duration>,
    /// Only the last N lines of each container.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Prefix each line with its time.
    #[arg(long, short = 't')]
    pub timestamps: bool,
    /// Select by awslogs stream name, as ECS names it: prefix/container-name/task-id.
    #[arg(long, value_name = "STREAM")]
    pub log_stream: Option<String>,
    /// With --log-stream: the awslogs-group the stream must be in.
    #[arg(long, value_name = "GROUP", requires = "log_stream")]
    pub log_group: Option<String>,
    /// List the task's containers with their log driver, group and stream names.
    #[arg(long)]
    pub streams: bool,
}

pub async fn run(client: &crate::client::Client, a: LogsArgs) -> anyhow::Result<()> {
    let endpoint = client.endpoint();
    let (task, container) = super::log_streams::resolve(client, &a).await?;
    if a.streams {
        let streams = super::log_streams::of_task(client, &a.cluster, &task).await?;
        super::log_streams::print(&streams);
        return Ok(());
    }
    let a = LogsArgs {
        task: Some(task.clone()),
        container,
        ..a
    };
    let mut url = reqwest::Url::parse(&format!(
        "{}/gantry/v1/logs",
        endpoint.trim_end_matches('/')
    ))
    .with_context(|| format!("{endpoint} is not a valid endpoint URL"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("cluster", &a.cluster);
        q.append_pair("task", gantry_api::arn::short_id(&task));
        if let Some(c) = &a.container {
            q.append_pair("container", c);
        }
        if a.follow {
            q.append_pair("follow", "true");
        }
        if let Some(d) = a.since {
            let since = std::time::SystemTime::now()
                .checked_sub(Duration::from(d))
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            q.append_pair("since", &since.to_string());
        }
        if let Some(n) = a.tail {
            q.append_pair("tail", &n.to_string());
        }
    }
    // Signed like every API call: logs can hold anything a container printed.
    let resp = client.get(url).await?;
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut containers = std::collections::BTreeSet::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.context("the log stream broke off")?);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buf.drain(..=pos).collect();
            let value: serde_json::Value = match serde_json::from_slice(&raw) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if let Some(err) = value.get("error").and_then(|e| e.as_str()) {
                return Err(anyhow!("{err}"));
            }
            let Ok(line) = serde_json::from_value::<LogLine>(value) else {
                continue;
            };
            containers.insert(line.container.clone());
            print_line(&line, a.timestamps, a.container.is_none());
        }
    }
    Ok(())
}

fn print_line(l: &LogLine, timestamps: bool, show_container: bool) {
    let mut prefix = String::new();
    if timestamps {
        let t = std::time::UNIX_EPOCH + Duration::from_secs_f64(l.ts.max(0.0));
        prefix.push_str(&humantime::format_rfc3339_millis(t).to_string());
        prefix.push(' ');
    }
    if show_container {
        prefix.push_str(&l.container);
        prefix.push_str(" | ");
    }
    if l.stream == "stderr" {
        eprintln!("{prefix}{}", l.log);
    } else {
        println!("{prefix}{}", l.log);
    }
}
