//! Verifying a node-signed gateway request: the date within [`MAX_SKEW_SECS`] of the
//! server's clock, the certificate issued by the cluster CA for client authentication and
//! not expired, the node's record present and not revoked, and the signature made with the
//! certificate's key over [`string_to_sign`].
//!
//! A reconnect storm presents the same certificates again and again: a certificate whose
//! chain verified once is remembered by its SHA-256 (its node id and notAfter), and node
//! records are remembered until anything under `nodes/node/` changes (the store's watch, as
//! [`crate::auth::cache`] does for `iam/`), so a revocation is honoured by the next request.
//! What remains per request is one ECDSA verification.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::request::Parts;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use gantry_api::node::{
    string_to_sign, CERTIFICATE_HEADER, DATE_HEADER, MAX_SKEW_SECS, SCHEME, SIGNATURE_HEADER,
};
use gantry_store::Store;
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};

use super::records::{node_key, NodeRecord, NODE_PREFIX};
use super::refusal::NodeRefusal;
use crate::persistence::change_watch::ChangeWatch;
use crate::persistence::db;
use crate::state::AppState;

/// Entries kept before the cache starts over (bounds memory under many nodes).
const MAX_ENTRIES: usize = 20_000;
/// id-kp-clientAuth, 1.3.6.1.5.5.7.3.2, DER content octets.
const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// A request a node signed, verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub node: NodeRecord,
    /// What the audit log names the node as.
    pub principal_arn: String,
    /// The certificate's notAfter, seconds since the epoch.
    pub not_after: i64,
}

#[derive(Debug, Clone)]
struct CertEntry {
    node_id: String,
    not_after: i64,
}

#[derive(Debug, Default)]
struct Inner {
    watch: ChangeWatch,
    certs: HashMap<[u8; 32], CertEntry>,
    nodes: HashMap<String, Option<NodeRecord>>,
}

/// The verification cache, one per server.
#[derive(Debug, Default)]
pub struct VerifyCache {
    inner: Mutex<Inner>,
}

impl VerifyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains the watch (subscribing on first use); forgets node records when any changed.
    fn fresh<S: Store>(&self, st: &AppState<S>) -> std::sync::MutexGuard<'_, Inner> {
        let mut g = self.lock();
        let changed = g.watch.changed(&st.store, NODE_PREFIX);
        if changed || g.nodes.len() > MAX_ENTRIES {
            g.nodes.clear();
        }
        if g.certs.len() > MAX_ENTRIES {
            g.certs.clear();
        }
        g
    }

    /// The node record of `node_id`, cached until `nodes/node/` changes.
    pub async fn node<S: Store>(
        &self,
        st: &AppState<S>,
        node_id: &str,
    ) -> crate::error::Result<Option<NodeRecord>> {
        if let Some(n) = self.fresh(st).nodes.get(node_id) {
            return Ok(n.clone());
        }
        // Subscribed before the read (in `fresh`), so a change after it empties the cache.
        let n = db::get::<S, NodeRecord>(&st.store, &node_key(node_id))
            .await?
            .map(|v| v.value);
        self.fresh(st).nodes.insert(node_id.to_string(), n.clone());
        Ok(n)
    }
}

/// Whether `parts` carries any node-signature header.
pub fn is_node_signed(parts: &Parts) -> bool {
    [CERTIFICATE_HEADER, DATE_HEADER, SIGNATURE_HEADER]
        .iter()
        .any(|h| parts.headers.contains_key(*h))
}

/// Whether `parts` is signed with SigV4 (an IAM access key).
pub fn is_sigv4_signed(parts: &Parts) -> bool {
    let auth = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-"));
    auth || parts
        .uri
        .query()
        .is_some_and(|q| q.contains("X-Amz-Credential="))
}

fn header<'a>(parts: &'a Parts, name: &str) -> Result<&'a str, NodeRefusal> {
    parts
        .headers
        .get(name)
        .ok_or_else(|| NodeRefusal::Malformed(format!("the {name} header is missing")))?
        .to_str()
        .map_err(|_| NodeRefusal::Malformed(format!("the {name} header is not text")))
}

/// Verifies the node signature of `parts` + `body`.
pub async fn verify<S: Store>(
    st: &AppState<S>,
    parts: &Parts,
    body: &[u8],
) -> Result<Verified, NodeRefusal> {
    if !is_node_signed(parts) {
        return Err(if is_sigv4_signed(parts) {
            NodeRefusal::IamKey
        } else {
            NodeRefusal::Missing
        });
    }
    let cert_b64 = header(parts, CERTIFICATE_HEADER)?;
    let date = header(parts, DATE_HEADER)?;
    let sig = header(parts, SIGNATURE_HEADER)?;
    #[allow(clippy::cast_possible_truncation)]
    let now = st.clock.now().floor() as i64;
    let at = gantry_aws::sigv4::parse_basic(date.trim()).ok_or_else(|| {
        NodeRefusal::Malformed(format!(
            "the {DATE_HEADER} header {date:?} is not YYYYMMDDTHHMMSSZ"
        ))
    })?;
    if (at - now).abs() > MAX_SKEW_SECS {
        return Err(NodeRefusal::Skew {
            date: date.to_string(),
            now,
        });
    }
    let sig = sig
        .strip_prefix(SCHEME)
        .and_then(|s| s.strip_prefix(' '))
        .ok_or_else(|| {
            NodeRefusal::Malformed(format!(
                "the {SIGNATURE_HEADER} header must be `{SCHEME} <base64 signature>`"
            ))
        })?;
    let sig = B64
        .decode(sig.trim())
        .map_err(|_| NodeRefusal::Malformed("the signature is not base64".into()))?;
    let der = B64
        .decode(cert_b64.trim())
        .map_err(|_| NodeRefusal::Malformed("the certificate is not base64".into()))?;
    let hash: [u8; 32] = Sha256::digest(&der).into();
    let cert = CertificateDer::from(der.as_slice());
    let cached = st.nodes.cache.fresh(st).certs.get(&hash).cloned();
    let entry = match cached {
        Some(e) => e,
        None => {
            let e = verify_chain(st, &cert, now)?;
            st.nodes.cache.fresh(st).certs.insert(hash, e.clone());
            e
        }
    };
    if now >= entry.not_after {
        return Err(NodeRefusal::Expired {
            node_id: entry.node_id,
            at: entry.not_after,
        });
    }
    let ee = webpki::EndEntityCert::try_from(&cert).map_err(|_| NodeRefusal::Certificate)?;
    let body_sha = hex::encode(Sha256::digest(body));
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let msg = string_to_sign(date, parts.method.as_str(), path, &body_sha);
    ee.verify_signature(webpki::aws_lc_rs::ECDSA_P256_SHA256, msg.as_bytes(), &sig)
        .map_err(|_| NodeRefusal::Signature {
            node_id: entry.node_id.clone(),
        })?;
    let node = st
        .nodes
        .cache
        .node(st, &entry.node_id)
        .await
        .map_err(|e| NodeRefusal::Internal(e.to_string()))?
        .ok_or_else(|| NodeRefusal::Unknown {
            node_id: entry.node_id.clone(),
        })?;
    if let Some(at) = node.revoked_at {
        #[allow(clippy::cast_possible_truncation)]
        return Err(NodeRefusal::Revoked {
            node_id: node.node_id.clone(),
            at: at as i64,
            reason: node.revoked_reason.clone().unwrap_or_default(),
        });
    }
    Ok(Verified {
        principal_arn: super::records::principal_arn(
            &st.config.region,
            &st.config.account_id,
            &node.node_id,
        ),
        node,
        not_after: entry.not_after,
    })
}

/// The expensive part, done once per certificate: issued by the cluster CA for client
/// authentication, valid at `now`; its subject's CN is the node id.
fn verify_chain<S>(
    st: &AppState<S>,
    cert: &CertificateDer<'_>,
    now: i64,
) -> Result<CertEntry, NodeRefusal> {
    let authority = st
        .nodes
        .authority()
        .map_err(|e| NodeRefusal::Internal(e.to_string()))?;
    let (_, x509) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| NodeRefusal::Certificate)?;
    let node_id = x509
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .ok_or(NodeRefusal::Certificate)?;
    let not_after = x509.validity().not_after.timestamp();
    let ee = webpki::EndEntityCert::try_from(cert).map_err(|_| NodeRefusal::Certificate)?;
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now).unwrap_or(0),
    ));
    let anchors = [authority.anchor().clone()];
    match ee.verify_for_usage(
        &[webpki::aws_lc_rs::ECDSA_P256_SHA256],
        &anchors,
        &[],
        time,
        webpki::KeyUsage::required(CLIENT_AUTH),
        None,
        None,
    ) {
        Ok(_) => Ok(CertEntry { node_id, not_after }),
        Err(webpki::Error::CertExpired { .. }) => Err(NodeRefusal::Expired {
            node_id,
            at: not_after,
        }),
        Err(e) => {
            tracing::debug!(error = %e, "a node certificate did not verify");
            Err(NodeRefusal::Certificate)
        }
    }
}
