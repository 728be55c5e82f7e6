//! Secret environment variables of a task's containers, on their way from the agent to the
//! containers through memory only. The agent writes them to the supervisor's stdin (a pipe)
//! when it starts it ([`crate::client::Launcher::spawn`]); the supervisor reads them before
//! anything else and hands them to each container's init through libcontainer's executor,
//! which sets them in the environment the workload is exec'd with. They are never written
//! to `plan.json`, `config.json`, the journal or any log: a container's bundle holds its
//! plain environment only.
//!
//! A supervisor that dies takes the values with it; the agent that adopts a running task
//! never needs them (the containers have them). Nothing restarts a container with them.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

/// The most the supervisor reads from its stdin: ECS's own limits on a container's
/// environment are far below it.
pub const MAX_BYTES: u64 = 4 << 20;

/// Each container's secret variables (`NAME=value` pairs), by container name.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEnv {
    #[serde(default)]
    containers: BTreeMap<String, Vec<(String, String)>>,
}

/// Never prints a value: only the variable names.
impl std::fmt::Debug for SecretEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: BTreeMap<&String, Vec<&String>> = self
            .containers
            .iter()
            .map(|(c, vars)| (c, vars.iter().map(|(k, _)| k).collect()))
            .collect();
        f.debug_struct("SecretEnv").field("names", &names).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretEnvError {
    #[error("cannot read the task's secrets from stdin: {0}")]
    Read(std::io::Error),
    #[error("the task's secrets on stdin are longer than {MAX_BYTES} bytes")]
    TooLong,
    // The text of a serde error can quote the input: only its position is kept.
    #[error("the task's secrets on stdin are not valid (line {line}, column {column})")]
    Invalid { line: usize, column: usize },
}

impl SecretEnv {
    pub fn is_empty(&self) -> bool {
        self.containers.values().all(Vec::is_empty)
    }

    /// Adds `name=value` to `container`'s variables.
    pub fn push(&mut self, container: &str, name: String, value: String) {
        self.containers
            .entry(container.to_string())
            .or_default()
            .push((name, value));
    }

    /// The secret variables of `container` (none: empty).
    pub fn of(&self, container: &str) -> &[(String, String)] {
        self.containers.get(container).map_or(&[], Vec::as_slice)
    }

    /// What the agent writes to the supervisor's stdin (empty when there is nothing).
    pub fn encode(&self) -> Vec<u8> {
        if self.is_empty() {
            return Vec::new();
        }
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads what [`SecretEnv::encode`] wrote, up to EOF; nothing at all is no secrets.
    pub fn read_from(r: impl Read) -> Result<Self, SecretEnvError> {
        let mut buf = Vec::new();
        r.take(MAX_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(SecretEnvError::Read)?;
        if u64::try_from(buf.len()).unwrap_or(u64::MAX) > MAX_BYTES {
            return Err(SecretEnvError::TooLong);
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(&buf).map_err(|e| SecretEnvError::Invalid {
            line: e.line(),
            column: e.column(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never_prints_a_value() {
        let mut s = SecretEnv::default();
        s.push("app", "DB_PASSWORD".into(), "canary-Zq81".into());
        let back = SecretEnv::read_from(&s.encode()[..]).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.of("app"),
            &[("DB_PASSWORD".to_string(), "canary-Zq81".to_string())]
        );
        let printed = format!("{s:?}");
        assert!(printed.contains("DB_PASSWORD") && !printed.contains("canary"));
        assert!(SecretEnv::read_from(&b""[..]).unwrap().is_empty());
        assert!(SecretEnv::default().encode().is_empty());
    }

    #[test]
    fn bad_input_is_refused_without_quoting_it() {
        let e = SecretEnv::read_from(&b"{\"containers\": \"canary-Zq81\"}"[..]).unwrap_err();
        assert!(!e.to_string().contains("canary"), "{e}");
    }
}
