//! Safe layer unpacking. Every archive is hostile.
//!
//! Nothing is written by path: each entry's parent directory is reached from the layer
//! root one component at a time with `openat(O_NOFOLLOW | O_DIRECTORY)`, so a symlink (or a
//! file) on the way is refused instead of followed, and `..` components are refused outright.
//! Final components are created with `O_EXCL | O_NOFOLLOW`, `symlinkat`, `linkat` (never
//! following), so an existing symlink is replaced, never written through. Hard links must
//! name a target inside the layer. Whiteouts become overlayfs whiteouts (char device 0/0);
//! `.wh..wh..opq` sets `trusted.overlay.opaque=y`. Device nodes are skipped. setuid/setgid
//! bits are kept: images legitimately ship them (`su`, `ping`), and what they can do is bounded
//! by the container's user namespace, capabilities and `no_new_privs`, not by the unpacker.
//! PAX xattrs are not applied (so an image cannot plant `trusted.overlay.*` attributes).
//! The caller must run as root (chown, mknod, trusted.* xattrs).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::Timespec;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::digest::HashingReader;
use crate::manifest::Compression;
pub(crate) use crate::unpack_limits::Budget;
use crate::unpack_limits::{HeaderGuard, ENTRY_COST, MAX_HEADER_BYTES};

/// Linux PATH_MAX (with its NUL) and NAME_MAX.
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(
        "layer entry {path:?} contains '..'; the layer is malicious or corrupt and was refused"
    )]
    DotDot { path: String },
    #[error("layer entry {path:?} goes through the symlink {via:?}; writing through links is refused, the layer was refused")]
    ThroughSymlink { path: String, via: String },
    #[error("layer entry {path:?}: {via:?} is not a directory; the layer is corrupt")]
    NotADirectory { path: String, via: String },
    #[error("layer hard link {path:?} -> {target:?} does not point at an existing file inside the layer; the layer was refused")]
    BadHardLink { path: String, target: String },
    #[error("layer whiteout {path:?} is invalid; the layer was refused")]
    BadWhiteout { path: String },
    #[error("layer entry {path:?} has an empty name or an invalid owner; the layer is corrupt")]
    BadEntry { path: String },
    #[error("image unpacks to more than {limit} bytes; raise max_unpacked_bytes if this image is legitimate")]
    TooLarge { limit: u64 },
    #[error("layer entry header (GNU long name, PAX records or sparse map) is over {MAX_HEADER_BYTES} bytes; the layer is malicious or corrupt and was refused")]
    HeaderTooLarge,
    #[error("layer entry {path:?} ({len} bytes) has a path or link target longer than Linux allows ({PATH_MAX} bytes, {NAME_MAX} per component); the layer was refused")]
    PathTooLong { path: String, len: usize },
    #[error("layer entry {path:?}: {source}")]
    Fs { path: String, source: io::Error },
    #[error("reading layer archive: {0}; the blob is corrupt or truncated")]
    Archive(#[source] io::Error),
}

/// Unpacks `blob` (compressed as `compression`) into the existing, empty `dest`.
/// Returns the diff_id: the sha256 of the uncompressed tar stream.
pub(crate) fn unpack_layer<R: Read>(
    blob: R,
    compression: Compression,
    dest: &Path,
    budget: &Budget,
) -> Result<String, UnpackError> {
    let decoded: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::Decoder::new(blob).map_err(UnpackError::Archive)?),
    };
    let (guarded, window) = HeaderGuard::new(HashingReader::new(decoded));
    let mut archive = tar::Archive::new(guarded);
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fs_err(&dest.display().to_string(), e))?;
    let mut u = Unpacker {
        root,
        dest: dest.to_path_buf(),
        dirs: Vec::new(),
        cache: None,
        budget,
    };
    let mut entries = archive.entries().map_err(UnpackError::Archive)?;
    loop {
        window.open();
        let next = entries.next();
        let header_bytes = window.close();
        let mut entry = match next {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(_)) if window.tripped() => return Err(UnpackError::HeaderTooLarge),
            Some(Err(e)) => return Err(UnpackError::Archive(e)),
        };
        budget.take(ENTRY_COST + header_bytes)?;
        u.entry(&mut entry)?;
        // Whatever data the entry still has (a "directory" with a body, a skipped type) is read
        // here, against the budget, rather than skipped for free by the tar reader.
        u.copy(&mut entry, &mut io::sink(), "")?;
    }
    u.finish()?;
    // The tar reader stops at the end-of-archive marker; the diff_id covers the padding too.
    let mut rest = archive.into_inner().into_inner();
    let before = rest.count();
    io::copy(&mut (&mut rest).take(64 << 20), &mut io::sink()).map_err(UnpackError::Archive)?;
    budget.take(rest.count() - before)?;
    Ok(rest.digest())
}

/// Refuses paths the kernel could not name, before anything is created for them.
fn check_len(raw: &[u8], comps: &[Vec<u8>], path: &str) -> Result<(), UnpackError> {
    if raw.len() >= PATH_MAX || comps.iter().any(|c| c.len() > NAME_MAX) {
        let mut shown: String = path.chars().take(64).collect();
        if shown.len() < path.len() {
            shown.push_str("...");
        }
        return Err(UnpackError::PathTooLong {
            path: shown,
            len: raw.len(),
        });
    }
    Ok(())
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

struct Unpacker<'a> {
    root: OwnedFd,
    dest: PathBuf,
    /// Directory metadata, applied at the end (creating children changes a dir's mtime).
    dirs: Vec<(Vec<Vec<u8>>, Meta)>,
    /// The last parent opened: entries are usually grouped by directory.
    cache: Option<(Vec<Vec<u8>>, OwnedFd)>,
    budget: &'a Budget,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fs_err(path: &str, e: impl Into<io::Error>) -> UnpackError {
    UnpackError::Fs {
        path: path.to_string(),
        source: e.into(),
    }
}

/// Splits a tar path into components: leading `/` and `.` dropped, `..` refused.
fn components(raw: &[u8]) -> Result<Vec<Vec<u8>>, UnpackError> {
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(UnpackError::DotDot { path: lossy(raw) }),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn read_meta<R: Read>(e: &mut tar::Entry<'_, R>, path: &str) -> Result<Meta, UnpackError> {
    let h = e.header();
    let bad = || UnpackError::BadEntry {
        path: path.to_string(),
    };
    let mut uid = h.uid().map_err(|_| bad())?;
    let mut gid = h.gid().map_err(|_| bad())?;
    let mut mtime = i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0);
    let mode = h.mode().map_err(|_| bad())? & 0o7777;
    if let Ok(Some(pax)) = e.pax_extensions() {
        for ext in pax.flatten() {
            let value = ext.value().unwrap_or("");
            match ext.key() {
                Ok("uid") => uid = value.parse().map_err(|_| bad())?,
                Ok("gid") => gid = value.parse().map_err(|_| bad())?,
                Ok("mtime") => {
                    let secs = value.split('.').next().unwrap_or("0");
                    mtime = secs.parse().unwrap_or(mtime);
                }
                _ => {}
            }
        }
    }
    let id = |v: u64| {
        u32::try_from(v)
            .ok()
            .filter(|v| *v != u32::MAX)
            .ok_or_else(bad)
    };
    Ok(Meta {
        mode,
        uid: id(uid)?,
        gid: id(gid)?,
        mtime,
    })
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn owner(m: &Meta) -> (Option<rfs::Uid>, Option<rfs::Gid>) {
    (
        Some(rfs::Uid::from_raw(m.uid)),
        Some(rfs::Gid::from_raw(m.gid)),
    )
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = e.path_bytes().into_owned();
        let path = lossy(&raw);
        let comps = components(&raw)?;
        check_len(&raw, &comps, &path)?;
        if let Some(target) = e.link_name_bytes() {
            // Symlink targets may hold `..` (resolved in the container, never here): only the
            // length is checked.
            check_len(&target, &[], &path)?;
        }
        let kind = e.header().entry_type();
        let meta = read_meta(e, &path)?;
        let Some((name, parents)) = comps.split_last() else {
            // The layer root itself (`./`): only its metadata can be set.
            if kind.is_dir() {
                self.dirs.push((Vec::new(), meta));
                return Ok(());
            }
            return Err(UnpackError::BadEntry { path });
        };
        if let Some(target) = name.strip_prefix(b".wh.") {
            return self.whiteout(parents, target, &path);
        }
        let parent = self.open_dir(parents, &path)?;
        let name = name.as_slice();
        let err = |e: Errno| fs_err(&path, e);
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        self.remove(&parent, &comps, &path)?;
                        rfs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)).map_err(err)?;
                    }
                    Err(Errno::NOENT) => {
                        rfs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)).map_err(err)?
                    }
                    Err(e) => return Err(err(e)),
                }
                self.dirs.push((comps.clone(), meta));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                self.remove(&parent, &comps, &path)?;
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let fd =
                    rfs::openat(&parent, name, flags, Mode::from_raw_mode(0o600)).map_err(err)?;
                let mut file = File::from(fd);
                self.copy(e, &mut file, &path)?;
                let (u, g) = owner(&meta);
                rfs::fchown(&file, u, g).map_err(err)?;
                // After chown: chown clears setuid/setgid.
                rfs::fchmod(&file, Mode::from_raw_mode(meta.mode)).map_err(err)?;
                rfs::futimens(&file, &times(meta.mtime)).map_err(err)?;
            }
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::BadEntry { path: path.clone() })?
                    .into_owned();
                self.remove(&parent, &comps, &path)?;
                // The target is stored, never followed while unpacking.
                rfs::symlinkat(target.as_slice(), &parent, name).map_err(err)?;
                self.set_link_meta(&parent, name, &meta, &path)?;
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::BadEntry { path: path.clone() })?
                    .into_owned();
                self.hard_link(&parent, &comps, &target, &path)?;
            }
            T::Fifo => {
                self.remove(&parent, &comps, &path)?;
                let mode = Mode::from_raw_mode(meta.mode);
                rfs::mknodat(&parent, name, FileType::Fifo, mode, 0).map_err(err)?;
                self.set_link_meta(&parent, name, &meta, &path)?;
            }
            T::Char | T::Block => {
                tracing::debug!(path, "skipping device node in layer");
            }
            other => {
                tracing::debug!(path, kind = ?other, "skipping unsupported layer entry type");
            }
        }
        Ok(())
    }

    fn copy<R: Read, W: Write>(
        &self,
        src: &mut R,
        dst: &mut W,
        path: &str,
    ) -> Result<(), UnpackError> {
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = src.read(&mut buf).map_err(UnpackError::Archive)?;
            if n == 0 {
                return Ok(());
            }
            self.budget.take(n as u64)?;
            dst.write_all(&buf[..n]).map_err(|e| fs_err(path, e))?;
        }
    }

    fn set_link_meta(
        &self,
        parent: &OwnedFd,
        name: &[u8],
        meta: &Meta,
        path: &str,
    ) -> Result<(), UnpackError> {
        let (u, g) = owner(meta);
        rfs::chownat(parent, name, u, g, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| fs_err(path, e))?;
        rfs::utimensat(parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fs_err(path, e))
    }

    fn hard_link(
        &mut self,
        parent: &OwnedFd,
        comps: &[Vec<u8>],
        target: &[u8],
        path: &str,
    ) -> Result<(), UnpackError> {
        let bad = || UnpackError::BadHardLink {
            path: path.to_string(),
            target: lossy(target),
        };
        let tcomps = components(target)?;
        let Some((tname, tparents)) = tcomps.split_last() else {
            return Err(bad());
        };
        if tcomps == comps {
            return Err(bad());
        }
        let tparent = self.walk(tparents, path, false).map_err(|_| bad())?;
        match rfs::statat(&tparent, tname.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {}
            _ => return Err(bad()),
        }
        let name = comps.last().map(Vec::as_slice).unwrap_or_default();
        self.remove(parent, comps, path)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink is a second symlink, not its target.
        rfs::linkat(&tparent, tname.as_slice(), parent, name, AtFlags::empty())
            .map_err(|e| fs_err(path, e))
    }

    fn whiteout(
        &mut self,
        parents: &[Vec<u8>],
        target: &[u8],
        path: &str,
    ) -> Result<(), UnpackError> {
        let parent = self.open_dir(parents, path)?;
        if target == b".wh..opq" {
            return rfs::fsetxattr(&parent, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(|e| fs_err(path, e));
        }
        if target.starts_with(b".wh.") {
            // AUFS metadata (`.wh..wh.plnk`, ...): meaningless for overlay.
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(UnpackError::BadWhiteout {
                path: path.to_string(),
            });
        }
        let mut comps = parents.to_vec();
        comps.push(target.to_vec());
        self.remove(&parent, &comps, path)?;
        rfs::mknodat(
            &parent,
            target,
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(|e| fs_err(path, e))
    }

    /// Removes whatever is at `comps` (last component in `parent`), never following links.
    fn remove(
        &mut self,
        parent: &OwnedFd,
        comps: &[Vec<u8>],
        path: &str,
    ) -> Result<(), UnpackError> {
        let name = comps.last().map(Vec::as_slice).unwrap_or_default();
        match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(fs_err(path, e)),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                // Every component up to here was opened with O_NOFOLLOW, so this path has no
                // symlinks, and remove_dir_all does not follow the ones inside.
                let mut p = self.dest.clone();
                for c in comps {
                    p.push(std::ffi::OsStr::from_bytes(c));
                }
                self.cache = None;
                std::fs::remove_dir_all(&p).map_err(|e| fs_err(path, e))
            }
            Ok(_) => rfs::unlinkat(parent, name, AtFlags::empty()).map_err(|e| fs_err(path, e)),
        }
    }

    /// Opens (creating as needed) the directory at `comps`, refusing symlinks on the way.
    fn open_dir(&mut self, comps: &[Vec<u8>], path: &str) -> Result<OwnedFd, UnpackError> {
        if let Some((cached, fd)) = &self.cache {
            if cached.as_slice() == comps {
                return fd.try_clone().map_err(|e| fs_err(path, e));
            }
        }
        let fd = self.walk(comps, path, true)?;
        let dup = fd.try_clone().map_err(|e| fs_err(path, e))?;
        self.cache = Some((comps.to_vec(), dup));
        Ok(fd)
    }

    fn walk(&self, comps: &[Vec<u8>], path: &str, create: bool) -> Result<OwnedFd, UnpackError> {
        let mut cur =
            rfs::openat(&self.root, ".", DIR_FLAGS, Mode::empty()).map_err(|e| fs_err(path, e))?;
        for (i, c) in comps.iter().enumerate() {
            let c = c.as_slice();
            cur = match rfs::openat(&cur, c, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    // Implied parents cost an entry each, like explicit ones.
                    self.budget.take(ENTRY_COST)?;
                    rfs::mkdirat(&cur, c, Mode::from_raw_mode(0o755))
                        .map_err(|e| fs_err(path, e))?;
                    rfs::openat(&cur, c, DIR_FLAGS, Mode::empty()).map_err(|e| fs_err(path, e))?
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let via = lossy(&comps[..=i].join(&b'/'));
                    let st = rfs::statat(&cur, c, AtFlags::SYMLINK_NOFOLLOW);
                    let path = path.to_string();
                    return Err(match st {
                        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                            UnpackError::ThroughSymlink { path, via }
                        }
                        _ => UnpackError::NotADirectory { path, via },
                    });
                }
                Err(e) => return Err(fs_err(path, e)),
            };
        }
        Ok(cur)
    }

    /// Applies directory owners, modes and mtimes now that their contents exist.
    fn finish(&mut self) -> Result<(), UnpackError> {
        self.cache = None;
        for (comps, meta) in std::mem::take(&mut self.dirs) {
            let path = lossy(&comps.join(&b'/'));
            // A directory later replaced by a file or link is simply gone: skip it.
            let fd = match self.walk(&comps, &path, false) {
                Ok(fd) => fd,
                Err(UnpackError::ThroughSymlink { .. } | UnpackError::NotADirectory { .. }) => {
                    continue
                }
                Err(UnpackError::Fs { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    continue
                }
                Err(e) => return Err(e),
            };
            let (u, g) = owner(&meta);
            rfs::fchown(&fd, u, g).map_err(|e| fs_err(&path, e))?;
            rfs::fchmod(&fd, Mode::from_raw_mode(meta.mode)).map_err(|e| fs_err(&path, e))?;
            rfs::futimens(&fd, &times(meta.mtime)).map_err(|e| fs_err(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
