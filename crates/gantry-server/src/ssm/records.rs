//! What SSM keeps in the store, under its own prefix `ssm/`: one record per activation (the
//! code only as its SHA-256) and one per managed instance registered through one.

use std::collections::BTreeMap;

use gantry_api::Timestamp;
use serde::{Deserialize, Serialize};

/// Activations, by id.
pub const ACTIVATIONS: &str = "ssm/activations/";
/// Managed instances, by `mi-` id.
pub const MANAGED_INSTANCES: &str = "ssm/managed-instances/";

pub fn activation_key(id: &str) -> String {
    format!("{ACTIVATIONS}{id}")
}

pub fn managed_instance_key(id: &str) -> String {
    format!("{MANAGED_INSTANCES}{id}")
}

/// One activation. Deleting it removes the record (SSM forgets deleted activations:
/// DescribeActivations no longer lists them); its managed instances stay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationRecord {
    pub id: String,
    /// Hex SHA-256 of the activation code; the code itself is never stored.
    pub code_sha256: String,
    pub iam_role: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default_instance_name: Option<String>,
    pub registration_limit: i64,
    pub registrations_count: i64,
    pub created: Timestamp,
    pub expires: Timestamp,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl ActivationRecord {
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires
    }
}

/// A host registered through an activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedInstanceRecord {
    /// `mi-` + 17 hex digits.
    pub id: String,
    pub activation_id: String,
    pub iam_role: String,
    /// The activation's default instance name, if it had one.
    #[serde(default)]
    pub name: Option<String>,
    /// The host name the host gave when it joined.
    pub computer_name: String,
    pub registered: Timestamp,
    /// Set by DeregisterManagedInstance; a deregistered instance is no longer listed.
    #[serde(default)]
    pub deregistered: Option<Timestamp>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}
