//! Bridge task churn through the full stack (see `gantry_tests::churn`): a smaller count here
//! to keep CI short (`GANTRY_CHURN_TASKS`, default 40); the 300-task run is in the network
//! bench (`cargo bench -p gantry --bench network`).

use gantry_tests::churn;
use gantry_tests::dev::Dev;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_task_churn_never_shares_an_address_or_port_and_leaves_nothing() {
    let total = std::env::var("GANTRY_CHURN_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let dev = Dev::start_with(churn::options()).await;
    let report = churn::run(&dev, total, 20).await;
    assert_eq!(report.tasks, total);
    assert!(!report.addresses.is_empty() && !report.ports.is_empty());
    let left = churn::leftovers(&dev, &report);
    assert!(
        left.is_empty(),
        "after {total} tasks: {left:?}\n{}",
        dev.log()
    );
    let leaks = dev.shutdown().await;
    assert!(leaks.is_empty(), "{leaks:?}");
}
