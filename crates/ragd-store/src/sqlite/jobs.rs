//! The indexing job queue. Claims run in the writer's `BEGIN IMMEDIATE` transaction, which holds the
//! database write lock from the first read: two claimers (threads or processes) cannot pick the same job.

use ragd_core::dataset::{Document, IndexingJob, JobState, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, JOB_COLUMNS};
use super::{documents, new_id, now};
use crate::StoreResult;

pub(super) fn insert(
    conn: &Connection,
    dataset_id: &str,
    document_id: &str,
    now: Timestamp,
) -> StoreResult<IndexingJob> {
    let job = IndexingJob {
        id: new_id(),
        dataset_id: dataset_id.to_owned(),
        document_id: document_id.to_owned(),
        state: JobState::Queued,
        attempts: 0,
        error: None,
        created_at: now,
        updated_at: now,
    };
    conn.prepare_cached(
        "INSERT INTO indexing_jobs (id, dataset_id, document_id, state, attempts, error, created_at, \
             updated_at) \
         VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?5)",
    )?
    .execute(params![
        job.id,
        job.dataset_id,
        job.document_id,
        job.state.as_str(),
        now
    ])?;
    Ok(job)
}

/// Ends the document's pending (queued or running) jobs in `state`.
pub(super) fn finish(
    conn: &Connection,
    document_id: &str,
    state: JobState,
    error: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE indexing_jobs SET state = ?2, error = ?3, updated_at = ?4 \
         WHERE document_id = ?1 AND state IN ('queued', 'running')",
    )?
    .execute(params![document_id, state.as_str(), error, now])?;
    Ok(())
}

pub(super) fn claim(conn: &Connection) -> StoreResult<Option<(IndexingJob, Document)>> {
    let sql = format!(
        "UPDATE indexing_jobs SET state = 'running', attempts = attempts + 1, updated_at = ?1 \
         WHERE seq = (SELECT seq FROM indexing_jobs WHERE state = 'queued' ORDER BY seq LIMIT 1) \
         RETURNING {JOB_COLUMNS}"
    );
    let Some(job) = conn
        .prepare_cached(&sql)?
        .query_row([now()], rows::job)
        .optional()?
    else {
        return Ok(None);
    };
    let document = documents::require(conn, &job.document_id)?;
    Ok(Some((job, document)))
}

pub(super) fn requeue_running(conn: &Connection) -> StoreResult<u64> {
    let requeued = conn
        .prepare_cached(
            "UPDATE indexing_jobs SET state = 'queued', updated_at = ?1 WHERE state = 'running'",
        )?
        .execute([now()])?;
    Ok(requeued as u64)
}

pub(super) fn for_document(
    conn: &Connection,
    document_id: &str,
) -> StoreResult<Option<IndexingJob>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM indexing_jobs WHERE document_id = ?1 ORDER BY seq DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([document_id], rows::job)
        .optional()?)
}
