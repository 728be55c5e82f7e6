//! The TOML configuration files of `gantry server` and `gantry agent` (docs/install.md).
//!
//! Every long flag of the command is a key (`state-dir = "/var/lib/gantry"`, lists as arrays,
//! switches as booleans), derived from clap's own description of the command, so a new flag
//! gets its key for free. The file's values are handed to clap as if they had been typed,
//! but only for the flags that neither the command line nor the environment set: flag >
//! environment > file > default, and every value goes through the flag's own parser.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The commands that read a file, and where it is when `--config`/`GANTRY_CONFIG` do not say.
pub const FILES: &[(&str, &str)] = &[
    ("server", "/etc/gantry/server.toml"),
    ("agent", "/etc/gantry/agent.toml"),
];

/// The id and long name of the flag that names the file; not a key itself.
const CONFIG: &str = "config";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {} does not exist (named by --config or GANTRY_CONFIG)", path.display())]
    Missing { path: PathBuf },
    #[error("could not read the configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: unknown key{} {}: the keys are the long flags of `gantry {command}` (see `gantry {command} --help`)",
        path.display(), if keys.len() == 1 { "" } else { "s" }, keys.join(", "))]
    UnknownKeys {
        path: PathBuf,
        command: String,
        keys: Vec<String>,
    },
    #[error("{}: {}", path.display(), problems.join("; "))]
    Values {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{} holds secrets ({}) but its mode is {mode:04o}: only its owner may read it (chmod 600 {})",
        path.display(), keys.join(", "), path.display())]
    Exposed {
        path: PathBuf,
        mode: u32,
        keys: Vec<String>,
    },
}

/// What went wrong reading the command line: clap's own errors (help, usage) or the file's.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The command line of this process with the configuration file of its command.
pub fn parse() -> Result<crate::cmd::Cli, ConfigError> {
    use clap::{CommandFactory, FromArgMatches};
    let cmd = crate::cmd::Cli::command();
    let matches = match matches(cmd.clone(), std::env::args_os().collect(), FILES) {
        Ok(m) => m,
        Err(LoadError::Clap(e)) => crate::suggest::without_hidden(e, &cmd).exit(),
        Err(LoadError::Config(e)) => return Err(e),
    };
    crate::cmd::Cli::from_arg_matches(&matches).map_err(|e| e.exit())
}

/// Adds `--config` to each command of `files`.
pub fn with_config_flag(mut cmd: Command, files: &[(&str, &'static str)]) -> Command {
    for (name, default) in files {
        let default = *default;
        cmd = cmd.mut_subcommand(*name, |sub| {
            sub.arg(
                Arg::new(CONFIG)
                    .long(CONFIG)
                    .env("GANTRY_CONFIG")
                    .value_name("PATH")
                    .value_parser(clap::value_parser!(PathBuf))
                    .default_value(default)
                    .help("The TOML file whose keys are these flags' long names; flags and environment variables override it (a missing default file is fine)"),
            )
        });
    }
    cmd
}

/// Parses `argv` with `cmd`, feeding in the configuration file of the subcommand it names
/// (one of `files`, unless a subcommand of its own follows it, as in `gantry agent install`).
pub fn matches(
    cmd: Command,
    argv: Vec<OsString>,
    files: &[(&str, &'static str)],
) -> Result<ArgMatches, LoadError> {
    let cmd = with_config_flag(cmd, files);
    // A first look, tolerant of what the file may still supply, tells the command, the
    // file and which flags the command line and environment already set.
    let Ok(first) = cmd.clone().ignore_errors(true).try_get_matches_from(&argv) else {
        return Ok(cmd.try_get_matches_from(argv)?);
    };
    let Some((name, given)) = first.subcommand() else {
        return Ok(cmd.try_get_matches_from(argv)?);
    };
    if !files.iter().any(|(n, _)| *n == name) || given.subcommand().is_some() {
        return Ok(cmd.try_get_matches_from(argv)?);
    }
    let Some(path) = given.get_one::<PathBuf>(CONFIG).cloned() else {
        return Ok(cmd.try_get_matches_from(argv)?);
    };
    let explicit = given.value_source(CONFIG) != Some(ValueSource::DefaultValue);
    let Some(table) = read(&path, explicit)? else {
        return Ok(cmd.try_get_matches_from(argv)?);
    };
    let sub = cmd
        .find_subcommand(name)
        .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
    let extra = to_args(sub, &path, &table, Some(given))?;
    let mut argv = argv;
    argv.extend(extra);
    Ok(cmd.try_get_matches_from(argv)?)
}

/// The file's table; none for a missing file that nobody named.
pub fn read(path: &Path, explicit: bool) -> Result<Option<toml::Table>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
    Ok(Some(table))
}

/// The flags of `sub` that are keys: its own long flags, not help, version, the global
/// flags of the client commands or `--config`.
pub fn key_args(sub: &Command) -> Vec<&Arg> {
    sub.get_arguments()
        .filter(|a| a.get_id() != CONFIG && !a.is_global_set() && a.get_long().is_some())
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .collect()
}

/// The key names of `sub`.
#[cfg(test)]
pub fn keys(sub: &Command) -> Vec<String> {
    key_args(sub)
        .iter()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// Whether a key holds a secret: a flag whose environment value clap hides, or a grant.
pub fn is_secret(arg: &Arg) -> bool {
    arg.is_hide_env_values_set() || matches!(arg.get_long(), Some("join-token" | "activation-code"))
}

/// The arguments `table` stands for, checked: unknown keys, wrong types and values the
/// flag's parser refuses are errors, and so is a file holding a secret that others may
/// read. Keys whose flag `given` shows set on the command line or in the environment (or a
/// flag that conflicts with one so set) are skipped: those win.
pub fn to_args(
    sub: &Command,
    path: &Path,
    table: &toml::Table,
    given: Option<&ArgMatches>,
) -> Result<Vec<OsString>, ConfigError> {
    let args = key_args(sub);
    let find = |key: &str| args.iter().copied().find(|a| a.get_long() == Some(key));
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| find(k).is_none())
        .map(|k| match find(&k.replace('_', "-")) {
            Some(_) => format!("{k} (did you mean {}?)", k.replace('_', "-")),
            None => k.clone(),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownKeys {
            path: path.to_path_buf(),
            command: sub.get_name().to_string(),
            keys: unknown,
        });
    }
    let secrets: Vec<String> = table
        .keys()
        .filter(|k| find(k).is_some_and(is_secret))
        .cloned()
        .collect();
    if !secrets.is_empty() {
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(ConfigError::Exposed {
                path: path.to_path_buf(),
                mode,
                keys: secrets,
            });
        }
    }
    let outside = |id: &str| {
        given.is_some_and(|m| {
            matches!(
                m.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (key, value) in table {
        let Some(arg) = find(key) else { continue };
        let id = arg.get_id().as_str();
        let conflicting = args.iter().any(|other| {
            outside(other.get_id().as_str())
                && (sub.get_arg_conflicts_with(arg).contains(other)
                    || sub.get_arg_conflicts_with(other).contains(&arg))
        });
        if outside(id) || conflicting {
            continue;
        }
        match values(arg, key, value) {
            Ok(vals) => out.extend(vals),
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Values {
            path: path.to_path_buf(),
            problems,
        });
    }
    Ok(out)
}

#[path = "config_values.rs"]
mod values;
pub use values::given_to_table;
use values::values;

#[cfg(test)]
#[path = "config_file_tests.rs"]
mod tests;
