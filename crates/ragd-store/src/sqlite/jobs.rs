//! The indexing job queue. Claims run in the writer's `BEGIN IMMEDIATE` transaction, which holds the
//! database write lock from the first read: two claimers (threads or processes) cannot pick the same job.

use ragd_core::dataset::{Document, IndexingJob, IndexingStatus, JobState, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, JOB_COLUMNS};
use super::{documents, new_id, now};
use crate::{StoreError, StoreResult};

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

/// Claims up to `limit` queued jobs of one dataset: the dataset of the oldest queued job outside `busy`.
pub(super) fn claim_many(
    conn: &Connection,
    limit: usize,
    busy: &[String],
) -> StoreResult<Vec<(IndexingJob, Document)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // `busy` goes in as one JSON array, so that the statement text is fixed and can be cached.
    let busy = serde_json::to_string(busy)
        .map_err(|error| StoreError::Invalid(format!("busy datasets: {error}")))?;
    let dataset_id: Option<String> = conn
        .prepare_cached(
            "SELECT dataset_id FROM indexing_jobs \
             WHERE state = 'queued' AND dataset_id NOT IN (SELECT value FROM json_each(?1)) \
             ORDER BY seq LIMIT 1",
        )?
        .query_row([busy], |row| row.get(0))
        .optional()?;
    let Some(dataset_id) = dataset_id else {
        return Ok(Vec::new());
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "UPDATE indexing_jobs SET state = 'running', attempts = attempts + 1, updated_at = ?1 \
         WHERE seq IN (SELECT seq FROM indexing_jobs WHERE state = 'queued' AND dataset_id = ?2 \
             ORDER BY seq LIMIT ?3) \
         RETURNING seq, {JOB_COLUMNS}"
    );
    let mut claimed = conn
        .prepare_cached(&sql)?
        .query_map(params![now(), dataset_id, limit], |row| {
            Ok((row.get::<_, i64>("seq")?, rows::job(row)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // RETURNING gives no order.
    claimed.sort_unstable_by_key(|(seq, _)| *seq);
    claimed
        .into_iter()
        .map(|(_, job)| {
            let document = documents::require(conn, &job.document_id)?;
            Ok((job, document))
        })
        .collect()
}

/// Puts the given running jobs back in the queue and their documents back to `waiting`.
pub(super) fn requeue(conn: &Connection, job_ids: &[String]) -> StoreResult<()> {
    let now = now();
    for job_id in job_ids {
        let document_id: Option<String> = conn
            .prepare_cached(
                "UPDATE indexing_jobs SET state = 'queued', updated_at = ?2 \
                 WHERE id = ?1 AND state = 'running' RETURNING document_id",
            )?
            .query_row(params![job_id, now], |row| row.get(0))
            .optional()?;
        if let Some(document_id) = document_id {
            documents::set_indexing_status(conn, &document_id, IndexingStatus::Waiting, None)?;
        }
    }
    Ok(())
}

pub(super) fn queued_count(conn: &Connection) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM indexing_jobs WHERE state = 'queued'")?
        .query_row([], |row| row.get(0))?)
}

/// Ends the document's pending jobs as superseded (its source changed; a new job replaces them).
pub(super) fn supersede(conn: &Connection, document_id: &str, now: Timestamp) -> StoreResult<()> {
    finish(
        conn,
        document_id,
        JobState::Failed,
        Some("superseded by a document update"),
        now,
    )
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
