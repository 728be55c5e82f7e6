//! Fuzzes the layer unpacker: arbitrary bytes as a tar (or gzip'd tar) unpacked into a fresh
//! directory next to a sentinel, as `ImageStore` unpacks every layer.
//!
//! Input: bit 0 of the first byte picks gzip, the rest is the archive. Checked for every
//! input: no panic; whatever the outcome, the sentinel keeps its content, inode, link count
//! and mtime, and nothing appears beside the layer directory. Runs as root (the unpacker
//! chowns and makes whiteouts).

#![no_main]

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const SENTINEL: &[u8] = b"host data, keep out\n";
/// Small, so bombs end fast; the header cap (1 MiB) is the unpacker's own.
const MAX_UNPACKED_BYTES: u64 = 16 << 20;

struct Fixture {
    base: PathBuf,
    /// (inode, mtime) of the sentinel.
    stamp: (u64, i64),
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("gantry-image-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("outside")).expect("mkdir outside");
        let sentinel = base.join("outside/sentinel");
        std::fs::write(&sentinel, SENTINEL).expect("write sentinel");
        let md = std::fs::metadata(&sentinel).expect("sentinel");
        Fixture {
            base,
            stamp: (md.ino(), md.mtime()),
        }
    })
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, archive)) = data.split_first() else {
        return;
    };
    let f = fixture();
    // The layer sits two levels down, so `../..` from it reaches `outside`'s parent.
    let layer = f.base.join("store/layer");
    let _ = std::fs::remove_dir_all(f.base.join("store"));
    std::fs::create_dir_all(&layer).expect("mkdir layer");

    let _ = gantry_image::fuzzing::unpack(archive, selector & 1 == 1, &layer, MAX_UNPACKED_BYTES);

    let sentinel = f.base.join("outside/sentinel");
    let md = std::fs::symlink_metadata(&sentinel).expect("sentinel still there");
    assert!(md.file_type().is_file(), "sentinel replaced");
    assert_eq!(std::fs::read(&sentinel).expect("read sentinel"), SENTINEL);
    assert_eq!(
        (md.ino(), md.mtime(), md.nlink()),
        (f.stamp.0, f.stamp.1, 1)
    );
    assert_eq!(
        names(&f.base.join("outside")),
        ["sentinel"],
        "written outside"
    );
    assert_eq!(
        names(&f.base),
        ["outside", "store"],
        "written next to the store"
    );
    assert_eq!(
        names(&f.base.join("store")),
        ["layer"],
        "written next to the layer"
    );
});
