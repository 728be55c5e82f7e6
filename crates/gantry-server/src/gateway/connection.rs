//! `agentConnected` on the instance record: set by the sessions and by liveness.

use gantry_store::Store;

use crate::error::Result;
use crate::ha::presence::{self, Holder};
use crate::persistence::db;
use crate::persistence::records::{instance_key, InstanceRecord, InstanceStatus};
use crate::persistence::update::{retry, Attempt};
use crate::state::AppState;

/// Sets `agentConnected` on the instance record.
///
/// A session that ended writes `false` only while no newer session of the instance is open,
/// checked on every attempt; a new session always writes `true`, even over a `true`, so that
/// an ended session's `false` read before it conflicts, is read again and then sees the new
/// session. Without both, an agent that reconnects quickly could be left marked
/// disconnected with its session open.
///
/// Across replicas the same holds through the agent's presence key
/// ([`crate::ha::presence`]): a `false` is not written while another replica says it holds
/// the agent's session, and the write compares that key's revision, so a session that
/// another replica opens meanwhile (it rewrites the key before it writes `true`) makes this
/// write fail, read again, and see it.
pub async fn set_connected<S: Store>(
    st: &AppState<S>,
    cluster: &str,
    id: &str,
    connected: bool,
) -> Result<()> {
    let key = instance_key(cluster, id);
    let pkey = presence::key(id);
    let (key, pkey) = (&key, &pkey);
    let changed = retry(
        || format!("the record {key}"),
        || async move {
            let held = if connected {
                None
            } else {
                st.store.get(pkey).await?
            };
            let elsewhere = held.as_ref().is_some_and(
                |r| matches!(Holder::parse(&r.value), Holder::Live(h) if h != st.replica),
            );
            let Some(mut i) = db::get::<S, InstanceRecord>(&st.store, key).await? else {
                return Ok(Attempt::Done(false));
            };
            if i.value.status == InstanceStatus::Inactive {
                return Ok(Attempt::Done(false));
            }
            let changed = i.value.agent_connected != connected;
            // `true` always; `false` only as a change no session here or elsewhere belies.
            let write = connected || (changed && !st.sessions.is_open(id) && !elsewhere);
            if !write {
                return Ok(Attempt::Done(false));
            }
            i.value.agent_connected = connected;
            let mut compares = vec![db::unchanged(key, i.revision)];
            if !connected {
                compares.push(db::unchanged(pkey, held.map_or(0, |r| r.revision)));
            }
            if db::commit(&st.store, compares, vec![db::put(key, &i.value)?]).await? {
                Ok(Attempt::Done(changed))
            } else {
                Ok(Attempt::Conflict)
            }
        },
    )
    .await?;
    if changed {
        tracing::info!(instance = id, connected, "agent connection changed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gantry_store::SqliteStore;

    use super::*;
    use crate::clock::ManualClock;
    use crate::persistence::db;
    use crate::state::ServerConfig;

    async fn connected(st: &AppState<SqliteStore>) -> bool {
        db::get::<_, InstanceRecord>(&st.store, &instance_key("c", "i"))
            .await
            .unwrap()
            .unwrap()
            .value
            .agent_connected
    }

    /// An agent that reconnects while its old session is closing stays connected: the old
    /// session's `false` is dropped while the new session is open.
    #[tokio::test]
    async fn an_ended_session_leaves_a_reconnected_agent_connected() {
        let clock = Arc::new(ManualClock::new(1.0));
        let st = AppState::with_clock(
            ServerConfig::default(),
            SqliteStore::open_in_memory().unwrap(),
            clock,
        );
        let key = instance_key("c", "i");
        let rec = crate::persistence::testing::instance("i");
        db::commit(&st.store, vec![], vec![db::put(&key, &rec).unwrap()])
            .await
            .unwrap();
        let (old, _, _) = st.sessions.connect("i", 1.0);
        let (_new, _, _new_outbox) = st.sessions.connect("i", 2.0);
        // The old session is no longer the current one, but a newer one is open.
        assert!(!st.sessions.disconnect("i", old));
        set_connected(&st, "c", "i", true).await.unwrap();
        set_connected(&st, "c", "i", false).await.unwrap();
        assert!(connected(&st).await, "a false from an ended session won");
        // With no session open, the agent is marked disconnected.
        st.sessions.drop_session("i");
        set_connected(&st, "c", "i", false).await.unwrap();
        assert!(!connected(&st).await);
    }

    /// A session that ends here leaves alone an agent another replica holds a session of
    /// (its presence key), and every replica then answers `agentConnected=true`.
    #[tokio::test]
    async fn an_ended_session_leaves_an_agent_connected_elsewhere_connected() {
        let clock = Arc::new(ManualClock::new(1.0));
        let st = AppState::with_clock(
            ServerConfig::default(),
            SqliteStore::open_in_memory().unwrap(),
            clock,
        );
        let key = instance_key("c", "i");
        let rec = crate::persistence::testing::instance("i");
        db::commit(&st.store, vec![], vec![db::put(&key, &rec).unwrap()])
            .await
            .unwrap();
        let elsewhere = gantry_store::Op::Put {
            key: presence::key("i"),
            value: b"another-replica:8443".to_vec(),
        };
        st.store.txn(vec![], vec![elsewhere]).await.unwrap();
        set_connected(&st, "c", "i", true).await.unwrap();
        set_connected(&st, "c", "i", false).await.unwrap();
        assert!(
            connected(&st).await,
            "a false from here won over a session elsewhere"
        );
        // A record left false by a replica that saw the session end is answered from the
        // presence key.
        let mut stale = rec.clone();
        stale.agent_connected = false;
        let cur = db::get::<_, InstanceRecord>(&st.store, &key)
            .await
            .unwrap()
            .unwrap();
        db::commit(
            &st.store,
            vec![db::unchanged(&key, cur.revision)],
            vec![db::put(&key, &stale).unwrap()],
        )
        .await
        .unwrap();
        assert!(presence::connected(&st, "i", &stale).await.unwrap());
        // Once that replica closed the session for silence, nobody holds it.
        let silent = gantry_store::Op::Put {
            key: presence::key("i"),
            value: b"silent:another-replica:8443".to_vec(),
        };
        st.store.txn(vec![], vec![silent]).await.unwrap();
        assert!(!presence::connected(&st, "i", &stale).await.unwrap());
    }
}
