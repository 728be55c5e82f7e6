use clap::Subcommand;
use serde_json::json;

use super::s;
use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// List clusters.
    Ls,
    /// Create a cluster.
    Create { name: String },
    /// Delete a cluster (refused while instances or tasks remain).
    Rm { name: String },
}

pub async fn run(c: &Client, cmd: ClusterCmd) -> anyhow::Result<()> {
    match cmd {
        ClusterCmd::Ls => {
            let arns = c.call("ListClusters", json!({})).await?["clusterArns"].clone();
            let out = c
                .call("DescribeClusters", json!({ "clusters": arns }))
                .await?;
            let rows: Vec<Vec<String>> = out["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|cl| {
                    vec![
                        s(cl, "clusterName"),
                        s(cl, "status"),
                        s(cl, "registeredContainerInstancesCount"),
                        s(cl, "runningTasksCount"),
                        s(cl, "pendingTasksCount"),
                    ]
                })
                .collect();
            crate::table::print(
                &["NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING"],
                &rows,
            );
        }
        ClusterCmd::Create { name } => {
            let out = c
                .call("CreateCluster", json!({ "clusterName": name }))
                .await?;
            println!("{}", s(&out["cluster"], "clusterArn"));
        }
        ClusterCmd::Rm { name } => {
            let out = c.call("DeleteCluster", json!({ "cluster": name })).await?;
            println!("{}", s(&out["cluster"], "clusterArn"));
        }
    }
    Ok(())
}
