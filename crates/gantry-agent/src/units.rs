//! ECS's task-level `cpu` and `memory` strings: "256" or "1 vCPU"; "512" or "1 GB".

/// CPU units (1024 = one vCPU).
pub fn parse_cpu(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(v) = t
        .strip_suffix("vCPU")
        .or_else(|| t.strip_suffix("vcpu"))
        .map(str::trim)
    {
        let f: f64 = v.parse().ok()?;
        return Some((f * 1024.0).round() as i64);
    }
    t.parse().ok()
}

/// MiB.
pub fn parse_memory(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(v) = t
        .strip_suffix("GB")
        .or_else(|| t.strip_suffix("gb"))
        .map(str::trim)
    {
        let f: f64 = v.parse().ok()?;
        return Some((f * 1024.0).round() as i64);
    }
    t.strip_suffix("MB").unwrap_or(t).trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecs_forms() {
        assert_eq!(parse_cpu("256"), Some(256));
        assert_eq!(parse_cpu("1 vCPU"), Some(1024));
        assert_eq!(parse_cpu("0.5 vCPU"), Some(512));
        assert_eq!(parse_memory("512"), Some(512));
        assert_eq!(parse_memory("1 GB"), Some(1024));
        assert_eq!(parse_memory("lots"), None);
    }
}
