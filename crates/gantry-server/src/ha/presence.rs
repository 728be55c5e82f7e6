//! Which replica holds each agent's session, in the store: `ha/sessions/<instance-id>` =
//! the replica id, written under this replica's own lease when a session opens and deleted
//! when it ends. The leader's liveness sweep reads it, so an agent connected to another
//! replica is not taken for a silent one; a replica that dies takes its keys with it (its
//! lease expires), and the leader then measures the silence of its agents from the moment
//! it saw them gone. Each replica closes its own silent sessions ([`run`]); before it does,
//! it rewrites the key as `silent:<replica id>`, so the leader takes the agent as lost at its
//! next sweep instead of measuring a second silence of its own from then.
//!
//! Every replica answers `agentConnected` from these keys too ([`connected`]): the instance
//! record's flag is written by whichever replica saw the last session change, and an agent
//! with a session on another replica is connected whatever this replica saw last.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_api::Timestamp;
use gantry_store::{LeaseId, Op, Store};

use crate::error::Result;
use crate::persistence::db;
use crate::state::AppState;

pub const PREFIX: &str = "ha/sessions/";

/// This replica's presence lease, and (on the leader) when each agent was last seen holding
/// a session on another replica, and since when this replica leads.
#[derive(Debug, Default)]
pub struct Presence {
    lease: Mutex<Option<LeaseId>>,
    seen: Mutex<(Option<Timestamp>, HashMap<String, Timestamp>)>,
}

/// The value of a key whose session its replica closed because the agent fell silent.
const SILENT: &str = "silent:";

pub(crate) fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// What a presence key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This replica holds the agent's session.
    Live(String),
    /// This replica closed the agent's session after `agent_lost_after` of silence.
    Silent(String),
}

impl Holder {
    pub fn parse(value: &[u8]) -> Holder {
        let v = String::from_utf8_lossy(value);
        match v.strip_prefix(SILENT) {
            Some(r) => Holder::Silent(r.to_string()),
            None => Holder::Live(v.into_owned()),
        }
    }
}

/// Is `id`'s agent connected, as far as the cluster knows: its record says so, it has a
/// session here, or another replica says it holds one.
pub async fn connected<S: Store>(
    st: &AppState<S>,
    id: &str,
    rec: &crate::persistence::records::InstanceRecord,
) -> Result<bool> {
    use crate::persistence::records::InstanceStatus;
    if rec.status == InstanceStatus::Inactive {
        return Ok(false);
    }
    if connected_here(st, id, rec.agent_connected) {
        return Ok(true);
    }
    Ok(st
        .store
        .get(&key(id))
        .await?
        .is_some_and(|r| held(&r.value)))
}

/// The part of [`connected`] this replica answers without the store: the record's flag, or
/// a session here.
pub fn connected_here<S: Store>(st: &AppState<S>, id: &str, flag: bool) -> bool {
    flag || st.sessions.is_open(id)
}

/// Whether a presence key's value says a replica holds the session.
pub fn held(value: &[u8]) -> bool {
    matches!(Holder::parse(value), Holder::Live(_))
}

/// The instance ids whose session some replica holds: one read of every presence key, for
/// answers about many instances at once (the many-instance form of [`connected`]).
pub async fn held_sessions<S: Store>(
    st: &AppState<S>,
) -> Result<std::collections::HashSet<String>> {
    Ok(st
        .store
        .list(PREFIX)
        .await?
        .into_iter()
        .filter(|r| held(&r.value))
        .filter_map(|r| r.key.strip_prefix(PREFIX).map(str::to_string))
        .collect())
}

impl Presence {
    fn lease(&self) -> Option<LeaseId> {
        *self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_lease(&self, l: Option<LeaseId>) {
        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = l;
    }

    /// This replica leads from `now`: agents it never saw are judged from here, since their
    /// sessions may have been on the replica that led before.
    pub fn lead_from(&self, now: Timestamp) {
        let mut g = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        *g = (Some(now), HashMap::new());
    }

    /// Since when this replica leads.
    pub fn leading_since(&self) -> Option<Timestamp> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// `id` holds a session on another replica at `now`.
    pub fn seen_elsewhere(&self, id: &str, now: Timestamp) {
        let mut g = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        g.1.insert(id.to_string(), now);
    }

    /// When `id` was last seen with a session on another replica.
    pub fn last_elsewhere(&self, id: &str) -> Option<Timestamp> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .get(id)
            .copied()
    }
}

/// Says in the store that this replica holds `id`'s session (once it has its lease; the
/// loop writes every open session when it gets one).
pub async fn mark<S: Store>(st: &AppState<S>, id: &str) {
    let Some(lease) = st.presence.lease() else {
        return;
    };
    let op = Op::PutLeased {
        key: key(id),
        value: st.replica.clone().into_bytes(),
        lease,
    };
    if let Err(e) = st.store.txn(vec![], vec![op]).await {
        tracing::warn!(instance = id, error = %e, "could not record the agent's session in the store");
    }
}

/// Removes `id`'s presence if it is still this replica's.
pub async fn clear<S: Store>(st: &AppState<S>, id: &str) {
    let k = key(id);
    let Ok(Some(rec)) = st.store.get(&k).await else {
        return;
    };
    if rec.value != st.replica.as_bytes() {
        return;
    }
    let del = vec![Op::Delete { key: k }];
    if let Err(e) = st
        .store
        .txn(vec![db::unchanged(&rec.key, rec.revision)], del)
        .await
    {
        tracing::warn!(instance = id, error = %e, "could not clear the agent's session in the store");
    }
}

/// Every instance with a presence key, and what it says.
pub async fn present<S: Store>(st: &AppState<S>) -> Result<HashMap<String, Holder>> {
    Ok(st
        .store
        .list(PREFIX)
        .await?
        .into_iter()
        .filter_map(|r| {
            let id = r.key.strip_prefix(PREFIX)?.to_string();
            Some((id, Holder::parse(&r.value)))
        })
        .collect())
}

/// Says in the store that this replica closed `id`'s session because its agent fell silent.
async fn mark_silent<S: Store>(st: &AppState<S>, id: &str) {
    let Some(lease) = st.presence.lease() else {
        return;
    };
    let op = Op::PutLeased {
        key: key(id),
        value: format!("{SILENT}{}", st.replica).into_bytes(),
        lease,
    };
    if let Err(e) = st.store.txn(vec![], vec![op]).await {
        tracing::warn!(instance = id, error = %e, "could not record the agent's silence in the store");
    }
}

/// On every replica until aborted: keeps the presence lease (granted again, and every open
/// session written again, when it is lost), and closes this replica's sessions whose agent
/// has been silent for `agent_lost_after`.
pub async fn run<S: Store>(st: Arc<AppState<S>>) {
    let ttl = st.config.leader_ttl.max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let alive = match st.presence.lease() {
            Some(l) => matches!(st.store.keep_alive(l).await, Ok(true)),
            None => false,
        };
        if !alive {
            st.presence.set_lease(None);
            match st.store.grant_lease(ttl).await {
                Ok(l) => {
                    st.presence.set_lease(Some(l));
                    for id in st.sessions.open() {
                        mark(&st, &id).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not get a presence lease"),
            }
        }
        let now = st.clock.now();
        for id in st.sessions.silent(now, st.config.agent_lost_after) {
            tracing::warn!(instance = %id, "agent silent too long; closing its session");
            mark_silent(&st, &id).await;
            st.sessions.drop_session(&id);
        }
    }
}
