//! What the gate reads from IAM for every request (an access key's identity and secret, a
//! principal's policies, parsed), kept until anything under `iam/` in the store changes.
//! The store's watch says when: every lookup first drains the watch, and any event (or a
//! lagged or closed watch) empties the cache, so a changed key or policy is honoured by the
//! next request, as the store orders them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gantry_aws::policy::Policy;
use gantry_store::{Event, Store};
use tokio::sync::broadcast::{self, error::TryRecvError};

use super::Principal;
use crate::error::Result;
use crate::iam::identity::{self, KeyIdentity};
use crate::state::AppState;

/// The store prefix every IAM record lives under.
const IAM_PREFIX: &str = "iam/";
/// Entries kept before the cache starts over (bounds memory under many keys).
const MAX_ENTRIES: usize = 10_000;

/// A principal's policies and whether any names a `ResourceTag` key.
#[derive(Debug)]
pub struct Policies {
    pub policies: Vec<Policy>,
    pub resource_tags: bool,
}

#[derive(Debug, Default)]
struct Inner {
    watch: Option<broadcast::Receiver<Event>>,
    keys: HashMap<String, Option<KeyIdentity>>,
    policies: HashMap<String, Arc<Policies>>,
}

/// The cache, one per server.
#[derive(Debug, Default)]
pub struct AuthCache {
    inner: Mutex<Inner>,
}

impl AuthCache {
    /// Drains the watch (subscribing on first use); empties the cache when IAM changed.
    fn fresh<S: Store>(&self, st: &AppState<S>) -> std::sync::MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let changed = match &mut g.watch {
            None => {
                g.watch = Some(st.store.watch(IAM_PREFIX));
                true
            }
            Some(rx) => match rx.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {
                    // Drain the rest: one clear covers them all.
                    while !matches!(
                        rx.try_recv(),
                        Err(TryRecvError::Empty | TryRecvError::Closed)
                    ) {}
                    true
                }
                Err(TryRecvError::Empty) => false,
                Err(TryRecvError::Closed) => {
                    g.watch = None;
                    true
                }
            },
        };
        if changed || g.keys.len() + g.policies.len() > MAX_ENTRIES {
            g.keys.clear();
            g.policies.clear();
        }
        g
    }

    /// [`identity::by_access_key`], cached.
    pub async fn key<S: Store>(&self, st: &AppState<S>, id: &str) -> Result<Option<KeyIdentity>> {
        if let Some(k) = self.fresh(st).keys.get(id) {
            return Ok(k.clone());
        }
        // Subscribed before the read (in `fresh`), so a change after it empties the cache.
        let k = identity::by_access_key(st, id).await?;
        self.fresh(st).keys.insert(id.to_string(), k.clone());
        Ok(k)
    }

    /// [`identity::policies_of`], parsed once, cached.
    pub async fn policies<S: Store>(
        &self,
        st: &AppState<S>,
        p: &Principal,
    ) -> Result<Arc<Policies>> {
        if let Some(v) = self.fresh(st).policies.get(&p.arn) {
            return Ok(v.clone());
        }
        let policies = identity::policies_of(st, p).await?;
        let resource_tags = super::authorize::mention_resource_tags(&policies);
        let v = Arc::new(Policies {
            policies,
            resource_tags,
        });
        self.fresh(st).policies.insert(p.arn.clone(), v.clone());
        Ok(v)
    }
}
