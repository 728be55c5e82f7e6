//! The crate's error, gathering each module's own enum.

use std::path::PathBuf;

pub use crate::layout::LayoutError;
pub use crate::manifest::ManifestError;
pub use crate::mount::MountError;
pub use crate::registry::RegistryError;
pub use crate::unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("image {reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: ManifestError,
    },
    #[error("failed to unpack layer {digest} of {reference}: {source}")]
    Unpack {
        reference: String,
        digest: String,
        #[source]
        source: UnpackError,
    },
    #[error("{what} {expected} of {reference} has the wrong content (got {actual}); the source served corrupt data: retry, or re-push the image")]
    DigestMismatch {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{what} {digest} of {reference} is larger than the {limit} bytes allowed; the image metadata is corrupt")]
    BlobTooLarge {
        reference: String,
        what: &'static str,
        digest: String,
        limit: u64,
    },
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error("image store {}: {source}; check that the image store root is writable and has free space", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// The `stoppedReason`/container `reason` ECS reports for a failed pull.
    pub fn cannot_pull_reason(&self) -> String {
        format!("CannotPullContainerError: {self}")
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
