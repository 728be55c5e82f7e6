//! Image cache GC: removes least-recently-used images nobody references, and what only
//! they use.
//!
//! An image is a manifest digest with a last-use time (see `refindex`). Its content is the
//! manifest and config blobs and the layers its config lists; a layer or blob is deleted only
//! when no kept image lists it. Blobs and layers no image lists at all (left by failed pulls)
//! are removed too, unless some kept image's manifest cannot be read, since its layers are
//! then unknown. The GC holds the store's lock exclusively, so no `ensure` is half-way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::digest::hex_of;
use crate::manifest::{self, Document};
use crate::reference::ImageRef;
use crate::refindex::unix_ms;
use crate::store::Inner;
use crate::{ImageError, ImageStore};

/// What [`ImageStore::gc`] may remove.
#[derive(Debug, Clone, Copy)]
pub struct GcPolicy<'a> {
    /// Images used (returned by `ensure`) more recently than this are kept. Must exceed the
    /// time between an `ensure` and the task showing up in `referenced`.
    pub min_age: Duration,
    /// Stop once the store (blobs and layers, in disk blocks) is at most this big; `None`
    /// removes every eligible image.
    pub keep_bytes: Option<u64>,
    /// Images in use by tasks: image digests (`Image::digest`, which keeps exactly that image
    /// even after its tag moved) or references (which keep what they resolve to now).
    pub referenced: &'a HashSet<String>,
}

/// What [`ImageStore::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Manifest digests, least recently used first.
    pub removed_images: Vec<String>,
    /// Diff ids of the layer directories deleted.
    pub removed_layers: Vec<String>,
    /// Disk blocks (bytes) freed: layers and blobs.
    pub freed_bytes: u64,
    /// Disk blocks (bytes) still used by blobs and layers.
    pub kept_bytes: u64,
}

impl ImageStore {
    /// Removes unreferenced images unused for `policy.min_age` (as of `now`), least recently
    /// used first, and the layers and blobs no kept image needs. Waits for running `ensure`
    /// calls and holds new ones back while it runs.
    pub async fn gc(&self, policy: GcPolicy<'_>, now: SystemTime) -> Result<GcReport, ImageError> {
        let guard = Arc::clone(&self.inner.gc_lock).write_owned().await;
        let inner = Arc::clone(&self.inner);
        let referenced = policy.referenced.clone();
        let (min_age, keep_bytes) = (policy.min_age, policy.keep_bytes);
        let res = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            inner.gc(min_age, keep_bytes, &referenced, now)
        })
        .await
        .map_err(|e| ImageError::io(&self.inner.root, std::io::Error::other(e)))?;
        self.inner.prune_layer_locks();
        res
    }
}

/// An image's blobs (manifest, config) and layers (diff ids).
struct Parts {
    blobs: Vec<String>,
    layers: Vec<String>,
}

impl Inner {
    fn parts(&self, digest: &str) -> Option<Parts> {
        let bytes = self.read_stored(digest)?;
        let Ok(Document::Manifest(m)) = manifest::parse_document(&bytes) else {
            return None;
        };
        let config = self.read_stored(&m.config.digest)?;
        let parsed = manifest::parse_config(&config, m.layers.len()).ok()?;
        Some(Parts {
            blobs: vec![digest.to_string(), m.config.digest],
            layers: parsed.diff_ids,
        })
    }

    fn gc(
        &self,
        min_age: Duration,
        keep_bytes: Option<u64>,
        referenced: &HashSet<String>,
        now: SystemTime,
    ) -> Result<GcReport, ImageError> {
        let (refs, images) = self.index.snapshot();
        let protected = protected(referenced, &refs);
        let parts: BTreeMap<&String, Option<Parts>> =
            images.keys().map(|d| (d, self.parts(d))).collect();
        let cutoff =
            unix_ms(now).saturating_sub(u64::try_from(min_age.as_millis()).unwrap_or(u64::MAX));
        let mut candidates: Vec<(u64, &String)> = images
            .iter()
            .filter(|(d, rec)| !protected.contains(d.as_str()) && rec.last_used_ms <= cutoff)
            .map(|(d, rec)| (rec.last_used_ms, d))
            .collect();
        candidates.sort();

        // How many recorded images list each blob and layer (by hex name on disk).
        let mut users: HashMap<(Kind, String), usize> = HashMap::new();
        for p in parts.values().flatten() {
            for b in &p.blobs {
                *users
                    .entry((Kind::Blob, hex_of(b).to_string()))
                    .or_default() += 1;
            }
            for l in &p.layers {
                *users
                    .entry((Kind::Layer, hex_of(l).to_string()))
                    .or_default() += 1;
            }
        }
        let mut on_disk = self.list_disk()?;
        let mut report = GcReport::default();
        let all_known = parts.values().all(Option::is_some);
        if all_known {
            let orphans: Vec<_> = on_disk
                .keys()
                .filter(|k| !users.contains_key(*k))
                .cloned()
                .collect();
            for k in orphans {
                tracing::debug!(kind = ?k.0, name = %k.1, "removing content no image lists");
                self.delete(&k, &mut on_disk, &mut report)?;
            }
        } else {
            tracing::warn!("an image's manifest or config is unreadable; leaving unlisted blobs and layers in place");
        }

        let mut removed = Vec::new();
        for (_, digest) in candidates {
            if keep_bytes.is_some_and(|k| on_disk.values().sum::<u64>() <= k) {
                break;
            }
            let own: Vec<(Kind, String)> = match &parts[digest] {
                Some(p) => p
                    .blobs
                    .iter()
                    .map(|b| (Kind::Blob, hex_of(b).to_string()))
                    .chain(
                        p.layers
                            .iter()
                            .map(|l| (Kind::Layer, hex_of(l).to_string())),
                    )
                    .collect(),
                None => vec![(Kind::Blob, hex_of(digest).to_string())],
            };
            for k in own {
                let n = users.entry(k.clone()).or_insert(1);
                *n = n.saturating_sub(1);
                if *n == 0 {
                    if k.0 == Kind::Layer && on_disk.contains_key(&k) {
                        report.removed_layers.push(format!("sha256:{}", k.1));
                    }
                    self.delete(&k, &mut on_disk, &mut report)?;
                }
            }
            removed.push(digest.clone());
        }
        self.index.remove_images(&removed)?;
        report.removed_images = removed;
        report.kept_bytes = on_disk.values().sum();
        Ok(report)
    }

    /// Every blob and layer on disk with its size.
    fn list_disk(&self) -> Result<HashMap<(Kind, String), u64>, ImageError> {
        let mut out = HashMap::new();
        for (kind, dir) in [
            (Kind::Blob, self.root.join("blobs/sha256")),
            (Kind::Layer, self.root.join("layers")),
        ] {
            let entries = std::fs::read_dir(&dir).map_err(|e| ImageError::io(&dir, e))?;
            for e in entries {
                let e = e.map_err(|e| ImageError::io(&dir, e))?;
                let name = e.file_name().to_string_lossy().into_owned();
                let size = disk_usage(&e.path()).map_err(|err| ImageError::io(e.path(), err))?;
                out.insert((kind, name), size);
            }
        }
        Ok(out)
    }

    fn delete(
        &self,
        k: &(Kind, String),
        on_disk: &mut HashMap<(Kind, String), u64>,
        report: &mut GcReport,
    ) -> Result<(), ImageError> {
        let Some(size) = on_disk.remove(k) else {
            return Ok(());
        };
        let res = match k.0 {
            Kind::Blob => std::fs::remove_file(self.root.join("blobs/sha256").join(&k.1)),
            Kind::Layer => std::fs::remove_dir_all(self.root.join("layers").join(&k.1)),
        };
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io(self.root.join(&k.1), e)),
        }
        report.freed_bytes += size;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Blob,
    Layer,
}

/// Digests of the images `referenced` names, directly or through a reference.
fn protected(referenced: &HashSet<String>, refs: &BTreeMap<String, String>) -> HashSet<String> {
    let mut out = HashSet::new();
    for s in referenced {
        if manifest::check_digest(s).is_ok() {
            out.insert(s.clone());
            continue;
        }
        if let Some(d) = refs.get(s) {
            out.insert(d.clone());
        }
        if let Ok(r) = ImageRef::parse(s) {
            if let Some(d) = refs.get(&r.to_string()) {
                out.insert(d.clone());
            }
            if let Some(d) = r.digest {
                out.insert(d);
            }
        }
    }
    out
}

/// Disk blocks under `path`, without following symlinks, each inode once.
fn disk_usage(path: &Path) -> std::io::Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p)?;
        if seen.insert((md.dev(), md.ino())) {
            total += md.blocks() * 512;
        }
        if md.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(total)
}
