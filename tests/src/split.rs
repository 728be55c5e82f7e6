//! Split mode of [`Dev`]: `gantry server` and `gantry agent` as two processes, each of which
//! a test can `kill -9` and start again while the other (and the tasks) keep running.

use std::time::Duration;

use serde_json::json;

use crate::dev::{kill9, Dev};

impl Dev {
    /// Starts `gantry server` and waits until it answers.
    pub async fn start_server(&mut self) {
        assert!(self.opts.split, "start_server needs DevOptions::split");
        self.child = Some(self.spawn("server"));
        if self.opts.tls {
            let ca = self.state.path().join("tls").join("ca.pem");
            let pem = crate::wait_for("the cluster CA", Duration::from_secs(30), || async {
                std::fs::read(&ca).ok().filter(|p| !p.is_empty())
            })
            .await;
            self.http = gantry_link::https_client(&pem).expect("the cluster CA is usable");
        }
        crate::wait_for(
            "gantry server to answer",
            Duration::from_secs(30),
            || async { self.call("ListClusters", json!({})).await.ok().map(|_| ()) },
        )
        .await;
    }

    /// Starts `gantry agent` and waits until the server shows it connected. The first
    /// start joins with a join token made with the test key; later ones use the node
    /// credential the agent keeps in its state dir.
    pub async fn start_agent(&mut self) {
        assert!(self.opts.split, "start_agent needs DevOptions::split");
        // After a `kill -9` the server may not have seen the old session close yet: wait
        // until it has, or "connected" below could be the old agent's.
        let known = self
            .call("ListContainerInstances", json!({}))
            .await
            .ok()
            .and_then(|l| l["containerInstanceArns"].as_array().map(|a| !a.is_empty()))
            .unwrap_or(false);
        if known {
            self.wait_agent_connected(false).await;
        }
        self.ensure_join_token().await;
        self.agent = Some(self.spawn("agent"));
        self.wait_agent_connected(true).await;
    }

    /// Makes the agent's join token unless it has one or has joined (a test's own
    /// `GANTRY_JOIN_TOKEN` in the options wins).
    pub async fn ensure_join_token(&mut self) {
        let own = self.opts.env.iter().any(|(k, _)| k == "GANTRY_JOIN_TOKEN");
        if self.join_token.is_none() && !own && self.node_id().is_none() {
            let (token, ca_sha256) = self.new_join_token(1).await;
            self.join_token = Some(token);
            self.ca_sha256 = Some(ca_sha256).filter(|_| self.opts.tls);
        }
    }

    /// A new join token for `limit` hosts of the agent's cluster: (token, caSha256).
    pub async fn new_join_token(&self, limit: u32) -> (String, String) {
        let cluster = self.agent_cluster();
        crate::join_token(&self.http, &self.endpoint, &cluster, limit).await
    }

    /// The token the agent joined with (split mode).
    pub fn used_join_token(&self) -> Option<&str> {
        self.join_token.as_deref()
    }

    /// The CA hash the agent pinned (split mode with TLS).
    pub fn ca_sha256(&self) -> Option<&str> {
        self.ca_sha256.as_deref()
    }

    /// The cluster the agent joins (`--cluster` in the options, else `default`).
    pub fn agent_cluster(&self) -> String {
        let args = &self.opts.args;
        args.iter()
            .position(|a| a == "--cluster")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| "default".to_string())
    }

    /// `kill -9` the server (split mode); tasks and the agent keep running.
    pub fn kill9_server(&mut self) {
        assert!(self.opts.split, "kill9_server needs DevOptions::split");
        kill9(self.child.take());
    }

    /// `kill -9` the agent (split mode); tasks and the server keep running.
    pub fn kill9_agent(&mut self) {
        assert!(self.opts.split, "kill9_agent needs DevOptions::split");
        kill9(self.agent.take());
    }

    /// Waits until the one container instance's `agentConnected` is `connected`.
    pub async fn wait_agent_connected(&self, connected: bool) {
        let what = format!("the agent to show agentConnected={connected}");
        crate::wait_for(&what, Duration::from_secs(60), || async {
            let l = self.call("ListContainerInstances", json!({})).await.ok()?;
            let arns = l["containerInstanceArns"].as_array()?.clone();
            if arns.is_empty() {
                return None;
            }
            let d = self
                .call(
                    "DescribeContainerInstances",
                    json!({ "containerInstances": arns }),
                )
                .await
                .ok()?;
            (d["containerInstances"][0]["agentConnected"] == connected).then_some(())
        })
        .await;
    }
}

impl Dev {
    /// Replaces the extra environment used by the next process started (e.g. to disarm a
    /// failure point before a restart).
    pub fn set_env(&mut self, env: Vec<(String, String)>) {
        self.opts.env = env;
    }

    /// The task directory on the node of the task `arn`.
    pub fn task_dir(&self, arn: &str) -> std::path::PathBuf {
        self.tasks_dir().join(arn.rsplit('/').next().unwrap_or(arn))
    }

    /// The pid of the task's supervisor, from its pid file.
    pub fn supervisor_pid(&self, arn: &str) -> i32 {
        let path = self.task_dir(arn).join("supervisor.pid");
        let s = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        s.trim().parse().expect("pid in supervisor.pid")
    }

    /// The host pid of each container the task's journal records as started, in order.
    pub fn container_pids(&self, arn: &str) -> Vec<i32> {
        let path = self.task_dir(arn).join("events.jsonl");
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "Started")
            .filter_map(|e| e["pid"].as_i64().and_then(|p| i32::try_from(p).ok()))
            .collect()
    }
}

/// The process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next())
        })
        .is_some_and(|state| !matches!(state, 'Z' | 'X'))
}

/// `kill -9` a process that is not ours (a supervisor, a container).
pub fn kill9_pid(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}
