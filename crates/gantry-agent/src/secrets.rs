//! Asking the control plane for a starting task's secrets over the session
//! ([`AgentFrame::SecretsRequest`] up, [`ServerFrame::Secrets`] down). A request outlives a
//! dropped session: it is sent again on the next one, until answered or [`DEADLINE`]. The
//! answer is kept in memory only, for as long as the task's start needs it.
//!
//! [`ServerFrame::Secrets`]: gantry_api::protocol::ServerFrame::Secrets

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use gantry_api::protocol::{AgentFrame, SecretsAnswer, TaskSecrets};
use tokio::sync::{mpsc, oneshot};

use crate::engine::Secrets;

/// How long a task waits for its secrets, across reconnects, before it fails to start.
pub const DEADLINE: Duration = Duration::from_secs(60);

type Pending = HashMap<u64, (String, oneshot::Sender<SecretsAnswer>)>;

/// The engine's side: asks and waits. Cheap to clone.
#[derive(Clone)]
pub struct SecretsClient {
    next: Arc<AtomicU64>,
    pending: Arc<Mutex<Pending>>,
    wake: mpsc::UnboundedSender<()>,
}

/// The session's side: sends requests and routes answers.
pub struct SecretsLink {
    pending: Arc<Mutex<Pending>>,
    wake: mpsc::UnboundedReceiver<()>,
    /// Requests sent on the current session.
    sent: HashSet<u64>,
}

fn lock(p: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn channel() -> (SecretsClient, SecretsLink) {
    let pending = Arc::new(Mutex::new(Pending::new()));
    let (wake, rx) = mpsc::unbounded_channel();
    (
        SecretsClient {
            next: Arc::new(AtomicU64::new(1)),
            pending: pending.clone(),
            wake,
        },
        SecretsLink {
            pending,
            wake: rx,
            sent: HashSet::new(),
        },
    )
}

fn failed(why: &str) -> String {
    format!("ResourceInitializationError: unable to pull secrets or registry auth: {why}")
}

impl SecretsClient {
    async fn ask(&self, task_arn: &str) -> Result<TaskSecrets, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, (task_arn.to_string(), tx));
        let _ = self.wake.send(());
        let answer = tokio::time::timeout(DEADLINE, rx).await;
        lock(&self.pending).remove(&id);
        match answer {
            Ok(Ok(SecretsAnswer {
                secrets: Some(s), ..
            })) => Ok(s),
            Ok(Ok(SecretsAnswer { error, .. })) => Err(error.unwrap_or_else(|| {
                failed("the control plane answered with neither secrets nor a reason")
            })),
            Ok(Err(_)) => Err(failed("the agent stopped waiting for the control plane")),
            Err(_) => Err(failed(&format!(
                "the control plane did not answer the request for the task's secrets within {} s",
                DEADLINE.as_secs()
            ))),
        }
    }
}

impl Secrets for SecretsClient {
    fn fetch<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, Result<TaskSecrets, String>> {
        Box::pin(self.ask(task_arn))
    }
}

impl SecretsLink {
    /// A new session: every request not yet answered goes out again.
    pub fn new_session(&mut self) {
        self.sent.clear();
    }

    /// The requests not yet sent on this session, as frames (and now counted as sent).
    pub fn take_unsent(&mut self) -> Vec<AgentFrame> {
        let pending = lock(&self.pending);
        self.sent.retain(|id| pending.contains_key(id));
        let mut out = Vec::new();
        for (id, (arn, _)) in pending.iter() {
            if self.sent.insert(*id) {
                out.push(AgentFrame::SecretsRequest {
                    request_id: *id,
                    task_arn: arn.clone(),
                });
            }
        }
        out
    }

    /// Waits until a new request was made; then [`SecretsLink::take_unsent`] holds it.
    pub async fn asked(&mut self) {
        if self.wake.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
        while self.wake.try_recv().is_ok() {}
    }

    /// Hands an answer to the task waiting for it.
    pub fn answered(&self, a: SecretsAnswer) {
        if let Some((_, tx)) = lock(&self.pending).remove(&a.request_id) {
            let _ = tx.send(a);
        }
    }
}
