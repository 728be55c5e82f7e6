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
pub use variables::{KeySource, Layered};

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
        // IAM answers a trust policy that is not JSON with other words than an identity one.
        let doc: serde_json::Value = serde_json::from_str(doc).map_err(|_| match kind {
            PolicyKind::Trust => PolicyError::new("This policy contains invalid Json"),
            _ => PolicyError::syntax(),
        })?;
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

/// IAM's wildcard match (as `StringLike` does it): `*` matches any run of characters, `?`
/// exactly one; case-sensitive. For one-off checks: policies compile their patterns once.
pub fn matches_wildcard(pattern: &str, value: &str) -> bool {
    let none = BTreeMap::new();
    wildcard::Pattern::parse(pattern, true, false, false)
        .matches(value, &variables::Keys::new(&none))
        .unwrap_or(false)
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

impl Context {
    /// The same request, borrowed.
    pub fn query(&self) -> Query<'_> {
        Query {
            action: &self.action,
            resource: &self.resource,
            keys: &self.keys,
            principal_arn: self.principal_arn.as_deref(),
            principal_account: self.principal_account.as_deref(),
        }
    }
}

/// A [`Context`] that borrows everything, its condition keys from any [`KeySource`]: what a
/// server evaluates per request without copying its caller, ARNs or keys into a map.
#[derive(Clone, Copy)]
pub struct Query<'a> {
    /// `service:Operation`, e.g. `ecs:RunTask`.
    pub action: &'a str,
    /// The resource ARN, or `*`.
    pub resource: &'a str,
    /// Condition keys, looked up without regard to case; they also resolve policy variables.
    pub keys: &'a dyn KeySource,
    /// For trust policies: the calling principal's ARN and account.
    pub principal_arn: Option<&'a str>,
    pub principal_account: Option<&'a str>,
}

impl std::fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("action", &self.action)
            .field("resource", &self.resource)
            .field("principal_arn", &self.principal_arn)
            .field("principal_account", &self.principal_account)
            .finish_non_exhaustive()
    }
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
    evaluate_query(policies, &ctx.query())
}

/// [`evaluate`] for a borrowed [`Query`].
pub fn evaluate_query(policies: &[&Policy], q: &Query<'_>) -> Decision {
    evaluate::decide(policies.iter().map(|p| p.statements()), q, false).0
}

/// [`evaluate_query`] over a slice of policies (no slice of references to build).
pub fn evaluate_slice(policies: &[Policy], q: &Query<'_>) -> Decision {
    evaluate::decide(policies.iter().map(Policy::statements), q, false).0
}

/// A decision and the statement that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// For `ExplicitDeny` the denying statement, for `Allow` the first allowing one, as
    /// (index into `policies`, index into that policy's [`Policy::statements`]).
    pub statement: Option<(usize, usize)>,
}

/// [`evaluate`], also naming the deciding statement (for the audit log, or a simulator).
pub fn evaluate_explained(policies: &[&Policy], ctx: &Context) -> Verdict {
    let (decision, statement) =
        evaluate::decide(policies.iter().map(|p| p.statements()), &ctx.query(), false);
    Verdict {
        decision,
        statement,
    }
}

/// Evaluates a role's trust policy (its `Principal` elements) for `ctx`
/// (`action` = `sts:AssumeRole`, `principal_arn`/`principal_account` = the caller). Statements
/// without a principal grant nothing here. An empty `ctx.action` means `sts:AssumeRole`.
pub fn evaluate_trust(policy: &Policy, ctx: &Context) -> Decision {
    let mut q = ctx.query();
    if q.action.is_empty() {
        q.action = "sts:AssumeRole";
    }
    evaluate::decide(std::iter::once(policy.statements()), &q, true).0
}
