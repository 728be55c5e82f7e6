//! Getting verified bytes out of a source: documents (manifests, configs) into memory and
//! the blob store, layers into the layer store.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::digest::{hex_of, sha256_digest, Hasher, HashingReader};
use crate::layout::{self, LayoutMatch};
use crate::manifest::{self, Compression, Descriptor, Document, Manifest, MAX_DOCUMENT_BYTES};
use crate::registry::Registry;
use crate::store::Inner;
use crate::unpack::{unpack_layer, Budget};
use crate::ImageError;

/// Where an image comes from.
pub(crate) enum Source {
    Layout(LayoutMatch),
    Registry(Registry),
}

impl Inner {
    fn verify(
        &self,
        reference: &str,
        what: &'static str,
        expected: &str,
        actual: String,
    ) -> Result<(), ImageError> {
        if actual == expected {
            Ok(())
        } else {
            Err(ImageError::DigestMismatch {
                reference: reference.to_string(),
                what,
                expected: expected.to_string(),
                actual,
            })
        }
    }

    fn manifest_error(reference: &str, source: manifest::ManifestError) -> ImageError {
        ImageError::Manifest {
            reference: reference.to_string(),
            source,
        }
    }

    /// Resolves the reference to a platform image manifest: (bytes, digest, parsed).
    pub(crate) async fn resolve_manifest(
        &self,
        src: &Source,
        expected: Option<&str>,
        reference: &str,
    ) -> Result<(Vec<u8>, String, Manifest), ImageError> {
        let mut want = expected.map(str::to_string);
        // Top level (manifest or index), then at most one nested level.
        for _ in 0..2 {
            let bytes = match (src, &want) {
                (Source::Registry(r), w) => r.manifest(w.as_deref()).await?.0,
                (Source::Layout(m), Some(d)) => layout::read_blob(m, d)?,
                (Source::Layout(m), None) => layout::read_blob(m, &m.descriptor.digest)?,
            };
            let actual = sha256_digest(&bytes);
            if let Some(w) = &want {
                self.verify(reference, "manifest", w, actual.clone())?;
            } else if let Source::Layout(m) = src {
                self.verify(reference, "manifest", &m.descriptor.digest, actual.clone())?;
            }
            match manifest::parse_document(&bytes)
                .map_err(|e| Self::manifest_error(reference, e))?
            {
                Document::Manifest(m) => return Ok((bytes, actual, m)),
                Document::Index(index) => {
                    let d = manifest::select_platform(&index)
                        .map_err(|e| Self::manifest_error(reference, e))?;
                    manifest::check_digest(&d.digest)
                        .map_err(|e| Self::manifest_error(reference, e))?;
                    want = Some(d.digest.clone());
                }
            }
        }
        Err(Self::manifest_error(
            reference,
            manifest::ManifestError::MediaType("image index nested in an image index".into()),
        ))
    }

    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    pub(crate) fn layer_path(&self, diff_id: &str) -> PathBuf {
        self.root.join("layers").join(hex_of(diff_id))
    }

    fn tmp_path(&self, kind: &str, digest: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root.join("tmp").join(format!(
            "{kind}-{}-{}-{n}",
            hex_of(digest),
            std::process::id()
        ))
    }

    /// Stores already verified bytes under their digest (write to tmp, then rename).
    pub(crate) fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), ImageError> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        let tmp = self.tmp_path("blob", digest);
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &dest))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                ImageError::io(&dest, e)
            })
    }

    /// Reads a stored blob, checking it still has its digest.
    pub(crate) fn read_stored(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)).ok()?;
        (sha256_digest(&bytes) == digest).then_some(bytes)
    }

    /// A small JSON blob (the config), from the store or the source; verified and stored.
    pub(crate) async fn fetch_document(
        &self,
        src: &Source,
        desc: &Descriptor,
        reference: &str,
    ) -> Result<Vec<u8>, ImageError> {
        if let Some(bytes) = self.read_stored(&desc.digest) {
            return Ok(bytes);
        }
        let bytes = match src {
            Source::Layout(m) => layout::read_blob(m, &desc.digest)?,
            Source::Registry(r) => {
                let tmp = self.tmp_path("config", &desc.digest);
                let res = self
                    .download(r, desc, MAX_DOCUMENT_BYTES, &tmp, reference, "config")
                    .await
                    .and_then(|()| std::fs::read(&tmp).map_err(|e| ImageError::io(&tmp, e)));
                let _ = std::fs::remove_file(&tmp);
                res?
            }
        };
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(ImageError::BlobTooLarge {
                reference: reference.to_string(),
                what: "config",
                digest: desc.digest.clone(),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        self.verify(reference, "config", &desc.digest, sha256_digest(&bytes))?;
        self.put_blob(&desc.digest, &bytes)?;
        Ok(bytes)
    }

    /// Streams a registry blob to `dest`, checking its size (declared, and `limit`) and digest.
    async fn download(
        &self,
        reg: &Registry,
        desc: &Descriptor,
        limit: u64,
        dest: &Path,
        reference: &str,
        what: &'static str,
    ) -> Result<(), ImageError> {
        let digest = desc.digest.as_str();
        // A descriptor's size is authoritative: never read past it.
        let limit = if desc.size > 0 {
            limit.min(desc.size)
        } else {
            limit
        };
        let mut stream = reg.blob(digest).await?;
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| ImageError::io(dest, e))?;
        let mut hasher = Hasher::default();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| reg.blob_error(digest, &e))?;
            n += chunk.len() as u64;
            if n > limit {
                return Err(ImageError::BlobTooLarge {
                    reference: reference.to_string(),
                    what,
                    digest: digest.to_string(),
                    limit,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| ImageError::io(dest, e))?;
        }
        file.flush().await.map_err(|e| ImageError::io(dest, e))?;
        self.verify(reference, what, digest, hasher.finish())
    }

    /// Makes layer `desc` (uncompressed digest `diff_id`) present under `layers/`.
    /// One unpack per layer at a time (per-layer async lock); a complete layer appears
    /// atomically by rename, so a crash leaves only `tmp/` debris, cleared at open.
    pub(crate) async fn ensure_layer(
        self: Arc<Self>,
        src: Arc<Source>,
        desc: Descriptor,
        diff_id: String,
        budget: Arc<Budget>,
        reference: String,
    ) -> Result<PathBuf, ImageError> {
        let (src, desc, diff_id, reference) = (&*src, &desc, diff_id.as_str(), reference.as_str());
        let dest = self.layer_path(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let lock = self.layer_lock(diff_id);
        let _guard = lock.lock().await;
        if dest.is_dir() {
            return Ok(dest);
        }
        let compression = Compression::from_media_type(&desc.media_type)
            .map_err(|e| Self::manifest_error(reference, e))?;
        let blob_path = match src {
            Source::Layout(m) => m.blob_path(&desc.digest),
            Source::Registry(r) => {
                let tmp = self.tmp_path("layer-blob", &desc.digest);
                let limit = self.max_unpacked_bytes;
                if let Err(e) = self
                    .download(r, desc, limit, &tmp, reference, "layer")
                    .await
                {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
                tmp
            }
        };
        if let Source::Layout(m) = src {
            // A layout blob is checked before the unpacker sees a byte of it, as a downloaded
            // one is; the streaming check during the unpack still catches a file that changes
            // in between.
            let path = blob_path.clone();
            let actual = tokio::task::spawn_blocking(move || crate::digest::sha256_file(&path))
                .await
                .map_err(|e| ImageError::io(&blob_path, std::io::Error::other(e)))?
                .map_err(|source| layout::LayoutError::Read {
                    path: m.dir.clone(),
                    file: format!("blobs/sha256/{}", hex_of(&desc.digest)),
                    source,
                })?;
            self.verify(reference, "layer", &desc.digest, actual)?;
        }
        let unpack_dir = self.tmp_path("layer", diff_id);
        let res = self
            .unpack_verified(
                &blob_path,
                compression,
                &unpack_dir,
                desc,
                diff_id,
                budget,
                reference,
            )
            .await;
        if matches!(src, Source::Registry(_)) {
            let _ = std::fs::remove_file(&blob_path);
        }
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(&unpack_dir);
            return Err(e);
        }
        match std::fs::rename(&unpack_dir, &dest) {
            Ok(()) => Ok(dest),
            // Another process won the race with the same content.
            Err(_) if dest.is_dir() => {
                let _ = std::fs::remove_dir_all(&unpack_dir);
                Ok(dest)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&unpack_dir);
                Err(ImageError::io(&dest, e))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn unpack_verified(
        &self,
        blob: &Path,
        compression: Compression,
        dir: &Path,
        desc: &Descriptor,
        diff_id: &str,
        budget: Arc<Budget>,
        reference: &str,
    ) -> Result<(), ImageError> {
        std::fs::create_dir(dir).map_err(|e| ImageError::io(dir, e))?;
        let file = std::fs::File::open(blob).map_err(|e| ImageError::io(blob, e))?;
        let dir_owned = dir.to_path_buf();
        let unpack_err = |source| ImageError::Unpack {
            reference: reference.to_string(),
            digest: desc.digest.clone(),
            source,
        };
        let (blob_digest, got_diff_id) = tokio::task::spawn_blocking(move || {
            let mut hashed =
                HashingReader::new(std::io::BufReader::with_capacity(256 * 1024, file));
            let diff = unpack_layer(&mut hashed, compression, &dir_owned, &budget)?;
            // The decompressor may stop before the end of the blob; hash all of it.
            std::io::copy(&mut (&mut hashed).take(64 << 20), &mut std::io::sink())
                .map_err(crate::unpack::UnpackError::Archive)?;
            let root =
                std::fs::File::open(&dir_owned).map_err(crate::unpack::UnpackError::Archive)?;
            // Durable before it becomes visible by rename.
            rustix::fs::syncfs(&root).map_err(|e| crate::unpack::UnpackError::Archive(e.into()))?;
            Ok((hashed.digest(), diff))
        })
        .await
        .map_err(|e| ImageError::io(dir, std::io::Error::other(e)))?
        .map_err(unpack_err)?;
        self.verify(reference, "layer", &desc.digest, blob_digest)?;
        self.verify(reference, "layer diff_id", diff_id, got_diff_id)
    }
}
