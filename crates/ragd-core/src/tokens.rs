//! The token-counting seam between chunking and the embedding model.

use std::ops::Range;

use crate::CoreError;

/// Counts tokens the way the embedding model does, so that a chunk's `max_tokens` means what the model
/// sees. Implemented by `ragd_embed::ModelTokenizer` (the model's own `tokenizer.json`).
///
/// Counts exclude the special tokens the model adds around every input (`[CLS]`, `[SEP]` for BERT-style
/// models); [`TokenCounter::special_tokens`] says how many those are.
pub trait TokenCounter: Send + Sync {
    /// Number of tokens in `text`, special tokens excluded.
    fn count_tokens(&self, text: &str) -> Result<usize, CoreError>;

    /// Byte range in `text` of every token, in order, special tokens excluded.
    fn token_spans(&self, text: &str) -> Result<Vec<Range<usize>>, CoreError>;

    /// How many special tokens the model adds to every input.
    fn special_tokens(&self) -> usize {
        0
    }
}
