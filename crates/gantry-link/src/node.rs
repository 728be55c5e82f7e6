//! The node's own identity on the wire (`gantry_api::node`): an ECDSA P-256 key pair made on
//! the host, the certificate the cluster CA issued for it, and the signature every
//! node-signed gateway request (register, session, rotate) carries.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gantry_api::node::{string_to_sign, CERTIFICATE_HEADER, DATE_HEADER, SCHEME, SIGNATURE_HEADER};
use http::{HeaderMap, HeaderName, HeaderValue};
use rcgen::SigningKey as _;
use sha2::{Digest, Sha256};

/// Why a key, a certificate or a signature could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("could not make a key pair: {0}")]
    KeyGen(String),
    #[error("the node key is not an ECDSA P-256 PKCS#8 PEM key: {0}")]
    BadKey(String),
    #[error("could not make the certificate signing request: {0}")]
    Csr(String),
    #[error("the node certificate is not a PEM certificate")]
    BadCertificate,
    #[error("could not sign the request: {0}")]
    Sign(String),
    #[error("the request's body is a stream and cannot be signed")]
    StreamingBody,
}

/// A node's private key. Never leaves the host: only its CSR does.
pub struct NodeKey(rcgen::KeyPair);

impl std::fmt::Debug for NodeKey {
    // The private key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKey(ECDSA P-256)")
    }
}

impl NodeKey {
    /// A fresh key pair (a new one for every join and every rotation).
    pub fn generate() -> Result<Self, NodeError> {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map(Self)
            .map_err(|e| NodeError::KeyGen(e.to_string()))
    }

    /// The key from its PKCS#8 PEM (as [`NodeKey::to_pem`] wrote it).
    pub fn from_pem(pem: &str) -> Result<Self, NodeError> {
        let key = rcgen::KeyPair::from_pem(pem).map_err(|e| NodeError::BadKey(e.to_string()))?;
        if !key.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
            return Err(NodeError::BadKey("not a P-256 key".to_string()));
        }
        Ok(Self(key))
    }

    /// PKCS#8 PEM of the private key, for the 0600 key file.
    pub fn to_pem(&self) -> String {
        self.0.serialize_pem()
    }

    /// The uncompressed public point (what the certificate binds).
    pub fn public_key_raw(&self) -> &[u8] {
        self.0.public_key_raw()
    }

    /// A PKCS#10 request (PEM) for this key; the server sets the subject itself.
    pub fn csr_pem(&self, hostname: &str) -> Result<String, NodeError> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, hostname);
        params
            .serialize_request(&self.0)
            .and_then(|csr| csr.pem())
            .map_err(|e| NodeError::Csr(e.to_string()))
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NodeError> {
        self.0.sign(msg).map_err(|e| NodeError::Sign(e.to_string()))
    }
}

/// A key with its certificate: signs node requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NodeSigner {
    key: Arc<NodeKey>,
    cert_b64: Arc<str>,
    node_id: Arc<str>,
    expires_at: i64,
}

impl NodeSigner {
    /// `key` with the certificate `cert_pem` the server issued for it.
    pub fn new(
        key: NodeKey,
        cert_pem: &str,
        node_id: &str,
        expires_at: i64,
    ) -> Result<Self, NodeError> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| NodeError::BadCertificate)?;
        Ok(Self {
            key: Arc::new(key),
            cert_b64: base64::engine::general_purpose::STANDARD
                .encode(der.as_ref())
                .into(),
            node_id: node_id.into(),
            expires_at,
        })
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The certificate's notAfter, seconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The three node-signature headers for a request, signed at `time`.
    pub fn headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        time: SystemTime,
    ) -> Result<[(HeaderName, HeaderValue); 3], NodeError> {
        let date = amz_date(time);
        let body_hash = hex::encode(Sha256::digest(body));
        let sts = string_to_sign(&date, method, path_and_query, &body_hash);
        let sig = self.key.sign(sts.as_bytes())?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let value =
            |s: String| HeaderValue::from_str(&s).map_err(|e| NodeError::Sign(e.to_string()));
        Ok([
            (
                HeaderName::from_static(CERTIFICATE_HEADER),
                value(self.cert_b64.to_string())?,
            ),
            (HeaderName::from_static(DATE_HEADER), value(date)?),
            (
                HeaderName::from_static(SIGNATURE_HEADER),
                value(format!("{SCHEME} {}", b64.encode(sig)))?,
            ),
        ])
    }

    fn put(
        &self,
        headers: &mut HeaderMap,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<(), NodeError> {
        for (k, v) in self.headers(method, path_and_query, body, SystemTime::now())? {
            headers.insert(k, v);
        }
        Ok(())
    }

    /// Signs a built `reqwest` request in place (its body must be in memory).
    pub fn sign_reqwest(&self, req: &mut reqwest::Request) -> Result<(), NodeError> {
        let url = req.url();
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let body: Vec<u8> = match req.body() {
            None => Vec::new(),
            Some(b) => b.as_bytes().ok_or(NodeError::StreamingBody)?.to_vec(),
        };
        let method = req.method().as_str().to_string();
        self.put(req.headers_mut(), &method, &path_and_query, &body)
    }

    /// Signs a WebSocket upgrade request (the hash of the empty body).
    pub fn sign_ws(&self, req: &mut http::Request<()>) -> Result<(), NodeError> {
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let method = req.method().as_str().to_string();
        self.put(req.headers_mut(), &method, &path_and_query, &[])
    }
}

/// The node's current signer, shared by everything that dials the server; a rotation
/// replaces it and every later request and connection uses the new one.
#[derive(Debug, Clone)]
pub struct NodeIdentity(Arc<RwLock<NodeSigner>>);

impl NodeIdentity {
    pub fn new(signer: NodeSigner) -> Self {
        Self(Arc::new(RwLock::new(signer)))
    }

    pub fn current(&self) -> NodeSigner {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn replace(&self, signer: NodeSigner) {
        match self.0.write() {
            Ok(mut g) => *g = signer,
            Err(p) => *p.into_inner() = signer,
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` of `time` (UTC).
pub fn amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Lowercase hex SHA-256 of `der` (the CA pin's form).
pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
