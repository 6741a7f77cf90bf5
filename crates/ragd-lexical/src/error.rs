//! Errors of the lexical index.
//!
//! Policy: user errors ([`LexicalError::UnknownAnalyzer`], [`LexicalError::AnalyzerMismatch`],
//! [`LexicalError::Locked`]) say what to change; everything else is an internal failure of the disk or of
//! tantivy, carried with the index directory and the operation that failed so the log says where. Query text is
//! never an error: whatever a user types is analyzed into terms, at worst none.

use std::path::PathBuf;

use crate::Analyzer;

/// Everything that can go wrong opening, writing or searching a dataset's lexical index.
#[derive(Debug, thiserror::Error)]
pub enum LexicalError {
    #[error("unknown analyzer `{0}` (known: english, cjk)")]
    UnknownAnalyzer(String),

    #[error(
        "{path}: the lexical index was created with the `{found}` analyzer, not `{requested}`; rebuild the index to change it"
    )]
    AnalyzerMismatch {
        path: PathBuf,
        found: Analyzer,
        requested: Analyzer,
    },

    #[error(
        "{path}: the lexical index is in use by another writer (another ragd process on the same data dir?)"
    )]
    Locked { path: PathBuf },

    #[error("{path}: not a ragd lexical index: {reason}")]
    ForeignIndex { path: PathBuf, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {context}: {source}")]
    Tantivy {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: tantivy::TantivyError,
    },
}

impl LexicalError {
    /// A short, stable name of the kind of failure, for logs and error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            LexicalError::UnknownAnalyzer(_) => "unknown_analyzer",
            LexicalError::AnalyzerMismatch { .. } => "analyzer_mismatch",
            LexicalError::Locked { .. } => "locked",
            LexicalError::ForeignIndex { .. } => "foreign_index",
            LexicalError::Io { .. } => "io",
            LexicalError::Tantivy { .. } => "tantivy",
        }
    }
}
