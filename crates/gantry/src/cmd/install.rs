//! `gantry agent install`: the one command that joins a fresh host. It copies this binary to
//! /usr/local/bin/gantry, writes /etc/gantry/agent.toml (0600: it holds the grant) and the
//! systemd unit, enables and starts it, waits until the agent has registered, then takes the
//! spent grant out of agent.toml (the node credential in the state dir is what a restarted
//! agent uses). `--root DIR` writes the same files under DIR and enables the unit by its
//! symlink, without systemctl: for tests and image builders.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::agent_status;
use super::uninstall::{self, UninstallArgs};
pub use files::{config_text, write_atomic, write_files};
pub use plan::{plan, Plan};

pub const BINARY: &str = "/usr/local/bin/gantry";
pub const CONFIG: &str = "/etc/gantry/agent.toml";
pub const UNIT: &str = "/etc/systemd/system/gantry-agent.service";
/// What `systemctl enable` makes for `WantedBy=multi-user.target`.
pub const UNIT_LINK: &str = "/etc/systemd/system/multi-user.target.wants/gantry-agent.service";
pub const UNIT_NAME: &str = "gantry-agent";
pub(crate) const UNIT_TEXT: &str = include_str!("../../../../systemd/gantry-agent.service");
/// The keys of agent.toml that hold the grant: spent once the host has joined.
pub const GRANT_KEYS: [&str; 3] = ["join-token", "activation-id", "activation-code"];
/// The keys install sets from its own flags, which the trailing agent flags may not repeat.
pub(crate) const OWN_KEYS: [&str; 7] = [
    "server",
    "cluster",
    "state-dir",
    "join-token",
    "activation-id",
    "activation-code",
    "ca-sha256",
];

#[derive(Debug, Clone, Subcommand)]
pub enum AgentAction {
    /// Install this binary as the systemd unit gantry-agent and join the cluster (as root).
    Install(InstallArgs),
    /// Stop and remove the gantry-agent unit, its configuration and the binary (as root).
    Uninstall(UninstallArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// The control plane's URL, e.g. https://HOST:8080.
    #[arg(long)]
    pub server: String,
    /// The cluster to join.
    #[arg(long)]
    pub cluster: String,
    /// An SSM activation's id (with --activation-code): the host joins as an EXTERNAL
    /// instance.
    #[arg(long)]
    pub activation_id: Option<String>,
    /// The activation's code.
    #[arg(long, env = "GANTRY_ACTIVATION_CODE", hide_env_values = true)]
    pub activation_code: Option<String>,
    /// A cluster join token from `gantry token create`: the host joins as an EC2 instance.
    #[arg(long, env = "GANTRY_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<String>,
    /// The SHA-256 (64 hex digits) of the server's cluster CA certificate, pinned on first
    /// contact; required for an https server.
    #[arg(long)]
    pub ca_sha256: Option<String>,
    /// The agent's state directory (its images, tasks and node credential).
    #[arg(long, default_value = "/var/lib/gantry")]
    pub state_dir: PathBuf,
    /// The gantry binary to install (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Write everything under this directory and skip systemctl (tests, image builders).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// How long to wait for the agent to register.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub wait_timeout: Duration,
    /// More `gantry agent` flags for agent.toml, after `--` (e.g. `-- --attribute rack=r3`).
    #[arg(last = true, value_name = "AGENT_FLAGS")]
    pub agent_flags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0}")]
    Invalid(String),
    #[error("`gantry agent {0}` must run as root (it writes /usr/local/bin, /etc and the systemd unit); try sudo, or --root DIR to write into a directory")]
    NotRoot(&'static str),
    #[error("could not {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`systemctl {args}` failed ({status}): {stderr}")]
    Systemctl {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("the agent did not register within {secs} s; the unit keeps retrying. Its last log lines (journalctl -u gantry-agent):\n{journal}")]
    Timeout { secs: u64, journal: String },
}

pub fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |source| InstallError::Io { what, path, source }
}

pub fn run(action: AgentAction) -> Result<(), InstallError> {
    match action {
        AgentAction::Install(a) => install(&a),
        AgentAction::Uninstall(a) => uninstall::uninstall(&a),
    }
}

/// `path` (absolute) under `root`.
pub fn under(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    let p = path.as_ref();
    root.join(p.strip_prefix("/").unwrap_or(p))
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn install(a: &InstallArgs) -> Result<(), InstallError> {
    let plan = plan(a)?;
    if plan.systemctl.is_some() && !is_root() {
        return Err(InstallError::NotRoot("install"));
    }
    println!("{}", apply(&plan)?);
    Ok(())
}

/// Writes the files and, with systemctl, starts the agent and waits until it has joined.
/// Returns what to tell the user.
pub fn apply(plan: &Plan) -> Result<String, InstallError> {
    let started = agent_status::now_secs();
    write_files(plan)?;
    let Some(exe) = &plan.systemctl else {
        return Ok(format!(
            "wrote {BINARY}, {CONFIG} and {UNIT} under {}; the unit is enabled and joins the cluster on first boot",
            plan.root.display()
        ));
    };
    let state_dir = under(&plan.root, &plan.state_dir);
    let _ = std::fs::remove_file(agent_status::path(&state_dir));
    systemctl(exe, &["daemon-reload"])?;
    systemctl(exe, &["enable", UNIT_NAME])?;
    // restart, not start: a second install (an upgrade) must run the new binary.
    systemctl(exe, &["restart", "--no-block", UNIT_NAME])?;
    let status = wait_registered(exe, &state_dir, started, plan.wait)?;
    // The grant is spent: a restarted agent uses its node credential.
    let mut config = plan.config.clone();
    config.retain(|k, _| !GRANT_KEYS.contains(&k));
    let path = under(&plan.root, CONFIG);
    write_atomic(&path, config_text(&config).as_bytes(), 0o600)?;
    let node = status
        .node_id
        .as_deref()
        .map(|n| format!(", node {n}"))
        .unwrap_or_default();
    Ok(format!(
        "joined cluster {} as container instance {}{node}; the agent runs as the systemd unit {UNIT_NAME} (systemctl status {UNIT_NAME})",
        plan.cluster, status.container_instance_arn
    ))
}

pub fn systemctl(exe: &Path, args: &[&str]) -> Result<(), InstallError> {
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .map_err(io("run", Path::new("systemctl")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(InstallError::Systemctl {
        args: args.join(" "),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn unit_active(exe: &Path) -> bool {
    std::process::Command::new(exe)
        .args(["is-active", "--quiet", UNIT_NAME])
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits for the status file of an agent started after `since` while the unit is active.
fn wait_registered(
    exe: &Path,
    state_dir: &Path,
    since: u64,
    wait: Duration,
) -> Result<agent_status::AgentStatus, InstallError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some(s) = agent_status::read(state_dir).filter(|s| s.ready_at >= since) {
            if unit_active(exe) {
                return Ok(s);
            }
        }
        if std::time::Instant::now() > deadline {
            let journal = std::process::Command::new("journalctl")
                .args(["-u", UNIT_NAME, "-n", "20", "--no-pager", "-o", "cat"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| format!("(journalctl: {e})"));
            return Err(InstallError::Timeout {
                secs: wait.as_secs(),
                journal,
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[path = "install_files.rs"]
mod files;
#[path = "install_plan.rs"]
mod plan;

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
