//! `gantry agent uninstall [--purge]`: undoes `gantry agent install`. Idempotent: what is
//! already gone is skipped. `--purge` also removes the agent's state (images, task
//! directories, the node credential), but refuses, before changing anything, while a task
//! still runs on the host: its containers would be left without a supervisor's state.

use std::path::{Path, PathBuf};

use clap::Args;

use super::install::{
    io, is_root, systemctl, under, InstallError, BINARY, CONFIG, UNIT, UNIT_LINK, UNIT_NAME,
};

#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Also remove the agent's state directory (<state-dir>/agent): images, task
    /// directories and the node credential. Refused while a task still runs.
    #[arg(long)]
    pub purge: bool,
    /// Remove what `gantry agent install --root DIR` wrote under DIR (no systemctl).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
}

/// The state dir agent.toml names, else the agent's default.
fn state_dir(root: &Path) -> PathBuf {
    std::fs::read_to_string(under(root, CONFIG))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("state-dir")?.as_str().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/gantry"))
}

/// The tasks whose supervisor still runs, by task directory name.
pub fn running_tasks(agent_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(agent_dir.join("tasks")) else {
        return Vec::new();
    };
    let mut running: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| gantry_runtime::client::supervisor_pid(&e.path()).is_some_and(|p| p.alive))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    running.sort();
    running
}

fn remove_file(path: &Path, removed: &mut Vec<String>) -> Result<(), InstallError> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            removed.push(path.display().to_string());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", path)(e)),
    }
}

/// Removes `dir` if nothing is left in it.
fn remove_empty_dir(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}

pub fn uninstall(a: &UninstallArgs) -> Result<(), InstallError> {
    let root = std::path::absolute(&a.root).map_err(io("resolve", &a.root))?;
    let systemd = root == Path::new("/");
    if systemd && !is_root() {
        return Err(InstallError::NotRoot("uninstall"));
    }
    let state = under(&root, state_dir(&root));
    let agent_dir = state.join("agent");
    let running = running_tasks(&agent_dir);
    if a.purge && !running.is_empty() {
        return Err(InstallError::Invalid(format!(
            "{} task(s) still run on this host ({}): --purge would delete their state from under them. Stop them first (drain the instance: aws ecs update-container-instances-state --status DRAINING, or aws ecs stop-task), then run this again; nothing was removed",
            running.len(),
            running.join(", ")
        )));
    }
    let unit = under(&root, UNIT);
    if systemd && unit.exists() {
        // Only the agent stops (KillMode=process); a failure to stop is reported, not fatal,
        // so that a broken unit can still be removed.
        if let Err(e) = systemctl(Path::new("systemctl"), &["disable", "--now", UNIT_NAME]) {
            eprintln!("gantry: {e}");
        }
    }
    let mut removed = Vec::new();
    remove_file(&under(&root, UNIT_LINK), &mut removed)?;
    remove_file(&unit, &mut removed)?;
    if systemd && !removed.is_empty() {
        systemctl(Path::new("systemctl"), &["daemon-reload"])?;
    }
    let config = under(&root, CONFIG);
    remove_file(&config, &mut removed)?;
    if let Some(dir) = config.parent() {
        remove_empty_dir(dir);
    }
    // A control plane installed on the same host runs the same binary.
    let server_unit = under(&root, "/etc/systemd/system/gantry-server.service");
    if server_unit.exists() {
        println!("kept {BINARY}: {} uses it too", server_unit.display());
    } else {
        remove_file(&under(&root, BINARY), &mut removed)?;
    }
    if a.purge {
        if agent_dir.exists() {
            std::fs::remove_dir_all(&agent_dir).map_err(io("remove", &agent_dir))?;
            removed.push(agent_dir.display().to_string());
        }
        // Install made it; a control plane's state beside the agent's keeps it.
        remove_empty_dir(&state);
    }
    if !a.purge && !running.is_empty() {
        println!(
            "{} task(s) keep running without an agent ({}); `gantry agent install` again re-adopts them",
            running.len(),
            running.join(", ")
        );
    }
    if removed.is_empty() {
        println!("nothing to remove: the agent is not installed");
    } else {
        println!("removed {}", removed.join(", "));
    }
    Ok(())
}
