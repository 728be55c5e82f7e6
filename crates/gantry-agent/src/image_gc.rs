//! Image GC every `every`: unreferenced images unused for `min_age` go, least recently used
//! first; images of tasks that have not stopped are always kept.

use std::sync::Arc;
use std::time::Duration;

use gantry_image::ImageStore;

use crate::engine::Engine;

pub async fn run(images: Arc<ImageStore>, engine: Engine, every: Duration, min_age: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let referenced = engine.images_in_use();
        let policy = gantry_image::GcPolicy {
            min_age,
            keep_bytes: None,
            referenced: &referenced,
        };
        match images.gc(policy, std::time::SystemTime::now()).await {
            Ok(r) if !r.removed_images.is_empty() => tracing::info!(
                images = r.removed_images.len(),
                layers = r.removed_layers.len(),
                freed_bytes = r.freed_bytes,
                "image cache cleaned"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "image cache clean-up failed"),
        }
    }
}
