//! The flags of `gantry server` and `gantry dev` that decide how clients reach the server
//! safely: TLS and the administrator's access key.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args, Clone, Default)]
pub struct SecurityArgs {
    /// Serve HTTPS even on a loopback address (a non-loopback --listen always does, unless
    /// --no-tls).
    #[arg(long, env = "GANTRY_TLS", conflicts_with = "no_tls")]
    pub tls: bool,
    /// Serve plain HTTP. Allowed only when every listening address is loopback.
    #[arg(long, env = "GANTRY_NO_TLS")]
    pub no_tls: bool,
    /// The server's certificate chain (PEM) instead of one made by the cluster CA under
    /// <state-dir>/tls; reloaded on SIGHUP.
    #[arg(
        long,
        env = "GANTRY_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "no_tls"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert; reloaded on SIGHUP.
    #[arg(long, env = "GANTRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// More names or addresses the made server certificate covers (repeatable).
    #[arg(long = "tls-san", env = "GANTRY_TLS_SAN", value_delimiter = ',')]
    pub tls_san: Vec<String>,
    /// The administrator's access key id (with --admin-secret-access-key); no credentials
    /// file is read or written then.
    #[arg(long, env = "GANTRY_ADMIN_ACCESS_KEY_ID")]
    pub admin_access_key_id: Option<String>,
    /// The administrator's secret access key (with --admin-access-key-id).
    #[arg(long, env = "GANTRY_ADMIN_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub admin_secret_access_key: Option<String>,
}
