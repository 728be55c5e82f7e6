use clap::Subcommand;
use serde_json::json;

use super::{s, short};
use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum InstanceCmd {
    /// List container instances with their free resources.
    Ls {
        #[arg(long, default_value = "default")]
        cluster: String,
    },
}

fn resource(ci: &serde_json::Value, which: &str, name: &str) -> String {
    ci[which]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .map(|r| s(r, "integerValue"))
        .unwrap_or_else(|| "-".to_string())
}

pub async fn run(c: &Client, cmd: InstanceCmd) -> anyhow::Result<()> {
    let InstanceCmd::Ls { cluster } = cmd;
    let arns = c
        .call("ListContainerInstances", json!({ "cluster": cluster }))
        .await?["containerInstanceArns"]
        .clone();
    if arns.as_array().is_none_or(|a| a.is_empty()) {
        println!("No container instances in cluster {cluster}. Start one with `gantry agent --cluster {cluster}`.");
        return Ok(());
    }
    let out = c
        .call(
            "DescribeContainerInstances",
            json!({ "cluster": cluster, "containerInstances": arns }),
        )
        .await?;
    let rows: Vec<Vec<String>> = out["containerInstances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ci| {
            vec![
                short(ci, "containerInstanceArn"),
                s(ci, "status"),
                s(ci, "agentConnected"),
                format!(
                    "{}/{}",
                    resource(ci, "remainingResources", "CPU"),
                    resource(ci, "registeredResources", "CPU")
                ),
                format!(
                    "{}/{}",
                    resource(ci, "remainingResources", "MEMORY"),
                    resource(ci, "registeredResources", "MEMORY")
                ),
                s(ci, "runningTasksCount"),
                s(ci, "pendingTasksCount"),
            ]
        })
        .collect();
    crate::table::print(
        &[
            "INSTANCE",
            "STATUS",
            "CONNECTED",
            "CPU FREE/ALL",
            "MEM FREE/ALL",
            "RUNNING",
            "PENDING",
        ],
        &rows,
    );
    Ok(())
}
