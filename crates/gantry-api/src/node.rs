//! How a host gets and proves its node identity (DESIGN.md §4): it joins once with an SSM
//! activation (EXTERNAL) or a cluster join token (EC2), sending a certificate signing request
//! for a key pair it made itself, and receives a node certificate from the cluster CA bound to
//! its node id. Every later gateway request (register, session, rotate) carries that
//! certificate and a signature made with the node's private key over [`string_to_sign`].
//!
//! Pure: names, shapes and the string to sign. Signing lives in `gantry-link` (the agent),
//! verification in `gantry-server` (`nodes/`).

use serde::{Deserialize, Serialize};

/// `POST`: redeem an activation or a join token for a node certificate. Not node-signed (the
/// host has no credential yet); the grant is the proof.
pub const JOIN_PATH: &str = "/agent/v1/join";
/// `POST`: a node-signed request for a fresh certificate for a new key pair.
pub const ROTATE_PATH: &str = "/agent/v1/rotate";

/// The scheme named in [`SIGNATURE_HEADER`]: ECDSA P-256 with SHA-256, ASN.1 DER signature.
pub const SCHEME: &str = "GANTRY-NODE-ECDSA-P256-SHA256";
/// The node certificate, DER, standard base64.
pub const CERTIFICATE_HEADER: &str = "x-gantry-node-certificate";
/// When the request was signed, `YYYYMMDDTHHMMSSZ` (UTC), as SigV4's `X-Amz-Date`.
pub const DATE_HEADER: &str = "x-gantry-node-date";
/// `<SCHEME> <base64 signature>`.
pub const SIGNATURE_HEADER: &str = "x-gantry-node-signature";
/// How far a signed request's date may be from the server's clock, as SigV4's window.
pub const MAX_SKEW_SECS: i64 = 300;

/// What the node's signature covers: the scheme, the date, the method, the path with its
/// query exactly as sent, and the hex SHA-256 of the body (of the empty string for a
/// WebSocket upgrade).
pub fn string_to_sign(
    date: &str,
    method: &str,
    path_and_query: &str,
    body_sha256_hex: &str,
) -> String {
    format!("{SCHEME}\n{date}\n{method}\n{path_and_query}\n{body_sha256_hex}")
}

/// What a host redeems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JoinGrant {
    /// An SSM activation (`aws ssm create-activation`): the host joins as an EXTERNAL
    /// managed instance `mi-…`.
    Activation {
        activation_id: String,
        activation_code: String,
    },
    /// A cluster join token (`gantry token create`): the host joins as an EC2 instance.
    Token { token: String },
}

/// `POST JOIN_PATH`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The cluster the host will register into (a join token names one and must agree).
    pub cluster: String,
    pub grant: JoinGrant,
    /// PKCS#10 certificate signing request (PEM) for the key pair the host made; the private
    /// key never leaves the host.
    pub csr_pem: String,
    pub hostname: String,
}

/// The answer to a join or a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeCredential {
    /// `mi-` + 17 hex digits for an activation, `i-` + 17 hex digits for a join token.
    pub node_id: String,
    /// `EC2` or `EXTERNAL`.
    pub launch_type: String,
    /// The node certificate (PEM), issued by the cluster CA, subject the node id.
    pub certificate_pem: String,
    /// Its notAfter, seconds since the epoch; the agent rotates at two thirds of its life.
    pub expires_at: i64,
}

/// `POST ROTATE_PATH` (node-signed with the current certificate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotateRequest {
    pub csr_pem: String,
}
