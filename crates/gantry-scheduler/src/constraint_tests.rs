//! Constraints and task groups in plans: examples, and properties over random clusters with
//! random constraints, checked by replaying each plan on a copy of the snapshot.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use crate::place::place_linear;
use crate::{place_with, Constraint, InstanceView, Plan, Strategy, TaskRequest};

fn inst(id: &str, zone: &str) -> InstanceView {
    InstanceView {
        id: id.into(),
        schedulable: true,
        remaining_cpu: 4096,
        remaining_memory: 8192,
        attributes: vec![("zone".into(), zone.into())],
        agent_connected: true,
        ..InstanceView::default()
    }
}

fn task(group: &str) -> TaskRequest {
    TaskRequest {
        cpu: 10,
        memory: 10,
        group: group.into(),
        ..TaskRequest::default()
    }
}

fn member_of(e: &str) -> Constraint {
    Constraint::member_of(e).unwrap_or_else(|e| panic!("{e}"))
}

fn spread(f: &str) -> Strategy {
    Strategy::Spread { field: f.into() }
}

fn hosts(plan: &Plan) -> Vec<&str> {
    plan.placements.iter().map(|(_, id)| id.as_str()).collect()
}

#[test]
fn member_of_keeps_tasks_on_the_instances_it_selects() {
    let instances = [inst("a", "z1"), inst("b", "z2"), inst("c", "z1")];
    let plan = place_with(
        &instances,
        &vec![task("g"); 6],
        &[spread("instanceId")],
        &[member_of("attribute:zone == z1")],
        3,
    );
    let used: BTreeSet<&str> = hosts(&plan).into_iter().collect();
    assert_eq!(used, BTreeSet::from(["a", "c"]));
    assert!(plan.failures.is_empty());
}

#[test]
fn distinct_instance_counts_the_plan_and_the_snapshot() {
    let mut instances = vec![inst("a", "z1"), inst("b", "z1"), inst("c", "z1")];
    instances[2].task_groups.insert("service:web".into(), 1);
    instances[2].task_count = 1;
    let plan = place_with(
        &instances,
        &vec![task("service:web"); 3],
        &[],
        &[Constraint::DistinctInstance],
        1,
    );
    let mut used = hosts(&plan);
    used.sort_unstable();
    assert_eq!(used, ["a", "b"]);
    assert_eq!(plan.failures.len(), 1);
    let f = &plan.failures[0];
    assert_eq!(f.request, 2);
    assert_eq!(
        f.reason,
        "DistinctInstance placement constraint unsatisfied."
    );
    assert_eq!(
        f.detail,
        "No container instance met all of the task's requirements (3 instances: 3 already \
         running a task of group service:web (distinctInstance))."
    );
    // Another group is free to use the same instances.
    let mixed = [
        task("service:web"),
        task("service:api"),
        task("service:api"),
    ];
    let plan = place_with(&instances, &mixed, &[], &[Constraint::DistinctInstance], 1);
    assert_eq!(plan.placements.len(), 3);
    assert_ne!(plan.placements[1].1, plan.placements[2].1);
}

#[test]
fn affinity_follows_tasks_placed_by_the_same_plan() {
    let mut instances = vec![inst("a", "z1"), inst("b", "z1"), inst("c", "z1")];
    instances[1].task_groups.insert("service:db".into(), 1);
    // Web goes next to db only.
    let plan = place_with(
        &instances,
        &vec![task("service:web"); 4],
        &[spread("instanceId")],
        &[member_of("task:group == service:db")],
        0,
    );
    assert_eq!(hosts(&plan), ["b"; 4]);
    // At most two tasks an instance, counting what this plan adds.
    let plan = place_with(
        &instances,
        &vec![task("x"); 8],
        &[Strategy::Binpack {
            field: "memory".into(),
        }],
        &[member_of("runningTasksCount < 2")],
        0,
    );
    assert_eq!(plan.placements.len(), 6);
    assert_eq!(plan.failures.len(), 2);
    assert_eq!(
        plan.failures[0].reason,
        "MemberOf placement constraint unsatisfied."
    );
    assert!(
        plan.failures[0]
            .detail
            .contains("3 outside memberOf(runningTasksCount < 2)"),
        "{}",
        plan.failures[0].detail
    );
}

#[test]
fn spread_counts_the_tasks_of_the_requests_group() {
    let mut instances = vec![inst("a", "z1"), inst("b", "z2")];
    // Many tasks of another group on a: they do not count for web's spread.
    instances[0].task_count = 10;
    instances[0].task_groups.insert("service:other".into(), 10);
    instances[1].task_count = 1;
    instances[1].task_groups.insert("service:web".into(), 1);
    let plan = place_with(
        &instances,
        &[task("service:web")],
        &[spread("instanceId")],
        &[],
        0,
    );
    assert_eq!(hosts(&plan), ["a"]);
    let plan = place_with(
        &instances,
        &[task("service:web")],
        &[spread("attribute:zone")],
        &[],
        0,
    );
    assert_eq!(hosts(&plan), ["a"]);
    // Without a group, every task counts.
    let plan = place_with(&instances, &[task("")], &[spread("instanceId")], &[], 0);
    assert_eq!(hosts(&plan), ["b"]);
}

#[test]
fn failure_reasons_with_constraints() {
    let instances = [inst("a", "z1"), inst("b", "z2"), inst("c", "z2")];
    let big = TaskRequest {
        cpu: 5000,
        ..task("g")
    };
    let plan = place_with(
        &instances,
        &[big],
        &[],
        &[member_of("attribute:zone == z1")],
        0,
    );
    // Two instances outside the zone beat one without the CPU.
    assert_eq!(
        plan.failures[0].reason,
        "MemberOf placement constraint unsatisfied."
    );
    assert_eq!(
        plan.failures[0].detail,
        "No container instance met all of the task's requirements (3 instances: 2 outside \
         memberOf(attribute:zone == z1), 1 with less than 5000 CPU units left)."
    );
    let none: [InstanceView; 0] = [];
    let plan = place_with(&none, &[task("g")], &[], &[Constraint::DistinctInstance], 0);
    assert_eq!(plan.failures[0].reason, "MISSING");
    assert_eq!(
        plan.failures[0].detail,
        "The cluster has no container instances."
    );
}

// ---- properties ----

const EXPRESSIONS: &[&str] = &[
    "attribute:zone == z0",
    "attribute:zone != z1",
    "attribute:zone in [z0, z2] || attribute:rack exists",
    "!(task:group == a)",
    "task:group == b || runningTasksCount < 1",
    "runningTasksCount <= 3",
    "attribute:rack =~ r.*",
    "not attribute:zone exists",
];

fn arb_instance(n: usize) -> impl proptest::strategy::Strategy<Value = InstanceView> {
    (
        prop::bool::weighted(0.9),
        0i64..2000,
        0i64..2000,
        prop::option::of(0u8..3),
        prop::option::of(0u8..2),
        prop::collection::btree_map(prop_oneof![Just("a"), Just("b"), Just("c")], 0u32..3, 0..3),
    )
        .prop_map(move |(schedulable, cpu, memory, zone, rack, groups)| {
            let mut attributes = Vec::new();
            if let Some(z) = zone {
                attributes.push(("zone".to_string(), format!("z{z}")));
            }
            if let Some(r) = rack {
                attributes.push(("rack".to_string(), format!("r{r}")));
            }
            let task_groups: BTreeMap<String, u32> = groups
                .into_iter()
                .map(|(g, c)| (g.to_string(), c))
                .collect();
            InstanceView {
                id: format!("i{n}"),
                schedulable,
                remaining_cpu: cpu,
                remaining_memory: memory,
                attributes,
                task_count: task_groups.values().sum(),
                agent_connected: schedulable,
                task_groups,
                ..InstanceView::default()
            }
        })
}

fn arb_instances() -> impl proptest::strategy::Strategy<Value = Vec<InstanceView>> {
    (0usize..10).prop_flat_map(|len| (0..len).map(arb_instance).collect::<Vec<_>>())
}

fn arb_requests() -> impl proptest::strategy::Strategy<Value = Vec<TaskRequest>> {
    // One group for the whole plan most of the time (as RunTask and services do), mixed
    // groups otherwise.
    let group = prop_oneof![Just(""), Just("a"), Just("b")];
    (
        prop::bool::weighted(0.7),
        group.clone(),
        prop::collection::vec((0i64..600, 0i64..600, group), 0..25),
    )
        .prop_map(|(single, g, reqs)| {
            reqs.into_iter()
                .map(|(cpu, memory, own)| TaskRequest {
                    cpu,
                    memory,
                    ports: Vec::new(),
                    group: if single { g } else { own }.to_string(),
                    ..TaskRequest::default()
                })
                .collect()
        })
}

fn arb_constraints() -> impl proptest::strategy::Strategy<Value = Vec<Constraint>> {
    (
        prop::bool::ANY,
        prop::collection::vec(0..EXPRESSIONS.len(), 0..3),
    )
        .prop_map(|(distinct, exprs)| {
            let mut out: Vec<Constraint> = exprs
                .into_iter()
                .map(|k| member_of(EXPRESSIONS[k]))
                .collect();
            if distinct {
                out.push(Constraint::DistinctInstance);
            }
            out
        })
}

fn arb_strategies() -> impl proptest::strategy::Strategy<Value = Vec<Strategy>> {
    let one = prop_oneof![
        Just(Strategy::Random),
        Just(Strategy::Binpack {
            field: "cpu".into()
        }),
        Just(Strategy::Binpack {
            field: "memory".into()
        }),
        Just(spread("instanceId")),
        Just(spread("attribute:zone")),
        Just(spread("attribute:rack")),
    ];
    prop::collection::vec(one, 0..3)
}

/// Replays `plan` on a copy of the snapshot, keeping every instance's view current (task
/// count and groups included) and evaluating constraints through the public API.
fn check_plan(
    instances: &[InstanceView],
    requests: &[TaskRequest],
    constraints: &[Constraint],
    plan: &Plan,
) {
    let mut views: Vec<InstanceView> = instances.to_vec();
    let by_id: BTreeMap<&str, usize> = instances
        .iter()
        .enumerate()
        .map(|(n, i)| (i.id.as_str(), n))
        .collect();
    let placed: BTreeMap<usize, &str> = plan
        .placements
        .iter()
        .map(|(j, id)| (*j, id.as_str()))
        .collect();
    let failed: BTreeMap<usize, &str> = plan
        .failures
        .iter()
        .map(|f| (f.request, f.reason.as_str()))
        .collect();
    assert_eq!(placed.len() + failed.len(), requests.len());
    let fits = |v: &InstanceView, r: &TaskRequest| {
        let in_group = if r.group.is_empty() {
            v.task_count
        } else {
            v.task_groups.get(&r.group).copied().unwrap_or(0)
        };
        v.schedulable
            && v.remaining_cpu >= r.cpu
            && v.remaining_memory >= r.memory
            && constraints.iter().all(|c| match c {
                Constraint::DistinctInstance => in_group == 0,
                Constraint::MemberOf(e) => e.matches(v),
            })
    };
    for (j, r) in requests.iter().enumerate() {
        if let Some(id) = placed.get(&j) {
            let v = &mut views[by_id[id]];
            assert!(
                fits(v, r),
                "request {j} placed on {id}, which breaks a constraint or is full"
            );
            v.remaining_cpu -= r.cpu;
            v.remaining_memory -= r.memory;
            v.task_count += 1;
            *v.task_groups.entry(r.group.clone()).or_default() += 1;
        } else {
            let reason = failed.get(&j).copied().unwrap_or_default();
            assert!(
                views.iter().all(|v| !fits(v, r)),
                "request {j} failed ({reason}) though an instance takes it"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn constrained_plans_keep_every_invariant(
        instances in arb_instances(),
        requests in arb_requests(),
        strategies in arb_strategies(),
        constraints in arb_constraints(),
        seed in any::<u64>(),
    ) {
        let plan = place_with(&instances, &requests, &strategies, &constraints, seed);
        check_plan(&instances, &requests, &constraints, &plan);
    }

    #[test]
    fn constrained_index_ranks_exactly_like_a_full_scan(
        instances in arb_instances(),
        requests in arb_requests(),
        strategies in arb_strategies(),
        constraints in arb_constraints(),
        seed in any::<u64>(),
    ) {
        prop_assert_eq!(
            place_with(&instances, &requests, &strategies, &constraints, seed),
            place_linear(&instances, &requests, &strategies, &constraints, seed)
        );
    }

    #[test]
    fn distinct_instance_never_doubles_a_group(
        instances in arb_instances(),
        requests in arb_requests(),
        strategies in arb_strategies(),
        seed in any::<u64>(),
    ) {
        let plan = place_with(&instances, &requests, &strategies, &[Constraint::DistinctInstance], seed);
        let mut seen = BTreeSet::new();
        for (j, id) in &plan.placements {
            prop_assert!(seen.insert((requests[*j].group.as_str(), id.as_str())));
        }
    }
}
