//! The etcd test cluster itself: members start healthy, stop, restart on their data and
//! rejoin, and nothing is left behind.

use std::time::{Duration, Instant};

use gantry_store::etcd_process::EtcdCluster;

#[test]
fn three_members_start_stop_rejoin_and_clean_up() {
    let mut cluster = EtcdCluster::start(3).expect("start 3 members");
    assert_eq!(cluster.endpoints().len(), 3);
    let pids: Vec<u32> = (0..3).map(|i| cluster.pid(i).expect("running")).collect();
    let dir = cluster
        .data_dir(0)
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.to_path_buf());
    cluster.stop(0).expect("stop member 0");
    assert!(!cluster.is_running(0));
    // Two of three keep a quorum.
    assert!(cluster.is_healthy(1));
    cluster.kill(1).expect("kill member 1");
    cluster.start_member(0).expect("restart member 0");
    cluster.start_member(1).expect("restart member 1");
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..3 {
        cluster
            .wait_healthy(i, deadline)
            .expect("healthy after rejoin");
    }
    drop(cluster);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")),
            "etcd {pid} still runs after the cluster was dropped"
        );
    }
    let dir = dir.expect("cluster dir");
    assert!(!dir.exists(), "{} was not removed", dir.display());
}
