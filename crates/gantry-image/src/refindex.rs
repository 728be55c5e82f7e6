//! reference -> manifest digest, and image digest -> last use, persisted as JSON (atomic write
//! via rename). The first is what "cached" means for the `once` and `prefer-cached` policies;
//! the second is what the image GC orders by.
//!
//! Images are tracked by digest, not by name: when a tag moves, the image it pointed at keeps
//! its record (tasks may still run it) until the GC removes it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::ImageError;

/// A use is written to disk at most this often per image (ms); in between it is only in
/// memory, so a restart can make an image look up to a minute older than it is.
const PERSIST_EVERY_MS: u64 = 60_000;

#[derive(Default, Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    references: BTreeMap<String, String>,
    /// Absent in version 1 files.
    #[serde(default)]
    images: BTreeMap<String, ImageRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    /// Milliseconds since the Unix epoch of the last `ensure` that returned this image.
    pub last_used_ms: u64,
}

#[derive(Default)]
struct State {
    refs: BTreeMap<String, String>,
    images: BTreeMap<String, ImageRecord>,
    /// `images` as last written.
    written: BTreeMap<String, ImageRecord>,
}

pub(crate) struct RefIndex {
    path: PathBuf,
    state: Mutex<State>,
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl RefIndex {
    /// A corrupt index only costs re-pulls, so it is reset with a warning, not fatal.
    /// Images of a version 1 index (no use times) count as used now.
    pub(crate) fn load(path: PathBuf, now: SystemTime) -> Result<Self, ImageError> {
        let file = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<IndexFile>(&bytes) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "image reference index is corrupt; starting empty");
                    IndexFile::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => IndexFile::default(),
            Err(e) => return Err(ImageError::io(path, e)),
        };
        let mut images = file.images;
        for digest in file.references.values() {
            images.entry(digest.clone()).or_insert(ImageRecord {
                last_used_ms: unix_ms(now),
            });
        }
        Ok(Self {
            path,
            state: Mutex::new(State {
                refs: file.references,
                written: images.clone(),
                images,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.lock().refs.get(key).cloned()
    }

    /// Records that `key` resolved to `digest` and that the image was used at `now`.
    pub(crate) fn touch(&self, key: &str, digest: &str, now: SystemTime) -> Result<(), ImageError> {
        let mut st = self.lock();
        let now = unix_ms(now);
        let moved = st.refs.get(key).map(String::as_str) != Some(digest);
        if moved {
            st.refs.insert(key.to_string(), digest.to_string());
        }
        let rec = st
            .images
            .entry(digest.to_string())
            .or_insert(ImageRecord { last_used_ms: now });
        rec.last_used_ms = rec.last_used_ms.max(now);
        let stale = st
            .written
            .get(digest)
            .is_none_or(|w| now.saturating_sub(w.last_used_ms) >= PERSIST_EVERY_MS);
        if moved || stale {
            self.persist(&mut st)?;
        }
        Ok(())
    }

    /// (reference -> digest, digest -> record), as of now.
    pub(crate) fn snapshot(&self) -> (BTreeMap<String, String>, BTreeMap<String, ImageRecord>) {
        let st = self.lock();
        (st.refs.clone(), st.images.clone())
    }

    /// Forgets the images and every reference that points at one of them.
    pub(crate) fn remove_images(&self, digests: &[String]) -> Result<(), ImageError> {
        if digests.is_empty() {
            return Ok(());
        }
        let mut st = self.lock();
        for d in digests {
            st.images.remove(d);
        }
        st.refs.retain(|_, d| !digests.contains(d));
        self.persist(&mut st)
    }

    fn persist(&self, st: &mut State) -> Result<(), ImageError> {
        let file = IndexFile {
            version: 2,
            references: st.refs.clone(),
            images: st.images.clone(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| ImageError::io(&self.path, e))?;
        st.written = st.images.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gantry-refindex-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir.join("references.json")
    }

    #[test]
    fn version_1_files_load_with_images_used_now() {
        let path = temp("v1");
        std::fs::write(
            &path,
            r#"{"version":1,"references":{"docker.io/library/a:1":"sha256:aa"}}"#,
        )
        .expect("write");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let idx = RefIndex::load(path.clone(), now).expect("load");
        let (refs, images) = idx.snapshot();
        assert_eq!(refs.len(), 1);
        assert_eq!(images["sha256:aa"].last_used_ms, 1_000_000);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn uses_are_kept_in_memory_and_persisted_at_most_every_minute() {
        let path = temp("touch");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let idx = RefIndex::load(path.clone(), t0).expect("load");
        idx.touch("r", "sha256:aa", t0).expect("touch");
        idx.touch("r", "sha256:aa", t0 + Duration::from_secs(5))
            .expect("touch");
        assert_eq!(idx.snapshot().1["sha256:aa"].last_used_ms, 1_005_000);
        let reloaded = RefIndex::load(path.clone(), t0).expect("reload");
        assert_eq!(reloaded.snapshot().1["sha256:aa"].last_used_ms, 1_000_000);
        idx.touch("r", "sha256:aa", t0 + Duration::from_secs(61))
            .expect("touch");
        let reloaded = RefIndex::load(path.clone(), t0).expect("reload");
        assert_eq!(reloaded.snapshot().1["sha256:aa"].last_used_ms, 1_061_000);
        // A moved tag keeps the old image's record; removing it drops its references.
        idx.touch("r", "sha256:bb", t0).expect("touch");
        idx.touch("s", "sha256:aa", t0).expect("touch");
        idx.remove_images(&["sha256:aa".to_string()])
            .expect("remove");
        let (refs, images) = RefIndex::load(path.clone(), t0).expect("reload").snapshot();
        assert_eq!(
            refs.into_iter().collect::<Vec<_>>(),
            [("r".to_string(), "sha256:bb".to_string())]
        );
        assert!(!images.contains_key("sha256:aa"));
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
