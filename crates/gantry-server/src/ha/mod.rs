//! Several replicas on one store (docs/ha.md): who this replica is, the election that picks
//! the one replica that runs the controllers ([`leader`]), the fence every write the leader
//! makes as leader carries ([`fence`]), and `GET /healthz` ([`health`]).
//!
//! API writes are not fenced: any replica serves them, each a compare-and-swap on the
//! record's revision, which is safe whoever makes it. Only what must run once per cluster
//! (the liveness sweep, the service controller) runs on the leader, fenced.

pub mod fence;
pub mod health;
pub mod leader;
pub mod presence;
mod shared_store;
#[cfg(test)]
pub(crate) mod test_store;

pub use fence::Fence;

/// The election key: its value is the leading replica's id.
pub const LEADER_KEY: &str = "ha/leader";

/// `<hostname>:<port>`: unique as long as no two replicas share a host and a port.
pub fn default_replica_id(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{port}")
}
