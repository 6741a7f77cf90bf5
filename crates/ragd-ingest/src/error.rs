//! Errors of ingestion.
//!
//! Policy: every variant that concerns a file names that file and says what is wrong with it in words a
//! user can act on; nothing here is an internal error except [`IngestError::Tokenizer`]. Callers (the CLI
//! summary table, later the HTTP layer) map variants to their own outputs; this crate never panics on input.

use std::path::PathBuf;

/// Everything that can go wrong turning a file into chunks.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },

    #[error(
        "{path}: unsupported file type `{extension}` (supported: txt, md, markdown, html, htm, pdf, docx, csv, json, jsonl)"
    )]
    Unsupported { path: PathBuf, extension: String },

    #[error(
        "{path}: the file is {size} bytes, over the limit of {limit} bytes (raise ingest.max_file_bytes to accept it)"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("{path}: corrupt {format} file: {reason}")]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },

    #[error(
        "{path}: the {format} file is encrypted or password-protected; save an unprotected copy and import that"
    )]
    Encrypted { path: PathBuf, format: &'static str },

    #[error("{path}: {reason}")]
    Encoding { path: PathBuf, reason: String },

    #[error("{path}: no text could be extracted ({reason})")]
    NoText { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    InvalidRecord { path: PathBuf, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid process rule: {0}")]
    InvalidProcessRule(String),

    #[error("token counting failed: {0}")]
    Tokenizer(String),
}

impl IngestError {
    /// A short, stable name of the kind of failure, for summary tables and (later) error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::Empty { .. } => "empty",
            IngestError::Unsupported { .. } => "unsupported",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::Corrupt { .. } => "corrupt",
            IngestError::Encrypted { .. } => "encrypted",
            IngestError::Encoding { .. } => "encoding",
            IngestError::NoText { .. } => "no_text",
            IngestError::InvalidRecord { .. } => "invalid_record",
            IngestError::Io { .. } => "io",
            IngestError::InvalidProcessRule(_) => "invalid_process_rule",
            IngestError::Tokenizer(_) => "tokenizer",
        }
    }
}
