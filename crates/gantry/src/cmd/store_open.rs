//! Opening the store a `--store` URL names, with the etcd flags, checked before anything is
//! created: a bad URL or a flag that does not apply fails the start with a message that says
//! what to write instead.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use gantry_store::Store;

use super::store_args::EtcdArgs;

pub use gantry_store::AnyStore;

/// What a `--store` URL names.
pub type Target = gantry_store::StoreUrl;

/// Parses `url` (`what` names the flag in messages) and checks that the etcd flags given fit it.
pub fn parse(what: &str, url: &str, etcd: &EtcdArgs) -> anyhow::Result<Target> {
    let target = parse_any(what, url, etcd)?;
    if matches!(target, Target::Sqlite(_)) {
        refuse_etcd_flags(&format!("{what} is {url:?}"), etcd)?;
    }
    Ok(target)
}

/// Parses `url`, checking the etcd flags only if it is an etcd store (for a pair of stores,
/// where the flags are for the etcd side).
pub fn parse_any(what: &str, url: &str, etcd: &EtcdArgs) -> anyhow::Result<Target> {
    let target = Target::parse(url).map_err(|e| anyhow!("{what}: {e}"))?;
    if let Target::Etcd { prefix, .. } = &target {
        if prefix.is_some() && etcd.etcd_prefix.is_some() {
            anyhow::bail!(
                "{what} {url:?} names a key prefix and --etcd-prefix gives another: give it once"
            );
        }
        etcd.prefix().map_err(|e| anyhow!(e))?;
        etcd.check_files().map_err(|e| anyhow!(e))?;
    }
    Ok(target)
}

/// Refuses etcd flags where no store is an etcd one (`why` says so).
pub fn refuse_etcd_flags(why: &str, etcd: &EtcdArgs) -> anyhow::Result<()> {
    let given = etcd.given();
    if !given.is_empty() {
        anyhow::bail!(
            "{} appl{} only to an etcd:// store, and {why}",
            given.join(", "),
            if given.len() == 1 { "ies" } else { "y" }
        );
    }
    Ok(())
}

/// How a command wants an SQLite file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sqlite {
    /// The server's own: created with its directory when missing.
    Create,
    /// An installation's file that must exist and that no other process may have open
    /// (`gantry store`, with the servers stopped).
    Existing,
    /// A file `gantry store migrate` fills: may be new, must not be open elsewhere.
    Unused,
    /// A file to look at (`gantry store status`): must exist, servers may have it open.
    Inspect,
}

/// Opens the store `target` names.
pub async fn open(target: &Target, etcd: &EtcdArgs, mode: Sqlite) -> anyhow::Result<AnyStore> {
    match target {
        Target::Sqlite(path) => {
            match mode {
                Sqlite::Create => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).with_context(|| {
                            format!("could not create the state directory {}", dir.display())
                        })?;
                    }
                }
                Sqlite::Existing => {
                    if !path.is_file() {
                        anyhow::bail!("the store file {} does not exist", path.display());
                    }
                    refuse_if_open(path)?;
                }
                Sqlite::Unused => refuse_if_open(path)?,
                Sqlite::Inspect => {
                    if !path.is_file() {
                        anyhow::bail!("the store file {} does not exist", path.display());
                    }
                }
            }
            AnyStore::open(target, &gantry_store::EtcdOptions::default())
                .await
                .with_context(|| format!("could not open the store {}", path.display()))
        }
        Target::Etcd { .. } => {
            let options = etcd.options().map_err(|e| anyhow!(e))?;
            AnyStore::open(target, &options)
                .await
                .with_context(|| format!("could not open the store {target}"))
        }
    }
}

/// The keys of `store` written under a lease: runtime state of the servers (the leader's
/// election key), never migrated.
pub async fn leased_keys(store: &AnyStore) -> anyhow::Result<BTreeSet<String>> {
    let keys = store
        .leased_keys("")
        .await
        .with_context(|| format!("could not list the leased keys of {}", store.describe()))?;
    Ok(keys.into_iter().collect())
}

/// The leader's election key (the value names the replica that leads).
pub const ELECTION_KEY: &str = gantry_server::ha::LEADER_KEY;

/// Fails when another process has the SQLite file at `path` open: every connection to a
/// WAL database holds a read lock on its `-shm` file for as long as it is open (and a
/// connection in a transaction one on the file itself). Must run before this process opens
/// the file: closing any descriptor of a file drops the process's own POSIX locks on it.
fn refuse_if_open(path: &Path) -> anyhow::Result<()> {
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    for file in [PathBuf::from(shm), path.to_path_buf()] {
        if let Some(pid) = locked_by(&file)? {
            anyhow::bail!(
                "the store {} is in use by process {pid} (a running gantry server?): stop every server on it first",
                path.display()
            );
        }
    }
    Ok(())
}

/// The process holding a lock on any byte of `file`, if one does.
fn locked_by(file: &Path) -> anyhow::Result<Option<i32>> {
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not open {}", file.display())),
    };
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    let mut lock: nix::libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = nix::libc::F_WRLCK as i16;
    lock.l_whence = nix::libc::SEEK_SET as i16;
    // l_start 0 and l_len 0: the whole file.
    nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_GETLK(&mut lock))
        .with_context(|| format!("could not test the locks on {}", file.display()))?;
    Ok((lock.l_type != nix::libc::F_UNLCK as i16).then_some(lock.l_pid))
}

#[cfg(test)]
mod tests {
    use super::{parse, Target};
    use crate::cmd::store_args::EtcdArgs;

    #[test]
    fn urls_name_their_store_or_say_what_to_write() {
        let none = EtcdArgs::default();
        assert_eq!(
            parse("--store", "sqlite:///var/lib/g.db", &none).expect("ok"),
            Target::Sqlite("/var/lib/g.db".into())
        );
        assert_eq!(
            parse("--store", "etcd://h1:2379,h2:2379, h3:2379", &none).expect("ok"),
            Target::Etcd {
                endpoints: vec!["h1:2379".into(), "h2:2379".into(), "h3:2379".into()],
                prefix: None
            }
        );
        let err = |url: &str| parse("--store", url, &none).expect_err(url).to_string();
        assert!(
            err("etcd://").contains("names no etcd endpoint"),
            "{}",
            err("etcd://")
        );
        assert!(err("mysql://x").starts_with("--store: unknown store kind \"mysql\""));
        assert!(err("mysql://x").contains("use sqlite://PATH or etcd://HOST:PORT"));
        assert!(err("etcd://h1").contains("HOST:PORT"));
        assert!(err("/var/lib/gantry.db").contains("has no kind"));
        assert!(err("sqlite://").contains("names no file"));
    }

    #[test]
    fn the_prefix_is_given_once() {
        let etcd = EtcdArgs {
            etcd_prefix: Some("/a/".into()),
            ..EtcdArgs::default()
        };
        let e = parse("--store", "etcd://h:2379/b", &etcd).expect_err("refused");
        assert!(e.to_string().contains("give it once"), "{e}");
    }

    #[test]
    fn etcd_flags_on_an_sqlite_store_are_refused_by_name() {
        let etcd = EtcdArgs {
            etcd_user: Some("u".into()),
            etcd_prefix: Some("/x/".into()),
            ..EtcdArgs::default()
        };
        let e = parse("--store", "sqlite:///tmp/x.db", &etcd).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "--etcd-user, --etcd-prefix apply only to an etcd:// store, and --store is \"sqlite:///tmp/x.db\""
        );
    }

    #[test]
    fn missing_tls_files_are_named() {
        let etcd = EtcdArgs {
            etcd_cacert: Some("/nonexistent/ca.pem".into()),
            ..EtcdArgs::default()
        };
        let e = parse("--store", "etcd://127.0.0.1:2379", &etcd).expect_err("refused");
        assert!(
            e.to_string().contains("--etcd-cacert /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
