//! Errors of evaluation.
//!
//! Policy: every error about input data names the file and, for a bad record, its 1-based line, and says
//! what is wrong in words a user can act on. Nothing here is an internal error: the crate does no I/O
//! besides reading and writing the files it is given, and never panics on input.

use std::path::PathBuf;

/// Everything that can go wrong reading a dataset or a run, or writing TREC files.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}:{line}: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error("cannot write query `{query_id}` in TREC format: {reason}")]
    NotTrecWritable { query_id: String, reason: String },

    #[error("writing TREC output: {0}")]
    Write(#[source] std::io::Error),
}
