//! What the store keeps about node identities, under `nodes/`: one record per joined host
//! (`nodes/node/<node-id>`) and one per cluster join token (`nodes/token/<token-id>`).
//! Certificates are not stored: a node's certificates are good while they verify and its
//! record is not revoked.

use gantry_api::Timestamp;
use serde::{Deserialize, Serialize};

use crate::persistence::records::InstanceLaunchType;

/// Everything under here is node identity (the verification cache watches it).
pub const PREFIX: &str = "nodes/";
/// Node records (the revocation cache watches this).
pub const NODE_PREFIX: &str = "nodes/node/";
pub const TOKEN_PREFIX: &str = "nodes/token/";

pub fn node_key(node_id: &str) -> String {
    format!("{NODE_PREFIX}{node_id}")
}

pub fn token_key(token_id: &str) -> String {
    format!("{TOKEN_PREFIX}{token_id}")
}

/// How a host got its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Via {
    /// A cluster join token, by its id.
    Token(String),
    /// An SSM activation, by its id.
    Activation(String),
}

/// A joined host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `i-` + 17 hex (a join token) or `mi-` + 17 hex (an activation).
    pub node_id: String,
    /// The cluster it joined; it may register only there.
    pub cluster: String,
    pub launch_type: InstanceLaunchType,
    pub via: Via,
    pub hostname: String,
    /// The container instance it registered as (the first registration binds it).
    #[serde(default)]
    pub container_instance_id: Option<String>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    #[serde(default)]
    pub revoked_reason: Option<String>,
}

/// A cluster join token. The secret is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    /// 16 hex digits, the part before the `.`.
    pub id: String,
    /// Hex SHA-256 of the secret (the part after the `.`).
    pub secret_sha256: String,
    pub cluster: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub registration_limit: u32,
    pub registrations_count: u32,
}

/// The principal a node's requests are audited as: the ARN its kind of instance has in AWS,
/// `arn:aws:ec2:<region>:<account>:instance/i-…` or
/// `arn:aws:ssm:<region>:<account>:managed-instance/mi-…`.
pub fn principal_arn(region: &str, account: &str, node_id: &str) -> String {
    if node_id.starts_with("mi-") {
        format!("arn:aws:ssm:{region}:{account}:managed-instance/{node_id}")
    } else {
        format!("arn:aws:ec2:{region}:{account}:instance/{node_id}")
    }
}

/// A new EC2-style instance id, `i-` + 17 hex digits.
pub fn new_ec2_id() -> String {
    let b: [u8; 9] = rand::random();
    let hex = hex::encode(b);
    format!("i-{}", &hex[..17])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_ec2_ids() {
        let id = new_ec2_id();
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("i-"));
        assert!(id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            principal_arn("us-east-1", "1", "mi-0123456789abcdef0"),
            "arn:aws:ssm:us-east-1:1:managed-instance/mi-0123456789abcdef0"
        );
    }
}
