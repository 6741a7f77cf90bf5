//! [`SqliteStore`]: the metadata store in one SQLite file.
//!
//! Threads: one writer connection behind a `Mutex` (every write is one `BEGIN IMMEDIATE` transaction, so
//! writes are serialized, also against other processes on the same file) and a bounded pool of read-only
//! connections; in WAL mode readers never wait for the writer. Each read runs in one transaction, so a
//! multi-query read (hydration, a page and its total) sees one snapshot.
//!
//! Durability: `synchronous=FULL`, so a committed transaction (a completed document) survives a power
//! loss. Foreign keys are on and do the cascades. The schema is versioned in `user_version` and migrated
//! at open by `rusqlite_migration`; a database newer than this binary is refused.

mod api_keys;
mod apps;
mod chunks;
mod datasets;
mod documents;
mod edits;
mod jobs;
mod metadata;
mod rows;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ragd_core::app::{App, Conversation, ConversationSort, Message, NewApp};
use ragd_core::dataset::{
    ApiKey, CatalogEntry, ChildChunk, ChunkKeys, Dataset, DatasetUpdate, Document, DocumentQuery,
    DocumentUpdate, HydratedChunk, IndexingJob, IndexingStatus, MetadataField, MetadataType,
    NewApiKey, NewDataset, NewDocument, NewSegment, Page, Paged, Segment, SegmentContent,
    SegmentStatus, SegmentUpdate, Timestamp,
};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};
use serde_json::Value;

use crate::{DatasetListener, MetadataStore, StoreError, StoreResult};

thread_local! {
    /// Dataset rows changed by the write transaction running on this thread (the writer lock is held for
    /// the whole transaction, on one thread), told to the listeners once it commits: `(id, version)`,
    /// version 0 for a change without a bump.
    static CHANGED: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Notes a change to a dataset's row in the running write transaction (`version` after a bump, else 0).
fn note_change(dataset_id: &str, version: u64) {
    CHANGED.with(|changed| changed.borrow_mut().push((dataset_id.to_owned(), version)));
}

/// Takes the changes noted on this thread, the highest version per dataset, in first-change order.
fn take_changes() -> Vec<(String, u64)> {
    let bumped = CHANGED.with(|changed| std::mem::take(&mut *changed.borrow_mut()));
    let mut latest: Vec<(String, u64)> = Vec::with_capacity(bumped.len());
    for (id, version) in bumped {
        match latest.iter_mut().find(|(known, _)| *known == id) {
            Some((_, v)) => *v = (*v).max(version),
            None => latest.push((id, version)),
        }
    }
    latest
}

/// The schema migrations, in order; the schema version is the number applied.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../migrations/0001_initial.sql")),
    M::up(include_str!("../../migrations/0002_service.sql")),
    M::up(include_str!("../../migrations/0003_apps.sql")),
];

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Most read-only connections open at once; readers beyond wait for one to be free.
    pub max_readers: usize,
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The metadata store in a SQLite file (see the module docs for threads and durability).
pub struct SqliteStore {
    writer: Mutex<Connection>,
    listeners: RwLock<Vec<DatasetListener>>,
    /// `None` for an in-memory database, whose reads go through the writer connection.
    readers: Option<ReaderPool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.readers.as_ref().map(|pool| &pool.path))
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, &SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit options.
    pub fn open_with(path: &Path, options: &SqliteOptions) -> StoreResult<Self> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_error)?;
        configure_writer(&writer, options.busy_timeout).map_err(open_error)?;
        migrate(&mut writer, path)?;
        tracing::debug!(path = %path.display(), "metadata store opened");
        Ok(Self {
            writer: Mutex::new(writer),
            listeners: RwLock::default(),
            readers: Some(ReaderPool {
                path: path.to_path_buf(),
                max: options.max_readers.max(1),
                busy_timeout: options.busy_timeout,
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            }),
        })
    }

    /// A private in-memory database, for tests: same schema and behaviour, reads share the writer.
    pub fn open_in_memory() -> StoreResult<Self> {
        let path = Path::new(":memory:");
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = Connection::open_in_memory().map_err(open_error)?;
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        writer
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;
        migrate(&mut writer, path)?;
        Ok(Self {
            writer: Mutex::new(writer),
            listeners: RwLock::default(),
            readers: None,
        })
    }

    /// The schema version this binary writes.
    pub fn schema_version() -> usize {
        MIGRATIONS.len()
    }

    /// Runs `work` in one write transaction (`BEGIN IMMEDIATE`), committed if it succeeds.
    fn write<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut connection = lock(&self.writer);
        take_changes();
        let committed = (|| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = work(&transaction)?;
            transaction.commit()?;
            Ok(result)
        })();
        let bumps = take_changes();
        drop(connection);
        if committed.is_ok() && !bumps.is_empty() {
            let listeners = self.listeners.read().unwrap_or_else(|p| p.into_inner());
            for (dataset_id, version) in &bumps {
                for listener in listeners.iter() {
                    listener(dataset_id, *version);
                }
            }
        }
        committed
    }

    /// Runs `work` in one read transaction on a pooled reader (the writer for an in-memory database).
    fn read<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        match &self.readers {
            Some(pool) => {
                let mut reader = pool.get()?;
                let transaction = reader.connection_mut().transaction()?;
                work(&transaction)
            }
            None => {
                let mut connection = lock(&self.writer);
                let transaction = connection.transaction()?;
                work(&transaction)
            }
        }
    }
}

/// Statements each connection keeps prepared (the fixed queries of this module fit).
const STATEMENT_CACHE_CAPACITY: usize = 64;

fn configure_writer(connection: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    connection.busy_timeout(busy_timeout)?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            mode,
            "sqlite refused WAL mode; readers will wait for writers"
        );
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Brings the schema to the latest version, refusing a database from a newer binary.
fn migrate(connection: &mut Connection, path: &Path) -> StoreResult<()> {
    let found: usize = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let supported = MIGRATIONS.len();
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    Migrations::from_slice(MIGRATIONS)
        .to_latest(connection)
        .map_err(|source| StoreError::Migration {
            path: path.to_path_buf(),
            source,
        })?;
    if found < supported {
        tracing::info!(path = %path.display(), from = found, to = supported, "metadata schema migrated");
    }
    Ok(())
}

/// A poisoned lock only means another thread panicked mid-operation; its transaction was rolled back
/// when dropped, so the connection is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as Timestamp)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A bounded pool of read-only connections to the database file.
struct ReaderPool {
    path: PathBuf,
    max: usize,
    busy_timeout: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections in existence (idle or lent).
    open: usize,
}

impl ReaderPool {
    fn get(&self) -> StoreResult<PooledReader<'_>> {
        let mut state = lock(&self.state);
        loop {
            if let Some(connection) = state.idle.pop() {
                return Ok(PooledReader {
                    pool: self,
                    connection: Some(connection),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.open_reader() {
                    Ok(connection) => Ok(PooledReader {
                        pool: self,
                        connection: Some(connection),
                    }),
                    Err(error) => {
                        lock(&self.state).open -= 1;
                        self.freed.notify_one();
                        Err(error)
                    }
                };
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn open_reader(&self) -> StoreResult<Connection> {
        let open_error = |source| StoreError::Open {
            path: self.path.clone(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(open_error)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        connection
            .busy_timeout(self.busy_timeout)
            .map_err(open_error)?;
        Ok(connection)
    }
}

/// A reader lent by the pool; goes back to it when dropped.
struct PooledReader<'pool> {
    pool: &'pool ReaderPool,
    connection: Option<Connection>,
}

impl PooledReader<'_> {
    fn connection_mut(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .expect("a pooled reader holds its connection until dropped")
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            lock(&self.pool.state).idle.push(connection);
            self.pool.freed.notify_one();
        }
    }
}

impl MetadataStore for SqliteStore {
    fn create_dataset(&self, new: &NewDataset) -> StoreResult<Dataset> {
        self.write(|tx| datasets::create(tx, new))
    }

    fn dataset(&self, id: &str) -> StoreResult<Option<Dataset>> {
        self.read(|conn| datasets::by_id(conn, id))
    }

    fn dataset_by_name(&self, name: &str) -> StoreResult<Option<Dataset>> {
        self.read(|conn| datasets::by_name(conn, name))
    }

    fn list_datasets(&self, page: Page, keyword: Option<&str>) -> StoreResult<Paged<Dataset>> {
        self.read(|conn| datasets::list(conn, page, keyword))
    }

    fn update_dataset(&self, id: &str, update: &DatasetUpdate) -> StoreResult<Dataset> {
        self.write(|tx| datasets::update(tx, id, update))
    }

    fn delete_dataset(&self, id: &str) -> StoreResult<bool> {
        self.write(|tx| datasets::delete(tx, id))
    }

    fn bump_dataset_version(&self, id: &str) -> StoreResult<u64> {
        self.write(|tx| datasets::bump_version(tx, id))
    }

    fn on_dataset_change(&self, listener: DatasetListener) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    fn create_document(&self, new: &NewDocument) -> StoreResult<(Document, IndexingJob)> {
        self.write(|tx| documents::create(tx, new))
    }

    fn document(&self, dataset_id: &str, document_id: &str) -> StoreResult<Option<Document>> {
        self.read(|conn| documents::in_dataset(conn, dataset_id, document_id))
    }

    fn document_by_hash(&self, dataset_id: &str, hash: &str) -> StoreResult<Option<Document>> {
        self.read(|conn| documents::by_hash(conn, dataset_id, hash))
    }

    fn documents_by_batch(&self, dataset_id: &str, batch: &str) -> StoreResult<Vec<Document>> {
        self.read(|conn| documents::by_batch(conn, dataset_id, batch))
    }

    fn list_documents(
        &self,
        dataset_id: &str,
        query: &DocumentQuery,
    ) -> StoreResult<Paged<Document>> {
        self.read(|conn| documents::list(conn, dataset_id, query))
    }

    fn document_text(&self, document_id: &str) -> StoreResult<Option<String>> {
        self.read(|conn| documents::text(conn, document_id))
    }

    fn set_indexing_status(
        &self,
        document_id: &str,
        status: IndexingStatus,
        error: Option<&str>,
    ) -> StoreResult<Document> {
        self.write(|tx| documents::set_indexing_status(tx, document_id, status, error))
    }

    fn replace_chunks(
        &self,
        document_id: &str,
        segments: &[NewSegment],
    ) -> StoreResult<Vec<ChunkKeys>> {
        self.write(|tx| chunks::replace(tx, document_id, segments))
    }

    fn set_indexing_status_many(
        &self,
        document_ids: &[String],
        status: IndexingStatus,
    ) -> StoreResult<()> {
        self.write(|tx| {
            for id in document_ids {
                documents::set_indexing_status(tx, id, status, None)?;
            }
            Ok(())
        })
    }

    fn replace_chunks_many(
        &self,
        documents: &[(&str, &[NewSegment])],
    ) -> StoreResult<Vec<Vec<ChunkKeys>>> {
        self.write(|tx| {
            documents
                .iter()
                .map(|(id, segments)| chunks::replace(tx, id, segments))
                .collect()
        })
    }

    fn set_completed_segments(&self, document_id: &str, completed: u64) -> StoreResult<()> {
        self.write(|tx| documents::set_completed_segments(tx, document_id, completed, None))
    }

    fn set_segment_progress(
        &self,
        document_id: &str,
        completed: u64,
        total: u64,
    ) -> StoreResult<()> {
        self.write(|tx| documents::set_completed_segments(tx, document_id, completed, Some(total)))
    }

    fn complete_documents(&self, dataset_id: &str, document_ids: &[String]) -> StoreResult<u64> {
        self.write(|tx| documents::complete(tx, dataset_id, document_ids))
    }

    fn fail_document(&self, document_id: &str, reason: &str) -> StoreResult<()> {
        self.write(|tx| documents::fail(tx, document_id, reason))
    }

    fn set_documents_enabled(
        &self,
        dataset_id: &str,
        document_ids: &[String],
        enabled: bool,
        by: &str,
    ) -> StoreResult<u64> {
        self.write(|tx| documents::set_enabled(tx, dataset_id, document_ids, enabled, by))
    }

    fn set_documents_archived(
        &self,
        dataset_id: &str,
        document_ids: &[String],
        archived: bool,
    ) -> StoreResult<u64> {
        self.write(|tx| documents::set_archived(tx, dataset_id, document_ids, archived))
    }

    fn delete_document(&self, dataset_id: &str, document_id: &str) -> StoreResult<bool> {
        self.write(|tx| documents::delete(tx, dataset_id, document_id))
    }

    fn document_index_keys(&self, document_id: &str) -> StoreResult<Vec<u64>> {
        self.read(|conn| chunks::document_index_keys(conn, document_id))
    }

    fn unfinished_documents(&self) -> StoreResult<Vec<Document>> {
        self.read(documents::unfinished)
    }

    fn catalog(&self, dataset_id: &str) -> StoreResult<Vec<CatalogEntry>> {
        self.read(|conn| documents::catalog(conn, dataset_id))
    }

    fn hydrate(&self, keys: &[u64]) -> StoreResult<Vec<HydratedChunk>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|conn| chunks::hydrate(conn, keys))
    }

    fn segment(&self, dataset_id: &str, segment_id: &str) -> StoreResult<Option<Segment>> {
        self.read(|conn| chunks::segment(conn, dataset_id, segment_id))
    }

    fn list_segments(
        &self,
        document_id: &str,
        page: Page,
        keyword: Option<&str>,
        status: Option<SegmentStatus>,
    ) -> StoreResult<Paged<Segment>> {
        self.read(|conn| chunks::list_segments(conn, document_id, page, keyword, status))
    }

    fn child_chunks(&self, segment_id: &str) -> StoreResult<Vec<ChildChunk>> {
        self.read(|conn| chunks::child_chunks(conn, segment_id))
    }

    fn add_hit_counts(&self, hits: &[(u64, u64)]) -> StoreResult<()> {
        self.write(|tx| chunks::add_hit_counts(tx, hits))
    }

    fn increment_hit_counts(&self, keys: &[u64]) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.write(|tx| chunks::increment_hit_counts(tx, keys))
    }

    fn create_metadata_field(
        &self,
        dataset_id: &str,
        name: &str,
        field_type: MetadataType,
    ) -> StoreResult<MetadataField> {
        self.write(|tx| metadata::create_field(tx, dataset_id, name, field_type))
    }

    fn metadata_fields(&self, dataset_id: &str) -> StoreResult<Vec<(MetadataField, u64)>> {
        self.read(|conn| metadata::fields_with_counts(conn, dataset_id))
    }

    fn rename_metadata_field(
        &self,
        dataset_id: &str,
        field_id: &str,
        name: &str,
    ) -> StoreResult<MetadataField> {
        self.write(|tx| metadata::rename_field(tx, dataset_id, field_id, name))
    }

    fn delete_metadata_field(&self, dataset_id: &str, field_id: &str) -> StoreResult<bool> {
        self.write(|tx| metadata::delete_field(tx, dataset_id, field_id))
    }

    fn set_document_metadata(
        &self,
        dataset_id: &str,
        document_id: &str,
        values: &[(String, Value)],
        partial: bool,
    ) -> StoreResult<u64> {
        self.write(|tx| metadata::set_document_values(tx, dataset_id, document_id, values, partial))
    }

    fn claim_job(&self) -> StoreResult<Option<(IndexingJob, Document)>> {
        self.write(jobs::claim)
    }

    fn requeue_running_jobs(&self) -> StoreResult<u64> {
        self.write(jobs::requeue_running)
    }

    fn job_for_document(&self, document_id: &str) -> StoreResult<Option<IndexingJob>> {
        self.read(|conn| jobs::for_document(conn, document_id))
    }

    fn claim_jobs(
        &self,
        limit: usize,
        busy: &[String],
    ) -> StoreResult<Vec<(IndexingJob, Document)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.write(|tx| jobs::claim_many(tx, limit, busy))
    }

    fn requeue_jobs(&self, job_ids: &[String]) -> StoreResult<()> {
        if job_ids.is_empty() {
            return Ok(());
        }
        self.write(|tx| jobs::requeue(tx, job_ids))
    }

    fn queued_jobs(&self) -> StoreResult<u64> {
        self.read(jobs::queued_count)
    }

    fn update_document(
        &self,
        dataset_id: &str,
        document_id: &str,
        update: &DocumentUpdate,
    ) -> StoreResult<(Document, Option<IndexingJob>)> {
        self.write(|tx| documents::update(tx, dataset_id, document_id, update))
    }

    fn add_segments(
        &self,
        dataset_id: &str,
        document_id: &str,
        segments: &[NewSegment],
        by: &str,
    ) -> StoreResult<Vec<Segment>> {
        self.write(|tx| edits::add_segments(tx, dataset_id, document_id, segments, by))
    }

    fn update_segment(
        &self,
        dataset_id: &str,
        segment_id: &str,
        update: &SegmentUpdate,
    ) -> StoreResult<Segment> {
        self.write(|tx| edits::update_segment(tx, dataset_id, segment_id, update))
    }

    fn delete_segment(&self, dataset_id: &str, segment_id: &str) -> StoreResult<bool> {
        self.write(|tx| edits::delete_segment(tx, dataset_id, segment_id))
    }

    fn complete_segments(&self, dataset_id: &str, segment_ids: &[String]) -> StoreResult<u64> {
        self.write(|tx| edits::complete_segments(tx, dataset_id, segment_ids))
    }

    fn child_chunk(&self, dataset_id: &str, child_id: &str) -> StoreResult<Option<ChildChunk>> {
        self.read(|conn| edits::child_chunk(conn, dataset_id, child_id))
    }

    fn list_child_chunks(
        &self,
        segment_id: &str,
        page: Page,
        keyword: Option<&str>,
    ) -> StoreResult<Paged<ChildChunk>> {
        self.read(|conn| edits::list_child_chunks(conn, segment_id, page, keyword))
    }

    fn add_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        content: &SegmentContent,
    ) -> StoreResult<ChildChunk> {
        self.write(|tx| edits::add_child_chunk(tx, dataset_id, segment_id, content))
    }

    fn update_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        child_id: &str,
        content: &SegmentContent,
    ) -> StoreResult<ChildChunk> {
        self.write(|tx| edits::update_child_chunk(tx, dataset_id, segment_id, child_id, content))
    }

    fn delete_child_chunk(
        &self,
        dataset_id: &str,
        segment_id: &str,
        child_id: &str,
    ) -> StoreResult<bool> {
        self.write(|tx| edits::delete_child_chunk(tx, dataset_id, segment_id, child_id))
    }

    fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        self.write(|tx| api_keys::create(tx, new))
    }

    fn api_key_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.read(|conn| api_keys::by_hash(conn, token_hash))
    }

    fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(api_keys::list)
    }

    fn revoke_api_key(&self, id_or_prefix: &str) -> StoreResult<bool> {
        self.write(|tx| api_keys::revoke(tx, id_or_prefix))
    }

    fn touch_api_key(&self, id: &str) -> StoreResult<()> {
        self.write(|tx| api_keys::touch(tx, id))
    }

    fn create_app(&self, new: &NewApp) -> StoreResult<App> {
        self.write(|tx| apps::create_app(tx, new))
    }

    fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        self.read(|conn| apps::get_app(conn, id))
    }

    fn list_apps(&self) -> StoreResult<Vec<App>> {
        self.read(apps::list_apps)
    }

    fn delete_app(&self, id: &str) -> StoreResult<bool> {
        self.write(|tx| apps::delete_app(tx, id))
    }

    fn create_conversation(
        &self,
        id: &str,
        app_id: &str,
        user: &str,
        name: &str,
        inputs: &Value,
        variables: &Value,
    ) -> StoreResult<Conversation> {
        self.write(|tx| apps::create_conversation(tx, id, app_id, user, name, inputs, variables))
    }

    fn get_conversation(
        &self,
        app_id: &str,
        user: &str,
        id: &str,
    ) -> StoreResult<Option<Conversation>> {
        self.read(|conn| apps::get_conversation(conn, app_id, user, id))
    }

    fn list_conversations(
        &self,
        app_id: &str,
        user: &str,
        last_id: Option<&str>,
        limit: u32,
        sort: ConversationSort,
    ) -> StoreResult<(Vec<Conversation>, bool)> {
        self.read(|conn| apps::list_conversations(conn, app_id, user, last_id, limit, sort))
    }

    fn rename_conversation(
        &self,
        app_id: &str,
        user: &str,
        id: &str,
        name: &str,
    ) -> StoreResult<Conversation> {
        self.write(|tx| apps::rename_conversation(tx, app_id, user, id, name))
    }

    fn delete_conversation(&self, app_id: &str, user: &str, id: &str) -> StoreResult<bool> {
        self.write(|tx| apps::delete_conversation(tx, app_id, user, id))
    }

    fn add_message(&self, message: &Message, variables: Option<&Value>) -> StoreResult<()> {
        self.write(|tx| apps::add_message(tx, message, variables))
    }

    fn get_message(&self, app_id: &str, id: &str) -> StoreResult<Option<Message>> {
        self.read(|conn| apps::get_message(conn, app_id, id))
    }

    fn list_messages(
        &self,
        conversation_id: &str,
        first_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)> {
        self.read(|conn| apps::list_messages(conn, conversation_id, first_id, limit))
    }

    fn set_feedback(
        &self,
        app_id: &str,
        message_id: &str,
        rating: Option<&str>,
        content: Option<&str>,
    ) -> StoreResult<bool> {
        self.write(|tx| apps::set_feedback(tx, app_id, message_id, rating, content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }
}
