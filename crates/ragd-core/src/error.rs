//! Errors of the core domain types.
//!
//! Policy: `InvalidProcessRule` is a user error (its message is shown as is, Dify-style); `Tokenizer` is an
//! internal failure of a token counter implementation.

/// Errors raised while validating domain values or counting tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    InvalidProcessRule(String),

    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
}
