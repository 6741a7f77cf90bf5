//! Running a blocking [`Embedder`] from async code without stalling the reactor.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::{EmbedError, Embedder};

/// An [`Embedder`] behind tokio's blocking pool, with at most `max_concurrent` calls in flight (more would
/// only queue on the model's lock while holding blocking threads).
#[derive(Clone)]
pub struct BlockingEmbedder {
    inner: Arc<dyn Embedder>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for BlockingEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingEmbedder")
            .field("model_id", &self.inner.model_id())
            .field("available_permits", &self.permits.available_permits())
            .finish()
    }
}

impl BlockingEmbedder {
    pub fn new(inner: Arc<dyn Embedder>, max_concurrent: usize) -> Self {
        BlockingEmbedder {
            inner,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    pub async fn embed_documents(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _permit = self.acquire().await?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            inner.embed_documents(&refs)
        })
        .await
        .map_err(|e| EmbedError::Inference(format!("embedding task failed: {e}")))?
    }

    pub async fn embed_query(&self, text: String) -> Result<Vec<f32>, EmbedError> {
        let _permit = self.acquire().await?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.embed_query(&text))
            .await
            .map_err(|e| EmbedError::Inference(format!("embedding task failed: {e}")))?
    }

    async fn acquire(&self) -> Result<tokio::sync::SemaphorePermit<'_>, EmbedError> {
        self.permits
            .acquire()
            .await
            .map_err(|_| EmbedError::Inference("the embedding pool is closed".into()))
    }
}
