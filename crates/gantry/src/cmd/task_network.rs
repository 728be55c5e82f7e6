//! The awsvpc task network `gantry dev` configures when none is given: the first of a few
//! private ranges that overlaps neither the subnets Gantry itself uses (the node bridge's,
//! the node fabric's) nor any route of this host, so task addresses never shadow a network
//! the host already reaches.

use std::net::Ipv4Addr;

use anyhow::anyhow;
use gantry_net::Ipv4Subnet;

use super::DevArgs;

/// The task network `gantry dev` hands node slices of, so awsvpc works with no flag:
/// `--task-network` if given; none when the single node brings its own `--awsvpc-subnet`
/// (it then serves awsvpc from that, as `gantry agent` does); `--awsvpc-cluster-cidr` if
/// given; else the first free range of [`CANDIDATES`], checked against this host's routes
/// (`fabric`: the node subnet of `--nodes`, also avoided).
pub fn for_dev(a: &DevArgs, fabric: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(net) = &a.server.task_network {
        return Ok(Some(net.clone()));
    }
    if a.nodes <= 1 && a.node.awsvpc_subnet.is_some() {
        return Ok(None);
    }
    if let Some(net) = &a.node.awsvpc_cluster_cidr {
        return Ok(Some(net.clone()));
    }
    let mut avoid = Vec::new();
    for (flag, s) in [
        ("--bridge-subnet", Some(a.node.bridge_subnet.as_str())),
        ("--node-subnet", fabric),
    ] {
        if let Some(s) = s {
            avoid.push(
                s.parse::<Ipv4Subnet>()
                    .map_err(|e| anyhow!("{flag} {s:?}: {e}"))?,
            );
        }
    }
    let own = [a.node.bridge.clone(), format!("{}v", a.node.bridge)];
    let net = choose(&host_routes(), &avoid, &own)?;
    tracing::info!(
        task_network = %net,
        "awsvpc task network: the first free default range (no overlap with this host's routes or the bridge subnet); set --task-network to choose another"
    );
    Ok(Some(net.to_string()))
}

/// Tried in order. Each is large enough for a /24 slice per node of a test cluster; the
/// first is the documented default of `--awsvpc-cluster-cidr`.
pub const CANDIDATES: [&str; 6] = [
    "10.214.0.0/16",
    "10.218.0.0/16",
    "10.222.0.0/16",
    "172.29.0.0/16",
    "172.30.0.0/16",
    "192.168.224.0/20",
];

/// One IPv4 route of the host: where it goes and over which interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub dest: Ipv4Subnet,
}

/// The first of [`CANDIDATES`] that overlaps none of `avoid` and none of `routes`. Default
/// routes (prefix 0) overlap everything and say nothing, so they are skipped; so are routes
/// over `own_ifaces` (the dev cluster's own task bridges, still up from an earlier run,
/// whose routes are to this very network).
pub fn choose(
    routes: &[Route],
    avoid: &[Ipv4Subnet],
    own_ifaces: &[String],
) -> anyhow::Result<Ipv4Subnet> {
    let taken = |net: &Ipv4Subnet| {
        avoid.iter().any(|a| a.overlaps(net))
            || routes.iter().any(|r| {
                r.dest.prefix() > 0 && !own_ifaces.contains(&r.iface) && r.dest.overlaps(net)
            })
    };
    CANDIDATES
        .iter()
        .filter_map(|c| c.parse::<Ipv4Subnet>().ok())
        .find(|net| !taken(net))
        .ok_or_else(|| {
            anyhow!(
                "every default awsvpc task network ({}) overlaps a route of this host or a Gantry subnet; give one with --task-network",
                CANDIDATES.join(", ")
            )
        })
}

/// The host's IPv4 routes in the main table, from `/proc/net/route` (an unreadable file
/// gives none: the choice then only avoids Gantry's own subnets).
pub fn host_routes() -> Vec<Route> {
    std::fs::read_to_string("/proc/net/route")
        .map(|s| parse_routes(&s))
        .unwrap_or_default()
}

/// Parses `/proc/net/route`: a header, then `Iface Destination Gateway Flags RefCnt Use
/// Metric Mask ...`, with the destination and mask as the hex of the address bytes in
/// memory order. Lines that do not parse are skipped.
pub fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, mask) = (f.first()?, f.get(1)?, f.get(7)?);
            let addr = |hex: &str| {
                u32::from_str_radix(hex, 16)
                    .ok()
                    .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
            };
            let prefix = u8::try_from(u32::from(addr(mask)?).leading_ones()).ok()?;
            Some(Route {
                iface: (*iface).to_string(),
                dest: Ipv4Subnet::new(addr(dest)?, prefix).ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Subnet {
        s.parse().expect("subnet")
    }

    fn route(iface: &str, dest: &str) -> Route {
        Route {
            iface: iface.into(),
            dest: net(dest),
        }
    }

    /// `/proc/net/route` as a little-endian host writes it.
    fn proc_line(iface: &str, dest: [u8; 4], mask: [u8; 4]) -> String {
        let hex = |b: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(b));
        format!(
            "{iface}\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0",
            hex(dest),
            hex(mask)
        )
    }

    #[test]
    fn a_plain_host_gets_the_first_candidate() {
        let routes = [route("eth0", "0.0.0.0/0"), route("eth0", "192.168.1.0/24")];
        let got = choose(&routes, &[net("10.213.0.0/16")], &[]).expect("free");
        assert_eq!(got.to_string(), "10.214.0.0/16");
    }

    #[test]
    fn collisions_with_routes_and_gantry_subnets_move_down_the_list() {
        // A VPN route inside the first candidate, the bridge subnet over the second.
        let routes = [route("eth0", "0.0.0.0/0"), route("wg0", "10.214.7.0/24")];
        let avoid = [net("10.218.0.0/15")];
        let got = choose(&routes, &avoid, &[]).expect("free");
        assert_eq!(got.to_string(), "10.222.0.0/16");
        // A route that covers a candidate entirely collides too.
        let wide = [route("docker0", "10.0.0.0/8")];
        assert_eq!(
            choose(&wide, &[], &[]).expect("free").to_string(),
            "172.29.0.0/16"
        );
    }

    #[test]
    fn own_task_bridges_do_not_count() {
        let routes = [route("gantry0v", "10.214.0.0/24")];
        let own = ["gantry0".to_string(), "gantry0v".to_string()];
        assert_eq!(
            choose(&routes, &[], &own).expect("free").to_string(),
            "10.214.0.0/16"
        );
        // Another cluster's task bridge does.
        assert_eq!(
            choose(&routes, &[], &[]).expect("free").to_string(),
            "10.218.0.0/16"
        );
    }

    #[test]
    fn nothing_free_is_an_error_naming_the_flag() {
        let routes = [
            route("a", "10.0.0.0/8"),
            route("b", "172.16.0.0/12"),
            route("c", "192.168.0.0/16"),
        ];
        let e = choose(&routes, &[], &[]).expect_err("all taken");
        assert!(e.to_string().contains("--task-network"), "{e}");
    }

    #[test]
    fn proc_net_route_parses() {
        let text = [
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
                .to_string(),
            proc_line("eth0", [0, 0, 0, 0], [0, 0, 0, 0]),
            proc_line("eth0", [192, 168, 1, 0], [255, 255, 255, 0]),
            proc_line("gantry0", [10, 213, 0, 0], [255, 255, 0, 0]),
            "garbage".to_string(),
        ]
        .join("\n");
        let routes = parse_routes(&text);
        assert_eq!(
            routes,
            [
                route("eth0", "0.0.0.0/0"),
                route("eth0", "192.168.1.0/24"),
                route("gantry0", "10.213.0.0/16"),
            ]
        );
        // Routes in, network out.
        assert_eq!(
            choose(&routes, &[], &[]).expect("free").to_string(),
            "10.214.0.0/16"
        );
        // This host's own table parses without error (whatever it holds).
        let _ = host_routes();
    }
}
