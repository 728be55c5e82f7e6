use std::path::{Path, PathBuf};
use std::sync::Arc;

use gantry_store::SqliteStore;

use super::*;
use crate::state::ServerConfig;

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("gantry-stored-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn replica(
    store: &Arc<SqliteStore>,
    state_dir: &Path,
    key_file: Option<&Path>,
) -> AppState<Arc<SqliteStore>> {
    let cfg = ServerConfig {
        state_dir: Some(state_dir.to_path_buf()),
        secret_key_file: key_file.map(Path::to_path_buf),
        ..ServerConfig::default()
    };
    AppState::new(cfg, store.clone())
}

fn sha(st: &AppState<Arc<SqliteStore>>) -> String {
    st.nodes.authority().unwrap().ca_sha256().to_string()
}

fn files_sha(dir: &Path) -> Option<String> {
    ca_sha256_of_pem(&std::fs::read_to_string(dir.join("tls/ca.pem")).unwrap())
}

#[tokio::test]
async fn replicas_with_the_cluster_key_share_one_ca_and_others_refuse_to_start() {
    let tmp = TempDir::new();
    let key = tmp.0.join("cluster.key");
    std::fs::write(&key, [9u8; 32]).unwrap();
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let (d1, d2, d3) = (tmp.0.join("r1"), tmp.0.join("r2"), tmp.0.join("r3"));

    let r1 = replica(&store, &d1, Some(&key));
    assert_eq!(
        establish(&r1).await.unwrap(),
        Files::Replaced,
        "new CA written"
    );
    // The second replica's state dir had a CA of its own (made before it started): it takes
    // the cluster's, and says its certificates must be issued again.
    crate::tls::ensure_ca(&ClusterFiles::new(d2.join("tls")), SystemTime::now()).unwrap();
    let r2 = replica(&store, &d2, Some(&key));
    assert_eq!(establish(&r2).await.unwrap(), Files::Replaced);
    assert_eq!(sha(&r1), sha(&r2));
    assert_eq!(files_sha(&d2).unwrap(), sha(&r1));
    // Started again, nothing changes.
    let again = replica(&store, &d2, Some(&key));
    assert_eq!(establish(&again).await.unwrap(), Files::Unchanged);

    // A replica with a key of its own (its state dir's secret.key, made on first use).
    let r3 = replica(&store, &d3, None);
    let e = establish(&r3).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ServerError::SecretKeyMismatch { .. }), "{text}");
    assert!(
        text.contains("this replica's secret key does not match the cluster's: copy")
            && text.contains(&d3.join("secret.key").display().to_string())
            && text.contains("from an existing replica"),
        "{text}"
    );
    assert!(!d3.join("tls/ca.pem").exists(), "nothing written");
}

#[tokio::test]
async fn a_single_server_keeps_the_ca_its_clients_trust() {
    let tmp = TempDir::new();
    let files = ClusterFiles::new(tmp.0.join("tls"));
    crate::tls::ensure_ca(&files, SystemTime::now()).unwrap();
    let before = files_sha(&tmp.0).unwrap();
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let st = replica(&store, &tmp.0, None);
    assert_eq!(establish(&st).await.unwrap(), Files::Unchanged);
    assert_eq!(sha(&st), before);
    // What the store holds: the certificate, and the key only sealed.
    let rec = store.get(CA_KEY).await.unwrap().unwrap();
    let text = String::from_utf8(rec.value).unwrap();
    assert!(text.contains("BEGIN CERTIFICATE"));
    assert!(!text.contains("PRIVATE KEY"), "the key is sealed");
}
