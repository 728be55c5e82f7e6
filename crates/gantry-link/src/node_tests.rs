use super::*;
use rustls::pki_types::alg_id;

/// A cluster CA and a certificate it issued for `key`, as the server would.
fn issued(key: &NodeKey) -> String {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ca key");
    let mut ca = rcgen::CertificateParams::default();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut leaf =
        rcgen::CertificateParams::new(vec!["i-0123.node.gantry".to_string()]).expect("params");
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "i-0123");
    leaf.signed_by(&key.0, &issuer).expect("issue").pem()
}

/// Verifies like the server: ECDSA P-256 SHA-256 with the certificate's key.
fn verifies(public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .signature_verification_algorithms
        .all
        .iter()
        .find(|a| {
            a.public_key_alg_id() == alg_id::ECDSA_P256
                && a.signature_alg_id() == alg_id::ECDSA_SHA256
        })
        .expect("p256 verifier")
        .verify_signature(public, msg, sig)
        .is_ok()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[test]
fn a_signed_request_verifies_with_the_certificates_key() {
    let key = NodeKey::generate().expect("key");
    let public = key.public_key_raw().to_vec();
    let pem = issued(&key);
    let signer = NodeSigner::new(key, &pem, "i-0123", 99).expect("signer");
    let http = reqwest::Client::new();
    let mut req = http
        .post("http://127.0.0.1:9/agent/v1/register?x=1")
        .body("{\"cluster\":\"c\"}")
        .build()
        .expect("request");
    signer.sign_reqwest(&mut req).expect("signed");
    let h = req.headers();
    let date = header(h, DATE_HEADER);
    assert_eq!(date.len(), 16, "{date}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let sig = header(h, SIGNATURE_HEADER)
        .strip_prefix(&format!("{SCHEME} "))
        .expect("scheme first");
    let sig = b64.decode(sig).expect("base64 signature");
    let body_hash = hex::encode(Sha256::digest(b"{\"cluster\":\"c\"}"));
    let sts = string_to_sign(date, "POST", "/agent/v1/register?x=1", &body_hash);
    assert!(verifies(&public, sts.as_bytes(), &sig));
    assert!(!verifies(&public, b"something else", &sig));
    // The certificate header is the DER of the issued certificate.
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("der");
    assert_eq!(
        b64.decode(header(h, CERTIFICATE_HEADER)).expect("b64"),
        der.as_ref()
    );
}

#[test]
fn a_websocket_upgrade_signs_its_path_and_the_empty_body() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let key = NodeKey::generate().expect("key");
    let public = key.public_key_raw().to_vec();
    let pem = issued(&key);
    let signer = NodeSigner::new(key, &pem, "i-0123", 99).expect("signer");
    let mut req = "wss://h:9/agent/v1/session?instance=i-1"
        .into_client_request()
        .expect("request");
    signer.sign_ws(&mut req).expect("signed");
    let h = req.headers();
    let sig = header(h, SIGNATURE_HEADER)
        .rsplit(' ')
        .next()
        .unwrap_or_default();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .expect("b64");
    let empty = hex::encode(Sha256::digest(b""));
    let sts = string_to_sign(
        header(h, DATE_HEADER),
        "GET",
        "/agent/v1/session?instance=i-1",
        &empty,
    );
    assert!(verifies(&public, sts.as_bytes(), &sig));
}

#[test]
fn a_key_survives_its_pem_and_makes_a_csr() {
    let key = NodeKey::generate().expect("key");
    let again = NodeKey::from_pem(&key.to_pem()).expect("reads back");
    assert_eq!(key.public_key_raw(), again.public_key_raw());
    let csr = again.csr_pem("host-1").expect("csr");
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );
    assert!(!format!("{key:?}").contains("PRIVATE"));
    assert!(NodeKey::from_pem("not a key").is_err());
}

#[test]
fn dates_are_utc_basic_format() {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
    assert_eq!(amz_date(t), "20261118T110640Z");
    assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
}
