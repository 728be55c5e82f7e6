//! Placement throughput on a large synthetic cluster: `cargo bench -p gantry-scheduler`.
//! Prints placements per second for each strategy list, with and without constraints (one
//! core, one plan).

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::Instant;

use gantry_scheduler::{place_with, Constraint, InstanceView, Strategy, TaskRequest};

const INSTANCES: usize = 10_000;
const TASKS: usize = 100_000;

/// A tiny deterministic generator, so the bench needs nothing else.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn cluster(rng: &mut Lcg) -> Vec<InstanceView> {
    (0..INSTANCES)
        .map(|n| {
            let used = rng.next(4);
            InstanceView {
                id: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/{n:032x}"),
                schedulable: rng.next(50) != 0,
                status: gantry_scheduler::Status::Active,
                remaining_cpu: 16_384 - 1_024 * used as i64,
                remaining_memory: 65_536 - 4_096 * used as i64,
                used_ports: (0..used).map(|p| 8_000 + p as u16).collect::<BTreeSet<_>>(),
                attributes: vec![
                    (
                        "zone".into(),
                        format!("us-east-1{}", ["a", "b", "c"][n % 3]),
                    ),
                    (
                        "ecs.os-type".into(),
                        if n % 20 == 0 { "windows" } else { "linux" }.into(),
                    ),
                ],
                task_count: used as u32,
                agent_connected: true,
                agent_version: "1.80.0".into(),
                launch_type: Default::default(),
                registered_at: 1_700_000_000.0,
                task_groups: if used == 0 {
                    BTreeMap::new()
                } else {
                    let group = ["service:web", "service:batch", "family:cron"][n % 3];
                    BTreeMap::from([(group.to_string(), used as u32)])
                },
            }
        })
        .collect()
}

fn requests(rng: &mut Lcg) -> Vec<TaskRequest> {
    (0..TASKS)
        .map(|_| TaskRequest {
            cpu: [128, 256, 512, 1_024][rng.next(4) as usize],
            memory: [256, 512, 1_024, 2_048][rng.next(4) as usize],
            ports: if rng.next(10) == 0 {
                vec![8_080]
            } else {
                Vec::new()
            },
            group: "service:web".into(),
            required_attributes: Vec::new(),
            launch_type: Default::default(),
        })
        .collect()
}

fn run(
    name: &str,
    instances: &[InstanceView],
    tasks: &[TaskRequest],
    strategies: &[Strategy],
    constraints: &[Constraint],
) {
    // `cargo bench -p gantry-scheduler -- <text>` runs only the lists whose name holds it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.is_some_and(|f| !name.contains(f.as_str())) {
        return;
    }
    // One warm-up, then the best of three.
    let _ = black_box(place_with(instances, tasks, strategies, constraints, 1));
    let mut best = f64::MAX;
    let mut placed = 0;
    for seed in 0..3 {
        let started = Instant::now();
        let plan = black_box(place_with(instances, tasks, strategies, constraints, seed));
        best = best.min(started.elapsed().as_secs_f64());
        placed = plan.placements.len();
    }
    println!(
        "{name:<72} {INSTANCES} instances x {TASKS} tasks: {placed} placed, {:.1} ms, {:.0} placements/s",
        best * 1e3,
        TASKS as f64 / best
    );
}

fn main() {
    let mut rng = Lcg(42);
    let instances = cluster(&mut rng);
    let tasks = requests(&mut rng);
    let binpack = |f: &str| Strategy::Binpack { field: f.into() };
    let spread = |f: &str| Strategy::Spread { field: f.into() };
    let member_of = |e: &str| match Constraint::member_of(e) {
        Ok(c) => c,
        Err(err) => panic!("{e}: {err}"),
    };
    let zone_memory = [spread("attribute:zone"), binpack("memory")];
    run(
        "binpack(memory)",
        &instances,
        &tasks,
        &[binpack("memory")],
        &[],
    );
    run(
        "spread(attribute:zone)+binpack(memory)",
        &instances,
        &tasks,
        &zone_memory,
        &[],
    );
    run("binpack(cpu)", &instances, &tasks, &[binpack("cpu")], &[]);
    run(
        "spread(instanceId)",
        &instances,
        &tasks,
        &[spread("instanceId")],
        &[],
    );
    run(
        "spread(attribute:zone)+spread(instanceId)",
        &instances,
        &tasks,
        &[spread("attribute:zone"), spread("instanceId")],
        &[],
    );
    run("random", &instances, &tasks, &[], &[]);
    run(
        "spread(attribute:zone)+binpack(memory) memberOf(ecs.os-type == linux)",
        &instances,
        &tasks,
        &zone_memory,
        &[member_of("attribute:ecs.os-type == linux")],
    );
    run(
        "spread(attribute:zone)+binpack(memory) memberOf(os, zone, !task:group)",
        &instances,
        &tasks,
        &zone_memory,
        &[member_of(
            "attribute:ecs.os-type == linux && attribute:zone in [us-east-1a, us-east-1b] \
             && !(task:group == service:batch)",
        )],
    );
    run(
        "binpack(memory) memberOf(runningTasksCount < 8)",
        &instances,
        &tasks,
        &[binpack("memory")],
        &[member_of("runningTasksCount < 8")],
    );
    run(
        "spread(attribute:zone)+binpack(memory) distinctInstance",
        &instances,
        &tasks,
        &zone_memory,
        &[Constraint::DistinctInstance],
    );
    run(
        "random memberOf(ecs.os-type == linux)",
        &instances,
        &tasks,
        &[],
        &[member_of("attribute:ecs.os-type == linux")],
    );
}
