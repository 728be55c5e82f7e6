//! The image store: pull policies, the cache, and assembling an [`Image`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};

use crate::digest::sha256_digest;
use crate::fetch::Source;
use crate::manifest::{self, Document};
use crate::reference::ImageRef;
use crate::refindex::RefIndex;
use crate::registry::Registry;
use crate::unpack::Budget;
use crate::{layout, Image, ImageError, ImageStoreConfig, PullPolicy, RegistryAuth};

/// Layers fetched and unpacked at once for one image.
const LAYER_CONCURRENCY: usize = 3;

/// Content-addressed image store. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) max_unpacked_bytes: u64,
    pub(crate) seq: AtomicU64,
    layouts: Vec<PathBuf>,
    insecure: Vec<String>,
    pub(crate) index: RefIndex,
    layer_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Shared by every `ensure`, exclusive for `gc`: the GC never sees a half-done pull
    /// (layers renamed into place but the image not yet recorded).
    pub(crate) gc_lock: Arc<tokio::sync::RwLock<()>>,
}

impl Inner {
    pub(crate) fn layer_lock(&self, diff_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.layer_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(diff_id.to_string()).or_default().clone()
    }

    /// Drops the lock entries nobody holds (called by the GC, which excludes every pull).
    pub(crate) fn prune_layer_locks(&self) {
        let mut locks = self.layer_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
    }
}

impl ImageStore {
    /// Opens (creating) the store under `cfg.root` and clears debris of interrupted pulls.
    /// One process per root.
    pub fn open(cfg: ImageStoreConfig) -> Result<Self, ImageError> {
        let root = cfg.root;
        let tmp = root.join("tmp");
        match std::fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io(&tmp, e)),
        }
        for d in [root.join("blobs/sha256"), root.join("layers"), tmp] {
            std::fs::create_dir_all(&d).map_err(|e| ImageError::io(&d, e))?;
        }
        let index = RefIndex::load(root.join("references.json"), SystemTime::now())?;
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                max_unpacked_bytes: cfg.max_unpacked_bytes,
                seq: AtomicU64::new(0),
                layouts: cfg.layouts,
                insecure: cfg.insecure_registries,
                index,
                layer_locks: Mutex::new(HashMap::new()),
                gc_lock: Arc::new(tokio::sync::RwLock::new(())),
            }),
        })
    }

    /// Makes the image available locally and returns what the runtime needs.
    ///
    /// A matching local OCI layout is always used. Otherwise `policy` decides between the
    /// registry and what this store pulled before (see [`PullPolicy`]). Each success counts
    /// as a use of the image for [`ImageStore::gc`].
    pub async fn ensure(
        &self,
        reference: &str,
        policy: PullPolicy,
        auth: Option<&RegistryAuth>,
    ) -> Result<Image, ImageError> {
        let r = ImageRef::parse(reference).map_err(|reason| ImageError::InvalidReference {
            reference: reference.to_string(),
            reason,
        })?;
        let _gc = self.inner.gc_lock.read().await;
        let image = self.ensure_locked(&r, reference, policy, auth).await?;
        self.inner
            .index
            .touch(&r.to_string(), &image.digest, SystemTime::now())?;
        Ok(image)
    }

    async fn ensure_locked(
        &self,
        r: &ImageRef,
        reference: &str,
        policy: PullPolicy,
        auth: Option<&RegistryAuth>,
    ) -> Result<Image, ImageError> {
        if let Some(m) = layout::find(&self.inner.layouts, r)? {
            tracing::debug!(reference, layout = %m.dir.display(), "using local OCI layout");
            return self.pull(r, reference, Source::Layout(m)).await;
        }
        let key = r.to_string();
        let registry = || Source::Registry(Registry::new(r, auth, &self.inner.insecure));
        match policy {
            PullPolicy::Once | PullPolicy::PreferCached => match self.cached(&key, reference) {
                Some(image) => Ok(image),
                None => self.pull(r, reference, registry()).await,
            },
            PullPolicy::Always => self.pull(r, reference, registry()).await,
            PullPolicy::Default => match self.pull(r, reference, registry()).await {
                Ok(image) => Ok(image),
                Err(e) => match self.cached(&key, reference) {
                    Some(image) => {
                        tracing::warn!(reference, error = %e, "pull failed; using the cached image");
                        Ok(image)
                    }
                    None => Err(e),
                },
            },
        }
    }

    async fn pull(&self, r: &ImageRef, reference: &str, src: Source) -> Result<Image, ImageError> {
        let inner = &self.inner;
        let (bytes, digest, m) = inner
            .resolve_manifest(&src, r.digest.as_deref(), reference)
            .await?;
        inner.put_blob(&digest, &bytes)?;
        let config_bytes = inner.fetch_document(&src, &m.config, reference).await?;
        let parsed = manifest::parse_config(&config_bytes, m.layers.len()).map_err(|source| {
            ImageError::Manifest {
                reference: reference.to_string(),
                source,
            }
        })?;
        let budget = Arc::new(Budget::new(inner.max_unpacked_bytes));
        let src = Arc::new(src);
        // Owned inputs keep the future 'static and Send, so callers can spawn `ensure`.
        let mut jobs = Vec::with_capacity(m.layers.len());
        for (desc, diff_id) in m.layers.iter().zip(&parsed.diff_ids) {
            jobs.push(Arc::clone(inner).ensure_layer(
                Arc::clone(&src),
                desc.clone(),
                diff_id.clone(),
                Arc::clone(&budget),
                reference.to_string(),
            ));
        }
        let layers: Vec<PathBuf> = futures_util::stream::iter(jobs)
            .buffered(LAYER_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(Image {
            reference: reference.to_string(),
            digest,
            config: parsed.config,
            layers,
        })
    }

    /// The image this store pulled for `key` before, if all of it is still present and intact.
    fn cached(&self, key: &str, reference: &str) -> Option<Image> {
        let inner = &self.inner;
        let digest = inner.index.get(key)?;
        let bytes = inner.read_stored(&digest)?;
        let Ok(Document::Manifest(m)) = manifest::parse_document(&bytes) else {
            return None;
        };
        let config = inner.read_stored(&m.config.digest)?;
        let parsed = manifest::parse_config(&config, m.layers.len()).ok()?;
        let layers: Vec<PathBuf> = parsed
            .diff_ids
            .iter()
            .map(|d| inner.layer_path(d))
            .collect();
        if !layers.iter().all(|l| l.is_dir()) {
            tracing::debug!(
                reference,
                "cached image is missing layers; it will be pulled"
            );
            return None;
        }
        debug_assert_eq!(sha256_digest(&bytes), digest);
        Some(Image {
            reference: reference.to_string(),
            digest,
            config: parsed.config,
            layers,
        })
    }
}
