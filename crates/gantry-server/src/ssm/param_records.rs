//! What Parameter Store keeps: one record per parameter under `ssm/parameters/<name>`,
//! holding its last 100 versions. A SecureString's value is stored only sealed
//! ([`super::param_seal`]).

use std::collections::BTreeMap;

use gantry_api::Timestamp;
use serde::{Deserialize, Serialize};

/// Parameters, by name (the name keeps its leading slash).
pub const PARAMETERS: &str = "ssm/parameters/";
/// Parameter Store keeps this many versions of a parameter.
pub const MAX_VERSIONS: usize = 100;
/// Labels on one version.
pub const MAX_LABELS: usize = 10;
/// The KMS key SecureStrings are said to use: Gantry's own sealing key stands for it.
pub const DEFAULT_KEY_ID: &str = "alias/aws/ssm";

pub fn parameter_key(name: &str) -> String {
    format!("{PARAMETERS}{name}")
}

/// A version's value: plain text, or (SecureString) sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredValue {
    Plain(String),
    Sealed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: i64,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    pub value: StoredValue,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_pattern: Option<String>,
    /// `Standard` or `Advanced` (Intelligent-Tiering resolves to one of them).
    pub tier: String,
    pub data_type: String,
    #[serde(default)]
    pub labels: Vec<String>,
    pub modified: Timestamp,
    /// The ARN of the principal that wrote the version.
    pub modified_user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterRecord {
    pub name: String,
    /// Oldest first; never empty.
    pub versions: Vec<VersionRecord>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl ParameterRecord {
    pub fn latest(&self) -> Option<&VersionRecord> {
        self.versions.last()
    }

    pub fn version(&self, v: i64) -> Option<&VersionRecord> {
        self.versions.iter().find(|x| x.version == v)
    }

    pub fn labelled(&self, label: &str) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .find(|x| x.labels.iter().any(|l| l == label))
    }
}
