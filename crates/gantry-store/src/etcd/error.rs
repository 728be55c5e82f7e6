//! etcd's failures as [`StoreError`]s. Every call runs under a deadline; a timeout, a lost
//! connection or a member without a leader is [`StoreError::Unavailable`], with a message
//! that names the store, so an API caller sees which store failed and what to check.

use std::future::Future;
use std::time::Duration;

use crate::{LeaseId, StoreError};

/// etcd's own texts (etcdserver/api/v3rpc/rpctypes) for the cases that need their own error.
const LEASE_NOT_FOUND: &str = "requested lease not found";
const TOO_LARGE: &str = "request is too large";
const COMPACTED: &str = "required revision has been compacted";

/// What a failed call was, for [`map`].
pub(crate) struct Ctx<'a> {
    pub(crate) what: &'a str,
    pub(crate) timeout: Duration,
}

impl Ctx<'_> {
    /// Runs `call` until it succeeds, under one deadline for all attempts, and maps its
    /// error. The client balances over every endpoint and hands a call to a member it
    /// cannot reach as readily as to a live one, so a call that could not even connect is
    /// tried again (it was never sent); a `read` is also tried again after any failure that
    /// another member may not have (no leader, a broken connection).
    pub(crate) async fn run<T, F, Fut>(&self, read: bool, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            let e = match tokio::time::timeout_at(deadline, call()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => return Err(self.timed_out()),
            };
            let again =
                not_sent(&e) || (read && matches!(self.map(&e), StoreError::Unavailable(_)));
            if !again || tokio::time::Instant::now() + pause >= deadline {
                return Err(self.map(&e));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    pub(crate) fn timed_out(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the etcd store at {} did not answer within {} (is a quorum of its members up?)",
            self.what,
            humantime::format_duration(self.timeout)
        ))
    }

    pub(crate) fn map(&self, e: &etcd_client::Error) -> StoreError {
        use etcd_client::Error as E;
        use tonic::Code;
        match e {
            E::GRpcStatus(status) => {
                let msg = status.message();
                if msg.contains(TOO_LARGE) || status.code() == Code::ResourceExhausted {
                    return StoreError::Backend(format!(
                        "the etcd store at {} refused a request as too large ({msg}); etcd \
                         accepts requests up to its --max-request-bytes (1.5 MiB by default)",
                        self.what
                    ));
                }
                match status.code() {
                    Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::Cancelled => self.unavailable(msg),
                    // "etcdserver: no leader", "leader changed", "request timed out".
                    _ if msg.contains("leader") || msg.contains("timed out") => {
                        self.unavailable(msg)
                    }
                    _ => StoreError::Backend(format!("the etcd store at {}: {msg}", self.what)),
                }
            }
            E::TransportError(t) => self.unavailable(&t.to_string()),
            E::IoError(io) => self.unavailable(&io.to_string()),
            other => StoreError::Backend(format!("the etcd store at {}: {other}", self.what)),
        }
    }

    fn unavailable(&self, msg: &str) -> StoreError {
        StoreError::Unavailable(format!(
            "the etcd store at {} is unavailable: {msg} (is a quorum of its members up?)",
            self.what
        ))
    }
}

/// Whether the call failed before it reached any member (connecting failed).
fn not_sent(e: &etcd_client::Error) -> bool {
    let text = match e {
        etcd_client::Error::GRpcStatus(status) if status.code() == tonic::Code::Unavailable => {
            status.message().to_string()
        }
        etcd_client::Error::TransportError(t) => t.to_string(),
        _ => return false,
    };
    text.contains("connect")
}

/// Whether `e` says an op named a lease etcd does not have (expired or never granted).
pub(crate) fn is_lease_not_found(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.contains(LEASE_NOT_FOUND))
}

/// Whether `e` says a revision is below the compacted one.
pub(crate) fn is_compacted(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.contains(COMPACTED))
}

/// The lease a failed transaction named: the first leased put's.
pub(crate) fn lease_of(ops: &[crate::Op]) -> LeaseId {
    ops.iter()
        .find_map(|op| match op {
            crate::Op::PutLeased { lease, .. } => Some(*lease),
            _ => None,
        })
        .unwrap_or(0)
}
