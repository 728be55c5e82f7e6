//! The master keys that wrap Secrets Manager's data keys, kept outside the store: a key ring
//! file, `<state_dir>/secrets-master.keys` (mode 0600, made on first start) or the one the
//! operator names with `--secrets-master-key-file` (it must exist: every replica of a
//! cluster needs the same keys, so none is made). One key a line, `<id> <64 hex digits>`;
//! the last line is the current key, the one new data keys are wrapped with; the older ones
//! stay to unwrap what was wrapped before a rotation until [`super::rewrap`] has moved it.
//!
//! The file is read again whenever its size or modification time changes, so
//! `gantry secrets rotate-master-key` takes effect on a running server without a restart.
//! Without a state dir (in-process tests) the ring is one random key in memory.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The default file name under the state dir.
pub const FILE: &str = "secrets-master.keys";

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("cannot read or create the secrets master key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secrets master key file {path} is malformed at line {line}: each line must be `<key id> <64 hex digits>`")]
    Malformed { path: PathBuf, line: usize },
    #[error("the secrets master key file {path} holds no key")]
    Empty { path: PathBuf },
}

/// One master key. The bytes never reach a log line.
#[derive(Clone)]
pub struct MasterKey {
    pub id: String,
    pub key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Loaded {
    keys: Vec<MasterKey>,
    stamp: Option<(u64, SystemTime)>,
}

/// The master keys of one server.
#[derive(Debug)]
pub struct KeyRing {
    path: Option<PathBuf>,
    /// The operator named the file: it must exist.
    given: bool,
    loaded: Mutex<Option<Loaded>>,
}

impl KeyRing {
    /// The ring of a server with `state_dir` and the operator's `key_file`, not read yet.
    pub fn new(state_dir: Option<&Path>, key_file: Option<&Path>) -> Self {
        let path = key_file
            .map(Path::to_path_buf)
            .or_else(|| state_dir.map(|d| d.join(FILE)));
        Self {
            path,
            given: key_file.is_some(),
            loaded: Mutex::new(None),
        }
    }

    /// Where the ring is (none: in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The key new data keys are wrapped with.
    pub fn current(&self) -> Result<MasterKey, KeyRingError> {
        self.with(|keys| keys.last().cloned())
            .and_then(|k| k.ok_or_else(|| self.empty()))
    }

    /// The key of id `id`, if the ring (read again if the file changed) holds it.
    pub fn get(&self, id: &str) -> Result<Option<MasterKey>, KeyRingError> {
        self.with(|keys| keys.iter().find(|k| k.id == id).cloned())
    }

    fn empty(&self) -> KeyRingError {
        KeyRingError::Empty {
            path: self.path.clone().unwrap_or_default(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&[MasterKey]) -> R) -> Result<R, KeyRingError> {
        let mut guard = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.path else {
            let l = guard.get_or_insert_with(|| Loaded {
                keys: vec![new_key()],
                stamp: None,
            });
            return Ok(f(&l.keys));
        };
        if !self.given && guard.is_none() {
            create_if_missing(path)?;
        }
        let stamp = stamp_of(path)?;
        if guard.as_ref().is_none_or(|l| l.stamp != Some(stamp)) {
            let keys = read(path)?;
            if keys.is_empty() {
                return Err(self.empty());
            }
            *guard = Some(Loaded {
                keys,
                stamp: Some(stamp),
            });
        }
        Ok(f(guard.as_ref().map_or(&[][..], |l| &l.keys)))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyRingError + '_ {
    move |source| KeyRingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn stamp_of(path: &Path) -> Result<(u64, SystemTime), KeyRingError> {
    let m = std::fs::metadata(path).map_err(io(path))?;
    Ok((m.len(), m.modified().map_err(io(path))?))
}

fn new_key() -> MasterKey {
    let mut key = [0u8; 32];
    // aws-lc's DRBG; a failure here means the process cannot make keys at all.
    if aws_lc_rs::rand::fill(&mut key).is_err() {
        key = rand::random();
    }
    MasterKey {
        id: format!("mk-{}", hex::encode(rand::random::<[u8; 8]>())),
        key,
    }
}

fn line(k: &MasterKey) -> String {
    format!("{} {}\n", k.id, hex::encode(k.key))
}

/// The keys of ring file `path`, oldest first.
pub fn read(path: &Path) -> Result<Vec<MasterKey>, KeyRingError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut keys = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let bad = || KeyRingError::Malformed {
            path: path.to_path_buf(),
            line: n + 1,
        };
        let (id, hexkey) = l.split_once(' ').ok_or_else(bad)?;
        let bytes = hex::decode(hexkey.trim()).map_err(|_| bad())?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())?;
        keys.push(MasterKey {
            id: id.to_string(),
            key,
        });
    }
    Ok(keys)
}

fn create_if_missing(path: &Path) -> Result<(), KeyRingError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(path))?;
    }
    // create_new: two servers starting on one state dir cannot both write a ring.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => f
            .write_all(line(&new_key()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(path)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Adds a new current key to ring file `path` (made if missing), replacing the file
/// atomically with mode 0600; returns its id. Running servers pick it up at their next
/// wrap and re-wrap the data keys of older ones ([`super::rewrap`]).
pub fn rotate(path: &Path) -> Result<String, KeyRingError> {
    create_if_missing(path)?;
    let mut keys = read(path)?;
    let k = new_key();
    let id = k.id.clone();
    keys.push(k);
    let text: String = keys.iter().map(line).collect();
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(io(path))?;
    Ok(id)
}

/// Removes every key but the current one from ring file `path`, once no data key is wrapped
/// with them (the caller checks: `gantry secrets rotate-master-key --retire` after a re-wrap).
pub fn retire_old(path: &Path) -> Result<Vec<String>, KeyRingError> {
    let keys = read(path)?;
    let Some(current) = keys.last().cloned() else {
        return Err(KeyRingError::Empty {
            path: path.to_path_buf(),
        });
    };
    let old = keys[..keys.len() - 1]
        .iter()
        .map(|k| k.id.clone())
        .collect();
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(line(&current).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(io(path))?;
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_ring_is_made_0600_and_a_rotation_adds_a_current_key() {
        let dir = std::env::temp_dir().join(format!("gantry-ring-{}", uuid::Uuid::new_v4()));
        let ring = KeyRing::new(Some(&dir), None);
        let first = ring.current().unwrap();
        let path = dir.join(FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let id = rotate(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            ring.current().unwrap().id,
            id,
            "picked up without a restart"
        );
        assert_eq!(ring.get(&first.id).unwrap().unwrap().key, first.key);
        assert_eq!(retire_old(&path).unwrap(), vec![first.id.clone()]);
        assert!(ring.get(&first.id).unwrap().is_none());
        std::fs::write(&path, "mk-1 nothex\n").unwrap();
        assert!(matches!(
            ring.current(),
            Err(KeyRingError::Malformed { line: 1, .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_given_file_must_exist() {
        let p = std::env::temp_dir().join(format!("gantry-ring-{}", uuid::Uuid::new_v4()));
        let ring = KeyRing::new(None, Some(&p));
        assert!(matches!(ring.current(), Err(KeyRingError::Io { .. })));
        assert!(!p.exists());
    }
}
