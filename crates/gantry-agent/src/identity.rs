//! Who this host is: its resources, and the container instance id kept in the state dir so a
//! restarted agent comes back as the same instance (the node credential it registers with is
//! in `crate::node_store`).

use std::time::Duration;

use gantry_api::protocol::{RegisterRequest, RegisterResponse, TASK_ENI_ATTRIBUTE};
use gantry_link::RegisterError;

use crate::config::AgentConfig;
use crate::error::AgentError;

/// CPU units (1024 a core) and MiB of memory of this host.
pub fn host_resources() -> (i64, i64) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<i64>().ok())
        })
        .unwrap_or(0);
    (i64::try_from(cpus).unwrap_or(1) * 1024, mem_kib / 1024)
}

fn id_file(cfg: &AgentConfig) -> std::path::PathBuf {
    cfg.state_dir.join("instance-id")
}

/// Forgets the container instance of an earlier credential: a host that joined anew is a
/// new node and registers as a new instance.
pub fn forget_instance(cfg: &AgentConfig) {
    let _ = std::fs::remove_file(id_file(cfg));
}

/// Registers with the server over `link` (node-signed), retrying for a while when it is not
/// up yet.
pub async fn register(
    cfg: &AgentConfig,
    link: &gantry_link::Link,
) -> Result<RegisterResponse, AgentError> {
    let (cpu, mem) = host_resources();
    let known = std::fs::read_to_string(id_file(cfg))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let mut attributes = vec![
        ("ecs.os-type".to_string(), "linux".to_string()),
        (
            "ecs.cpu-architecture".to_string(),
            match std::env::consts::ARCH {
                "x86_64" => "x86_64".to_string(),
                "aarch64" => "arm64".to_string(),
                other => other.to_string(),
            },
        ),
        (
            "ecs.capability.gantry-agent".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    // awsvpc needs a subnet: one of our own (--awsvpc-subnet) here, or else a slice the
    // server hands out, and then the server adds the attribute when it gives us one.
    if cfg.awsvpc_subnet.is_some() {
        attributes.push((TASK_ENI_ATTRIBUTE.to_string(), String::new()));
    }
    attributes.extend(cfg.attributes.iter().cloned());
    let req = RegisterRequest {
        cluster: cfg.cluster.clone(),
        instance_id: known,
        hostname: cfg.hostname.clone(),
        cpu: cfg.cpu_units.unwrap_or(cpu),
        memory: (mem - cfg.reserved_memory_mib).max(0),
        reserved_ports: cfg.reserved_ports.clone(),
        attributes,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        node_address: cfg
            .node_address
            .or_else(|| source_address_towards(&link.server_url()))
            .map(|a| a.to_string()),
    };
    let url = || gantry_link::register_url(&link.server_url());
    let mut last = String::new();
    for attempt in 0..60u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt.min(8)))).await;
        }
        match link.register(&req).await {
            Ok(reg) => {
                if let Err(source) = write_atomic(&id_file(cfg), reg.instance_id.as_bytes()) {
                    return Err(AgentError::StateDir {
                        path: id_file(cfg),
                        source,
                    });
                }
                return Ok(reg);
            }
            Err(e) if e.is_credential_refused() => {
                return Err(AgentError::CredentialRefused {
                    reason: e.server_message(),
                });
            }
            // A refusal (bad cluster, bad request) will not get better by retrying.
            Err(
                e @ (RegisterError::Refused { .. }
                | RegisterError::BadAnswer(_)
                | RegisterError::Unsigned(_)),
            ) => {
                return Err(AgentError::Register {
                    url: url(),
                    reason: e.server_message(),
                });
            }
            Err(RegisterError::Unavailable(e)) => last = e,
        }
    }
    // Every address was tried by now: name them all.
    Err(AgentError::Register {
        url: link.servers().to_string(),
        reason: last,
    })
}

/// The address this host sends from towards the server (a connected UDP socket sends
/// nothing), unless that is loopback: then the server runs on this host and the address
/// says nothing about how other nodes reach it.
fn source_address_towards(server_url: &str) -> Option<std::net::Ipv4Addr> {
    let url = reqwest::Url::parse(server_url).ok()?;
    let host = url.host_str()?.to_string();
    let port = url.port_or_known_default()?;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect((host.as_str(), port)).ok()?;
    match sock.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(a) if !a.is_loopback() && !a.is_unspecified() => Some(a),
        _ => None,
    }
}

/// Writes a file so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}
