//! The multi-node side of a test cluster (`gantry dev --nodes N`): each test's node fabric
//! gets names and a subnet of its own, derived from its API port, and the checks that the
//! fabric (namespaces, links, node cgroups) is gone after shutdown.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dev::Dev;

/// The host bridge and namespace prefix of the cluster on `port` (`gt<4 hex>`).
pub fn node_net(port: u16) -> String {
    format!("gt{port:04x}")
}

/// A /28 of 10.215.0.0/16 for the node addresses of the cluster on `port`.
pub fn node_subnet(port: u16) -> String {
    let n = u32::from(port % 4096) * 16;
    format!("10.215.{}.{}/28", n / 256, n % 256)
}

/// Node `i`'s address (1-based) in [`node_subnet`].
pub fn node_address(port: u16, i: usize) -> String {
    let n = u32::from(port % 4096) * 16 + 1 + u32::try_from(i).unwrap_or(0);
    format!("10.215.{}.{}", n / 256, n % 256)
}

/// The network namespace of node `i`.
pub fn netns(port: u16, i: usize) -> String {
    format!("{}-{i}", node_net(port))
}

/// The state dir of node `i`'s agent.
pub fn node_state(state: &Path, i: usize) -> PathBuf {
    state.join("nodes").join(i.to_string())
}

/// The cgroup parent of node `i`.
pub fn node_cgroup_parent(parent: &str, i: usize) -> String {
    format!("{parent}-node{i}")
}

fn ip_out(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Namespaces and links of the fabric still present.
pub fn fabric_leaks(port: u16) -> Vec<String> {
    let name = node_net(port);
    let mut leaks = Vec::new();
    for l in ip_out(&["netns", "list"]).lines() {
        if l.starts_with(&format!("{name}-")) {
            leaks.push(format!("node netns: {l}"));
        }
    }
    for l in ip_out(&["-o", "link", "show"]).lines() {
        let dev = l.split(": ").nth(1).unwrap_or_default();
        if dev.split('@').next().is_some_and(|d| d.starts_with(&name)) {
            leaks.push(format!("node link: {l}"));
        }
    }
    leaks
}

/// Removes whatever of the fabric is left (a test that failed half way).
pub fn remove_fabric(port: u16, nodes: usize) {
    let name = node_net(port);
    for i in 1..=nodes {
        let _ = Command::new("ip")
            .args(["netns", "del", &netns(port, i)])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{name}{i}")])
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = Command::new("ip")
        .args(["link", "del", &name])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Runs a command in node `i`'s network namespace (as that host), returning its output.
pub fn in_node(port: u16, i: usize, cmd: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", &netns(port, i)])
        .args(cmd)
        .output()
        .expect("run ip netns exec")
}

impl Dev {
    /// Which node (1-based, `--nodes`) the container instance is: the node whose agent state
    /// holds that instance id.
    pub fn node_of(&self, instance_arn: &str) -> usize {
        let id = instance_arn.rsplit('/').next().unwrap_or_default();
        (1..=self.nodes)
            .find(|i| {
                let f = crate::nodes::node_state(self.state.path(), *i).join("agent/instance-id");
                std::fs::read_to_string(f).is_ok_and(|s| s.trim() == id)
            })
            .unwrap_or_else(|| panic!("no node holds instance {instance_arn}"))
    }

    /// What the node agents and the node fabric left (`--nodes`), then removed.
    pub(crate) fn node_leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        if self.nodes == 0 {
            return leaks;
        }
        for i in 1..=self.nodes {
            let (state, cg) = self.node_parts(i);
            let found = crate::leaks::find(&state, &cg);
            if !found.is_empty() {
                crate::leaks::force_cleanup(&state, &cg);
            }
            leaks.extend(found);
            // `gantry dev` removes the node cgroup parents itself: any left is a leak.
            if crate::leaks::cgroup_roots()
                .iter()
                .any(|r| r.join(cg.trim_start_matches('/')).exists())
            {
                leaks.push(format!("cgroup parent {cg} of node {i} left"));
            }
            leaks.extend(crate::leaks::remove_cgroup_parent(&cg));
        }
        leaks.extend(crate::nodes::fabric_leaks(self.port));
        crate::nodes::remove_fabric(self.port, self.nodes);
        leaks
    }

    /// Node `i`'s state dir and cgroup parent.
    fn node_parts(&self, i: usize) -> (PathBuf, String) {
        (
            crate::nodes::node_state(self.state.path(), i),
            crate::nodes::node_cgroup_parent(&self.cgroup_parent(), i),
        )
    }
}
