//! Several `gantry server` replicas on a real three-member etcd cluster: the leader killed
//! with `kill -9` in the middle of a rollout and of RunTask calls, the leader cut off from
//! etcd by nftables in its own network namespace, and etcd losing one member, then two.
//!
//! Agent failover between replicas is tests/tests/failover.rs (the `failover` part).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_tests::ha::{HaCluster, HaOptions};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(120);
/// The failover budget of the issue: another replica leads within 5 s of the kill.
const FAILOVER: Duration = Duration::from_secs(5);

async fn register(ha: &HaCluster, i: usize, family: &str, tag: &str) -> Value {
    ha.ok(
        i,
        "RegisterTaskDefinition",
        json!({
            "family": family,
            "networkMode": "none",
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true, "memory": 16,
                "command": ["sleep", "600"], "environment": [{ "name": "TAG", "value": tag }],
            }],
        }),
    )
    .await
}

/// Waits until the service's only deployment is `td`'s, COMPLETED, with `count` running.
async fn wait_rollout(ha: &HaCluster, i: usize, service: &str, td: &str, count: u64) -> Value {
    let what = format!("the deployment of {td} to complete");
    gantry_tests::wait_for(&what, T, || async {
        let d = ha
            .call(i, "DescribeServices", json!({ "services": [service] }))
            .await
            .ok()?;
        let s = d["services"][0].clone();
        let deps = s["deployments"].as_array()?;
        (deps.len() == 1
            && deps[0]["status"] == "PRIMARY"
            && deps[0]["rolloutState"] == "COMPLETED"
            && deps[0]["taskDefinition"].as_str()?.ends_with(td)
            && deps[0]["runningCount"] == count
            && s["runningCount"] == count)
            .then_some(s)
    })
    .await
}

/// DescribeTasks of `arns` on replica `i`, by ARN (every chunk of 100); panics on failures.
async fn describe(ha: &HaCluster, i: usize, arns: &[String]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(100) {
        let d = ha.ok(i, "DescribeTasks", json!({ "tasks": chunk })).await;
        let failures = d["failures"].as_array().map_or(0, Vec::len);
        assert_eq!(failures, 0, "DescribeTasks lost acknowledged tasks: {d}");
        for t in d["tasks"].as_array().into_iter().flatten() {
            let arn = t["taskArn"].as_str().unwrap_or_default().to_string();
            out.insert(arn, t.clone());
        }
    }
    out
}

/// Every task ARN of `filter`, desired RUNNING and STOPPED.
async fn all_tasks(ha: &HaCluster, i: usize, filter: Value) -> Vec<String> {
    let mut arns = Vec::new();
    for desired in ["RUNNING", "STOPPED"] {
        let mut f = filter.clone();
        f["desiredStatus"] = json!(desired);
        arns.extend(ha.list_tasks(i, f).await);
    }
    arns
}

/// One RunTask call of a client: its `startedBy` (unique), the count asked, and the ARNs of
/// the answer when it was acknowledged (HTTP 200 with tasks).
#[derive(Debug, Clone)]
struct Call {
    started_by: String,
    count: usize,
    acked: Option<Vec<String>>,
    error: Option<String>,
}

/// RunTask calls from one client, round-robin over the replicas, until `stop` is set (and
/// at least `after_stop` more calls are made after it) or `max` calls.
async fn client(ha: Arc<HaCluster>, k: usize, stop: Arc<AtomicBool>, max: usize) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut after_stop = 0;
    for j in 0..max {
        if stop.load(Ordering::SeqCst) {
            after_stop += 1;
            if after_stop > 2 {
                break;
            }
        }
        let i = (k + j) % ha.replicas.len();
        let started_by = format!("client-{k}-{j}");
        let body = json!({ "taskDefinition": "batch", "count": 2, "startedBy": started_by });
        let mut call = Call {
            started_by,
            count: 2,
            acked: None,
            error: None,
        };
        match ha.call(i, "RunTask", body).await {
            Ok(v) => {
                let arns: Vec<String> = v["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["taskArn"].as_str().map(String::from))
                    .collect();
                if arns.is_empty() {
                    call.error = Some(format!("200 without tasks: {v}"));
                } else {
                    call.acked = Some(arns);
                }
            }
            Err((t, v)) => call.error = Some(format!("replica {i}: {t} {v}")),
        }
        calls.push(call);
    }
    calls
}

/// `kill -9` of the leader while a service rolls to a new task definition and clients call
/// RunTask: another replica leads within 5 s; every acknowledged task is there afterwards;
/// no call placed its tasks twice; the rollout completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_leader_mid_rollout_loses_nothing_and_places_nothing_twice() {
    let ha = Arc::new(HaCluster::start(3, 3).await);
    let old = ha.leader().await;
    let api = ha.others(old)[0];
    register(&ha, api, "roll", "v1").await;
    register(&ha, api, "roll", "v2").await;
    register(&ha, api, "batch", "b").await;
    ha.ok(
        api,
        "CreateService",
        json!({ "serviceName": "web", "taskDefinition": "roll:1", "desiredCount": 3 }),
    )
    .await;
    wait_rollout(&ha, api, "web", "roll:1", 3).await;

    // The rollout and the clients are under way when the leader dies.
    ha.ok(
        api,
        "UpdateService",
        json!({ "service": "web", "taskDefinition": "roll:2", "desiredCount": 3 }),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|k| tokio::spawn(client(ha.clone(), k, stop.clone(), 8)))
        .collect();
    gantry_tests::wait_for("a RunTask to be placed before the kill", T, || async {
        let l = ha.list_tasks(api, json!({ "family": "batch" })).await;
        (!l.is_empty()).then_some(())
    })
    .await;
    let killed_at = Instant::now();
    ha.kill9(old);
    let others = ha.others(old);
    let (new, took) = ha
        .first_leader_among(&others, killed_at, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no replica took over in 30 s\n{}", ha.logs()));
    eprintln!("failover after kill -9 of replica {old}: replica {new} leads after {took:?}");
    assert!(
        took < FAILOVER,
        "replica {new} took {took:?} to lead (budget {FAILOVER:?})\n{}",
        ha.logs()
    );
    stop.store(true, Ordering::SeqCst);
    let mut calls = Vec::new();
    for c in clients {
        calls.extend(c.await.expect("a client panicked"));
    }
    let service = wait_rollout(&ha, new, "web", "roll:2", 3).await;

    // The killed replica comes back as a follower.
    ha.restart(old).await;
    let h = gantry_tests::wait_for("the old leader to follow", T, || async {
        ha.healthz(old).await.filter(|h| h["leader"] == false)
    })
    .await;
    assert_eq!(h["store"], "etcd", "{h}");
    assert_eq!(
        ha.leader().await,
        new,
        "the leader changed when the old one came back"
    );

    check_placements(&ha, new, &calls, &service).await;
    let ha = Arc::try_unwrap(ha).unwrap_or_else(|_| panic!("a client still holds the cluster"));
    let leaks = ha.shutdown().await;
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}

/// Every acknowledged RunTask is there with exactly the tasks it answered; a call that was
/// not acknowledged placed all its tasks or none; the service runs exactly its desired count
/// of the new revision; nothing else runs.
async fn check_placements(ha: &HaCluster, i: usize, calls: &[Call], service: &Value) {
    let acked: Vec<&Call> = calls.iter().filter(|c| c.acked.is_some()).collect();
    assert!(
        acked.len() >= 3,
        "too few RunTask calls acknowledged: {calls:#?}"
    );
    let mut answered = BTreeSet::new();
    for c in &acked {
        for a in c.acked.iter().flatten() {
            assert!(
                answered.insert(a.clone()),
                "{a} was answered twice: {calls:#?}"
            );
        }
    }
    let answered_list: Vec<String> = answered.iter().cloned().collect();
    let found = describe(ha, i, &answered_list).await;
    assert_eq!(
        found.len(),
        answered.len(),
        "acknowledged tasks are missing"
    );
    let mut committed_unacked = 0;
    let mut client_tasks = 0;
    for c in calls {
        let placed: BTreeSet<String> = all_tasks(ha, i, json!({ "startedBy": c.started_by }))
            .await
            .into_iter()
            .collect();
        client_tasks += placed.len();
        match &c.acked {
            Some(arns) => {
                let want: BTreeSet<String> = arns.iter().cloned().collect();
                assert_eq!(
                    placed, want,
                    "{} placed other tasks than it answered",
                    c.started_by
                );
            }
            None => {
                assert!(
                    placed.is_empty() || placed.len() == c.count,
                    "{} (not acknowledged: {:?}) placed {} of {} tasks",
                    c.started_by,
                    c.error,
                    placed.len(),
                    c.count
                );
                committed_unacked += usize::from(!placed.is_empty());
            }
        }
    }
    let acked_tasks: usize = acked.iter().map(|c| c.count).sum();
    eprintln!(
        "{} RunTask calls, {} acknowledged ({acked_tasks} tasks), {committed_unacked} unacknowledged but placed; errors: {:?}",
        calls.len(),
        acked.len(),
        calls.iter().filter_map(|c| c.error.as_ref()).collect::<Vec<_>>()
    );
    // Every batch task in the cluster belongs to one of the calls, once.
    let batch = all_tasks(ha, i, json!({ "family": "batch" })).await;
    assert_eq!(
        batch.len(),
        client_tasks,
        "batch tasks no call accounts for"
    );
    assert_eq!(
        client_tasks,
        acked_tasks + 2 * committed_unacked,
        "task count != acknowledged + all-or-nothing unacknowledged"
    );
    // The service: exactly its desired count runs, all of the new revision.
    let svc = ha
        .list_tasks(
            i,
            json!({ "serviceName": "web", "desiredStatus": "RUNNING" }),
        )
        .await;
    assert_eq!(
        svc.len(),
        3,
        "service tasks meant to run: {svc:?}\n{service}"
    );
    for (arn, t) in describe(ha, i, &svc).await {
        let td = t["taskDefinitionArn"].as_str().unwrap_or_default();
        assert!(td.ends_with("roll:2"), "{arn} runs {td}");
        assert_eq!(t["lastStatus"], "RUNNING", "{t}");
    }
    let running = ha
        .list_tasks(i, json!({ "desiredStatus": "RUNNING" }))
        .await;
    let batch_running = ha
        .list_tasks(i, json!({ "family": "batch", "desiredStatus": "RUNNING" }))
        .await;
    assert_eq!(
        running.len(),
        3 + batch_running.len(),
        "tasks no one asked for run"
    );
    // Acknowledged means placed for real: the agent runs every one of them.
    gantry_tests::wait_for("every acknowledged task to run", T, || async {
        let ts = describe(ha, i, &answered_list).await;
        ts.values()
            .all(|t| t["lastStatus"] == "RUNNING")
            .then_some(())
    })
    .await;
}

/// The error message of a failed call, whatever its shape.
fn message(v: &Value) -> String {
    v["message"]
        .as_str()
        .or_else(|| v["Message"].as_str())
        .map_or_else(|| v.to_string(), String::from)
}

/// The leader cut off from etcd (nftables in its own network namespace, on the etcd client
/// ports only): its writes are refused, another replica leads, and once the rules are gone
/// the old leader follows and serves the API again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_etcd_is_fenced_out_and_rejoins_as_a_follower() {
    let mut opts = HaOptions::new(3, 3);
    opts.agents = 0;
    opts.isolate_first = true;
    let ha = HaCluster::start_with(opts).await;
    assert_eq!(
        ha.leader().await,
        0,
        "the isolated replica was meant to lead first"
    );
    register(&ha, 0, "before", "b").await;

    let iso = ha.isolation.as_ref().expect("replica 0 is isolated");
    iso.cut(&ha.etcd.client_ports());
    let cut_at = Instant::now();
    let (new, took) = ha
        .first_leader_among(&[1, 2], cut_at, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("no other replica took over\n{}", ha.logs()));
    eprintln!("failover after the partition: replica {new} leads after {took:?}");

    // The cut-off replica stops leading and its writes fail; the others keep serving.
    gantry_tests::wait_for("the cut-off replica to stop leading", T, || async {
        let h = ha.healthz(0).await;
        h.is_none_or(|h| h["leader"] != true).then_some(())
    })
    .await;
    let refused = gantry_tests::wait_for("a write on the cut-off replica to fail", T, || async {
        register_result(&ha, 0, "during-cut").await.err()
    })
    .await;
    assert_eq!(refused.0, "ServerException", "{refused:?}");
    register(&ha, new, "during", "d").await;
    assert!(iso.is_cut());

    iso.heal();
    let h = gantry_tests::wait_for("the old leader to follow", T, || async {
        ha.healthz(0).await.filter(|h| h["leader"] == false)
    })
    .await;
    let new_id = ha.replica_id(new).await.expect("the new leader's id");
    assert_eq!(h["leaderReplica"], json!(new_id), "{h}");
    assert_eq!(ha.leader().await, new, "the leader changed at the heal");
    // It serves the API again, with what was written while it was cut off.
    gantry_tests::wait_for("the old leader to serve writes again", T, || async {
        register_result(&ha, 0, "after").await.ok()
    })
    .await;
    let d = ha
        .ok(
            0,
            "DescribeTaskDefinition",
            json!({ "taskDefinition": "during" }),
        )
        .await;
    assert_eq!(d["taskDefinition"]["revision"], 1, "{d}");
    // Written nowhere: the failed write on the cut-off replica did not land later.
    let late = ha
        .call(
            new,
            "DescribeTaskDefinition",
            json!({ "taskDefinition": "during-cut" }),
        )
        .await;
    eprintln!("the write refused during the cut, read after the heal: {late:?}");
    let leaks = ha.shutdown().await;
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}

async fn register_result(ha: &HaCluster, i: usize, family: &str) -> Result<Value, (String, Value)> {
    ha.call(
        i,
        "RegisterTaskDefinition",
        json!({
            "family": family,
            "networkMode": "none",
            "containerDefinitions": [{
                "name": "main", "image": "busybox:latest", "essential": true, "memory": 16,
            }],
        }),
    )
    .await
}

/// The latest revision of `family` as replica `i` reads it.
async fn read_revision(ha: &HaCluster, i: usize, family: &str) -> Result<u64, (String, Value)> {
    let d = ha
        .call(
            i,
            "DescribeTaskDefinition",
            json!({ "taskDefinition": family }),
        )
        .await?;
    d["taskDefinition"]["revision"]
        .as_u64()
        .ok_or_else(|| ("NoRevision".to_string(), d))
}

/// etcd losing one member of three: every replica keeps reading and writing. Losing two:
/// writes fail with a ServerException that names the store, reads fail rather than answer
/// from a member cut off from the quorum. A member back: everything resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_losing_one_member_serves_losing_two_refuses_and_resumes() {
    let mut opts = HaOptions::new(3, 3);
    opts.agents = 0;
    let mut ha = HaCluster::start_with(opts).await;
    let mut last = register(&ha, 0, "q", "0").await["taskDefinition"]["revision"]
        .as_u64()
        .expect("a revision");

    ha.etcd.stop(0).expect("stop etcd member 0");
    for round in 0..2 {
        for i in 0..3 {
            // The write goes through one replica, the read through the next: reads are fresh
            // across replicas.
            let what = format!("a write on replica {i} with one etcd member down");
            let v = gantry_tests::wait_for(&what, Duration::from_secs(20), || async {
                register_result(&ha, i, "q").await.ok()
            })
            .await;
            let rev = v["taskDefinition"]["revision"]
                .as_u64()
                .expect("a revision");
            assert!(rev > last, "round {round}: revision {rev} after {last}");
            last = rev;
            let j = (i + 1) % 3;
            let read = read_revision(&ha, j, "q").await;
            assert_eq!(
                read,
                Ok(last),
                "replica {j} read something else than the last write"
            );
        }
    }
    ha.leader().await;

    ha.etcd.stop(1).expect("stop etcd member 1");
    for i in 0..3 {
        let what = format!("a write on replica {i} to fail without a quorum");
        let (t, v) = gantry_tests::wait_for(&what, T, || async {
            register_result(&ha, i, "q").await.err()
        })
        .await;
        assert_eq!(t, "ServerException", "{v}");
        let m = message(&v);
        assert!(
            m.contains("etcd"),
            "the message does not name the store: {m}"
        );
        eprintln!("replica {i} without a quorum: {t}: {m}");
        // The member left still holds the last revision; it must not be served as fresh.
        let read = read_revision(&ha, i, "q").await;
        let (rt, rv) = read.expect_err("a read without a quorum answered");
        assert_eq!(rt, "ServerException", "{rv}");
    }

    ha.etcd.start_member(1).expect("start etcd member 1");
    ha.etcd
        .wait_healthy(1, Instant::now() + Duration::from_secs(30))
        .expect("etcd member 1 healthy again");
    for i in 0..3 {
        let what = format!("a write on replica {i} once the quorum is back");
        let v = gantry_tests::wait_for(&what, T, || async {
            register_result(&ha, i, "q").await.ok()
        })
        .await;
        let rev = v["taskDefinition"]["revision"]
            .as_u64()
            .expect("a revision");
        assert!(rev > last, "revision {rev} after {last}");
        last = rev;
        assert_eq!(read_revision(&ha, (i + 2) % 3, "q").await, Ok(last));
    }
    ha.leader().await;
    let leaks = ha.shutdown().await;
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}

/// Whether a TCP connection from inside `ns` to `ip:port` opens within 2 s.
fn connects_from(ns: &str, ip: &str, port: u16) -> bool {
    std::process::Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "2", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/{ip}/{port}"))
        .status()
        .is_ok_and(|s| s.success())
}

/// The partition tool itself: the namespace reaches the etcd members on the host end of its
/// veth; the cut drops those ports only (the host still reaches them, and the namespace still
/// reaches another port); the heal restores them; nothing is left afterwards.
#[test]
fn the_partition_cuts_the_etcd_ports_and_nothing_else() {
    use gantry_tests::ha::netns::Isolation;
    let mut iso = Isolation::create();
    let host = iso.host_ip.to_string();
    let etcd = gantry_store::etcd_process::EtcdCluster::start_on(1, &host).expect("etcd");
    let port = etcd.client_port(0);
    let other = std::net::TcpListener::bind((iso.host_ip, 0)).expect("another listener");
    let other_port = other.local_addr().expect("its port").port();
    assert!(
        connects_from(&iso.name, &host, port),
        "the namespace cannot reach etcd"
    );
    iso.cut(&etcd.client_ports());
    assert!(iso.is_cut());
    assert!(
        !connects_from(&iso.name, &host, port),
        "the cut let etcd through"
    );
    assert!(
        connects_from(&iso.name, &host, other_port),
        "the cut dropped another port"
    );
    assert!(
        std::net::TcpStream::connect((iso.host_ip, port)).is_ok(),
        "the host lost etcd"
    );
    iso.heal();
    assert!(!iso.is_cut());
    assert!(
        connects_from(&iso.name, &host, port),
        "the heal did not restore etcd"
    );
    drop(etcd);
    let leaks = iso.remove();
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}
