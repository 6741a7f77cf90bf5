//! [`RunLogReader`]: queries of the run log from async code (the server's handlers).
//!
//! Threads: one read connection of its own (apart from the writer's, so in WAL mode queries never wait
//! for a batch write) behind a std mutex; each query runs on the blocking pool and holds the mutex only
//! there, never across an `.await`. Queries are serialized, which suits an operator's log views.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ragd_core::run::{NodeExecution, RunRecord};

use crate::{RunFilter, RunLogError, RunLogResult, RunLogStore, RunSummary, lock};

/// A cheap, cloneable handle for querying the run log from async code.
#[derive(Debug, Clone)]
pub struct RunLogReader {
    store: Arc<Mutex<RunLogStore>>,
}

impl RunLogReader {
    /// Opens its own connection to the run log at `path` (created and migrated if needed).
    pub fn open(path: &Path) -> RunLogResult<Self> {
        Ok(Self::new(RunLogStore::open(path)?))
    }

    /// Queries through this store's connection.
    pub fn new(store: RunLogStore) -> Self {
        RunLogReader {
            store: Arc::new(Mutex::new(store)),
        }
    }

    /// [`RunLogStore::list_runs`].
    pub async fn list_runs(&self, filter: RunFilter) -> RunLogResult<Vec<RunSummary>> {
        self.query(move |store| store.list_runs(&filter)).await
    }

    /// [`RunLogStore::get_run`].
    pub async fn get_run(
        &self,
        id: impl Into<String>,
    ) -> RunLogResult<Option<(RunRecord, Vec<NodeExecution>)>> {
        let id = id.into();
        self.query(move |store| store.get_run(&id)).await
    }

    /// [`RunLogStore::count_runs`].
    pub async fn count_runs(&self) -> RunLogResult<u64> {
        self.query(RunLogStore::count_runs).await
    }

    async fn query<T: Send + 'static>(
        &self,
        work: impl FnOnce(&RunLogStore) -> RunLogResult<T> + Send + 'static,
    ) -> RunLogResult<T> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&lock(&store)))
            .await
            .map_err(|error| RunLogError::Task(error.to_string()))?
    }
}
