//! The indexing pipeline of ragd, shared by `ragd import` and the server's workers: stored documents are
//! cleaned, chunked, embedded in batches and written to the store, the BM25 index and the vector index,
//! and become `completed` only once all three are durable; start-up recovery and a consistency check.

mod error;
mod pipeline;

pub use error::IndexError;
pub use pipeline::{IndexReport, Indexer, IndexerOptions, Progress, RecoveryReport, VerifyReport};
