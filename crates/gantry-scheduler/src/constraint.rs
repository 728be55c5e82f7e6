//! Constraints during one plan.
//!
//! `memberOf` is evaluated once per instance when the plan starts. Only expressions that read
//! the instance's tasks (`task:group`, `runningTasksCount`) can change their answer, and only
//! when the plan places a task on that instance, so those are evaluated again right there.
//! An instance that fails a `memberOf` therefore fails it for the rest of the plan: a task
//! would have to be placed on it to change that. The same holds for `distinctInstance` once
//! the instance runs a task of the group, when every request of the plan is in that group
//! (the usual case: one RunTask, one service). The choosers drop such instances for good.

use crate::query::{Expr, Facts};
use crate::{Constraint, InstanceView, TaskRequest};

/// The group every request is in, if they share one.
pub(crate) fn single_group(requests: &[TaskRequest]) -> Option<&str> {
    let first = requests.first()?.group.as_str();
    requests.iter().all(|r| r.group == first).then_some(first)
}

/// Whether the snapshot shows a task of `group` on `view`; without a group, any task.
pub(crate) fn existing_in_group(view: &InstanceView, group: &str) -> u32 {
    if group.is_empty() {
        view.task_count
    } else {
        view.task_groups.get(group).copied().unwrap_or(0)
    }
}

#[derive(Debug)]
pub(crate) struct Constraints<'a> {
    member_of: Vec<&'a Expr>,
    /// Some `memberOf` reads the instance's tasks.
    dynamic: bool,
    distinct: bool,
    /// 0 when the instance passes every `memberOf`, else 1 + the first one it fails.
    member_fail: Vec<u32>,
    /// Tasks on each instance, with those this plan placed.
    running: Vec<i64>,
    /// Groups of the tasks this plan placed on each instance.
    placed: Vec<Vec<&'a str>>,
    single_group: Option<&'a str>,
    requests: &'a [TaskRequest],
}

impl<'a> Constraints<'a> {
    /// `None` when there are no constraints: the choosers then skip every check here.
    pub(crate) fn new(
        instances: &[InstanceView],
        requests: &'a [TaskRequest],
        constraints: &'a [Constraint],
    ) -> Option<Self> {
        if constraints.is_empty() {
            return None;
        }
        let member_of: Vec<&Expr> = constraints
            .iter()
            .filter_map(|c| match c {
                Constraint::MemberOf(e) => Some(e),
                Constraint::DistinctInstance => None,
            })
            .collect();
        let mut this = Constraints {
            dynamic: member_of.iter().any(|e| e.depends_on_tasks()),
            distinct: constraints.contains(&Constraint::DistinctInstance),
            member_of,
            member_fail: vec![0; instances.len()],
            running: instances.iter().map(|i| i64::from(i.task_count)).collect(),
            placed: vec![Vec::new(); instances.len()],
            single_group: single_group(requests),
            requests,
        };
        for (i, view) in instances.iter().enumerate() {
            this.member_fail[i] = this.first_failing(i, view);
        }
        Some(this)
    }

    fn first_failing(&self, i: usize, view: &InstanceView) -> u32 {
        let facts = Facts {
            view,
            running: self.running[i],
            placed_groups: &self.placed[i],
        };
        (1u32..)
            .zip(&self.member_of)
            .find(|(_, e)| !e.eval(&facts))
            .map_or(0, |(k, _)| k)
    }

    /// Whether instance `i` runs a task of `group`; without a group, any task.
    fn has_group(&self, i: usize, view: &InstanceView, group: &str) -> bool {
        let placed = &self.placed[i];
        existing_in_group(view, group) > 0
            || if group.is_empty() {
                !placed.is_empty()
            } else {
                placed.contains(&group)
            }
    }

    /// `Err(reason)` for the first constraint instance `i` breaks for `req`.
    pub(crate) fn check(
        &self,
        i: usize,
        view: &InstanceView,
        req: &TaskRequest,
    ) -> Result<(), Violation> {
        match self.member_fail[i] {
            0 => {}
            k => return Err(Violation::MemberOf(k - 1)),
        }
        if self.distinct && self.has_group(i, view, &req.group) {
            return Err(Violation::DistinctInstance);
        }
        Ok(())
    }

    /// Records that request `j` went to instance `i`.
    pub(crate) fn commit(&mut self, i: usize, view: &InstanceView, j: usize) {
        self.running[i] += 1;
        let requests = self.requests;
        let group = requests[j].group.as_str();
        if !self.placed[i].contains(&group) {
            self.placed[i].push(group);
        }
        if self.dynamic {
            self.member_fail[i] = self.first_failing(i, view);
        }
    }

    /// No request left in this plan can go to instance `i`, whatever else changes.
    /// Whether an instance can come to meet a constraint it fails now: only a `memberOf` on
    /// task counts or groups can (placing a task makes `task:group == x` true).
    pub(crate) fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    pub(crate) fn retired(&self, i: usize, view: &InstanceView) -> bool {
        self.member_fail[i] != 0
            || (self.distinct
                && self
                    .single_group
                    .is_some_and(|g| self.has_group(i, view, g)))
    }

    /// The `k`-th `memberOf` expression, for failure details.
    pub(crate) fn member_of(&self, k: u32) -> Option<&Expr> {
        self.member_of.get(k as usize).copied()
    }
}

/// A broken constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// The `k`-th `memberOf` (0-based, among the `memberOf` constraints).
    MemberOf(u32),
    DistinctInstance,
}
