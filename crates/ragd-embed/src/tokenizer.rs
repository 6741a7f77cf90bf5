//! The embedding model's own tokenizer, as a token counter for chunking.

use std::ops::Range;
use std::path::Path;

use ragd_core::{CoreError, TokenCounter};
use tokenizers::Tokenizer;

use crate::EmbedError;

/// The model's `tokenizer.json` with truncation and padding turned off (the shipped file truncates at 128
/// and pads to 128, which would make every count wrong for counting purposes).
#[derive(Clone)]
pub struct ModelTokenizer {
    inner: Tokenizer,
    special_tokens: usize,
}

impl std::fmt::Debug for ModelTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelTokenizer")
            .field("special_tokens", &self.special_tokens)
            .finish_non_exhaustive()
    }
}

impl ModelTokenizer {
    /// Loads `tokenizer.json` from a model directory.
    pub fn from_model_dir(model_dir: &Path) -> Result<Self, EmbedError> {
        let path = model_dir.join("tokenizer.json");
        if !path.exists() {
            return Err(EmbedError::ModelMissing { path });
        }
        let load_error = |message: String| EmbedError::Load {
            path: path.clone(),
            message,
        };
        let mut inner = Tokenizer::from_file(&path).map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| load_error(e.to_string()))?;
        let special_tokens = inner
            .encode("", true)
            .map_err(|e| load_error(e.to_string()))?
            .len();
        Ok(ModelTokenizer {
            inner,
            special_tokens,
        })
    }
}

impl TokenCounter for ModelTokenizer {
    fn count_tokens(&self, text: &str) -> Result<usize, CoreError> {
        self.inner
            .encode_fast(text, false)
            .map(|encoding| encoding.len())
            .map_err(|e| CoreError::Tokenizer(e.to_string()))
    }

    fn token_spans(&self, text: &str) -> Result<Vec<Range<usize>>, CoreError> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| CoreError::Tokenizer(e.to_string()))?;
        Ok(encoding
            .get_offsets()
            .iter()
            .map(|&(start, end)| start..end)
            .collect())
    }

    fn special_tokens(&self) -> usize {
        self.special_tokens
    }
}
