//! Hostile-archive tests. Each crafts a tar by hand (the `tar` crate's builder refuses to
//! write most of these) and checks that a sentinel outside the layer is untouched.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;

const SENTINEL: &[u8] = b"original\n";

/// One ustar entry, written byte by byte so any path or link can be expressed.
fn entry(path: &str, kind: u8, link: &str, data: &[u8], mode: u32) -> Vec<u8> {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], off: usize, len: usize, v: &[u8]| {
        h[off..off + v.len().min(len)].copy_from_slice(&v[..v.len().min(len)]);
    };
    let octal = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
        let s = format!("{v:0width$o}\0", width = len - 1);
        put(h, off, len, s.as_bytes());
    };
    put(&mut h, 0, 100, path.as_bytes());
    octal(&mut h, 100, 8, u64::from(mode));
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, data.len() as u64);
    octal(&mut h, 136, 12, 1_000_000);
    h[156] = kind;
    put(&mut h, 157, 100, link.as_bytes());
    put(&mut h, 257, 8, b"ustar\x0000");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn file(path: &str, data: &[u8]) -> Vec<u8> {
    entry(path, b'0', "", data, 0o644)
}
fn dir(path: &str) -> Vec<u8> {
    entry(path, b'5', "", b"", 0o755)
}
fn symlink(path: &str, target: &str) -> Vec<u8> {
    entry(path, b'2', target, b"", 0o777)
}
fn hardlink(path: &str, target: &str) -> Vec<u8> {
    entry(path, b'1', target, b"", 0o644)
}

fn tar(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut t: Vec<u8> = entries.concat();
    t.extend_from_slice(&[0u8; 1024]);
    t
}

/// `base/outside/sentinel` and an empty `base/layer`, removed on drop.
struct Fixture {
    base: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let base =
            std::env::temp_dir().join(format!("gantry-unpack-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("outside")).expect("mkdir outside");
        std::fs::create_dir_all(base.join("layer")).expect("mkdir layer");
        std::fs::write(base.join("outside/sentinel"), SENTINEL).expect("write sentinel");
        Self { base }
    }
    fn layer(&self) -> PathBuf {
        self.base.join("layer")
    }
    fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }
    fn unpack(&self, t: &[u8]) -> Result<String, UnpackError> {
        self.unpack_limited(t, 1 << 30)
    }
    fn unpack_limited(&self, t: &[u8], limit: u64) -> Result<String, UnpackError> {
        unpack_layer(t, Compression::None, &self.layer(), &Budget::new(limit))
    }
    fn assert_sentinel_intact(&self) {
        let p = self.outside().join("sentinel");
        assert_eq!(std::fs::read(&p).expect("sentinel readable"), SENTINEL);
        let md = std::fs::symlink_metadata(&p).expect("sentinel metadata");
        assert!(md.file_type().is_file());
        assert_eq!(md.nlink(), 1, "no hard link to the sentinel was made");
        let entries: Vec<_> = std::fs::read_dir(self.outside()).expect("ls").collect();
        assert_eq!(entries.len(), 1, "nothing new appeared outside the layer");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

#[test]
fn dotdot_paths_are_refused() {
    for path in [
        "../outside/sentinel",
        "a/../../outside/sentinel",
        "./../outside/new",
    ] {
        let f = Fixture::new("dotdot");
        let err = f.unpack(&tar(&[file(path, b"pwned")])).expect_err(path);
        assert!(matches!(err, UnpackError::DotDot { .. }), "{path}: {err}");
        f.assert_sentinel_intact();
    }
}

#[test]
fn absolute_paths_land_inside_the_layer() {
    let f = Fixture::new("abs");
    let abs = format!("{}/sentinel", f.outside().display());
    f.unpack(&tar(&[file(&abs, b"pwned"), file("/etc/passwd", b"root")]))
        .expect("absolute paths are re-rooted");
    f.assert_sentinel_intact();
    let inside = f.layer().join(abs.trim_start_matches('/'));
    assert_eq!(std::fs::read(inside).expect("re-rooted file"), b"pwned");
    assert_eq!(
        std::fs::read(f.layer().join("etc/passwd")).expect("passwd"),
        b"root"
    );
}

#[test]
fn writing_through_a_symlinked_directory_is_refused() {
    for absolute in [true, false] {
        let f = Fixture::new("symdir");
        let target = if absolute {
            f.outside().display().to_string()
        } else {
            "../outside".to_string()
        };
        let t = tar(&[symlink("evil", &target), file("evil/sentinel", b"pwned")]);
        let err = f.unpack(&t).expect_err("write through symlink");
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err}");
        f.assert_sentinel_intact();
    }
}

#[test]
fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
    let f = Fixture::new("symfile");
    let target = format!("{}/sentinel", f.outside().display());
    let t = tar(&[symlink("s", &target), file("s", b"pwned")]);
    f.unpack(&t).expect("unpack");
    f.assert_sentinel_intact();
    let md = std::fs::symlink_metadata(f.layer().join("s")).expect("s");
    assert!(md.file_type().is_file());
}

#[test]
fn hard_links_out_of_the_layer_are_refused() {
    let f = Fixture::new("hardlink");
    let err = f
        .unpack(&tar(&[hardlink("h", "../outside/sentinel")]))
        .expect_err("dotdot link");
    assert!(matches!(err, UnpackError::DotDot { .. }), "{err}");
    f.assert_sentinel_intact();

    let f = Fixture::new("hardlink-abs");
    let abs = format!("{}/sentinel", f.outside().display());
    let err = f
        .unpack(&tar(&[hardlink("h", &abs), file("h", b"pwned")]))
        .expect_err("absolute link to a file that is not in the layer");
    assert!(matches!(err, UnpackError::BadHardLink { .. }), "{err}");
    f.assert_sentinel_intact();

    // A hard link to a symlink pointing out is just another symlink; writing it replaces it.
    let f = Fixture::new("hardlink-sym");
    let t = tar(&[symlink("s", &abs), hardlink("h", "s"), file("h", b"pwned")]);
    f.unpack(&t).expect("unpack");
    f.assert_sentinel_intact();

    // Through a symlinked directory.
    let f = Fixture::new("hardlink-symdir");
    let t = tar(&[symlink("d", "../outside"), hardlink("h", "d/sentinel")]);
    let err = f.unpack(&t).expect_err("link through symlink");
    assert!(matches!(err, UnpackError::BadHardLink { .. }), "{err}");
    f.assert_sentinel_intact();
}

#[test]
fn hard_links_inside_the_layer_work() {
    let f = Fixture::new("hardlink-ok");
    f.unpack(&tar(&[file("a", b"x"), hardlink("b", "./a")]))
        .expect("unpack");
    let a = std::fs::metadata(f.layer().join("a")).expect("a");
    let b = std::fs::metadata(f.layer().join("b")).expect("b");
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn bad_whiteouts_are_refused() {
    for path in [
        ".wh...",
        "sub/.wh...",
        ".wh..",
        "../.wh.sentinel",
        "../outside/.wh.sentinel",
    ] {
        let f = Fixture::new("whiteout");
        let err = f.unpack(&tar(&[file(path, b"")])).expect_err(path);
        assert!(
            matches!(
                err,
                UnpackError::BadWhiteout { .. } | UnpackError::DotDot { .. }
            ),
            "{path}: {err}"
        );
        f.assert_sentinel_intact();
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let f = Fixture::new("whiteout-ok");
    let t = tar(&[
        dir("d/"),
        file("d/.wh.gone", b""),
        file("d/.wh..wh..opq", b""),
        file("d/keep", b"k"),
    ]);
    f.unpack(&t).expect("unpack");
    let md = std::fs::symlink_metadata(f.layer().join("d/gone")).expect("whiteout");
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
    assert!(!exists(&f.layer().join("d/.wh.gone")));
    assert!(!exists(&f.layer().join("d/.wh..wh..opq")));
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(f.layer().join("d"), "trusted.overlay.opaque", &mut buf)
        .expect("opaque xattr");
    assert_eq!(&buf[..n], b"y");
}

#[test]
fn device_nodes_are_skipped() {
    let f = Fixture::new("dev");
    let t = tar(&[
        dir("dev/"),
        entry("dev/sda", b'4', "", b"", 0o660),
        entry("dev/null", b'3', "", b"", 0o666),
    ]);
    f.unpack(&t).expect("unpack");
    assert!(!exists(&f.layer().join("dev/sda")));
    assert!(!exists(&f.layer().join("dev/null")));
}

#[test]
fn a_file_in_the_path_is_not_a_directory() {
    let f = Fixture::new("notdir");
    let err = f
        .unpack(&tar(&[file("f", b""), file("f/x", b"")]))
        .expect_err("f/x");
    assert!(matches!(err, UnpackError::NotADirectory { .. }), "{err}");
}

#[test]
fn unpacked_size_is_capped() {
    let f = Fixture::new("cap");
    let err = f
        .unpack_limited(&tar(&[file("big", &vec![7u8; 64 * 1024])]), 16 * 1024)
        .expect_err("too large");
    assert!(matches!(err, UnpackError::TooLarge { .. }), "{err}");
}

#[test]
fn metadata_is_preserved_and_diff_id_is_the_tar_digest() {
    let f = Fixture::new("meta");
    let mut suid = entry("bin/su", b'0', "", b"#!", 0o4755);
    // uid/gid 1000 (octal 1750), then fix the checksum.
    suid[108..116].copy_from_slice(b"0001750\0");
    suid[116..124].copy_from_slice(b"0001750\0");
    suid[148..156].copy_from_slice(b"        ");
    let sum: u32 = suid[..512].iter().map(|b| u32::from(*b)).sum();
    suid[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let t = tar(&[
        entry("bin/", b'5', "", b"", 0o700),
        suid,
        symlink("bin/sh", "/bin/busybox"),
    ]);
    let diff_id = f.unpack(&t).expect("unpack");
    assert_eq!(diff_id, crate::digest::sha256_digest(&t));
    let su = std::fs::symlink_metadata(f.layer().join("bin/su")).expect("su");
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!((su.uid(), su.gid()), (1000, 1000));
    assert_eq!(su.mtime(), 1_000_000);
    let bin = std::fs::symlink_metadata(f.layer().join("bin")).expect("bin");
    assert_eq!(bin.permissions().mode() & 0o7777, 0o700);
    assert_eq!(
        bin.mtime(),
        1_000_000,
        "dir mtime applied after its contents"
    );
    let sh = std::fs::read_link(f.layer().join("bin/sh")).expect("symlink");
    assert_eq!(sh, Path::new("/bin/busybox"));
}
