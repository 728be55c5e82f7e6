//! Container dependencies (ECS `dependsOn`), as pure functions the supervisor asks: may this
//! container start now, can it never start, and which running container stops next. No
//! processes, no clock: the tests drive them with states.

use std::borrow::Borrow;

use crate::plan::{Condition, ContainerPlan, Dependency};

/// Where a container is, as far as the containers that depend on it care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not started yet; it may still start.
    Waiting,
    /// Running; `healthy` once its health check has reported HEALTHY; `timed_out` once its
    /// `startTimeout` has passed.
    Running { healthy: bool, timed_out: bool },
    /// Exited with this code; `was_healthy` if it ever reported HEALTHY.
    Exited { code: i32, was_healthy: bool },
    /// Will never start: it failed to start, or its own dependencies cannot be met, or the
    /// task stopped first.
    Never,
}

/// What a waiting container's dependencies say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every condition holds: start it.
    Start,
    /// Some condition may still come true.
    Wait,
    /// A condition can never come true: why, naming the container, the dependency and the
    /// condition.
    Never(String),
}

/// Whether `target` may start, given where each container is (`progress` by name).
pub fn verdict(
    target: &str,
    depends_on: &[Dependency],
    progress: impl Fn(&str) -> Progress,
) -> Verdict {
    let mut wait = false;
    for d in depends_on {
        match met(d.condition, progress(&d.container)) {
            Some(true) => {}
            Some(false) => wait = true,
            None => {
                let why = match (d.condition, progress(&d.container)) {
                    (Condition::Success, Progress::Exited { code, .. }) => {
                        format!("did not exit successfully (exit code {code})")
                    }
                    (Condition::Healthy, Progress::Exited { code, .. }) => {
                        format!("exited (exit code {code}) before it became HEALTHY")
                    }
                    (_, Progress::Running { .. }) => {
                        "did not meet the condition within its startTimeout".to_string()
                    }
                    _ => "will never start".to_string(),
                };
                return Verdict::Never(format!(
                    "Container {target} was not started: its dependency {} {why} \
                     (dependsOn condition {})",
                    d.container,
                    d.condition.as_str()
                ));
            }
        }
    }
    if wait {
        Verdict::Wait
    } else {
        Verdict::Start
    }
}

/// Some(true): met; Some(false): not yet; None: never.
fn met(condition: Condition, p: Progress) -> Option<bool> {
    match (condition, p) {
        (_, Progress::Never) => None,
        (_, Progress::Waiting) => Some(false),
        (Condition::Start, _) => Some(true),
        (Condition::Healthy, Progress::Running { healthy: true, .. }) => Some(true),
        (
            _,
            Progress::Running {
                timed_out: true, ..
            },
        ) => None,
        (_, Progress::Running { .. }) => Some(false),
        (Condition::Complete, Progress::Exited { .. }) => Some(true),
        (Condition::Success, Progress::Exited { code, .. }) => (code == 0).then_some(true),
        (Condition::Healthy, Progress::Exited { was_healthy, .. }) => was_healthy.then_some(true),
    }
}

/// The running container to stop next: dependents before their dependencies, otherwise the
/// last in start order. `running[i]` says whether container `i` still runs.
pub fn next_to_stop<C: Borrow<ContainerPlan>>(containers: &[C], running: &[bool]) -> Option<usize> {
    (0..containers.len()).rev().find(|&i| {
        let name = &containers[i].borrow().name;
        running[i]
            && !containers
                .iter()
                .zip(running)
                .any(|(c, &r)| r && c.borrow().depends_on.iter().any(|d| &d.container == name))
    })
}

/// The plan's dependencies make sense: they name other containers of the task, HEALTHY
/// ones have a health check, and there is no cycle.
pub fn check(containers: &[ContainerPlan]) -> Result<(), String> {
    let by_name = |n: &str| containers.iter().find(|c| c.name == n);
    for c in containers {
        for d in &c.depends_on {
            let Some(dep) = by_name(&d.container) else {
                return Err(format!(
                    "container {:?} depends on {:?}, which is not a container of the task",
                    c.name, d.container
                ));
            };
            if d.condition == Condition::Healthy && dep.health_check.is_none() {
                return Err(format!(
                    "container {:?} depends on {:?} being HEALTHY, but {:?} has no health check",
                    c.name, d.container, d.container
                ));
            }
        }
    }
    let graph: Vec<(&str, Vec<&str>)> = containers
        .iter()
        .map(|c| {
            let deps = c.depends_on.iter().map(|d| d.container.as_str()).collect();
            (c.name.as_str(), deps)
        })
        .collect();
    match gantry_api::depends::find_cycle(&graph) {
        Some(cycle) => Err(format!("dependsOn has a cycle: {}", cycle.join(" -> "))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dep(container: &str, condition: Condition) -> Dependency {
        Dependency {
            container: container.into(),
            condition,
        }
    }

    fn container(name: &str, depends_on: Vec<Dependency>) -> ContainerPlan {
        ContainerPlan {
            name: name.into(),
            container_id: format!("t-{name}"),
            bundle: "/b".into(),
            rootfs_dir: None,
            essential: true,
            stop_timeout_secs: 1,
            log_path: "/l".into(),
            health_check: None,
            depends_on,
            start_timeout_secs: None,
        }
    }

    fn ask(deps: &[Dependency], world: &[(&str, Progress)]) -> Verdict {
        let world: HashMap<&str, Progress> = world.iter().copied().collect();
        verdict("main", deps, |n| world[n])
    }

    const RUNNING: Progress = Progress::Running {
        healthy: false,
        timed_out: false,
    };
    const HEALTHY: Progress = Progress::Running {
        healthy: true,
        timed_out: false,
    };
    const LATE: Progress = Progress::Running {
        healthy: false,
        timed_out: true,
    };
    const OK: Progress = Progress::Exited {
        code: 0,
        was_healthy: false,
    };
    const FAILED: Progress = Progress::Exited {
        code: 3,
        was_healthy: false,
    };

    #[test]
    fn each_condition_waits_then_starts() {
        use Condition::*;
        let cases = [
            (Start, RUNNING, Verdict::Start),
            (Start, FAILED, Verdict::Start),
            (Complete, RUNNING, Verdict::Wait),
            (Complete, FAILED, Verdict::Start),
            (Success, RUNNING, Verdict::Wait),
            (Success, OK, Verdict::Start),
            (Healthy, RUNNING, Verdict::Wait),
            (Healthy, HEALTHY, Verdict::Start),
        ];
        for (cond, p, want) in cases {
            assert_eq!(ask(&[dep("d", cond)], &[("d", p)]), want, "{cond:?} {p:?}");
            assert_eq!(
                ask(&[dep("d", cond)], &[("d", Progress::Waiting)]),
                Verdict::Wait,
                "{cond:?} on a container not started yet"
            );
        }
        // All must hold.
        let both = [dep("a", Start), dep("b", Success)];
        assert_eq!(ask(&both, &[("a", RUNNING), ("b", RUNNING)]), Verdict::Wait);
        assert_eq!(ask(&both, &[("a", RUNNING), ("b", OK)]), Verdict::Start);
        assert_eq!(ask(&[], &[]), Verdict::Start);
    }

    #[test]
    fn conditions_that_can_never_hold_say_why() {
        use Condition::*;
        let never = |deps: &[Dependency], world: &[(&str, Progress)]| match ask(deps, world) {
            Verdict::Never(why) => why,
            v => panic!("expected Never, got {v:?}"),
        };
        assert_eq!(
            never(&[dep("init", Success)], &[("init", FAILED)]),
            "Container main was not started: its dependency init did not exit successfully \
             (exit code 3) (dependsOn condition SUCCESS)"
        );
        let why = never(&[dep("db", Healthy)], &[("db", FAILED)]);
        assert!(
            why.contains("db exited (exit code 3) before it became HEALTHY"),
            "{why}"
        );
        for cond in [Start, Complete, Success, Healthy] {
            let why = never(&[dep("d", cond)], &[("d", Progress::Never)]);
            assert!(why.contains("d will never start"), "{why}");
            assert!(why.contains(cond.as_str()), "{why}");
        }
        // A never-met condition wins over one still pending.
        let why = never(
            &[dep("a", Complete), dep("b", Success)],
            &[("a", RUNNING), ("b", FAILED)],
        );
        assert!(why.contains("dependency b"), "{why}");
        // startTimeout: COMPLETE, SUCCESS and HEALTHY give up; START was met at the start.
        for cond in [Complete, Success, Healthy] {
            let why = never(&[dep("d", cond)], &[("d", LATE)]);
            assert!(
                why.contains("d did not meet the condition within its startTimeout"),
                "{why}"
            );
        }
        assert_eq!(ask(&[dep("d", Start)], &[("d", LATE)]), Verdict::Start);
        // Once healthy, an exit does not undo HEALTHY.
        let was = Progress::Exited {
            code: 0,
            was_healthy: true,
        };
        assert_eq!(ask(&[dep("d", Healthy)], &[("d", was)]), Verdict::Start);
    }

    #[test]
    fn dependents_stop_before_their_dependencies() {
        use Condition::*;
        // app depends on db and proxy; proxy on db; log is independent and last.
        let cs = [
            container("db", vec![]),
            container("app", vec![dep("db", Healthy), dep("proxy", Start)]),
            container("proxy", vec![dep("db", Start)]),
            container("log", vec![]),
        ];
        let mut running = [true; 4];
        let mut order = Vec::new();
        while let Some(i) = next_to_stop(&cs, &running) {
            order.push(cs[i].name.as_str());
            running[i] = false;
        }
        assert_eq!(order, ["log", "app", "proxy", "db"]);
        // An exited dependent no longer holds its dependency back.
        let running = [true, false, false, false];
        assert_eq!(next_to_stop(&cs, &running), Some(0));
        assert_eq!(next_to_stop(&cs, &[false; 4]), None);
    }

    #[test]
    fn plans_with_bad_dependencies_are_refused() {
        use Condition::*;
        let ok = [
            container("a", vec![]),
            container("b", vec![dep("a", Start)]),
        ];
        check(&ok).expect("valid");
        let unknown = [container("a", vec![dep("ghost", Start)])];
        assert!(check(&unknown).unwrap_err().contains("\"ghost\""));
        let unchecked = [
            container("a", vec![]),
            container("b", vec![dep("a", Healthy)]),
        ];
        assert!(check(&unchecked).unwrap_err().contains("no health check"));
        let cycle = [
            container("a", vec![dep("b", Start)]),
            container("b", vec![dep("a", Complete)]),
        ];
        assert_eq!(
            check(&cycle).unwrap_err(),
            "dependsOn has a cycle: a -> b -> a"
        );
    }
}
