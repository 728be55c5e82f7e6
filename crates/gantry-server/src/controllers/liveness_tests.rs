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

/// Two replicas on one store: the leader does not take an agent whose session is on the
/// other replica for a silent one; once that session is gone, the silence counts from when
/// the leader last saw it there.
#[tokio::test]
async fn an_agent_connected_to_another_replica_is_not_lost() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = |id: &str| ServerConfig {
        agent_lost_after: Duration::from_secs(30),
        replica_id: Some(id.to_string()),
        ..ServerConfig::default()
    };
    let leader = AppState::with_clock(cfg("a"), store.clone(), clock.clone());
    let other = Arc::new(AppState::with_clock(cfg("b"), store.clone(), clock.clone()));
    let key = instance_key("c", "i");
    let tkey = task_key("c", "t");
    let ops = vec![
        db::put(&key, &instance("i", true)).unwrap(),
        db::put(&tkey, &task_on("t", "i")).unwrap(),
    ];
    db::commit(&store, vec![], ops).await.unwrap();
    // The agent's session is on the other replica, which records it under its lease.
    let _session = other.sessions.connect("i", T0);
    let presence = tokio::spawn(crate::ha::presence::run(other.clone()));
    let present = || async {
        crate::ha::presence::present(&leader)
            .await
            .unwrap()
            .contains_key("i")
    };
    assert!(within(Duration::from_secs(10), present).await);
    clock.advance(31.0);
    other.sessions.seen("i", T0 + 31.0);
    assert_eq!(sweep_once(&leader).await.unwrap(), 0);
    let running = || async {
        db::get::<_, TaskRecord>(&store, &tkey)
            .await
            .unwrap()
            .unwrap()
            .value
            .last_status
            == TaskStatus::Running
    };
    assert!(
        running().await,
        "the leader took a remote agent for a silent one"
    );

    // The other replica goes away (its session and its lease with it).
    presence.abort();
    other.sessions.drop_session("i");
    crate::ha::presence::clear(&other, "i").await;
    assert!(!present().await);
    clock.advance(29.0);
    sweep_once(&leader).await.unwrap();
    assert!(running().await, "lost before the limit");
    clock.advance(2.0);
    assert_eq!(sweep_once(&leader).await.unwrap(), 1);
    assert!(!running().await);
}

/// The replica that holds a silent agent's session closes it and says so: the leader takes
/// the agent as lost at its next sweep, not after a silence of its own counted from then.
#[tokio::test]
async fn an_agent_gone_silent_on_another_replica_is_lost_at_the_next_sweep() {
    use crate::ha::presence::Holder;
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = |id: &str| ServerConfig {
        agent_lost_after: Duration::from_secs(30),
        replica_id: Some(id.to_string()),
        ..ServerConfig::default()
    };
    let leader = AppState::with_clock(cfg("a"), store.clone(), clock.clone());
    let other = Arc::new(AppState::with_clock(cfg("b"), store.clone(), clock.clone()));
    let key = instance_key("c", "i");
    let tkey = task_key("c", "t");
    let ops = vec![
        db::put(&key, &instance("i", true)).unwrap(),
        db::put(&tkey, &task_on("t", "i")).unwrap(),
    ];
    db::commit(&store, vec![], ops).await.unwrap();
    let _session = other.sessions.connect("i", T0);
    let presence = tokio::spawn(crate::ha::presence::run(other.clone()));
    let holder = || async {
        crate::ha::presence::present(&leader)
            .await
            .unwrap()
            .get("i")
            .cloned()
    };
    assert!(
        within(Duration::from_secs(10), || async {
            holder().await.is_some()
        })
        .await
    );
    // Heard from at T0 + 20 on the other replica; the leader sees it there at T0 + 49.
    clock.advance(20.0);
    other.sessions.seen("i", T0 + 20.0);
    clock.advance(29.0);
    assert_eq!(sweep_once(&leader).await.unwrap(), 0);
    // At T0 + 51 it has been silent 31 s: the other replica closes its session.
    clock.advance(2.0);
    let silent = || async { matches!(holder().await, Some(Holder::Silent(_))) };
    assert!(within(Duration::from_secs(10), silent).await);
    assert_eq!(sweep_once(&leader).await.unwrap(), 1);
    let t = db::get::<_, TaskRecord>(&store, &tkey)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(
        t.last_status,
        TaskStatus::Stopped,
        "not lost at the next sweep"
    );
    presence.abort();
}
