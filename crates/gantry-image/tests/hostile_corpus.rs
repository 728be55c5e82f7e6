//! The hostile-layer corpus: crafted layers pulled the way the agent pulls them, through
//! `ImageStore::ensure` from a local OCI layout whose only layer is the hostile tar.
//!
//! Every case checks, whatever the outcome, that a sentinel file next to the store keeps its
//! content, mtime, inode and link count, that nothing appeared beside it, that the layout was
//! not modified and that the store holds nothing but its own files. A rejected case must fail
//! with a message that says what to do and leave no layer and no temp debris behind; a
//! contained case must unpack, with the hostile part neutralised inside the layer.
//! docs/images.md lists the cases. Runs as root (the unpacker chowns and makes whiteouts).

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use common::oci::{self, Layer, TarBuilder};
use common::TempDir;
use gantry_image::{ImageStore, ImageStoreConfig, PullPolicy};
use tar::EntryType as T;

const SENTINEL: &[u8] = b"host data, keep out\n";
/// Cap used by the size cases; the others run with the default.
const SMALL_CAP: u64 = 1 << 20;

/// Paths a case may aim at; the layer unpacks three levels below `base`
/// (`store/tmp/layer-…`, then `store/layers/<diff-id>`), so `../../../outside` escapes.
struct Ctx {
    base: PathBuf,
}

impl Ctx {
    fn outside(&self) -> String {
        self.base.join("outside").display().to_string()
    }
    fn sentinel(&self) -> String {
        self.base.join("outside/sentinel").display().to_string()
    }
    fn pwned(&self) -> String {
        self.base.join("outside/pwned").display().to_string()
    }
}

enum Expect {
    /// `ensure` fails; its message contains every needle.
    Rejected(&'static [&'static str]),
    /// `ensure` succeeds; the check runs on the unpacked layer.
    Contained(fn(&Path, &Ctx) -> Result<()>),
}

struct Case {
    name: &'static str,
    layer: fn(&Ctx) -> Layer,
    expect: Expect,
    cap: Option<u64>,
}

const DOTDOT: &[&str] = &["contains '..'", "malicious or corrupt and was refused"];
const THROUGH: &[&str] = &["goes through the symlink", "the layer was refused"];
const BAD_LINK: &[&str] = &["does not point at an existing file inside the layer"];
const BAD_WHITEOUT: &[&str] = &["whiteout", "is invalid; the layer was refused"];
const TOO_LARGE: &[&str] = &["unpacks to more than", "raise max_unpacked_bytes"];
const TRUNCATED: &[&str] = &["reading layer archive", "corrupt or truncated"];
const TOO_LONG: &[&str] = &["longer than Linux allows", "the layer was refused"];
const HEADER: &[&str] = &["entry header", "over 1048576 bytes", "was refused"];
const BAD_ENTRY: &[&str] = &["empty name or an invalid owner", "the layer is corrupt"];
const WRONG: &[&str] = &["has the wrong content", "retry, or re-push the image"];

fn plain(b: TarBuilder) -> Layer {
    Layer::plain(b.finish())
}

fn t() -> TarBuilder {
    TarBuilder::new()
}

fn kind_at(layer: &Path, rel: &str) -> Result<std::fs::FileType> {
    Ok(std::fs::symlink_metadata(layer.join(rel))
        .with_context(|| format!("{rel} in the layer"))?
        .file_type())
}

fn absent(layer: &Path, rel: &str) -> Result<()> {
    if std::fs::symlink_metadata(layer.join(rel)).is_ok() {
        bail!("{rel} should not exist in the layer");
    }
    Ok(())
}

fn regular_with(layer: &Path, rel: &str, content: &[u8]) -> Result<()> {
    if !kind_at(layer, rel)?.is_file() {
        bail!("{rel} is not a regular file");
    }
    if std::fs::read(layer.join(rel))? != content {
        bail!("{rel} has unexpected content");
    }
    Ok(())
}

/// Where an absolute path lands: re-rooted at the layer.
fn in_layer(_: &Ctx, abs: &str) -> String {
    abs.trim_start_matches('/').to_string()
}

fn cases() -> Vec<Case> {
    let c = |name, layer, expect| Case {
        name,
        layer,
        expect,
        cap: None,
    };
    let capped = |name, layer, expect| Case {
        name,
        layer,
        expect,
        cap: Some(SMALL_CAP),
    };
    vec![
        // --- paths ---
        c(
            "dotdot-file",
            |_| plain(t().file("../../../outside/pwned", b"x")),
            Expect::Rejected(DOTDOT),
        ),
        c(
            "dotdot-inner",
            |_| plain(t().file("a/b/../../../../../outside/pwned", b"x")),
            Expect::Rejected(DOTDOT),
        ),
        c(
            "dotdot-dir",
            |_| plain(t().dir("../../../outside/newdir/")),
            Expect::Rejected(DOTDOT),
        ),
        c(
            "absolute-file",
            |ctx| plain(t().file(&ctx.pwned(), b"x")),
            Expect::Contained(|l, ctx| regular_with(l, &in_layer(ctx, &ctx.pwned()), b"x")),
        ),
        c(
            "absolute-overwrite",
            |ctx| plain(t().file(&ctx.sentinel(), b"pwned")),
            Expect::Contained(|l, ctx| regular_with(l, &in_layer(ctx, &ctx.sentinel()), b"pwned")),
        ),
        c(
            "dot-name-file",
            |_| plain(t().file(".", b"x")),
            Expect::Rejected(BAD_ENTRY),
        ),
        c(
            "empty-name-file",
            |_| plain(t().file("", b"x")),
            Expect::Rejected(BAD_ENTRY),
        ),
        c(
            "path-over-path-max",
            |_| plain(t().file(&format!("{}f", "d/".repeat(2100)), b"x")),
            Expect::Rejected(TOO_LONG),
        ),
        c(
            "name-over-name-max",
            |_| plain(t().file(&"n".repeat(300), b"x")),
            Expect::Rejected(TOO_LONG),
        ),
        c(
            "symlink-target-over-path-max",
            |_| plain(t().symlink("s", &"t/".repeat(2100))),
            Expect::Rejected(TOO_LONG),
        ),
        // --- symlinks ---
        c(
            "symlink-abs-dir-write-through",
            |ctx| plain(t().symlink("evil", &ctx.outside()).file("evil/pwned", b"x")),
            Expect::Rejected(THROUGH),
        ),
        c(
            "symlink-rel-dir-write-through",
            |_| {
                plain(
                    t().symlink("evil", "../../../outside")
                        .file("evil/pwned", b"x"),
                )
            },
            Expect::Rejected(THROUGH),
        ),
        c(
            "symlink-chain-write-through",
            |ctx| {
                plain(
                    t().symlink("b", &ctx.outside())
                        .symlink("a", "b")
                        .file("a/pwned", b"x"),
                )
            },
            Expect::Rejected(THROUGH),
        ),
        c(
            "symlink-nested-write-through",
            |_| {
                plain(
                    t().dir("d/")
                        .symlink("d/up", "../../../../outside")
                        .file("d/up/pwned", b"x"),
                )
            },
            Expect::Rejected(THROUGH),
        ),
        c(
            "symlink-dir-then-dir-through",
            |ctx| plain(t().symlink("evil", &ctx.outside()).dir("evil/sub/")),
            Expect::Rejected(THROUGH),
        ),
        c(
            "symlink-then-file-same-name",
            |ctx| plain(t().symlink("s", &ctx.sentinel()).file("s", b"pwned")),
            Expect::Contained(|l, _| regular_with(l, "s", b"pwned")),
        ),
        c(
            "symlink-to-file-then-fifo",
            |ctx| {
                plain(
                    t().symlink("f", &ctx.pwned())
                        .entry(T::Fifo, b"f", b"", b"", 0o644),
                )
            },
            Expect::Contained(|l, _| {
                if !kind_at(l, "f")?.is_fifo() {
                    bail!("f is not a fifo");
                }
                Ok(())
            }),
        ),
        c(
            "symlink-escaping-stored-as-is",
            |_| plain(t().symlink("etc/shadow", "../../../../outside/sentinel")),
            Expect::Contained(|l, _| {
                if std::fs::read_link(l.join("etc/shadow"))?
                    != Path::new("../../../../outside/sentinel")
                {
                    bail!("target changed");
                }
                Ok(())
            }),
        ),
        c(
            "longlink-symlink-then-write-through",
            |ctx| {
                let target = format!("{}/{}", ctx.outside(), "./".repeat(60));
                plain(t().symlink("evil", &target).file("evil/pwned", b"x"))
            },
            Expect::Rejected(THROUGH),
        ),
        // --- hard links ---
        c(
            "hardlink-dotdot",
            |_| plain(t().hardlink("h", "../../../outside/sentinel")),
            Expect::Rejected(DOTDOT),
        ),
        c(
            "hardlink-absolute",
            |ctx| plain(t().hardlink("h", &ctx.sentinel()).file("h", b"pwned")),
            Expect::Rejected(BAD_LINK),
        ),
        c(
            "hardlink-through-symlink-dir",
            |ctx| plain(t().symlink("d", &ctx.outside()).hardlink("h", "d/sentinel")),
            Expect::Rejected(BAD_LINK),
        ),
        c(
            "hardlink-placed-through-symlink-dir",
            |ctx| {
                plain(
                    t().file("a", b"a")
                        .symlink("d", &ctx.outside())
                        .hardlink("d/pwned", "a"),
                )
            },
            Expect::Rejected(THROUGH),
        ),
        c(
            "hardlink-to-symlink-then-write",
            |ctx| {
                plain(
                    t().symlink("s", &ctx.sentinel())
                        .hardlink("h", "s")
                        .file("h", b"pwned"),
                )
            },
            Expect::Contained(|l, ctx| {
                regular_with(l, "h", b"pwned")?;
                if std::fs::read_link(l.join("s"))? != Path::new(&ctx.sentinel()) {
                    bail!("s changed");
                }
                Ok(())
            }),
        ),
        c(
            "hardlink-to-missing",
            |_| plain(t().hardlink("h", "nope")),
            Expect::Rejected(BAD_LINK),
        ),
        c(
            "hardlink-to-dir",
            |_| plain(t().dir("d/").hardlink("h", "d")),
            Expect::Rejected(BAD_LINK),
        ),
        c(
            "hardlink-to-itself",
            |_| plain(t().hardlink("h", "h")),
            Expect::Rejected(BAD_LINK),
        ),
        // --- whiteouts ---
        c(
            "whiteout-dot",
            |_| plain(t().file(".wh..", b"")),
            Expect::Rejected(BAD_WHITEOUT),
        ),
        c(
            "whiteout-dotdot",
            |_| plain(t().file(".wh...", b"")),
            Expect::Rejected(BAD_WHITEOUT),
        ),
        c(
            "whiteout-dotdot-nested",
            |_| plain(t().file("usr/.wh...", b"")),
            Expect::Rejected(BAD_WHITEOUT),
        ),
        c(
            "whiteout-outside-dotdot",
            |_| plain(t().file("../../../outside/.wh.sentinel", b"")),
            Expect::Rejected(DOTDOT),
        ),
        c(
            "whiteout-outside-absolute",
            |ctx| plain(t().file(&format!("{}/.wh.sentinel", ctx.outside()), b"")),
            Expect::Contained(|l, ctx| {
                let wh = l.join(in_layer(ctx, &ctx.sentinel()));
                let md = std::fs::symlink_metadata(wh)?;
                if !md.file_type().is_char_device() || md.rdev() != 0 {
                    bail!("not an overlay whiteout");
                }
                Ok(())
            }),
        ),
        c(
            "whiteout-through-symlink",
            |ctx| plain(t().symlink("d", &ctx.outside()).file("d/.wh.sentinel", b"")),
            Expect::Rejected(THROUGH),
        ),
        c(
            "opaque-through-symlink",
            |ctx| plain(t().symlink("d", &ctx.outside()).file("d/.wh..wh..opq", b"")),
            Expect::Rejected(THROUGH),
        ),
        c(
            "whiteout-replaces-symlink",
            |ctx| plain(t().symlink("s", &ctx.sentinel()).file(".wh.s", b"")),
            Expect::Contained(|l, _| {
                if !kind_at(l, "s")?.is_char_device() {
                    bail!("s is not a whiteout");
                }
                Ok(())
            }),
        ),
        // --- special files and modes ---
        c(
            "char-device",
            |_| plain(t().dir("dev/").entry(T::Char, b"dev/mem", b"", b"", 0o666)),
            Expect::Contained(|l, _| absent(l, "dev/mem")),
        ),
        c(
            "block-device",
            |_| plain(t().dir("dev/").entry(T::Block, b"dev/sda", b"", b"", 0o660)),
            Expect::Contained(|l, _| absent(l, "dev/sda")),
        ),
        c(
            "fifo",
            |_| plain(t().entry(T::Fifo, b"pipe", b"", b"", 0o600)),
            Expect::Contained(|l, _| {
                if !kind_at(l, "pipe")?.is_fifo() {
                    bail!("pipe is not a fifo");
                }
                Ok(())
            }),
        ),
        c(
            "setuid-root-file",
            |_| plain(t().entry(T::Regular, b"bin/su", b"", b"#!", 0o4755)),
            Expect::Contained(|l, _| {
                let md = std::fs::metadata(l.join("bin/su"))?;
                if md.permissions().mode() & 0o7777 != 0o4755 || md.uid() != 0 {
                    bail!("setuid root not kept as documented");
                }
                Ok(())
            }),
        ),
        c(
            "pax-overlay-xattr",
            |_| {
                plain(
                    t().pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
                        .dir("d/"),
                )
            },
            Expect::Contained(|l, _| {
                let mut buf = [0u8; 8];
                if rustix::fs::getxattr(l.join("d"), "trusted.overlay.opaque", &mut buf).is_ok() {
                    bail!("xattr applied");
                }
                Ok(())
            }),
        ),
        c(
            "pax-uid-overflow",
            |_| plain(t().pax(&[("uid", b"4294967295")]).file("f", b"x")),
            Expect::Rejected(BAD_ENTRY),
        ),
        // --- duplicates ---
        c(
            "hardlink-then-file-same-name",
            |_| plain(t().file("a", b"orig").hardlink("h", "a").file("h", b"new")),
            Expect::Contained(|l, _| {
                regular_with(l, "a", b"orig")?;
                regular_with(l, "h", b"new")
            }),
        ),
        c(
            "dir-then-file-same-name",
            |_| plain(t().dir("x/").file("x/child", b"c").file("x", b"file")),
            Expect::Contained(|l, _| regular_with(l, "x", b"file")),
        ),
        c(
            "file-then-dir-same-name",
            |_| plain(t().file("x", b"file").dir("x/").file("x/child", b"c")),
            Expect::Contained(|l, _| regular_with(l, "x/child", b"c")),
        ),
        c(
            "symlink-dir-then-real-dir",
            |ctx| plain(t().symlink("d", &ctx.outside()).dir("d/").file("d/f", b"x")),
            Expect::Contained(|l, _| regular_with(l, "d/f", b"x")),
        ),
        // --- smuggling through long names and PAX ---
        c(
            "gnu-longname-dotdot",
            |_| {
                plain(
                    t().gnu_long(
                        b'L',
                        format!("{}../../../outside/pwned", "./".repeat(60)).as_bytes(),
                    )
                    .file("safe", b"x"),
                )
            },
            Expect::Rejected(DOTDOT),
        ),
        c(
            "pax-path-dotdot",
            |_| {
                plain(
                    t().pax(&[("path", b"../../../outside/pwned")])
                        .file("safe", b"x"),
                )
            },
            Expect::Rejected(DOTDOT),
        ),
        c(
            "pax-linkpath-dotdot",
            |_| {
                plain(
                    t().pax(&[("linkpath", b"../../../outside/sentinel")])
                        .hardlink("h", "safe"),
                )
            },
            Expect::Rejected(DOTDOT),
        ),
        c(
            "gnu-longlink-hardlink-out",
            |ctx| {
                plain(
                    t().gnu_long(
                        b'K',
                        format!("{}{}", "./".repeat(60), ctx.sentinel()).as_bytes(),
                    )
                    .hardlink("h", "x"),
                )
            },
            Expect::Rejected(BAD_LINK),
        ),
        // --- sizes and corrupt streams ---
        capped(
            "gzip-bomb",
            |_| Layer::gzip(&t().file("zeros", &vec![0u8; 16 << 20]).finish()),
            Expect::Rejected(TOO_LARGE),
        ),
        capped(
            "many-empty-files",
            |_| {
                let mut b = t();
                for i in 0..4096 {
                    b = b.file(&format!("f{i}"), b"");
                }
                Layer::gzip(&b.finish())
            },
            Expect::Rejected(TOO_LARGE),
        ),
        capped(
            "dir-with-body-bomb",
            |_| {
                Layer::gzip(
                    &t().raw(
                        &TarBuilder::header(T::Directory, b"d/", b"", 8 << 20, 0o755),
                        &vec![0u8; 8 << 20],
                    )
                    .finish(),
                )
            },
            Expect::Rejected(TOO_LARGE),
        ),
        c(
            "gnu-longname-bomb",
            |_| {
                Layer::gzip(
                    &t().gnu_long(b'L', &vec![b'a'; 8 << 20])
                        .file("x", b"")
                        .finish(),
                )
            },
            Expect::Rejected(HEADER),
        ),
        c(
            "pax-bomb",
            |_| {
                Layer::gzip(
                    &t().pax(&[("comment", &vec![b'a'; 8 << 20])])
                        .file("x", b"")
                        .finish(),
                )
            },
            Expect::Rejected(HEADER),
        ),
        c(
            "huge-size-header",
            |_| {
                let h = TarBuilder::header(T::Regular, b"big", b"", 1 << 40, 0o644);
                Layer::plain(t().raw(&h, b"only a few bytes").bytes().to_vec())
            },
            Expect::Rejected(TRUNCATED),
        ),
        c(
            "max-size-header",
            |_| {
                let h = TarBuilder::header(T::Regular, b"big", b"", u64::MAX, 0o644);
                Layer::plain(t().raw(&h, b"").finish())
            },
            Expect::Rejected(TRUNCATED),
        ),
        c(
            "truncated-gzip",
            |_| {
                let full = oci::gzip(&t().file("a", &[7u8; 300_000]).file("b", b"tail").finish());
                let mut l =
                    Layer::gzip(&t().file("a", &[7u8; 300_000]).file("b", b"tail").finish());
                l.blob = full[..full.len() / 2].to_vec();
                l.digest = oci::sha256(&l.blob);
                l
            },
            Expect::Rejected(TRUNCATED),
        ),
        c(
            "digest-mismatch",
            |_| {
                let mut l = Layer::plain(t().file("good", b"x").finish());
                l.blob = t().file("../../../outside/pwned", b"evil").finish();
                l
            },
            Expect::Rejected(WRONG),
        ),
        c(
            "diff-id-mismatch",
            |_| {
                let mut l = Layer::gzip(&t().file("f", b"x").finish());
                l.diff_id = oci::sha256(b"something else");
                l
            },
            Expect::Rejected(&["layer diff_id", "has the wrong content"]),
        ),
    ]
}

/// What a case may change: a listing of `dir` (relative path, kind, size, mtime, inode).
fn snapshot(dir: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let md = e.metadata()?;
            let rel = e.path().strip_prefix(dir)?.display().to_string();
            out.insert(format!(
                "{rel} {:?} {} {} {}.{} {} {}",
                md.file_type(),
                md.len(),
                md.mode(),
                md.mtime(),
                md.mtime_nsec(),
                md.ino(),
                md.nlink()
            ));
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(out)
}

fn names(dir: &Path) -> Result<BTreeSet<String>> {
    std::fs::read_dir(dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect()
}

async fn run(case: &Case) -> Result<String> {
    let tmp = TempDir::new("corpus");
    let ctx = Ctx {
        base: tmp.path().to_path_buf(),
    };
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside)?;
    let sentinel = outside.join("sentinel");
    std::fs::write(&sentinel, SENTINEL)?;
    // An mtime no unpack would produce, so a rewrite shows.
    std::fs::File::options()
        .write(true)
        .open(&sentinel)?
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(123_456_789))?;
    let layout = tmp.path().join("images/hostile");
    let layer = (case.layer)(&ctx);
    let image_digest = oci::add_image(&layout, case.name, &[layer])?;
    let outside_mtime = std::fs::metadata(&outside)?.modified()?;
    let before_outside = snapshot(&outside)?;
    let before_images = snapshot(&tmp.path().join("images"))?;

    let mut cfg = ImageStoreConfig::new(tmp.path().join("store"));
    cfg.layouts = vec![tmp.path().join("images")];
    if let Some(cap) = case.cap {
        cfg.max_unpacked_bytes = cap;
    }
    let store = ImageStore::open(cfg)?;
    let result = store
        .ensure(&format!("hostile:{}", case.name), PullPolicy::Default, None)
        .await;

    if snapshot(&outside)? != before_outside
        || std::fs::metadata(&outside)?.modified()? != outside_mtime
    {
        bail!(
            "something changed outside the store: {:?}",
            names(&outside)?
        );
    }
    let md = std::fs::symlink_metadata(&sentinel)?;
    if std::fs::read(&sentinel)? != SENTINEL || md.nlink() != 1 || md.mtime() != 123_456_789 {
        bail!("the sentinel changed");
    }
    if snapshot(&tmp.path().join("images"))? != before_images {
        bail!("the OCI layout changed");
    }
    let top: BTreeSet<String> = ["images", "outside", "store"].map(String::from).into();
    if names(tmp.path())? != top {
        bail!(
            "unexpected entries next to the store: {:?}",
            names(tmp.path())?
        );
    }
    let store_dir = tmp.path().join("store");
    let allowed: BTreeSet<String> = ["blobs", "layers", "tmp", "references.json"]
        .map(String::from)
        .into();
    if !names(&store_dir)?.is_subset(&allowed) {
        bail!("unexpected entries in the store: {:?}", names(&store_dir)?);
    }
    if !names(&store_dir.join("tmp"))?.is_empty() {
        bail!("temp debris left: {:?}", names(&store_dir.join("tmp"))?);
    }
    let layers = names(&store_dir.join("layers"))?;
    match (&case.expect, result) {
        (Expect::Rejected(needles), Err(e)) => {
            let msg = e.cannot_pull_reason();
            for n in *needles {
                if !msg.contains(n) {
                    bail!("error {msg:?} lacks {n:?}");
                }
            }
            if !layers.is_empty() {
                bail!("a refused layer was kept: {layers:?}");
            }
            Ok(format!("rejected: {msg}"))
        }
        (Expect::Rejected(_), Ok(_)) => bail!("accepted, but should have been rejected"),
        (Expect::Contained(_), Err(e)) => bail!("rejected ({e}), but should be contained"),
        (Expect::Contained(check), Ok(image)) => {
            if image.digest != image_digest || image.layers.len() != 1 || layers.len() != 1 {
                bail!("unexpected image {image:?}");
            }
            check(&image.layers[0], &ctx)?;
            Ok("contained".to_string())
        }
    }
}

#[tokio::test]
async fn every_hostile_layer_is_rejected_or_contained() -> Result<()> {
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let names: BTreeSet<_> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let mut failures = Vec::new();
    for case in &cases {
        match run(case).await {
            Ok(outcome) => println!("{:<36} {outcome}", case.name),
            Err(e) => failures.push(format!("{}: {e:#}", case.name)),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
    Ok(())
}
