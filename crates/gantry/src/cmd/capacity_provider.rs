//! `gantry capacity-provider scaling`: each capacity provider's managed-scaling target —
//! instances in its group (N), instances its tasks need (M), ECS's
//! `CapacityProviderReservation` (M / N × 100) and the group size that meets its
//! `targetCapacity` — read from the server's `DescribeCapacityProviderScaling` (Gantry's own
//! API, beside the join tokens'). An autoscaler acts on `DESIRED`; Gantry does not add or
//! remove hosts itself (docs/capacity-providers.md).

use clap::Subcommand;
use serde_json::{json, Value};

use super::s;
use super::token::{SERVICE, TARGET_PREFIX};
use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum CapacityProviderCmd {
    /// Managed-scaling figures of every capacity provider, or of those named.
    Scaling {
        /// Capacity provider names or ARNs.
        names: Vec<String>,
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(c: &Client, cmd: CapacityProviderCmd) -> anyhow::Result<()> {
    let CapacityProviderCmd::Scaling { names, json } = cmd;
    let mut body = json!({});
    if !names.is_empty() {
        body["capacityProviders"] = json!(names);
    }
    let out = c
        .call_target(
            &format!("{TARGET_PREFIX}DescribeCapacityProviderScaling"),
            Some(SERVICE),
            body,
        )
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = out["capacityProviders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p: &Value| {
            vec![
                s(p, "capacityProvider"),
                s(p, "managedScaling"),
                format!("{}%", s(p, "targetCapacity")),
                s(p, "instances"),
                s(p, "instancesNeeded"),
                s(p, "unplacedTasks"),
                p["capacityProviderReservation"]
                    .as_f64()
                    .map_or_else(|| "-".to_string(), |r| format!("{r:.0}%")),
                s(p, "desiredInstances"),
            ]
        })
        .collect();
    crate::table::print(
        &[
            "NAME",
            "MANAGED",
            "TARGET",
            "INSTANCES",
            "NEEDED",
            "UNPLACED",
            "RESERVATION",
            "DESIRED",
        ],
        &rows,
    );
    Ok(())
}
