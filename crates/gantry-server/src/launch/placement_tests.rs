use std::sync::Arc;

use gantry_store::SqliteStore;

use super::*;
use crate::launch::stop::finish;
use crate::persistence::testing;
use crate::state::ServerConfig;

fn state() -> Arc<AppState<SqliteStore>> {
    Arc::new(AppState::new(
        ServerConfig::default(),
        SqliteStore::open_in_memory().unwrap(),
    ))
}

fn task_on(id: &str, instance: &str, group: &str) -> TaskRecord {
    let mut t = testing::task(id);
    t.instance_id = Some(instance.to_string());
    t.group = group.to_string();
    t
}

async fn put_instance(st: &AppState<SqliteStore>, i: &InstanceRecord) {
    let key = instance_key(&i.cluster, &i.id);
    assert!(
        db::commit(&st.store, vec![], vec![db::put(&key, i).unwrap()])
            .await
            .unwrap()
    );
}

async fn instance(st: &AppState<SqliteStore>, id: &str) -> Versioned<InstanceRecord> {
    db::get(&st.store, &instance_key("c", id))
        .await
        .unwrap()
        .unwrap()
}

/// The scheduler sees the same task groups whether the instance record counts them or
/// placement counts them from the tasks.
#[tokio::test]
async fn the_instance_record_counts_its_task_groups() {
    let st = state();
    put_instance(&st, &testing::instance("i")).await;
    let i = instance(&st, "i").await;
    let placed = vec![
        task_on("a", "i", "service:web"),
        task_on("b", "i", "service:web"),
        task_on("c", "i", "family:x"),
    ];
    assert!(commit_on(&st, &i, placed, &BTreeMap::new())
        .await
        .unwrap()
        .is_some());
    let (_, views) = snapshot(&st, "c").await.unwrap();
    let want = BTreeMap::from([("family:x".to_string(), 1), ("service:web".to_string(), 2)]);
    assert_eq!(views[0].task_groups, want);
    assert_eq!(views[0].task_count, 3);
    assert_eq!(count_groups(&st, "c").await.unwrap()["i"], want);

    // A finished task gives its group count back with its resources.
    let mut rec = instance(&st, "i").await.value;
    let mut t = task_on("a", "i", "service:web");
    finish(&mut t, Some(&mut rec), 1.0);
    assert_eq!(
        rec.groups,
        Some(BTreeMap::from([
            ("family:x".to_string(), 1),
            ("service:web".to_string(), 1)
        ]))
    );
}

/// A record written before instances counted their groups (`groups` absent): placement
/// counts them from the tasks, and its next commit stores the count.
#[tokio::test]
async fn a_record_without_counts_is_counted_from_the_tasks_and_filled_in() {
    let st = state();
    let mut old = testing::instance("i");
    old.groups = None;
    put_instance(&st, &old).await;
    let json = st
        .store
        .get(&instance_key("c", "i"))
        .await
        .unwrap()
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&json.value).unwrap();
    v.as_object_mut().unwrap().remove("groups");
    let legacy: InstanceRecord = serde_json::from_value(v).unwrap();
    assert_eq!(legacy.groups, None);
    let t = task_on("old", "i", "service:web");
    assert!(db::commit(
        &st.store,
        vec![],
        vec![db::put(&task_key("c", "old"), &t).unwrap()]
    )
    .await
    .unwrap());
    let (instances, views) = snapshot(&st, "c").await.unwrap();
    assert_eq!(views[0].task_groups["service:web"], 1);
    let counted = views[0].task_groups.clone();
    let placed = vec![task_on("new", "i", "service:web")];
    assert!(
        commit_counted(&st, &instances[0], Some(&counted), placed, &BTreeMap::new())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        instance(&st, "i").await.value.groups,
        Some(BTreeMap::from([("service:web".to_string(), 2)]))
    );
}
