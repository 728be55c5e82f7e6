//! Overlay rootfs assembly: image layers as read-only lowers, a per-container upper dir.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The kernel copies mount data into one page.
const MAX_MOUNT_DATA: usize = 4095;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("cannot mount a rootfs with no layers")]
    NoLayers,
    #[error("layer path {0:?} contains ',' or ':' which overlay options cannot carry; use an image store root without them")]
    BadPath(PathBuf),
    #[error("overlay options for {layers} layers are {len} bytes, over the kernel's {MAX_MOUNT_DATA}-byte limit; use an image with fewer layers or a shorter image store root")]
    TooManyLayers { layers: usize, len: usize },
    #[error("preparing {}: {source}", path.display())]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting overlay at {}: {source}; the node needs overlayfs and CAP_SYS_ADMIN", path.display())]
    Mount {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("unmounting {}: {source}", path.display())]
    Unmount {
        path: PathBuf,
        #[source]
        source: Errno,
    },
}

/// Mounts an overlay of `layers` (bottom first) at `dir/rootfs`, with `dir/upper` and
/// `dir/work`. Returns the rootfs path. Mounting an already mounted `dir` is a no-op.
pub fn mount_rootfs(layers: &[PathBuf], dir: &Path) -> Result<PathBuf, MountError> {
    if layers.is_empty() {
        return Err(MountError::NoLayers);
    }
    let rootfs = dir.join("rootfs");
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).map_err(|source| MountError::Prepare {
            path: d.clone(),
            source,
        })?;
    }
    if is_mounted(&rootfs) {
        return Ok(rootfs);
    }
    // Overlay lists lowerdirs top first.
    let mut lower = String::new();
    for l in layers.iter().rev() {
        let s = option_path(l)?;
        if !lower.is_empty() {
            lower.push(':');
        }
        lower.push_str(&s);
    }
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        option_path(&upper)?,
        option_path(&work)?
    );
    if data.len() > MAX_MOUNT_DATA {
        return Err(MountError::TooManyLayers {
            layers: layers.len(),
            len: data.len(),
        });
    }
    mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| MountError::Mount {
        path: rootfs.clone(),
        source,
    })?;
    Ok(rootfs)
}

/// Unmounts `dir/rootfs`. Fine if it is not mounted or does not exist.
pub fn unmount_rootfs(dir: &Path) -> Result<(), MountError> {
    let rootfs = dir.join("rootfs");
    match umount2(&rootfs, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(source) => Err(MountError::Unmount {
            path: rootfs,
            source,
        }),
    }
}

fn option_path(p: &Path) -> Result<String, MountError> {
    match p.to_str() {
        Some(s) if !s.contains([',', ':']) => Ok(s.to_string()),
        _ => Err(MountError::BadPath(p.to_path_buf())),
    }
}

/// A mount point sits on a different device than its parent.
fn is_mounted(p: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::symlink_metadata(p),
        p.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}
