//! A test host with a node identity: it makes its own ECDSA P-256 key pair, joins with a
//! grant (sending a CSR), and signs gateway requests with its certificate as
//! `gantry_api::node` says. The same client, fed wrong keys, certificates, dates or grants,
//! is the forged agent of the node-identity tests.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use gantry_api::node::{
    string_to_sign, JoinGrant, JoinRequest, NodeCredential, CERTIFICATE_HEADER, DATE_HEADER,
    JOIN_PATH, SCHEME, SIGNATURE_HEADER,
};
use rcgen::{CertificateParams, KeyPair, SigningKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// A node key pair and the certificate it was given.
pub struct NodeKey {
    pub key: KeyPair,
    pub cert_der: Vec<u8>,
    pub node_id: String,
    pub launch_type: String,
    pub expires_at: i64,
}

/// A fresh key pair and the PEM CSR for it.
pub fn key_and_csr() -> (KeyPair, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    (key, csr)
}

pub fn join_request(cluster: &str, token: &str, csr: &str) -> JoinRequest {
    JoinRequest {
        cluster: cluster.into(),
        grant: JoinGrant::Token {
            token: token.into(),
        },
        csr_pem: csr.into(),
        hostname: "node-1".into(),
    }
}

/// `POST /agent/v1/join`: the status and the JSON body.
pub async fn post_join(base: &str, req: &JoinRequest) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}{JOIN_PATH}"))
        .json(req)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

impl NodeKey {
    /// Joins at `base` with `token` for `cluster`; panics unless it works.
    pub async fn join(base: &str, cluster: &str, token: &str) -> NodeKey {
        let (key, csr) = key_and_csr();
        let (status, body) = post_join(base, &join_request(cluster, token, &csr)).await;
        assert_eq!(status, 200, "join failed: {body}");
        let cred: NodeCredential = serde_json::from_value(body).unwrap();
        Self::from_credential(key, &cred)
    }

    pub fn from_credential(key: KeyPair, cred: &NodeCredential) -> NodeKey {
        let cert = CertificateDer::from_pem_slice(cred.certificate_pem.as_bytes()).unwrap();
        NodeKey {
            key,
            cert_der: cert.to_vec(),
            node_id: cred.node_id.clone(),
            launch_type: cred.launch_type.clone(),
            expires_at: cred.expires_at,
        }
    }

    /// The node headers for `method` `path_and_query` with `body`, dated `at`.
    pub fn headers_at(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        at: SystemTime,
    ) -> Vec<(String, String)> {
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let date = gantry_aws::sigv4::format_basic(secs);
        let body_sha = hex::encode(Sha256::digest(body));
        let msg = string_to_sign(&date, method, path_and_query, &body_sha);
        let sig = self.key.sign(msg.as_bytes()).unwrap();
        vec![
            (CERTIFICATE_HEADER.into(), B64.encode(&self.cert_der)),
            (DATE_HEADER.into(), date),
            (
                SIGNATURE_HEADER.into(),
                format!("{SCHEME} {}", B64.encode(sig)),
            ),
        ]
    }
}
