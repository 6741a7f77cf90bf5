//! One document through cleaning and chunking: the step that the importer and the server share.

use std::path::Path;

use ragd_core::{Chunk, ResolvedProcessRule, TokenCounter};

use crate::{IngestError, ParsedDocument, chunk_text, clean_text};

/// A document ready to embed and index.
#[derive(Debug, Clone)]
pub struct PreparedDocument {
    pub title: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub cleaned_text: String,
    pub chunks: Vec<Chunk>,
    /// Whether chunks are parent-child (then only child chunks are embedded, as Dify does).
    pub hierarchical: bool,
}

impl PreparedDocument {
    /// The chunks that get an embedding: child chunks in parent-child mode, every segment otherwise.
    pub fn chunks_to_embed(&self) -> impl Iterator<Item = &Chunk> {
        self.chunks
            .iter()
            .filter(move |c| !self.hierarchical || c.parent.is_some())
    }
}

/// Cleans and chunks a parsed document; a document with nothing left to index is [`IngestError::NoText`].
pub fn prepare_document(
    path: &Path,
    document: ParsedDocument,
    rule: &ResolvedProcessRule,
    counter: &dyn TokenCounter,
) -> Result<PreparedDocument, IngestError> {
    let cleaned_text = clean_text(&document.text, &rule.cleaning);
    let chunks = chunk_text(&cleaned_text, rule, counter)?;
    if chunks.is_empty() {
        return Err(IngestError::NoText {
            path: path.to_owned(),
            reason: "nothing is left after cleaning".into(),
        });
    }
    Ok(PreparedDocument {
        title: document.title,
        metadata: document.metadata,
        cleaned_text,
        chunks,
        hierarchical: rule.children.is_some(),
    })
}
