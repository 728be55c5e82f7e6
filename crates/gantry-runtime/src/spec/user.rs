//! Resolving the `user` field ("uid", "uid:gid", "name", "name:group") against the image's
//! own /etc/passwd and /etc/group, read without following links out of the rootfs.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};
use serde::{Deserialize, Serialize};

use super::SpecError;

/// Host ids that a user namespace maps container ids 0..`count` to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub first: u32,
    pub count: u32,
}

impl IdRange {
    /// The single `0 first count` line of uid_map and gid_map.
    pub(super) fn mapping(&self) -> Result<LinuxIdMapping, SpecError> {
        if self.first == 0 || self.count == 0 || self.first.checked_add(self.count).is_none() {
            return Err(SpecError::UserNamespaceRange(*self));
        }
        Ok(LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(self.first)
            .size(self.count)
            .build()?)
    }

    /// Hands the rootfs's top directory to the container's root (host uid and gid
    /// `first`), so it can create mount points there. On an overlay rootfs this copies
    /// only the directory's metadata up. Everything below keeps its owner: files owned by
    /// host root show as `nobody` (65534) inside and root there cannot change them.
    pub fn own_rootfs(&self, rootfs: &Path) -> std::io::Result<()> {
        std::os::unix::fs::chown(rootfs, Some(self.first), Some(self.first))
    }
}

/// Creates the empty file `dir/name` inside `rootfs` if it is missing, as host root, so a
/// bind mount can land on it: in a user namespace, container root cannot create it in an
/// image directory owned by host root. `dir` is resolved as if `rootfs` were `/` (a link in
/// the image cannot lead out), and `name` itself must not be a link. A missing `dir` is left
/// alone (the mount then fails with libcontainer's own error).
pub fn ensure_mount_file(rootfs: &Path, dir: &str, name: &str) -> std::io::Result<()> {
    let root = File::open(rootfs)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(std::os::fd::AsRawFd::as_raw_fd(&root), dir, how) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // SAFETY: openat2 just returned this fd and nothing else owns it.
    let dir_fd = unsafe { OwnedFd::from_raw_fd(fd) };
    match nix::fcntl::openat(
        Some(std::os::fd::AsRawFd::as_raw_fd(&dir_fd)),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(fd) => {
            // SAFETY: openat just returned this fd and nothing else owns it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            Ok(())
        }
        // A directory there: the mount's business, not ours.
        Err(Errno::EISDIR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A hostile image could ship a huge /etc/passwd; we never need more than this.
const MAX_DB_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

pub fn resolve_user(rootfs: &Path, user: Option<&str>) -> Result<ResolvedUser, SpecError> {
    let spec = user.map(str::trim).filter(|u| !u.is_empty()).unwrap_or("0");
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = parse_passwd(&read_db(rootfs, "etc/passwd")?.unwrap_or_default());
    let groups = parse_group(&read_db(rootfs, "etc/group")?.unwrap_or_default());

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) => Some(
            passwd
                .iter()
                .find(|p| p.name == user_part)
                .ok_or_else(|| SpecError::UnknownUser(user_part.to_string()))?,
        ),
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => user_part
            .parse::<u32>()
            .map_err(|_| SpecError::UnknownUser(user_part.to_string()))?,
    };
    let gid = match group_part {
        None => entry.map(|e| e.gid).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                groups
                    .iter()
                    .find(|e| e.name == g)
                    .ok_or_else(|| SpecError::UnknownGroup(g.to_string()))?
                    .gid
            }
        },
    };
    // Supplementary groups come from group membership, as with Docker; an explicit
    // group replaces only the primary one.
    let mut additional_gids: Vec<u32> = match entry {
        Some(e) => groups
            .iter()
            .filter(|g| g.members.contains(&e.name) && g.gid != gid)
            .map(|g| g.gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Reads `rel` inside `rootfs` with every symlink resolved as if `rootfs` were `/`.
/// `Ok(None)` when the file does not exist.
fn read_db(rootfs: &Path, rel: &str) -> Result<Option<String>, SpecError> {
    let io_err = |source: std::io::Error| SpecError::ReadImageFile {
        path: rootfs.join(rel),
        source,
    };
    let root = File::open(rootfs).map_err(io_err)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(std::os::fd::AsRawFd::as_raw_fd(&root), rel, how) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(io_err(e.into())),
    };
    // SAFETY: openat2 just returned this fd and nothing else owns it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut text = String::new();
    file.take(MAX_DB_BYTES)
        .read_to_string(&mut text)
        .map_err(io_err)?;
    Ok(Some(text))
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gantry-user-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            dir.join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:root,app\n",
        )
        .expect("group");
        dir
    }

    #[test]
    fn resolves_every_form() {
        let dir = rootfs("forms");
        let r = |u: &str| resolve_user(&dir, Some(u));
        assert_eq!(
            r("app").expect("app"),
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10]
            }
        );
        assert_eq!(r("1000").expect("1000").gid, 1000);
        assert_eq!(r("4242").expect("4242").gid, 0);
        assert_eq!(r("app:nogroup").expect("app:nogroup").gid, 65534);
        assert_eq!(r("nobody:7").expect("nobody:7").gid, 7);
        assert_eq!(resolve_user(&dir, None).expect("default").uid, 0);
        assert!(matches!(r("ghost"), Err(SpecError::UnknownUser(n)) if n == "ghost"));
        assert!(matches!(r("app:ghosts"), Err(SpecError::UnknownGroup(n)) if n == "ghosts"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn symlinks_resolve_inside_the_rootfs() {
        let dir = rootfs("links");
        std::fs::create_dir_all(dir.join("real")).expect("mkdir");
        std::fs::write(dir.join("real/passwd"), "svc:x:4321:4321::/:/bin/sh\n").expect("write");
        std::fs::remove_file(dir.join("etc/passwd")).expect("rm");
        // An absolute link is resolved against the rootfs, never the host.
        std::os::unix::fs::symlink("/../../real/passwd", dir.join("etc/passwd")).expect("link");
        assert_eq!(resolve_user(&dir, Some("svc")).expect("svc").uid, 4321);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
