//! gantry-image: makes OCI images available on a node and assembles container root
//! filesystems from them.
//!
//! Sources are local OCI layouts (the offline preload mechanism) and registries (OCI
//! distribution protocol through oci-client). Every blob is verified against its digest
//! before use, layers are unpacked once into a content-addressed store (by diff_id) and
//! shared between images, and a container's rootfs is an overlay of those layers.
//!
//! Must never: write outside a layer directory whatever an archive says, use content whose
//! digest was not checked, or leave a half-unpacked layer where a complete one is expected.

mod digest;
mod error;
mod fetch;
mod gc;
mod layout;
mod manifest;
mod mount;
mod reference;
mod refindex;
mod registry;
mod store;
mod unpack;
mod unpack_limits;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use error::{ImageError, LayoutError, ManifestError, MountError, RegistryError, UnpackError};
pub use gc::{GcPolicy, GcReport};
pub use manifest::ImageConfig;
pub use mount::{mount_rootfs, unmount_rootfs};
pub use reference::validate_reference;
pub use store::ImageStore;

/// Entry point for the unpacker's fuzz target (`crates/gantry-image/fuzz`); not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::path::Path;

    pub use crate::unpack::UnpackError;

    /// Unpacks `archive` (gzip if `gzip`, else plain tar) into the existing, empty `dest`,
    /// with at most `max_unpacked_bytes` written. Returns the diff_id.
    pub fn unpack(
        archive: &[u8],
        gzip: bool,
        dest: &Path,
        max_unpacked_bytes: u64,
    ) -> Result<String, UnpackError> {
        let compression = if gzip {
            crate::manifest::Compression::Gzip
        } else {
            crate::manifest::Compression::None
        };
        let budget = crate::unpack::Budget::new(max_unpacked_bytes);
        crate::unpack::unpack_layer(archive, compression, dest, &budget)
    }
}

/// Default cap on the bytes one pull may unpack (8 GiB).
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 8 << 30;

/// When to contact the registry; the values of ECS's `ECS_IMAGE_PULL_BEHAVIOR`.
///
/// A matching local OCI layout is used under every policy: layouts are the operator's
/// preload, like images cached on an ECS AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull every time; if the pull fails, use the cached image when there is one.
    #[default]
    Default,
    /// Pull every time; a failed pull fails.
    Always,
    /// Pull only if this store has never pulled the reference.
    Once,
    /// Use the cached image when there is one, otherwise pull.
    PreferCached,
}

impl FromStr for PullPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "default" => Ok(Self::Default),
            "always" => Ok(Self::Always),
            "once" => Ok(Self::Once),
            "prefer-cached" | "prefer_cached" => Ok(Self::PreferCached),
            other => Err(format!(
                "unknown image pull behavior {other:?}: use default, always, once or prefer-cached"
            )),
        }
    }
}

/// Registry credentials (ECS `repositoryCredentials`). Used for basic auth, or to obtain a
/// bearer token when the registry asks for one.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct ImageStoreConfig {
    /// State directory: `blobs/sha256/`, `layers/<diff-id hex>/`, `tmp/`, `references.json`.
    pub root: PathBuf,
    /// OCI layout directories searched first (directory name = last repository component).
    pub layouts: Vec<PathBuf>,
    /// `host[:port]` registries allowed over plain HTTP; loopback hosts always are.
    pub insecure_registries: Vec<String>,
    /// Cap on the bytes one pull may unpack (file contents plus a small per-entry cost).
    pub max_unpacked_bytes: u64,
}

impl ImageStoreConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            layouts: Vec::new(),
            insecure_registries: Vec::new(),
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
        }
    }
}

/// An image ready for the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The reference as the caller gave it.
    pub reference: String,
    /// Digest of the image manifest (the platform's manifest when the reference names an index).
    pub digest: String,
    pub config: ImageConfig,
    /// Unpacked layer directories, bottom first; pass to [`mount_rootfs`].
    pub layers: Vec<PathBuf>,
}
