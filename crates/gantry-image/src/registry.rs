//! Registry access through oci-client: auth, plain HTTP for loopback and insecure
//! registries, retries, and mapping failures to ECS-like wording.

use std::net::IpAddr;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth as OciAuth;

use crate::reference::ImageRef;
use crate::RegistryAuth;

/// Attempts for a manifest fetch; only transport errors and 5xx are retried.
const MANIFEST_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("pull image manifest has been retried {attempts} time(s): failed to resolve ref {reference}: not found")]
    NotFound { reference: String, attempts: u32 },
    #[error("pull image manifest has been retried {attempts} time(s): failed to resolve ref {reference}: pull access denied, repository does not exist or may require authorization ({detail}); check the registry credentials")]
    Unauthorized {
        reference: String,
        attempts: u32,
        detail: String,
    },
    #[error("pull image manifest has been retried {attempts} time(s): failed to resolve ref {reference}: {detail}")]
    Manifest {
        reference: String,
        attempts: u32,
        detail: String,
    },
    #[error("failed to fetch blob {digest} of {reference}: {detail}")]
    Blob {
        reference: String,
        digest: String,
        detail: String,
    },
}

enum Kind {
    NotFound,
    Unauthorized,
    Retryable,
    Other,
}

fn classify(e: &OciDistributionError) -> Kind {
    use OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => Kind::Unauthorized,
        E::ImageManifestNotFoundError(_) => Kind::NotFound,
        E::RegistryError { envelope, .. } => {
            let codes: Vec<_> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                Kind::NotFound
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                Kind::Unauthorized
            } else {
                Kind::Other
            }
        }
        E::ServerError { code: 404, .. } => Kind::NotFound,
        E::ServerError {
            code: 401 | 403, ..
        } => Kind::Unauthorized,
        E::ServerError { code, .. } if *code >= 500 || *code == 429 => Kind::Retryable,
        E::RequestError(_) | E::IoError(_) => Kind::Retryable,
        _ => Kind::Other,
    }
}

/// Plain HTTP is used for loopback registries and the operator's insecure list only.
pub(crate) fn is_insecure(r: &ImageRef, insecure: &[String]) -> bool {
    let host = r.registry_host();
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback || insecure.iter().any(|i| i == &r.registry || i == host)
}

pub(crate) struct Registry {
    client: oci_client::Client,
    auth: OciAuth,
    reference: oci_client::Reference,
    display: String,
}

impl Registry {
    pub(crate) fn new(r: &ImageRef, auth: Option<&RegistryAuth>, insecure: &[String]) -> Self {
        let protocol = if is_insecure(r, insecure) {
            ClientProtocol::HttpsExcept(vec![r.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            // We resolve indexes ourselves (manifest::select_platform).
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..ClientConfig::default()
        };
        let auth = match auth {
            Some(a) => OciAuth::Basic(a.username.clone(), a.password.clone()),
            None => OciAuth::Anonymous,
        };
        Self {
            client: oci_client::Client::new(config),
            auth,
            reference: r.to_oci(),
            display: r.to_string(),
        }
    }

    /// Raw manifest (or index) bytes and their digest, by the reference's tag/digest or by
    /// `digest`. oci-client checks the body against the requested digest and the
    /// `Docker-Content-Digest` header; the caller checks again against what it expects.
    pub(crate) async fn manifest(
        &self,
        digest: Option<&str>,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let reference = match digest {
            Some(d) => self.reference.clone_with_digest(d.to_string()),
            None => self.reference.clone(),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let res = self
                .client
                .pull_manifest_raw(&reference, &self.auth, crate::manifest::MANIFEST_TYPES)
                .await;
            let e = match res {
                Ok((bytes, digest)) => return Ok((bytes.to_vec(), digest)),
                Err(e) => e,
            };
            let reference = self.display.clone();
            let detail = e.to_string();
            match classify(&e) {
                Kind::NotFound => {
                    return Err(RegistryError::NotFound {
                        reference,
                        attempts,
                    })
                }
                Kind::Unauthorized => {
                    return Err(RegistryError::Unauthorized {
                        reference,
                        attempts,
                        detail,
                    })
                }
                Kind::Retryable if attempts < MANIFEST_ATTEMPTS => {
                    tracing::debug!(reference, attempts, error = %detail, "retrying manifest fetch");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempts))).await;
                }
                Kind::Retryable | Kind::Other => {
                    return Err(RegistryError::Manifest {
                        reference,
                        attempts,
                        detail: error_chain(&e),
                    })
                }
            }
        }
    }

    pub(crate) async fn blob(
        &self,
        digest: &str,
    ) -> Result<oci_client::client::SizedStream, RegistryError> {
        self.client
            .pull_blob_stream(&self.reference, digest)
            .await
            .map_err(|e| self.blob_error(digest, &e))
    }

    pub(crate) fn blob_error(&self, digest: &str, e: &dyn std::error::Error) -> RegistryError {
        RegistryError::Blob {
            reference: self.display.clone(),
            digest: digest.to_string(),
            detail: error_chain(e),
        }
    }
}

/// `outer: inner: innermost`, so "connection refused" is not hidden behind "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let r = |s: &str| ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let listed = vec!["registry.lan:5000".to_string()];
        assert!(is_insecure(&r("127.0.0.1:5000/x"), &[]));
        assert!(is_insecure(&r("127.8.9.1:5000/x"), &[]));
        assert!(is_insecure(&r("localhost:5000/x"), &[]));
        assert!(is_insecure(&r("[::1]:5000/x"), &[]));
        assert!(is_insecure(&r("registry.lan:5000/x"), &listed));
        assert!(!is_insecure(&r("registry.lan:5001/x"), &[]));
        assert!(!is_insecure(&r("busybox"), &listed));
        assert!(!is_insecure(&r("10.0.0.1:5000/x"), &[]));
    }
}
