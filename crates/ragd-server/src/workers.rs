//! Indexing workers: tasks that take queued jobs from the store, run the indexing pipeline on the blocking
//! pool, and report progress through the documents' indexing status.
//!
//! A worker claims up to `group` queued jobs of one dataset that no other worker of this process is busy
//! with, then takes that dataset's write lock (the same lock deletes and segment edits take), re-reads
//! the documents (one may have been deleted meanwhile) and indexes them as one group: one durable
//! checkpoint, one version bump. A failure that is not the document's fault (disk, model) puts the jobs
//! back in the queue, up to [`MAX_ATTEMPTS`] claims; after that the documents are marked `error`. Jobs
//! survive restarts: they live in the store, and start-up recovery queues what a stopped process left
//! running.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ragd_core::dataset::{Document, IndexingJob};
use ragd_indexer::{IndexError, Progress};
use tokio::sync::watch;

use crate::state::AppState;

/// Claims of one job before its document is marked failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// How often an idle worker looks at the queue without being woken (jobs queued by another process).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Datasets some worker of this process is indexing.
#[derive(Default)]
pub struct Busy(Mutex<HashSet<String>>);

/// Runs one worker until `shutdown` turns true; the group in progress is finished first.
pub async fn run(state: AppState, worker: usize, mut shutdown: watch::Receiver<bool>) {
    tracing::debug!(worker, "indexing worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match claim(&state).await {
            Ok(jobs) if jobs.is_empty() => {
                tokio::select! {
                    () = state.jobs_queued.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(jobs) => {
                let dataset_id = jobs[0].0.dataset_id.clone();
                index_claimed(&state, worker, jobs).await;
                state
                    .busy
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&dataset_id);
            }
            Err(e) => {
                tracing::error!(worker, error = %e, "claiming indexing jobs failed; retrying");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
    tracing::debug!(worker, "indexing worker stopped");
}

async fn claim(state: &AppState) -> Result<Vec<(IndexingJob, Document)>, String> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        // Claims are serialized through `busy` so two workers never pick the same dataset.
        let mut busy = state.busy.0.lock().unwrap_or_else(|e| e.into_inner());
        let taken: Vec<String> = busy.iter().cloned().collect();
        let jobs = state
            .store
            .claim_jobs(state.group_documents, &taken)
            .map_err(|e| e.to_string())?;
        if let Some((job, _)) = jobs.first() {
            busy.insert(job.dataset_id.clone());
        }
        drop(busy);
        if let Ok(depth) = state.store.queued_jobs() {
            metrics::gauge!("ragd_indexing_queue_depth").set(depth as f64);
        }
        Ok(jobs)
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn index_claimed(state: &AppState, worker: usize, jobs: Vec<(IndexingJob, Document)>) {
    let dataset_id = jobs[0].0.dataset_id.clone();
    let _guard = state.locks.lock(&dataset_id).await;
    let started = Instant::now();
    let task_state = state.clone();
    let result =
        tokio::task::spawn_blocking(move || index_group(&task_state, &dataset_id, jobs)).await;
    match result {
        Ok(Ok(done)) => {
            if done > 0 {
                tracing::info!(
                    worker,
                    documents = done,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "indexed"
                );
            }
        }
        Ok(Err(e)) => tracing::error!(worker, error = %e, "indexing group failed"),
        Err(e) => tracing::error!(worker, error = %e, "indexing task panicked"),
    }
    metrics::histogram!("ragd_indexing_batch_seconds").record(started.elapsed().as_secs_f64());
}

/// Indexes the claimed documents that still exist; returns how many were completed.
fn index_group(
    state: &AppState,
    dataset_id: &str,
    jobs: Vec<(IndexingJob, Document)>,
) -> Result<usize, String> {
    let store = &state.store;
    let mut documents = Vec::with_capacity(jobs.len());
    let mut claimed = Vec::with_capacity(jobs.len());
    for (job, document) in jobs {
        // Deleted (with its job) while the claim waited for the lock: nothing to do.
        if let Some(current) = store
            .document(dataset_id, &document.id)
            .map_err(|e| e.to_string())?
        {
            documents.push(current);
            claimed.push(job);
        }
    }
    if documents.is_empty() {
        return Ok(0);
    }
    let progress = ProgressReporter::new(state);
    let outcome = state
        .indexer
        .index_documents(dataset_id, &documents, &|p| progress.report(p));
    match outcome {
        Ok(report) => {
            metrics::counter!("ragd_indexing_documents_total", "outcome" => "completed")
                .increment(report.completed.len() as u64);
            metrics::counter!("ragd_indexing_documents_total", "outcome" => "failed")
                .increment(report.failed.len() as u64);
            metrics::counter!("ragd_indexing_chunks_total")
                .increment(report.embedded_chunks as u64);
            for (document, reason) in &report.failed {
                tracing::warn!(document, reason, "document failed to index");
            }
            Ok(report.completed.len())
        }
        // The dataset was deleted under us (a delete waits for the lock, so only by another process).
        Err(IndexError::DatasetNotFound(_)) => Ok(0),
        Err(e) => {
            let (retry, give_up): (Vec<_>, Vec<_>) =
                claimed.iter().partition(|job| job.attempts < MAX_ATTEMPTS);
            let retry: Vec<String> = retry.iter().map(|j| j.id.clone()).collect();
            if let Err(requeue) = store.requeue_jobs(&retry) {
                tracing::error!(error = %requeue, "requeueing jobs failed; restart recovery will");
            }
            for job in give_up {
                let reason = format!("indexing failed {MAX_ATTEMPTS} times; last error: {e}");
                if let Err(fail) = store.fail_document(&job.document_id, &reason) {
                    tracing::error!(error = %fail, "marking a document failed did not work");
                }
            }
            Err(e.to_string())
        }
    }
}

/// Turns the pipeline's progress events into `completed_segments` / `total_segments` updates.
///
/// Chunks are embedded in the order the documents were prepared, so a running count of embedded chunks
/// says how far each document is. Counts are in indexed chunks (child chunks for parent-child
/// documents).
struct ProgressReporter<'a> {
    state: &'a AppState,
    inner: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    /// Prepared documents in embedding order: id and chunk count.
    documents: Vec<(String, u64)>,
    /// Chunks embedded so far in this group.
    embedded: u64,
    /// Documents before this index are fully embedded.
    cursor: usize,
    /// Chunks of the documents before `cursor`.
    before_cursor: u64,
}

impl<'a> ProgressReporter<'a> {
    fn new(state: &'a AppState) -> Self {
        Self {
            state,
            inner: Mutex::default(),
        }
    }

    fn report(&self, progress: Progress<'_>) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match progress {
            Progress::Prepared { document, chunks } => {
                p.documents.push((document.id.clone(), chunks as u64));
                self.update(&document.id, 0, chunks as u64);
            }
            Progress::Embedded { chunks } => {
                p.embedded += chunks as u64;
                // Bring every document touched by this batch up to date.
                while p.cursor < p.documents.len() {
                    let (id, total) = p.documents[p.cursor].clone();
                    let done = (p.embedded - p.before_cursor).min(total);
                    self.update(&id, done, total);
                    if done < total {
                        break;
                    }
                    p.before_cursor += total;
                    p.cursor += 1;
                }
            }
            Progress::Completed { .. } | Progress::Failed { .. } => {}
        }
    }

    fn update(&self, document_id: &str, completed: u64, total: u64) {
        if let Err(e) = self
            .state
            .store
            .set_segment_progress(document_id, completed, total)
        {
            tracing::debug!(error = %e, "recording indexing progress failed");
        }
    }
}
