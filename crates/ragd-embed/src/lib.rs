//! Embedding models for ragd: the [`Embedder`] trait, its ONNX implementation on fastembed, the model's
//! tokenizer as a [`ragd_core::TokenCounter`], and the one command that fetches model files.
//!
//! Threads: [`OnnxEmbedder`] is blocking CPU work (ONNX Runtime uses `intra_threads` of its own); async
//! callers go through [`BlockingEmbedder`], which runs it on tokio's blocking pool behind a semaphore.
//! Network: only [`fetch::fetch_model`] reaches out (through pip); loading never does.

mod error;
pub mod fetch;
pub mod manifest;
mod onnx;
mod pool;
mod tokenizer;

pub use error::EmbedError;
pub use onnx::{OnnxEmbedder, OnnxEmbedderOptions};
pub use pool::BlockingEmbedder;
pub use tokenizer::ModelTokenizer;

/// A text embedding model.
///
/// Implementations: [`OnnxEmbedder`] (local ONNX model through fastembed; the default). A remote
/// OpenAI-compatible embedder can implement the same trait.
pub trait Embedder: Send + Sync {
    /// Stable identifier of the model, part of cache keys and index metadata.
    fn model_id(&self) -> &str;

    /// Length of every vector this model returns.
    fn dimensions(&self) -> usize;

    /// Embeds document texts (in batches of the configured size); one unit-norm vector per text, in order.
    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Embeds one query.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
}

/// Cosine similarity of two vectors (the dot product when both have unit norm, as ours do).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm_a = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let norm_b = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm_a == 0.0 || norm_b == 0.0 {
        0.0
    } else {
        dot / (norm_a * norm_b)
    }
}
