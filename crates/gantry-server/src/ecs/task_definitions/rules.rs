//! The checks RegisterTaskDefinition makes beyond the model's shapes: names, image
//! references, task and container sizes, network mode and ports, as ECS applies them to EC2
//! task definitions.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use gantry_api::model::{ContainerDefinition, RegisterTaskDefinitionRequest};
use regex::Regex;

use crate::error::{client, Result};

static FAMILY: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]{1,255}$").ok());
static PATH_COMPONENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").ok());
static HOST: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$").ok()
});
static TAG: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[\w][\w.-]{0,127}$").ok());
static DIGEST: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("^sha256:[a-f0-9]{64}$").ok());

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(s))
}

/// Smallest memory a container may have, in MiB.
pub const MIN_CONTAINER_MEMORY: i32 = 6;
/// Largest container `cpu`, in CPU units (10 vCPU).
pub const MAX_CONTAINER_CPU: i32 = 10_240;
/// Task-level cpu bounds for EC2, in CPU units.
pub const TASK_CPU: (i64, i64) = (128, 196_608);

pub fn check_family(family: &str) -> Result<()> {
    // ECS's own words (docs/api-coverage.md, Texts).
    if family.is_empty() {
        Err(client("Family can not be blank."))
    } else if matches(&FAMILY, family) {
        Ok(())
    } else {
        Err(client("Family contains invalid characters."))
    }
}

/// A Docker image reference: `[host[:port]/]path[:tag][@sha256:<64 hex>]`, where the first
/// component is a host only if it has a `.` or `:` or is `localhost`, as Docker decides.
pub fn check_image(image: &str) -> std::result::Result<(), String> {
    if image.is_empty() || image.len() > 255 + 72 + 129 {
        return Err("it is empty or too long".into());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        if !matches(&DIGEST, d) {
            return Err("the digest must be sha256: followed by 64 lowercase hex digits".into());
        }
    }
    let mut components: Vec<&str> = rest.split('/').collect();
    let first = components.first().copied().unwrap_or_default();
    let has_host = components.len() > 1
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_host {
        if !matches(&HOST, first) {
            return Err(format!("{first:?} is not a valid registry host[:port]"));
        }
        components.remove(0);
    }
    let last = components.pop().unwrap_or_default();
    let (last, tag) = match last.split_once(':') {
        Some((name, tag)) => (name, Some(tag)),
        None => (last, None),
    };
    if let Some(t) = tag {
        if !matches(&TAG, t) {
            return Err(format!(
                "tag {t:?} must be 1 to 128 letters, digits, _ . or -, not starting with . or -"
            ));
        }
    }
    components.push(last);
    let path_len: usize = components.iter().map(|c| c.len() + 1).sum();
    if path_len > 256 {
        return Err("the repository name is longer than 255 characters".into());
    }
    for c in components {
        if !matches(&PATH_COMPONENT, c) {
            return Err(format!(
                "repository path component {c:?} must be lowercase letters and digits, separated by . _ __ or -"
            ));
        }
    }
    Ok(())
}

pub use gantry_api::units::{parse_cpu, parse_memory};

/// Task-level cpu and memory, checked; `None` where the task definition gives none.
pub fn task_size(cpu: Option<&str>, memory: Option<&str>) -> Result<(Option<i64>, Option<i64>)> {
    let cpu = match cpu {
        None => None,
        Some(s) => {
            let v = parse_cpu(s).ok_or_else(|| {
                client(format!(
                    "Task cpu {s:?} is invalid: give CPU units (\"256\") or vCPUs (\"0.25 vCPU\")."
                ))
            })?;
            if v < TASK_CPU.0 || v > TASK_CPU.1 {
                return Err(client(format!(
                    "Task cpu {s:?} is {v} CPU units; it must be between {} and {} (0.125 to 192 vCPU).",
                    TASK_CPU.0, TASK_CPU.1
                )));
            }
            Some(v)
        }
    };
    let memory = match memory {
        None => None,
        Some(s) => {
            let v = parse_memory(s).ok_or_else(|| {
                client(format!(
                    "Task memory {s:?} is invalid: give MiB (\"512\") or GB (\"0.5 GB\")."
                ))
            })?;
            if v < i64::from(MIN_CONTAINER_MEMORY) {
                return Err(client(format!(
                    "Task memory {s:?} is {v} MiB; it must be at least {MIN_CONTAINER_MEMORY} MiB."
                )));
            }
            Some(v)
        }
    };
    Ok((cpu, memory))
}

fn check_container(
    c: &ContainerDefinition,
    task_memory: Option<i64>,
    ports: &mut crate::ecs::task_definitions::ports::TaskPorts,
    network_mode: &str,
) -> Result<()> {
    let name = c.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        return Err(client("Container.name should not be null or empty."));
    }
    if !matches(&FAMILY, name) {
        return Err(client("Container.name contains invalid characters."));
    }
    let image = c.image.as_deref().unwrap_or_default();
    if image.is_empty() {
        return Err(client("Container.image should not be null or empty."));
    }
    check_image(image).map_err(|why| {
        client(format!(
            "Container {name} has an invalid image reference {image:?}: {why}."
        ))
    })?;
    if let Some(cpu) = c.cpu {
        if !(0..=MAX_CONTAINER_CPU).contains(&cpu) {
            return Err(client(format!(
                "Container {name} has cpu {cpu}; it must be between 0 and {MAX_CONTAINER_CPU} CPU units."
            )));
        }
    }
    for (what, v) in [
        ("memory", c.memory),
        ("memoryReservation", c.memory_reservation),
    ] {
        if v.is_some_and(|m| m < MIN_CONTAINER_MEMORY) {
            return Err(client(format!(
                "Container {name} has {what} {} MiB; the minimum is {MIN_CONTAINER_MEMORY} MiB.",
                v.unwrap_or_default()
            )));
        }
    }
    if let (Some(hard), Some(soft)) = (c.memory, c.memory_reservation) {
        if soft > hard {
            return Err(client(format!(
                "Container {name}: memoryReservation ({soft}) must be less than or equal to memory ({hard})."
            )));
        }
    }
    if c.memory.is_none() && c.memory_reservation.is_none() && task_memory.is_none() {
        return Err(client(format!(
            "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
        )));
    }
    if let (Some(m), Some(tm)) = (c.memory, task_memory) {
        if i64::from(m) > tm {
            return Err(client(format!(
                "The 'memory' setting for container '{name}' is greater than for the task."
            )));
        }
    }
    if let Some(lc) = &c.log_configuration {
        gantry_api::logconfig::check(name, lc).map_err(client)?;
    }
    let mappings = c.port_mappings.as_deref().unwrap_or_default();
    if network_mode == "none" && !mappings.is_empty() {
        return Err(client(format!(
            "Container {name} has port mappings, but networkMode none has no network to map them to; remove them or use networkMode bridge, host or awsvpc."
        )));
    }
    for m in mappings {
        crate::ecs::task_definitions::ports::check_mapping(name, m, network_mode, ports)?;
    }
    Ok(())
}

/// Everything ECS checks on a RegisterTaskDefinition request beyond the model.
pub fn check(req: &RegisterTaskDefinitionRequest) -> Result<()> {
    check_family(req.family.as_deref().unwrap_or_default())?;
    // ECS's default on EC2 is bridge; the model's enum check has refused anything unknown.
    let network_mode = req.network_mode.as_deref().unwrap_or("bridge");
    if let Some(c) = req
        .requires_compatibilities
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.as_str() != "EC2" && c.as_str() != "EXTERNAL")
    {
        return Err(client(format!(
            "requiresCompatibilities {c} is not supported yet; use EC2 or EXTERNAL."
        )));
    }
    crate::launch::constraints::of_definition(
        req.placement_constraints.as_deref().unwrap_or_default(),
    )?;
    let (task_cpu, task_memory) = task_size(req.cpu.as_deref(), req.memory.as_deref())?;
    let containers = req.container_definitions.as_deref().unwrap_or_default();
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    let mut names = BTreeSet::new();
    let mut ports = crate::ecs::task_definitions::ports::TaskPorts::default();
    for c in containers {
        check_container(c, task_memory, &mut ports, network_mode)?;
        let name = c.name.clone().unwrap_or_default();
        if !names.insert(name.clone()) {
            return Err(client(
                "Container names must be unique within a Task Definition.",
            ));
        }
    }
    crate::ecs::task_definitions::deps::check(containers)?;
    if !containers.iter().any(|c| c.essential.unwrap_or(true)) {
        return Err(client(
            "A task definition needs at least one essential container; set essential to true on one.",
        ));
    }
    let sum_cpu: i64 = containers
        .iter()
        .map(|c| i64::from(c.cpu.unwrap_or(0)))
        .sum();
    if let Some(tc) = task_cpu {
        if sum_cpu > tc {
            return Err(client(
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
            ));
        }
    }
    if let Some(tm) = task_memory {
        let reserved: i64 = containers
            .iter()
            .map(|c| i64::from(c.memory_reservation.unwrap_or(0)))
            .sum();
        if reserved > tm {
            return Err(client(
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
            ));
        }
        let sum_mem: i64 = containers
            .iter()
            .map(|c| i64::from(c.memory.or(c.memory_reservation).unwrap_or(0)))
            .sum();
        if sum_mem > tm {
            return Err(client(format!(
                "The containers' memory adds up to {sum_mem} MiB, more than the task memory {tm} MiB."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "busybox",
            "library/busybox:1.36",
            "ghcr.io/owner/app:v1.2-rc_3",
            "localhost:5000/app",
            "registry.example.com:443/a/b/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "my-app__x.y:latest",
        ] {
            assert!(check_image(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "app@sha256:123",
            "bad host!/app",
            "app:tag:more",
            "-app",
        ] {
            assert!(check_image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse_as_ecs_does() {
        assert_eq!(parse_cpu("256"), Some(256));
        assert_eq!(parse_cpu("1 vCPU"), Some(1024));
        assert_eq!(parse_cpu("0.25 vcpu"), Some(256));
        assert_eq!(parse_memory("0.5 GB"), Some(512));
        assert_eq!(parse_memory("2GB"), Some(2048));
        assert_eq!(parse_memory("512"), Some(512));
        assert_eq!(parse_cpu("lots"), None);
        assert_eq!(parse_cpu("-1"), None);
        assert!(task_size(Some("64"), None).is_err());
        assert!(task_size(None, Some("4")).is_err());
    }
}
