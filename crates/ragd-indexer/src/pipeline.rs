//! The pipeline: queued documents → cleaned, chunked, embedded → segments in the store, postings in the
//! BM25 index, vectors in the vector index → completed; and the chunk-level edits of the segment API.
//!
//! Consistency: a document's parts are written in this order: segments (store, status `indexing`), then
//! BM25 postings and vectors (staged), then at a checkpoint the BM25 commit and the vector index's atomic
//! persist, and only then, in one store transaction, the documents' `completed` status and the dataset's
//! version bump. A crash anywhere leaves documents that are not `completed`; [`Indexer::recover`] removes
//! their partial parts and queues them again. A completed document therefore always has all its parts.
//!
//! Chunk edits ([`Indexer::apply_chunk_changes`], [`Indexer::remove_document`]) follow the same order one
//! level down: the caller writes the store first (an edited segment is `indexing`), the indexer makes both
//! indexes durable, and only then does the caller mark the segments completed. They replace whole keys
//! (delete, then add), so repeating one after a failure or a crash converges to the right state.
//!
//! Writers: every index write of a dataset happens under that dataset's write lock (one per dataset, in the
//! [`Indexer`]), and the lock is released only when nothing is staged in the BM25 writer. So one writer's
//! commit never publishes another's half-done work and a rollback only drops the writer's own changes.
//! [`Indexer::index_documents`] holds it from staging a group to the next checkpoint, and checkpoints early
//! when an edit is waiting, so an edit waits for at most one group. Searches never take it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

/// A group's documents chunked, embedded and written to the store, ready to stage in the indexes.
struct Ready<'a> {
    document: &'a Document,
    /// The keys of the indexed chunks (segments, or child chunks), in the order of `texts`.
    keys: Vec<u64>,
    texts: Vec<String>,
    /// One per text, or none when the dataset is not embedded.
    vectors: Vec<Vec<f32>>,
    segments: usize,
    tokens: usize,
}

/// A dataset's write lock (see the module header), how many writers wait for it, and whether the
/// dataset's indexes were removed (then every later write fails instead of recreating them).
#[derive(Default)]
struct WriteLock {
    lock: Mutex<()>,
    waiting: AtomicUsize,
    removed: AtomicBool,
}

impl WriteLock {
    /// Takes the lock, counted as waiting until then (so a long writer can let it go early).
    fn acquire(&self) -> MutexGuard<'_, ()> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // The lock guards no data: a writer that panicked left nothing half-updated behind it but staged
        // BM25 changes, which the next writer's commit or rollback settles like any crash.
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    fn contended(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }
}

/// The indexing pipeline over one store and its indexes. Build one per data dir and share it: the
/// per-dataset write locks that keep concurrent writers apart live in it.
pub struct Indexer {
    store: Arc<dyn MetadataStore>,
    indexes: Arc<IndexRegistry>,
    embedder: Arc<dyn Embedder>,
    counter: Arc<dyn TokenCounter + Send + Sync>,
    options: IndexerOptions,
    writers: Mutex<HashMap<String, Arc<WriteLock>>>,
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
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// The write lock of a dataset. Entries are never dropped: a removed dataset's stays to refuse
    /// late writers (a few bytes per deleted dataset).
    fn write_lock(&self, dataset_id: &str) -> Arc<WriteLock> {
        self.writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(dataset_id.to_owned())
            .or_default()
            .clone()
    }

    /// Takes a dataset's write lock, unless its indexes were removed.
    fn lock_dataset<'l>(
        &self,
        lock: &'l WriteLock,
        dataset_id: &str,
    ) -> Result<MutexGuard<'l, ()>, IndexError> {
        let guard = lock.acquire();
        if lock.removed.load(Ordering::SeqCst) {
            return Err(IndexError::DatasetNotFound(dataset_id.to_owned()));
        }
        Ok(guard)
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
        let write_lock = self.write_lock(&dataset.id);
        let indexes = {
            let _writing = self.lock_dataset(&write_lock, &dataset.id)?;
            self.indexes.get(&dataset)?
        };
        let mut report = IndexReport::default();
        let mut pending: Vec<String> = Vec::new();
        // Keys of the documents whose parts are staged since the last checkpoint.
        let mut staged: Vec<u64> = Vec::new();
        let mut last_checkpoint = Instant::now();
        // Held from staging a group until the checkpoint that makes it durable.
        let mut writing: Option<MutexGuard<'_, ()>> = None;
        let outcome = (|| {
            for group in documents.chunks(self.options.group_documents.max(1)) {
                let ready = self.prepare_group(&dataset, group, &mut report, progress)?;
                if writing.is_none() {
                    writing = Some(self.lock_dataset(&write_lock, &dataset.id)?);
                }
                self.stage_group(
                    &dataset,
                    &indexes,
                    ready,
                    &mut pending,
                    &mut staged,
                    &mut report,
                )?;
                if last_checkpoint.elapsed() >= self.options.checkpoint_interval
                    || write_lock.contended()
                {
                    self.checkpoint(&dataset, &indexes, &mut pending, &mut report, progress)?;
                    staged.clear();
                    writing = None;
                    last_checkpoint = Instant::now();
                }
            }
            self.checkpoint(&dataset, &indexes, &mut pending, &mut report, progress)
        })();
        if outcome.is_err() && writing.is_some() {
            // Staged postings of unfinished documents are dropped, and their vectors leave the vector index
            // before another writer's persist can write them; parts a checkpoint made durable before it
            // failed belong to documents that are not completed, which recovery cleans up.
            let _ = indexes.lexical.rollback();
            for &document in &staged {
                let _ = indexes.vectors.delete_document(document);
            }
        }
        drop(writing);
        outcome.map(|()| report)
    }

    /// Cleans, chunks and embeds a group, and writes its segments to the store (nothing touches the
    /// indexes yet). A document that cannot be prepared is marked `error` and left out.
    fn prepare_group<'a>(
        &self,
        dataset: &Dataset,
        group: &'a [Document],
        report: &mut IndexReport,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<Vec<Ready<'a>>, IndexError> {
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
        let texts: Vec<&str> = ready
            .iter()
            .flat_map(|p| p.texts.iter().map(String::as_str))
            .collect();
        let mut vectors = self
            .embed(dataset, &texts, &|chunks| {
                progress(Progress::Embedded { chunks });
            })?
            .into_iter();
        report.embed_time += started.elapsed();

        let started = Instant::now();
        let all_keys = self.store.replace_chunks_many(
            &ready
                .iter()
                .map(|p| (p.document.id.as_str(), p.segments.as_slice()))
                .collect::<Vec<_>>(),
        )?;
        let written = ready
            .into_iter()
            .zip(all_keys)
            .map(|(p, keys)| {
                let keys: Vec<u64> = if p.hierarchical {
                    keys.iter()
                        .flat_map(|k| k.children.iter().copied())
                        .collect()
                } else {
                    keys.iter().map(|k| k.segment).collect()
                };
                debug_assert_eq!(keys.len(), p.texts.len());
                let vectors = vectors.by_ref().take(p.texts.len()).collect();
                Ready {
                    document: p.document,
                    keys,
                    vectors,
                    segments: p.segments.len(),
                    tokens: p.segments.iter().map(|s| s.tokens as usize).sum(),
                    texts: p.texts,
                }
            })
            .collect();
        report.write_time += started.elapsed();
        Ok(written)
    }

    /// Stages a prepared group's postings and vectors (under the dataset's write lock).
    fn stage_group(
        &self,
        dataset: &Dataset,
        indexes: &DatasetIndexes,
        ready: Vec<Ready<'_>>,
        pending: &mut Vec<String>,
        staged: &mut Vec<u64>,
        report: &mut IndexReport,
    ) -> Result<(), IndexError> {
        let started = Instant::now();
        let lexical_error = |source| IndexError::Lexical {
            dataset: dataset.id.clone(),
            source,
        };
        let vector_error = |source| IndexError::Vector {
            dataset: dataset.id.clone(),
            source,
        };
        for r in ready {
            let document = r.document.key;
            staged.push(document);
            // A resumed document may have parts from an interrupted run: replace them.
            indexes
                .lexical
                .delete_document(document)
                .map_err(lexical_error)?;
            indexes
                .vectors
                .delete_document(document)
                .map_err(vector_error)?;
            let entries: Vec<LexicalEntry<'_>> = r
                .keys
                .iter()
                .zip(&r.texts)
                .map(|(&key, text)| LexicalEntry {
                    key,
                    document,
                    text,
                })
                .collect();
            indexes.lexical.add(&entries).map_err(lexical_error)?;
            if !r.vectors.is_empty() {
                let entries: Vec<VectorEntry<'_>> = r
                    .keys
                    .iter()
                    .zip(&r.vectors)
                    .map(|(&key, vector)| VectorEntry {
                        key,
                        document,
                        vector,
                    })
                    .collect();
                indexes.vectors.upsert(&entries).map_err(vector_error)?;
                report.embedded_chunks += entries.len();
            }
            report.segments += r.segments;
            report.tokens += r.tokens;
            pending.push(r.document.id.clone());
        }
        report.write_time += started.elapsed();
        Ok(())
    }

    /// Embeds texts in batches of `embed_batch`, calling `embedded` after each batch; nothing when the
    /// dataset is not embedded (economy: BM25 only).
    fn embed(
        &self,
        dataset: &Dataset,
        texts: &[&str],
        embedded: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>, IndexError> {
        if !embeds(dataset) {
            return Ok(Vec::new());
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.options.embed_batch.max(1)) {
            vectors.extend(self.embedder.embed_documents(batch)?);
            embedded(batch.len());
        }
        Ok(vectors)
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
        self.make_durable(dataset, indexes)?;
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

    /// Applies chunk-level edits of one document to both indexes, durably: the chunks with keys in
    /// `removed` leave them, and each `(key, text)` of `upserts` is indexed under `document_key` (BM25, and
    /// its embedding unless the dataset is economy), replacing whatever that key had. Deletions apply
    /// first, so a key in both lists ends up indexed; within `upserts` the last text of a key wins. The
    /// keys are what the store gave the chunks: segment keys, or child chunk keys for parent-child
    /// documents (their children are what is indexed).
    ///
    /// When this returns `Ok`, the BM25 commit and the vector persist are done and the changes are
    /// searchable; the caller then marks the segments completed in the store (this never touches the
    /// store). On `Err` the BM25 index keeps its last committed state, while the vector index may hold
    /// some of the changes in memory, so the caller keeps the segments out of `completed` and calls this
    /// again (it is idempotent) or re-indexes the document. Embedding happens before the dataset's write
    /// lock is taken, so a failing model changes nothing.
    pub fn apply_chunk_changes(
        &self,
        dataset: &Dataset,
        document_key: u64,
        upserts: &[(u64, &str)],
        removed: &[u64],
    ) -> Result<(), IndexError> {
        if upserts.is_empty() && removed.is_empty() {
            return Ok(());
        }
        // The last text of a key wins, as in `VectorIndex::upsert`: the BM25 index must never hold a
        // key twice.
        let mut seen = HashSet::with_capacity(upserts.len());
        let mut upserts: Vec<(u64, &str)> = upserts
            .iter()
            .rev()
            .filter(|(key, _)| seen.insert(*key))
            .copied()
            .collect();
        upserts.reverse();
        let mut deleted: Vec<u64> = removed.to_vec();
        deleted.extend(upserts.iter().map(|(key, _)| *key));
        deleted.sort_unstable();
        deleted.dedup();

        let texts: Vec<&str> = upserts.iter().map(|(_, text)| *text).collect();
        let vectors = self.embed(dataset, &texts, &|_| {})?;
        let expected = if embeds(dataset) { texts.len() } else { 0 };
        if vectors.len() != expected {
            return Err(IndexError::Embed(ragd_embed::EmbedError::Inference(
                format!(
                    "the model returned {} vectors for {} texts",
                    vectors.len(),
                    texts.len()
                ),
            )));
        }

        let write_lock = self.write_lock(&dataset.id);
        let _writing = self.lock_dataset(&write_lock, &dataset.id)?;
        let indexes = self.indexes.get(dataset)?;
        let outcome = (|| {
            let lexical_error = |source| IndexError::Lexical {
                dataset: dataset.id.clone(),
                source,
            };
            let vector_error = |source| IndexError::Vector {
                dataset: dataset.id.clone(),
                source,
            };
            indexes
                .lexical
                .delete_keys(&deleted)
                .map_err(lexical_error)?;
            indexes
                .vectors
                .delete_keys(&deleted)
                .map_err(vector_error)?;
            let entries: Vec<LexicalEntry<'_>> = upserts
                .iter()
                .map(|&(key, text)| LexicalEntry {
                    key,
                    document: document_key,
                    text,
                })
                .collect();
            indexes.lexical.add(&entries).map_err(lexical_error)?;
            let entries: Vec<VectorEntry<'_>> = upserts
                .iter()
                .zip(&vectors)
                .map(|(&(key, _), vector)| VectorEntry {
                    key,
                    document: document_key,
                    vector,
                })
                .collect();
            indexes.vectors.upsert(&entries).map_err(vector_error)?;
            self.make_durable(dataset, &indexes)
        })();
        if outcome.is_err() {
            let _ = indexes.lexical.rollback();
        }
        outcome
    }

    /// Removes every chunk of a document from both indexes, durably (BM25 commit and vector persist done
    /// when it returns `Ok`). Call it before or after deleting the document from the store: until it
    /// succeeds the document's chunks stay indexed, but a document that is not in the store's catalog is
    /// never returned by retrieval. Removing a document that has no chunks is a no-op.
    pub fn remove_document(&self, dataset: &Dataset, document_key: u64) -> Result<(), IndexError> {
        let write_lock = self.write_lock(&dataset.id);
        let _writing = self.lock_dataset(&write_lock, &dataset.id)?;
        let indexes = self.indexes.get(dataset)?;
        self.purge_documents(dataset, &indexes, &[document_key])
    }

    /// Removes documents' chunks from both indexes and makes that durable; on error the BM25 writer is
    /// rolled back. The caller holds the dataset's write lock.
    fn purge_documents(
        &self,
        dataset: &Dataset,
        indexes: &DatasetIndexes,
        documents: &[u64],
    ) -> Result<(), IndexError> {
        let outcome = (|| {
            for &document in documents {
                indexes
                    .lexical
                    .delete_document(document)
                    .map_err(|source| IndexError::Lexical {
                        dataset: dataset.id.clone(),
                        source,
                    })?;
                indexes
                    .vectors
                    .delete_document(document)
                    .map_err(|source| IndexError::Vector {
                        dataset: dataset.id.clone(),
                        source,
                    })?;
            }
            self.make_durable(dataset, indexes)
        })();
        if outcome.is_err() {
            let _ = indexes.lexical.rollback();
        }
        outcome
    }

    /// Closes a dataset's indexes and deletes their directory ([`IndexRegistry::remove`]), once the writes
    /// in progress on the dataset have reached a checkpoint (it takes the dataset's write lock). Call it
    /// after deleting the dataset from the store. From then on every write of this indexer to the dataset
    /// fails with [`IndexError::DatasetNotFound`] instead of recreating its indexes (an `index_documents`
    /// still running fails at its next group). Removing a dataset that has no indexes is a no-op.
    pub fn remove_dataset(&self, dataset_id: &str) -> Result<(), IndexError> {
        let write_lock = self.write_lock(dataset_id);
        let _writing = write_lock.acquire();
        write_lock.removed.store(true, Ordering::SeqCst);
        self.indexes
            .remove(dataset_id)
            .map_err(|source| IndexError::RemoveIndexes {
                dataset: dataset_id.to_owned(),
                source,
            })
    }

    /// Commits the BM25 index, then persists the vector index.
    fn make_durable(&self, dataset: &Dataset, indexes: &DatasetIndexes) -> Result<(), IndexError> {
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
            let write_lock = self.write_lock(&dataset.id);
            let _writing = self.lock_dataset(&write_lock, &dataset.id)?;
            let indexes = self.indexes.get(&dataset)?;
            let keys: Vec<u64> = documents.iter().map(|d| d.key).collect();
            self.purge_documents(&dataset, &indexes, &keys)?;
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
        let embed = embeds(dataset);
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

/// Whether a dataset's chunks are embedded (every technique but economy, which is BM25 only).
fn embeds(dataset: &Dataset) -> bool {
    dataset.indexing_technique != Some(IndexingTechnique::Economy)
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
