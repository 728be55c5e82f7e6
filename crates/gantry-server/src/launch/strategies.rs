//! `placementStrategy` lists, from their wire form to the scheduler's strategies.

use gantry_api::model::PlacementStrategy;
use gantry_scheduler::Strategy;

use crate::error::{invalid, Result};

/// The scheduler's strategies for a `placementStrategy` list (RunTask, CreateService).
pub fn strategies(list: &[PlacementStrategy]) -> Result<Vec<Strategy>> {
    if list.len() > 5 {
        return Err(invalid("placementStrategy can have at most 5 strategies."));
    }
    list.iter()
        .map(|s| {
            let field = s.field.clone();
            match (s.r#type.as_deref(), field) {
                (Some("random"), _) => Ok(Strategy::Random),
                (Some("spread"), Some(f)) => {
                    let f = match f.as_str() {
                        "instanceid" | "instanceId" => "instanceId".to_string(),
                        "host" => "host".to_string(),
                        other if other.starts_with("attribute:") => other.to_string(),
                        other => return Err(invalid(format!(
                            "spread field {other} is not valid: use instanceId, host or attribute:<name>."
                        ))),
                    };
                    Ok(Strategy::Spread { field: f })
                }
                (Some("binpack"), Some(f)) if f == "cpu" || f == "memory" => Ok(Strategy::Binpack { field: f }),
                (Some("binpack"), f) => Err(invalid(format!(
                    "binpack field {} is not valid: use cpu or memory.",
                    f.unwrap_or_default()
                ))),
                (Some("spread"), None) => Err(invalid("spread needs a field: instanceId, host or attribute:<name>.")),
                (t, _) => Err(invalid(format!(
                    "placementStrategy type {} is not valid: use random, spread or binpack.",
                    t.unwrap_or_default()
                ))),
            }
        })
        .collect()
}
