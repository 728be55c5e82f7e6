//! Issue 12's HA figures, with real etcd members (Debian's `etcd`, on loopback ports) and
//! several `gantry server` replicas on them (`--store etcd://a,b,c`), plain HTTP:
//! - failover: the leader (the replica whose `GET /healthz` says `"leader": true`) is
//!   `kill -9`ed GANTRY_BENCH_KILLS times (default 20) and started again; the time from the
//!   kill to another replica's /healthz saying leader: p50 and max;
//! - scale, side by side: GANTRY_BENCH_INSTANCES simulated instances (default 300, spread
//!   over the replicas' agent gateways) and GANTRY_BENCH_TASKS tasks (default 3000, RunTask
//!   count 10 from GANTRY_BENCH_CLIENTS clients, default 16, spread over the replicas) on
//!   three replicas + three etcd members, then on one server on SQLite: time until every
//!   task is placed and RUNNING, RSS per replica, the store's size (etcd's db files / the
//!   SQLite files; for etcd also dbSize / dbSizeInUse, the same after a compaction and a
//!   defragment, the WAL and each member's RSS), DescribeTasks / ListTasks p99 measured by a
//!   prober during the load, and the load average. GANTRY_BENCH_STORES=etcd (or sqlite) runs
//!   one side only, to shake out a problem; the figures are side by side.
//!
//! Every etcd member, replica and simulated fleet is killed and its directory removed when
//! the bench ends, fails or gets SIGINT/SIGTERM (and the processes die with the bench even
//! on SIGKILL).
//!
//! Run: `cargo build --release --bin gantry && cargo bench -p gantry --bench ha`
//! (GANTRY_BENCH_HA=failover|scale|both, default both; the figure:
//! `GANTRY_BENCH_INSTANCES=10000 GANTRY_BENCH_TASKS=100000`).

mod common;
mod ha_cluster;

use std::time::{Duration, Instant};

use gantry_tests::bench::{count_from_env, percentile};
use ha_cluster::{healthz, Deployment};

async fn failover(kills: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let mut d = Deployment::etcd(3, 3).await;
    let mut took = Vec::new();
    for round in 0..kills {
        let Some(leader) = d.wait_leader(Duration::from_secs(30)).await else {
            problems.push(format!("round {round}: no leader within 30 s"));
            break;
        };
        let t0 = Instant::now();
        d.kill(leader);
        let others: Vec<usize> = (0..d.replicas()).filter(|&i| i != leader).collect();
        let mut new = None;
        while t0.elapsed() < Duration::from_secs(60) {
            for &i in &others {
                if healthz(&d.http, &d.endpoint(i))
                    .await
                    .is_some_and(|h| h.leader)
                {
                    new = Some(i);
                }
            }
            if new.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match new {
            Some(_) => took.push(t0.elapsed().as_secs_f64()),
            None => problems.push(format!("round {round}: no new leader within 60 s")),
        }
        // Back as a follower before the next kill, so each round starts with three.
        d.restart(leader).await;
    }
    took.sort_by(f64::total_cmp);
    println!("| measure | result |");
    println!("| --- | --- |");
    println!(
        "| failover over {} leader kills (kill -9 -> another replica's /healthz leader: true) | p50 {:.2} s, max {:.2} s |",
        took.len(),
        percentile(&took, 50.0),
        took.last().copied().unwrap_or(f64::NAN)
    );
    problems
}

async fn scale(instances: usize, tasks: usize, clients: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    // Both, side by side, unless GANTRY_BENCH_STORES names one (etcd or sqlite).
    let stores = std::env::var("GANTRY_BENCH_STORES").unwrap_or_else(|_| "etcd,sqlite".into());
    for etcd in [true, false] {
        if !stores.contains(if etcd { "etcd" } else { "sqlite" }) {
            continue;
        }
        let d = if etcd {
            Deployment::etcd(3, 3).await
        } else {
            Deployment::sqlite().await
        };
        eprintln!(
            "{}: load starts (load average {:.2})",
            d.label(),
            ha_cluster::loadavg()
        );
        let r = d.load(instances, tasks, clients).await;
        eprintln!(
            "{}: load done (load average {:.2})",
            d.label(),
            ha_cluster::loadavg()
        );
        if !r.problems.is_empty() {
            d.tail_logs(30);
        }
        problems.extend(r.problems.iter().cloned());
        rows.push((d.label(), r));
    }
    println!("instances: {instances}; tasks: {tasks}; clients: {clients}");
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    println!("| measure | {} |", labels.join(" | "));
    println!("|{}", " --- |".repeat(rows.len() + 1));
    let row = |what: &str, f: &dyn Fn(&ha_cluster::LoadReport) -> String| {
        let cells: Vec<String> = rows.iter().map(|(_, r)| f(r)).collect();
        println!("| {what} | {} |", cells.join(" | "));
    };
    row("instances registered", &|r| {
        format!("{:.1} s", r.registered.as_secs_f64())
    });
    row("tasks placed (RunTask answered)", &|r| {
        format!(
            "{:.1} s ({:.0} tasks/s)",
            r.placed_in.as_secs_f64(),
            r.placed as f64 / r.placed_in.as_secs_f64()
        )
    });
    row("every task RUNNING", &|r| {
        format!("{:.1} s", r.running_in.as_secs_f64())
    });
    row("RSS per replica (MiB, now / peak)", &|r| {
        r.rss
            .iter()
            .map(|(now, peak)| format!("{now:.0}/{peak:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let m = |b: u64| b as f64 / 1048576.0;
    row(
        "store on disk (SQLite files / largest etcd member's member/snap)",
        &|r| format!("{:.1} MiB", m(r.store_bytes)),
    );
    row("etcd dbSize / dbSizeInUse at the end (revision)", &|r| {
        if r.etcd_end.db_size == 0 {
            "—".into()
        } else {
            format!(
                "{:.1} / {:.1} MiB (rev {})",
                m(r.etcd_end.db_size),
                m(r.etcd_end.db_size_in_use),
                r.etcd_end.revision
            )
        }
    });
    row("etcd dbSize after compaction + defragment", &|r| {
        if r.etcd_compacted.db_size == 0 {
            "—".into()
        } else {
            format!("{:.1} MiB", m(r.etcd_compacted.db_size))
        }
    });
    row("etcd WAL (one member)", &|r| {
        if r.wal_bytes == 0 {
            "—".into()
        } else {
            format!("{:.1} MiB", m(r.wal_bytes))
        }
    });
    row("etcd RSS per member (MiB, now / peak)", &|r| {
        if r.etcd_rss.is_empty() {
            return "—".into();
        }
        r.etcd_rss
            .iter()
            .map(|(now, peak)| format!("{now:.0}/{peak:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    row("DescribeTasks (10 tasks) p50 / p99", &|r| {
        format!(
            "{:.1} / {:.1} ms ({} calls)",
            percentile(&r.describe, 50.0),
            percentile(&r.describe, 99.0),
            r.describe.len()
        )
    });
    row("ListTasks (100) p50 / p99", &|r| {
        format!(
            "{:.1} / {:.1} ms ({} calls)",
            percentile(&r.list, 50.0),
            percentile(&r.list, 99.0),
            r.list.len()
        )
    });
    row("probe calls that failed", &|r| r.probe_errors.to_string());
    row("load average (1 min) at start / highest during", &|r| {
        format!("{:.2} / {:.2}", r.load_start, r.load_max)
    });
    problems
}

async fn run() -> Vec<String> {
    let which = std::env::var("GANTRY_BENCH_HA").unwrap_or_else(|_| "both".into());
    let mut problems = Vec::new();
    if which == "failover" || which == "both" {
        problems.extend(failover(count_from_env("GANTRY_BENCH_KILLS", 20)).await);
    }
    if which == "scale" || which == "both" {
        problems.extend(
            scale(
                count_from_env("GANTRY_BENCH_INSTANCES", 300),
                count_from_env("GANTRY_BENCH_TASKS", 3000),
                count_from_env("GANTRY_BENCH_CLIENTS", 16),
            )
            .await,
        );
    }
    problems
}

/// The bench, or what stopped it: on SIGINT or SIGTERM the bench's future is dropped, so
/// every deployment's processes are killed and its directories removed before it exits.
async fn run_or_interrupted() -> Vec<String> {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return run().await;
    };
    tokio::select! {
        p = run() => p,
        _ = int.recv() => vec!["interrupted (SIGINT)".into()],
        _ = term.recv() => vec!["interrupted (SIGTERM)".into()],
    }
}

fn main() {
    gantry_tests::bench::run_checked(run_or_interrupted());
}
