//! Evaluating a parsed query against one instance.

use std::cmp::Ordering;

use super::{value, Arg, Cond, Expr, Literal, Op, Subject};
use crate::InstanceView;

/// What a query can ask about one instance: the view, plus what a plan in progress has put
/// there (the view's own task count and groups are the snapshot's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub(crate) view: &'a InstanceView,
    /// Tasks on the instance, counting those the plan placed.
    pub(crate) running: i64,
    /// Groups of tasks the plan placed there that the view may not list yet.
    pub(crate) placed_groups: &'a [&'a str],
}

impl<'a> Facts<'a> {
    pub(crate) fn of(view: &'a InstanceView) -> Self {
        Facts {
            view,
            running: i64::from(view.task_count),
            placed_groups: &[],
        }
    }
}

/// One value of a subject.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Text(&'a str),
    Number(f64),
}

impl Expr {
    pub(crate) fn eval(&self, facts: &Facts<'_>) -> bool {
        match self {
            Expr::Cond(c) => c.eval(facts),
            Expr::Not(e) => !e.eval(facts),
            Expr::And(a, b) => a.eval(facts) && b.eval(facts),
            Expr::Or(a, b) => a.eval(facts) || b.eval(facts),
        }
    }
}

impl Cond {
    fn eval(&self, facts: &Facts<'_>) -> bool {
        let mut any_value = false;
        let mut any_true = false;
        each_value(&self.subject, facts, |v| {
            any_value = true;
            if self.positive(v) {
                any_true = true;
                return false;
            }
            true
        });
        match self.op {
            Op::Exists => any_value,
            Op::NotExists => !any_value,
            Op::Ne | Op::NotIn | Op::NotMatches => any_value && !any_true,
            Op::Eq | Op::Gt | Op::Ge | Op::Lt | Op::Le | Op::In | Op::Matches => any_true,
        }
    }

    /// Whether `v` satisfies the operator's positive form (`!=` as `==`, and so on).
    fn positive(&self, v: Val<'_>) -> bool {
        let ordered = |want: fn(Ordering) -> bool| match &self.arg {
            Arg::Value(lit) => compare(&self.subject, v, lit).is_some_and(want),
            _ => false,
        };
        match self.op {
            Op::Exists | Op::NotExists => true,
            Op::Eq | Op::Ne => match &self.arg {
                Arg::Value(lit) => equal(&self.subject, v, lit),
                _ => false,
            },
            Op::In | Op::NotIn => match &self.arg {
                Arg::List(list) => list.iter().any(|lit| equal(&self.subject, v, lit)),
                _ => false,
            },
            Op::Matches | Op::NotMatches => match (&self.arg, v) {
                (Arg::Pattern(p), Val::Text(t)) => p.regex.is_match(t),
                (Arg::Pattern(p), Val::Number(n)) => p.regex.is_match(&n.to_string()),
                _ => false,
            },
            Op::Gt => ordered(Ordering::is_gt),
            Op::Ge => ordered(Ordering::is_ge),
            Op::Lt => ordered(Ordering::is_lt),
            Op::Le => ordered(Ordering::is_le),
        }
    }
}

/// Calls `f` with each value of `subject` until it returns `false`.
fn each_value(subject: &Subject, facts: &Facts<'_>, mut f: impl FnMut(Val<'_>) -> bool) {
    let view = facts.view;
    let attribute = |name: &str| {
        view.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match subject {
        Subject::Attribute(name) => {
            if let Some(v) = attribute(name) {
                f(Val::Text(v));
            }
        }
        Subject::Ec2InstanceType => {
            if let Some(v) = attribute("ecs.instance-type") {
                f(Val::Text(v));
            }
        }
        Subject::AgentConnected => {
            f(Val::Text(if view.agent_connected {
                "true"
            } else {
                "false"
            }));
        }
        Subject::AgentVersion => {
            if !view.agent_version.is_empty() {
                f(Val::Text(&view.agent_version));
            }
        }
        Subject::RegisteredAt => {
            f(Val::Number(view.registered_at));
        }
        Subject::InstanceId { .. } => {
            f(Val::Text(&view.id));
        }
        Subject::RunningTasksCount => {
            // Task counts are far inside f64's exact integer range.
            #[allow(clippy::cast_precision_loss)]
            f(Val::Number(facts.running as f64));
        }
        Subject::TaskGroup => {
            for (group, &count) in &view.task_groups {
                if count > 0 && !f(Val::Text(group)) {
                    return;
                }
            }
            for group in facts.placed_groups {
                let listed = view.task_groups.get(*group).is_some_and(|&c| c > 0);
                if !listed && !f(Val::Text(group)) {
                    return;
                }
            }
        }
    }
}

fn equal(subject: &Subject, v: Val<'_>, lit: &Literal) -> bool {
    match v {
        Val::Number(n) => lit.number == Some(n),
        Val::Text(t) if *subject == Subject::AgentConnected => t.eq_ignore_ascii_case(&lit.text),
        Val::Text(t) => t == lit.text,
    }
}

fn compare(subject: &Subject, v: Val<'_>, lit: &Literal) -> Option<Ordering> {
    match v {
        Val::Number(n) => n.partial_cmp(&lit.number?),
        Val::Text(t) if *subject == Subject::AgentVersion => Some(value::compare_versions(
            &value::version(t)?,
            lit.version.as_ref()?,
        )),
        // Attributes compare as numbers when both sides are numbers, else as text.
        Val::Text(t) => match (value::number(t), lit.number) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(t.cmp(lit.text.as_str())),
        },
    }
}
