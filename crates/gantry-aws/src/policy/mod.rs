//! IAM's policy language and its evaluation. SKELETON: the types are the interface the
//! server uses; the bodies are placeholders (only `"Action": "*"` allows are understood).

use std::collections::BTreeMap;

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    doc: serde_json::Value,
}

/// Why a document is not a valid policy. The text is IAM's `MalformedPolicyDocument` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// Parses and validates a policy document (identity, resource or trust policy).
    pub fn parse(doc: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(doc)
            .map(|doc| Self { doc })
            .map_err(|_| PolicyError("Syntax errors in policy.".into()))
    }
}

/// One request to authorize: one action on one resource.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `service:Operation`, e.g. `ecs:RunTask`.
    pub action: String,
    /// The resource ARN, or `*`.
    pub resource: String,
    /// Condition keys and their values (`aws:username`, `ecs:cluster`, `aws:SourceIp`, …),
    /// looked up without regard to case, which also resolve policy variables.
    pub keys: BTreeMap<String, Vec<String>>,
    /// For trust policies: the calling principal's ARN and account.
    pub principal_arn: Option<String>,
    pub principal_account: Option<String>,
}

/// The outcome of evaluating policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement with `"Effect": "Deny"` matched.
    ExplicitDeny,
    /// Nothing allowed it.
    ImplicitDeny,
}

/// Evaluates identity policies for `ctx`: an explicit deny wins, then an allow, else deny.
pub fn evaluate(policies: &[&Policy], ctx: &Context) -> Decision {
    let _ = ctx;
    let allows = policies
        .iter()
        .any(|p| statements(&p.doc).any(|s| s["Effect"] == "Allow" && s["Action"] == "*"));
    if allows {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Evaluates a role's trust policy (its `Principal` elements) for `ctx`
/// (`action` = `sts:AssumeRole`, `principal_arn`/`principal_account` = the caller).
pub fn evaluate_trust(policy: &Policy, ctx: &Context) -> Decision {
    let _ = (policy, ctx);
    Decision::ImplicitDeny
}

fn statements(doc: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    let s = &doc["Statement"];
    s.as_array()
        .map(|a| a.iter().collect::<Vec<_>>())
        .unwrap_or_else(|| vec![s])
        .into_iter()
}
