//! Errors of the core domain types.
//!
//! Policy: every variant but `Tokenizer` is a user error whose message is shown as is (Dify-style
//! `invalid_param`); `Tokenizer` is an internal failure of a token counter implementation.

/// Errors raised while validating domain values or counting tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    InvalidProcessRule(String),

    /// A retrieval model or query that cannot run (bad top_k, threshold, weights, query).
    #[error("{0}")]
    InvalidRetrieval(String),

    /// A malformed metadata filtering condition.
    #[error("{0}")]
    InvalidFilter(String),

    /// A well-formed request for something ragd does not do (e.g. a rerank model).
    #[error("{0}")]
    Unsupported(String),

    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
}
