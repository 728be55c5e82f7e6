//! Simulated agents: one process hosting many fake container instances, for measuring the
//! control plane at scale on one machine. Each instance registers with
//! `POST /agent/v1/register` and holds its own WebSocket session, exactly as a real agent
//! does ([`gantry_api::protocol`]); it runs no containers, and acknowledges every desired
//! task at once: a task wanted RUNNING is reported PENDING then RUNNING, one wanted STOPPED is
//! reported STOPPED (exit code 0). Heartbeats go at the real agent's interval, and a dropped
//! session is redialled, after which the server's full desired set is acknowledged again.
//!
//! The URL, signing and frame code is the real agent's ([`crate::Link`], `crate::send`).

mod session;

use std::future::Future;

use gantry_api::node::JoinGrant;
use gantry_api::protocol::{RegisterRequest, RegisterResponse, TaskSpec};
use tokio::sync::watch;

/// How simulated instances treat the tasks they are given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Every task starts (PENDING, RUNNING) and stops when told to.
    #[default]
    Healthy,
    /// Every task fails to start (STOPPED, `TaskFailedToStart`), as with a bad image.
    FailToStart,
    /// Tasks with a container of this image fail to start; the others are healthy.
    FailImage(String),
}

impl Behaviour {
    pub(crate) fn fails(&self, spec: &TaskSpec) -> bool {
        match self {
            Self::Healthy => false,
            Self::FailToStart => true,
            Self::FailImage(image) => spec
                .task_definition
                .container_definitions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|c| c.image.as_deref() == Some(image.as_str())),
        }
    }
}

/// Registers `count` simulated instances of `cpu` units and `memory` MiB in `cluster` on the
/// server at `server_url` (`http://host:port`), and runs their sessions until `shutdown`
/// completes. Fails only if a registration fails.
pub async fn run_simulated(
    server_url: &str,
    cluster: &str,
    count: usize,
    cpu: i64,
    memory: i64,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    run_fleet(
        server_url,
        cluster,
        count,
        cpu,
        memory,
        Behaviour::Healthy,
        shutdown,
    )
    .await
}

/// [`run_simulated`] with a chosen [`Behaviour`].
pub async fn run_fleet(
    server_url: &str,
    cluster: &str,
    count: usize,
    cpu: i64,
    memory: i64,
    behaviour: Behaviour,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let link = crate::Link::new(server_url);
    run_fleet_on(&link, cluster, count, cpu, memory, behaviour, shutdown).await
}

/// [`run_fleet`] over `link` (signed when it has credentials).
pub async fn run_fleet_on(
    link: &crate::Link,
    cluster: &str,
    count: usize,
    cpu: i64,
    memory: i64,
    behaviour: Behaviour,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let fleet = Fleet::start_on(link, cluster, count, cpu, memory, behaviour).await?;
    shutdown.await;
    fleet.stop().await;
    Ok(())
}

/// [`run_fleet_on`] with instances that each join with `grant` (a join token with a
/// registration limit of at least `count`) and sign with their own node credential.
#[allow(clippy::too_many_arguments)]
pub async fn run_fleet_joined(
    link: &crate::Link,
    grant: &JoinGrant,
    cluster: &str,
    count: usize,
    cpu: i64,
    memory: i64,
    behaviour: Behaviour,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let fleet = Fleet::start_joined(link, grant, cluster, count, cpu, memory, behaviour).await?;
    shutdown.await;
    fleet.stop().await;
    Ok(())
}

/// Running simulated instances; [`Fleet::stop`] ends their sessions.
#[derive(Debug)]
pub struct Fleet {
    /// The instance ids, in registration order.
    pub instances: Vec<RegisterResponse>,
    stop: watch::Sender<bool>,
    sessions: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Registers the instances and starts their sessions, unsigned (see [`Fleet::start_on`]).
    pub async fn start(
        server_url: &str,
        cluster: &str,
        count: usize,
        cpu: i64,
        memory: i64,
        behaviour: Behaviour,
    ) -> Result<Fleet, String> {
        Self::start_on(
            &crate::Link::new(server_url),
            cluster,
            count,
            cpu,
            memory,
            behaviour,
        )
        .await
    }

    /// Registers the instances over `link` (signed when it has credentials) and starts
    /// their sessions.
    pub async fn start_on(
        link: &crate::Link,
        cluster: &str,
        count: usize,
        cpu: i64,
        memory: i64,
        behaviour: Behaviour,
    ) -> Result<Fleet, String> {
        Self::start_with(link, None, cluster, count, cpu, memory, behaviour).await
    }

    /// Every instance first joins with `grant` and then signs its registration and session
    /// with its own node credential, as a real agent does.
    pub async fn start_joined(
        link: &crate::Link,
        grant: &JoinGrant,
        cluster: &str,
        count: usize,
        cpu: i64,
        memory: i64,
        behaviour: Behaviour,
    ) -> Result<Fleet, String> {
        Self::start_with(link, Some(grant), cluster, count, cpu, memory, behaviour).await
    }

    async fn start_with(
        link: &crate::Link,
        grant: Option<&JoinGrant>,
        cluster: &str,
        count: usize,
        cpu: i64,
        memory: i64,
        behaviour: Behaviour,
    ) -> Result<Fleet, String> {
        let (stop, _) = watch::channel(false);
        let mut fleet = Fleet {
            instances: Vec::with_capacity(count),
            stop,
            sessions: Vec::with_capacity(count),
        };
        for n in 0..count {
            // Instance n starts on server n (mod their count) and fails over on its own.
            let link = &link.starting_at(n);
            let req = RegisterRequest {
                cluster: cluster.to_string(),
                instance_id: None,
                hostname: format!("sim-{n}"),
                cpu,
                memory,
                reserved_ports: Vec::new(),
                attributes: vec![("gantry.simulated".to_string(), "true".to_string())],
                agent_version: format!("{}-sim", env!("CARGO_PKG_VERSION")),
                node_address: None,
            };
            let link = match grant {
                None => link.clone(),
                Some(g) => {
                    let joined = link.join(cluster, g, &req.hostname).await.map_err(|e| {
                        format!(
                            "simulated instance {n} could not join at {}: {}",
                            link.server_url(),
                            e.server_message()
                        )
                    })?;
                    link.clone()
                        .with_node(crate::NodeIdentity::new(joined.signer))
                }
            };
            let reg = register(&link, &req).await?;
            fleet.sessions.push(tokio::spawn(session::hold(
                link,
                reg.instance_id.clone(),
                behaviour.clone(),
                fleet.stop.subscribe(),
            )));
            fleet.instances.push(reg);
        }
        Ok(fleet)
    }

    /// Ends one instance's session without telling the server, as a crashed host would:
    /// its heartbeats stop.
    pub fn kill(&mut self, index: usize) {
        if let Some(h) = self.sessions.get(index) {
            h.abort();
        }
    }

    /// Ends every session.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for s in self.sessions {
            let _ = s.await;
        }
    }
}

async fn register(link: &crate::Link, req: &RegisterRequest) -> Result<RegisterResponse, String> {
    let url = crate::register_url(&link.server_url());
    link.register(req).await.map_err(|e| match e {
        crate::RegisterError::Refused { status, body } => {
            format!("registering a simulated instance at {url} failed with {status}: {body}")
        }
        crate::RegisterError::Unavailable(e) => {
            format!("could not register a simulated instance at {url}: {e}")
        }
        crate::RegisterError::Unsigned(e) => {
            format!("could not sign a simulated instance's registration at {url}: {e}")
        }
        crate::RegisterError::BadAnswer(e) => {
            format!("the registration answer from {url} is not a RegisterResponse: {e}")
        }
    })
}
