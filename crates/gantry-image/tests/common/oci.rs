//! Hand-built OCI layouts and tar layers, for tests that need images nobody would push.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip to memory");
    enc.finish().expect("gzip to memory")
}

/// A layer as a layout stores it. Fields are public so a test can make them disagree.
#[derive(Clone)]
pub struct Layer {
    pub media_type: &'static str,
    /// Stored under `blobs/sha256/<digest hex>`, whatever its real digest.
    pub blob: Vec<u8>,
    pub digest: String,
    /// What the config's `rootfs.diff_ids` says.
    pub diff_id: String,
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Self {
        let digest = sha256(&tar);
        Self {
            media_type: TAR,
            diff_id: digest.clone(),
            digest,
            blob: tar,
        }
    }

    pub fn gzip(tar: &[u8]) -> Self {
        let blob = gzip(tar);
        Self {
            media_type: TAR_GZIP,
            digest: sha256(&blob),
            diff_id: sha256(tar),
            blob,
        }
    }
}

fn put(dir: &Path, digest: &str, bytes: &[u8]) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes)?;
    Ok(())
}

/// Adds an image tagged `tag` to the OCI layout `dir` (created if needed). Returns the
/// manifest digest, which is the image digest `ImageStore::ensure` reports.
pub fn add_image(dir: &Path, tag: &str, layers: &[Layer]) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for l in layers {
        put(dir, &l.digest, &l.blob)?;
    }
    let config = serde_json::to_vec(&json!({
        "os": "linux",
        "config": { "Cmd": ["sh"], "Env": [format!("IMAGE={tag}")] },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>() },
    }))?;
    put(dir, &sha256(&config), &config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": { "mediaType": CONFIG, "digest": sha256(&config), "size": config.len() },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type, "digest": l.digest, "size": l.blob.len(),
        })).collect::<Vec<_>>(),
    }))?;
    let digest = sha256(&manifest);
    put(dir, &digest, &manifest)?;
    let index_path = dir.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(b) => serde_json::from_slice(&b)?,
        Err(_) => json!({ "schemaVersion": 2, "manifests": [] }),
    };
    let manifests = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("index.json without manifests"))?;
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    manifests.push(json!({
        "mediaType": MANIFEST, "digest": digest, "size": manifest.len(),
        "annotations": { "org.opencontainers.image.ref.name": tag },
    }));
    std::fs::write(&index_path, serde_json::to_vec(&index)?)?;
    Ok(digest)
}

/// Builds tar streams entry by entry with `tar::Header`, writing names straight into the
/// header bytes (and GNU long-name entries past 100 bytes) because `Header::set_path` refuses
/// exactly the paths these tests need.
#[derive(Default)]
pub struct TarBuilder {
    out: Vec<u8>,
}

impl TarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn header(
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        size: u64,
        mode: u32,
    ) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            let n = name.len().min(100);
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(100);
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h.set_cksum();
        h
    }

    /// Appends a header and its data (padded to 512), exactly as given.
    pub fn raw(mut self, h: &tar::Header, data: &[u8]) -> Self {
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = self.out.len().div_ceil(512) * 512;
        self.out.resize(pad, 0);
        self
    }

    /// A GNU `././@LongLink` entry (`kind` 'L' for a name, 'K' for a link target).
    pub fn gnu_long(self, kind: u8, value: &[u8]) -> Self {
        let mut v = value.to_vec();
        v.push(0);
        let h = Self::header(
            tar::EntryType::new(kind),
            b"././@LongLink",
            b"",
            v.len() as u64,
            0o644,
        );
        self.raw(&h, &v)
    }

    /// A PAX extended header (`x`) with `records` for the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let h = Self::header(
            tar::EntryType::XHeader,
            b"PaxHeaders/x",
            b"",
            body.len() as u64,
            0o644,
        );
        self.raw(&h, &body)
    }

    pub fn entry(
        mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        mode: u32,
    ) -> Self {
        if name.len() > 100 {
            self = self.gnu_long(b'L', name);
        }
        if link.len() > 100 {
            self = self.gnu_long(b'K', link);
        }
        let h = Self::header(kind, name, link, data.len() as u64, mode);
        self.raw(&h, data)
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(tar::EntryType::Regular, name.as_bytes(), b"", data, 0o644)
    }
    pub fn dir(self, name: &str) -> Self {
        self.entry(tar::EntryType::Directory, name.as_bytes(), b"", b"", 0o755)
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(
            tar::EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            b"",
            0o777,
        )
    }
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(
            tar::EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            b"",
            0o644,
        )
    }

    /// The archive with its end-of-archive marker.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }

    /// The archive as it stands, without an end marker (for truncation cases).
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }
}
