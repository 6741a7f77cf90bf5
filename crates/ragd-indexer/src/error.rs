//! Errors of the indexing pipeline.
//!
//! Policy: a problem with one document (its rule, its text) fails that document (status `error` with the
//! reason) and the batch goes on; a failing store, index or model aborts the batch, leaving unfinished
//! documents for recovery. A failing chunk edit or removal leaves the segments' store state to the caller and can be repeated.

/// Errors that stop a batch.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("metadata store: {0}")]
    Store(#[from] ragd_store::StoreError),

    #[error(transparent)]
    Indexes(#[from] ragd_retrieve::RetrieveError),

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

    #[error("embedding: {0}")]
    Embed(#[from] ragd_embed::EmbedError),

    #[error("dataset {0} not found")]
    DatasetNotFound(String),

    /// Deleting a removed dataset's index directory failed (its indexes are closed already).
    #[error("removing the indexes of dataset {dataset}: {source}")]
    RemoveIndexes {
        dataset: String,
        #[source]
        source: std::io::Error,
    },

    /// A caller asked to index a document of another dataset; nothing was done.
    #[error("document {document} does not belong to dataset {dataset}")]
    WrongDataset { document: String, dataset: String },
}
