//! HTTPS as a client sees it: the cluster CA made on first start and reused after, the
//! server certificate's names and renewal, operator certificates swapped on reload, and
//! plain HTTP refused on network addresses.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gantry_server::tls::{self, CertSource, ClusterFiles, ServerTls};
use gantry_server::{ServerConfig, ServerError};
use gantry_store::SqliteStore;

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "gantry-tls-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn cluster(dir: &Path, list: &[&str]) -> CertSource {
    CertSource::Cluster {
        files: ClusterFiles::new(dir),
        names: names(list),
    }
}

/// Serves the API on 127.0.0.1:0 with `tls` until the returned sender is dropped. It checks
/// no signatures: these tests are about the transport (tests/auth*.rs sign).
async fn serve(tls: Option<ServerTls>) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        authenticate: false,
        ..ServerConfig::default()
    };
    let mut bound = gantry_server::bind(cfg, SqliteStore::open_in_memory().unwrap())
        .await
        .unwrap();
    if let Some(t) = tls {
        bound = bound.with_tls(t);
    }
    let addr = bound.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

fn client_trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

/// An ECS call over `client`: `Ok` with the HTTP status when the server answered.
async fn list_clusters(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    client
        .post(format!("{url}/"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "X-Amz-Target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        )
        .body("{}")
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| error_chain(&e))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[tokio::test]
async fn the_cluster_ca_serves_https_to_clients_that_trust_it() {
    let dir = TempDir::new("serve");
    let tls = ServerTls::new(cluster(dir.path(), &["127.0.0.1", "localhost"])).unwrap();
    let ca = tls.ca_bundle().unwrap();
    assert_eq!(ca, dir.path().join("ca.pem"));
    let (addr, _stop) = serve(Some(tls)).await;
    let port = addr.port();

    let trusting = client_trusting(&ca);
    for host in ["127.0.0.1", "localhost"] {
        let status = list_clusters(&trusting, &format!("https://{host}:{port}")).await;
        assert_eq!(status, Ok(200), "{host}");
    }

    // A client without the CA refuses the certificate.
    let e = list_clusters(
        &reqwest::Client::new(),
        &format!("https://127.0.0.1:{port}"),
    )
    .await
    .unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // Plain HTTP to the TLS port gets no answer.
    let e = list_clusters(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;
    assert!(e.is_err(), "{e:?}");
    // And the server still serves TLS after it.
    assert_eq!(
        list_clusters(&trusting, &format!("https://127.0.0.1:{port}")).await,
        Ok(200)
    );
}

#[test]
fn first_start_makes_the_files_with_their_modes_and_a_second_reuses_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("files");
    let files = ClusterFiles::new(dir.path());
    let now = SystemTime::now();
    let made = tls::ensure(&files, &names(&["127.0.0.1"]), now).unwrap();
    assert!(made.made_ca && made.issued_server_cert);
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(files.ca_cert()), 0o644);
    assert_eq!(mode(files.ca_key()), 0o600);
    assert_eq!(mode(files.server_key()), 0o600);
    assert_eq!(mode(files.server_cert()), 0o644);
    let read = |p: PathBuf| std::fs::read(p).unwrap();
    let (ca, ca_key, cert) = (
        read(files.ca_cert()),
        read(files.ca_key()),
        read(files.server_cert()),
    );

    let again = tls::ensure(&files, &names(&["127.0.0.1"]), now).unwrap();
    assert!(!again.made_ca && !again.issued_server_cert);
    assert_eq!(read(files.ca_cert()), ca);
    assert_eq!(read(files.ca_key()), ca_key);
    assert_eq!(read(files.server_cert()), cert);
    // Only the four files: no temporary file stays behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

#[test]
fn the_server_certificate_is_reissued_for_new_names_and_before_it_expires() {
    let dir = TempDir::new("renew");
    let files = ClusterFiles::new(dir.path());
    let now = SystemTime::now();
    tls::ensure(&files, &names(&["10.0.0.5"]), now).unwrap();
    let ca = std::fs::read(files.ca_cert()).unwrap();

    // A name the certificate does not cover.
    let wider = names(&["10.0.0.5", "gantry.example.com"]);
    let r = tls::ensure(&files, &wider, now).unwrap();
    assert!(!r.made_ca && r.issued_server_cert);
    // Covered now; a subset is covered too.
    assert!(!tls::ensure(&files, &wider, now).unwrap().issued_server_cert);
    assert!(
        !tls::ensure(&files, &names(&["gantry.example.com"]), now)
            .unwrap()
            .issued_server_cert
    );

    // 31 days before the end: still good. 29 days before: due.
    let end = now + tls::SERVER_VALIDITY;
    let day = Duration::from_secs(86_400);
    assert!(
        !tls::ensure(&files, &wider, end - 31 * day)
            .unwrap()
            .issued_server_cert
    );
    assert!(
        tls::ensure(&files, &wider, end - 29 * day)
            .unwrap()
            .issued_server_cert
    );
    // One issued in what is now the future (the clock went back) is replaced too.
    assert!(tls::ensure(&files, &wider, now).unwrap().issued_server_cert);
    // The CA never changes.
    assert_eq!(std::fs::read(files.ca_cert()).unwrap(), ca);

    // A certificate for the new names that clients verify against the same CA.
    let der = rustls_pki_types::CertificateDer::from(ca_der(&files.ca_cert()));
    let verifier = tls::verifier_for(der).unwrap();
    let chain = pem_chain(&files.server_cert());
    use rustls::client::danger::ServerCertVerifier;
    for n in ["10.0.0.5", "gantry.example.com"] {
        let name = rustls_pki_types::ServerName::try_from(n).unwrap();
        verifier
            .verify_server_cert(
                &chain[0],
                &[],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    let other = rustls_pki_types::ServerName::try_from("10.0.0.6").unwrap();
    assert!(verifier
        .verify_server_cert(
            &chain[0],
            &[],
            &other,
            &[],
            rustls_pki_types::UnixTime::now()
        )
        .is_err());
}

#[test]
fn a_ca_certificate_without_its_key_is_an_error_not_a_new_ca() {
    let dir = TempDir::new("nokey");
    let files = ClusterFiles::new(dir.path());
    tls::ensure(&files, &names(&["127.0.0.1"]), SystemTime::now()).unwrap();
    std::fs::remove_file(files.ca_key()).unwrap();
    let e = tls::ensure(&files, &names(&["127.0.0.1"]), SystemTime::now())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ca.key") && e.contains("is missing"), "{e}");
}

fn ca_der(path: &Path) -> Vec<u8> {
    pem_chain(path).remove(0).to_vec()
}

fn pem_chain(path: &Path) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[tokio::test]
async fn reload_swaps_the_operators_certificate_and_keeps_it_when_the_new_one_is_bad() {
    // Two CAs, each with a certificate for 127.0.0.1; the operator's files start as A's.
    let a = TempDir::new("ca-a");
    let b = TempDir::new("ca-b");
    let op = TempDir::new("operator");
    for d in [&a, &b] {
        tls::ensure(
            &ClusterFiles::new(d.path()),
            &names(&["127.0.0.1"]),
            SystemTime::now(),
        )
        .unwrap();
    }
    let (cert, key) = (op.path().join("tls.crt"), op.path().join("tls.key"));
    let install = |from: &TempDir| {
        std::fs::copy(from.path().join("server.pem"), &cert).unwrap();
        std::fs::copy(from.path().join("server.key"), &key).unwrap();
    };
    install(&a);
    let tls = ServerTls::new(CertSource::Files {
        cert: cert.clone(),
        key: key.clone(),
    })
    .unwrap();
    assert_eq!(tls.ca_bundle(), None);
    let (addr, _stop) = serve(Some(tls.clone())).await;
    let url = format!("https://127.0.0.1:{}", addr.port());
    let trusts_a = client_trusting(&a.path().join("ca.pem"));
    let trusts_b = client_trusting(&b.path().join("ca.pem"));
    assert_eq!(list_clusters(&trusts_a, &url).await, Ok(200));
    assert!(list_clusters(&trusts_b, &url).await.is_err());

    // What SIGHUP calls: new connections get B's certificate.
    install(&b);
    tls.reload().unwrap();
    let fresh_a = client_trusting(&a.path().join("ca.pem"));
    assert!(list_clusters(&fresh_a, &url).await.is_err());
    assert_eq!(list_clusters(&trusts_b, &url).await, Ok(200));
    // The connection made before the reload keeps A's.
    assert_eq!(list_clusters(&trusts_a, &url).await, Ok(200));

    // A broken file: the reload says why and B's certificate stays.
    std::fs::write(&cert, "not a certificate").unwrap();
    let e = tls.reload().unwrap_err().to_string();
    assert!(e.contains(&cert.display().to_string()), "{e}");
    // A key that is not the certificate's.
    std::fs::copy(b.path().join("server.pem"), &cert).unwrap();
    std::fs::copy(a.path().join("server.key"), &key).unwrap();
    assert!(tls.reload().is_err());
    let fresh_b = client_trusting(&b.path().join("ca.pem"));
    assert_eq!(list_clusters(&fresh_b, &url).await, Ok(200));
}

#[tokio::test]
async fn plain_http_on_a_network_address_is_refused_at_start() {
    let cfg = ServerConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let bound = gantry_server::bind(cfg, SqliteStore::open_in_memory().unwrap())
        .await
        .unwrap();
    let e = bound.run(std::future::pending()).await.unwrap_err();
    assert!(matches!(e, ServerError::Tls(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("refusing to serve plain HTTP on 0.0.0.0:")
            && text.contains("--tls-cert")
            && text.contains("loopback"),
        "{text}"
    );

    // A plain extra listener on a network address is refused the same way.
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let bound = gantry_server::bind(cfg, SqliteStore::open_in_memory().unwrap())
        .await
        .unwrap()
        .listen_also_with("0.0.0.0:0".parse().unwrap(), None)
        .await
        .unwrap();
    assert!(matches!(
        bound.run(std::future::pending()).await,
        Err(ServerError::Tls(_))
    ));
}

#[tokio::test]
async fn the_url_names_the_scheme() {
    let dir = TempDir::new("url");
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let bound = gantry_server::bind(cfg, SqliteStore::open_in_memory().unwrap())
        .await
        .unwrap();
    assert!(bound.url().unwrap().starts_with("http://127.0.0.1:"));
    let tls = ServerTls::new(cluster(dir.path(), &["127.0.0.1"])).unwrap();
    assert!(bound
        .with_tls(tls)
        .url()
        .unwrap()
        .starts_with("https://127.0.0.1:"));
}
