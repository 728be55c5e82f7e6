//! A host's first contact and its later renewals (`gantry_api::node`): pin the server's CA
//! by its hash, join with a grant for a node certificate, rotate to a new key before the
//! certificate expires.

use std::time::Duration;

use gantry_api::node::{
    JoinGrant, JoinRequest, NodeCredential, RotateRequest, JOIN_PATH, ROTATE_PATH,
};

use crate::node::{sha256_hex, NodeError, NodeKey, NodeSigner};
use crate::{Link, RegisterError};

/// `GET`: the cluster CA certificate (PEM), unauthenticated; the agent checks it against
/// the pin it was given before trusting it.
pub const CA_PATH: &str = "/agent/v1/ca";

/// Why a join or a rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Key(#[from] NodeError),
    #[error(transparent)]
    Call(#[from] RegisterError),
    #[error("the server's answer is not a usable node credential: {0}")]
    BadCredential(NodeError),
    #[error("a rotation needs a link with a node credential")]
    NoCredential,
}

impl JoinError {
    /// The server's own text for a refusal, else this error.
    pub fn server_message(&self) -> String {
        match self {
            Self::Call(e) => e.server_message(),
            other => other.to_string(),
        }
    }

    /// The server refused (a client error: the grant or credential is bad; retrying the same
    /// request will not help).
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Call(RegisterError::Refused { .. }))
    }

    /// The server could not be reached or was not ready: worth retrying.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Call(RegisterError::Unavailable(_)))
    }
}

/// A credential with the key it was issued for.
#[derive(Debug)]
pub struct Joined {
    pub signer: NodeSigner,
    pub credential: NodeCredential,
    /// PKCS#8 PEM of the new private key, to store 0600.
    pub key_pem: String,
}

fn joined(key: NodeKey, credential: NodeCredential) -> Result<Joined, JoinError> {
    let key_pem = key.to_pem();
    let signer = NodeSigner::new(
        key,
        &credential.certificate_pem,
        &credential.node_id,
        credential.expires_at,
    )
    .map_err(JoinError::BadCredential)?;
    Ok(Joined {
        signer,
        credential,
        key_pem,
    })
}

impl Link {
    /// Joins with `grant` (unsigned: the grant is the proof): makes a key pair, sends its
    /// CSR, and returns the credential the server issued.
    pub async fn join(
        &self,
        cluster: &str,
        grant: &JoinGrant,
        hostname: &str,
    ) -> Result<Joined, JoinError> {
        let key = NodeKey::generate()?;
        let req = JoinRequest {
            cluster: cluster.to_string(),
            grant: grant.clone(),
            csr_pem: key.csr_pem(hostname)?,
            hostname: hostname.to_string(),
        };
        let cred: NodeCredential = crate::register::post(self, JOIN_PATH, &req, false).await?;
        joined(key, cred)
    }

    /// A new certificate for a new key pair, asked for with the current credential. The
    /// caller stores it and puts it into the link's identity.
    pub async fn rotate(&self, hostname: &str) -> Result<Joined, JoinError> {
        if self.node().is_none() {
            return Err(JoinError::NoCredential);
        }
        let key = NodeKey::generate()?;
        let req = RotateRequest {
            csr_pem: key.csr_pem(hostname)?,
        };
        let cred: NodeCredential = crate::register::post(self, ROTATE_PATH, &req, true).await?;
        joined(key, cred)
    }
}

/// Why the server's CA could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("--ca-sha256 {0:?} is not 64 hex digits (the SHA-256 of the CA certificate's DER)")]
    BadPin(String),
    #[error("could not fetch the cluster CA from {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}: {body}")]
    Refused {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("{url} did not answer with a PEM certificate")]
    NotPem { url: String },
    #[error("the CA certificate served at {url} has SHA-256 {got}, not the {want} this host was told to trust (--ca-sha256): refusing to join. Check the join command, or that {url} is the server you meant")]
    Mismatch {
        url: String,
        want: String,
        got: String,
    },
}

impl PinError {
    /// Worth retrying (the server may not be up yet).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
            || matches!(self, Self::Refused { status, .. } if status.is_server_error())
    }
}

/// Fetches `GET <server>/agent/v1/ca` and returns the PEM of the certificate whose DER has
/// the SHA-256 `pin` (hex). The fetch itself trusts nothing: what makes the answer
/// trustworthy is the hash, and every later connection trusts only that certificate.
pub async fn fetch_ca_pinned(server_url: &str, pin: &str) -> Result<Vec<u8>, PinError> {
    let want = pin.trim().to_ascii_lowercase();
    if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PinError::BadPin(pin.to_string()));
    }
    let url = format!("{}{CA_PATH}", server_url.trim_end_matches('/'));
    let unreachable = |e: reqwest::Error| PinError::Unreachable {
        url: url.clone(),
        reason: crate::register::chain(&e),
    };
    // Not verified on purpose: the CA is not known yet; the pin checks what comes back.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(unreachable)?;
    let resp = client.get(&url).send().await.map_err(unreachable)?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(PinError::Refused {
            url,
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&body)
        .collect::<Result<_, _>>()
        .map_err(|_| PinError::NotPem { url: url.clone() })?;
    let Some(first) = certs.first() else {
        return Err(PinError::NotPem { url });
    };
    if let Some(ca) = certs.iter().find(|c| sha256_hex(c) == want) {
        return Ok(pem_of(ca));
    }
    Err(PinError::Mismatch {
        url,
        want,
        got: sha256_hex(first),
    })
}

/// One certificate as PEM.
fn pem_of(der: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_must_be_a_sha256() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let e = rt
            .block_on(fetch_ca_pinned("http://127.0.0.1:9", "abc"))
            .expect_err("short pin");
        assert!(matches!(e, PinError::BadPin(_)), "{e}");
    }

    #[test]
    fn a_pem_round_trips() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let der = vec![0x30u8, 3, 1, 2, 3];
        let pem = pem_of(&der);
        let back = CertificateDer::from_pem_slice(&pem).expect("pem");
        assert_eq!(back.as_ref(), der.as_slice());
    }
}
