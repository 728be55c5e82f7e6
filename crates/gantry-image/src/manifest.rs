//! The JSON documents of an image: index, manifest, config (OCI and Docker schema 2).
//!
//! Only the fields Gantry uses are parsed, so an image with extra or odd fields still pulls.

use std::collections::HashMap;

use serde::Deserialize;

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What a registry is asked for (`Accept`).
pub(crate) const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Largest manifest or config we read into memory.
pub(crate) const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("image {what} is not valid JSON: {source}; the image is corrupt or not an OCI/Docker v2 image")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("image manifest has unsupported schemaVersion {0}; only schema 2 (OCI or Docker v2) images are supported, re-push the image with a current tool")]
    SchemaVersion(u32),
    #[error("unsupported manifest media type {0:?}; Gantry pulls OCI and Docker schema 2 images")]
    MediaType(String),
    #[error("image index has no manifest for {0}; build or pull an image for this platform")]
    NoPlatform(String),
    #[error("unsupported layer media type {0:?}; layers must be tar, tar+gzip or tar+zstd")]
    LayerMediaType(String),
    #[error(
        "image has {layers} layers but its config lists {diff_ids} diff_ids; the image is corrupt"
    )]
    LayerCount { layers: usize, diff_ids: usize },
    #[error("image has no layers")]
    NoLayers,
    #[error("invalid digest {0:?} in image metadata; expected sha256:<64 hex>")]
    Digest(String),
    #[error("image is for {found}, this node is {want}; pull an image built for {want}")]
    WrongPlatform { found: String, want: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An index/list or an image manifest.
pub(crate) enum Document {
    Index(Index),
    Manifest(Manifest),
}

/// Parses a manifest or index, telling them apart by mediaType (or shape when it is absent).
pub(crate) fn parse_document(bytes: &[u8]) -> Result<Document, ManifestError> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
        what: "manifest",
        source,
    })?;
    if probe.schema_version != 2 {
        return Err(ManifestError::SchemaVersion(probe.schema_version));
    }
    let is_index = match probe.media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => return Err(ManifestError::MediaType(other.to_string())),
        None => probe.manifests.is_some(),
    };
    let json = |source| ManifestError::Json {
        what: "manifest",
        source,
    };
    if is_index {
        Ok(Document::Index(
            serde_json::from_slice(bytes).map_err(json)?,
        ))
    } else {
        let m: Manifest = serde_json::from_slice(bytes).map_err(json)?;
        check_digest(&m.config.digest)?;
        for l in &m.layers {
            check_digest(&l.digest)?;
            Compression::from_media_type(&l.media_type)?;
        }
        if m.layers.is_empty() {
            return Err(ManifestError::NoLayers);
        }
        Ok(Document::Manifest(m))
    }
}

pub(crate) fn check_digest(d: &str) -> Result<(), ManifestError> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(())
        }
        _ => Err(ManifestError::Digest(d.to_string())),
    }
}

/// The node's platform under OCI names (`linux`, `amd64`/`arm64`/...).
pub(crate) fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    ("linux", arch)
}

/// Picks the entry of an index for this node's platform.
pub(crate) fn select_platform(index: &Index) -> Result<&Descriptor, ManifestError> {
    let (os, arch) = host_platform();
    index
        .manifests
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == arch)
        })
        .ok_or_else(|| ManifestError::NoPlatform(format!("{os}/{arch}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn from_media_type(mt: &str) -> Result<Self, ManifestError> {
        match mt {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Self::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Self::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Ok(Self::Zstd),
            other => Err(ManifestError::LayerMediaType(other.to_string())),
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<RawRuntimeConfig>,
    rootfs: RawRootfs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRuntimeConfig {
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// What the runtime needs from the image config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// Parsed config: the runtime part plus the uncompressed layer digests.
pub(crate) struct ParsedConfig {
    pub config: ImageConfig,
    pub diff_ids: Vec<String>,
}

pub(crate) fn parse_config(bytes: &[u8], layers: usize) -> Result<ParsedConfig, ManifestError> {
    let raw: RawConfig = serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
        what: "config",
        source,
    })?;
    let (os, arch) = host_platform();
    if (!raw.os.is_empty() && raw.os != os)
        || (!raw.architecture.is_empty() && raw.architecture != arch)
    {
        return Err(ManifestError::WrongPlatform {
            found: format!("{}/{}", raw.os, raw.architecture),
            want: format!("{os}/{arch}"),
        });
    }
    if raw.rootfs.diff_ids.len() != layers {
        return Err(ManifestError::LayerCount {
            layers,
            diff_ids: raw.rootfs.diff_ids.len(),
        });
    }
    for d in &raw.rootfs.diff_ids {
        check_digest(d)?;
    }
    let rc = raw.config.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ParsedConfig {
        config: ImageConfig {
            env: rc.env.unwrap_or_default(),
            entrypoint: rc.entrypoint.unwrap_or_default(),
            cmd: rc.cmd.unwrap_or_default(),
            working_dir: non_empty(rc.working_dir),
            user: non_empty(rc.user),
        },
        diff_ids: raw.rootfs.diff_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:c146121f30f38352a8bcb48f02bb3b9d90c1145f70c4c22d9ca953449854d76d";

    #[test]
    fn parses_docker_v2_manifest_and_config() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D}","size":1}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{D}","size":2}}]}}"#
        );
        let Ok(Document::Manifest(m)) = parse_document(m.as_bytes()) else {
            panic!("not a manifest")
        };
        assert_eq!(m.layers.len(), 1);
        let (os, arch) = host_platform();
        let c = format!(
            r#"{{"os":"{os}","architecture":"{arch}","config":{{"Env":["A=1"],"Cmd":null,"WorkingDir":"","User":"app"}},
            "rootfs":{{"type":"layers","diff_ids":["{D}"]}}}}"#
        );
        let p = parse_config(c.as_bytes(), 1).expect("config");
        assert_eq!(p.config.env, vec!["A=1"]);
        assert!(p.config.cmd.is_empty());
        assert_eq!(p.config.working_dir, None);
        assert_eq!(p.config.user.as_deref(), Some("app"));
        assert!(parse_config(c.as_bytes(), 2).is_err());
    }

    #[test]
    fn selects_host_platform_from_index() {
        let (os, arch) = host_platform();
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{a}","size":1,"platform":{{"os":"windows","architecture":"{arch}"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"{os}","architecture":"{arch}"}}}}]}}"#,
            a = "a".repeat(64)
        );
        let Ok(Document::Index(i)) = parse_document(idx.as_bytes()) else {
            panic!("not an index")
        };
        assert_eq!(select_platform(&i).map(|d| d.digest.as_str()).ok(), Some(D));
    }

    #[test]
    fn refuses_bad_documents() {
        assert!(parse_document(br#"{"schemaVersion":1}"#).is_err());
        assert!(parse_document(br#"{"schemaVersion":2,"mediaType":"text/html"}"#).is_err());
        let bad_digest = r#"{"schemaVersion":2,"config":{"digest":"sha256:../../x"},"layers":[]}"#;
        assert!(parse_document(bad_digest.as_bytes()).is_err());
        let bad_layer = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D}"}},"layers":[{{"mediaType":"application/x-rar","digest":"{D}"}}]}}"#
        );
        assert!(parse_document(bad_layer.as_bytes()).is_err());
    }
}
