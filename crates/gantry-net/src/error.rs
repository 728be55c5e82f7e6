use std::path::PathBuf;

use crate::Protocol;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid network for task {task}: {why}")]
    InvalidSpec { task: String, why: String },
    #[error("networkMode {mode} is not configured on this node: {why}")]
    ModeNotConfigured { mode: &'static str, why: String },
    #[error("invalid network configuration: {0}")]
    Config(String),
    #[error("could not create the network namespace for task {task}: {source}; check that the agent runs as root with CAP_SYS_ADMIN")]
    CreateNamespace {
        task: String,
        source: std::io::Error,
    },
    #[error("could not bring up loopback in the namespace of task {task}: {source}")]
    Loopback {
        task: String,
        source: std::io::Error,
    },
    #[error("could not remove the network namespace {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not enter the network namespace {path}: {source}")]
    EnterNamespace {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("host port {port}/{} is already allocated on this node (task {owner})", protocol.as_str())]
    PortInUse {
        port: u16,
        protocol: Protocol,
        owner: String,
    },
    #[error("host port {port} is reserved on this node (reserved ports: agent configuration)")]
    PortReserved { port: u16 },
    #[error("no free host port left in the dynamic range {lo}-{hi} for {count} port(s)")]
    PortsExhausted { lo: u16, hi: u16, count: u32 },
    #[error("no free address left in {subnet}")]
    AddressesExhausted { subnet: String },
    #[error("could not {op} the network allocations in {path}: {source}")]
    State {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("netlink: could not {op}: {source}")]
    Netlink { op: String, source: std::io::Error },
    #[error("nftables: {op} failed: {detail}; check that the `nft` binary (package nftables) is installed and the kernel has nf_tables")]
    Nft { op: &'static str, detail: String },
    #[error("could not write {path}: {source}")]
    Sysctl {
        path: PathBuf,
        source: std::io::Error,
    },
}
