use std::os::unix::fs::PermissionsExt;

use super::*;

/// A credential as a join returns it, for a fresh key with a self-signed certificate.
fn joined(node_id: &str) -> Joined {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = rcgen::CertificateParams::new(vec![format!("{node_id}.node.gantry")])
        .expect("params")
        .self_signed(&key)
        .expect("cert")
        .pem();
    let key_pem = key.serialize_pem();
    let credential = NodeCredential {
        node_id: node_id.to_string(),
        launch_type: "EC2".to_string(),
        certificate_pem: cert.clone(),
        expires_at: now_secs() + 3000,
    };
    let signer = NodeSigner::new(
        NodeKey::from_pem(&key_pem).expect("key"),
        &cert,
        node_id,
        credential.expires_at,
    )
    .expect("signer");
    Joined {
        signer,
        credential,
        key_pem,
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

fn temp() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gantry-node-store-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_credential_survives_a_restart_with_private_modes() {
    let dir = temp();
    let store = NodeStore::new(&dir);
    assert!(store.load().expect("load").is_none());
    let j = joined("i-00000000000000001");
    let meta = store.save(&j, None).expect("save");
    let back = store.load().expect("load").expect("stored");
    assert_eq!(back.signer.node_id(), "i-00000000000000001");
    assert_eq!(back.meta.generation, 1);
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(&store.dir().join("key-1.pem")), 0o600);
    assert_eq!(mode(&store.dir().join("node.json")), 0o600);
    // Two thirds of the life, from when it was received.
    assert_eq!(meta.rotate_at(), meta.received_at + 2000);
    // A rotation replaces the key and leaves only the new one.
    let meta2 = store
        .save(&joined("i-00000000000000001"), Some(&meta))
        .expect("rotate");
    assert_eq!(meta2.generation, 2);
    assert!(!store.dir().join("key-1.pem").exists());
    assert_eq!(mode(&store.dir().join("key-2.pem")), 0o600);
    assert_eq!(
        store.load().expect("load").expect("stored").meta.generation,
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_grant_is_remembered_without_its_secret() {
    let dir = temp().with_extension("refused");
    let store = NodeStore::new(&dir);
    let g = JoinGrant::Token {
        token: "abcd.s3cret".to_string(),
    };
    assert!(store.refused(&g).expect("read").is_none());
    store
        .save_refused(&g, "The join token abcd reached its registration limit 1")
        .expect("save");
    assert_eq!(
        store.refused(&g).expect("read").as_deref(),
        Some("The join token abcd reached its registration limit 1")
    );
    let other = JoinGrant::Token {
        token: "efgh.other".to_string(),
    };
    assert!(store.refused(&other).expect("read").is_none());
    let text = std::fs::read_to_string(store.dir().join("refused-grant")).expect("file");
    assert!(!text.contains("s3cret"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_store_says_what_to_do() {
    let dir = temp().with_extension("damaged");
    let store = NodeStore::new(&dir);
    store
        .save(&joined("i-00000000000000002"), None)
        .expect("save");
    std::fs::remove_file(store.dir().join("key-1.pem")).expect("rm");
    let e = store.load().expect_err("no key");
    assert!(e.to_string().contains("join the host again"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
