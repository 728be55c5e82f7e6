//! What IAM and STS keep in the store. Names are unique without regard to case in IAM, so
//! every key holds the lower-cased name and the record keeps the name as created.
//!
//! Keys:
//! - `iam/users/<name>`: a user, its inline policies, attached policy ARNs, groups and the
//!   ids of its access keys (so the two-keys quota and DeleteUser's checks read one record)
//! - `iam/keys/<access key id>`: an access key or a temporary credential, secret sealed
//! - `iam/groups/<name>`, `iam/roles/<name>`: likewise, with their policies
//! - `iam/policies/<name>`: a customer managed policy and its versions

use std::collections::BTreeMap;

use gantry_api::Timestamp;
use serde::{Deserialize, Serialize};

pub const USERS: &str = "iam/users/";
pub const KEYS: &str = "iam/keys/";
pub const GROUPS: &str = "iam/groups/";
pub const ROLES: &str = "iam/roles/";
pub const POLICIES: &str = "iam/policies/";

pub fn user_key(name: &str) -> String {
    format!("{USERS}{}", name.to_lowercase())
}
pub fn access_key_key(id: &str) -> String {
    format!("{KEYS}{id}")
}
pub fn group_key(name: &str) -> String {
    format!("{GROUPS}{}", name.to_lowercase())
}
pub fn role_key(name: &str) -> String {
    format!("{ROLES}{}", name.to_lowercase())
}
pub fn policy_key(name: &str) -> String {
    format!("{POLICIES}{}", name.to_lowercase())
}

/// What users, groups and roles share: inline policies (name → document, as sent) and the
/// ARNs of the managed policies attached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policies {
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub path: String,
    /// `AIDA…`
    pub id: String,
    pub created: Timestamp,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub policies: Policies,
    /// Group names as created.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub access_keys: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastUsed {
    pub at: Timestamp,
    pub service: String,
    pub region: String,
}

/// Whom a temporary credential was issued to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionOf {
    /// GetSessionToken: the user itself.
    User,
    /// AssumeRole.
    Role {
        role_name: String,
        session_name: String,
    },
}

/// A temporary credential's extra parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub of: SessionOf,
    /// The unique id of the user or role it was issued for: a user or role deleted and made
    /// again under the same name is another principal, and the session is not theirs.
    pub principal_id: String,
    /// The session token, sealed like the secret.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub id: String,
    /// The user that owns it (for an assumed role's credential: the caller that assumed it).
    pub user_name: String,
    pub status: KeyStatus,
    pub created: Timestamp,
    /// The secret access key, sealed by [`crate::iam::secrets`].
    pub secret: String,
    #[serde(default)]
    pub last_used: Option<LastUsed>,
    #[serde(default)]
    pub session: Option<Session>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub name: String,
    pub path: String,
    /// `AGPA…`
    pub id: String,
    pub created: Timestamp,
    #[serde(default)]
    pub policies: Policies,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub name: String,
    pub path: String,
    /// `AROA…`
    pub id: String,
    pub created: Timestamp,
    /// The trust policy, as sent.
    pub trust_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: i64,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub policies: Policies,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`, …
    pub id: String,
    pub document: String,
    pub created: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub name: String,
    pub path: String,
    /// `ANPA…`
    pub id: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version: String,
    pub versions: Vec<PolicyVersionRecord>,
    /// The number the next version gets (IAM never reuses one).
    pub next_version: u32,
}
