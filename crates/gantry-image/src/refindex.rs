//! reference -> manifest digest, persisted as JSON (atomic write via rename).
//! This is what "cached" means for the `once` and `prefer-cached` policies.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ImageError;

#[derive(Default, Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    references: BTreeMap<String, String>,
}

pub(crate) struct RefIndex {
    path: PathBuf,
    map: Mutex<BTreeMap<String, String>>,
}

impl RefIndex {
    /// A corrupt index only costs re-pulls, so it is reset with a warning, not fatal.
    pub(crate) fn load(path: PathBuf) -> Result<Self, ImageError> {
        let map = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<IndexFile>(&bytes) {
                Ok(f) => f.references,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "image reference index is corrupt; starting empty");
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ImageError::io(path, e)),
        };
        Ok(Self {
            path,
            map: Mutex::new(map),
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub(crate) fn set(&self, key: &str, digest: &str) -> Result<(), ImageError> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).map(String::as_str) == Some(digest) {
            return Ok(());
        }
        map.insert(key.to_string(), digest.to_string());
        let file = IndexFile {
            version: 1,
            references: map.clone(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| ImageError::io(&self.path, e))
    }
}
