//! IAM's policy language and its evaluation.
//!
//! Documents are parsed and validated as IAM does ([`Policy::parse_identity`],
//! [`Policy::parse_trust`], [`Policy::parse_resource`]; [`Policy::parse`] accepts any of them)
//! and compiled once: actions and resources become pre-split wildcard patterns, condition
//! values are typed. Evaluating a request ([`evaluate`], [`evaluate_trust`]) then allocates
//! nothing unless a pattern holds a policy variable.

use std::collections::BTreeMap;

mod arn;
mod condition;
mod document;
mod evaluate;
mod principal;
mod values;
mod variables;
mod wildcard;

pub use condition::{Condition, SetOp};
pub use document::{Effect, Statement, Version};
pub use principal::{Principal, PrincipalType};

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    doc: serde_json::Value,
    version: Version,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// Why a document is not a valid policy. The text is IAM's `MalformedPolicyDocument` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl PolicyError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }

    /// IAM's answer to anything that is not the policy grammar.
    pub(crate) fn syntax() -> Self {
        Self::new("Syntax errors in policy.")
    }
}

/// Which kind of document is being parsed: it decides whether `Principal` is required,
/// forbidden or optional, and whether `Resource` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role: no `Principal`; `Resource` required.
    Identity,
    /// A role's trust (assume-role) policy: `Principal` required, no `Resource`, only `sts:`
    /// actions.
    Trust,
    /// A resource-based policy: `Principal` and `Resource` required.
    Resource,
    /// Any of the above: `Principal` and `Resource` optional.
    Lenient,
}
pub(crate) use PolicyKind as Kind;

impl Policy {
    /// Parses and validates a policy document of any kind (see [`PolicyKind::Lenient`]).
    pub fn parse(doc: &str) -> Result<Self, PolicyError> {
        Self::parse_as(doc, PolicyKind::Lenient)
    }

    /// Parses an identity-based policy (`PutUserPolicy`, `CreatePolicy`, …).
    pub fn parse_identity(doc: &str) -> Result<Self, PolicyError> {
        Self::parse_as(doc, PolicyKind::Identity)
    }

    /// Parses a role's trust policy (`CreateRole`'s `AssumeRolePolicyDocument`).
    pub fn parse_trust(doc: &str) -> Result<Self, PolicyError> {
        Self::parse_as(doc, PolicyKind::Trust)
    }

    /// Parses a resource-based policy.
    pub fn parse_resource(doc: &str) -> Result<Self, PolicyError> {
        Self::parse_as(doc, PolicyKind::Resource)
    }

    pub fn parse_as(doc: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let doc: serde_json::Value =
            serde_json::from_str(doc).map_err(|_| PolicyError::syntax())?;
        let p = document::parse(&doc, kind)?;
        Ok(Self {
            doc,
            version: p.version,
            id: p.id,
            statements: p.statements,
        })
    }

    /// The compiled statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The document as parsed JSON (for `GetPolicyVersion` and friends).
    pub fn document(&self) -> &serde_json::Value {
        &self.doc
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
/// A statement with a `Principal` (resource-based policies) applies only to the principal in
/// `ctx.principal_arn`/`principal_account`.
pub fn evaluate(policies: &[&Policy], ctx: &Context) -> Decision {
    evaluate::decide(policies.iter().map(|p| p.statements()), ctx, false)
}

/// Evaluates a role's trust policy (its `Principal` elements) for `ctx`
/// (`action` = `sts:AssumeRole`, `principal_arn`/`principal_account` = the caller). Statements
/// without a principal grant nothing here. An empty `ctx.action` means `sts:AssumeRole`.
pub fn evaluate_trust(policy: &Policy, ctx: &Context) -> Decision {
    if ctx.action.is_empty() {
        let ctx = Context {
            action: "sts:AssumeRole".into(),
            ..ctx.clone()
        };
        return evaluate::decide(std::iter::once(policy.statements()), &ctx, true);
    }
    evaluate::decide(std::iter::once(policy.statements()), ctx, true)
}
