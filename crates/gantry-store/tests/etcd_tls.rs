//! etcd over TLS with client-certificate auth: the store connects with the CA and a client
//! certificate, and is refused without the certificate.

use std::path::Path;

use gantry_store::etcd_process::{EtcdCluster, EtcdServerTls, EtcdSpec};
use gantry_store::{EtcdOptions, EtcdStore, Store};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_tls_with_client_certificate() {
    let dir = Dir(std::env::temp_dir().join(format!("gantry-etcd-tls-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "test etcd CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(names).expect("params");
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) =
        leaf(vec!["gantry".into()], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = write(&dir.0, "ca.pem", &ca_cert.pem());
    let tls = EtcdServerTls {
        ca_file: ca_file.clone(),
        cert_file: write(&dir.0, "server.pem", &server_cert),
        key_file: write(&dir.0, "server.key", &server_key),
    };
    let cluster = EtcdCluster::start_tls(
        EtcdSpec {
            members: 1,
            listen_host: "127.0.0.1".into(),
            extra_args: Vec::new(),
        },
        tls,
    )
    .expect("start etcd with TLS");
    assert!(cluster.client_url(0).starts_with("https://"));
    let options = EtcdOptions {
        endpoints: cluster.endpoints(),
        ca_file: Some(ca_file.clone()),
        cert_file: Some(write(&dir.0, "client.pem", &client_cert)),
        key_file: Some(write(&dir.0, "client.key", &client_key)),
        timeout: std::time::Duration::from_secs(3),
        ..EtcdOptions::default()
    };
    let store = EtcdStore::connect(&options)
        .await
        .expect("connect over TLS");
    let rev = store.put("k", b"v".to_vec(), 0).await.expect("put");
    assert_eq!(
        store.get("k").await.expect("get").map(|r| r.revision),
        Some(rev)
    );

    let without_cert = EtcdOptions {
        cert_file: None,
        key_file: None,
        ..options.clone()
    };
    assert!(
        EtcdStore::connect(&without_cert).await.is_err(),
        "etcd requires a client certificate"
    );
    let half = EtcdOptions {
        key_file: None,
        ..options
    };
    let e = EtcdStore::connect(&half)
        .await
        .expect_err("a certificate without its key");
    assert!(e.to_string().contains("both"), "{e}");
}
