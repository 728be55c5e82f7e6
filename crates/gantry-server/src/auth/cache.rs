//! What the gate reads from IAM for every request (an access key's identity and secret, a
//! principal's policies, parsed), kept until anything under `iam/` in the store changes.
//! The store's watch says when: every lookup first drains the watch, and any event (or a
//! lagged or closed watch) empties the cache, so a changed key or policy is honoured by the
//! next request, as the store orders them.
//!
//! A key's entry also keeps the SigV4 signing keys derived from its secret (one per scope:
//! date, region, service), so a request costs one HMAC instead of five. They live in the
//! entry made from the secret they were derived from and nowhere else: any IAM change drops
//! the entry, and the next request reads the key again and derives afresh, so a deleted or
//! deactivated key, or a changed secret, can never meet a signing key of the old one. Only a
//! scope that verified is remembered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gantry_aws::policy::Policy;
use gantry_aws::sigv4::{self, AuthError, Claim, Expect, Request};
use gantry_store::Store;

use super::Principal;
use crate::error::Result;
use crate::iam::identity::{self, KeyIdentity};
use crate::persistence::change_watch::ChangeWatch;
use crate::state::AppState;

/// The store prefix every IAM record lives under.
const IAM_PREFIX: &str = "iam/";
/// Entries kept before the cache starts over (bounds memory under many keys).
const MAX_ENTRIES: usize = 10_000;

/// Signing keys remembered per access key (a client uses one or two scopes a day; the ±5
/// minutes around midnight take two dates).
const SCOPES_PER_KEY: usize = 4;

/// A cached access key: its identity and the signing keys derived from its secret.
#[derive(Debug)]
pub struct CachedKey {
    pub identity: KeyIdentity,
    /// `identity.principal`, shared with every request made with the key.
    pub principal: Arc<Principal>,
    signing: Mutex<Vec<(Scope, [u8; 32])>>,
}

/// A credential scope: date, region, service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    date: String,
    region: String,
    service: String,
}

impl Scope {
    fn is(&self, c: &Claim) -> bool {
        self.date == c.scope_date && self.region == c.region && self.service == c.service
    }
}

impl CachedKey {
    pub fn new(identity: KeyIdentity) -> Self {
        Self {
            principal: Arc::new(identity.principal.clone()),
            identity,
            signing: Mutex::new(Vec::new()),
        }
    }

    /// [`sigv4::verify`] of `req` with this key's secret, through the remembered signing key
    /// of the claim's scope when there is one ([`sigv4::verify_with_key`]: the same checks,
    /// four HMACs fewer).
    pub fn verify(
        &self,
        req: &Request<'_>,
        claim: &Claim,
        expect: &Expect<'_>,
    ) -> std::result::Result<(), AuthError> {
        let known = {
            let g = self.signing.lock().unwrap_or_else(|e| e.into_inner());
            g.iter().find(|(s, _)| s.is(claim)).map(|(_, k)| *k)
        };
        if let Some(k) = known {
            return sigv4::verify_with_key(req, claim, &k, expect);
        }
        let k = sigv4::signing_key(
            &self.identity.secret,
            &claim.scope_date,
            &claim.region,
            &claim.service,
        );
        sigv4::verify_with_key(req, claim, &k, expect)?;
        let mut g = self.signing.lock().unwrap_or_else(|e| e.into_inner());
        if !g.iter().any(|(s, _)| s.is(claim)) {
            if g.len() >= SCOPES_PER_KEY {
                g.remove(0);
            }
            g.push((
                Scope {
                    date: claim.scope_date.clone(),
                    region: claim.region.clone(),
                    service: claim.service.clone(),
                },
                k,
            ));
        }
        Ok(())
    }

    /// How many signing keys are remembered (for tests).
    pub fn remembered(&self) -> usize {
        self.signing.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A principal's policies and whether any names a `ResourceTag` key.
#[derive(Debug)]
pub struct Policies {
    pub policies: Vec<Policy>,
    pub resource_tags: bool,
}

#[derive(Debug, Default)]
struct Inner {
    watch: ChangeWatch,
    keys: HashMap<String, Option<Arc<CachedKey>>>,
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
        let changed = g.watch.changed(&st.store, IAM_PREFIX);
        if changed || g.keys.len() + g.policies.len() > MAX_ENTRIES {
            g.keys.clear();
            g.policies.clear();
        }
        g
    }

    /// [`identity::by_access_key`], cached (shared, not copied).
    pub async fn key<S: Store>(
        &self,
        st: &AppState<S>,
        id: &str,
    ) -> Result<Option<Arc<CachedKey>>> {
        if let Some(k) = self.fresh(st).keys.get(id) {
            return Ok(k.clone());
        }
        // Subscribed before the read (in `fresh`), so a change after it empties the cache.
        let k = identity::by_access_key(st, id)
            .await?
            .map(|k| Arc::new(CachedKey::new(k)));
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
