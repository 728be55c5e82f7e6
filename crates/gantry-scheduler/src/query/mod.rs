//! The ECS cluster query language: `subject operator [argument]` expressions joined with
//! `&&`/`and`, `||`/`or`, `!`/`not` and parentheses, as `memberOf` constraints and
//! `ListContainerInstances --filter` use them.
//!
//! [`parse`] turns the text into an [`Expr`] (or a [`ParseError`] with the 0-based character
//! position); [`Expr::matches`] evaluates it against an [`InstanceView`]. `Display` prints an
//! expression back in a form `parse` reads to the same tree.
//!
//! Evaluation, for every subject: a subject has zero or more values (an attribute that is not
//! set has none; `task:group` has one per task group running on the instance). `exists` is true
//! when it has a value and `!exists` when it has none. `==`, `>`, `>=`, `<`, `<=`, `in` and `=~`
//! are true when some value satisfies them; `!=`, `!in` and `!~` when the subject has a value
//! and none satisfies the positive form. So `attribute:stack != prod` skips instances without
//! `stack` (as ECS's own example reads it), and `task:group != db` needs some task on the
//! instance: `!(task:group == db)`, ECS's anti-affinity example, also takes empty instances.

use std::fmt;

use crate::InstanceView;

mod eval;
mod lex;
mod parse;
mod value;

pub use parse::{parse, ParseError};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cond(Cond),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// One `subject operator [argument]` test.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub subject: Subject,
    pub op: Op,
    pub arg: Arg,
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `attribute:<name>`: the instance attribute's value, if it is set.
    Attribute(String),
    /// `agentConnected`: `true` or `false`.
    AgentConnected,
    /// `agentVersion`: compared as dotted numbers by `<`, `>` and the like.
    AgentVersion,
    /// `registeredAt`: unix seconds; arguments are dates.
    RegisteredAt,
    /// `ec2InstanceType`: the `ecs.instance-type` attribute.
    Ec2InstanceType,
    /// `ec2InstanceId` or `instanceId` (the spelling is kept for printing): the instance id.
    InstanceId { ec2: bool },
    /// `runningTasksCount`: tasks on the instance, counting those this plan put there.
    RunningTasksCount,
    /// `task:group`: the groups of the tasks on the instance.
    TaskGroup,
}

/// The comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
}

/// The argument, shaped by the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `exists`, `!exists`.
    None,
    /// `==`, `!=`, `>`, `>=`, `<`, `<=`.
    Value(Literal),
    /// `in`, `!in`: `[a, b, c]` (a bare single value is a list of one).
    List(Vec<Literal>),
    /// `=~`, `!~`: a regular expression that must match the whole value.
    Pattern(Pattern),
}

/// A literal argument: its text, and the number, date or version it stands for when the
/// subject compares that way (read once at parse time).
#[derive(Debug, Clone)]
pub struct Literal {
    pub text: String,
    pub(crate) number: Option<f64>,
    pub(crate) version: Option<Vec<u64>>,
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A compiled `=~` pattern. ECS documents Java regular expressions, matched against the whole
/// value; a pattern that is not a valid regular expression but reads as a `*` wildcard
/// (`*.large`) is taken as one.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub(crate) regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Expr {
    /// Whether `instance` satisfies the expression, with the instance's own task count and
    /// task groups.
    pub fn matches(&self, instance: &InstanceView) -> bool {
        self.eval(&eval::Facts::of(instance))
    }

    /// Whether the value depends on the tasks on the instance (`task:group`,
    /// `runningTasksCount`), which change as a plan places tasks.
    pub fn depends_on_tasks(&self) -> bool {
        match self {
            Expr::Cond(c) => matches!(c.subject, Subject::TaskGroup | Subject::RunningTasksCount),
            Expr::Not(e) => e.depends_on_tasks(),
            Expr::And(a, b) | Expr::Or(a, b) => a.depends_on_tasks() || b.depends_on_tasks(),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(..) => 0,
            Expr::And(..) => 1,
            Expr::Not(_) | Expr::Cond(_) => 2,
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Children of lower precedence, and right children of equal precedence (the parser
        // groups to the left), get parentheses.
        let side = |f: &mut fmt::Formatter<'_>, e: &Expr, min: u8| {
            if e.precedence() < min {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        match self {
            Expr::Cond(c) => write!(f, "{c}"),
            Expr::Not(e) => write!(f, "!({e})"),
            Expr::And(a, b) => {
                side(f, a, 1)?;
                f.write_str(" && ")?;
                side(f, b, 2)
            }
            Expr::Or(a, b) => {
                side(f, a, 0)?;
                f.write_str(" || ")?;
                side(f, b, 1)
            }
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject, self.op)?;
        match &self.arg {
            Arg::None => Ok(()),
            Arg::Value(v) => write!(f, " {}", lex::quoted(&v.text)),
            Arg::Pattern(p) => write!(f, " {}", lex::quoted(&p.source)),
            Arg::List(list) => {
                f.write_str(" [")?;
                for (n, v) in list.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&lex::quoted(&v.text))?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Attribute(name) => write!(f, "attribute:{name}"),
            Subject::AgentConnected => f.write_str("agentConnected"),
            Subject::AgentVersion => f.write_str("agentVersion"),
            Subject::RegisteredAt => f.write_str("registeredAt"),
            Subject::Ec2InstanceType => f.write_str("ec2InstanceType"),
            Subject::InstanceId { ec2: true } => f.write_str("ec2InstanceId"),
            Subject::InstanceId { ec2: false } => f.write_str("instanceId"),
            Subject::RunningTasksCount => f.write_str("runningTasksCount"),
            Subject::TaskGroup => f.write_str("task:group"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Exists => "exists",
            Op::NotExists => "!exists",
            Op::In => "in",
            Op::NotIn => "!in",
            Op::Matches => "=~",
            Op::NotMatches => "!~",
        })
    }
}

pub(crate) use eval::Facts;

#[cfg(test)]
mod tests;
