//! Secrets at rest: secret access keys and session tokens are sealed with ChaCha20-Poly1305
//! before they reach the store, under a 32-byte key kept outside it, in
//! `<state_dir>/secret.key` (mode 0600, made on first use). A copy of the store alone
//! reveals no secret. Without a state dir (in-process tests) the key is random and lives in
//! memory only. The access key id is the associated data, so a sealed secret cannot be moved
//! onto another key's record.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const KEY_FILE: &str = "secret.key";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create the secret key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret key {path} is {len} bytes, not 32: restore it from a backup (stored secrets cannot be read without it)")]
    BadKey { path: PathBuf, len: usize },
    #[error("a stored secret cannot be decrypted: the secret key is not the one it was sealed with, or the record is damaged")]
    Open,
    #[error("could not encrypt a secret")]
    Seal,
}

/// Seals and opens secrets under one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The sealer of `state_dir` (its key file, made on first use), or of the process when
    /// there is none. Loaded once per directory.
    pub fn for_state_dir(state_dir: Option<&Path>) -> Result<Self, SecretError> {
        Self::for_config(state_dir, None)
    }

    /// The sealer of `key_file` when the operator gave one (it must exist: every replica of
    /// a cluster needs the same key, so none is made), else of `state_dir`. Loaded once per
    /// path.
    pub fn for_config(
        state_dir: Option<&Path>,
        key_file: Option<&Path>,
    ) -> Result<Self, SecretError> {
        static CACHE: OnceLock<Mutex<HashMap<Option<PathBuf>, Sealer>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let path = key_path(state_dir, key_file);
        if let Some(s) = cache.get(&path) {
            return Ok(s.clone());
        }
        let key = match (&path, key_file) {
            (Some(p), Some(_)) => load(p)?,
            (Some(p), None) => load_or_create(p)?,
            (None, _) => rand::random::<[u8; 32]>(),
        };
        let sealer = Self::from_key(&key);
        cache.insert(path, sealer.clone());
        Ok(sealer)
    }

    /// `hex(nonce ‖ ciphertext)`, bound to `context` (the access key id).
    pub fn seal(&self, context: &str, secret: &str) -> Result<String, SecretError> {
        let nonce = rand::random::<[u8; NONCE_LEN]>();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(hex::encode(out))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        let bytes = hex::decode(sealed).map_err(|_| SecretError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Open);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

/// Where the key of a server with `state_dir` and `key_file` is (none: in memory).
pub fn key_path(state_dir: Option<&Path>, key_file: Option<&Path>) -> Option<PathBuf> {
    key_file
        .map(Path::to_path_buf)
        .or_else(|| state_dir.map(|d| d.join(KEY_FILE)))
}

fn load(path: &Path) -> Result<[u8; 32], SecretError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| SecretError::BadKey {
        path: path.to_path_buf(),
        len: bytes.len(),
    })
}

fn load_or_create(path: &Path) -> Result<[u8; 32], SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // create_new: two servers starting on one state dir cannot both write a key.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let key = rand::random::<[u8; 32]>();
            f.write_all(&key).and_then(|()| f.sync_all()).map_err(io)?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(path),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let s = Sealer::from_key(&[7; 32]);
        let sealed = s.seal("AKIA1", "wJalrXUtnFEMI").unwrap();
        assert!(!sealed.contains("wJalr"));
        assert_eq!(s.open("AKIA1", &sealed).unwrap(), "wJalrXUtnFEMI");
        assert!(s.open("AKIA2", &sealed).is_err(), "bound to its key id");
        assert!(Sealer::from_key(&[8; 32]).open("AKIA1", &sealed).is_err());
        assert_ne!(
            sealed,
            s.seal("AKIA1", "wJalrXUtnFEMI").unwrap(),
            "fresh nonce"
        );
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("gantry-secret-{}", uuid::Uuid::new_v4()));
        let path = dir.join(KEY_FILE);
        let k1 = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), k1);
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(SecretError::BadKey { len: 5, .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
