//! Host settings the data paths need (sysctls, bridge-port hairpin), the host-port probe,
//! and conntrack cleanup.

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use crate::{NetError, Protocol};

fn write(path: PathBuf, value: &str) -> Result<(), NetError> {
    if fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    fs::write(&path, value).map_err(|source| NetError::Sysctl { path, source })
}

/// Routing between the bridges and the uplink.
pub(crate) fn enable_forwarding() -> Result<(), NetError> {
    write(PathBuf::from("/proc/sys/net/ipv4/ip_forward"), "1")
}

/// Lets 127.0.0.1:hostPort be DNATed out of the bridge: without it the kernel drops a
/// packet with a loopback source leaving a non-loopback device as martian.
pub(crate) fn route_localnet(bridge: &str) -> Result<(), NetError> {
    write(
        Path::new("/proc/sys/net/ipv4/conf")
            .join(bridge)
            .join("route_localnet"),
        "1",
    )
}

/// Whether nothing on the host listens on the port, so DNATing it hides no service.
pub(crate) fn port_free(protocol: Protocol, port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr).is_ok(),
        Protocol::Udp => UdpSocket::bind(addr).is_ok(),
    }
}

/// Flushes conntrack entries of a torn-down task, so no flow (UDP above all) keeps being
/// NATed to an address that is gone or reused: entries to or from the task's address and
/// entries for its host ports, over ctnetlink (`crate::conntrack`). Without conntrack in
/// the kernel there is nothing to flush; any other failure is logged and the entries age
/// out (UDP: 30 s, TCP established: 5 days, but dead once the peer is gone).
pub(crate) fn flush_conntrack(ip: Option<Ipv4Addr>, ports: &[(Protocol, u16)]) {
    let t0 = std::time::Instant::now();
    match crate::conntrack::flush(&crate::conntrack::Doomed { ip, ports }) {
        Ok(n) => {
            tracing::debug!(entries = n, elapsed = ?t0.elapsed(), "flushed the task's conntrack entries");
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT)
            ) =>
        {
            tracing::debug!(error = %e, "no conntrack in this kernel; nothing to flush");
        }
        Err(e) => tracing::warn!(error = %e, "could not flush the task's conntrack entries"),
    }
}
