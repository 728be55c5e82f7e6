//! A recording fake of [`NetworkManager`] for unit tests of the task engine: no kernel, no
//! files. It hands out addresses from 10.213.0.0/16 and dynamic ports from 49153 up, and
//! records every call.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::{
    Binding, Ipv4Subnet, Mode, NetError, NetworkManager, ReconcileReport, TaskNetSpec, TaskNetwork,
};

#[derive(Debug, Default)]
pub struct FakeNetwork {
    /// One line per call: `setup <task> <mode>`, `teardown <task>`, `reconcile <ids,>`,
    /// `add_peer_route <subnet> <via>`, `remove_peer_route <subnet> <via>`.
    pub calls: Mutex<Vec<String>>,
    /// When set, `setup` fails with this message.
    pub fail_setup: Mutex<Option<String>>,
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    tasks: BTreeMap<String, TaskNetwork>,
    next_host: u32,
    next_port: u16,
}

impl FakeNetwork {
    fn record(&self, call: String) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }

    /// The tasks that currently hold a network.
    pub fn live(&self) -> Vec<String> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tasks.keys().cloned().collect()
    }
}

impl NetworkManager for FakeNetwork {
    fn setup(&self, spec: &TaskNetSpec) -> Result<TaskNetwork, NetError> {
        self.record(format!("setup {} {}", spec.task_id, spec.mode.as_ecs()));
        spec.validate()?;
        if let Some(why) = self
            .fail_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(NetError::InvalidSpec {
                task: spec.task_id.clone(),
                why,
            });
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let wired = matches!(spec.mode, Mode::Bridge | Mode::Awsvpc);
        let ipv4 = wired.then(|| {
            st.next_host += 1;
            Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 213, 0, 1)) + st.next_host)
        });
        let mut bindings = Vec::new();
        for m in &spec.port_mappings {
            let host_port = match (spec.mode, m.static_host_port()) {
                (Mode::Bridge, None) => {
                    let p = 49153 + st.next_port;
                    st.next_port += 1;
                    p
                }
                (_, Some(p)) => p,
                (_, None) => m.container_port,
            };
            bindings.push(Binding {
                bind_ip: match spec.mode {
                    Mode::Awsvpc => ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    _ => Ipv4Addr::UNSPECIFIED,
                },
                container_port: m.container_port,
                host_port,
                protocol: m.protocol,
                container_port_range: None,
                host_port_range: None,
            });
        }
        let net = TaskNetwork {
            mode: spec.mode,
            netns: (spec.mode != Mode::Host)
                .then(|| PathBuf::from(format!("/fake/netns/{}", spec.task_id))),
            ipv4,
            mac: ipv4.map(|ip| {
                let o = ip.octets();
                format!("0a:58:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
            }),
            subnet: wired.then(|| "10.213.0.0/16".to_string()),
            gateway: wired.then_some(Ipv4Addr::new(10, 213, 0, 1)),
            bindings,
        };
        st.tasks.insert(spec.task_id.clone(), net.clone());
        Ok(net)
    }

    fn lookup(&self, task_id: &str) -> Result<Option<TaskNetwork>, NetError> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(st.tasks.get(task_id).cloned())
    }

    fn teardown(&self, task_id: &str) -> Result<(), NetError> {
        self.record(format!("teardown {task_id}"));
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tasks.remove(task_id);
        Ok(())
    }

    fn reconcile(&self, live_task_ids: &[String]) -> Result<ReconcileReport, NetError> {
        self.record(format!("reconcile {}", live_task_ids.join(",")));
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let dead: Vec<String> = st
            .tasks
            .keys()
            .filter(|id| !live_task_ids.contains(id))
            .cloned()
            .collect();
        for id in &dead {
            st.tasks.remove(id);
        }
        Ok(ReconcileReport {
            released_tasks: dead,
            removed_leftovers: Vec::new(),
        })
    }

    fn add_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError> {
        self.record(format!("add_peer_route {subnet} {via}"));
        Ok(())
    }

    fn remove_peer_route(&self, subnet: Ipv4Subnet, via: Ipv4Addr) -> Result<(), NetError> {
        self.record(format!("remove_peer_route {subnet} {via}"));
        Ok(())
    }
}
