//! How an agent reaches its control plane: the server's URLs (one or several replicas,
//! [`crate::Servers`]), the certificate authorities it
//! trusts for `https`/`wss`, and the credentials it signs registration and sessions with: the
//! node's own ([`crate::NodeIdentity`], what an agent uses) or an access key (SigV4, for
//! clients and tests of servers that still take one).

use std::sync::Arc;
use std::time::Duration;

use gantry_api::protocol::{RegisterRequest, RegisterResponse};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::node::NodeIdentity;
use crate::servers::{Servers, ServersError};
use crate::sign::Signer;
use crate::{LinkError, RegisterError, Socket};

/// How long a TCP (and TLS) connect may take before the address counts as down: a replica
/// whose host is gone answers nothing, and the next address should be tried well before the
/// kernel's own SYN timeout of about two minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a link signs with.
#[derive(Debug, Clone)]
enum Auth {
    None,
    SigV4(Signer),
    Node(NodeIdentity),
}

/// Why a [`Link`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the CA bundle holds no PEM certificate")]
    NoCertificate,
    #[error("the CA bundle is not valid PEM: {0}")]
    BadPem(String),
    #[error("the CA bundle's certificate is not usable: {0}")]
    BadCertificate(String),
    #[error("could not build the HTTPS client: {0}")]
    Client(String),
    #[error(transparent)]
    Servers(#[from] ServersError),
}

/// The server's URLs with what it takes to talk to them. Cheap to clone; clones share the
/// address in use.
#[derive(Debug, Clone)]
pub struct Link {
    servers: Servers,
    http: reqwest::Client,
    auth: Auth,
    /// TLS for `wss://` with the CA bundle; none: tokio-tungstenite's default roots.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Link {
    /// An unsigned link (a server that does not check credentials, e.g. in tests).
    pub fn new(server_url: &str) -> Self {
        Self::with_servers(Servers::one(server_url))
    }

    /// An unsigned link to the replicas `servers`, starting with the first.
    pub fn with_servers(servers: Servers) -> Self {
        Self {
            servers,
            http: reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .unwrap_or_default(),
            auth: Auth::None,
            tls: None,
        }
    }

    /// Signs every request with the access key of `signer` (SigV4).
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.auth = Auth::SigV4(signer);
        self
    }

    /// Signs every request with the node's credential (whichever is current when the
    /// request is made: a rotation applies to every later request and connection).
    pub fn with_node(mut self, identity: NodeIdentity) -> Self {
        self.auth = Auth::Node(identity);
        self
    }

    /// Trusts only the certificates in `pem` (a PEM bundle: the cluster CA) for `https` and
    /// `wss`.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, SetupError> {
        self.http = https_client(pem)?;
        self.tls = Some(Arc::new(rustls_config(pem)?));
        Ok(self)
    }

    /// The URL of the server in use now.
    pub fn server_url(&self) -> String {
        self.servers.current_url()
    }

    /// All the server's URLs and the one in use.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    /// This link starting at its `n`-th server, with an address in use of its own (see
    /// [`Servers::starting_at`]).
    pub fn starting_at(&self, n: usize) -> Self {
        let mut l = self.clone();
        l.servers = self.servers.starting_at(n);
        l
    }

    pub fn signer(&self) -> Option<&Signer> {
        match &self.auth {
            Auth::SigV4(s) => Some(s),
            _ => None,
        }
    }

    /// The node identity this link signs with, if it is a node's.
    pub fn node(&self) -> Option<&NodeIdentity> {
        match &self.auth {
            Auth::Node(n) => Some(n),
            _ => None,
        }
    }

    /// The HTTP client (with the CA bundle), for callers that sign with [`Link::sign`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Signs `req` if this link has credentials.
    pub fn sign(&self, req: &mut reqwest::Request) -> Result<(), String> {
        match &self.auth {
            Auth::None => Ok(()),
            Auth::SigV4(s) => s.sign_reqwest(req).map_err(|e| e.to_string()),
            Auth::Node(n) => n.current().sign_reqwest(req).map_err(|e| e.to_string()),
        }
    }

    /// Registers once (`POST <server>/agent/v1/register`).
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, RegisterError> {
        crate::register::register_signed(self, req).await
    }

    /// Dials `instance_id`'s session WebSocket at the server in use, with a signed upgrade
    /// request.
    pub async fn connect(&self, instance_id: &str) -> Result<Socket, LinkError> {
        self.connect_to(&self.server_url(), instance_id).await
    }

    /// Dials `instance_id`'s session WebSocket at `server_url` (one of [`Link::servers`]).
    pub async fn connect_to(
        &self,
        server_url: &str,
        instance_id: &str,
    ) -> Result<Socket, LinkError> {
        let mut req = crate::session_url(server_url, instance_id).into_client_request()?;
        let unsigned =
            |e: String| LinkError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
        match &self.auth {
            Auth::None => {}
            Auth::SigV4(s) => s.sign_ws(&mut req).map_err(|e| unsigned(e.to_string()))?,
            Auth::Node(n) => n
                .current()
                .sign_ws(&mut req)
                .map_err(|e| unsigned(e.to_string()))?,
        }
        let connector = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        // Nagle off: see `crate::connect`.
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, true, connector).await?;
        Ok(ws)
    }
}

fn certificates(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, SetupError> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SetupError::BadPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(SetupError::NoCertificate);
    }
    Ok(certs)
}

/// An HTTP client that trusts only the certificates in `pem` for `https` (as the AWS CLI
/// does with `--ca-bundle`).
pub fn https_client(pem: &[u8]) -> Result<reqwest::Client, SetupError> {
    let certs = certificates(pem)?
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SetupError::BadCertificate(e.to_string()))?;
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| SetupError::Client(e.to_string()))
}

/// The `wss` client config: the bundle's certificates as the only roots (an agent given a
/// cluster CA talks to that cluster only).
fn rustls_config(pem: &[u8]) -> Result<rustls::ClientConfig, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    for der in certificates(pem)? {
        roots
            .add(der)
            .map_err(|e| SetupError::BadCertificate(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        assert!(matches!(
            Link::new("https://h").with_ca_pem(b"not pem"),
            Err(SetupError::NoCertificate)
        ));
    }
}
