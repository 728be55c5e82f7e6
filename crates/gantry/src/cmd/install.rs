//! `gantry agent install`: the one command that joins a fresh host. It copies this binary to
//! /usr/local/bin/gantry, writes /etc/gantry/agent.toml (0600: it holds the grant) and the
//! systemd unit, enables and starts it, waits until the agent has registered, then takes the
//! spent grant out of agent.toml (the node credential in the state dir is what a restarted
//! agent uses). `--root DIR` writes the same files under DIR and enables the unit by its
//! symlink, without systemctl: for tests and image builders.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::agent_status;
use super::uninstall::{self, UninstallArgs};

pub const BINARY: &str = "/usr/local/bin/gantry";
pub const CONFIG: &str = "/etc/gantry/agent.toml";
pub const UNIT: &str = "/etc/systemd/system/gantry-agent.service";
/// What `systemctl enable` makes for `WantedBy=multi-user.target`.
pub const UNIT_LINK: &str = "/etc/systemd/system/multi-user.target.wants/gantry-agent.service";
pub const UNIT_NAME: &str = "gantry-agent";
const UNIT_TEXT: &str = include_str!("../../../../systemd/gantry-agent.service");
/// The keys of agent.toml that hold the grant: spent once the host has joined.
pub const GRANT_KEYS: [&str; 3] = ["join-token", "activation-id", "activation-code"];
/// The keys install sets from its own flags, which the trailing agent flags may not repeat.
const OWN_KEYS: [&str; 7] = [
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

/// What install will write, every input checked.
#[derive(Debug)]
pub struct Plan {
    pub root: PathBuf,
    /// The systemctl to run; none under `--root`.
    pub systemctl: Option<PathBuf>,
    pub binary: PathBuf,
    pub state_dir: PathBuf,
    pub cluster: String,
    /// agent.toml.
    pub config: toml::Table,
    pub wait: Duration,
}

fn invalid(msg: impl Into<String>) -> InstallError {
    InstallError::Invalid(msg.into())
}

pub fn plan(a: &InstallArgs) -> Result<Plan, InstallError> {
    let url = reqwest::Url::parse(&a.server)
        .map_err(|e| invalid(format!("--server {:?} is not a URL: {e}", a.server)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(format!(
            "--server {:?} must look like https://HOST:PORT",
            a.server
        )));
    }
    let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if a.cluster.is_empty() || a.cluster.len() > 255 || !a.cluster.chars().all(name_ok) {
        return Err(invalid(format!(
            "--cluster {:?} must be 1 to 255 letters, digits, hyphens and underscores",
            a.cluster
        )));
    }
    let mut config = toml::Table::new();
    let mut put = |k: &str, v: &str| config.insert(k.to_string(), toml::Value::String(v.into()));
    put("server", &a.server);
    put("cluster", &a.cluster);
    fn trimmed(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim)
    }
    match (
        trimmed(&a.join_token),
        trimmed(&a.activation_id),
        trimmed(&a.activation_code),
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(invalid(
                "give either --join-token or --activation-id with --activation-code, not both",
            ))
        }
        (Some(""), None, None) => return Err(invalid("--join-token may not be empty")),
        (Some(t), None, None) => {
            put("join-token", t);
        }
        // A host that has joined already (a re-install, an upgrade) needs no new grant.
        (None, None, None) if has_credential(&a.root, &a.state_dir) => {}
        (None, None, None) => return Err(invalid(
            "a grant is needed to join: --activation-id with --activation-code (`aws ssm create-activation`, `gantry activation create`) or --join-token (`gantry token create`)",
        )),
        (None, Some(id), Some(code)) if !id.is_empty() && !code.is_empty() => {
            put("activation-id", id);
            put("activation-code", code);
        }
        (None, _, _) => {
            return Err(invalid(
                "--activation-id and --activation-code go together (and neither may be empty)",
            ))
        }
    }
    match (&a.ca_sha256, url.scheme()) {
        (Some(h), _) => {
            let h = h.trim().to_ascii_lowercase();
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "--ca-sha256 {h:?} must be the 64 hex digits of the SHA-256 of the server's CA certificate"
                )));
            }
            put("ca-sha256", &h);
        }
        (None, "https") => return Err(invalid(
            "--ca-sha256 is needed for an https server: it pins the server's cluster CA on first contact (the join command from `gantry activation create` or `gantry token create` carries it)",
        )),
        (None, _) => {}
    }
    if !a.state_dir.is_absolute() {
        return Err(invalid(format!(
            "--state-dir {} must be an absolute path",
            a.state_dir.display()
        )));
    }
    put("state-dir", &a.state_dir.to_string_lossy());
    for (k, v) in agent_flags(&a.agent_flags)? {
        config.insert(k, v);
    }
    let root = std::path::absolute(&a.root).map_err(io("resolve", &a.root))?;
    let binary = match &a.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(io("find", Path::new("the running gantry")))?,
    };
    if !binary.is_file() {
        return Err(invalid(format!(
            "--binary {} is not a file",
            binary.display()
        )));
    }
    Ok(Plan {
        systemctl: (root == Path::new("/")).then(|| PathBuf::from("systemctl")),
        root,
        binary,
        state_dir: a.state_dir.clone(),
        cluster: a.cluster.clone(),
        config,
        wait: a.wait_timeout,
    })
}

/// Whether the agent under `root` has a node credential (nodeagent's `<state-dir>/agent/node/node.json`).
fn has_credential(root: &Path, state_dir: &Path) -> bool {
    under(root, state_dir.join("agent/node/node.json")).is_file()
}

/// The trailing `gantry agent` flags as agent.toml keys, checked by the agent's own parser.
fn agent_flags(flags: &[String]) -> Result<toml::Table, InstallError> {
    if flags.is_empty() {
        return Ok(toml::Table::new());
    }
    let cmd = <super::Cli as clap::CommandFactory>::command();
    let argv = ["gantry", "agent"]
        .into_iter()
        .map(String::from)
        .chain(flags.iter().cloned());
    let m = cmd
        .clone()
        .try_get_matches_from(argv)
        .map_err(|e| invalid(format!("the agent flags after `--`: {}", e.render())))?;
    let (Some(sub), Some((_, given))) = (cmd.find_subcommand("agent"), m.subcommand()) else {
        return Err(invalid(
            "the agent flags after `--` are not `gantry agent` flags",
        ));
    };
    let table = crate::config_file::given_to_table(sub, given);
    if let Some(k) = table.keys().find(|k| OWN_KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "--{k} after `--`: give it to `gantry agent install` itself"
        )));
    }
    Ok(table)
}

/// agent.toml's text.
pub fn config_text(config: &toml::Table) -> String {
    let body = toml::to_string(config).unwrap_or_default();
    format!("# Written by `gantry agent install`. The keys are the flags of `gantry agent` (docs/install.md).\n{body}")
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

/// The binary, agent.toml, the unit and its enabling symlink, each written whole or not at all.
pub fn write_files(plan: &Plan) -> Result<(), InstallError> {
    let bin = under(&plan.root, BINARY);
    let config = under(&plan.root, CONFIG);
    let unit = under(&plan.root, UNIT);
    for (dir, mode) in [
        (bin.parent(), 0o755),
        (config.parent(), 0o700),
        (unit.parent(), 0o755),
        (Some(under(&plan.root, &plan.state_dir).as_path()), 0o700),
    ] {
        let Some(dir) = dir else { continue };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        if mode == 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(io("set the mode of", dir))?;
        }
    }
    copy_binary(&plan.binary, &bin)?;
    write_atomic(&config, config_text(&plan.config).as_bytes(), 0o600)?;
    write_atomic(&unit, UNIT_TEXT.as_bytes(), 0o644)?;
    if plan.systemctl.is_none() {
        let link = under(&plan.root, UNIT_LINK);
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(UNIT, &link).map_err(io("link", &link))?;
    }
    Ok(())
}

/// Copies the binary next to its place and renames it there: a running agent keeps its old
/// inode, and nobody ever sees half a binary.
fn copy_binary(src: &Path, dst: &Path) -> Result<(), InstallError> {
    let same =
        |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    if let (Ok(s), Ok(d)) = (std::fs::metadata(src), std::fs::metadata(dst)) {
        if same(&s, &d) {
            return Ok(());
        }
    }
    let tmp = dst.with_file_name(format!(".gantry.install-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let copied = std::fs::copy(src, &tmp)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dst));
    copied.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        InstallError::Io {
            what: "install the binary at",
            path: dst.to_path_buf(),
            source: e,
        }
    })
}

/// Writes `path` with `mode` from its first byte (never briefly readable by others).
pub fn write_atomic(path: &Path, body: &[u8], mode: u32) -> Result<(), InstallError> {
    use std::io::Write;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            // The umask may have narrowed the mode; make it exact.
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            f.write_all(body)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        InstallError::Io {
            what: "write",
            path: path.to_path_buf(),
            source: e,
        }
    })
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

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
