//! `gantry secrets`: the master key ring of Secrets Manager's envelope encryption, on the
//! server's host. `rotate-master-key` adds a new current key to the ring file; running
//! servers read it within seconds, wrap new data keys with it and re-wrap the old ones, with
//! no restart. `--retire` then drops the keys before the current one. In a cluster, give
//! every replica the same ring file (`--secrets-master-key-file`), as for the secret key.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use gantry_server::secretsmanager::keyring;

#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Add a new current master key to the ring (servers re-wrap data keys under it).
    RotateMasterKey(RingArgs),
}

#[derive(Debug, Args)]
pub struct RingArgs {
    /// The server's state directory (its ring is <state-dir>/secrets-master.keys).
    #[arg(long, env = "GANTRY_STATE_DIR", default_value = "/var/lib/gantry")]
    pub state_dir: PathBuf,
    /// The ring file the servers were given with --secrets-master-key-file.
    #[arg(long, env = "GANTRY_SECRETS_MASTER_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Instead of adding a key, drop every key but the current one. Only once the servers
    /// have re-wrapped every data key (their log says so), or older values become unreadable.
    #[arg(long)]
    pub retire: bool,
}

pub fn run(c: SecretsCmd) -> anyhow::Result<()> {
    match c {
        SecretsCmd::RotateMasterKey(a) => {
            let path = a
                .key_file
                .clone()
                .unwrap_or_else(|| a.state_dir.join(keyring::FILE));
            if a.retire {
                let old = keyring::retire_old(&path)
                    .with_context(|| format!("retiring old keys of {}", path.display()))?;
                println!("retired {} master key(s): {}", old.len(), old.join(" "));
            } else {
                let id = keyring::rotate(&path)
                    .with_context(|| format!("rotating {}", path.display()))?;
                println!("{id}");
            }
            Ok(())
        }
    }
}
