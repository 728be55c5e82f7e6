//! The node's credential over its life: the CA it trusts (given, pinned before, or pinned
//! now by `--ca-sha256`), the credential it has or gets by joining once with its grant, and
//! the background rotation at two thirds of each certificate's life.

use std::time::Duration;

use gantry_link::{Link, NodeIdentity, Servers};

use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::node_store::{now_secs, Meta, NodeStore};

/// The CA bundle the agent trusts: `--ca-bundle`, else the one pinned on first contact,
/// else the one `--ca-sha256` pins now (and stores), else none (the system's roots). One CA
/// for all of `servers`: the replicas of a cluster share it, so the pin is fetched from
/// whichever answers first, and a replica serving another CA is refused, not skipped.
pub async fn trust(
    cfg: &AgentConfig,
    servers: &Servers,
    store: &NodeStore,
) -> Result<Option<Vec<u8>>, AgentError> {
    if let Some(pem) = &cfg.ca_bundle {
        return Ok(Some(pem.clone()));
    }
    if let Some(pem) = store.ca()? {
        return Ok(Some(pem));
    }
    let Some(pin) = &cfg.ca_sha256 else {
        return Ok(None);
    };
    if !servers.is_tls() {
        tracing::warn!(
            server = %servers,
            "--ca-sha256 has nothing to pin: the server is plain http (a loopback server without TLS has no CA)"
        );
        return Ok(None);
    }
    let mut last = None;
    for attempt in 0..60u32 {
        if attempt > 0 {
            tokio::time::sleep(retry_delay(attempt)).await;
        }
        let at = servers.current();
        match gantry_link::fetch_ca_pinned(&at.url, pin).await {
            Ok(pem) => {
                store.save_ca(&pem)?;
                tracing::info!(sha256 = %pin, server = %at.url, "pinned the cluster CA");
                return Ok(Some(pem));
            }
            Err(e) if e.is_unavailable() => {
                servers.failed(&at);
                if attempt % 10 == 0 {
                    tracing::warn!(error = %e, "could not fetch the cluster CA yet; retrying");
                }
                last = Some(e);
            }
            Err(e) => return Err(AgentError::CaPin(e.to_string())),
        }
    }
    Err(AgentError::CaPin(
        last.map(|e| e.to_string()).unwrap_or_default(),
    ))
}

/// A stored credential and the identity links sign with.
pub struct Credential {
    pub identity: NodeIdentity,
    pub meta: Meta,
    /// Whether it was made just now (a fresh join: the host is a new instance).
    pub joined: bool,
}

/// The stored credential, or a new one from joining with the configured grant (once: a
/// grant the server refused is not sent again).
pub async fn obtain(
    cfg: &AgentConfig,
    store: &NodeStore,
    link: &Link,
) -> Result<Credential, AgentError> {
    if let Some(s) = store.load()? {
        tracing::info!(node = %s.meta.node_id, expires_at = s.meta.expires_at, "using the stored node credential");
        return Ok(Credential {
            identity: NodeIdentity::new(s.signer),
            meta: s.meta,
            joined: false,
        });
    }
    let Some(grant) = &cfg.grant else {
        return Err(AgentError::NoCredential {
            dir: store.dir().to_path_buf(),
        });
    };
    if let Some(said) = store.refused(grant)? {
        return Err(AgentError::JoinRefused {
            reason: format!("{said} (refused before; not sent again)"),
        });
    }
    let url = || format!("{}{}", link.server_url(), gantry_api::node::JOIN_PATH);
    let mut last = String::new();
    for attempt in 0..60u32 {
        if attempt > 0 {
            tokio::time::sleep(retry_delay(attempt)).await;
        }
        match link.join(&cfg.cluster, grant, &cfg.hostname).await {
            Ok(joined) => {
                let meta = store.save(&joined, None)?;
                tracing::info!(node = %meta.node_id, launch_type = %meta.launch_type, "joined the cluster");
                return Ok(Credential {
                    identity: NodeIdentity::new(joined.signer),
                    meta,
                    joined: true,
                });
            }
            Err(e) if e.is_refused() => {
                let said = e.server_message();
                store.save_refused(grant, &said)?;
                return Err(AgentError::JoinRefused { reason: said });
            }
            Err(e) if e.is_unavailable() => {
                // Said once, then at every tenth attempt: a server that is not up yet is
                // normal on a host's first boot.
                if attempt % 10 == 0 {
                    tracing::warn!(error = %e, "could not reach the server to join yet; retrying");
                }
                last = e.to_string();
            }
            Err(e) => {
                return Err(AgentError::Join {
                    url: url(),
                    reason: e.to_string(),
                })
            }
        }
    }
    Err(AgentError::Join {
        url: link.servers().to_string(),
        reason: last,
    })
}

/// Rotates the credential at two thirds of each certificate's life, with a new key pair
/// each time, until the task is dropped. A refusal ends rotation (the session will then be
/// refused when the certificate expires, and say so).
pub async fn rotate_forever(link: Link, store: NodeStore, mut meta: Meta, hostname: String) {
    let Some(identity) = link.node().cloned() else {
        return;
    };
    let mut failures = 0u32;
    loop {
        let wait = u64::try_from(meta.rotate_at() - now_secs()).unwrap_or(0);
        let wait = if failures == 0 {
            Duration::from_secs(wait)
        } else {
            jittered(Duration::from_secs(5) * 2u32.pow(failures.min(6)))
        };
        tokio::time::sleep(wait).await;
        match link.rotate(&hostname).await {
            Ok(joined) => {
                match store.save(&joined, Some(&meta)) {
                    Ok(m) => {
                        identity.replace(joined.signer);
                        tracing::info!(node = %m.node_id, expires_at = m.expires_at, "rotated the node credential");
                        meta = m;
                        failures = 0;
                    }
                    Err(e) => {
                        tracing::error!("could not store the rotated node credential: {e}; keeping the current one");
                        failures += 1;
                    }
                }
            }
            Err(e) if e.is_refused() => {
                tracing::error!(
                    "the server refused to rotate the node credential: {}",
                    e.server_message()
                );
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!("could not rotate the node credential yet: {e}; retrying");
            }
        }
    }
}

/// The wait before retry `attempt` of a first contact: 250 ms growing to 2 s.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt.min(8)))
}

/// `d` scaled by a random factor in [0.5, 1.5), so many hosts do not retry in step.
pub fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.5..1.5))
}
