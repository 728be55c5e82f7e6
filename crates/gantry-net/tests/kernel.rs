//! Task networking against the real kernel (root only; skipped otherwise). Each test owns
//! a bridge, a subnet, an nftables table and directories of its own, so tests run in
//! parallel, and a guard removes all of it even when the test fails. Traffic goes only to
//! loopback and to the namespaces and bridges the tests create.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gantry_net::{
    AwsvpcConfig, Ipv4Subnet, KernelNetwork, Mode, NetConfig, NetError, NetworkManager,
    PortMapping, Protocol, TaskNetSpec, TaskNetwork,
};

fn root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

/// One test's node: removes bridges, table, namespaces and directories on drop.
struct Node {
    net: KernelNetwork,
    dir: PathBuf,
}

impl Node {
    /// `n` (1..=99) keeps this test's names and subnet apart from the others'.
    fn new(n: u8, awsvpc: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("gantry-net-it-{n}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = NetConfig::new(dir.join("run"), dir.join("state"))
            .with_bridge(format!("gnb{n}"), subnet(&format!("10.240.{n}.0/24")))
            .with_nft_table(format!("gnt{n}"))
            .with_dynamic_ports(20000 + u16::from(n) * 100, 20000 + u16::from(n) * 100 + 99);
        if awsvpc {
            cfg = cfg.with_awsvpc(AwsvpcConfig {
                bridge: format!("gnv{n}"),
                task_subnet: subnet(&format!("10.241.{n}.0/24")),
                cluster_cidr: subnet("10.241.0.0/16"),
            });
        }
        Self {
            net: KernelNetwork::new(cfg).expect("config"),
            dir,
        }
    }

    fn cfg(&self) -> &NetConfig {
        self.net.config()
    }

    fn bridge_task(&self, id: &str, pm: Vec<PortMapping>) -> TaskNetwork {
        self.net
            .setup(&TaskNetSpec::new(id, Mode::Bridge).with_port_mappings(pm))
            .expect("setup")
    }

    /// What the kernel holds for this node: veths on its bridges, nftables elements and
    /// pinned namespaces.
    fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for br in [
            Some(self.cfg().bridge.name.clone()),
            self.cfg().awsvpc.as_ref().map(|a| a.bridge.clone()),
        ]
        .into_iter()
        .flatten()
        {
            let links = sh(&["ip", "-o", "link", "show", "master", &br]);
            out.extend(links.lines().map(|l| format!("link {l}")));
        }
        let map = sh(&["nft", "list", "map", "ip", &self.cfg().nft_table, "ports"]);
        out.extend(
            map.split("comment")
                .skip(1)
                .map(|e| format!("nft {}", e.trim())),
        );
        if let Ok(d) = std::fs::read_dir(self.cfg().run_dir.join("netns")) {
            out.extend(
                d.filter_map(Result::ok)
                    .map(|e| format!("netns {:?}", e.file_name())),
            );
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.net.remove_host() {
            eprintln!("cleanup: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn subnet(s: &str) -> Ipv4Subnet {
    s.parse().expect("subnet")
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `f` on a thread inside the namespace pinned at `ns`.
fn in_netns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(ns).expect("open netns");
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

/// An echo server (TCP and UDP on one port) inside a task's namespace; stops on drop, so
/// it never keeps a namespace alive past its test.
struct Echo {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Echo {
    fn start(ns: &Path, port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tcp, udp) = in_netns(ns, move || {
            let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
            (
                TcpListener::bind(any).expect("tcp bind"),
                UdpSocket::bind(any).expect("udp bind"),
            )
        });
        tcp.set_nonblocking(true).expect("nonblocking");
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let s1 = stop.clone();
        let t1 = std::thread::spawn(move || {
            while !s1.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((mut c, peer)) => {
                        let _ = c.set_nonblocking(false);
                        let mut buf = [0u8; 64];
                        if let Ok(n) = c.read(&mut buf) {
                            let _ = c.write_all(
                                format!("{}|{peer}", String::from_utf8_lossy(&buf[..n])).as_bytes(),
                            );
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        let s2 = stop.clone();
        let t2 = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&buf[..n], peer);
                }
            }
        });
        Self {
            stop,
            threads: vec![t1, t2],
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Sends "ping" over TCP; returns the reply ("ping|<peer address as the server saw it>").
fn tcp_ping(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"ping")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn udp_ping(addr: SocketAddr) -> std::io::Result<String> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut buf = [0u8; 64];
    // UDP may lose the first datagram while ARP resolves: retry a few times.
    for _ in 0..6 {
        s.send_to(b"uping", addr)?;
        if let Ok(n) = s.recv(&mut buf) {
            return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no UDP reply",
    ))
}

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

#[test]
fn a_bridge_task_gets_an_address_reaches_the_bridge_and_other_tasks() {
    if !root() {
        return;
    }
    let node = Node::new(1, false);
    let a = node.bridge_task("task-a", vec![]);
    let b = node.bridge_task("task-b", vec![]);
    let (ip_a, ip_b) = (a.ipv4.expect("ip a"), b.ipv4.expect("ip b"));
    let net = subnet("10.240.1.0/24");
    assert!(net.contains(ip_a) && net.contains(ip_b) && ip_a != ip_b);
    assert_eq!(a.gateway, Some(Ipv4Addr::new(10, 240, 1, 1)));
    assert_eq!(a.subnet.as_deref(), Some("10.240.1.0/24"));
    let ns_a = a.netns.clone().expect("netns");
    let addrs = sh(&[
        "nsenter",
        &format!("--net={}", ns_a.display()),
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(
        addrs
            .lines()
            .any(|l| l.contains("eth0") && l.contains(&format!("inet {ip_a}/24"))),
        "{addrs}"
    );
    let mac = sh(&[
        "nsenter",
        &format!("--net={}", ns_a.display()),
        "ip",
        "-o",
        "link",
        "show",
        "eth0",
    ]);
    assert!(mac.contains(a.mac.as_deref().expect("mac")), "{mac}");

    // The task reaches the host through the bridge address.
    let host = TcpListener::bind((Ipv4Addr::new(10, 240, 1, 1), 0)).expect("bind on the bridge");
    let hp = host.local_addr().expect("addr").port();
    let acc = std::thread::spawn(move || host.accept().map(|(_, peer)| peer));
    in_netns(&ns_a, move || {
        TcpStream::connect_timeout(
            &sock(Ipv4Addr::new(10, 240, 1, 1), hp),
            Duration::from_secs(3),
        )
    })
    .expect("task to bridge");
    let peer = acc.join().expect("accept thread").expect("accept");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(ip_a));

    // Task to task on the bridge, unNATed.
    let _echo = Echo::start(b.netns.as_ref().expect("netns b"), 7000);
    let reply = in_netns(&ns_a, move || tcp_ping(sock(ip_b, 7000))).expect("a to b");
    assert!(reply.starts_with(&format!("ping|{ip_a}:")), "{reply}");
}

#[test]
fn port_mappings_reach_the_task_from_loopback_the_host_address_and_other_tasks() {
    if !root() {
        return;
    }
    let node = Node::new(2, false);
    let mut udp = PortMapping::tcp(53, Some(20250));
    udp.protocol = Protocol::Udp;
    let web = node.bridge_task(
        "task-web",
        vec![
            PortMapping::tcp(80, Some(20251)),
            PortMapping::tcp(81, None),
            udp,
        ],
    );
    let dynamic = web.bindings[1].host_port;
    assert!((20200..=20299).contains(&dynamic) && dynamic != 20250 && dynamic != 20251);
    assert!(web
        .bindings
        .iter()
        .all(|b| b.bind_ip == Ipv4Addr::UNSPECIFIED));
    let ns = web.netns.clone().expect("netns");
    let _e80 = Echo::start(&ns, 80);
    let _e81 = Echo::start(&ns, 81);
    let _e53 = Echo::start(&ns, 53);
    let gw = Ipv4Addr::new(10, 240, 2, 1);

    for addr in [
        sock(Ipv4Addr::LOCALHOST, 20251),
        sock(gw, 20251),
        sock(Ipv4Addr::LOCALHOST, dynamic),
        sock(gw, dynamic),
    ] {
        let r = tcp_ping(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert!(r.starts_with("ping|"), "{addr}: {r}");
    }
    assert_eq!(
        udp_ping(sock(Ipv4Addr::LOCALHOST, 20250)).expect("udp via 127.0.0.1"),
        "uping"
    );
    assert_eq!(
        udp_ping(sock(gw, 20250)).expect("udp via the bridge address"),
        "uping"
    );

    // Hairpin: another task, and the task itself, through the host address.
    let other = node.bridge_task("task-client", vec![]);
    let r = in_netns(other.netns.as_ref().expect("netns"), move || {
        tcp_ping(sock(gw, 20251))
    })
    .expect("hairpin from another task");
    assert!(
        r.starts_with(&format!("ping|{gw}:")),
        "masqueraded to the bridge address: {r}"
    );
    let r = in_netns(&ns, move || tcp_ping(sock(gw, dynamic))).expect("hairpin to itself");
    assert!(r.starts_with("ping|"), "{r}");

    // A static port held on this node is refused, with nothing left behind.
    let err = node
        .net
        .setup(
            &TaskNetSpec::new("task-dup", Mode::Bridge)
                .with_port_mappings(vec![PortMapping::tcp(80, Some(20251))]),
        )
        .expect_err("double booking");
    assert!(
        matches!(err, NetError::PortInUse { port: 20251, .. }),
        "{err}"
    );
    assert!(node.net.lookup("task-dup").expect("lookup").is_none());
    assert!(!node.cfg().run_dir.join("netns/task-dup").exists());

    // Teardown flushes the task's conntrack entries (when the conntrack tool is there).
    drop((_e80, _e81, _e53));
    node.net.teardown("task-web").expect("teardown");
    if Command::new("conntrack").arg("--version").output().is_ok() {
        let ip = web.ipv4.expect("ip").to_string();
        let left = sh(&["conntrack", "-L", "--reply-src", &ip])
            + &sh(&["conntrack", "-L", "-p", "udp", "--orig-port-dst", "20250"]);
        assert!(left.trim().is_empty(), "{left}");
    }
}

#[test]
fn teardown_leaves_nothing_and_frees_the_allocations() {
    if !root() {
        return;
    }
    let node = Node::new(3, false);
    let t = node.bridge_task(
        "task-gone",
        vec![
            PortMapping::tcp(80, None),
            PortMapping::tcp(443, Some(20333)),
        ],
    );
    let ns = t.netns.clone().expect("netns");
    assert!(ns.exists());
    assert_eq!(node.leftovers().len(), 4, "{:?}", node.leftovers()); // 1 link, 2 elements, 1 netns
    node.net.teardown("task-gone").expect("teardown");
    node.net
        .teardown("task-gone")
        .expect("teardown is idempotent");
    assert_eq!(node.leftovers(), Vec::<String>::new());
    assert!(!ns.exists());
    assert!(node.net.lookup("task-gone").expect("lookup").is_none());
    let links = sh(&["ip", "-o", "link"]);
    assert!(!links.contains("task-gone"));
    // The static port is free again.
    node.bridge_task("task-next", vec![PortMapping::tcp(443, Some(20333))]);
}

#[test]
fn allocations_survive_a_restart_and_reconcile_removes_dead_tasks() {
    if !root() {
        return;
    }
    let node = Node::new(4, false);
    let a = node.bridge_task("task-old", vec![PortMapping::tcp(80, None)]);
    let b = node.bridge_task("task-live", vec![PortMapping::tcp(80, None)]);

    // An agent restart: a new instance over the same state and kernel.
    let again = KernelNetwork::new(node.cfg().clone()).expect("reopen");
    assert_eq!(again.lookup("task-old").expect("lookup"), Some(a.clone()));
    let c = again
        .setup(
            &TaskNetSpec::new("task-new", Mode::Bridge)
                .with_port_mappings(vec![PortMapping::tcp(80, None)]),
        )
        .expect("setup after restart");
    assert!(c.ipv4 != a.ipv4 && c.ipv4 != b.ipv4);
    let port = |t: &TaskNetwork| t.bindings[0].host_port;
    assert!(port(&c) != port(&a) && port(&c) != port(&b));

    let report = again
        .reconcile(&["task-live".to_string(), "task-new".to_string()])
        .expect("reconcile");
    assert_eq!(report.released_tasks, vec!["task-old".to_string()]);
    assert!(again.lookup("task-old").expect("lookup").is_none());
    assert!(!a.netns.as_ref().expect("netns").exists());
    let left = node.leftovers();
    assert_eq!(
        left.iter().filter(|l| l.starts_with("link")).count(),
        2,
        "{left:?}"
    );
    assert!(!left.iter().any(|l| l.contains("task-old")), "{left:?}");

    // A leftover without a record: a namespace pinned by nobody we know.
    again.teardown("task-new").expect("teardown");
    let stray = node.cfg().run_dir.join("netns/stray");
    std::fs::write(&stray, b"").expect("stray file");
    let report = again
        .reconcile(&["task-live".to_string()])
        .expect("reconcile");
    assert_eq!(report.removed_leftovers, vec!["netns stray".to_string()]);
    assert!(!stray.exists());
    assert!(node.net.lookup("task-live").expect("lookup").is_some());
}

#[test]
fn churn_leaves_zero_leftovers_and_never_shares_an_address_or_port() {
    if !root() {
        return;
    }
    let node = Node::new(5, false);
    let mut live: std::collections::VecDeque<(String, TaskNetwork)> = Default::default();
    for i in 0..100 {
        let id = format!("churn-{i}");
        let t = node.bridge_task(
            &id,
            vec![PortMapping::tcp(80, None), PortMapping::tcp(81, None)],
        );
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        for (_, n) in live.iter().chain(std::iter::once(&(id.clone(), t.clone()))) {
            assert!(ips.insert(n.ipv4), "address {:?} given twice", n.ipv4);
            for b in &n.bindings {
                assert!(
                    ports.insert(b.host_port),
                    "port {} given twice",
                    b.host_port
                );
                assert!(!node.cfg().reserved_ports.contains(&b.host_port));
            }
        }
        live.push_back((id, t));
        if live.len() > 3 {
            let (old, _) = live.pop_front().expect("oldest");
            node.net.teardown(&old).expect("teardown");
        }
    }
    for (id, _) in live.drain(..) {
        node.net.teardown(&id).expect("teardown");
    }
    assert_eq!(node.leftovers(), Vec::<String>::new());
    let gt: Vec<String> = sh(&["ip", "-o", "link"])
        .lines()
        .filter(|l| l.contains("master gnb5"))
        .map(str::to_string)
        .collect();
    assert!(gt.is_empty(), "{gt:?}");
    let state =
        std::fs::read_to_string(node.cfg().state_dir.join("allocations.json")).expect("state");
    assert!(!state.contains("churn-"), "{state}");
}

#[test]
fn awsvpc_tasks_are_reached_at_their_address_and_peer_routes_come_and_go() {
    if !root() {
        return;
    }
    let node = Node::new(6, true);
    let t = node
        .net
        .setup(
            &TaskNetSpec::new("task-eni", Mode::Awsvpc)
                .with_port_mappings(vec![PortMapping::tcp(8080, Some(8080))]),
        )
        .expect("setup");
    let ip = t.ipv4.expect("ip");
    assert!(subnet("10.241.6.0/24").contains(ip));
    assert_eq!(t.subnet.as_deref(), Some("10.241.6.0/24"));
    assert_eq!(t.bindings[0].host_port, 8080);
    assert_eq!(t.bindings[0].bind_ip, ip);
    let _echo = Echo::start(t.netns.as_ref().expect("netns"), 8080);
    let r = tcp_ping(sock(ip, 8080)).expect("host to task address");
    assert!(r.starts_with("ping|10.241.6.1:"), "{r}");

    // Another node's slice, routed through an address on this node's task bridge.
    let peer = subnet("10.241.99.0/24");
    let via = Ipv4Addr::new(10, 241, 6, 254);
    node.net.add_peer_route(peer, via).expect("add route");
    node.net.add_peer_route(peer, via).expect("idempotent");
    assert!(sh(&["ip", "route", "show", "10.241.99.0/24"]).contains("via 10.241.6.254"));
    node.net.remove_peer_route(peer, via).expect("remove route");
    node.net.remove_peer_route(peer, via).expect("idempotent");
    assert!(sh(&["ip", "route", "show", "10.241.99.0/24"]).is_empty());

    assert!(node
        .net
        .setup(
            &TaskNetSpec::new("task-bad", Mode::Awsvpc)
                .with_port_mappings(vec![PortMapping::tcp(80, Some(81))])
        )
        .is_err());
    node.net.teardown("task-eni").expect("teardown");
    assert_eq!(node.leftovers(), Vec::<String>::new());
}

#[test]
fn none_and_host_modes_keep_working() {
    if !root() {
        return;
    }
    let node = Node::new(7, false);
    let none = node
        .net
        .setup(&TaskNetSpec::new("task-none", Mode::None))
        .expect("none");
    let ns = none.netns.clone().expect("netns");
    let links = sh(&[
        "nsenter",
        &format!("--net={}", ns.display()),
        "ip",
        "-o",
        "link",
        "show",
    ]);
    assert_eq!(links.lines().count(), 1, "only loopback: {links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    let host = node
        .net
        .setup(&TaskNetSpec::new("task-host", Mode::Host))
        .expect("host");
    assert_eq!(host.netns, None);
    node.net.teardown("task-none").expect("teardown");
    node.net.teardown("task-host").expect("teardown");
    assert!(!ns.exists());
    // Nothing of bridge mode was made for them.
    assert!(sh(&["ip", "-o", "link", "show", "gnb7"]).is_empty());
}

/// Puts a flow into the host's conntrack table with the `conntrack` tool (test-only; the
/// agent flushes over netlink).
fn ct_insert(args: &[&str]) {
    let st = Command::new("conntrack")
        .arg("-I")
        .args(args)
        .args(["-t", "120"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("conntrack -I");
    assert!(st.success(), "conntrack -I {args:?}");
}

fn ct_exists(args: &[&str]) -> bool {
    Command::new("conntrack")
        .arg("-G")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("conntrack -G")
        .success()
}

#[test]
fn teardown_flushes_the_tasks_conntrack_entries_and_no_others() {
    if !root() || Command::new("conntrack").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and the conntrack tool");
        return;
    }
    let node = Node::new(8, false);
    let t = node.bridge_task(
        "task-ct",
        vec![PortMapping {
            protocol: Protocol::Udp,
            ..PortMapping::tcp(53, Some(20850))
        }],
    );
    let ip = t.ipv4.expect("address").to_string();
    let from_task = [
        "-p",
        "udp",
        "-s",
        &ip,
        "-d",
        "192.0.2.1",
        "--sport",
        "5000",
        "--dport",
        "53",
    ];
    let to_port = [
        "-p",
        "udp",
        "-s",
        "192.0.2.7",
        "-d",
        "192.0.2.8",
        "--sport",
        "40000",
        "--dport",
        "20850",
    ];
    // DNATed to the task: only the reply direction names its address.
    let nated = [
        "-p",
        "tcp",
        "-s",
        "127.0.0.1",
        "-d",
        "127.0.0.1",
        "--sport",
        "40001",
        "--dport",
        "20851",
        "--reply-src",
        &ip,
        "--reply-dst",
        "127.0.0.1",
        "--reply-port-src",
        "80",
        "--reply-port-dst",
        "40001",
        "--state",
        "ESTABLISHED",
    ];
    // Someone else's flows: another address, the same port number over TCP.
    let other = [
        "-p",
        "udp",
        "-s",
        "192.0.2.9",
        "-d",
        "192.0.2.10",
        "--sport",
        "5001",
        "--dport",
        "5002",
    ];
    let other_tcp = [
        "-p",
        "tcp",
        "-s",
        "192.0.2.9",
        "-d",
        "192.0.2.10",
        "--sport",
        "5003",
        "--dport",
        "20850",
        "--state",
        "ESTABLISHED",
    ];
    let ours: [&[&str]; 3] = [&from_task, &to_port, &nated];
    let theirs: [&[&str]; 2] = [&other, &other_tcp];
    for f in ours.iter().chain(&theirs) {
        ct_insert(f);
        assert!(ct_exists(f), "{f:?} was not inserted");
    }
    let t0 = std::time::Instant::now();
    node.net.teardown("task-ct").expect("teardown");
    eprintln!("teardown with conntrack flush: {:?}", t0.elapsed());
    for f in ours {
        assert!(!ct_exists(f), "{f:?} survived the task's teardown");
    }
    for f in theirs {
        assert!(ct_exists(f), "{f:?} belonged to no task and was flushed");
        let _ = Command::new("conntrack")
            .arg("-D")
            .args(f)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
