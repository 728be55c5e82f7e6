//! Whether `gantry server` / `gantry dev` serve HTTPS, and with which certificate.
//!
//! The rule: a loopback `--listen` serves plain HTTP unless `--tls` (so the quick start needs
//! no certificate), any other address serves HTTPS unless `--no-tls`, and `--no-tls` on a
//! non-loopback address is refused. The certificate is the operator's (`--tls-cert`,
//! `--tls-key`) or one the cluster CA under `<state-dir>/tls` issues for every address the
//! server listens on.

use std::net::{IpAddr, SocketAddr};

use gantry_server::tls::{self, CertSource, ClusterFiles, ServerTls};

use super::security_args::SecurityArgs;

/// The directory of the cluster CA and the server certificate under the state dir.
pub fn tls_dir(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("tls")
}

/// Whether the main listener on `listen` serves TLS; an error when `--no-tls` asks for plain
/// HTTP on a network address.
pub fn wants_tls(sec: &SecurityArgs, listen: SocketAddr) -> anyhow::Result<bool> {
    if sec.no_tls {
        tls::check_plain(listen)?;
        return Ok(false);
    }
    Ok(sec.tls || sec.tls_cert.is_some() || !tls::is_loopback(listen.ip()))
}

/// The TLS configuration for a server listening on `listens` (all of them, so the made
/// certificate covers each).
pub fn server_tls(
    sec: &SecurityArgs,
    state_dir: &std::path::Path,
    listens: &[SocketAddr],
) -> anyhow::Result<ServerTls> {
    let source = match (&sec.tls_cert, &sec.tls_key) {
        (Some(cert), Some(key)) => CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertSource::Cluster {
            files: ClusterFiles::new(tls_dir(state_dir)),
            names: tls::listen_names(
                listens,
                &local_addresses(),
                hostname().as_deref(),
                &sec.tls_san,
            ),
        },
    };
    Ok(ServerTls::new(source)?)
}

/// Reloads `tls` on every SIGHUP, and twice a day on its own (so a made certificate is
/// re-issued 30 days before it expires, and an operator's renewed files are picked up),
/// until the process ends. A certificate that cannot be used is logged and the one in use
/// stays.
pub fn reload_on_sighup(tls: ServerTls) {
    const RECHECK: std::time::Duration = std::time::Duration::from_secs(12 * 60 * 60);
    tokio::spawn(async move {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGHUP; certificates reload twice a day only");
                None
            }
        };
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
        loop {
            let why = tokio::select! {
                Some(()) = next_hup(&mut hup) => "SIGHUP",
                _ = recheck.tick() => "the twice-daily check",
            };
            match tls.reload() {
                Ok(()) => tracing::info!("{why}: reloaded the TLS certificate"),
                Err(e) => tracing::error!(
                    "{why}: kept the TLS certificate in use, the new one cannot be used: {e}"
                ),
            }
        }
    });
}

async fn next_hup(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup {
        Some(h) => h.recv().await,
        None => std::future::pending().await,
    }
}

/// Every address of this host's interfaces (for a wildcard --listen).
fn local_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs {
        let Some(sa) = a.address else { continue };
        if let Some(v4) = sa.as_sockaddr_in() {
            out.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            out.push(IpAddr::V6(v6.ip()));
        }
    }
    out
}

fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec() -> SecurityArgs {
        SecurityArgs::default()
    }

    #[test]
    fn loopback_is_plain_unless_asked_and_a_network_address_is_tls() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let net: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        assert!(!wants_tls(&sec(), lo).unwrap());
        assert!(wants_tls(&SecurityArgs { tls: true, ..sec() }, lo).unwrap());
        assert!(wants_tls(&sec(), net).unwrap());
        let no_tls = SecurityArgs {
            no_tls: true,
            ..sec()
        };
        assert!(!wants_tls(&no_tls, lo).unwrap());
        let e = wants_tls(&no_tls, net).unwrap_err().to_string();
        assert!(
            e.contains("refusing to serve plain HTTP on 0.0.0.0:8443")
                && e.contains("drop --no-tls")
                && e.contains("--tls-cert"),
            "{e}"
        );
    }
}
