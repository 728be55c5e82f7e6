//! `gantry service`: ECS services, in the same table style as tasks and instances.
//!
//! Every subcommand is one or a few ECS calls (the same ones `aws ecs` makes), so what the
//! table shows is what DescribeServices answers.

use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{s, short};
use crate::client::Client;

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// List services with their counts and rollout state.
    Ls {
        #[command(flatten)]
        at: Cluster,
    },
    /// Describe services (the DescribeServices answer as JSON).
    Describe {
        #[arg(required = true)]
        services: Vec<String>,
        #[command(flatten)]
        at: Cluster,
    },
    /// Create a service.
    Create {
        name: String,
        /// Task definition: family, family:revision or ARN.
        #[arg(long)]
        task_definition: String,
        #[arg(long, default_value = "1")]
        desired_count: u32,
        /// EC2 or EXTERNAL.
        #[arg(long)]
        launch_type: Option<String>,
        /// REPLICA or DAEMON.
        #[arg(long)]
        scheduling_strategy: Option<String>,
        /// deploymentConfiguration.minimumHealthyPercent.
        #[arg(long)]
        min_healthy_percent: Option<u32>,
        /// deploymentConfiguration.maximumPercent.
        #[arg(long)]
        max_percent: Option<u32>,
        #[command(flatten)]
        at: Cluster,
    },
    /// Change a service's task definition or count, or roll its tasks.
    Update {
        service: String,
        #[arg(long)]
        task_definition: Option<String>,
        #[arg(long)]
        desired_count: Option<u32>,
        /// Replace every task even if nothing changed.
        #[arg(long)]
        force_new_deployment: bool,
        #[command(flatten)]
        at: Cluster,
    },
    /// Set a service's desired count.
    Scale {
        service: String,
        count: u32,
        #[command(flatten)]
        at: Cluster,
    },
    /// Delete a service (it must be scaled to 0 first, unless --force).
    Delete {
        service: String,
        /// Scale it to 0 and delete it in one step.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        at: Cluster,
    },
    /// A service's events, oldest first.
    Events {
        service: String,
        /// How many of the newest events to show.
        #[arg(long, default_value = "20")]
        limit: usize,
        #[command(flatten)]
        at: Cluster,
    },
}

#[derive(Debug, Args)]
pub struct Cluster {
    #[arg(long, default_value = "default")]
    cluster: String,
}

const HEADER: &[&str] = &[
    "SERVICE",
    "STATUS",
    "DESIRED",
    "RUNNING",
    "PENDING",
    "LAUNCH",
    "DEFINITION",
    "ROLLOUT",
];

fn service_rows(services: &[Value]) -> Vec<Vec<String>> {
    services
        .iter()
        .map(|svc| {
            let primary = svc["deployments"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["status"] == "PRIMARY");
            let rollout = match primary {
                Some(d) => s(d, "rolloutState"),
                None => "-".to_string(),
            };
            let launch = match svc.get("launchType") {
                Some(Value::String(l)) => l.clone(),
                _ => s(svc, "schedulingStrategy"),
            };
            vec![
                s(svc, "serviceName"),
                s(svc, "status"),
                s(svc, "desiredCount"),
                s(svc, "runningCount"),
                s(svc, "pendingCount"),
                launch,
                short(svc, "taskDefinition"),
                rollout,
            ]
        })
        .collect()
}

/// Every service ARN of a cluster (ListServices pages through them).
async fn list(c: &Client, cluster: &str) -> anyhow::Result<Vec<Value>> {
    let mut arns = Vec::new();
    let mut token: Option<Value> = None;
    loop {
        let mut req = json!({ "cluster": cluster, "maxResults": 100 });
        if let Some(t) = token.take() {
            req["nextToken"] = t;
        }
        let out = c.call("ListServices", req).await?;
        arns.extend(out["serviceArns"].as_array().into_iter().flatten().cloned());
        match out.get("nextToken") {
            Some(t @ Value::String(_)) => token = Some(t.clone()),
            _ => return Ok(arns),
        }
    }
}

/// DescribeServices takes at most 10 names a call, as ECS.
async fn describe(c: &Client, cluster: &str, names: &[Value]) -> anyhow::Result<Vec<Value>> {
    let mut services = Vec::new();
    for chunk in names.chunks(10) {
        let out = c
            .call(
                "DescribeServices",
                json!({ "cluster": cluster, "services": chunk }),
            )
            .await?;
        for f in out["failures"].as_array().into_iter().flatten() {
            eprintln!("{}: {}", s(f, "arn"), s(f, "reason"));
        }
        services.extend(out["services"].as_array().into_iter().flatten().cloned());
    }
    Ok(services)
}

fn print_one(svc: &Value) {
    crate::table::print(HEADER, &service_rows(std::slice::from_ref(svc)));
}

fn event_time(e: &Value) -> String {
    match e["createdAt"].as_f64() {
        Some(t) if t >= 0.0 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs_f64(t)).to_string()
        }
        _ => "-".to_string(),
    }
}

pub async fn run(c: &Client, cmd: ServiceCmd) -> anyhow::Result<()> {
    match cmd {
        ServiceCmd::Ls { at } => {
            let arns = list(c, &at.cluster).await?;
            let services = describe(c, &at.cluster, &arns).await?;
            crate::table::print(HEADER, &service_rows(&services));
        }
        ServiceCmd::Describe { services, at } => {
            let names: Vec<Value> = services.into_iter().map(Value::String).collect();
            let out = c
                .call(
                    "DescribeServices",
                    json!({ "cluster": at.cluster, "services": names }),
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ServiceCmd::Create {
            name,
            task_definition,
            desired_count,
            launch_type,
            scheduling_strategy,
            min_healthy_percent,
            max_percent,
            at,
        } => {
            let mut req = json!({
                "cluster": at.cluster,
                "serviceName": name,
                "taskDefinition": task_definition,
            });
            if scheduling_strategy.as_deref() != Some("DAEMON") {
                req["desiredCount"] = json!(desired_count);
            }
            if let Some(l) = launch_type {
                req["launchType"] = json!(l);
            }
            if let Some(st) = scheduling_strategy {
                req["schedulingStrategy"] = json!(st);
            }
            let mut dc = serde_json::Map::new();
            if let Some(p) = min_healthy_percent {
                dc.insert("minimumHealthyPercent".into(), json!(p));
            }
            if let Some(p) = max_percent {
                dc.insert("maximumPercent".into(), json!(p));
            }
            if !dc.is_empty() {
                req["deploymentConfiguration"] = Value::Object(dc);
            }
            let out = c.call("CreateService", req).await?;
            print_one(&out["service"]);
        }
        ServiceCmd::Update {
            service,
            task_definition,
            desired_count,
            force_new_deployment,
            at,
        } => {
            let mut req = json!({ "cluster": at.cluster, "service": service });
            if let Some(td) = task_definition {
                req["taskDefinition"] = json!(td);
            }
            if let Some(n) = desired_count {
                req["desiredCount"] = json!(n);
            }
            if force_new_deployment {
                req["forceNewDeployment"] = json!(true);
            }
            let out = c.call("UpdateService", req).await?;
            print_one(&out["service"]);
        }
        ServiceCmd::Scale { service, count, at } => {
            let out = c
                .call(
                    "UpdateService",
                    json!({ "cluster": at.cluster, "service": service, "desiredCount": count }),
                )
                .await?;
            print_one(&out["service"]);
        }
        ServiceCmd::Delete { service, force, at } => {
            let mut req = json!({ "cluster": at.cluster, "service": service });
            if force {
                req["force"] = json!(true);
            }
            let out = c.call("DeleteService", req).await.map_err(|e| {
                if !force && e.to_string().contains("scaled above 0") {
                    e.context(format!(
                        "{service} still has tasks: delete it with --force, or scale it to 0 first (gantry service scale {service} 0)"
                    ))
                } else {
                    e
                }
            })?;
            print_one(&out["service"]);
        }
        ServiceCmd::Events { service, limit, at } => {
            let found = describe(c, &at.cluster, &[json!(service)]).await?;
            let Some(svc) = found.first() else {
                anyhow::bail!("service {service} not found in cluster {}", at.cluster);
            };
            // ECS lists events newest first; a terminal reads best oldest first.
            let mut rows: Vec<Vec<String>> = svc["events"]
                .as_array()
                .into_iter()
                .flatten()
                .take(limit)
                .map(|e| vec![event_time(e), s(e, "message")])
                .collect();
            rows.reverse();
            crate::table::print(&["TIME", "MESSAGE"], &rows);
        }
    }
    Ok(())
}
