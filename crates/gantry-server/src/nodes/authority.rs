//! The cluster CA as the issuer of node certificates: loaded from (or made in)
//! `<state_dir>/tls/` beside the listener's certificate, or made in memory for a server
//! without a state dir (tests). It signs certificates for the key pairs hosts made (their
//! CSRs), never for keys it made itself, and it is the one trust anchor node certificates
//! are verified against.

use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use sha2::{Digest, Sha256};

use crate::tls::{ClusterFiles, TlsError};

/// The DNS name a node certificate carries: `<node-id>.node.gantry` (a name no public CA
/// issues for, so the certificate is useless as a server certificate elsewhere).
pub const SAN_SUFFIX: &str = ".node.gantry";
/// Node certificates start this far back, for hosts whose clock is a little behind.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Why a CSR cannot be signed. The text goes to the joining host.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("The certificate signing request is not a valid PKCS#10 CSR with a good self-signature ({0}); send the CSR of the key pair the host made.")]
    Invalid(rcgen::Error),
    #[error("The certificate signing request is for a {0:?} key; node keys are ECDSA P-256.")]
    KeyType(String),
    #[error("The cluster CA could not sign the node certificate: {0}")]
    Sign(rcgen::Error),
}

/// The cluster CA, ready to issue and verify node certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    anchor: TrustAnchor<'static>,
    sha256: String,
}

impl std::fmt::Debug for Authority {
    // The CA key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("ca_sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// A node certificate just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    /// notAfter, seconds since the epoch.
    pub expires_at: i64,
}

impl Authority {
    /// The cluster CA under `files` (made there first if there is none yet).
    pub fn load(files: &ClusterFiles) -> Result<Self, TlsError> {
        crate::tls::ensure_ca(files, SystemTime::now())?;
        let ca_pem = read(&files.ca_cert())?;
        let key_pem = read(&files.ca_key())?;
        let key = KeyPair::from_pem(&key_pem)?;
        Self::from_parts(ca_pem, key)
    }

    /// A CA that lives only in this process (a server without a state dir).
    pub fn ephemeral() -> Result<Self, TlsError> {
        let (cert_pem, key) = crate::tls::new_ca(SystemTime::now())?;
        Self::from_parts(cert_pem, key)
    }

    pub(crate) fn from_parts(ca_pem: String, key: KeyPair) -> Result<Self, TlsError> {
        let ca_der =
            CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| TlsError::Pem {
                path: "cluster CA".into(),
                message: e.to_string(),
            })?;
        let issuer = Issuer::from_ca_cert_der(&ca_der, key)?;
        let anchor = webpki::anchor_from_trusted_cert(&ca_der)
            .map_err(|e| TlsError::Verifier(e.to_string()))?
            .to_owned();
        let sha256 = hex::encode(Sha256::digest(ca_der.as_ref()));
        Ok(Self {
            issuer,
            ca_pem,
            ca_der,
            anchor,
            sha256,
        })
    }

    /// The CA certificate (PEM), what `GET /agent/v1/ca` answers.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Hex SHA-256 of the CA certificate's DER: what `--ca-sha256` pins.
    pub fn ca_sha256(&self) -> &str {
        &self.sha256
    }

    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    pub fn anchor(&self) -> &TrustAnchor<'static> {
        &self.anchor
    }

    /// Checks that `csr_pem` is a CSR [`Self::issue`] would sign, before anything is written.
    pub fn check_csr(csr_pem: &str) -> Result<(), CsrError> {
        parse_csr(csr_pem).map(|_| ())
    }

    /// Signs `csr_pem`'s public key into a certificate for `node_id`, valid from `now` for
    /// `ttl`. The CSR's subject and extensions are ignored: the server decides them.
    pub fn issue(
        &self,
        csr_pem: &str,
        node_id: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Issued, CsrError> {
        let csr = parse_csr(csr_pem)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Gantry");
        dn.push(DnType::CommonName, node_id);
        params.distinguished_name = dn;
        let name = format!("{node_id}{SAN_SUFFIX}");
        params.subject_alt_names = vec![SanType::DnsName(name.try_into().map_err(CsrError::Sign)?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial());
        let not_after = now + ttl;
        params.not_before = (now - BACKDATE).into();
        params.not_after = not_after.into();
        let csr = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        };
        let cert = csr.signed_by(&self.issuer).map_err(CsrError::Sign)?;
        let expires_at = not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Ok(Issued {
            pem: cert.pem(),
            expires_at,
        })
    }
}

/// The CSR, its self-signature checked, for an ECDSA P-256 key.
fn parse_csr(csr_pem: &str) -> Result<CertificateSigningRequestParams, CsrError> {
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(CsrError::Invalid)?;
    if csr.public_key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
        return Err(CsrError::KeyType(format!(
            "{:?}",
            csr.public_key.algorithm()
        )));
    }
    Ok(csr)
}

/// Hex SHA-256 of the DER of the first certificate in `pem` (what `--ca-sha256` pins).
pub fn ca_sha256_of_pem(pem: &str) -> Option<String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    Some(hex::encode(Sha256::digest(der.as_ref())))
}

fn serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    // Positive, and never shortened to fewer bytes by DER.
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&b)
}

fn read(path: &std::path::Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}
