//! `gantry logs --log-stream` and `--streams`: awslogs group and stream names, named as ECS
//! names them (`prefix/container-name/task-id`), resolved to a task and container.

use anyhow::{anyhow, bail};
use gantry_api::logconfig::{self, AwsLogs};
use serde_json::json;

use super::logs::LogsArgs;
use crate::client::Client;

/// One container's log destination.
pub struct Stream {
    pub container: String,
    /// `None`: json-file (the default).
    pub awslogs: Option<AwsLogs>,
    pub name: Option<String>,
}

/// The task's containers and their log group and stream names.
pub async fn of_task(client: &Client, cluster: &str, task: &str) -> anyhow::Result<Vec<Stream>> {
    let d = client
        .call(
            "DescribeTasks",
            json!({ "cluster": cluster, "tasks": [task] }),
        )
        .await?;
    let Some(td_arn) = d["tasks"][0]["taskDefinitionArn"].as_str() else {
        bail!("InvalidParameterException: task {task} was not found in cluster {cluster}");
    };
    let task_id = gantry_api::arn::short_id(d["tasks"][0]["taskArn"].as_str().unwrap_or(task));
    let td = client
        .call(
            "DescribeTaskDefinition",
            json!({ "taskDefinition": td_arn }),
        )
        .await?;
    let defs = td["taskDefinition"]["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::with_capacity(defs.len());
    for c in defs {
        let container = c["name"].as_str().unwrap_or_default().to_string();
        let awslogs = match serde_json::from_value(c["logConfiguration"].clone()) {
            Ok(lc) => logconfig::check(&container, &lc).map_err(|e| anyhow!(e))?,
            Err(_) => None,
        };
        let name = awslogs.as_ref().map(|a| a.stream(&container, task_id));
        out.push(Stream {
            container,
            awslogs,
            name,
        });
    }
    Ok(out)
}

/// The task and container `--log-stream` (and `--log-group`, if given) name, checked against
/// the task definition, so a stream that does not exist is an error, not silence.
pub async fn resolve(client: &Client, a: &LogsArgs) -> anyhow::Result<(String, Option<String>)> {
    let Some(stream) = &a.log_stream else {
        let task = a.task.clone().ok_or_else(|| {
            anyhow!("give a task id or ARN, or --log-stream prefix/container-name/task-id")
        })?;
        return Ok((task, a.container.clone()));
    };
    let Some((_, container, task_id)) = logconfig::parse_stream(stream) else {
        bail!("--log-stream {stream:?} is not an awslogs stream name: expected prefix/container-name/task-id");
    };
    if let Some(t) = &a.task {
        if gantry_api::arn::short_id(t) != task_id {
            bail!("--log-stream {stream:?} belongs to task {task_id}, not {t}");
        }
    }
    let streams = of_task(client, &a.cluster, task_id).await?;
    let found = streams
        .iter()
        .find(|s| s.name.as_deref() == Some(stream.as_str()));
    let Some(s) = found else {
        let known: Vec<String> = streams.iter().filter_map(|s| s.name.clone()).collect();
        bail!(
            "ResourceNotFoundException: task {task_id} has no log stream {stream:?} (its container {container} {}); its streams: {}",
            if streams.iter().any(|s| s.container == container) { "logs under another name" } else { "does not exist" },
            if known.is_empty() { "none (no container uses awslogs)".to_string() } else { known.join(", ") }
        );
    };
    let group = s
        .awslogs
        .as_ref()
        .map(|a| a.group.as_str())
        .unwrap_or_default();
    if let Some(g) = a.log_group.as_deref().filter(|g| *g != group) {
        bail!(
            "ResourceNotFoundException: log stream {stream:?} is in log group {group:?}, not {g:?}"
        );
    }
    Ok((task_id.to_string(), Some(s.container.clone())))
}

/// `--streams`: one row per container.
pub fn print(streams: &[Stream]) {
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            let (driver, group, region) = match &s.awslogs {
                Some(a) => (
                    logconfig::AWSLOGS,
                    a.group.clone(),
                    a.region.clone().unwrap_or_else(|| "-".into()),
                ),
                None => (logconfig::JSON_FILE, "-".into(), "-".into()),
            };
            vec![
                s.container.clone(),
                driver.to_string(),
                group,
                s.name.clone().unwrap_or_else(|| "-".into()),
                region,
            ]
        })
        .collect();
    crate::table::print(&["CONTAINER", "DRIVER", "GROUP", "STREAM", "REGION"], &rows);
}
