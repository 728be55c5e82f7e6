//! `gantry dev --nodes N`: N agents on one machine, each in its own network namespace acting as
//! its own host. The fabric is a host bridge (`--node-net`, default `gantry-nodes`) with the
//! first address of `--node-subnet`; node `i` is the namespace `<node-net>-<i>`, wired to the
//! bridge by a veth (`<node-net><i>` on the host, `eth0` inside) with address `.<i+1>` and a
//! default route via the bridge. Each agent is a `gantry agent` child process started with
//! `nsenter --net=…`, so only its network namespace differs: it has its own task bridges,
//! nftables table, conntrack table and routes, its own state dir and cgroup parent.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::json;

use super::NodeArgs;
use crate::client::Client;

/// The host bridge, the node namespaces and the veths between them.
#[derive(Debug, Clone)]
pub struct Fabric {
    name: String,
    base: u32,
    prefix: u8,
    nodes: usize,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("could not run `ip` (package iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Fabric {
    pub fn new(name: &str, subnet: &str, nodes: usize) -> anyhow::Result<Self> {
        if name.is_empty()
            || name.len() > 12
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bail!("--node-net {name:?} must be 1 to 12 letters, digits or '-' (link names get a node number appended and are limited to 15 characters)");
        }
        let (addr, len) = subnet.split_once('/').ok_or_else(|| {
            anyhow!("--node-subnet {subnet:?} must be a CIDR such as 10.215.0.0/24")
        })?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| anyhow!("--node-subnet {subnet:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| (8..=29).contains(p))
            .ok_or_else(|| {
                anyhow!("--node-subnet {subnet:?}: the prefix length must be 8 to 29")
            })?;
        let size = 1u64 << (32 - prefix);
        if nodes as u64 + 2 >= size {
            bail!(
                "--node-subnet {subnet} has room for {} nodes, not {nodes}",
                size - 3
            );
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Self {
            name: name.to_string(),
            base: u32::from(addr) & mask,
            prefix,
            nodes,
        })
    }

    /// The host side of the bridge: the server listens here for the nodes.
    pub fn host_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Node `i` (1-based).
    pub fn node_address(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1 + u32::try_from(i).unwrap_or(0))
    }

    pub fn netns(&self, i: usize) -> String {
        format!("{}-{i}", self.name)
    }

    fn host_veth(&self, i: usize) -> String {
        format!("{}{i}", self.name)
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Makes the bridge and the node namespaces (removing any a killed run left first).
    pub fn create(&self) -> anyhow::Result<()> {
        for e in self.remove() {
            tracing::debug!("{e}");
        }
        let host = format!("{}/{}", self.host_address(), self.prefix);
        ip(&["link", "add", &self.name, "type", "bridge"])?;
        ip(&["addr", "add", &host, "dev", &self.name])?;
        ip(&["link", "set", &self.name, "up"])?;
        for i in 1..=self.nodes {
            let (ns, veth) = (self.netns(i), self.host_veth(i));
            let addr = format!("{}/{}", self.node_address(i), self.prefix);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &self.name, "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&[
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &self.host_address().to_string(),
            ])?;
        }
        Ok(())
    }

    /// Removes the namespaces (with everything in them: task bridges, nftables tables,
    /// routes, conntrack), the veths and the bridge. Returns what could not be removed.
    pub fn remove(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for i in 1..=self.nodes {
            let ns = self.netns(i);
            if Path::new("/run/netns").join(&ns).exists() {
                if let Err(e) = ip(&["netns", "del", &ns]) {
                    errors.push(e.to_string());
                }
            }
            let veth = self.host_veth(i);
            if Path::new("/sys/class/net").join(&veth).exists() {
                if let Err(e) = ip(&["link", "del", &veth]) {
                    errors.push(e.to_string());
                }
            }
        }
        if Path::new("/sys/class/net").join(&self.name).exists() {
            if let Err(e) = ip(&["link", "del", &self.name]) {
                errors.push(e.to_string());
            }
        }
        errors
    }
}

/// The flags of a node agent, from the dev command's node flags.
fn agent_flags(n: &NodeArgs, layouts: &[PathBuf]) -> Vec<String> {
    let mut f: Vec<String> = Vec::new();
    let mut put = |k: &str, v: String| {
        f.push(format!("--{k}"));
        f.push(v);
    };
    let join = |v: &[String]| v.join(",");
    put("cluster", n.cluster.clone());
    if !layouts.is_empty() {
        let l: Vec<String> = layouts.iter().map(|p| p.display().to_string()).collect();
        put("image-layout", join(&l));
    }
    if !n.insecure_registries.is_empty() {
        put("insecure-registry", join(&n.insecure_registries));
    }
    if !n.registry_auth.is_empty() {
        put("registry-auth", join(&n.registry_auth));
    }
    put("pull-policy", n.pull_policy.clone());
    put("reserved-memory", n.reserved_memory.to_string());
    let ports: Vec<String> = n.reserved_ports.iter().map(u16::to_string).collect();
    put("reserved-ports", join(&ports));
    if !n.attributes.is_empty() {
        put("attribute", join(&n.attributes));
    }
    put("stop-timeout", n.stop_timeout.to_string());
    put("task-cleanup-wait", n.task_cleanup_wait.to_string());
    put("pids-limit", n.pids_limit.to_string());
    put("log-max-size", n.log_max_size.to_string());
    put("log-max-files", n.log_max_files.to_string());
    put(
        "image-cleanup-interval",
        n.image_cleanup_interval.to_string(),
    );
    put(
        "image-minimum-cleanup-age",
        n.image_minimum_cleanup_age.to_string(),
    );
    put("bridge", n.bridge.clone());
    put("bridge-subnet", n.bridge_subnet.clone());
    put("dynamic-host-ports", n.dynamic_host_ports.clone());
    if let Some(cidr) = &n.awsvpc_cluster_cidr {
        put("awsvpc-cluster-cidr", cidr.clone());
    }
    if n.disable_privileged {
        f.push("--disable-privileged".to_string());
    }
    f
}

/// The cgroup parent of node `i`: a sibling of the dev command's, so each node's tasks are
/// apart and a node's agent sees only its own.
pub fn node_cgroup_parent(parent: &str, i: usize) -> String {
    format!("{}-node{i}", parent.trim_end_matches('/'))
}

/// The node agents, running.
pub struct Nodes {
    fabric: Fabric,
    children: Vec<tokio::process::Child>,
    cgroup_parent: String,
}

/// The state dir of node `i`'s agent (`gantry agent --state-dir`).
fn node_state_dir(state_dir: &Path, i: usize) -> PathBuf {
    state_dir.join("nodes").join(i.to_string())
}

impl Nodes {
    /// One join token for the nodes that have not joined yet (none when all have).
    pub async fn grant(
        client: &Client,
        state_dir: &Path,
        cluster: &str,
        nodes: usize,
    ) -> anyhow::Result<Option<gantry_api::node::JoinGrant>> {
        let new = (1..=nodes)
            .filter(|i| {
                !gantry_agent::has_node_credential(&node_state_dir(state_dir, *i).join("agent"))
            })
            .count();
        if new == 0 {
            return Ok(None);
        }
        super::dev_auth::join_grant(client, cluster, new)
            .await
            .map(Some)
    }

    /// Starts one `gantry agent` per node namespace, joining the server at `port` on the
    /// fabric's host address; those without a credential join with `grant`.
    pub fn start(
        fabric: Fabric,
        port: u16,
        state_dir: &Path,
        n: &NodeArgs,
        layouts: &[PathBuf],
        grant: Option<&gantry_api::node::JoinGrant>,
        ca: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("could not find the gantry binary")?;
        let mut nodes = Self {
            children: Vec::new(),
            cgroup_parent: n.cgroup_parent.clone(),
            fabric,
        };
        // The bridge listener serves HTTPS with the cluster CA (a network address).
        let scheme = if ca.is_some() { "https" } else { "http" };
        let server = format!("{scheme}://{}:{port}", nodes.fabric.host_address());
        for i in 1..=nodes.fabric.nodes() {
            let mut cmd = tokio::process::Command::new("nsenter");
            // The token goes through the environment, not argv, which anyone can read.
            if let Some(gantry_api::node::JoinGrant::Token { token }) = grant {
                cmd.env("GANTRY_JOIN_TOKEN", token);
            }
            if let Some(ca) = ca {
                cmd.env("GANTRY_CA_BUNDLE", ca);
            }
            let child = cmd
                .arg(format!("--net=/run/netns/{}", nodes.fabric.netns(i)))
                .arg("--")
                .arg(&exe)
                .arg("agent")
                .arg("--server")
                .arg(&server)
                .arg("--state-dir")
                .arg(node_state_dir(state_dir, i))
                .arg("--cgroup-parent")
                .arg(node_cgroup_parent(&n.cgroup_parent, i))
                .arg("--node-address")
                .arg(nodes.fabric.node_address(i).to_string())
                .args(agent_flags(n, layouts))
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("could not start a node agent with nsenter (package util-linux)")?;
            nodes.children.push(child);
        }
        Ok(nodes)
    }

    /// Stops every task of the cluster (the nodes go away with this process), then the
    /// agents, then removes the fabric and the nodes' cgroup parents.
    pub async fn shutdown(mut self, client: &Client, cluster: &str, stop_timeout: u64) {
        if let Err(e) = stop_all_tasks(client, cluster, stop_timeout).await {
            tracing::warn!("could not stop every task before removing the nodes: {e:#}");
        }
        for c in &mut self.children {
            if let Some(pid) = c.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
        for c in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
        for e in self.fabric.remove() {
            tracing::warn!("node clean-up: {e}");
        }
        for i in 1..=self.fabric.nodes() {
            remove_cgroup(&node_cgroup_parent(&self.cgroup_parent, i));
        }
        tracing::info!("node namespaces, links and cgroups removed");
    }

    /// Whether a node agent exited (it logged why).
    pub fn any_exited(&mut self) -> bool {
        self.children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(Some(_))))
    }
}

/// Removes an (empty) cgroup from every hierarchy.
fn remove_cgroup(path: &str) {
    let rel = path.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    let dirs: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.join(rel)]
    } else {
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(rel))
            .collect()
    };
    for d in dirs {
        if d.is_dir() {
            if let Err(e) = std::fs::remove_dir(&d) {
                tracing::warn!("could not remove the cgroup {}: {e}", d.display());
            }
        }
    }
}

/// Stops the cluster's tasks and waits (up to the stop timeout and 30 s) until they stopped.
async fn stop_all_tasks(client: &Client, cluster: &str, stop_timeout: u64) -> anyhow::Result<()> {
    let mut arns: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({ "cluster": cluster, "maxResults": 100 });
        if let Some(t) = &token {
            req["nextToken"] = json!(t);
        }
        let out = client.call("ListTasks", req).await?;
        arns.extend(
            out["taskArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(String::from)),
        );
        match out["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    for a in &arns {
        let _ = client
            .call(
                "StopTask",
                json!({ "cluster": cluster, "task": a, "reason": "gantry dev is shutting down" }),
            )
            .await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(stop_timeout + 30);
    let mut left = arns;
    while !left.is_empty() {
        let mut still = Vec::new();
        for chunk in left.chunks(100) {
            let out = client
                .call(
                    "DescribeTasks",
                    json!({ "cluster": cluster, "tasks": chunk }),
                )
                .await?;
            for t in out["tasks"].as_array().into_iter().flatten() {
                if t["lastStatus"] != "STOPPED" {
                    still.extend(t["taskArn"].as_str().map(String::from));
                }
            }
        }
        left = still;
        if left.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{} tasks did not stop in time", left.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
