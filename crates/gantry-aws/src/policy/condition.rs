//! The `Condition` element: operators, their `…IfExists` forms and the `ForAnyValue:` /
//! `ForAllValues:` set qualifiers, compiled at parse time.
//!
//! IAM's logic: the keys of one operator block, and the blocks of one statement, are ANDed;
//! the values of one key are ORed (a negated operator such as `StringNotEquals` is true when
//! the request's value matches none of them). A key absent from the request makes a condition
//! false, except for negated operators (true), `…IfExists` (true) and `Null`.

use super::arn::ArnPattern;
use super::values::{parse_date, parse_number, Cidr};
use super::variables::Keys;
use super::wildcard::Pattern;
use super::PolicyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One compiled `"Operator": {"key": values}` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: String,
    key: String,
    set: Option<SetOp>,
    if_exists: bool,
    negated: bool,
    test: Test,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// String*, case-(in)sensitive, with or without wildcards.
    Str(Vec<Pattern>),
    Arn(Vec<ArnPattern>),
    Num(Cmp, Vec<Option<f64>>),
    Date(Cmp, Vec<Option<i64>>),
    Bool(Vec<String>),
    Ip(Vec<Option<Cidr>>),
    Binary(Vec<String>),
    /// `Null`: `true` means the key must be absent.
    Null(Vec<Option<bool>>),
}

impl Condition {
    /// Compiles one entry. `vars`: the policy's version supports policy variables.
    pub(crate) fn parse(
        operator: &str,
        key: &str,
        values: Vec<String>,
        vars: bool,
    ) -> Result<Self, PolicyError> {
        let unknown = || PolicyError::syntax();
        let (set, rest) = if let Some(r) = operator.strip_prefix("ForAnyValue:") {
            (Some(SetOp::ForAnyValue), r)
        } else if let Some(r) = operator.strip_prefix("ForAllValues:") {
            (Some(SetOp::ForAllValues), r)
        } else {
            (None, operator)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        if base == "Null" && if_exists {
            return Err(unknown());
        }
        let strs = |wild: bool, ci: bool| {
            Test::Str(
                values
                    .iter()
                    .map(|v| Pattern::parse(v, wild, vars, ci))
                    .collect(),
            )
        };
        let nums = |c| Test::Num(c, values.iter().map(|v| parse_number(v)).collect());
        let dates = |c| Test::Date(c, values.iter().map(|v| parse_date(v)).collect());
        let arns = || Test::Arn(values.iter().map(|v| ArnPattern::parse(v, vars)).collect());
        let (negated, test) = match base {
            "StringEquals" => (false, strs(false, false)),
            "StringNotEquals" => (true, strs(false, false)),
            "StringEqualsIgnoreCase" => (false, strs(false, true)),
            "StringNotEqualsIgnoreCase" => (true, strs(false, true)),
            "StringLike" => (false, strs(true, false)),
            "StringNotLike" => (true, strs(true, false)),
            "NumericEquals" => (false, nums(Cmp::Eq)),
            "NumericNotEquals" => (true, nums(Cmp::Eq)),
            "NumericLessThan" => (false, nums(Cmp::Lt)),
            "NumericLessThanEquals" => (false, nums(Cmp::Le)),
            "NumericGreaterThan" => (false, nums(Cmp::Gt)),
            "NumericGreaterThanEquals" => (false, nums(Cmp::Ge)),
            "DateEquals" => (false, dates(Cmp::Eq)),
            "DateNotEquals" => (true, dates(Cmp::Eq)),
            "DateLessThan" => (false, dates(Cmp::Lt)),
            "DateLessThanEquals" => (false, dates(Cmp::Le)),
            "DateGreaterThan" => (false, dates(Cmp::Gt)),
            "DateGreaterThanEquals" => (false, dates(Cmp::Ge)),
            "Bool" => (
                false,
                Test::Bool(values.iter().map(|v| v.to_ascii_lowercase()).collect()),
            ),
            "BinaryEquals" => (false, Test::Binary(values.clone())),
            "IpAddress" => (
                false,
                Test::Ip(values.iter().map(|v| Cidr::parse(v)).collect()),
            ),
            "NotIpAddress" => (
                true,
                Test::Ip(values.iter().map(|v| Cidr::parse(v)).collect()),
            ),
            "ArnEquals" | "ArnLike" => (false, arns()),
            "ArnNotEquals" | "ArnNotLike" => (true, arns()),
            "Null" => (
                false,
                Test::Null(
                    values
                        .iter()
                        .map(|v| match v.to_ascii_lowercase().as_str() {
                            "true" => Some(true),
                            "false" => Some(false),
                            _ => None,
                        })
                        .collect(),
                ),
            ),
            _ => return Err(unknown()),
        };
        Ok(Self {
            operator: operator.to_string(),
            key: key.to_string(),
            set,
            if_exists,
            negated,
            test,
        })
    }

    /// The operator as written (`ForAnyValue:StringLike`).
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// The condition key as written (`aws:SourceIp`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the request satisfies this condition. `None`: a policy variable in it has no
    /// value, and the statement does not apply.
    pub(crate) fn eval(&self, keys: &Keys<'_>) -> Option<bool> {
        let vals = keys.get(&self.key).unwrap_or(&[]);
        if let Test::Null(want) = &self.test {
            let absent = vals.is_empty();
            return Some(want.contains(&Some(absent)));
        }
        if vals.is_empty() {
            return Some(match (self.if_exists, self.set) {
                (true, _) => true,
                (false, Some(SetOp::ForAllValues)) => true,
                (false, Some(SetOp::ForAnyValue)) => false,
                (false, None) => self.negated,
            });
        }
        // Per request value: does it satisfy the operator (any policy value, or for a negated
        // operator none of them)?
        let sat = |v: &str| -> Option<bool> { Some(self.positive(v, keys)? != self.negated) };
        match self.set {
            Some(SetOp::ForAllValues) => {
                for v in vals {
                    if !sat(v)? {
                        return Some(false);
                    }
                }
                Some(true)
            }
            Some(SetOp::ForAnyValue) => {
                for v in vals {
                    if sat(v)? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            // A single-valued key (or a multivalued one without a qualifier): true if any
            // value matches; for a negated operator, if none does.
            None => {
                let mut any = false;
                for v in vals {
                    any |= self.positive(v, keys)?;
                }
                Some(any != self.negated)
            }
        }
    }

    /// Whether the request value `v` matches any of the policy's values (the operator
    /// without its negation).
    fn positive(&self, v: &str, keys: &Keys<'_>) -> Option<bool> {
        Some(match &self.test {
            Test::Str(ps) => {
                for p in ps {
                    if p.matches(v, keys)? {
                        return Some(true);
                    }
                }
                false
            }
            Test::Arn(ps) => {
                for p in ps {
                    if p.matches(v, keys)? {
                        return Some(true);
                    }
                }
                false
            }
            Test::Num(c, ps) => match parse_number(v) {
                Some(x) => ps.iter().flatten().any(|p| cmp(*c, x, *p)),
                None => false,
            },
            Test::Date(c, ps) => match parse_date(v) {
                Some(x) => ps.iter().flatten().any(|p| cmp(*c, x, *p)),
                None => false,
            },
            Test::Bool(ps) => ps.iter().any(|p| p.eq_ignore_ascii_case(v)),
            Test::Binary(ps) => ps.iter().any(|p| p == v),
            Test::Ip(ps) => ps.iter().flatten().any(|c| c.contains(v)),
            Test::Null(_) => false,
        })
    }
}

fn cmp<T: PartialOrd>(c: Cmp, x: T, p: T) -> bool {
    match c {
        Cmp::Eq => x == p,
        Cmp::Lt => x < p,
        Cmp::Le => x <= p,
        Cmp::Gt => x > p,
        Cmp::Ge => x >= p,
    }
}
