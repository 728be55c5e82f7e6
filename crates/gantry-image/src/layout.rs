//! Local OCI image layouts: the offline preload mechanism (like ECS's cached images).
//!
//! A configured path is either a layout itself or a directory of layouts. A reference matches
//! the layout directory named after its last repository component whose `index.json` lists a
//! manifest annotated `org.opencontainers.image.ref.name` with the whole reference, or, for
//! references without a registry of their own (Docker Hub names such as `busybox:latest`, or
//! the `gantry.local/` prefix), with the reference's tag; a digest reference matches that
//! digest. A reference naming another registry (`127.0.0.1:5000/busybox`) is pulled from it.

use std::path::PathBuf;

use crate::manifest::{self, Descriptor, Index};
use crate::reference::ImageRef;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The registry name that always means "from a local layout".
pub const LOCAL_REGISTRY: &str = "gantry.local";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("OCI layout {}: cannot read {file}: {source}; check the layouts configured for the image store", path.display())]
    Read {
        path: PathBuf,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("OCI layout {}: index.json is invalid: {source}; rebuild the layout", path.display())]
    Index {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A layout directory and the manifest (or nested index) it holds for a reference.
pub(crate) struct LayoutMatch {
    pub dir: PathBuf,
    pub descriptor: Descriptor,
}

impl LayoutMatch {
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(crate::digest::hex_of(digest))
    }
}

/// Finds the first configured layout holding `r`. Layouts whose directory name does not match
/// are not opened; a matching directory without a usable index.json is an error.
pub(crate) fn find(layouts: &[PathBuf], r: &ImageRef) -> Result<Option<LayoutMatch>, LayoutError> {
    for configured in layouts {
        let dir = if configured.file_name().and_then(|n| n.to_str()) == Some(r.short_name()) {
            configured.clone()
        } else {
            configured.join(r.short_name())
        };
        let dir = &dir;
        let index_path = dir.join("index.json");
        let bytes = match std::fs::read(&index_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(LayoutError::Read {
                    path: dir.clone(),
                    file: "index.json".into(),
                    source,
                })
            }
        };
        let index: Index = serde_json::from_slice(&bytes).map_err(|source| LayoutError::Index {
            path: dir.clone(),
            source,
        })?;
        if let Some(d) = index.manifests.into_iter().find(|d| matches(d, r)) {
            if manifest::check_digest(&d.digest).is_ok() {
                return Ok(Some(LayoutMatch {
                    dir: dir.clone(),
                    descriptor: d,
                }));
            }
        }
    }
    Ok(None)
}

fn matches(d: &Descriptor, r: &ImageRef) -> bool {
    if let Some(digest) = &r.digest {
        return &d.digest == digest;
    }
    let Some(name) = d.annotations.get(REF_NAME) else {
        return false;
    };
    let tag = r.tag.as_deref().unwrap_or("latest");
    let local_name =
        r.registry == crate::reference::DEFAULT_REGISTRY || r.registry == LOCAL_REGISTRY;
    (local_name && name == tag) || ImageRef::parse(name).is_ok_and(|n| n == *r)
}

pub(crate) fn read_blob(m: &LayoutMatch, digest: &str) -> Result<Vec<u8>, LayoutError> {
    let path = m.blob_path(digest);
    std::fs::read(&path).map_err(|source| LayoutError::Read {
        path: m.dir.clone(),
        file: format!("blobs/sha256/{}", crate::digest::hex_of(digest)),
        source,
    })
}
