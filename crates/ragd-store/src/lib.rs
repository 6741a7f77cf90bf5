//! Metadata store for ragd: datasets, documents (with their source text and indexing progress),
//! segments and child chunks, metadata fields and values, and the indexing job queue.
//!
//! [`MetadataStore`] is the seam; [`SqliteStore`] is the embedded implementation (a PostgreSQL one can
//! follow for scale-out). The trait is synchronous: async callers wrap calls in `spawn_blocking`.
//! [`conformance`] holds the behaviour every implementation must show, as a test suite.
//!
//! Invariants every implementation keeps:
//! - an operation that writes more than one row is one transaction: a crash leaves the old state or the
//!   new one, never a half-written document;
//! - document keys and chunk keys (segments and child chunks share one sequence) are never reused, since
//!   the BM25 and vector indexes refer to them;
//! - every change that can alter retrieval results (completing, failing or deleting a completed document,
//!   enabling, archiving, metadata values and field names, retrieval settings) bumps the dataset's
//!   `version`, which cache keys include; a completion is durable before it returns.

pub mod conformance;
mod error;
mod sqlite;
mod values;

use ragd_core::dataset::{
    ApiKey, CatalogEntry, ChildChunk, ChunkKeys, Dataset, DatasetUpdate, Document, DocumentQuery,
    DocumentUpdate, HydratedChunk, IndexingJob, IndexingStatus, MetadataField, MetadataType,
    NewApiKey, NewDataset, NewDocument, NewSegment, Page, Paged, Segment, SegmentContent,
    SegmentStatus, SegmentUpdate,
};
use serde_json::Value;

pub use error::StoreError;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use values::{normalize_metadata_value, validate_dataset_name, validate_metadata_name};

/// Result of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The metadata store: everything about datasets and documents except the indexes themselves.
///
/// Implementations:
/// - [`SqliteStore`]: one SQLite file in the data dir (WAL, one writer, a pool of readers). The default,
///   and the right choice for a single `ragd serve`.
/// - PostgreSQL (to come): shared by stateless api and worker replicas in scale-out.
///
/// Methods that take a `dataset_id` and a document or field id fail with [`StoreError::NotFound`] when
/// the dataset does not exist or the item is not in that dataset. Lists of one dataset fail the same way
/// for an unknown dataset. Lookups return `Ok(None)` for what does not exist.
pub trait MetadataStore: Send + Sync {
    // ----- datasets -----

    /// Creates a dataset (version 1, API enabled, built-in fields off). The name must be 1 to 40
    /// characters ([`StoreError::Invalid`]) and unique, case-sensitively
    /// ([`StoreError::DatasetNameTaken`]).
    fn create_dataset(&self, new: &NewDataset) -> StoreResult<Dataset>;

    fn dataset(&self, id: &str) -> StoreResult<Option<Dataset>>;

    fn dataset_by_name(&self, name: &str) -> StoreResult<Option<Dataset>>;

    /// Datasets, newest first; `keyword` matches a substring of the name (case-insensitive for ASCII).
    fn list_datasets(&self, page: Page, keyword: Option<&str>) -> StoreResult<Paged<Dataset>>;

    /// Applies the `Some` fields of `update`. Bumps the version when a retrieval-relevant field changes
    /// (indexing technique, embedding model or provider, retrieval model, built-in fields).
    fn update_dataset(&self, id: &str, update: &DatasetUpdate) -> StoreResult<Dataset>;

    /// Deletes the dataset and everything in it; false if there was no such dataset.
    fn delete_dataset(&self, id: &str) -> StoreResult<bool>;

    /// Bumps the dataset's version and returns the new one.
    fn bump_dataset_version(&self, id: &str) -> StoreResult<u64>;

    // ----- documents -----

    /// Creates a document (status waiting, next position, its text kept) and queues its indexing job,
    /// in one transaction. `new.metadata` names existing fields; an unknown name or a badly typed value
    /// is [`StoreError::Invalid`] and nothing is created.
    fn create_document(&self, new: &NewDocument) -> StoreResult<(Document, IndexingJob)>;

    fn document(&self, dataset_id: &str, document_id: &str) -> StoreResult<Option<Document>>;

    /// The dataset's document with this content hash (the oldest, if several).
    fn document_by_hash(&self, dataset_id: &str, hash: &str) -> StoreResult<Option<Document>>;

    /// The documents created in one batch, by position.
    fn documents_by_batch(&self, dataset_id: &str, batch: &str) -> StoreResult<Vec<Document>>;

    /// Documents, newest first, filtered by name substring and Dify's display status.
    fn list_documents(
        &self,
        dataset_id: &str,
        query: &DocumentQuery,
    ) -> StoreResult<Paged<Document>>;

    /// The parsed source text kept for indexing.
    fn document_text(&self, document_id: &str) -> StoreResult<Option<String>>;

    /// Moves a document along its lifecycle and stamps the stage timestamps it passes
    /// (`processing_started_at` on leaving waiting, `parsing_completed_at` once past parsing, and so on);
    /// `Error` records `error` and `stopped_at`, `Paused` records `paused_at`, `Waiting` starts over (all
    /// lifecycle timestamps and the error cleared). `Completed` is refused: completion goes through
    /// [`MetadataStore::complete_documents`], which also publishes it. Leaving completed bumps the version.
    fn set_indexing_status(
        &self,
        document_id: &str,
        status: IndexingStatus,
        error: Option<&str>,
    ) -> StoreResult<Document>;

    /// Replaces the document's segments and child chunks with `segments` (status indexing) in one
    /// transaction, and sets its counts (segments, characters, tokens; completed segments 0). Returns
    /// the new keys in the order given; old keys are gone for good.
    fn replace_chunks(
        &self,
        document_id: &str,
        segments: &[NewSegment],
    ) -> StoreResult<Vec<ChunkKeys>>;

    /// [`MetadataStore::set_indexing_status`] for several documents, in one transaction where the backend
    /// can (the indexing pipeline moves a whole group of documents at once). All or nothing.
    fn set_indexing_status_many(
        &self,
        document_ids: &[String],
        status: IndexingStatus,
    ) -> StoreResult<()> {
        for id in document_ids {
            self.set_indexing_status(id, status, None)?;
        }
        Ok(())
    }

    /// [`MetadataStore::replace_chunks`] for several documents, in one transaction where the backend can.
    /// Returns each document's keys, in the order given.
    fn replace_chunks_many(
        &self,
        documents: &[(&str, &[NewSegment])],
    ) -> StoreResult<Vec<Vec<ChunkKeys>>> {
        documents
            .iter()
            .map(|(id, segments)| self.replace_chunks(id, segments))
            .collect()
    }

    /// Progress report while indexing.
    fn set_completed_segments(&self, document_id: &str, completed: u64) -> StoreResult<()>;

    /// Publishes indexed documents in one durable transaction: documents completed, their segments
    /// completed, their jobs done, the dataset version bumped once. Returns the new version (the current
    /// one, unchanged, for an empty list).
    fn complete_documents(&self, dataset_id: &str, document_ids: &[String]) -> StoreResult<u64>;

    /// Marks the document as failed (status error, `error`, `stopped_at`) and its pending jobs failed.
    fn fail_document(&self, document_id: &str, reason: &str) -> StoreResult<()>;

    /// Enables or disables documents (disabling records `disabled_at` and `disabled_by`); returns the
    /// new dataset version.
    fn set_documents_enabled(
        &self,
        dataset_id: &str,
        document_ids: &[String],
        enabled: bool,
        by: &str,
    ) -> StoreResult<u64>;

    /// Archives or un-archives documents; returns the new dataset version.
    fn set_documents_archived(
        &self,
        dataset_id: &str,
        document_ids: &[String],
        archived: bool,
    ) -> StoreResult<u64>;

    /// Deletes a document with its text, chunks, metadata values and jobs; false if there was none.
    /// Bumps the version if the document was completed.
    fn delete_document(&self, dataset_id: &str, document_id: &str) -> StoreResult<bool>;

    /// Sorted keys of the chunks that are embedded and indexed: child chunks for a hierarchical document,
    /// segments otherwise.
    fn document_index_keys(&self, document_id: &str) -> StoreResult<Vec<u64>>;

    /// Documents of every dataset that a worker still has to move on (not completed, error or paused).
    fn unfinished_documents(&self) -> StoreResult<Vec<Document>>;

    /// One entry per document of the dataset, by key: what metadata filters are evaluated on.
    fn catalog(&self, dataset_id: &str) -> StoreResult<Vec<CatalogEntry>>;

    // ----- segments -----

    /// Resolves search hits: one entry per key found, in the order of `keys`; unknown keys are skipped.
    /// A child chunk's key comes with its parent segment.
    fn hydrate(&self, keys: &[u64]) -> StoreResult<Vec<HydratedChunk>>;

    fn segment(&self, dataset_id: &str, segment_id: &str) -> StoreResult<Option<Segment>>;

    /// The document's segments by position; `keyword` matches a substring of the content.
    fn list_segments(
        &self,
        document_id: &str,
        page: Page,
        keyword: Option<&str>,
        status: Option<SegmentStatus>,
    ) -> StoreResult<Paged<Segment>>;

    /// The segment's child chunks by position.
    fn child_chunks(&self, segment_id: &str) -> StoreResult<Vec<ChildChunk>>;

    /// Counts one hit for each distinct segment among `keys` (a child chunk's key counts for its
    /// parent). A write: callers on the retrieval path should batch these off the response path.
    fn increment_hit_counts(&self, keys: &[u64]) -> StoreResult<()>;

    // ----- metadata fields -----

    /// Creates a metadata field. Names are 1 to 255 characters, not a built-in field name
    /// ([`StoreError::Invalid`]) and unique in the dataset ([`StoreError::MetadataNameTaken`]).
    fn create_metadata_field(
        &self,
        dataset_id: &str,
        name: &str,
        field_type: MetadataType,
    ) -> StoreResult<MetadataField>;

    /// The dataset's fields in creation order, each with the number of documents that have a value.
    fn metadata_fields(&self, dataset_id: &str) -> StoreResult<Vec<(MetadataField, u64)>>;

    /// Renames a field (values stay); bumps the version.
    fn rename_metadata_field(
        &self,
        dataset_id: &str,
        field_id: &str,
        name: &str,
    ) -> StoreResult<MetadataField>;

    /// Deletes a field and its values; false if there was none. Bumps the version if there was one.
    fn delete_metadata_field(&self, dataset_id: &str, field_id: &str) -> StoreResult<bool>;

    /// Sets metadata values by field id. `partial` updates only the given fields; otherwise the given
    /// values replace all of the document's values. Values are checked against the field type (see
    /// [`normalize_metadata_value`]); `null` removes a value. Returns the new dataset version.
    fn set_document_metadata(
        &self,
        dataset_id: &str,
        document_id: &str,
        values: &[(String, Value)],
        partial: bool,
    ) -> StoreResult<u64>;

    // ----- jobs -----

    /// Claims the oldest queued job (now running, one more attempt) with its document. Atomic: two
    /// workers never claim the same job.
    fn claim_job(&self) -> StoreResult<Option<(IndexingJob, Document)>>;

    /// Start-up recovery: jobs left running by a stopped process are queued again. Returns how many.
    fn requeue_running_jobs(&self) -> StoreResult<u64>;

    /// The document's latest job.
    fn job_for_document(&self, document_id: &str) -> StoreResult<Option<IndexingJob>>;

    /// Claims up to `limit` queued jobs of one dataset, with their documents, oldest first: the dataset
    /// is that of the oldest queued job whose dataset is not in `busy` (datasets another worker of this
    /// process is indexing). The jobs become running (one more attempt each). Atomic: two workers never
    /// claim the same job. Empty when nothing is queued outside `busy`.
    fn claim_jobs(
        &self,
        limit: usize,
        busy: &[String],
    ) -> StoreResult<Vec<(IndexingJob, Document)>> {
        let _ = (limit, busy);
        Err(StoreError::Invalid("claim_jobs: not implemented".into()))
    }

    /// Puts running jobs back in the queue (their documents back to `waiting`), after a failure that was
    /// not the document's fault; jobs that are no longer running are left alone.
    fn requeue_jobs(&self, job_ids: &[String]) -> StoreResult<()> {
        let _ = job_ids;
        Err(StoreError::Invalid("requeue_jobs: not implemented".into()))
    }

    /// Number of queued jobs (the indexing queue depth).
    fn queued_jobs(&self) -> StoreResult<u64> {
        Err(StoreError::Invalid("queued_jobs: not implemented".into()))
    }

    // ----- document updates -----

    /// Applies a document update. With a new text or process rule, the document goes back to `waiting`
    /// (lifecycle timestamps, error and counts cleared, `batch` set to `update.batch`), its text is
    /// replaced and a job is queued, in one transaction; leaving completed bumps the version. A rename
    /// alone changes the name (and bumps the version, as `document_name` is filterable) and queues
    /// nothing. Returns the document and the queued job, if any.
    fn update_document(
        &self,
        dataset_id: &str,
        document_id: &str,
        update: &DocumentUpdate,
    ) -> StoreResult<(Document, Option<IndexingJob>)> {
        let _ = (dataset_id, document_id, update);
        Err(StoreError::Invalid(
            "update_document: not implemented".into(),
        ))
    }

    // ----- segment and child chunk edits (Dify's segment API) -----

    /// Appends segments (with their children) to a document, positions continuing after its last
    /// segment, status `indexing`; updates the document's counts. Returns them, with their new keys, in
    /// the order given.
    fn add_segments(
        &self,
        dataset_id: &str,
        document_id: &str,
        segments: &[NewSegment],
        by: &str,
    ) -> StoreResult<Vec<Segment>> {
        let _ = (dataset_id, document_id, segments, by);
        Err(StoreError::Invalid("add_segments: not implemented".into()))
    }

    /// Applies a segment update (content, answer, keywords, enabled, children replaced) in one
    /// transaction; a content change sets status `indexing` until [`MetadataStore::complete_segments`].
    /// Replaced children get new keys. Updates the document's counts.
    fn update_segment(
        &self,
        dataset_id: &str,
        segment_id: &str,
        update: &SegmentUpdate,
    ) -> StoreResult<Segment> {
        let _ = (dataset_id, segment_id, update);
        Err(StoreError::Invalid(
            "update_segment: not implemented".into(),
        ))
    }

    /// Deletes a segment with its child chunks; false if there was none. Updates the document's counts
    /// and bumps the version.
    fn delete_segment(&self, dataset_id: &str, segment_id: &str) -> StoreResult<bool> {
        let _ = (dataset_id, segment_id);
        Err(StoreError::Invalid(
            "delete_segment: not implemented".into(),
        ))
    }

    /// Marks segments `completed` (stamping `completed_at`) once their chunks are in both indexes, and
    /// bumps the dataset's version, in one transaction. Returns the new version.
    fn complete_segments(&self, dataset_id: &str, segment_ids: &[String]) -> StoreResult<u64> {
        let _ = (dataset_id, segment_ids);
        Err(StoreError::Invalid(
            "complete_segments: not implemented".into(),
        ))
    }

    /// One child chunk of the dataset.
    fn child_chunk(&self, dataset_id: &str, child_id: &str) -> StoreResult<Option<ChildChunk>> {
        let _ = (dataset_id, child_id);
        Err(StoreError::Invalid("child_chunk: not implemented".into()))
    }

    /// A segment's child chunks by position, paged; `keyword` matches a substring of the content.
    fn list_child_chunks(
        &self,
        segment_id: &str,
        page: Page,
        keyword: Option<&str>,
    ) -> StoreResult<Paged<ChildChunk>> {
        let _ = (segment_id, page, keyword);
        Err(StoreError::Invalid(
            "list_child_chunks: not implemented".into(),
        ))
    }

    /// Appends a child chunk (type `customized`) to a segment; updates the document's counts.
    fn add_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        content: &SegmentContent,
    ) -> StoreResult<ChildChunk> {
        let _ = (dataset_id, segment_id, content);
        Err(StoreError::Invalid(
            "add_child_chunk: not implemented".into(),
        ))
    }

    /// Replaces a child chunk's content (type becomes `customized`). Its key stays. Returns it.
    fn update_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        child_id: &str,
        content: &SegmentContent,
    ) -> StoreResult<ChildChunk> {
        let _ = (dataset_id, segment_id, child_id, content);
        Err(StoreError::Invalid(
            "update_child_chunk: not implemented".into(),
        ))
    }

    /// Deletes a child chunk; false if there was none. Bumps the version.
    fn delete_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        child_id: &str,
    ) -> StoreResult<bool> {
        let _ = (dataset_id, segment_id, child_id);
        Err(StoreError::Invalid(
            "delete_child_chunk: not implemented".into(),
        ))
    }

    // ----- API keys -----

    /// Stores a new API key (its hash only). The name is 1 to 255 characters.
    fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        let _ = new;
        Err(StoreError::Invalid(
            "create_api_key: not implemented".into(),
        ))
    }

    /// The key with this token hash, revoked or not (callers check `revoked_at`).
    fn api_key_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>> {
        let _ = token_hash;
        Err(StoreError::Invalid(
            "api_key_by_hash: not implemented".into(),
        ))
    }

    /// Every key, revoked ones included, oldest first.
    fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        Err(StoreError::Invalid("list_api_keys: not implemented".into()))
    }

    /// Revokes the key with this id or this prefix (a unique one); false if none matched. Revoking is
    /// permanent.
    fn revoke_api_key(&self, id_or_prefix: &str) -> StoreResult<bool> {
        let _ = id_or_prefix;
        Err(StoreError::Invalid(
            "revoke_api_key: not implemented".into(),
        ))
    }

    /// Records a use of the key (at most once a minute is enough; callers may skip writes).
    fn touch_api_key(&self, id: &str) -> StoreResult<()> {
        let _ = id;
        Err(StoreError::Invalid("touch_api_key: not implemented".into()))
    }
}
