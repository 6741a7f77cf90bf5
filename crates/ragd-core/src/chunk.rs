//! A chunk of a document: the unit that is embedded, indexed and returned by retrieval.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// One chunk (Dify: segment, or child chunk) of a cleaned document text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// 1-based position: among the document's segments, or among its parent's children for a child chunk.
    pub position: u32,
    /// For a child chunk (parent-child chunking), the position of its parent segment.
    pub parent: Option<u32>,
    /// Byte range of `content` in the cleaned text it was cut from.
    pub span: Range<usize>,
    /// The chunk text, exactly `cleaned_text[span]`.
    pub content: String,
    /// Characters (Unicode scalar values): what Dify reports as a segment's `word_count`.
    pub char_count: usize,
    /// Words by Unicode word segmentation (each CJK ideograph counts as one).
    pub word_count: usize,
    /// Tokens by the embedding model's tokenizer, special tokens excluded.
    pub token_count: usize,
    /// SHA-256 of `content`, lowercase hex.
    pub content_hash: String,
}
