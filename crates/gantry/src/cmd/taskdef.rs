use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use super::s;
use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum TaskdefCmd {
    /// Register a task definition from a JSON file (the `--cli-input-json` format).
    Register { file: PathBuf },
    /// List task definitions.
    Ls {
        #[arg(long)]
        family_prefix: Option<String>,
        /// ACTIVE or INACTIVE.
        #[arg(long, default_value = "ACTIVE")]
        status: String,
    },
}

pub async fn run(c: &Client, cmd: TaskdefCmd) -> anyhow::Result<()> {
    match cmd {
        TaskdefCmd::Register { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("could not read {}", file.display()))?;
            let body: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let out = c.call("RegisterTaskDefinition", body).await?;
            println!("{}", s(&out["taskDefinition"], "taskDefinitionArn"));
        }
        TaskdefCmd::Ls {
            family_prefix,
            status,
        } => {
            let mut req = json!({ "status": status });
            if let Some(p) = family_prefix {
                req["familyPrefix"] = json!(p);
            }
            let out = c.call("ListTaskDefinitions", req).await?;
            let rows: Vec<Vec<String>> = out["taskDefinitionArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str())
                .map(|a| {
                    let id = gantry_api::arn::short_id(a).to_string();
                    vec![id, a.to_string()]
                })
                .collect();
            crate::table::print(&["TASK DEFINITION", "ARN"], &rows);
        }
    }
    Ok(())
}
