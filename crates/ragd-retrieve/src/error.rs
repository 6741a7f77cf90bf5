//! Errors of retrieval.
//!
//! Policy: `DatasetNotFound` and `Invalid` are the caller's mistakes (404 and 400 `invalid_param` over HTTP);
//! `Unsupported` is a well-formed request for something ragd does not do; the rest are internal failures of
//! a store, an index or the embedding model, with their context.

use ragd_core::CoreError;

/// Errors raised while retrieving.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error("Dataset not found: {0}")]
    DatasetNotFound(String),

    #[error("{0}")]
    Invalid(String),

    #[error("{0}")]
    Unsupported(String),

    #[error("metadata store: {0}")]
    Store(#[from] ragd_store::StoreError),

    #[error("BM25 index of dataset {dataset}: {source}")]
    Lexical {
        dataset: String,
        #[source]
        source: ragd_lexical::LexicalError,
    },

    #[error("vector index of dataset {dataset}: {source}")]
    Vector {
        dataset: String,
        #[source]
        source: ragd_vector::VectorError,
    },

    #[error("embedding the query: {0}")]
    Embed(#[from] ragd_embed::EmbedError),

    #[error("dataset {dataset} has analyzer {found:?}, which this build does not know")]
    UnknownAnalyzer { dataset: String, found: String },
}

impl From<CoreError> for RetrieveError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Unsupported(m) => Self::Unsupported(m),
            other => Self::Invalid(other.to_string()),
        }
    }
}
