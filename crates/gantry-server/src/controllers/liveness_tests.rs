use gantry_store::SqliteStore;

use super::*;
use crate::clock::ManualClock;
use crate::persistence::testing::within;
use crate::state::ServerConfig;

const T0: Timestamp = 1_000_000.0;

fn instance(id: &str, connected: bool) -> InstanceRecord {
    let mut i = crate::persistence::testing::instance(id);
    i.agent_connected = connected;
    i
}

#[test]
fn silence_longer_than_the_limit_is_lost() {
    let after = Duration::from_secs(30);
    assert!(!is_lost(Some(T0), T0, T0 + 10.0, after));
    assert!(is_lost(Some(T0), T0, T0 + 31.0, after));
    assert!(is_lost(None, T0, T0 + 31.0, after));
    assert!(!is_lost(None, T0, T0 + 1.0, after));
}

#[test]
fn a_sweep_disconnects_once_and_loses_tasks_every_time() {
    let after = Duration::from_secs(30);
    let mut gone = instance("gone", false);
    gone.status = InstanceStatus::Inactive;
    let all = [
        instance("talking", true),
        instance("silent", true),
        instance("marked", false),
        gone,
    ];
    let seen = |id: &str| match id {
        "talking" => Some(T0 + 50.0),
        _ => Some(T0),
    };
    let lose = |id: &str| Action::LoseTasks {
        cluster: "c".into(),
        id: id.into(),
    };
    assert!(sweep(&all, seen, T0, T0 + 30.0, after).is_empty());
    assert_eq!(
        sweep(&all, seen, T0, T0 + 60.0, after),
        vec![
            Action::Disconnect {
                cluster: "c".into(),
                id: "silent".into()
            },
            lose("silent"),
            lose("marked"),
        ]
    );
}

fn task_on(id: &str, instance: &str) -> TaskRecord {
    let mut t = crate::persistence::testing::task(id);
    t.instance_id = Some(instance.to_string());
    t.last_status = TaskStatus::Running;
    t
}

/// The loop on a paused tokio clock with a [`ManualClock`]: nothing happens before the
/// limit whatever the periods, and the instance is lost once the clock passes it.
#[tokio::test(start_paused = true)]
async fn the_loop_loses_an_instance_when_the_clock_passes_the_limit() {
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = ServerConfig {
        agent_lost_after: Duration::from_secs(30),
        ..ServerConfig::default()
    };
    let st = Arc::new(AppState::with_clock(
        cfg,
        SqliteStore::open_in_memory().unwrap(),
        clock.clone(),
    ));
    let key = instance_key("c", "i");
    let tkey = task_key("c", "t");
    db::commit(
        &st.store,
        vec![],
        vec![
            db::put(&key, &instance("i", true)).unwrap(),
            db::put(&tkey, &task_on("t", "i")).unwrap(),
        ],
    )
    .await
    .unwrap();
    let looping = tokio::spawn(run(st.clone()));
    let connected = || async {
        db::get::<_, InstanceRecord>(&st.store, &key)
            .await
            .unwrap()
            .unwrap()
            .value
            .agent_connected
    };
    // Many periods pass on the tokio clock, none on the server's: still connected.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(connected().await);
    clock.advance(31.0);
    // One period (7.5 s) is enough; the bound is loose for the reason `within` gives.
    assert!(within(Duration::from_secs(300), || async { !connected().await }).await);
    assert!(
        within(Duration::from_secs(300), || async {
            db::get::<_, TaskRecord>(&st.store, &tkey)
                .await
                .unwrap()
                .is_some_and(|t| t.value.last_status == TaskStatus::Stopped)
        })
        .await
    );
    let t = db::get::<_, TaskRecord>(&st.store, &tkey)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(t.last_status, TaskStatus::Stopped);
    assert_eq!(
        t.stop_code.as_deref(),
        Some(stop_code::INFRASTRUCTURE_HEALTH)
    );
    assert_eq!(t.stopped_at, Some(T0 + 31.0));
    looping.abort();
}
