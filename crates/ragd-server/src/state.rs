//! The application state every handler gets: cheap handles to the store, the retriever, the indexer and
//! the worker pool, the server config, the key cache and the per-dataset write locks.
//!
//! Threads: the store, the retriever and the indexer are blocking; handlers reach them through
//! [`AppState::blocking`] (tokio's blocking pool), never on a reactor thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ragd_config::ServerConfig;
use ragd_core::TokenCounter;
use ragd_core::dataset::Dataset;
use ragd_indexer::Indexer;
use ragd_ingest::ParseOptions;
use ragd_retrieve::Retriever;
use ragd_store::MetadataStore;
use tokio::sync::{Notify, OwnedMutexGuard};

use crate::auth::{Caller, KeyCache};
use crate::error::{ApiError, ApiResult};
use crate::extract::uuid_or_404;

/// Integer Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Handles shared by all requests (clone is cheap).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn MetadataStore>,
    pub retriever: Arc<Retriever>,
    /// The two-tier cache in front of `retriever` (every retrieval goes through it).
    pub cache: Arc<ragd_cache::RetrievalCache>,
    /// Dataset rows for the retrieval path, forgotten on every committed change to them.
    pub dataset_rows: Arc<DatasetRows>,
    pub indexer: Arc<Indexer>,
    pub counter: Arc<dyn TokenCounter + Send + Sync>,
    pub config: ServerConfig,
    pub parse_options: ParseOptions,
    pub keys: KeyCache,
    pub locks: DatasetLocks,
    /// Wakes the indexing workers when a job is queued.
    pub jobs_queued: Notify,
    /// Datasets the workers of this process are indexing.
    pub busy: crate::workers::Busy,
    /// Documents a worker claims and indexes together.
    pub group_documents: usize,
    /// Set once start-up (recovery, model, indexes) is done: `/ready` answers 200 from then on.
    pub ready: AtomicBool,
    /// Permits for requests in flight on the API routes (`max_concurrent_requests`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Segment hits not yet written to the store (see [`AppState::record_hits`]).
    pub hits: Mutex<HashMap<u64, u64>>,
    pub apps: Arc<crate::apps::AppRuntime>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Runs blocking work (store, index, model) on the blocking pool.
    pub async fn blocking<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(&state)).await?
    }

    /// Counts one hit for each retrieved segment. Hits are written to the store in batches by
    /// [`AppState::flush_hits`] (every few seconds and at shutdown), never on the response path.
    pub fn record_hits(&self, segment_keys: impl IntoIterator<Item = u64>) {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        for key in segment_keys {
            *hits.entry(key).or_default() += 1;
        }
    }

    /// Writes the pending hits in one transaction.
    pub async fn flush_hits(&self) {
        let pending: Vec<(u64, u64)> = {
            let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *hits).into_iter().collect()
        };
        if pending.is_empty() {
            return;
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.add_hit_counts(&pending)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "writing segment hit counts failed"),
            Err(e) => tracing::warn!(error = %e, "writing segment hit counts panicked"),
        }
    }

    /// [`AppState::dataset_for`] from the in-memory rows when it can (the retrieval path; the rows'
    /// document counts may be stale, nothing else is).
    pub async fn dataset_for_search(
        &self,
        caller: &Caller,
        dataset_id: &str,
    ) -> ApiResult<Dataset> {
        self.gate(caller, dataset_id, true).await
    }

    /// Dify's dataset gate (§0): a path id that is not a UUID, not a dataset, or outside the key's scope
    /// is 404 "Dataset not found."; a dataset with the API disabled is 403.
    pub async fn dataset_for(&self, caller: &Caller, dataset_id: &str) -> ApiResult<Dataset> {
        self.gate(caller, dataset_id, false).await
    }

    async fn gate(&self, caller: &Caller, dataset_id: &str, use_rows: bool) -> ApiResult<Dataset> {
        uuid_or_404(dataset_id, ApiError::dataset_not_found)?;
        if !caller.may_use(dataset_id) {
            return Err(ApiError::dataset_not_found());
        }
        let kept = use_rows
            .then(|| self.dataset_rows.get(dataset_id))
            .flatten();
        let dataset = match kept {
            Some(dataset) => dataset,
            None => {
                let generation = self.dataset_rows.generation();
                let id = dataset_id.to_owned();
                let dataset = self
                    .blocking(move |s| Ok(s.store.dataset(&id)?))
                    .await?
                    .ok_or_else(ApiError::dataset_not_found)?;
                if use_rows {
                    self.dataset_rows.keep(generation, &dataset);
                }
                dataset
            }
        };
        if !dataset.enable_api {
            return Err(ApiError::forbidden("Dataset api access is not enabled."));
        }
        Ok(dataset)
    }
}

/// Dataset rows as the retrieval path needs them (id, version, API switch, retrieval model), kept in
/// memory so a cache hit costs no store read. The store tells of every committed change to a row
/// ([`ragd_store::MetadataStore::on_dataset_change`]) and the row is forgotten; a read that raced with a
/// change is not kept (the generation moved). Document counts are not kept fresh here (they are
/// computed at read time), so views that show them read the store.
#[derive(Debug, Default)]
pub struct DatasetRows {
    rows: std::sync::RwLock<HashMap<String, Dataset>>,
    generation: std::sync::atomic::AtomicU64,
}

impl DatasetRows {
    pub fn get(&self, id: &str) -> Option<Dataset> {
        self.rows
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// The generation to pass to [`DatasetRows::keep`] for a row about to be read.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keeps a row read from the store, unless a change came in since `generation`.
    pub fn keep(&self, generation: u64, dataset: &Dataset) {
        let mut rows = self.rows.write().unwrap_or_else(|p| p.into_inner());
        if self.generation() == generation {
            rows.insert(dataset.id.clone(), dataset.clone());
        }
    }

    pub fn forget(&self, id: &str) {
        let mut rows = self.rows.write().unwrap_or_else(|p| p.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        rows.remove(id);
    }
}

/// One async mutex per dataset: index writes (indexing groups, segment edits, deletes) of a dataset run
/// one at a time, so a delete never interleaves with the indexing of the same dataset.
#[derive(Default)]
pub struct DatasetLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl DatasetLocks {
    pub async fn lock(&self, dataset_id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Forget locks nobody holds or waits for, so the map does not grow with deleted datasets.
            if locks.len() > 1024 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks
                .entry(dataset_id.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        lock.lock_owned().await
    }
}
