//! What `gantry agent install` will do, from its flags, every input checked before anything
//! is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{io, under, InstallArgs, InstallError, OWN_KEYS};

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
    // One URL, or the replicas of one cluster separated by commas.
    let servers = gantry_link::Servers::parse(&a.server).map_err(|e| {
        invalid(format!(
            "--server {:?} must look like https://HOST:PORT[,https://HOST:PORT...]: {e}",
            a.server
        ))
    })?;
    let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if a.cluster.is_empty() || a.cluster.len() > 255 || !a.cluster.chars().all(name_ok) {
        return Err(invalid(format!(
            "--cluster {:?} must be 1 to 255 letters, digits, hyphens and underscores",
            a.cluster
        )));
    }
    let mut config = toml::Table::new();
    let mut put = |k: &str, v: &str| config.insert(k.to_string(), toml::Value::String(v.into()));
    put("server", &servers.flag_value());
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
    match (&a.ca_sha256, if servers.is_tls() { "https" } else { "http" }) {
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
    let cmd = <crate::cmd::Cli as clap::CommandFactory>::command();
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
