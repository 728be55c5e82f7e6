//! Image cache GC against a real store filled from hand-built OCI layouts. Runs as root.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use common::oci::{self, Layer, TarBuilder};
use common::TempDir;
use gantry_image::{GcPolicy, GcReport, Image, ImageStore, ImageStoreConfig, PullPolicy};

const HOUR: Duration = Duration::from_secs(3600);

fn layer(name: &str, size: usize) -> Layer {
    Layer::gzip(
        &TarBuilder::new()
            .file(name, &vec![name.as_bytes()[0]; size])
            .finish(),
    )
}

/// Images `a` (base, la), `b` (base, lb), `c` (lc) in the layout `dir/img`.
fn layouts(dir: &Path) -> Result<()> {
    let img = dir.join("img");
    oci::add_image(&img, "a", &[layer("base", 64 << 10), layer("la", 16 << 10)])?;
    oci::add_image(&img, "b", &[layer("base", 64 << 10), layer("lb", 16 << 10)])?;
    oci::add_image(&img, "c", &[layer("lc", 32 << 10)])?;
    Ok(())
}

fn open(dir: &Path) -> Result<ImageStore> {
    let mut cfg = ImageStoreConfig::new(dir.join("store"));
    cfg.layouts = vec![dir.join("images")];
    Ok(ImageStore::open(cfg)?)
}

fn names(dir: &Path) -> Result<BTreeSet<String>> {
    std::fs::read_dir(dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect()
}

fn hex(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_string()
}

fn layer_names(images: &[&Image]) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|i| i.layers.iter())
        .map(|l| {
            l.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

async fn ensure(store: &ImageStore, name: &str) -> Result<Image> {
    let image = store.ensure(name, PullPolicy::Default, None).await?;
    // Distinct use times, so LRU order is the order of these calls.
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(image)
}

async fn gc(
    store: &ImageStore,
    min_age: Duration,
    keep_bytes: Option<u64>,
    referenced: &[&str],
    now: SystemTime,
) -> Result<GcReport> {
    let referenced: HashSet<String> = referenced.iter().map(|s| s.to_string()).collect();
    let policy = GcPolicy {
        min_age,
        keep_bytes,
        referenced: &referenced,
    };
    Ok(store.gc(policy, now).await?)
}

#[tokio::test]
async fn unreferenced_images_past_min_age_go_and_shared_layers_stay() -> Result<()> {
    let tmp = TempDir::new("gc");
    layouts(&tmp.path().join("images"))?;
    let store = open(tmp.path())?;
    let a = ensure(&store, "img:a").await?;
    let b = ensure(&store, "img:b").await?;
    let c = ensure(&store, "img:c").await?;
    let layers_dir = tmp.path().join("store/layers");
    let blobs_dir = tmp.path().join("store/blobs/sha256");
    assert_eq!(names(&layers_dir)?, layer_names(&[&a, &b, &c]));
    assert_eq!(names(&layers_dir)?.len(), 4, "base is stored once");

    // Too recent: nothing goes.
    let r = gc(&store, HOUR, None, &[], SystemTime::now()).await?;
    assert_eq!((r.removed_images.len(), r.freed_bytes), (0, 0));

    // Two hours later, with b in use by reference: a and c go, base stays for b.
    let later = SystemTime::now() + 2 * HOUR;
    let r = gc(&store, HOUR, None, &["img:b"], later).await?;
    assert_eq!(r.removed_images, vec![a.digest.clone(), c.digest.clone()]);
    assert_eq!(r.removed_layers.len(), 2, "la and lc: {r:?}");
    assert!(r.freed_bytes >= (16 + 32) << 10, "{r:?}");
    assert_eq!(names(&layers_dir)?, layer_names(&[&b]));
    assert!(b.layers.iter().all(|l| l.is_dir()));
    let blobs = names(&blobs_dir)?;
    assert!(blobs.contains(&hex(&b.digest)));
    assert!(!blobs.contains(&hex(&a.digest)) && !blobs.contains(&hex(&c.digest)));
    assert_eq!(blobs.len(), 2, "b's manifest and config only: {blobs:?}");
    let index = std::fs::read_to_string(tmp.path().join("store/references.json"))?;
    assert!(
        !index.contains(&a.digest) && index.contains(&b.digest),
        "{index}"
    );
    assert_eq!(
        r.kept_bytes,
        gc(&store, HOUR, None, &["img:b"], later).await?.kept_bytes
    );

    // b by digest keeps it too; a gone image pulls again from the layout.
    let r = gc(&store, HOUR, None, &[&b.digest], later).await?;
    assert!(r.removed_images.is_empty());
    let again = ensure(&store, "img:a").await?;
    assert_eq!(again.layers, a.layers);
    assert!(a.layers.iter().all(|l| l.is_dir()));

    // Nothing referenced, min_age zero: the store empties.
    let r = gc(&store, Duration::ZERO, None, &[], SystemTime::now() + HOUR).await?;
    assert_eq!(r.removed_images.len(), 2);
    assert!(names(&layers_dir)?.is_empty() && names(&blobs_dir)?.is_empty());
    assert_eq!(r.kept_bytes, 0);
    Ok(())
}

#[tokio::test]
async fn keep_bytes_removes_least_recently_used_first() -> Result<()> {
    let tmp = TempDir::new("gc-lru");
    layouts(&tmp.path().join("images"))?;
    let store = open(tmp.path())?;
    let c = ensure(&store, "img:c").await?;
    let a = ensure(&store, "img:a").await?;
    let b = ensure(&store, "img:b").await?;
    let later = SystemTime::now() + 2 * HOUR;
    let total = gc(&store, HOUR, Some(u64::MAX), &[], later).await?;
    assert!(total.removed_images.is_empty() && total.kept_bytes > 0);

    // One byte under: only the least recently used image (c) goes.
    let r = gc(&store, HOUR, Some(total.kept_bytes - 1), &[], later).await?;
    assert_eq!(r.removed_images, vec![c.digest.clone()]);
    assert_eq!(r.kept_bytes + r.freed_bytes, total.kept_bytes);

    // Using c again makes a the oldest; a's own layer goes, the shared base stays.
    let c = ensure(&store, "img:c").await?;
    let now = gc(&store, HOUR, Some(u64::MAX), &[], later)
        .await?
        .kept_bytes;
    let r = gc(&store, HOUR, Some(now - 1), &[], later + HOUR).await?;
    assert_eq!(r.removed_images, vec![a.digest.clone()]);
    assert_eq!(r.removed_layers.len(), 1);
    assert!(b.layers.iter().chain(&c.layers).all(|l| l.is_dir()));
    Ok(())
}

#[tokio::test]
async fn an_image_whose_tag_moved_is_kept_while_referenced_by_digest() -> Result<()> {
    let tmp = TempDir::new("gc-moved");
    let layout = tmp.path().join("images/img");
    oci::add_image(&layout, "v", &[layer("old", 8 << 10)])?;
    let store = open(tmp.path())?;
    let old = ensure(&store, "img:v").await?;
    oci::add_image(&layout, "v", &[layer("new", 8 << 10)])?;
    let new = ensure(&store, "img:v").await?;
    assert_ne!(old.digest, new.digest);

    let later = SystemTime::now() + 2 * HOUR;
    // A task still runs the old image: naming its digest keeps it; the tag keeps the new one.
    let r = gc(&store, HOUR, None, &[&old.digest, "img:v"], later).await?;
    assert!(r.removed_images.is_empty(), "{r:?}");
    let r = gc(&store, HOUR, None, &["img:v"], later).await?;
    assert_eq!(r.removed_images, vec![old.digest.clone()]);
    assert!(!old.layers[0].exists() && new.layers[0].is_dir());
    Ok(())
}

#[tokio::test]
async fn leftovers_of_failed_pulls_are_removed() -> Result<()> {
    let tmp = TempDir::new("gc-orphans");
    let layout = tmp.path().join("images/img");
    let mut broken = layer("second", 8 << 10);
    broken.diff_id = oci::sha256(b"not this layer");
    oci::add_image(&layout, "broken", &[layer("first", 8 << 10), broken])?;
    oci::add_image(&layout, "ok", &[layer("kept", 8 << 10)])?;
    let store = open(tmp.path())?;
    let ok = ensure(&store, "img:ok").await?;
    assert!(store
        .ensure("img:broken", PullPolicy::Default, None)
        .await
        .is_err());
    let layers_dir = tmp.path().join("store/layers");
    assert_eq!(
        names(&layers_dir)?.len(),
        2,
        "the first layer of the failed pull is left"
    );

    let r = gc(&store, HOUR, None, &[], SystemTime::now()).await?;
    assert!(r.removed_images.is_empty());
    assert_eq!(names(&layers_dir)?, layer_names(&[&ok]));
    assert_eq!(names(&tmp.path().join("store/blobs/sha256"))?.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_waits_for_a_pull_in_progress() -> Result<()> {
    let tmp = TempDir::new("gc-race");
    let layout = tmp.path().join("images/img");
    // A small layer that lands first and a big one still unpacking when the GC starts: the
    // small one is in layers/ but not yet part of any recorded image.
    let big = Layer::plain(TarBuilder::new().file("big", &vec![1u8; 32 << 20]).finish());
    oci::add_image(&layout, "slow", &[layer("small", 1 << 10), big])?;
    let store = open(tmp.path())?;
    let pull = {
        let s = store.clone();
        tokio::spawn(async move { s.ensure("img:slow", PullPolicy::Default, None).await })
    };
    let layers_dir = tmp.path().join("store/layers");
    while names(&layers_dir)?.is_empty() && !pull.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let r = gc(&store, HOUR, None, &[], SystemTime::now()).await?;
    let image = pull.await??;
    assert!(
        r.removed_images.is_empty() && r.removed_layers.is_empty(),
        "{r:?}"
    );
    assert_eq!(
        r.freed_bytes, 0,
        "the GC ran after the pull recorded its image"
    );
    assert!(image.layers.iter().all(|l| l.is_dir()));
    Ok(())
}
