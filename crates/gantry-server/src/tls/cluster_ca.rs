//! The cluster CA and the server certificate it issues, under `<state-dir>/tls/`:
//! `ca.pem` (0644, what clients trust), `ca.key` (0600), `server.pem`, `server.key` (0600).
//!
//! The CA is made once (ECDSA P-256, 10 years) and never replaced by the server: clients
//! trust it. The server certificate (1 year) is re-issued whenever it would not verify, for
//! every name the server must answer to, 30 days from now.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::files::{write_private, write_public};
use super::TlsError;

/// How long a new CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// How long a new server certificate is valid.
pub const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// A server certificate that expires sooner than this is re-issued.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Certificates start an hour back, for clients whose clock is a little behind.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// The files of the cluster CA and the server certificate.
#[derive(Debug, Clone)]
pub struct ClusterFiles {
    pub dir: PathBuf,
}

impl ClusterFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// The CA certificate clients point at (`aws --ca-bundle`, `AWS_CA_BUNDLE`).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// What [`ensure`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ensured {
    pub made_ca: bool,
    pub issued_server_cert: bool,
}

/// Makes whatever is missing or due: the CA if there is none, the server certificate if it
/// would not verify for every one of `names` at `now` + 30 days. `names` are DNS names or IP
/// addresses.
pub fn ensure(
    files: &ClusterFiles,
    names: &[String],
    now: SystemTime,
) -> Result<Ensured, TlsError> {
    std::fs::create_dir_all(&files.dir).map_err(|source| TlsError::Write {
        path: files.dir.clone(),
        source,
    })?;
    let ca_pem_exists = files.ca_cert().exists();
    let made_ca = if ca_pem_exists {
        false
    } else {
        // No ca.pem means no client can trust this CA yet, so a lone ca.key (a start that
        // died half way) is safe to replace.
        make_ca(files, now)?;
        true
    };
    let ca_pem = read_string(&files.ca_cert())?;
    if !made_ca && !files.ca_key().exists() {
        return Err(TlsError::CaKeyMissing {
            cert: files.ca_cert(),
            key: files.ca_key(),
        });
    }
    let issued_server_cert =
        made_ca || !server_cert_valid(files, &ca_pem, names, now + RENEW_BEFORE);
    if issued_server_cert {
        issue_server_cert(files, &ca_pem, names, now)?;
    }
    Ok(Ensured {
        made_ca,
        issued_server_cert,
    })
}

/// Makes the CA under `files` if there is none (no `ca.pem`); says whether it did. For a
/// server that needs the CA to issue node certificates but not a server certificate
/// (plain HTTP on loopback, or the operator's own TLS certificate).
pub fn ensure_ca(files: &ClusterFiles, now: SystemTime) -> Result<bool, TlsError> {
    std::fs::create_dir_all(&files.dir).map_err(|source| TlsError::Write {
        path: files.dir.clone(),
        source,
    })?;
    if files.ca_cert().exists() {
        if !files.ca_key().exists() {
            return Err(TlsError::CaKeyMissing {
                cert: files.ca_cert(),
                key: files.ca_key(),
            });
        }
        return Ok(false);
    }
    // No ca.pem means no client can trust this CA yet, so a lone ca.key (a start that died
    // half way) is safe to replace.
    make_ca(files, now)?;
    Ok(true)
}

/// A new CA certificate (PEM) and its key, in memory.
pub fn new_ca(now: SystemTime) -> Result<(String, KeyPair), TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Gantry");
    // A tag of its own, so two clusters' CAs never share a name in one trust store.
    let tag: [u8; 4] = rand::random();
    dn.push(
        DnType::CommonName,
        format!("Gantry cluster CA {}", hex_of(&tag)),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial());
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + CA_VALIDITY).into();
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

fn make_ca(files: &ClusterFiles, now: SystemTime) -> Result<(), TlsError> {
    let (cert, key) = new_ca(now)?;
    // The key first: a ca.pem without its key could never issue again.
    write_private(&files.ca_key(), key.serialize_pem().as_bytes())?;
    write_public(&files.ca_cert(), cert.as_bytes())?;
    Ok(())
}

fn issue_server_cert(
    files: &ClusterFiles,
    ca_pem: &str,
    names: &[String],
    now: SystemTime,
) -> Result<(), TlsError> {
    let ca_key = KeyPair::from_pem(&read_string(&files.ca_key())?)?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Gantry");
    dn.push(
        DnType::CommonName,
        names.first().map_or("gantry server", String::as_str),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| san(n))
        .collect::<Result<Vec<_>, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial());
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + SERVER_VALIDITY).into();
    let cert = params.signed_by(&key, &issuer)?;
    write_private(&files.server_key(), key.serialize_pem().as_bytes())?;
    write_public(&files.server_cert(), cert.pem().as_bytes())?;
    tracing::info!(
        names = %names.join(","),
        path = %files.server_cert().display(),
        "issued a server certificate from the cluster CA"
    );
    Ok(())
}

/// Whether server.pem chains to the CA and covers every name at `at`, as a client checks it.
fn server_cert_valid(files: &ClusterFiles, ca_pem: &str, names: &[String], at: SystemTime) -> bool {
    let check = || -> Result<bool, TlsError> {
        if !files.server_key().exists() {
            return Ok(false);
        }
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| TlsError::pem(&files.ca_cert(), e))?;
        let chain = super::files::read_chain(&files.server_cert())?;
        let Some((leaf, rest)) = chain.split_first() else {
            return Ok(false);
        };
        let verifier = verifier_for(ca)?;
        let at = UnixTime::since_unix_epoch(
            at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        for name in names {
            let Ok(server_name) = ServerName::try_from(name.as_str()) else {
                return Ok(false);
            };
            if let Err(e) = verifier.verify_server_cert(leaf, rest, &server_name, &[], at) {
                tracing::info!(name = %name, error = %e, "the server certificate is due for re-issue");
                return Ok(false);
            }
        }
        Ok(true)
    };
    check().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot check the server certificate; issuing a new one");
        false
    })
}

/// A verifier trusting only `ca`, as a client given `--ca-bundle ca.pem` is.
pub fn verifier_for(
    ca: CertificateDer<'static>,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(TlsError::Rustls)?;
    rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(super::provider()),
    )
    .build()
    .map_err(|e| TlsError::Verifier(e.to_string()))
}

fn san(name: &str) -> Result<SanType, TlsError> {
    Ok(match name.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            name.try_into()
                .map_err(|_| TlsError::BadName(name.to_string()))?,
        ),
    })
}

fn serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    // Positive, and never shortened to fewer bytes by DER.
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&b)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_string(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}
