//! Examples of each strategy and failure reason, and property tests over random clusters.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use crate::place::place_linear;
use crate::{place, InstanceView, Plan, Strategy, TaskRequest};

fn inst(id: &str, cpu: i64, memory: i64) -> InstanceView {
    InstanceView {
        id: id.into(),
        schedulable: true,
        remaining_cpu: cpu,
        remaining_memory: memory,
        ..InstanceView::default()
    }
}

fn zoned(id: &str, zone: &str) -> InstanceView {
    let mut i = inst(id, 4096, 8192);
    i.attributes.push(("zone".into(), zone.into()));
    i
}

fn req(cpu: i64, memory: i64) -> TaskRequest {
    TaskRequest {
        cpu,
        memory,
        ..TaskRequest::default()
    }
}

fn binpack(f: &str) -> Strategy {
    Strategy::Binpack { field: f.into() }
}

fn spread(f: &str) -> Strategy {
    Strategy::Spread { field: f.into() }
}

fn hosts(plan: &Plan) -> Vec<&str> {
    plan.placements.iter().map(|(_, id)| id.as_str()).collect()
}

fn reasons(plan: &Plan) -> Vec<(usize, &str)> {
    plan.failures
        .iter()
        .map(|f| (f.request, f.reason.as_str()))
        .collect()
}

#[test]
fn binpack_memory_takes_the_tightest_fit() {
    let instances = [
        inst("big", 4096, 8192),
        inst("small", 4096, 1024),
        inst("mid", 4096, 2048),
    ];
    let plan = place(
        &instances,
        &[req(10, 1500), req(10, 1000), req(10, 600)],
        &[binpack("memory")],
        7,
    );
    // 1500 fits only mid and big: mid. Then 1000: small (1024). Then 600: mid has 548 left,
    // small 24, so big.
    assert_eq!(hosts(&plan), ["mid", "small", "big"]);
    assert!(plan.failures.is_empty());
}

#[test]
fn binpack_cpu_takes_the_least_cpu_left() {
    let instances = [inst("a", 2048, 8192), inst("b", 1024, 8192)];
    let plan = place(
        &instances,
        &[req(512, 1), req(512, 1), req(512, 1)],
        &[binpack("cpu")],
        1,
    );
    assert_eq!(hosts(&plan), ["b", "b", "a"]);
}

#[test]
fn spread_instance_goes_round_robin() {
    let mut instances = vec![
        inst("a", 4096, 8192),
        inst("b", 4096, 8192),
        inst("c", 4096, 8192),
    ];
    instances[0].task_count = 2;
    let plan = place(&instances, &vec![req(1, 1); 7], &[spread("instanceId")], 3);
    let mut per: BTreeMap<&str, u32> = BTreeMap::new();
    for h in hosts(&plan) {
        *per.entry(h).or_default() += 1;
    }
    // 2 existing + 7 new = 9 tasks over 3 instances: 3 each.
    assert_eq!(per, BTreeMap::from([("a", 1), ("b", 3), ("c", 3)]));
    assert_eq!(
        place(&instances, &vec![req(1, 1); 7], &[spread("host")], 3),
        plan
    );
}

#[test]
fn spread_zone_balances_zones_and_binpacks_inside() {
    let mut instances = vec![
        zoned("a1", "a"),
        zoned("a2", "a"),
        zoned("b1", "b"),
        zoned("b2", "b"),
        inst("none", 4096, 8192),
    ];
    instances[1].remaining_memory = 4096;
    instances[3].remaining_memory = 1024;
    let plan = place(
        &instances,
        &vec![req(1, 512); 6],
        &[spread("attribute:zone"), binpack("memory")],
        9,
    );
    let mut per_zone: BTreeMap<char, u32> = BTreeMap::new();
    for h in hosts(&plan) {
        *per_zone.entry(h.chars().next().unwrap_or('?')).or_default() += 1;
    }
    // Three groups (a, b, and instances without the attribute), two tasks each.
    assert_eq!(per_zone, BTreeMap::from([('a', 2), ('b', 2), ('n', 2)]));
    // Inside a zone, binpack: a2 and b2 have the least memory.
    assert!(hosts(&plan).contains(&"a2") && hosts(&plan).contains(&"b2"));
    assert!(!hosts(&plan).contains(&"a1"));
}

#[test]
fn spread_over_two_attributes_uses_both() {
    let mut instances = Vec::new();
    for (id, zone, rack) in [
        ("1", "a", "x"),
        ("2", "a", "y"),
        ("3", "b", "x"),
        ("4", "b", "y"),
    ] {
        let mut i = zoned(id, zone);
        i.attributes.push(("rack".into(), rack.into()));
        instances.push(i);
    }
    // Zone and rack counts alone tie after two tasks (one per zone, one per rack), so the
    // instance spread decides the rest.
    let strategies = [
        spread("attribute:zone"),
        spread("attribute:rack"),
        spread("instanceId"),
    ];
    let plan = place(&instances, &vec![req(1, 1); 4], &strategies, 5);
    let mut all: Vec<&str> = hosts(&plan);
    all.sort_unstable();
    assert_eq!(all, ["1", "2", "3", "4"]);
    assert_eq!(
        plan,
        place_linear(&instances, &vec![req(1, 1); 4], &strategies, &[], 5)
    );
}

#[test]
fn ports_are_never_used_twice() {
    let mut instances = vec![inst("a", 4096, 8192), inst("b", 4096, 8192)];
    instances[1].used_ports.insert(443);
    let web = TaskRequest {
        cpu: 1,
        memory: 1,
        ports: vec![80],
        ..TaskRequest::default()
    };
    let tls = TaskRequest {
        cpu: 1,
        memory: 1,
        ports: vec![443],
        ..TaskRequest::default()
    };
    let plan = place(
        &instances,
        &[web.clone(), web.clone(), web, tls.clone(), tls],
        &[binpack("memory")],
        2,
    );
    assert_eq!(plan.placements.len(), 3);
    assert_eq!(plan.placements[2], (3, "a".to_string()));
    assert_eq!(
        reasons(&plan),
        [(2, "RESOURCE:PORTS"), (4, "RESOURCE:PORTS")]
    );
}

#[test]
fn failure_reasons() {
    let none: [InstanceView; 0] = [];
    assert_eq!(
        reasons(&place(&none, &[req(1, 1)], &[], 0)),
        [(0, "MISSING")]
    );

    let mut down = inst("down", 4096, 8192);
    down.schedulable = false;
    assert_eq!(
        reasons(&place(&[down], &[req(1, 1)], &[], 0)),
        [(0, "MISSING")]
    );

    let instances = [
        inst("a", 100, 8192),
        inst("b", 100, 8192),
        inst("c", 4096, 10),
    ];
    assert_eq!(
        reasons(&place(&instances, &[req(200, 20)], &[], 0)),
        [(0, "RESOURCE:CPU")]
    );
    let instances = [
        inst("a", 100, 8192),
        inst("c", 4096, 10),
        inst("d", 4096, 10),
    ];
    assert_eq!(
        reasons(&place(&instances, &[req(200, 20)], &[], 0)),
        [(0, "RESOURCE:MEMORY")]
    );
}

#[test]
fn a_plan_fills_an_instance_exactly_and_no_further() {
    let instances = [inst("only", 1024, 4096)];
    let plan = place(&instances, &vec![req(256, 1024); 6], &[binpack("cpu")], 0);
    assert_eq!(plan.placements.len(), 4);
    assert_eq!(reasons(&plan), [(4, "RESOURCE:CPU"), (5, "RESOURCE:CPU")]);
}

#[test]
fn random_spreads_and_is_reproducible() {
    let instances: Vec<_> = (0..10)
        .map(|n| inst(&format!("i{n}"), 100_000, 100_000))
        .collect();
    let requests = vec![req(1, 1); 200];
    let plan = place(&instances, &requests, &[], 11);
    let used: BTreeSet<&str> = hosts(&plan).into_iter().collect();
    assert_eq!(
        used.len(),
        10,
        "200 random placements touch all 10 instances"
    );
    assert_eq!(plan, place(&instances, &requests, &[Strategy::Random], 11));
    assert_ne!(plan, place(&instances, &requests, &[], 12));
}

// ---- properties ----

fn arb_instance(n: usize) -> impl proptest::strategy::Strategy<Value = InstanceView> {
    (
        prop::bool::weighted(0.85),
        0i64..3000,
        0i64..3000,
        prop::collection::btree_set(80u16..84, 0..3),
        prop::option::of(0u8..3),
        prop::option::of(0u8..2),
        0u32..4,
        prop::bool::weighted(0.7),
    )
        .prop_map(
            move |(schedulable, cpu, memory, used_ports, zone, rack, task_count, eni)| {
                let mut attributes = Vec::new();
                if eni {
                    attributes.push((crate::TASK_ENI.to_string(), String::new()));
                }
                if let Some(z) = zone {
                    attributes.push(("zone".to_string(), format!("z{z}")));
                }
                if let Some(r) = rack {
                    attributes.push(("rack".to_string(), format!("r{r}")));
                }
                InstanceView {
                    id: format!("i{n}"),
                    schedulable,
                    remaining_cpu: cpu,
                    remaining_memory: memory,
                    used_ports,
                    attributes,
                    task_count,
                    ..InstanceView::default()
                }
            },
        )
}

fn arb_instances() -> impl proptest::strategy::Strategy<Value = Vec<InstanceView>> {
    (0usize..10).prop_flat_map(|len| (0..len).map(arb_instance).collect::<Vec<_>>())
}

fn arb_request() -> impl proptest::strategy::Strategy<Value = TaskRequest> {
    (
        0i64..800,
        0i64..800,
        prop::collection::vec(80u16..84, 0..2),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(cpu, memory, mut ports, awsvpc)| {
            ports.dedup();
            let mode = awsvpc.then_some("awsvpc");
            TaskRequest {
                cpu,
                memory,
                ports,
                required_attributes: crate::network_mode_attributes(mode)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                ..TaskRequest::default()
            }
        })
}

fn arb_strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::Random),
        Just(binpack("cpu")),
        Just(binpack("memory")),
        Just(spread("instanceId")),
        Just(spread("host")),
        Just(spread("attribute:zone")),
        Just(spread("attribute:rack")),
        Just(binpack("disk")),
    ]
}

fn arb_strategies() -> impl proptest::strategy::Strategy<Value = Vec<Strategy>> {
    prop::collection::vec(arb_strategy(), 0..4)
}

/// Replays `plan` on the snapshot and checks every invariant a plan must keep.
fn check_plan(instances: &[InstanceView], requests: &[TaskRequest], plan: &Plan) {
    let mut cpu: Vec<i64> = instances.iter().map(|i| i.remaining_cpu).collect();
    let mut memory: Vec<i64> = instances.iter().map(|i| i.remaining_memory).collect();
    let mut ports: Vec<BTreeSet<u16>> = instances.iter().map(|i| i.used_ports.clone()).collect();
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
    assert_eq!(
        placed.len(),
        plan.placements.len(),
        "a request placed twice"
    );
    assert_eq!(
        placed.len() + failed.len(),
        requests.len(),
        "every request placed or failed, once"
    );
    let fits = |cpu: &[i64], memory: &[i64], ports: &[BTreeSet<u16>], n: usize, r: &TaskRequest| {
        instances[n].schedulable
            && r.required_attributes
                .iter()
                .all(|a| instances[n].attributes.iter().any(|(k, _)| k == a))
            && cpu[n] >= r.cpu
            && memory[n] >= r.memory
            && r.ports.iter().all(|p| !ports[n].contains(p))
    };
    for (j, r) in requests.iter().enumerate() {
        if let Some(id) = placed.get(&j) {
            let n = by_id[id];
            assert!(
                fits(&cpu, &memory, &ports, n, r),
                "request {j} placed on {id}, which does not fit it"
            );
            cpu[n] -= r.cpu;
            memory[n] -= r.memory;
            assert!(cpu[n] >= 0 && memory[n] >= 0);
            for p in &r.ports {
                assert!(ports[n].insert(*p), "port {p} used twice on {id}");
            }
        } else {
            let reason = failed.get(&j).copied().unwrap_or_default();
            assert!(
                (0..instances.len()).all(|n| !fits(&cpu, &memory, &ports, n, r)),
                "request {j} failed ({reason}) though an instance fits it"
            );
            let any_schedulable = instances.iter().any(|i| i.schedulable);
            let expected: &[&str] = if any_schedulable {
                &[
                    "ATTRIBUTE",
                    "RESOURCE:CPU",
                    "RESOURCE:MEMORY",
                    "RESOURCE:PORTS",
                ]
            } else {
                &["MISSING"]
            };
            assert!(expected.contains(&reason), "request {j}: reason {reason}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plans_keep_every_invariant(
        instances in arb_instances(),
        requests in prop::collection::vec(arb_request(), 0..30),
        strategies in arb_strategies(),
        seed in any::<u64>(),
    ) {
        let plan = place(&instances, &requests, &strategies, seed);
        check_plan(&instances, &requests, &plan);
        prop_assert_eq!(&plan, &place(&instances, &requests, &strategies, seed));
    }

    #[test]
    fn the_index_ranks_exactly_like_a_full_scan(
        instances in arb_instances(),
        requests in prop::collection::vec(arb_request(), 0..30),
        strategies in arb_strategies(),
        seed in any::<u64>(),
    ) {
        prop_assert_eq!(
            place(&instances, &requests, &strategies, seed),
            place_linear(&instances, &requests, &strategies, &[], seed)
        );
    }
}

#[test]
fn launch_types_place_only_on_their_own_instances() {
    use crate::LaunchType;
    let mut ext = inst("ext", 4096, 8192);
    ext.launch_type = LaunchType::External;
    let instances = [inst("ec2", 4096, 8192), ext];
    let mut e = req(256, 256);
    e.launch_type = LaunchType::External;
    let plan = place(&instances, &[e.clone(), e.clone(), e], &[], 7);
    assert_eq!(hosts(&plan), ["ext", "ext", "ext"]);
    let plan = place(&instances, &[req(256, 256), req(256, 256)], &[], 7);
    assert_eq!(hosts(&plan), ["ec2", "ec2"]);

    // No instance of the task's launch type: MISSING, and the detail says why.
    let plan = place(
        &instances[..1],
        &[{
            let mut r = req(1, 1);
            r.launch_type = LaunchType::External;
            r
        }],
        &[],
        7,
    );
    assert_eq!(reasons(&plan), [(0, "MISSING")]);
    assert!(
        plan.failures[0]
            .detail
            .contains("1 of launch type EC2, not EXTERNAL"),
        "{}",
        plan.failures[0].detail
    );
    // Too little memory on the one EXTERNAL host is that host's reason, whatever the EC2
    // hosts have.
    let mut small = inst("ext", 4096, 128);
    small.launch_type = LaunchType::External;
    let mut r = req(1, 256);
    r.launch_type = LaunchType::External;
    let plan = place(&[inst("a", 1, 1), inst("b", 1, 1), small], &[r], &[], 7);
    assert_eq!(reasons(&plan), [(0, "RESOURCE:MEMORY")]);
}
