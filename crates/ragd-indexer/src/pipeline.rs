//! The pipeline: queued documents → cleaned, chunked, embedded → segments in the store, postings in the
//! BM25 index, vectors in the vector index → completed.
//!
//! Consistency: a document's parts are written in this order: segments (store, status `indexing`), then
//! BM25 postings and vectors (staged), then at a checkpoint the BM25 commit and the vector index's atomic
//! persist, and only then, in one store transaction, the documents' `completed` status and the dataset's
//! version bump. A crash anywhere leaves documents that are not `completed`; [`Indexer::recover`] removes
//! their partial parts and queues them again. A completed document therefore always has all its parts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ragd_core::dataset::{
    Dataset, DocForm, Document, IndexingStatus, IndexingTechnique, NewChildChunk, NewSegment,
};
use ragd_core::{Chunk, ProcessRule, TokenCounter};
use ragd_embed::Embedder;
use ragd_ingest::{chunk_text, clean_text};
use ragd_lexical::LexicalEntry;
use ragd_retrieve::{DatasetIndexes, IndexRegistry};
use ragd_store::MetadataStore;
use ragd_vector::VectorEntry;
use rayon::prelude::*;
use serde::Serialize;

use crate::IndexError;

/// Tuning of the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct IndexerOptions {
    /// Chunks per call into the embedding model (it batches further inside).
    pub embed_batch: usize,
    /// Documents prepared and written together.
    pub group_documents: usize,
    /// Longest time between durable checkpoints (documents become `completed` at checkpoints).
    pub checkpoint_interval: Duration,
}

impl Default for IndexerOptions {
    fn default() -> Self {
        Self {
            embed_batch: 64,
            group_documents: 32,
            checkpoint_interval: Duration::from_secs(3),
        }
    }
}

/// What the pipeline reports as it goes (for progress bars and logs).
#[derive(Debug)]
pub enum Progress<'a> {
    /// A document was cleaned and chunked.
    Prepared {
        document: &'a Document,
        chunks: usize,
    },
    /// This many more chunks were embedded.
    Embedded { chunks: usize },
    /// A checkpoint made these documents durable and searchable.
    Completed { documents: usize, version: u64 },
    /// A document could not be indexed; it is marked `error` with this reason.
    Failed {
        document: &'a Document,
        reason: &'a str,
    },
}

/// What one call of [`Indexer::index_documents`] did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IndexReport {
    pub completed: Vec<String>,
    /// Document id and reason.
    pub failed: Vec<(String, String)>,
    pub segments: usize,
    pub embedded_chunks: usize,
    pub tokens: usize,
    pub prepare_time: Duration,
    pub embed_time: Duration,
    pub write_time: Duration,
    pub checkpoint_time: Duration,
}

/// What start-up recovery did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RecoveryReport {
    /// Documents found unfinished, their partial parts removed and queued again.
    pub requeued: Vec<String>,
}

/// A consistency check of one dataset.
#[derive(Debug, Default, Clone, Serialize)]
pub struct VerifyReport {
    pub documents: usize,
    pub completed: usize,
    pub unfinished: usize,
    pub errors: usize,
    /// Completed documents whose parts disagree, with what is wrong.
    pub problems: Vec<String>,
}

/// A document cleaned and chunked, ready to embed.
struct Prepared<'a> {
    document: &'a Document,
    segments: Vec<NewSegment>,
    /// Texts to embed and index, in the order of the keys `replace_chunks` returns for them.
    texts: Vec<String>,
    /// Parent-child chunks: the children are what gets indexed.
    hierarchical: bool,
}

/// The indexing pipeline over one store and its indexes.
pub struct Indexer {
    store: Arc<dyn MetadataStore>,
    indexes: Arc<IndexRegistry>,
    embedder: Arc<dyn Embedder>,
    counter: Arc<dyn TokenCounter + Send + Sync>,
    options: IndexerOptions,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("model", &self.embedder.model_id())
            .field("options", &self.options)
            .finish()
    }
}

impl Indexer {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        indexes: Arc<IndexRegistry>,
        embedder: Arc<dyn Embedder>,
        counter: Arc<dyn TokenCounter + Send + Sync>,
        options: IndexerOptions,
    ) -> Self {
        Self {
            store,
            indexes,
            embedder,
            counter,
            options,
        }
    }

    /// Indexes documents of one dataset (queued, or unfinished after recovery), in groups, with durable
    /// checkpoints. A document that cannot be indexed is marked `error` and the others go on.
    pub fn index_documents(
        &self,
        dataset_id: &str,
        documents: &[Document],
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<IndexReport, IndexError> {
        let dataset = self
            .store
            .dataset(dataset_id)?
            .ok_or_else(|| IndexError::DatasetNotFound(dataset_id.to_owned()))?;
        if let Some(stray) = documents.iter().find(|d| d.dataset_id != dataset.id) {
            return Err(IndexError::WrongDataset {
                document: stray.id.clone(),
                dataset: dataset.id.clone(),
            });
        }
        let indexes = self.indexes.get(&dataset)?;
        let mut report = IndexReport::default();
        let mut pending: Vec<String> = Vec::new();
        let mut last_checkpoint = Instant::now();
        let outcome = (|| {
            for group in documents.chunks(self.options.group_documents.max(1)) {
                self.index_group(
                    &dataset,
                    &indexes,
                    group,
                    &mut pending,
                    &mut report,
                    progress,
                )?;
                if last_checkpoint.elapsed() >= self.options.checkpoint_interval {
                    self.checkpoint(&dataset, &indexes, &mut pending, &mut report, progress)?;
                    last_checkpoint = Instant::now();
                }
            }
            self.checkpoint(&dataset, &indexes, &mut pending, &mut report, progress)
        })();
        if outcome.is_err() {
            // Staged postings of unfinished documents are dropped; their vectors (in memory only) are
            // removed by recovery before they can ever be persisted as part of a completed state.
            let _ = indexes.lexical.rollback();
        }
        outcome.map(|()| report)
    }

    fn index_group(
        &self,
        dataset: &Dataset,
        indexes: &DatasetIndexes,
        group: &[Document],
        pending: &mut Vec<String>,
        report: &mut IndexReport,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<(), IndexError> {
        let started = Instant::now();
        // Status changes go to the store once per group (one transaction each), not once per document.
        let ids: Vec<String> = group.iter().map(|d| d.id.clone()).collect();
        self.store
            .set_indexing_status_many(&ids, IndexingStatus::Splitting)?;
        let prepared: Vec<Result<Prepared<'_>, (&Document, String)>> = group
            .par_iter()
            .map(|document| self.prepare(document).map_err(|reason| (document, reason)))
            .collect();
        let mut ready = Vec::with_capacity(prepared.len());
        for result in prepared {
            match result {
                Ok(p) => {
                    progress(Progress::Prepared {
                        document: p.document,
                        chunks: p.texts.len(),
                    });
                    ready.push(p);
                }
                Err((document, reason)) => {
                    self.store.fail_document(&document.id, &reason)?;
                    progress(Progress::Failed {
                        document,
                        reason: &reason,
                    });
                    report.failed.push((document.id.clone(), reason));
                }
            }
        }
        let ready_ids: Vec<String> = ready.iter().map(|p| p.document.id.clone()).collect();
        self.store
            .set_indexing_status_many(&ready_ids, IndexingStatus::Indexing)?;
        report.prepare_time += started.elapsed();

        let started = Instant::now();
        let embed = dataset.indexing_technique != Some(IndexingTechnique::Economy);
        let texts: Vec<&str> = ready
            .iter()
            .flat_map(|p| p.texts.iter().map(String::as_str))
            .collect();
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(if embed { texts.len() } else { 0 });
        if embed {
            for batch in texts.chunks(self.options.embed_batch.max(1)) {
                vectors.extend(self.embedder.embed_documents(batch)?);
                progress(Progress::Embedded {
                    chunks: batch.len(),
                });
            }
        }
        report.embed_time += started.elapsed();

        let started = Instant::now();
        let mut vectors = vectors.into_iter();
        let all_keys = self.store.replace_chunks_many(
            &ready
                .iter()
                .map(|p| (p.document.id.as_str(), p.segments.as_slice()))
                .collect::<Vec<_>>(),
        )?;
        for (p, keys) in ready.iter().zip(all_keys) {
            let indexed_keys: Vec<u64> = if p.hierarchical {
                keys.iter()
                    .flat_map(|k| k.children.iter().copied())
                    .collect()
            } else {
                keys.iter().map(|k| k.segment).collect()
            };
            debug_assert_eq!(indexed_keys.len(), p.texts.len());
            let document = p.document.key;
            let lexical_error = |source| IndexError::Lexical {
                dataset: dataset.id.clone(),
                source,
            };
            let vector_error = |source| IndexError::Vector {
                dataset: dataset.id.clone(),
                source,
            };
            // A resumed document may have parts from an interrupted run: replace them.
            indexes
                .lexical
                .delete_document(document)
                .map_err(lexical_error)?;
            indexes
                .vectors
                .delete_document(document)
                .map_err(vector_error)?;
            let entries: Vec<LexicalEntry<'_>> = indexed_keys
                .iter()
                .zip(&p.texts)
                .map(|(&key, text)| LexicalEntry {
                    key,
                    document,
                    text,
                })
                .collect();
            indexes.lexical.add(&entries).map_err(lexical_error)?;
            if embed {
                let owned: Vec<Vec<f32>> = vectors.by_ref().take(p.texts.len()).collect();
                let entries: Vec<VectorEntry<'_>> = indexed_keys
                    .iter()
                    .zip(&owned)
                    .map(|(&key, vector)| VectorEntry {
                        key,
                        document,
                        vector,
                    })
                    .collect();
                indexes.vectors.upsert(&entries).map_err(vector_error)?;
                report.embedded_chunks += entries.len();
            }
            report.segments += p.segments.len();
            report.tokens += p.segments.iter().map(|s| s.tokens as usize).sum::<usize>();
            pending.push(p.document.id.clone());
        }
        report.write_time += started.elapsed();
        Ok(())
    }

    /// Makes everything staged durable, then marks the pending documents completed (one transaction that
    /// also bumps the dataset's version).
    fn checkpoint(
        &self,
        dataset: &Dataset,
        indexes: &DatasetIndexes,
        pending: &mut Vec<String>,
        report: &mut IndexReport,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<(), IndexError> {
        if pending.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        indexes
            .lexical
            .commit()
            .map_err(|source| IndexError::Lexical {
                dataset: dataset.id.clone(),
                source,
            })?;
        indexes
            .vectors
            .persist()
            .map_err(|source| IndexError::Vector {
                dataset: dataset.id.clone(),
                source,
            })?;
        let version = self.store.complete_documents(&dataset.id, pending)?;
        progress(Progress::Completed {
            documents: pending.len(),
            version,
        });
        report.completed.append(pending);
        report.checkpoint_time += started.elapsed();
        Ok(())
    }

    /// Cleans and chunks one document from its stored text, per its process rule.
    fn prepare<'a>(&self, document: &'a Document) -> Result<Prepared<'a>, String> {
        if document.doc_form == DocForm::QaModel {
            return Err(
                "qa_model documents need an LLM to generate questions, which ragd does not run; \
                        use text_model or hierarchical_model"
                    .into(),
            );
        }
        let text = self
            .store
            .document_text(&document.id)
            .map_err(|e| format!("reading the document's text: {e}"))?
            .ok_or_else(|| "the document's source text is missing from the store".to_owned())?;
        let rule: ProcessRule = match &document.process_rule {
            None => ProcessRule::automatic(),
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|e| format!("invalid process_rule: {e}"))?,
        };
        let rule = rule.resolve().map_err(|e| e.to_string())?;
        let hierarchical = document.doc_form == DocForm::HierarchicalModel;
        if hierarchical != rule.children.is_some() {
            return Err(format!(
                "doc_form {} needs {} process rule (parent-child chunking is doc_form hierarchical_model \
                 with mode hierarchical)",
                document.doc_form.as_str(),
                if hierarchical {
                    "a hierarchical"
                } else {
                    "an automatic or custom"
                }
            ));
        }
        let cleaned = clean_text(&text, &rule.cleaning);
        let chunks =
            chunk_text(&cleaned, &rule, self.counter.as_ref()).map_err(|e| e.to_string())?;
        if chunks.is_empty() {
            return Err("the document has no text left to index after cleaning".into());
        }
        let (segments, texts) = to_segments(chunks, hierarchical);
        Ok(Prepared {
            document,
            segments,
            texts,
            hierarchical,
        })
    }

    /// Start-up recovery: documents left unfinished by a crash lose their partial parts in both indexes
    /// (made durable) and go back to `waiting` with their jobs queued, so they are indexed again.
    pub fn recover(&self) -> Result<RecoveryReport, IndexError> {
        let unfinished = self.store.unfinished_documents()?;
        let mut by_dataset: BTreeMap<&str, Vec<&Document>> = BTreeMap::new();
        for d in &unfinished {
            by_dataset.entry(&d.dataset_id).or_default().push(d);
        }
        let mut report = RecoveryReport::default();
        for (dataset_id, documents) in by_dataset {
            let Some(dataset) = self.store.dataset(dataset_id)? else {
                continue;
            };
            let indexes = self.indexes.get(&dataset)?;
            let lexical_error = |source| IndexError::Lexical {
                dataset: dataset.id.clone(),
                source,
            };
            for d in &documents {
                indexes
                    .lexical
                    .delete_document(d.key)
                    .map_err(lexical_error)?;
                indexes
                    .vectors
                    .delete_document(d.key)
                    .map_err(|source| IndexError::Vector {
                        dataset: dataset.id.clone(),
                        source,
                    })?;
            }
            indexes.lexical.commit().map_err(lexical_error)?;
            indexes
                .vectors
                .persist()
                .map_err(|source| IndexError::Vector {
                    dataset: dataset.id.clone(),
                    source,
                })?;
            for d in documents {
                if d.indexing_status != IndexingStatus::Waiting {
                    self.store
                        .set_indexing_status(&d.id, IndexingStatus::Waiting, None)?;
                    report.requeued.push(d.id.clone());
                }
            }
        }
        self.store.requeue_running_jobs()?;
        if !report.requeued.is_empty() {
            tracing::warn!(
                documents = report.requeued.len(),
                "recovered documents left unfinished by an interrupted run; they are queued again"
            );
        }
        Ok(report)
    }

    /// Checks that every completed document of a dataset has exactly its chunks in both indexes.
    pub fn verify(&self, dataset: &Dataset) -> Result<VerifyReport, IndexError> {
        let indexes = self.indexes.get(dataset)?;
        let embed = dataset.indexing_technique != Some(IndexingTechnique::Economy);
        let mut report = VerifyReport::default();
        for entry in self.store.catalog(&dataset.id)? {
            report.documents += 1;
            match entry.indexing_status {
                IndexingStatus::Completed => report.completed += 1,
                IndexingStatus::Error => {
                    report.errors += 1;
                    continue;
                }
                _ => {
                    report.unfinished += 1;
                    continue;
                }
            }
            let expected = self.store.document_index_keys(&entry.id)?;
            if expected.is_empty() {
                report.problems.push(format!(
                    "document {} is completed but has no chunks",
                    entry.id
                ));
            }
            let lexical =
                indexes
                    .lexical
                    .document_keys(entry.key)
                    .map_err(|source| IndexError::Lexical {
                        dataset: dataset.id.clone(),
                        source,
                    })?;
            if lexical != expected {
                report.problems.push(format!(
                    "document {}: {} chunks in the store, {} in the BM25 index",
                    entry.id,
                    expected.len(),
                    lexical.len()
                ));
            }
            if embed {
                let vectors = indexes.vectors.document_keys(entry.key);
                if vectors != expected {
                    report.problems.push(format!(
                        "document {}: {} chunks in the store, {} in the vector index",
                        entry.id,
                        expected.len(),
                        vectors.len()
                    ));
                }
            }
        }
        Ok(report)
    }
}

/// Turns chunks into the store's segments (children under their parent) and lists the texts to embed, in
/// the order of the keys the store returns: segments, or every segment's children in turn.
fn to_segments(chunks: Vec<Chunk>, hierarchical: bool) -> (Vec<NewSegment>, Vec<String>) {
    let (parents, children): (Vec<Chunk>, Vec<Chunk>) =
        chunks.into_iter().partition(|c| c.parent.is_none());
    let mut segments: Vec<NewSegment> = parents
        .into_iter()
        .map(|c| NewSegment {
            position: c.position,
            word_count: to_u32(c.char_count),
            tokens: to_u32(c.token_count),
            hash: c.content_hash,
            content: c.content,
            answer: None,
            keywords: Vec::new(),
            children: Vec::new(),
        })
        .collect();
    for c in children {
        let parent = c.parent.unwrap_or_default();
        if let Some(s) = segments.iter_mut().find(|s| s.position == parent) {
            s.children.push(NewChildChunk {
                position: c.position,
                word_count: to_u32(c.char_count),
                tokens: to_u32(c.token_count),
                hash: c.content_hash,
                content: c.content,
            });
        }
    }
    let texts = if hierarchical {
        segments
            .iter()
            .flat_map(|s| s.children.iter().map(|c| c.content.clone()))
            .collect()
    } else {
        segments.iter().map(|s| s.content.clone()).collect()
    };
    (segments, texts)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
