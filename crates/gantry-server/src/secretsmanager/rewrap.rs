//! Re-wrapping data keys after a master key rotation: every version whose data key is
//! wrapped under another master key than the ring's current one gets it wrapped under the
//! current one (the value's ciphertext is not touched), one compare-and-swap per secret.
//! Requests go on meanwhile: until a version is re-wrapped its old master key, still in the
//! ring, opens it. Runs at start and whenever the ring's current key changes.

use std::time::Duration;

use gantry_store::Store;

use super::envelope;
use super::records::{secret_key, SecretRecord, SECRETS};
use crate::error::Result;
use crate::persistence::db;
use crate::persistence::update::{self, Edit};
use crate::state::AppState;

/// How often a running server looks for a new current master key.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Re-wraps every data key not under the current master key; returns how many it re-wrapped.
pub async fn rewrap_all<S: Store>(st: &AppState<S>) -> Result<usize> {
    let ring = &st.secrets_ring;
    let names: Vec<String> = db::list::<S, SecretRecord>(&st.store, SECRETS)
        .await?
        .into_iter()
        .map(|v| v.value.name)
        .collect();
    let mut total = 0;
    for name in names {
        total += update::update(&st.store, &secret_key(&name), |cur: Option<SecretRecord>| {
            let Some(mut rec) = cur else {
                return Ok(Edit::Keep(0));
            };
            let mut n = 0;
            let arn = rec.arn.clone();
            for (id, v) in &mut rec.versions {
                match envelope::rewrap(ring, &arn, id, &v.value) {
                    Ok(Some(s)) => {
                        v.value = s;
                        n += 1;
                    }
                    Ok(None) => {}
                    // Left as it is: the error is logged, the rest goes on.
                    Err(e) => tracing::error!(secret = %arn, version = %id, error = %e, "cannot re-wrap a data key"),
                }
            }
            Ok(if n == 0 { Edit::Keep(0) } else { Edit::put(rec, n) })
        })
        .await?;
    }
    Ok(total)
}

/// Watches the ring for a new current key and re-wraps after each change, until shutdown.
pub async fn run<S: Store>(st: std::sync::Arc<AppState<S>>) {
    let mut down = st.shutdown.subscribe();
    let mut done_for: Option<String> = None;
    loop {
        match st.secrets_ring.current() {
            Ok(k) if done_for.as_deref() != Some(k.id.as_str()) => match rewrap_all(&st).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(master_key = %k.id, rewrapped = n, "re-wrapped secret data keys under the current master key");
                    }
                    done_for = Some(k.id);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "re-wrapping secret data keys failed; retrying")
                }
            },
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the secrets master key ring cannot be read"),
        }
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            _ = down.wait_for(|v| *v) => return,
        }
    }
}
