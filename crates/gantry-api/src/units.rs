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
}
