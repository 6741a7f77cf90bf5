//! Vector index for ragd: the [`VectorIndex`] trait that retrieval searches through, and [`HnswIndex`], its
//! embedded implementation (an HNSW graph from usearch plus an exact copy of every vector, persisted in the
//! data directory).
//!
//! Keys are segment ids and documents are document ids, both as `u64` chosen by the caller; a document owns
//! many keys. Scores are cosine similarities in [-1, 1], whatever the norm of the stored vectors.
//!
//! Threads: every method takes `&self`; implementations are shared through `Arc` and serve many concurrent
//! searches with occasional writes. All methods block (CPU or disk): async callers use `spawn_blocking`.
//!
//! `HnswIndex` scans exactly when that is as fast as the graph (small indexes, selective filters, data
//! on which HNSW needs a very wide beam). It measures this on its own data; see `BENCHMARKS.md`.

mod calibrate;
mod error;
mod graph;
mod hnsw;
mod persist;
mod store;

pub use calibrate::Calibration;
pub use error::VectorError;
pub use hnsw::{HnswIndex, HnswOptions};

/// One vector to insert: `key` identifies it (a segment) and deletes it alone, `document` groups it for
/// deletion and filtering.
#[derive(Debug, Clone, Copy)]
pub struct VectorEntry<'a> {
    pub key: u64,
    pub document: u64,
    pub vector: &'a [f32],
}

/// A search result: `score` is the cosine similarity of the query with the stored vector, in [-1, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorHit {
    pub key: u64,
    pub document: u64,
    pub score: f32,
}

/// Decides, per DOCUMENT key, whether a document's vectors may be returned.
pub type DocumentPredicate<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// A store of vectors searchable by cosine similarity.
///
/// Implementations: [`HnswIndex`] (embedded: usearch HNSW graph plus exact vectors in the data directory;
/// the default, for one node). A Qdrant-backed implementation is the scale-out alternative.
pub trait VectorIndex: Send + Sync {
    /// Length of every vector this index accepts.
    fn dimensions(&self) -> usize;

    /// Inserts or replaces vectors (replace = same key; a key may move to another document). Within one
    /// call the last entry for a key wins. Vectors need not be normalized but must be finite.
    fn upsert(&self, entries: &[VectorEntry<'_>]) -> Result<(), VectorError>;

    /// Removes every vector of a document; returns how many.
    fn delete_document(&self, document: u64) -> Result<usize, VectorError>;

    /// Removes the vectors with these keys, whatever their document (absent keys are ignored); returns
    /// how many were removed.
    fn delete_keys(&self, keys: &[u64]) -> Result<usize, VectorError>;

    /// Top-k by cosine similarity, best first (ties by key ascending).
    ///
    /// With a filter, only vectors of allowed documents are returned, and the filter is applied during the
    /// search, never as a post-filter that loses results: if fewer than k allowed vectors exist, all of
    /// them are returned.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<DocumentPredicate<'_>>,
    ) -> Result<Vec<VectorHit>, VectorError>;

    /// Exact cosine of the query with each given key (`None` if absent), in order: hybrid fusion uses this
    /// so that keyword-only hits get their real vector score.
    fn score_keys(&self, query: &[f32], keys: &[u64]) -> Result<Vec<Option<f32>>, VectorError>;

    /// Makes the current contents durable atomically: after a crash at any instant, reopening sees either
    /// the previously persisted state or the new one, never a torn mix.
    fn persist(&self) -> Result<(), VectorError>;

    /// Number of vectors.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of vectors of a document.
    fn document_len(&self, document: u64) -> usize;

    /// Keys of a document's vectors, sorted ascending.
    fn document_keys(&self, document: u64) -> Vec<u64>;
}
