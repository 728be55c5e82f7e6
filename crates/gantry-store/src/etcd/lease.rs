//! etcd leases. etcd counts TTLs in whole seconds: a TTL is rounded up (at least 1 s, and
//! etcd itself raises it to its minimum, 2 s with default timings). A keep-alive is one
//! round trip on a short-lived keep-alive stream, so it runs under the same deadline as any
//! call and its answer says whether the lease still exists.

use std::time::Duration;

use super::Inner;
use crate::{LeaseId, Result, StoreError};

pub(super) async fn grant(inner: &Inner, ttl: Duration) -> Result<LeaseId> {
    let secs = i64::try_from(ttl.as_millis().div_ceil(1000))
        .unwrap_or(i64::MAX)
        .max(1);
    // A retried grant may leave an unused lease behind; it expires after `ttl`.
    let resp = inner
        .ctx()
        .run(true, || {
            let mut client = inner.client.lease_client();
            async move { client.grant(secs, None).await }
        })
        .await?;
    inner.saw(resp.header());
    Ok(resp.id())
}

pub(super) async fn keep_alive(inner: &Inner, lease: LeaseId) -> Result<bool> {
    let renew = || {
        let mut client = inner.client.lease_client();
        async move { client.keep_alive(lease).await }
    };
    match inner.ctx().run(true, renew).await {
        Ok(_) => Ok(true),
        // etcd answers a keep-alive of an unknown lease with TTL 0, which the client
        // reports as this error.
        Err(StoreError::Backend(m)) if m.contains("lease not found") => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) async fn revoke(inner: &Inner, lease: LeaseId) -> Result<()> {
    let revoke = || {
        let mut client = inner.client.lease_client();
        async move { client.revoke(lease).await }
    };
    // Revoking twice is harmless, so it is retried like a read.
    match inner.ctx().run(true, revoke).await {
        Ok(resp) => {
            inner.saw(resp.header());
            Ok(())
        }
        Err(e) if super::error::is_lease_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
