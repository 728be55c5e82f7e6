//! The flags that say where the control plane keeps its records (`gantry server`, `gantry
//! dev`, `gantry store`): `--store sqlite://PATH` (the default, one server) or
//! `--store etcd://HOST:PORT,...` (several replicas) with etcd's TLS and user options.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

/// A secret flag value: never in `Debug` output or messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

fn secret(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.to_string()))
}

/// `--store` and the etcd options, as `gantry server` and `gantry dev` take them.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Where the records live: sqlite://PATH (default: sqlite://<state-dir>/server/gantry.db,
    /// for one server) or etcd://HOST:PORT,HOST:PORT,... (several replicas share it).
    #[arg(long, env = "GANTRY_STORE", value_name = "URL")]
    pub store: Option<String>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// How to reach etcd: TLS, user and password, the key prefix, the timeout. Only for an
/// etcd:// store (given with an sqlite one they are refused, never ignored).
#[derive(Debug, Args, Clone, Default)]
pub struct EtcdArgs {
    /// PEM bundle of the CAs that sign the etcd members' certificates (https to etcd).
    #[arg(long, env = "GANTRY_ETCD_CACERT", value_name = "FILE")]
    pub etcd_cacert: Option<PathBuf>,
    /// The client certificate (PEM) to present to etcd (with --etcd-key).
    #[arg(
        long,
        env = "GANTRY_ETCD_CERT",
        value_name = "FILE",
        requires = "etcd_key"
    )]
    pub etcd_cert: Option<PathBuf>,
    /// The private key (PEM) of --etcd-cert.
    #[arg(
        long,
        env = "GANTRY_ETCD_KEY",
        value_name = "FILE",
        requires = "etcd_cert"
    )]
    pub etcd_key: Option<PathBuf>,
    /// The etcd user to authenticate as (with --etcd-password).
    #[arg(
        long,
        env = "GANTRY_ETCD_USER",
        value_name = "NAME",
        requires = "etcd_password"
    )]
    pub etcd_user: Option<String>,
    /// The password of --etcd-user (better: GANTRY_ETCD_PASSWORD, or the configuration file
    /// with mode 600).
    #[arg(
        long,
        env = "GANTRY_ETCD_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = secret,
        requires = "etcd_user"
    )]
    pub etcd_password: Option<Secret>,
    /// The prefix of every key Gantry writes in etcd [default: /gantry/].
    #[arg(long, env = "GANTRY_ETCD_PREFIX", value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
    /// How long one store request may take before it fails as unavailable, e.g. 5s.
    #[arg(long, env = "GANTRY_STORE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub store_timeout: Duration,
}

impl EtcdArgs {
    /// The etcd flags that were given, by name, for refusing them on an sqlite store.
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.etcd_cacert.is_some() {
            out.push("--etcd-cacert");
        }
        if self.etcd_cert.is_some() {
            out.push("--etcd-cert");
        }
        if self.etcd_key.is_some() {
            out.push("--etcd-key");
        }
        if self.etcd_user.is_some() {
            out.push("--etcd-user");
        }
        if self.etcd_password.is_some() {
            out.push("--etcd-password");
        }
        if self.etcd_prefix.is_some() {
            out.push("--etcd-prefix");
        }
        out
    }

    /// The key prefix: the flag's, else `/gantry/`. It must end in `/` so that one
    /// installation's keys never share a prefix with another's (`/gantry` vs `/gantry2`).
    pub fn prefix(&self) -> Result<String, String> {
        let p = self.etcd_prefix.as_deref().unwrap_or("/gantry/");
        if p.is_empty() || !p.ends_with('/') {
            return Err(format!(
                "--etcd-prefix {p:?} must end in '/', e.g. /gantry/ (so that no other installation's keys share it)"
            ));
        }
        Ok(p.to_string())
    }

    /// The options of the etcd client (endpoints come from the URL).
    pub fn options(&self) -> Result<gantry_store::EtcdOptions, String> {
        Ok(gantry_store::EtcdOptions {
            endpoints: Vec::new(),
            prefix: self.prefix()?,
            ca_file: self.etcd_cacert.clone(),
            cert_file: self.etcd_cert.clone(),
            key_file: self.etcd_key.clone(),
            user: self.etcd_user.clone(),
            password: self.etcd_password.as_ref().map(|s| s.0.clone()),
            timeout: self.store_timeout,
        })
    }

    /// Checks the files named exist, before anything is created or dialled.
    pub fn check_files(&self) -> Result<(), String> {
        for (flag, path) in [
            ("--etcd-cacert", &self.etcd_cacert),
            ("--etcd-cert", &self.etcd_cert),
            ("--etcd-key", &self.etcd_key),
        ] {
            if let Some(p) = path {
                if !p.is_file() {
                    return Err(format!("{flag} {}: no such file", p.display()));
                }
            }
        }
        Ok(())
    }
}

/// The default store of a state directory (today's layout).
pub fn default_sqlite(state_dir: &Path) -> PathBuf {
    state_dir.join("server").join("gantry.db")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cmd::{Cli, Command};

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let cli = Cli::parse_from([
            "gantry",
            "server",
            "--store",
            "etcd://127.0.0.1:2379",
            "--etcd-user",
            "gantry",
            "--etcd-password",
            "hunter2-secret",
        ]);
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert_eq!(
            a.store.etcd.etcd_password.as_ref().map(|s| s.0.as_str()),
            Some("hunter2-secret")
        );
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("etcd://127.0.0.1:2379"), "{dbg}");
    }

    #[test]
    fn a_user_needs_a_password_and_a_certificate_its_key() {
        for argv in [
            &["gantry", "server", "--etcd-user", "u"][..],
            &["gantry", "server", "--etcd-password", "p"],
            &["gantry", "server", "--etcd-cert", "/c.pem"],
            &["gantry", "server", "--etcd-key", "/k.pem"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn the_prefix_must_end_in_a_slash() {
        let mut a = super::EtcdArgs::default();
        assert_eq!(a.prefix().as_deref(), Ok("/gantry/"));
        a.etcd_prefix = Some("/gantry".into());
        assert!(a.prefix().expect_err("refused").contains("must end in '/'"));
        a.etcd_prefix = Some("/prod/gantry/".into());
        assert_eq!(a.prefix().as_deref(), Ok("/prod/gantry/"));
    }
}
