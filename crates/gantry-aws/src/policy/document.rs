//! Parsing and validating a policy document as IAM does, into compiled statements.

use serde_json::{Map, Value};

use super::arn::ArnPattern;
use super::condition::Condition;
use super::principal::Principal;
use super::wildcard::Pattern;
use super::{Kind, PolicyError};

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action` (positive) or `NotAction` (negated), likewise for resources and principals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listed<T> {
    pub(crate) negated: bool,
    pub(crate) items: Vec<T>,
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) actions: Listed<Pattern>,
    /// `None`: the statement names no resource (trust policies).
    pub(crate) resources: Option<Listed<ArnPattern>>,
    pub(crate) principal: Option<(bool, Principal)>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
    /// The `Principal` (false) or `NotPrincipal` (true) element, if any.
    pub fn principal(&self) -> Option<(bool, &Principal)> {
        self.principal.as_ref().map(|(n, p)| (*n, p))
    }
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// What `Version` says; without one IAM reads the document as `2008-10-17`, where `${…}` is
/// plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2008_10_17,
    V2012_10_17,
}

pub(crate) struct Parsed {
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

pub(crate) fn parse(doc: &Value, kind: Kind) -> Result<Parsed, PolicyError> {
    let Value::Object(top) = doc else {
        return Err(PolicyError::syntax());
    };
    for k in top.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(PolicyError::syntax());
        }
    }
    let version = match top.get("Version") {
        None => Version::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(_) => return Err(PolicyError::syntax()),
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(PolicyError::syntax()),
    };
    let raw: Vec<&Map<String, Value>> = match top.get("Statement") {
        Some(Value::Object(s)) => vec![s],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|s| s.as_object().ok_or_else(PolicyError::syntax))
            .collect::<Result<_, _>>()?,
        _ => return Err(PolicyError::syntax()),
    };
    let vars = version == Version::V2012_10_17;
    let mut statements = Vec::with_capacity(raw.len());
    for s in raw {
        statements.push(statement(s, kind, vars)?);
    }
    let mut sids: Vec<&str> = statements.iter().filter_map(|s| s.sid()).collect();
    sids.sort_unstable();
    if sids.windows(2).any(|w| w[0] == w[1]) {
        return Err(PolicyError::new(
            "Statement IDs (SID) in a single policy must be unique.",
        ));
    }
    Ok(Parsed {
        version,
        id,
        statements,
    })
}

fn statement(s: &Map<String, Value>, kind: Kind, vars: bool) -> Result<Statement, PolicyError> {
    for k in s.keys() {
        let known = matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Principal"
                | "NotPrincipal"
                | "Condition"
        );
        if !known {
            return Err(PolicyError::syntax());
        }
    }
    let both = |a: &str, b: &str| s.contains_key(a) && s.contains_key(b);
    if both("Action", "NotAction")
        || both("Resource", "NotResource")
        || both("Principal", "NotPrincipal")
    {
        return Err(PolicyError::syntax());
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(x)) => Some(x.clone()).filter(|x| !x.is_empty()),
        Some(_) => return Err(PolicyError::syntax()),
    };
    let effect = match s.get("Effect") {
        None => return Err(PolicyError::new("Missing required field Effect")),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => return Err(PolicyError::syntax()),
    };

    let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), _) => Some((false, p)),
        (None, Some(p)) => Some((true, p)),
        (None, None) => None,
    };
    let principal = match (kind, principal) {
        (Kind::Identity, Some(_)) => {
            return Err(PolicyError::new(
                "Policy document should not specify a principal.",
            ))
        }
        (Kind::Trust | Kind::Resource, None) => {
            return Err(PolicyError::new("Missing required field Principal"))
        }
        (_, Some((neg, p))) => Some((neg, Principal::parse(p)?)),
        (_, None) => None,
    };

    let (neg_a, actions) = match (strings(s, "Action")?, strings(s, "NotAction")?) {
        (Some(a), _) => (false, a),
        (None, Some(a)) => (true, a),
        (None, None) => return Err(PolicyError::new("Policy statement must contain actions.")),
    };
    if actions.is_empty() {
        return Err(PolicyError::new("Policy statement must contain actions."));
    }
    for a in &actions {
        check_action(a, kind)?;
    }

    let resources = match (strings(s, "Resource")?, strings(s, "NotResource")?) {
        (Some(r), _) => Some((false, r)),
        (None, Some(r)) => Some((true, r)),
        (None, None) => None,
    };
    let resources = match (kind, resources) {
        (Kind::Trust, Some((neg, _))) => {
            let f = if neg { "NotResource" } else { "Resource" };
            return Err(PolicyError::new(format!("Has prohibited field {f}")));
        }
        (Kind::Identity | Kind::Resource, None) => {
            return Err(PolicyError::new("Policy statement must contain resources."))
        }
        (_, Some((_, r))) if r.is_empty() => {
            return Err(PolicyError::new("Policy statement must contain resources."))
        }
        (_, Some((neg, r))) => {
            for x in &r {
                check_resource(x)?;
            }
            Some(Listed {
                negated: neg,
                items: r.iter().map(|x| ArnPattern::parse(x, vars)).collect(),
            })
        }
        (_, None) => None,
    };

    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(c) => conditions(c, vars)?,
    };

    Ok(Statement {
        sid,
        effect,
        actions: Listed {
            negated: neg_a,
            items: actions
                .iter()
                .map(|a| Pattern::parse(a, true, false, true))
                .collect(),
        },
        resources,
        principal,
        conditions,
    })
}

/// A string or an array of strings.
fn strings(s: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, PolicyError> {
    match s.get(field) {
        None => Ok(None),
        Some(Value::String(x)) => Ok(Some(vec![x.clone()])),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(PolicyError::syntax)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(PolicyError::syntax()),
    }
}

fn check_action(a: &str, kind: Kind) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let mut parts = a.split(':');
    let vendor = parts.next().unwrap_or("");
    let Some(_op) = parts.next() else {
        return Err(PolicyError::new(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ));
    };
    if parts.next().is_some() {
        return Err(PolicyError::new(
            "Actions/Condition can contain only one colon.",
        ));
    }
    let vendor_ok = !vendor.is_empty()
        && vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'*');
    if !vendor_ok {
        return Err(PolicyError::new(format!("Vendor {vendor} is not valid")));
    }
    if kind == Kind::Trust && !vendor.eq_ignore_ascii_case("sts") && vendor != "*" {
        return Err(PolicyError::new(
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ));
    }
    Ok(())
}

fn check_resource(r: &str) -> Result<(), PolicyError> {
    if r == "*" || r.starts_with("arn:") || r.starts_with("${") {
        return Ok(());
    }
    Err(PolicyError::new(format!(
        "Resource {r} must be in ARN format or \"*\"."
    )))
}

fn conditions(c: &Value, vars: bool) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = c else {
        return Err(PolicyError::syntax());
    };
    let mut out = Vec::new();
    for (op, block) in ops {
        let Value::Object(keys) = block else {
            return Err(PolicyError::syntax());
        };
        for (key, vals) in keys {
            let values = match vals {
                Value::Array(a) => a.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                v => vec![scalar(v)?],
            };
            if !key.contains(':') {
                return Err(PolicyError::new(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                ));
            }
            out.push(Condition::parse(op, key, values, vars)?);
        }
        if keys.is_empty() {
            // An empty block still names its operator, which must exist.
            Condition::parse(op, "x:x", Vec::new(), vars)?;
        }
    }
    Ok(out)
}

/// A condition value: IAM accepts strings, numbers and booleans.
fn scalar(v: &Value) -> Result<String, PolicyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(PolicyError::syntax()),
    }
}
