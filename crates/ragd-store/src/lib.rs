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

use ragd_core::app::{App, Conversation, ConversationSort, Message, NewApp};
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

/// Told `(dataset id, version)` after a committed change to a dataset's row: the new version when the
/// change bumped it, 0 when it did not (another field updated, the dataset deleted). The cache's
/// invalidation hook and the server's dataset-row cache use it.
pub type DatasetListener = std::sync::Arc<dyn Fn(&str, u64) + Send + Sync>;

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

    /// Adds a listener told of every change to a dataset's row made through this store (created fields
    /// updated, version bumped, deleted), after its transaction commits (so whoever reacts reads the new
    /// state), once per dataset per transaction, with the version after a bump (0 without one). A
    /// transaction that fails tells nothing.
    fn on_dataset_change(&self, listener: DatasetListener);

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

    /// Progress report while indexing, in indexed chunks (child chunks for parent-child documents):
    /// `completed` of `total`. Storing the chunks ([`MetadataStore::replace_chunks`]) resets both to
    /// the segment counts; completion sets completed = total.
    fn set_segment_progress(
        &self,
        document_id: &str,
        completed: u64,
        total: u64,
    ) -> StoreResult<()>;

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

    /// Adds `count` hits to each segment key given, in one transaction (what a server batches off the
    /// response path: several retrievals' hits at once). Unknown keys are skipped.
    fn add_hit_counts(&self, hits: &[(u64, u64)]) -> StoreResult<()>;

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
    /// claim the same job. Empty when nothing is queued outside `busy`, or when `limit` is 0.
    fn claim_jobs(
        &self,
        limit: usize,
        busy: &[String],
    ) -> StoreResult<Vec<(IndexingJob, Document)>>;

    /// Puts running jobs back in the queue, in their old place (their documents back to `waiting`, as
    /// [`MetadataStore::set_indexing_status`] does it), after a failure that was not the document's
    /// fault. Jobs that are not running, and unknown ids, are left alone. One transaction.
    fn requeue_jobs(&self, job_ids: &[String]) -> StoreResult<()>;

    /// Number of queued jobs (the indexing queue depth); running jobs are not counted.
    fn queued_jobs(&self) -> StoreResult<u64>;

    // ----- document updates -----

    /// Applies a document update in one transaction. A new name is checked like at creation
    /// ([`StoreError::Invalid`]). With a new text or process rule, the document goes back to `waiting`
    /// (lifecycle timestamps, error and counts cleared, its segments and child chunks deleted, `batch`
    /// set to `update.batch`), its text and content hash are replaced, its pending jobs end as failed
    /// (superseded) and a new job is queued; leaving completed bumps the version. A rename alone (a new
    /// name or source: built-in filter fields) changes the document, bumps the version and queues
    /// nothing; `doc_language` and `data_source_type` alone change no result. The version is bumped at
    /// most once. Returns the document and the queued job, if any.
    fn update_document(
        &self,
        dataset_id: &str,
        document_id: &str,
        update: &DocumentUpdate,
    ) -> StoreResult<(Document, Option<IndexingJob>)>;

    // ----- segment and child chunk edits (Dify's segment API) -----
    //
    // A document's counts (segments, characters, tokens, completed segments) always match its segments
    // after an edit. Edits that change what retrieval returns from a completed document bump the version;
    // new chunks are not searchable before they are indexed and completed with
    // [`MetadataStore::complete_segments`], which bumps it. Dify's rules about which documents may be
    // edited (completed, enabled) are the caller's.

    /// Appends segments (with their children, type `automatic`) to a document under new chunk keys,
    /// positions continuing after its last segment (`NewSegment::position` is ignored; children keep
    /// theirs), status `indexing`, `created_by` = `by`; updates the document's counts. Returns them in the
    /// order given. [`StoreError::NotFound`] for an unknown dataset, or a document not in it.
    fn add_segments(
        &self,
        dataset_id: &str,
        document_id: &str,
        segments: &[NewSegment],
        by: &str,
    ) -> StoreResult<Vec<Segment>>;

    /// Applies a segment update in one transaction. A content different from the current one replaces
    /// content, word count, tokens and `index_node_hash` (the key and `index_node_id` stay); new content
    /// or `children` (replaced, under new keys, type `automatic`) set status `indexing` and `indexing_at`
    /// (and clear `completed_at`) until [`MetadataStore::complete_segments`]. `enabled: Some(false)`
    /// records `disabled_at` and `disabled_by` = `update.by`, `Some(true)` clears them. Updates the
    /// document's counts; bumps the version if the document is completed and anything changed.
    /// [`StoreError::NotFound`] for an unknown dataset or a segment not in it.
    fn update_segment(
        &self,
        dataset_id: &str,
        segment_id: &str,
        update: &SegmentUpdate,
    ) -> StoreResult<Segment>;

    /// Deletes a segment with its child chunks; false if the dataset has no such segment
    /// ([`StoreError::NotFound`] for an unknown dataset). Updates the document's counts and bumps the
    /// version if the document is completed. Deleted keys are never reused.
    fn delete_segment(&self, dataset_id: &str, segment_id: &str) -> StoreResult<bool>;

    /// Marks segments `completed` (stamping `completed_at`, clearing `error`) once their chunks are in
    /// both indexes, updates their documents' completed counts and bumps the dataset's version once, in
    /// one transaction. All or nothing: a segment not in the dataset is [`StoreError::NotFound`]. Returns
    /// the new version (the current one, unchanged, for an empty list).
    fn complete_segments(&self, dataset_id: &str, segment_ids: &[String]) -> StoreResult<u64>;

    /// One child chunk of the dataset.
    fn child_chunk(&self, dataset_id: &str, child_id: &str) -> StoreResult<Option<ChildChunk>>;

    /// A segment's child chunks by position, paged like [`MetadataStore::list_segments`]; `keyword`
    /// matches a substring of the content. [`StoreError::NotFound`] for an unknown segment.
    fn list_child_chunks(
        &self,
        segment_id: &str,
        page: Page,
        keyword: Option<&str>,
    ) -> StoreResult<Paged<ChildChunk>>;

    /// Appends a child chunk (type `customized`, next position, a new chunk key) to a segment. The
    /// document's counts come from its segments and do not change; nothing is searchable before
    /// [`MetadataStore::complete_segments`]. [`StoreError::NotFound`] for an unknown dataset or a segment
    /// not in it.
    fn add_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        content: &SegmentContent,
    ) -> StoreResult<ChildChunk>;

    /// Replaces a child chunk's content (type becomes `customized`). Its key stays. Bumps the version if
    /// the content changed and the document is completed. Returns it. [`StoreError::NotFound`] for an
    /// unknown dataset, a segment not in it, or a child chunk not of that segment.
    fn update_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        child_id: &str,
        content: &SegmentContent,
    ) -> StoreResult<ChildChunk>;

    /// Deletes a child chunk; false if the segment has no such child ([`StoreError::NotFound`] for an
    /// unknown dataset or a segment not in it). Bumps the version if the document is completed.
    fn delete_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        child_id: &str,
    ) -> StoreResult<bool>;

    // ----- API keys -----

    /// Stores a new API key (its hash only). The name is 1 to 255 characters, the prefix and hash are
    /// not empty, and the hash is not already stored ([`StoreError::Invalid`]).
    fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey>;

    /// The key with this token hash, revoked or not (callers check `revoked_at`).
    fn api_key_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>>;

    /// Every key, revoked ones included, oldest first.
    fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;

    /// Revokes the live (unrevoked) key with this id, or else the one live key with exactly this prefix;
    /// true if a key was revoked, false if no live key matched (unknown, or already revoked). A prefix
    /// shared by several live keys is [`StoreError::Invalid`] and revokes nothing. Revoking is permanent.
    fn revoke_api_key(&self, id_or_prefix: &str) -> StoreResult<bool>;

    /// Records a use of the key now (`last_used_at`; at most once a minute is enough, callers may skip
    /// writes). [`StoreError::NotFound`] for an unknown id.
    fn touch_api_key(&self, id: &str) -> StoreResult<()>;

    // ----- apps, conversations, messages (App API) -----

    /// Stores an app (name 1 to 255 characters, mode `workflow` or `advanced-chat`).
    fn create_app(&self, new: &NewApp) -> StoreResult<App>;

    fn get_app(&self, id: &str) -> StoreResult<Option<App>>;

    /// Every app, oldest first.
    fn list_apps(&self) -> StoreResult<Vec<App>>;

    /// Deletes an app with its keys, conversations and messages; false if unknown.
    fn delete_app(&self, id: &str) -> StoreResult<bool>;

    /// Starts a conversation with a caller-chosen id.
    fn create_conversation(
        &self,
        id: &str,
        app_id: &str,
        user: &str,
        name: &str,
        inputs: &Value,
        variables: &Value,
    ) -> StoreResult<Conversation>;

    /// The conversation if it belongs to this app and user.
    fn get_conversation(
        &self,
        app_id: &str,
        user: &str,
        id: &str,
    ) -> StoreResult<Option<Conversation>>;

    /// A page of a user's conversations after `last_id` in `sort` order, and whether more follow.
    /// An unknown `last_id` is [`StoreError::NotFound`].
    fn list_conversations(
        &self,
        app_id: &str,
        user: &str,
        last_id: Option<&str>,
        limit: u32,
        sort: ConversationSort,
    ) -> StoreResult<(Vec<Conversation>, bool)>;

    /// Renames a conversation ([`StoreError::NotFound`] if not this user's).
    fn rename_conversation(
        &self,
        app_id: &str,
        user: &str,
        id: &str,
        name: &str,
    ) -> StoreResult<Conversation>;

    /// Deletes a conversation and its messages; false if not this user's.
    fn delete_conversation(&self, app_id: &str, user: &str, id: &str) -> StoreResult<bool>;

    /// Appends a message to its conversation (touching `updated_at`, and storing the conversation
    /// variables when given).
    fn add_message(&self, message: &Message, variables: Option<&Value>) -> StoreResult<()>;

    fn get_message(&self, app_id: &str, id: &str) -> StoreResult<Option<Message>>;

    /// The `limit` messages before `first_id` (or the newest), oldest first, and whether older exist.
    fn list_messages(
        &self,
        conversation_id: &str,
        first_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)>;

    /// Sets (or clears, with `None`) a message's rating; false if the app has no such message.
    fn set_feedback(
        &self,
        app_id: &str,
        message_id: &str,
        rating: Option<&str>,
        content: Option<&str>,
    ) -> StoreResult<bool>;
}
