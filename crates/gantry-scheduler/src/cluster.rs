//! The mutable copy of the snapshot one plan works on, and the feasibility checks.

use std::collections::HashMap;

use crate::{InstanceView, TaskRequest};

/// Why an instance cannot take a request, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Cpu,
    Memory,
    Ports,
    Missing,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Cpu => "RESOURCE:CPU",
            Reason::Memory => "RESOURCE:MEMORY",
            Reason::Ports => "RESOURCE:PORTS",
            Reason::Missing => "MISSING",
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
    fn new(instances: &[InstanceView], attribute: &str) -> Grouping {
        let mut index: HashMap<Option<&str>, u32> = HashMap::new();
        let mut tasks = Vec::new();
        let of = instances
            .iter()
            .map(|inst| {
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
                tasks[g as usize] += i64::from(inst.task_count);
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
}

impl<'a> Cluster<'a> {
    pub(crate) fn new(instances: &'a [InstanceView], rank: Vec<u32>, attributes: &[&str]) -> Self {
        Cluster {
            instances,
            cpu: instances.iter().map(|i| i.remaining_cpu).collect(),
            memory: instances.iter().map(|i| i.remaining_memory).collect(),
            tasks: instances.iter().map(|i| i64::from(i.task_count)).collect(),
            added_ports: vec![Vec::new(); instances.len()],
            rank,
            groupings: attributes
                .iter()
                .map(|a| Grouping::new(instances, a))
                .collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.instances.len()
    }

    pub(crate) fn schedulable(&self, i: usize) -> bool {
        self.instances[i].schedulable
    }

    /// The first check instance `i` fails for `req`, if any.
    pub(crate) fn check(&self, i: usize, req: &TaskRequest) -> Result<(), Reason> {
        if self.cpu[i] < req.cpu {
            return Err(Reason::Cpu);
        }
        if self.memory[i] < req.memory {
            return Err(Reason::Memory);
        }
        if !req.ports.is_empty() {
            let used = &self.instances[i].used_ports;
            let added = &self.added_ports[i];
            if req
                .ports
                .iter()
                .any(|p| used.contains(p) || added.contains(p))
            {
                return Err(Reason::Ports);
            }
        }
        Ok(())
    }

    pub(crate) fn fits(&self, i: usize, req: &TaskRequest) -> bool {
        self.instances[i].schedulable && self.check(i, req).is_ok()
    }

    /// Takes `req`'s resources from instance `i`.
    pub(crate) fn commit(&mut self, i: usize, req: &TaskRequest) {
        self.cpu[i] = self.cpu[i].saturating_sub(req.cpu);
        self.memory[i] = self.memory[i].saturating_sub(req.memory);
        self.tasks[i] += 1;
        self.added_ports[i].extend_from_slice(&req.ports);
        for g in &mut self.groupings {
            g.tasks[g.of[i] as usize] += 1;
        }
    }

    /// Why `req` fits nowhere: `MISSING` without any schedulable instance, otherwise the
    /// check that excluded the most schedulable instances (each instance counted once, for
    /// the first check it fails: cpu, then memory, then ports; ties go to that same order).
    /// ECS lists a reason per instance; one reason per task is what `RunTask` failures carry,
    /// and the most common one is what an operator should act on.
    pub(crate) fn failure_reason(&self, req: &TaskRequest) -> Reason {
        let mut counts = [0usize; 3];
        for i in 0..self.len() {
            if !self.schedulable(i) {
                continue;
            }
            match self.check(i, req) {
                Err(Reason::Cpu) => counts[0] += 1,
                Err(Reason::Memory) => counts[1] += 1,
                Err(Reason::Ports) => counts[2] += 1,
                Err(Reason::Missing) | Ok(()) => {}
            }
        }
        let reasons = [Reason::Cpu, Reason::Memory, Reason::Ports];
        let mut best: Option<(usize, Reason)> = None;
        for (count, reason) in counts.into_iter().zip(reasons) {
            if count > 0 && best.is_none_or(|(c, _)| count > c) {
                best = Some((count, reason));
            }
        }
        best.map_or(Reason::Missing, |(_, r)| r)
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
