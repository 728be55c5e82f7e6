//! The mutable copy of the snapshot one plan works on, and the feasibility checks.

use std::collections::HashMap;

use crate::constraint::{existing_in_group, single_group, Constraints, Violation};
use crate::feasible::{check_attributes, check_resources};
use crate::{InstanceView, Reason, TaskRequest};

/// Why an instance cannot take a request, in the order the checks run; a `memberOf`
/// violation keeps which expression failed, for the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Excluded {
    Constraint(Violation),
    Attribute,
    Cpu,
    Memory,
    Ports,
    Missing,
}

impl Excluded {
    /// The reason ECS reports.
    pub(crate) fn reason(self) -> Reason {
        match self {
            Excluded::Constraint(Violation::MemberOf(_)) => Reason::MemberOf,
            Excluded::Constraint(Violation::DistinctInstance) => Reason::DistinctInstance,
            Excluded::Attribute => Reason::Attribute,
            Excluded::Cpu => Reason::Cpu,
            Excluded::Memory => Reason::Memory,
            Excluded::Ports => Reason::Ports,
            Excluded::Missing => Reason::Missing,
        }
    }

    fn of(reason: Reason) -> Excluded {
        match reason {
            Reason::Attribute => Excluded::Attribute,
            Reason::Cpu => Excluded::Cpu,
            Reason::Memory => Excluded::Memory,
            Reason::Ports => Excluded::Ports,
            _ => Excluded::Missing,
        }
    }
}

/// Instances of one attribute, grouped by value: `of[i]` is instance `i`'s group and
/// `tasks[g]` the tasks group `g` holds. Instances without the attribute share one group.
#[derive(Debug)]
pub(crate) struct Grouping {
    pub(crate) of: Vec<u32>,
    pub(crate) tasks: Vec<i64>,
}

impl Grouping {
    /// `counts[i]`: the tasks on instance `i` that spread counts.
    fn new(instances: &[InstanceView], counts: &[i64], attribute: &str) -> Grouping {
        let mut index: HashMap<Option<&str>, u32> = HashMap::new();
        let mut tasks = Vec::new();
        let of = instances
            .iter()
            .zip(counts)
            .map(|(inst, &count)| {
                let value = inst
                    .attributes
                    .iter()
                    .find(|(name, _)| name == attribute)
                    .map(|(_, v)| v.as_str());
                let next = u32::try_from(index.len()).unwrap_or(u32::MAX);
                let g = *index.entry(value).or_insert(next);
                if g as usize == tasks.len() {
                    tasks.push(0);
                }
                // Tasks on every instance count, schedulable or not: they are in that group.
                tasks[g as usize] += count;
                g
            })
            .collect();
        Grouping { of, tasks }
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }
}

/// Per-instance state, struct-of-arrays so the hot checks touch little memory.
#[derive(Debug)]
pub(crate) struct Cluster<'a> {
    pub(crate) instances: &'a [InstanceView],
    pub(crate) cpu: Vec<i64>,
    pub(crate) memory: Vec<i64>,
    pub(crate) tasks: Vec<i64>,
    /// Ports a request of this plan took; the snapshot's `used_ports` are checked in place.
    added_ports: Vec<Vec<u16>>,
    /// The seeded shuffle of the instances: `rank[i]` breaks every tie.
    pub(crate) rank: Vec<u32>,
    pub(crate) groupings: Vec<Grouping>,
    pub(crate) constraints: Option<Constraints<'a>>,
}

impl<'a> Cluster<'a> {
    /// Spread counts the tasks of the requests' group when they share one (ECS spreads a
    /// service over its own tasks, a standalone task over its group's), otherwise every task.
    pub(crate) fn new(
        instances: &'a [InstanceView],
        rank: Vec<u32>,
        attributes: &[&str],
        requests: &'a [TaskRequest],
        constraints: Option<Constraints<'a>>,
    ) -> Self {
        let group = single_group(requests).unwrap_or_default();
        let tasks: Vec<i64> = instances
            .iter()
            .map(|i| i64::from(existing_in_group(i, group)))
            .collect();
        Cluster {
            instances,
            cpu: instances.iter().map(|i| i.remaining_cpu).collect(),
            memory: instances.iter().map(|i| i.remaining_memory).collect(),
            added_ports: vec![Vec::new(); instances.len()],
            rank,
            groupings: attributes
                .iter()
                .map(|a| Grouping::new(instances, &tasks, a))
                .collect(),
            tasks,
            constraints,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.instances.len()
    }

    pub(crate) fn schedulable(&self, i: usize) -> bool {
        self.instances[i].schedulable
    }

    /// The first check instance `i` fails for `req`, if any: constraints, then the checks
    /// of [`crate::check`] on this plan's copy of the numbers.
    pub(crate) fn check(&self, i: usize, req: &TaskRequest) -> Result<(), Excluded> {
        if self.instances[i].launch_type != req.launch_type {
            return Err(Excluded::Missing);
        }
        if let Some(c) = &self.constraints {
            c.check(i, &self.instances[i], req)
                .map_err(Excluded::Constraint)?;
        }
        let inst = &self.instances[i];
        if !req.required_attributes.is_empty() {
            check_attributes(&inst.attributes, req).map_err(Excluded::of)?;
        }
        let added = &self.added_ports[i];
        check_resources(
            self.cpu[i],
            self.memory[i],
            |p| inst.used_ports.contains(&p) || added.contains(&p),
            req,
        )
        .map_err(Excluded::of)
    }

    pub(crate) fn fits(&self, i: usize, req: &TaskRequest) -> bool {
        self.instances[i].schedulable && self.check(i, req).is_ok()
    }

    /// No request left in the plan can go to instance `i` because of a constraint.
    pub(crate) fn retired(&self, i: usize) -> bool {
        self.constraints
            .as_ref()
            .is_some_and(|c| c.retired(i, &self.instances[i]))
    }

    /// Takes request `j`'s resources from instance `i`.
    pub(crate) fn commit(&mut self, i: usize, j: usize, req: &TaskRequest) {
        if let Some(c) = &mut self.constraints {
            c.commit(i, &self.instances[i], j);
        }
        self.cpu[i] = self.cpu[i].saturating_sub(req.cpu);
        self.memory[i] = self.memory[i].saturating_sub(req.memory);
        self.tasks[i] += 1;
        self.added_ports[i].extend_from_slice(&req.ports);
        for g in &mut self.groupings {
            g.tasks[g.of[i] as usize] += 1;
        }
    }

    /// Why `req` fits nowhere, and the detail for a person. The reason is `MISSING` without
    /// any schedulable instance, otherwise the check that excluded the most schedulable
    /// instances (each instance counted once, for the first check it fails: constraints,
    /// attributes, cpu, memory, ports; ties go to that same order). ECS lists a reason per instance; one
    /// reason per task is what `RunTask` failures carry, and the most common one is what an
    /// operator should act on. The detail counts every check.
    pub(crate) fn failure_reason(&self, req: &TaskRequest) -> (Excluded, String) {
        // (reason, instances it excluded), in check order.
        let mut counts: Vec<(Excluded, usize)> = Vec::new();
        let mut unschedulable = 0;
        // Instances of the other launch type are no candidates: they never decide the
        // reason, only the detail mentions them.
        let mut other_type = 0;
        for i in 0..self.len() {
            if self.instances[i].launch_type != req.launch_type {
                other_type += 1;
                continue;
            }
            if !self.schedulable(i) {
                unschedulable += 1;
                continue;
            }
            if let Err(reason) = self.check(i, req) {
                match counts.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((reason, 1)),
                }
            }
        }
        counts.sort_by_key(|(r, _)| order(*r));
        // Every memberOf counts toward the one reason ECS has for them.
        let mut totals: Vec<(Excluded, usize)> = Vec::new();
        for &(reason, n) in &counts {
            let reason = match reason {
                Excluded::Constraint(Violation::MemberOf(_)) => {
                    Excluded::Constraint(Violation::MemberOf(0))
                }
                r => r,
            };
            match totals.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, t)) => *t += n,
                None => totals.push((reason, n)),
            }
        }
        let mut best: Option<(Excluded, usize)> = None;
        for &(reason, count) in &totals {
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((reason, count));
            }
        }
        let reason = best.map_or(Excluded::Missing, |(r, _)| r);
        (reason, self.detail(req, &counts, unschedulable, other_type))
    }

    fn detail(
        &self,
        req: &TaskRequest,
        counts: &[(Excluded, usize)],
        unschedulable: usize,
        other_type: usize,
    ) -> String {
        if self.len() == 0 {
            return "The cluster has no container instances.".to_string();
        }
        let mut out = format!(
            "No container instance met all of the task's requirements ({} instances",
            self.len()
        );
        let mut parts = Vec::new();
        if other_type > 0 {
            let other = match req.launch_type {
                crate::LaunchType::Ec2 => "EXTERNAL",
                crate::LaunchType::External => "EC2",
            };
            parts.push(format!(
                "{other_type} of launch type {other}, not {}",
                req.launch_type.as_str()
            ));
        }
        if unschedulable > 0 {
            parts.push(format!("{unschedulable} not ACTIVE with a connected agent"));
        }
        for &(reason, n) in counts {
            parts.push(match reason {
                Excluded::Constraint(Violation::MemberOf(k)) => {
                    let expr = self
                        .constraints
                        .as_ref()
                        .and_then(|c| c.member_of(k))
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    format!("{n} outside memberOf({expr})")
                }
                Excluded::Constraint(Violation::DistinctInstance) => format!(
                    "{n} already running a task of group {} (distinctInstance)",
                    if req.group.is_empty() {
                        "(none)"
                    } else {
                        &req.group
                    }
                ),
                Excluded::Attribute => format!(
                    "{n} without the attribute{} {}",
                    if req.required_attributes.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    req.required_attributes.join(", ")
                ),
                Excluded::Cpu => format!("{n} with less than {} CPU units left", req.cpu),
                Excluded::Memory => format!("{n} with less than {} MiB of memory left", req.memory),
                Excluded::Ports => format!("{n} with a port of {:?} in use", req.ports),
                Excluded::Missing => continue,
            });
        }
        if !parts.is_empty() {
            out.push_str(": ");
            out.push_str(&parts.join(", "));
        }
        out.push_str(").");
        out
    }
}

/// Where a reason's check runs, for sorting counts.
fn order(reason: Excluded) -> (u8, u32) {
    match reason {
        Excluded::Constraint(Violation::MemberOf(k)) => (0, k),
        Excluded::Constraint(Violation::DistinctInstance) => (1, 0),
        Excluded::Attribute => (2, 0),
        Excluded::Cpu => (3, 0),
        Excluded::Memory => (4, 0),
        Excluded::Ports => (5, 0),
        Excluded::Missing => (6, 0),
    }
}

/// The smallest cpu and memory any request from `j` on asks for: an instance below either
/// can never take another task of this plan.
pub(crate) fn suffix_minimums(requests: &[TaskRequest]) -> (Vec<i64>, Vec<i64>) {
    let mut cpu = vec![i64::MAX; requests.len() + 1];
    let mut memory = vec![i64::MAX; requests.len() + 1];
    for (j, req) in requests.iter().enumerate().rev() {
        cpu[j] = cpu[j + 1].min(req.cpu);
        memory[j] = memory[j + 1].min(req.memory);
    }
    (cpu, memory)
}
