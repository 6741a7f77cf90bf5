//! The indexing pipeline of ragd, shared by `ragd import` and the server's workers: stored documents are
//! cleaned, chunked, embedded in batches and written to the store, the BM25 index and the vector index,
//! and become `completed` only once all three are durable; chunk-level edits for the segment API and the
//! removal of documents and datasets from the indexes; start-up recovery and a consistency check. It is the
//! only writer of the indexes, and serializes writes per dataset.

mod error;
mod pipeline;

pub use error::IndexError;
pub use pipeline::{IndexReport, Indexer, IndexerOptions, Progress, RecoveryReport, VerifyReport};
