use clap::Subcommand;
use serde_json::{json, Value};

use super::{s, short};
use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// Run tasks from a task definition (family, family:revision or ARN).
    Run {
        task_definition: String,
        #[arg(long, default_value = "default")]
        cluster: String,
        #[arg(long, default_value = "1")]
        count: u32,
        /// Override the command of every container (after `--`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// List tasks.
    Ls {
        #[arg(long, default_value = "default")]
        cluster: String,
        /// RUNNING or STOPPED.
        #[arg(long, default_value = "RUNNING")]
        desired_status: String,
    },
    /// Describe tasks.
    Describe {
        tasks: Vec<String>,
        #[arg(long, default_value = "default")]
        cluster: String,
    },
    /// Stop a task.
    Stop {
        task: String,
        #[arg(long, default_value = "default")]
        cluster: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

fn task_rows(tasks: &Value) -> Vec<Vec<String>> {
    tasks
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let exits: Vec<String> = t["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{}={}", s(c, "name"), s(c, "exitCode")))
                .collect();
            vec![
                short(t, "taskArn"),
                short(t, "taskDefinitionArn"),
                s(t, "lastStatus"),
                s(t, "desiredStatus"),
                short(t, "containerInstanceArn"),
                exits.join(","),
                s(t, "stoppedReason"),
            ]
        })
        .collect()
}

const HEADER: &[&str] = &[
    "TASK",
    "DEFINITION",
    "LAST",
    "DESIRED",
    "INSTANCE",
    "EXIT CODES",
    "REASON",
];

pub async fn run(c: &Client, cmd: TaskCmd) -> anyhow::Result<()> {
    match cmd {
        TaskCmd::Run {
            task_definition,
            cluster,
            count,
            command,
        } => {
            let mut req =
                json!({ "cluster": cluster, "taskDefinition": task_definition, "count": count });
            if !command.is_empty() {
                let td = c
                    .call(
                        "DescribeTaskDefinition",
                        json!({ "taskDefinition": task_definition }),
                    )
                    .await?;
                let overrides: Vec<Value> = td["taskDefinition"]["containerDefinitions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|cd| json!({ "name": cd["name"], "command": command }))
                    .collect();
                req["overrides"] = json!({ "containerOverrides": overrides });
            }
            let out = c.call("RunTask", req).await?;
            crate::table::print(HEADER, &task_rows(&out["tasks"]));
            for f in out["failures"].as_array().into_iter().flatten() {
                eprintln!("not placed: {} {}", s(f, "reason"), s(f, "arn"));
            }
            if out["tasks"].as_array().is_none_or(|t| t.is_empty()) {
                anyhow::bail!("no task was started");
            }
        }
        TaskCmd::Ls {
            cluster,
            desired_status,
        } => {
            let arns = c
                .call(
                    "ListTasks",
                    json!({ "cluster": cluster, "desiredStatus": desired_status }),
                )
                .await?["taskArns"]
                .clone();
            if arns.as_array().is_none_or(|a| a.is_empty()) {
                crate::table::print(HEADER, &[]);
                return Ok(());
            }
            let out = c
                .call(
                    "DescribeTasks",
                    json!({ "cluster": cluster, "tasks": arns }),
                )
                .await?;
            crate::table::print(HEADER, &task_rows(&out["tasks"]));
        }
        TaskCmd::Describe { tasks, cluster } => {
            let out = c
                .call(
                    "DescribeTasks",
                    json!({ "cluster": cluster, "tasks": tasks }),
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        TaskCmd::Stop {
            task,
            cluster,
            reason,
        } => {
            let mut req = json!({ "cluster": cluster, "task": task });
            if let Some(r) = reason {
                req["reason"] = json!(r);
            }
            let out = c.call("StopTask", req).await?;
            crate::table::print(HEADER, &task_rows(&json!([out["task"]])));
        }
    }
    Ok(())
}
