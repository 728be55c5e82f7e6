//! What the server answers when an agent asks for a task's secrets at its start
//! ([`crate::protocol::AgentFrame::SecretsRequest`]): each container's secret variables
//! (`secrets`) and registry credentials (`repositoryCredentials`), read with the task's
//! execution role. These values are only ever in memory: no `Debug` here prints one.

use serde::{Deserialize, Serialize};

/// The answer to one request: the task's secrets, or why they could not be had (the
/// `stoppedReason` the task stops with, `ResourceInitializationError: …`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretsAnswer {
    pub request_id: u64,
    #[serde(default)]
    pub secrets: Option<TaskSecrets>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The secrets of a task's containers.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSecrets {
    #[serde(default)]
    pub containers: Vec<ContainerSecrets>,
}

/// One container's secrets.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSecrets {
    pub name: String,
    /// `secrets[]`: (variable name, value).
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// `repositoryCredentials`: (username, password) for the image's registry.
    #[serde(default)]
    pub registry: Option<(String, String)>,
}

impl std::fmt::Debug for SecretsAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsAnswer")
            .field("request_id", &self.request_id)
            .field("secrets", &self.secrets)
            .field("error", &self.error)
            .finish()
    }
}

impl std::fmt::Debug for TaskSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.containers).finish()
    }
}

/// Names only, never values.
impl std::fmt::Debug for ContainerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&String> = self.env.iter().map(|(k, _)| k).collect();
        f.debug_struct("ContainerSecrets")
            .field("name", &self.name)
            .field("env", &names)
            .field("registry", &self.registry.as_ref().map(|_| ".."))
            .finish()
    }
}

impl TaskSecrets {
    /// The secrets of `container` (none: `None`).
    pub fn of(&self, container: &str) -> Option<&ContainerSecrets> {
        self.containers.iter().find(|c| c.name == container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_value() {
        let a = SecretsAnswer {
            request_id: 1,
            secrets: Some(TaskSecrets {
                containers: vec![ContainerSecrets {
                    name: "app".into(),
                    env: vec![("DB".into(), "canary-1".into())],
                    registry: Some(("user".into(), "canary-2".into())),
                }],
            }),
            error: None,
        };
        let s = format!("{a:?}");
        assert!(s.contains("DB") && !s.contains("canary"), "{s}");
    }
}
