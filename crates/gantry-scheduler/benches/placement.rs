//! Placement throughput on a large synthetic cluster: `cargo bench -p gantry-scheduler`.
//! Prints placements per second for each strategy list (one core, one plan).

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use gantry_scheduler::{place, InstanceView, Strategy, TaskRequest};

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
                remaining_cpu: 16_384 - 1_024 * used as i64,
                remaining_memory: 65_536 - 4_096 * used as i64,
                used_ports: (0..used).map(|p| 8_000 + p as u16).collect::<BTreeSet<_>>(),
                attributes: vec![
                    (
                        "zone".into(),
                        format!("us-east-1{}", ["a", "b", "c"][n % 3]),
                    ),
                    ("ecs.os-type".into(), "linux".into()),
                ],
                task_count: used as u32,
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
        })
        .collect()
}

fn run(name: &str, instances: &[InstanceView], tasks: &[TaskRequest], strategies: &[Strategy]) {
    // One warm-up, then the best of three.
    let _ = black_box(place(instances, tasks, strategies, 1));
    let mut best = f64::MAX;
    let mut placed = 0;
    for seed in 0..3 {
        let started = Instant::now();
        let plan = black_box(place(instances, tasks, strategies, seed));
        best = best.min(started.elapsed().as_secs_f64());
        placed = plan.placements.len();
    }
    println!(
        "{name:<36} {INSTANCES} instances x {TASKS} tasks: {placed} placed, {:.1} ms, {:.0} placements/s",
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
    run("binpack(memory)", &instances, &tasks, &[binpack("memory")]);
    run(
        "spread(attribute:zone)+binpack(memory)",
        &instances,
        &tasks,
        &[spread("attribute:zone"), binpack("memory")],
    );
    run("binpack(cpu)", &instances, &tasks, &[binpack("cpu")]);
    run(
        "spread(instanceId)",
        &instances,
        &tasks,
        &[spread("instanceId")],
    );
    run(
        "spread(attribute:zone)+spread(instanceId)",
        &instances,
        &tasks,
        &[spread("attribute:zone"), spread("instanceId")],
    );
    run("random", &instances, &tasks, &[]);
}
