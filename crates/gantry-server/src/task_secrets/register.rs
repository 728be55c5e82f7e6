//! What RegisterTaskDefinition checks of the members this module serves: `secrets` need an
//! `executionRoleArn` (ECS's own text), a Secrets Manager `valueFrom` must have one of the
//! ARN forms the agent reads, and `logConfiguration.secretOptions` is refused by name:
//! Gantry's log drivers (`awslogs`, `json-file`) keep output on the node and take no
//! secret options.

use gantry_api::model::RegisterTaskDefinitionRequest;

use crate::error::{client, Result};

pub fn check(req: &RegisterTaskDefinitionRequest) -> Result<()> {
    let containers = req.container_definitions.as_deref().unwrap_or_default();
    let has_secrets = containers
        .iter()
        .any(|c| !c.secrets.as_deref().unwrap_or_default().is_empty());
    if has_secrets
        && req
            .execution_role_arn
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    {
        return Err(client(
            "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
        ));
    }
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for s in c.secrets.as_deref().unwrap_or_default() {
            let from = s.value_from.as_deref().unwrap_or_default();
            if s.name.as_deref().unwrap_or_default().is_empty() || from.is_empty() {
                return Err(client(format!(
                    "Container {name} has a secret without a name or valueFrom; every secret needs both."
                )));
            }
            super::value_from::parse(from).map_err(|e| {
                client(format!(
                    "The secret {} of container {name}: {e}.",
                    s.name.as_deref().unwrap_or_default()
                ))
            })?;
        }
        let secret_options = c
            .log_configuration
            .as_ref()
            .and_then(|l| l.secret_options.as_deref())
            .unwrap_or_default();
        if !secret_options.is_empty() {
            return Err(client(format!(
                "Container {name} has logConfiguration.secretOptions, which Gantry does not support: its log drivers (awslogs, json-file) keep output on the node and take no secret options."
            )));
        }
    }
    Ok(())
}
