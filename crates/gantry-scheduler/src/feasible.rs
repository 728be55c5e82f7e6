//! The feasibility checks and ECS's words for each failure: the one place a placement
//! failure reason is spelled. The plan runs these checks on its working copy of the
//! snapshot; the control plane runs [`check`] again when it commits each instance's share
//! and for StartTask, so both always agree.

use std::fmt;

use crate::{InstanceView, TaskRequest};

/// The instance attribute ECS agents set when they can run `awsvpc` tasks (on ECS, tasks
/// with an elastic network interface of their own).
pub const TASK_ENI: &str = gantry_api::protocol::TASK_ENI_ATTRIBUTE;

/// The instance attributes a task of `network_mode` needs (what ECS adds to the task
/// definition's `requiresAttributes`): `awsvpc` needs [`TASK_ENI`]; every agent runs
/// `bridge`, `host` and `none`, and no mode (ECS's default, `bridge`) needs nothing.
pub fn network_mode_attributes(network_mode: Option<&str>) -> &'static [&'static str] {
    match network_mode {
        Some("awsvpc") => &[TASK_ENI],
        _ => &[],
    }
}

/// Why an instance cannot take a task, as ECS reports it in `failures[].reason` (see "API
/// failure reasons" in the ECS developer guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No such instance, or none that is ACTIVE with a connected agent.
    Missing,
    /// The instance was deregistered.
    Inactive,
    /// The instance is draining: it takes no new tasks.
    Draining,
    /// The instance's agent is disconnected.
    Agent,
    /// The instance lacks an attribute the task needs (e.g. [`TASK_ENI`] for `awsvpc`).
    Attribute,
    Cpu,
    Memory,
    Ports,
    MemberOf,
    DistinctInstance,
    /// The cluster kept changing while the plan was committed.
    Contention,
}

impl Reason {
    /// ECS's text for the reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "MISSING",
            Reason::Inactive => "INACTIVE",
            Reason::Draining => "DRAINING",
            Reason::Agent => "AGENT",
            Reason::Attribute => "ATTRIBUTE",
            Reason::Cpu => "RESOURCE:CPU",
            Reason::Memory => "RESOURCE:MEMORY",
            Reason::Ports => "RESOURCE:PORTS",
            Reason::MemberOf => "MemberOf placement constraint unsatisfied.",
            Reason::DistinctInstance => "DistinctInstance placement constraint unsatisfied.",
            Reason::Contention => "RESOURCE:CONTENTION",
        }
    }

    /// Every reason, for reading one back from its text.
    pub const ALL: [Reason; 11] = [
        Reason::Missing,
        Reason::Inactive,
        Reason::Draining,
        Reason::Agent,
        Reason::Attribute,
        Reason::Cpu,
        Reason::Memory,
        Reason::Ports,
        Reason::MemberOf,
        Reason::DistinctInstance,
        Reason::Contention,
    ];

    /// The reason whose text is `s`, if any.
    pub fn from_text(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A placement constraint's reason: not the instances' fault, so always worth telling.
    pub const fn is_constraint(self) -> bool {
        matches!(self, Reason::MemberOf | Reason::DistinctInstance)
    }
}

/// Compares by ECS's text, so `reason == "RESOURCE:CPU"` reads as it does on the wire.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lifecycle state of an instance, for the reason an unschedulable one gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Status {
    #[default]
    Active,
    Draining,
    Inactive,
}

/// Whether `instance` is in a state to take tasks at all: ACTIVE with a connected agent.
pub fn check_available(instance: &InstanceView) -> Result<(), Reason> {
    match instance.status {
        Status::Inactive => Err(Reason::Inactive),
        Status::Draining => Err(Reason::Draining),
        Status::Active if !instance.agent_connected => Err(Reason::Agent),
        Status::Active => Ok(()),
    }
}

/// Whether `instance` is of the launch type `req` runs on. An instance of the other type is
/// not a candidate at all, as in ECS, so it fails as `MISSING`.
pub fn check_launch_type(instance: &InstanceView, req: &TaskRequest) -> Result<(), Reason> {
    if instance.launch_type == req.launch_type {
        Ok(())
    } else {
        Err(Reason::Missing)
    }
}

/// Whether the instance carries every attribute `req` needs.
pub fn check_attributes(attributes: &[(String, String)], req: &TaskRequest) -> Result<(), Reason> {
    let has = |name: &String| attributes.iter().any(|(n, _)| n == name);
    if req.required_attributes.iter().all(has) {
        Ok(())
    } else {
        Err(Reason::Attribute)
    }
}

/// Whether `req` fits in what is left: cpu, then memory, then ports (`busy(p)`: port `p` is
/// in use or reserved).
pub fn check_resources(
    remaining_cpu: i64,
    remaining_memory: i64,
    busy: impl Fn(u16) -> bool,
    req: &TaskRequest,
) -> Result<(), Reason> {
    if remaining_cpu < req.cpu {
        return Err(Reason::Cpu);
    }
    if remaining_memory < req.memory {
        return Err(Reason::Memory);
    }
    if req.ports.iter().any(|&p| busy(p)) {
        return Err(Reason::Ports);
    }
    Ok(())
}

/// Whether `instance`, as the snapshot shows it, can take `req` now, and if not the first
/// check it fails: state (`INACTIVE`, `DRAINING`, `AGENT`), attributes (`ATTRIBUTE`), then
/// `RESOURCE:CPU`, `RESOURCE:MEMORY`, `RESOURCE:PORTS`. Placement constraints need the
/// whole plan and are not checked here.
pub fn check(instance: &InstanceView, req: &TaskRequest) -> Result<(), Reason> {
    check_launch_type(instance, req)?;
    check_available(instance)?;
    check_attributes(&instance.attributes, req)?;
    check_resources(
        instance.remaining_cpu,
        instance.remaining_memory,
        |p| instance.used_ports.contains(&p),
        req,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(cpu: i64, memory: i64) -> InstanceView {
        InstanceView {
            id: "i".into(),
            schedulable: true,
            agent_connected: true,
            remaining_cpu: cpu,
            remaining_memory: memory,
            ..InstanceView::default()
        }
    }

    fn req(cpu: i64, memory: i64) -> TaskRequest {
        TaskRequest {
            cpu,
            memory,
            ..TaskRequest::default()
        }
    }

    #[test]
    fn reasons_have_ecs_text_and_read_back() {
        assert_eq!(Reason::Cpu.as_str(), "RESOURCE:CPU");
        assert_eq!(Reason::Memory.as_str(), "RESOURCE:MEMORY");
        assert_eq!(Reason::Ports.as_str(), "RESOURCE:PORTS");
        assert_eq!(Reason::Attribute.as_str(), "ATTRIBUTE");
        assert_eq!(
            Reason::MemberOf.as_str(),
            "MemberOf placement constraint unsatisfied."
        );
        assert_eq!(
            Reason::DistinctInstance.to_string(),
            "DistinctInstance placement constraint unsatisfied."
        );
        for r in Reason::ALL {
            assert_eq!(Reason::from_text(r.as_str()), Some(r));
        }
        assert_eq!(Reason::from_text("RESOURCE:GPU"), None);
        assert!(Reason::MemberOf.is_constraint() && !Reason::Cpu.is_constraint());
    }

    #[test]
    fn launch_types_never_mix() {
        let mut i = active(1024, 1024);
        i.launch_type = crate::LaunchType::External;
        let mut r = req(1, 1);
        assert_eq!(
            check(&i, &r),
            Err(Reason::Missing),
            "EC2 tasks stay off EXTERNAL hosts"
        );
        r.launch_type = crate::LaunchType::External;
        assert_eq!(check(&i, &r), Ok(()));
        i.launch_type = crate::LaunchType::Ec2;
        assert_eq!(check(&i, &r), Err(Reason::Missing));
    }

    #[test]
    fn state_comes_first() {
        let mut i = active(0, 0);
        i.status = Status::Inactive;
        assert_eq!(check(&i, &req(1, 1)), Err(Reason::Inactive));
        i.status = Status::Draining;
        assert_eq!(check(&i, &req(1, 1)), Err(Reason::Draining));
        i.status = Status::Active;
        i.agent_connected = false;
        assert_eq!(check(&i, &req(1, 1)), Err(Reason::Agent));
    }

    #[test]
    fn resources_in_order() {
        let mut i = active(1024, 512);
        i.used_ports.insert(80);
        assert_eq!(check(&i, &req(1024, 512)), Ok(()));
        assert_eq!(check(&i, &req(1025, 513)), Err(Reason::Cpu));
        assert_eq!(check(&i, &req(0, 513)), Err(Reason::Memory));
        let mut r = req(0, 0);
        r.ports = vec![443, 80];
        assert_eq!(check(&i, &r), Err(Reason::Ports));
        r.ports = vec![443];
        assert_eq!(check(&i, &r), Ok(()));
    }

    #[test]
    fn awsvpc_needs_task_eni() {
        assert_eq!(network_mode_attributes(Some("awsvpc")), &[TASK_ENI]);
        for mode in [None, Some("bridge"), Some("host"), Some("none")] {
            assert!(network_mode_attributes(mode).is_empty(), "{mode:?}");
        }
        let mut r = req(0, 0);
        r.required_attributes = vec![TASK_ENI.to_string()];
        let mut i = active(1024, 1024);
        // The attribute check runs before the resources: a node without the capability
        // says so even when it is also full.
        r.cpu = 4096;
        assert_eq!(check(&i, &r), Err(Reason::Attribute));
        i.attributes.push((TASK_ENI.to_string(), String::new()));
        assert_eq!(check(&i, &r), Err(Reason::Cpu));
        r.cpu = 0;
        assert_eq!(check(&i, &r), Ok(()));
    }

    #[test]
    fn plans_place_awsvpc_only_on_nodes_with_task_eni() {
        let mut eni = active(4096, 4096);
        eni.id = "eni".into();
        eni.attributes.push((TASK_ENI.to_string(), String::new()));
        let mut plain = active(4096, 4096);
        plain.id = "plain".into();
        let mut r = req(512, 512);
        r.required_attributes = network_mode_attributes(Some("awsvpc"))
            .iter()
            .map(ToString::to_string)
            .collect();
        for seed in 0..8 {
            let plan = crate::place(
                &[plain.clone(), eni.clone()],
                &[r.clone(), r.clone()],
                &[],
                seed,
            );
            assert!(plan.failures.is_empty(), "{plan:?}");
            assert!(
                plan.placements.iter().all(|(_, id)| id == "eni"),
                "{plan:?}"
            );
        }
        // Only nodes without awsvpc: ATTRIBUTE, and the detail names the attribute.
        let plan = crate::place(&[plain.clone()], &[r.clone()], &[], 0);
        assert!(plan.placements.is_empty());
        assert_eq!(plan.failures[0].reason, Reason::Attribute);
        assert_eq!(
            plan.failures[0].detail,
            "No container instance met all of the task's requirements (1 instances: 1 without \
             the attribute ecs.capability.task-eni)."
        );
        // A bridge task still goes anywhere.
        let plan = crate::place(&[plain], &[req(512, 512)], &[], 0);
        assert_eq!(plan.placements.len(), 1);
    }
}
