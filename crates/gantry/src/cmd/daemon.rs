//! `gantry server`, `gantry agent` and `gantry dev`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use gantry_agent::AgentConfig;
use gantry_image::RegistryAuth;
use serde_json::json;

use gantry_server::tls::ServerTls;
use gantry_server::AccessKeyPair;

use super::{server_tls, AgentArgs, DevArgs, NodeArgs, ServerArgs, SimArgs};
use crate::client::Client;
use crate::credentials_file::{self, KeySource};

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

fn server_config(a: &ServerArgs, admin: AccessKeyPair) -> gantry_server::ServerConfig {
    gantry_server::ServerConfig {
        listen: a.listen,
        account_id: a.account_id.clone(),
        region: a.region.clone(),
        max_body_bytes: 1 << 20,
        agent_lost_after: Duration::from_secs(a.agent_lost_after),
        node_credential_ttl: a.node_credential_ttl,
        state_dir: Some(a.state_dir.clone()),
        admin_key: Some(admin),
        replica_id: a.replica_id.clone(),
        leader_ttl: a.leader_ttl,
        secret_key_file: a.secret_key_file.clone(),
        stopped_task_retention: a.stopped_task_retention,
        secrets_master_key_file: a.secrets_master_key_file.clone(),
        ..Default::default()
    }
}

/// The store `--store` names (default: the state directory's SQLite file), checked before
/// anything is created, then opened.
async fn open_store(a: &ServerArgs) -> anyhow::Result<super::store_open::AnyStore> {
    use super::store_open::{self, Sqlite, Target};
    let target = match &a.store.store {
        Some(url) => store_open::parse("--store", url, &a.store.etcd)?,
        None => {
            store_open::refuse_etcd_flags("--store is the default sqlite one", &a.store.etcd)?;
            Target::Sqlite(super::store_args::default_sqlite(&a.state_dir))
        }
    };
    store_open::open(&target, &a.store.etcd, Sqlite::Create).await
}

/// A bound server and what its ready line tells the user.
struct Started {
    bound: gantry_server::Bound<super::store_open::AnyStore>,
    /// The store's kind and place (never a secret).
    store: String,
    /// Where the administrator key came from.
    key: KeySource,
    /// The administrator key the server uses (what `gantry dev` hands its agents and client).
    admin: AccessKeyPair,
    /// The TLS of every listener that serves it (`bridge`'s too, when the main one is plain).
    tls: Option<ServerTls>,
}

impl Started {
    /// `<what> ready on <url> (credentials: <file>, CA: <ca.pem>)`. Never the secret.
    fn ready_line(&self, what: &str) -> anyhow::Result<String> {
        let url = self.bound.url()?;
        let mut notes = vec![format!("store: {}", self.store)];
        notes.push(match self.key.path() {
            Some(p) => format!("credentials: {}", p.display()),
            None => "credentials: the --admin-access-key-id key".to_string(),
        });
        if let Some(ca) = self.tls.as_ref().and_then(ServerTls::ca_bundle) {
            notes.push(format!("CA: {}", ca.display()));
        }
        Ok(format!("{what} ready on {url} ({})", notes.join(", ")))
    }
}

/// Binds the server, with the task network it hands slices of, if any. `bridge`: an address
/// it will also listen on (`gantry dev --nodes`), which then serves TLS.
async fn bind_server(
    a: &ServerArgs,
    task_network: Option<&str>,
    bridge: Option<std::net::SocketAddr>,
) -> anyhow::Result<Started> {
    let sec = &a.security;
    let main_tls = server_tls::wants_tls(sec, a.listen)?;
    if let (Some(b), true) = (bridge, sec.no_tls) {
        gantry_server::tls::check_plain(b)?;
    }
    // First, so that a bad --store leaves nothing behind.
    let store = open_store(a).await?;
    let store_line = store_line(&store);
    std::fs::create_dir_all(&a.state_dir).with_context(|| {
        format!(
            "could not create the state directory {}",
            a.state_dir.display()
        )
    })?;
    let (admin, key) = credentials_file::admin_key(
        &a.state_dir,
        sec.admin_access_key_id.as_deref(),
        sec.admin_secret_access_key.as_deref(),
    )?;
    let tls = if main_tls || bridge.is_some() {
        let listens: Vec<_> = std::iter::once(a.listen).chain(bridge).collect();
        let tls = server_tls::server_tls(sec, &a.state_dir, &listens)?;
        server_tls::reload_on_sighup(tls.clone());
        Some(tls)
    } else {
        None
    };
    let mut bound = gantry_server::bind(server_config(a, admin.clone()), store).await?;
    if let (true, Some(t)) = (main_tls, &tls) {
        bound = bound.with_tls(t.clone());
    }
    if let Some(net) = task_network {
        let net = gantry_server::TaskNetwork::new(net, a.task_slice_prefix)
            .map_err(|e| anyhow!("--task-network: {e}"))?;
        bound = bound.with_task_network(net);
    }
    Ok(Started {
        bound,
        store: store_line,
        key,
        admin,
        tls,
    })
}

/// `sqlite /var/lib/gantry/server/gantry.db`, `etcd h1:2379,h2:2379`.
fn store_line<S: gantry_store::Store>(store: &S) -> String {
    let place = store.describe();
    let kind = store.kind();
    let place = place
        .strip_prefix(kind)
        .and_then(|p| p.strip_prefix("://"))
        .unwrap_or(&place);
    format!("{kind} {place}")
}

pub async fn server(a: ServerArgs) -> anyhow::Result<()> {
    let started = bind_server(&a, a.task_network.as_deref(), None).await?;
    tracing::info!("{}", started.ready_line("gantry server")?);
    crate::notify::ready();
    started.bound.run(shutdown_signal()).await?;
    Ok(())
}

fn agent_config(
    server_url: String,
    state_dir: PathBuf,
    n: &NodeArgs,
) -> anyhow::Result<AgentConfig> {
    let mut cfg = AgentConfig::new(server_url, state_dir.clone());
    cfg.cluster = n.cluster.clone();
    cfg.image_layouts = n.image_layouts.clone();
    let default_layouts = state_dir.join("layouts");
    if cfg.image_layouts.is_empty() && default_layouts.is_dir() {
        cfg.image_layouts.push(default_layouts);
    }
    cfg.insecure_registries = n.insecure_registries.clone();
    for entry in &n.registry_auth {
        let (host, cred) = entry.split_once('=').ok_or_else(|| {
            anyhow!("--registry-auth {entry:?} must look like host:port=user:password")
        })?;
        let (user, pass) = cred.split_once(':').ok_or_else(|| {
            anyhow!("--registry-auth {entry:?} must look like host:port=user:password")
        })?;
        cfg.registry_auth.push((
            host.to_string(),
            RegistryAuth {
                username: user.to_string(),
                password: pass.to_string(),
            },
        ));
    }
    cfg.pull_policy = n.pull_policy.parse().map_err(|_| {
        anyhow!(
            "--pull-policy {:?} must be default, always, once or prefer-cached",
            n.pull_policy
        )
    })?;
    cfg.reserved_memory_mib = n.reserved_memory;
    cfg.reserved_ports = n.reserved_ports.clone();
    for attr in &n.attributes {
        let (k, v) = attr
            .split_once('=')
            .ok_or_else(|| anyhow!("--attribute {attr:?} must look like name=value"))?;
        cfg.attributes.push((k.to_string(), v.to_string()));
    }
    cfg.default_stop_timeout = Duration::from_secs(n.stop_timeout);
    cfg.task_cleanup_wait = Duration::from_secs(n.task_cleanup_wait);
    cfg.pids_limit = n.pids_limit;
    cfg.allow_privileged = !n.disable_privileged;
    cfg.user_namespace = n
        .user_namespace
        .as_deref()
        .map(parse_id_range)
        .transpose()?;
    cfg.log_max_bytes = n.log_max_size.max(4096);
    cfg.log_max_files = n.log_max_files.max(1);
    if !n.cgroup_parent.starts_with('/') || n.cgroup_parent.contains("..") {
        anyhow::bail!(
            "--cgroup-parent {:?} must be an absolute cgroup path without '..'",
            n.cgroup_parent
        );
    }
    cfg.cgroup_parent = n.cgroup_parent.trim_end_matches('/').to_string();
    cfg.bridge_name = n.bridge.clone();
    cfg.image_gc_interval = Duration::from_secs(n.image_cleanup_interval.max(1));
    cfg.image_min_age = Duration::from_secs(n.image_minimum_cleanup_age);
    n.bridge_subnet
        .parse::<gantry_net::Ipv4Subnet>()
        .map_err(|e| anyhow!("--bridge-subnet {:?}: {e}", n.bridge_subnet))?;
    cfg.bridge_subnet = n.bridge_subnet.clone();
    cfg.dynamic_ports = n
        .dynamic_host_ports
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        .filter(|(a, b): &(u16, u16)| a <= b && *a > 0)
        .ok_or_else(|| {
            anyhow!(
                "--dynamic-host-ports {:?} must look like 49153-65535",
                n.dynamic_host_ports
            )
        })?;
    if let Some(s) = &n.awsvpc_subnet {
        s.parse::<gantry_net::Ipv4Subnet>()
            .map_err(|e| anyhow!("--awsvpc-subnet {s:?}: {e}"))?;
    }
    cfg.awsvpc_subnet = n.awsvpc_subnet.clone();
    if let Some(cidr) = &n.awsvpc_cluster_cidr {
        cfg.awsvpc_cluster_cidr = cidr.clone();
    }
    cfg.node_address = n.node_address;
    cfg.supervisor_exe = std::env::current_exe().context("could not find the gantry binary")?;
    Ok(cfg)
}

pub async fn agent(a: AgentArgs) -> anyhow::Result<()> {
    let mut cfg = agent_config(a.server.clone(), a.state_dir.join("agent"), &a.node)?;
    a.auth.apply(&mut cfg)?;
    let agent = gantry_agent::start(cfg).await?;
    tracing::info!(instance = %agent.container_instance_arn(), node = %agent.node_id(), "gantry agent ready");
    let mut server = agent.server();
    let mut status = super::agent_status::AgentStatus::now(
        &a.node.cluster,
        agent.container_instance_arn(),
        Some(agent.node_id()),
        &server.borrow_and_update(),
    );
    super::agent_status::write(&a.state_dir, &status);
    // The status file names the server in use: rewritten when the agent fails over.
    let state_dir = a.state_dir.clone();
    let status_task = tokio::spawn(async move {
        while server.changed().await.is_ok() {
            let now = server.borrow_and_update().clone();
            if status.server.as_deref() != Some(now.as_str()) {
                status.server = Some(now);
                super::agent_status::write(&state_dir, &status);
            }
        }
    });
    crate::notify::ready();
    agent.run(shutdown_signal()).await;
    status_task.abort();
    Ok(())
}

pub async fn dev(a: DevArgs) -> anyhow::Result<()> {
    if a.nodes == 0 {
        anyhow::bail!("--nodes must be at least 1");
    }
    if a.nodes > 1 {
        return dev_nodes(a).await;
    }
    let task_network = super::task_network::for_dev(&a, None)?;
    let started = bind_server(&a.server, task_network.as_deref(), None).await?;
    let ready_line = started.ready_line("gantry dev")?;
    let admin = super::dev_auth::admin_signer(&started.admin, &a.server.region);
    let ca = super::dev_auth::cluster_ca(started.tls.as_ref())?.map(|(_, pem)| pem);
    let running = started.bound;
    let url = running.url()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server_task = {
        let mut rx = stop_rx.clone();
        tokio::spawn(running.run(async move {
            let _ = rx.wait_for(|v| *v).await;
        }))
    };
    let client = Client::signed(&url, admin, ca.as_deref())?;
    let mut cfg = agent_config(url.clone(), a.server.state_dir.join("agent"), &a.node)?;
    cfg.ca_bundle = ca.clone();
    if !gantry_agent::has_node_credential(&cfg.state_dir) {
        cfg.grant = Some(super::dev_auth::join_grant(&client, &a.node.cluster, 1).await?);
    }
    let agent_task = {
        let mut rx = stop_rx.clone();
        tokio::spawn(gantry_agent::run(cfg, async move {
            let _ = rx.wait_for(|v| *v).await;
        }))
    };
    wait_for_instances(&client, &a.node.cluster, 1).await?;
    tracing::info!(cluster = %a.node.cluster, "{ready_line}: aws ecs --endpoint-url {url} ... or gantry --endpoint {url} ...");
    crate::notify::ready();
    if a.demo {
        if let Err(e) = demo(&client, &a.node.cluster).await {
            tracing::error!("the demo task failed: {e:#}");
        }
    }
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = agent_task.await;
    let _ = server_task.await;
    Ok(())
}

/// `gantry dev --nodes N`: the server here, N agents in their own network namespaces.
async fn dev_nodes(a: DevArgs) -> anyhow::Result<()> {
    let fabric = super::nodes::Fabric::new(&a.node_net, &a.node_subnet, a.nodes)?;
    // Every node's awsvpc slice comes from the server.
    let task_network = super::task_network::for_dev(&a, Some(&a.node_subnet))?;
    // The nodes reach the server on the bridge, a network address: that listener is TLS.
    let bridge = std::net::SocketAddr::from((fabric.host_address(), a.server.listen.port()));
    let started = bind_server(&a.server, task_network.as_deref(), Some(bridge)).await?;
    let ready_line = started.ready_line("gantry dev")?;
    let admin = super::dev_auth::admin_signer(&started.admin, &a.server.region);
    let ca = super::dev_auth::cluster_ca(started.tls.as_ref())?;
    let bridge_tls = started.tls.clone();
    let bound = started.bound;
    let addr = bound.local_addr()?;
    if let Err(e) = fabric.create() {
        // Nothing half made stays behind.
        fabric.remove();
        return Err(e);
    }
    let bound = match bound
        .listen_also_with(
            std::net::SocketAddr::from((fabric.host_address(), addr.port())),
            bridge_tls,
        )
        .await
    {
        Ok(b) => b,
        Err(e) => {
            fabric.remove();
            return Err(e.into());
        }
    };
    let url = bound.url()?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server_task = tokio::spawn(bound.run(async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    }));
    // The main listener is TLS only with --tls; the CA is the same either way.
    let main_ca = ca.as_ref().filter(|_| url.starts_with("https://"));
    let client = Client::signed(&url, admin.clone(), main_ca.map(|(_, pem)| pem.as_slice()))?;
    let mut layouts = a.node.image_layouts.clone();
    let default_layouts = a.server.state_dir.join("agent").join("layouts");
    if layouts.is_empty() && default_layouts.is_dir() {
        layouts.push(default_layouts);
    }
    let started =
        match super::nodes::Nodes::grant(&client, &a.server.state_dir, &a.node.cluster, a.nodes)
            .await
        {
            Ok(grant) => super::nodes::Nodes::start(
                fabric.clone(),
                addr.port(),
                &a.server.state_dir,
                &a.node,
                &layouts,
                grant.as_ref(),
                ca.as_ref().map(|(path, _)| path.as_path()),
            ),
            Err(e) => Err(e),
        };
    let result = match started {
        Ok(mut nodes) => {
            let ready = wait_for_instances(&client, &a.node.cluster, a.nodes).await;
            if ready.is_ok() {
                tracing::info!(cluster = %a.node.cluster, nodes = a.nodes, node_bridge = %a.node_net, "{ready_line}: aws ecs --endpoint-url {url} ... or gantry --endpoint {url} ...");
                crate::notify::ready();
                tokio::select! {
                    _ = shutdown_signal() => {}
                    _ = watch_nodes(&mut nodes) => {}
                }
            }
            nodes
                .shutdown(&client, &a.node.cluster, a.node.stop_timeout)
                .await;
            ready
        }
        Err(e) => {
            fabric.remove();
            Err(e)
        }
    };
    let _ = stop_tx.send(true);
    let _ = server_task.await;
    result
}

/// Returns when a node agent exits on its own.
async fn watch_nodes(nodes: &mut super::nodes::Nodes) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if nodes.any_exited() {
            tracing::error!("a node agent exited; see its log above; shutting down");
            return;
        }
    }
}

async fn wait_for_instances(client: &Client, cluster: &str, count: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(out) = client
            .call("ListContainerInstances", json!({ "cluster": cluster }))
            .await
        {
            if out["containerInstanceArns"]
                .as_array()
                .is_some_and(|a| a.len() >= count)
            {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("{count} agent(s) did not register within 30 s; see the log above");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers the demo web task definition, runs it and waits until it serves.
async fn demo(client: &Client, cluster: &str) -> anyhow::Result<()> {
    let td = json!({
        "family": "demo-web",
        "networkMode": "host",
        "containerDefinitions": [{
            "name": "web",
            "image": "web:latest",
            "essential": true,
            "memory": 64,
            "command": ["httpd", "-f", "-v", "-p", "127.0.0.1:8081", "-h", "/www"]
        }]
    });
    client.call("RegisterTaskDefinition", td).await?;
    let out = client
        .call(
            "RunTask",
            json!({ "cluster": cluster, "taskDefinition": "demo-web" }),
        )
        .await?;
    let arn = out["tasks"][0]["taskArn"]
        .as_str()
        .ok_or_else(|| anyhow!("RunTask placed no task: {}", out["failures"]))?
        .to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = client
            .call(
                "DescribeTasks",
                json!({ "cluster": cluster, "tasks": [arn] }),
            )
            .await?;
        let t = &d["tasks"][0];
        match t["lastStatus"].as_str() {
            Some("RUNNING") => {
                tracing::info!(task = %arn, "demo task RUNNING: curl http://127.0.0.1:8081/");
                println!("demo task {arn} is RUNNING; try: curl http://127.0.0.1:8081/");
                return Ok(());
            }
            Some("STOPPED") => anyhow::bail!(
                "the demo task stopped: {}",
                t["stoppedReason"].as_str().unwrap_or("no reason given")
            ),
            _ => {}
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("the demo task did not reach RUNNING within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn sim_agents(a: SimArgs) -> anyhow::Result<()> {
    tracing::info!(count = a.count, server = %a.server, "starting simulated container instances");
    let link = a.auth.link(&a.server).await?;
    let grant = a.auth.grant().ok_or_else(|| {
        anyhow!("simulated agents join like real ones: give --join-token (a token from `gantry token create --limit {}`)", a.count)
    })?;
    gantry_link::sim::run_fleet_joined(
        &link,
        &grant,
        &a.cluster,
        a.count,
        a.cpu,
        a.memory,
        gantry_link::sim::Behaviour::Healthy,
        shutdown_signal(),
    )
    .await
    .map_err(|e| anyhow!("simulated agents: {e}"))
}

/// `FIRST:COUNT`, e.g. `100000:65536`: a host id range that is not host root's.
fn parse_id_range(s: &str) -> anyhow::Result<gantry_runtime::spec::IdRange> {
    let bad = || {
        anyhow!(
            "--user-namespace {s:?} must be FIRST:COUNT with FIRST above 0 and COUNT of at least 1, e.g. 100000:65536"
        )
    };
    let (first, count) = s.split_once(':').ok_or_else(bad)?;
    let range = gantry_runtime::spec::IdRange {
        first: first.trim().parse().map_err(|_| bad())?,
        count: count.trim().parse().map_err(|_| bad())?,
    };
    if range.first == 0 || range.count == 0 || range.first.checked_add(range.count).is_none() {
        return Err(bad());
    }
    Ok(range)
}

#[cfg(test)]
mod id_range_tests {
    use super::parse_id_range;

    #[test]
    fn user_namespace_ranges() {
        let r = parse_id_range("100000:65536").expect("valid");
        assert_eq!((r.first, r.count), (100_000, 65_536));
        for bad in [
            "",
            "100000",
            "0:65536",
            "100000:0",
            "a:b",
            "4294967295:2",
            "-1:5",
        ] {
            assert!(parse_id_range(bad).is_err(), "{bad}");
        }
    }
}
