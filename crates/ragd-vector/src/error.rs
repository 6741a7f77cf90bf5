//! Errors of the vector index.
//!
//! Policy: `DimensionMismatch`, `NonFinite`, `NonFiniteQuery` and `InvalidOptions` are caller errors (a wrong model, a broken
//! embedding, a bad configuration) and say what was expected. `Locked` means another process (or another
//! handle in this one) has the index open. `Io` and `Corrupt` name the file involved; `Corrupt` is only
//! raised for the file that is the source of truth (`vectors.bin` or `CURRENT`): an unusable HNSW graph file
//! is rebuilt from the vectors instead, with a warning. `Usearch` carries the native library's message.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("vector has {found} dimensions, the index expects {expected}")]
    DimensionMismatch { expected: usize, found: usize },

    #[error("vector for key {key} contains a NaN or infinite component")]
    NonFinite { key: u64 },

    #[error("query vector contains a NaN or infinite component")]
    NonFiniteQuery,

    #[error("invalid vector index options: {0}")]
    InvalidOptions(String),

    #[error("vector index at {path} is already open (by this or another process)")]
    Locked { path: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "vector index file {path} is corrupt: {reason}; restore the index directory from a backup or re-index the dataset"
    )]
    Corrupt { path: PathBuf, reason: String },

    #[error("usearch: {0}")]
    Usearch(String),
}

impl VectorError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> VectorError {
        let path = path.into();
        move |source| VectorError::Io { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> VectorError {
        VectorError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Converts usearch's `cxx::Exception` (named through its `Display` to avoid a direct `cxx` dependency).
pub(crate) fn usearch_error(error: impl std::fmt::Display) -> VectorError {
    VectorError::Usearch(error.to_string())
}
