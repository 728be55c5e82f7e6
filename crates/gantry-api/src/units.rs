//! ECS's task-level `cpu` and `memory` strings, parsed the one way the server validates them
//! and the agent applies them.

/// Parses a task `cpu` as ECS does: CPU units (`"256"`) or vCPUs (`"1 vCPU"`, `"0.5 vcpu"`).
pub fn parse_cpu(s: &str) -> Option<i64> {
    parse_size(s, &["vcpu"])
}

/// Parses a task `memory` as ECS does: MiB (`"512"`) or GiB (`"0.5 GB"`, `"2GB"`).
pub fn parse_memory(s: &str) -> Option<i64> {
    parse_size(s, &["gb", "gib"])
}

fn parse_size(s: &str, big_units: &[&str]) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    for unit in big_units {
        if let Some(n) = t.strip_suffix(unit) {
            let v: f64 = n.trim().parse().ok()?;
            if !v.is_finite() || v <= 0.0 {
                return None;
            }
            let units = v * 1024.0;
            if units.fract() != 0.0 || units > i32::MAX as f64 {
                return None;
            }
            return Some(units as i64);
        }
    }
    t.parse::<i64>()
        .ok()
        .filter(|v| *v > 0 && *v <= i64::from(i32::MAX))
}

/// A task-level size string that does not parse (see [`task_cpu`], [`task_memory`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSize(pub String);

/// The task-level `cpu` that applies to a task, in CPU units: its override's, else its task
/// definition's; `None` when neither gives one. The server sizes placements with this and
/// the agent sizes the task's cgroup with it, so both read the same number.
pub fn task_cpu(
    def: &crate::model::TaskDefinition,
    overrides: Option<&crate::model::TaskOverride>,
) -> Result<Option<i64>, BadSize> {
    resolve(
        overrides.and_then(|o| o.cpu.as_deref()),
        def.cpu.as_deref(),
        parse_cpu,
    )
}

/// The task-level `memory` that applies to a task, in MiB (see [`task_cpu`]).
pub fn task_memory(
    def: &crate::model::TaskDefinition,
    overrides: Option<&crate::model::TaskOverride>,
) -> Result<Option<i64>, BadSize> {
    resolve(
        overrides.and_then(|o| o.memory.as_deref()),
        def.memory.as_deref(),
        parse_memory,
    )
}

fn resolve(
    over: Option<&str>,
    def: Option<&str>,
    parse: fn(&str) -> Option<i64>,
) -> Result<Option<i64>, BadSize> {
    match over.or(def) {
        None => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| BadSize(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecs_forms() {
        assert_eq!(parse_cpu("256"), Some(256));
        assert_eq!(parse_cpu("1 vCPU"), Some(1024));
        assert_eq!(parse_cpu("0.5 vcpu"), Some(512));
        assert_eq!(parse_memory("512"), Some(512));
        assert_eq!(parse_memory("1 GB"), Some(1024));
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(parse_cpu("-1"), None);
    }

    #[test]
    fn the_override_wins_over_the_definition() {
        use crate::model::{TaskDefinition, TaskOverride};
        let def = TaskDefinition {
            cpu: Some("512".into()),
            memory: Some("1 GB".into()),
            ..Default::default()
        };
        assert_eq!(task_cpu(&def, None), Ok(Some(512)));
        assert_eq!(task_memory(&def, None), Ok(Some(1024)));
        let o = TaskOverride {
            cpu: Some("1 vCPU".into()),
            memory: Some("lots".into()),
            ..Default::default()
        };
        assert_eq!(task_cpu(&def, Some(&o)), Ok(Some(1024)));
        assert_eq!(task_memory(&def, Some(&o)), Err(BadSize("lots".into())));
        assert_eq!(task_cpu(&TaskDefinition::default(), None), Ok(None));
    }
}
