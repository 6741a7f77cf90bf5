//! Retrieval for ragd: semantic, BM25 and hybrid search over each dataset's indexes, scores normalized
//! to [0, 1], weighted and reciprocal rank fusion, thresholds, Dify metadata filters, several datasets in
//! one ranking, and per-record score explanations.
//!
//! Handlers never touch the indexes: they call [`Retriever`], which reads the [`IndexRegistry`] and the
//! metadata store. Scores: see [`fusion`].

mod catalog;
mod error;
pub mod fusion;
mod indexes;
mod retriever;

pub use catalog::{Allowed, Catalog, CatalogCache};
pub use error::RetrieveError;
pub use indexes::{DatasetIndexes, IndexRegistry};
pub use retriever::{
    Explain, Record, Retrieval, RetrieveRequest, Retriever, ScoredChildChunk, StageTimings,
};
