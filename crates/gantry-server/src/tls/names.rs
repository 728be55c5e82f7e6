//! Which names the server certificate must cover, and where plain HTTP may be served.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::TlsError;

/// Whether `ip` can only be reached from this host.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Plain HTTP only on loopback: anyone on a network could read and forge what travels in
/// clear, credentials included.
pub fn check_plain(addr: SocketAddr) -> Result<(), TlsError> {
    if is_loopback(addr.ip()) {
        Ok(())
    } else {
        Err(TlsError::PlainOnNetwork { addr })
    }
}

/// The names and addresses a client may use to reach a server listening on `listen`:
/// each address itself; for a wildcard address (`0.0.0.0`, `::`), every address of
/// `interfaces` of its family (`::` takes both), the host name and the loopback names;
/// for a loopback address, `localhost` too; then `extra` (`--tls-san`). No duplicates, in
/// that order.
pub fn listen_names(
    listen: &[SocketAddr],
    interfaces: &[IpAddr],
    hostname: Option<&str>,
    extra: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: String| {
        if !n.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
            out.push(n);
        }
    };
    for addr in listen {
        let ip = addr.ip().to_canonical();
        if ip.is_unspecified() {
            let both = ip.is_ipv6();
            for i in interfaces {
                // Link-local IPv6 needs a zone, which no certificate can name.
                let link_local =
                    matches!(i, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
                if (both || i.is_ipv4()) && !link_local && !i.is_unspecified() {
                    add(i.to_string());
                }
            }
            if let Some(h) = hostname {
                add(h.to_string());
            }
            add("localhost".to_string());
            add(Ipv4Addr::LOCALHOST.to_string());
            add(Ipv6Addr::LOCALHOST.to_string());
        } else {
            add(ip.to_string());
            if ip.is_loopback() {
                add("localhost".to_string());
            }
        }
    }
    for e in extra {
        add(e.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_specific_address_is_named_alone() {
        let n = listen_names(
            &[sa("10.0.0.5:8443")],
            &["10.0.0.5".parse().unwrap()],
            Some("h"),
            &[],
        );
        assert_eq!(n, ["10.0.0.5"]);
        let n = listen_names(
            &[sa("127.0.0.1:8080")],
            &[],
            None,
            &["api.example.com".into()],
        );
        assert_eq!(n, ["127.0.0.1", "localhost", "api.example.com"]);
    }

    #[test]
    fn a_wildcard_names_every_interface_of_its_family_and_the_host() {
        let ifs: Vec<IpAddr> = ["127.0.0.1", "10.0.0.5", "fd00::5", "fe80::1", "::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let v4 = listen_names(&[sa("0.0.0.0:8443")], &ifs, Some("node1"), &[]);
        assert_eq!(v4, ["127.0.0.1", "10.0.0.5", "node1", "localhost", "::1"]);
        let both = listen_names(&[sa("[::]:8443")], &ifs, Some("node1"), &["NODE1".into()]);
        assert_eq!(
            both,
            [
                "127.0.0.1",
                "10.0.0.5",
                "fd00::5",
                "::1",
                "node1",
                "localhost"
            ]
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(check_plain(sa("127.0.0.1:8080")).is_ok());
        assert!(check_plain(sa("127.3.4.5:8080")).is_ok());
        assert!(check_plain(sa("[::1]:8080")).is_ok());
        assert!(check_plain(sa("[::ffff:127.0.0.1]:8080")).is_ok());
        for bad in ["0.0.0.0:8080", "10.0.0.5:8080", "[::]:8080", "[fd00::1]:80"] {
            let e = check_plain(sa(bad)).unwrap_err().to_string();
            assert!(e.contains("plain HTTP") && e.contains("loopback"), "{e}");
        }
    }
}
