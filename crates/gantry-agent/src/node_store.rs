//! The node credential on disk, under `<state-dir>/node/` (mode 0700):
//!
//! - `node.json`: the node id, launch type, certificate (PEM), its expiry, when it was
//!   received, and which key file is its key;
//! - `key-<generation>.pem`: the private key (PKCS#8, mode 0600), a new one per rotation;
//! - `cert.pem`: a copy of the certificate for operators (`openssl x509 -in cert.pem`);
//! - `ca.pem`: the cluster CA this host pinned on first contact;
//! - `refused-grant`: the hash of a join grant the server refused, and its text.
//!
//! Every file is written atomically (temp file, fsync, rename, fsync of the directory), and a
//! rotation writes the new key before the `node.json` that names it, so a crash at any point
//! leaves a key and a certificate that belong together.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gantry_api::node::{JoinGrant, NodeCredential};
use gantry_link::{Joined, NodeKey, NodeSigner};
use serde::{Deserialize, Serialize};

/// Why the stored credential could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({reason}); remove {dir} and join the host again with a new token or activation")]
    Damaged {
        path: PathBuf,
        dir: PathBuf,
        reason: String,
    },
}

/// What `node.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub node_id: String,
    pub launch_type: String,
    pub certificate_pem: String,
    /// The certificate's notAfter, seconds since the epoch.
    pub expires_at: i64,
    /// When this host received it, seconds since the epoch (the rotation clock starts here).
    pub received_at: i64,
    pub generation: u64,
}

impl Meta {
    fn key_file(&self) -> String {
        format!("key-{}.pem", self.generation)
    }

    /// Two thirds into the certificate's life.
    pub fn rotate_at(&self) -> i64 {
        self.received_at + (self.expires_at - self.received_at).max(0) * 2 / 3
    }
}

/// A loaded credential.
#[derive(Debug)]
pub struct Stored {
    pub meta: Meta,
    pub signer: NodeSigner,
}

/// The node directory.
#[derive(Debug, Clone)]
pub struct NodeStore {
    dir: PathBuf,
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl NodeStore {
    /// `<agent state dir>/node`.
    pub fn new(agent_state_dir: &Path) -> Self {
        Self {
            dir: agent_state_dir.join("node"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            path: path.clone(),
            source,
        }
    }

    fn damaged(&self, path: &Path, reason: impl ToString) -> StoreError {
        StoreError::Damaged {
            path: path.to_path_buf(),
            dir: self.dir.clone(),
            reason: reason.to_string(),
        }
    }

    /// Makes the directory (0700) and tightens it if it was there with looser modes.
    fn ensure_dir(&self) -> Result<(), StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(self.io(&self.dir))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(self.io(&self.dir))
    }

    /// Writes `name` atomically with `mode`.
    fn write(&self, name: &str, data: &[u8], mode: u32) -> Result<(), StoreError> {
        self.ensure_dir()?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let err = self.io(&path);
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(&err)?;
        f.write_all(data).map_err(&err)?;
        f.sync_all().map_err(&err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(&err)?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(self.io(&self.dir))
    }

    fn read(&self, name: &str) -> Result<Option<String>, StoreError> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    /// Whether this host has joined.
    pub fn exists(&self) -> bool {
        self.dir.join("node.json").is_file()
    }

    /// The stored credential, if the host has joined.
    pub fn load(&self) -> Result<Option<Stored>, StoreError> {
        let meta_path = self.dir.join("node.json");
        let Some(text) = self.read("node.json")? else {
            return Ok(None);
        };
        let meta: Meta = serde_json::from_str(&text).map_err(|e| self.damaged(&meta_path, e))?;
        let key_path = self.dir.join(meta.key_file());
        let key_pem = self
            .read(&meta.key_file())?
            .ok_or_else(|| self.damaged(&key_path, "missing"))?;
        let key = NodeKey::from_pem(&key_pem).map_err(|e| self.damaged(&key_path, e))?;
        let signer = NodeSigner::new(key, &meta.certificate_pem, &meta.node_id, meta.expires_at)
            .map_err(|e| self.damaged(&meta_path, e))?;
        Ok(Some(Stored { meta, signer }))
    }

    /// Stores a credential from a join (generation 1, or after `previous`) or a rotation:
    /// the key first, then the `node.json` that names it, then the old key goes.
    pub fn save(&self, joined: &Joined, previous: Option<&Meta>) -> Result<Meta, StoreError> {
        let c: &NodeCredential = &joined.credential;
        let meta = Meta {
            node_id: c.node_id.clone(),
            launch_type: c.launch_type.clone(),
            certificate_pem: c.certificate_pem.clone(),
            expires_at: c.expires_at,
            received_at: now_secs(),
            generation: previous.map_or(1, |p| p.generation + 1),
        };
        self.write(&meta.key_file(), joined.key_pem.as_bytes(), 0o600)?;
        let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
        self.write("node.json", &json, 0o600)?;
        self.write("cert.pem", c.certificate_pem.as_bytes(), 0o644)?;
        if let Some(p) = previous.filter(|p| p.generation != meta.generation) {
            let _ = std::fs::remove_file(self.dir.join(p.key_file()));
        }
        Ok(meta)
    }

    /// The pinned cluster CA, if any.
    pub fn ca(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read("ca.pem")?.map(String::into_bytes))
    }

    pub fn save_ca(&self, pem: &[u8]) -> Result<(), StoreError> {
        self.write("ca.pem", pem, 0o644)
    }

    /// What the server said when it refused `grant`, if it did before.
    pub fn refused(&self, grant: &JoinGrant) -> Result<Option<String>, StoreError> {
        let Some(text) = self.read("refused-grant")? else {
            return Ok(None);
        };
        let (hash, message) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        Ok((hash == grant_hash(grant)).then(|| message.trim().to_string()))
    }

    pub fn save_refused(&self, grant: &JoinGrant, message: &str) -> Result<(), StoreError> {
        let text = format!("{}\n{message}\n", grant_hash(grant));
        self.write("refused-grant", text.as_bytes(), 0o600)
    }
}

/// A grant's hash: the file never holds the secret itself.
fn grant_hash(grant: &JoinGrant) -> String {
    let json = serde_json::to_vec(grant).unwrap_or_default();
    gantry_link::node::sha256_hex(&json)
}

#[cfg(test)]
#[path = "node_store_tests.rs"]
mod tests;
