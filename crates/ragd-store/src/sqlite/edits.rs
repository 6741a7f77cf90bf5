//! Segment and child chunk edits (Dify's segment API): appending, updating and deleting segments and
//! child chunks of an indexed document, and completing segments once their chunks are indexed.
//!
//! A document's counts (segments, characters, tokens, completed segments) are recomputed from its
//! segments after every edit. Edits that change what retrieval returns for a completed document bump the
//! dataset version; new chunks are not visible before [`complete_segments`] bumps it.

use ragd_core::dataset::{
    ChildChunk, ChildChunkType, Document, IndexingStatus, NewSegment, Page, Paged, Segment,
    SegmentContent, SegmentStatus, SegmentUpdate, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::chunks::{self, allocate_chunk_keys, insert_children, insert_segments, keywords_json};
use super::rows::{self, CHILD_CHUNK_COLUMNS, keyword_filter};
use super::{datasets, documents, new_id, now};
use crate::{StoreError, StoreResult};

pub(super) fn add_segments(
    conn: &Connection,
    dataset_id: &str,
    document_id: &str,
    segments: &[NewSegment],
    by: &str,
) -> StoreResult<Vec<Segment>> {
    let document = documents::require_in_dataset(conn, dataset_id, document_id)?;
    let last: u32 = conn
        .prepare_cached("SELECT COALESCE(MAX(position), 0) FROM segments WHERE document_id = ?1")?
        .query_row([document_id], |row| row.get(0))?;
    let now = now();
    let inserted = insert_segments(
        conn,
        &document,
        segments,
        Some(last.saturating_add(1)),
        by,
        now,
    )?;
    refresh_counts(conn, document_id, now)?;
    inserted
        .iter()
        .map(|(id, _)| require_segment(conn, dataset_id, id))
        .collect()
}

pub(super) fn update_segment(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
    update: &SegmentUpdate,
) -> StoreResult<Segment> {
    let mut segment = require_segment(conn, dataset_id, segment_id)?;
    let document = documents::require(conn, &segment.document_id)?;
    let now = now();
    let mut visible = false;

    let new_content = update
        .content
        .as_ref()
        .filter(|content| content.content != segment.content);
    if let Some(content) = new_content {
        segment.content.clone_from(&content.content);
        segment.word_count = content.word_count;
        segment.tokens = content.tokens;
        segment.index_node_hash.clone_from(&content.hash);
    }
    if let Some(answer) = update
        .answer
        .as_ref()
        .filter(|answer| segment.answer.as_ref() != Some(*answer))
    {
        segment.answer = Some(answer.clone());
        visible = true;
    }
    if let Some(keywords) = update
        .keywords
        .as_ref()
        .filter(|keywords| **keywords != segment.keywords)
    {
        segment.keywords.clone_from(keywords);
        visible = true;
    }
    if let Some(enabled) = update.enabled.filter(|enabled| *enabled != segment.enabled) {
        segment.enabled = enabled;
        if enabled {
            segment.disabled_at = None;
            segment.disabled_by = None;
        } else {
            segment.disabled_at = Some(now);
            segment.disabled_by = Some(update.by.clone());
        }
        visible = true;
    }
    if let Some(children) = &update.children {
        conn.prepare_cached("DELETE FROM child_chunks WHERE segment_id = ?1")?
            .execute([segment_id])?;
        let first_key = allocate_chunk_keys(conn, children.len() as u64)?;
        insert_children(
            conn,
            &document,
            segment_id,
            children,
            first_key,
            ChildChunkType::Automatic,
            now,
        )?;
    }
    // New content or new children must be indexed before the segment is complete again.
    let reindex = new_content.is_some() || update.children.is_some();
    if reindex {
        segment.status = SegmentStatus::Indexing;
        segment.indexing_at = Some(now);
        segment.completed_at = None;
        segment.error = None;
        visible = true;
    }
    conn.prepare_cached(
        "UPDATE segments SET content = ?2, word_count = ?3, tokens = ?4, index_node_hash = ?5, \
             answer = ?6, keywords = ?7, enabled = ?8, disabled_at = ?9, disabled_by = ?10, \
             status = ?11, error = ?12, indexing_at = ?13, completed_at = ?14, updated_at = ?15 \
         WHERE key = ?1",
    )?
    .execute(params![
        segment.key,
        segment.content,
        segment.word_count,
        segment.tokens,
        segment.index_node_hash,
        segment.answer,
        keywords_json(&segment.keywords)?,
        segment.enabled,
        segment.disabled_at,
        segment.disabled_by,
        segment.status.as_str(),
        segment.error,
        segment.indexing_at,
        segment.completed_at,
        now,
    ])?;
    refresh_counts(conn, &document.id, now)?;
    if visible {
        bump_if_completed(conn, &document)?;
    }
    require_segment(conn, dataset_id, segment_id)
}

pub(super) fn delete_segment(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
) -> StoreResult<bool> {
    datasets::ensure_exists(conn, dataset_id)?;
    let Some(segment) = chunks::segment(conn, dataset_id, segment_id)? else {
        return Ok(false);
    };
    let document = documents::require(conn, &segment.document_id)?;
    conn.prepare_cached("DELETE FROM segments WHERE key = ?1")?
        .execute([segment.key])?;
    refresh_counts(conn, &document.id, now())?;
    bump_if_completed(conn, &document)?;
    Ok(true)
}

pub(super) fn complete_segments(
    conn: &Connection,
    dataset_id: &str,
    segment_ids: &[String],
) -> StoreResult<u64> {
    let current = datasets::version(conn, dataset_id)?;
    if segment_ids.is_empty() {
        return Ok(current);
    }
    let now = now();
    let mut document_ids: Vec<String> = Vec::new();
    for segment_id in segment_ids {
        let segment = require_segment(conn, dataset_id, segment_id)?;
        conn.prepare_cached(
            "UPDATE segments SET status = 'completed', completed_at = ?2, error = NULL, \
                 updated_at = ?2 \
             WHERE key = ?1",
        )?
        .execute(params![segment.key, now])?;
        if !document_ids.contains(&segment.document_id) {
            document_ids.push(segment.document_id);
        }
    }
    for document_id in &document_ids {
        refresh_counts(conn, document_id, now)?;
    }
    datasets::bump_version(conn, dataset_id)
}

pub(super) fn child_chunk(
    conn: &Connection,
    dataset_id: &str,
    child_id: &str,
) -> StoreResult<Option<ChildChunk>> {
    let sql =
        format!("SELECT {CHILD_CHUNK_COLUMNS} FROM child_chunks WHERE id = ?1 AND dataset_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([child_id, dataset_id], rows::child_chunk)
        .optional()?)
}

pub(super) fn list_child_chunks(
    conn: &Connection,
    segment_id: &str,
    page: Page,
    keyword: Option<&str>,
) -> StoreResult<Paged<ChildChunk>> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM segments WHERE id = ?1)")?
        .query_row([segment_id], |row| row.get(0))?;
    if !exists {
        return Err(StoreError::not_found("segment", segment_id));
    }
    let page = page.clamped();
    let pattern = keyword_filter(keyword);
    let filter = "WHERE segment_id = ?1 AND (?2 IS NULL OR content LIKE ?2 ESCAPE '\\')";
    let total: u64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM child_chunks {filter}"))?
        .query_row(params![segment_id, pattern], |row| row.get(0))?;
    let sql = format!(
        "SELECT {CHILD_CHUNK_COLUMNS} FROM child_chunks {filter} \
         ORDER BY position, key LIMIT ?3 OFFSET ?4"
    );
    let data = conn
        .prepare_cached(&sql)?
        .query_map(
            params![segment_id, pattern, page.limit, page.offset()],
            rows::child_chunk,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Paged::new(data, page, total))
}

pub(super) fn add_child_chunk(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
    content: &SegmentContent,
) -> StoreResult<ChildChunk> {
    let segment = require_segment(conn, dataset_id, segment_id)?;
    let position: u32 = conn
        .prepare_cached(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM child_chunks WHERE segment_id = ?1",
        )?
        .query_row([segment_id], |row| row.get(0))?;
    let key = allocate_chunk_keys(conn, 1)?;
    let id = new_id();
    let now = now();
    conn.prepare_cached(
        "INSERT INTO child_chunks (key, id, segment_id, document_id, dataset_id, position, content, \
             word_count, tokens, index_node_hash, kind, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        key,
        id,
        segment_id,
        segment.document_id,
        dataset_id,
        position,
        content.content,
        content.word_count,
        content.tokens,
        content.hash,
        ChildChunkType::Customized.as_str(),
        now,
    ])?;
    touch_segment(conn, segment.key, now)?;
    require_child(conn, dataset_id, segment_id, &id)
}

pub(super) fn update_child_chunk(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
    child_id: &str,
    content: &SegmentContent,
) -> StoreResult<ChildChunk> {
    let segment = require_segment(conn, dataset_id, segment_id)?;
    let child = require_child(conn, dataset_id, segment_id, child_id)?;
    let now = now();
    conn.prepare_cached(
        "UPDATE child_chunks SET content = ?2, word_count = ?3, tokens = ?4, index_node_hash = ?5, \
             kind = ?6, updated_at = ?7 \
         WHERE key = ?1",
    )?
    .execute(params![
        child.key,
        content.content,
        content.word_count,
        content.tokens,
        content.hash,
        ChildChunkType::Customized.as_str(),
        now,
    ])?;
    touch_segment(conn, segment.key, now)?;
    if content.content != child.content {
        bump_if_completed(conn, &documents::require(conn, &segment.document_id)?)?;
    }
    require_child(conn, dataset_id, segment_id, child_id)
}

pub(super) fn delete_child_chunk(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
    child_id: &str,
) -> StoreResult<bool> {
    let segment = require_segment(conn, dataset_id, segment_id)?;
    let deleted = conn
        .prepare_cached("DELETE FROM child_chunks WHERE id = ?1 AND segment_id = ?2")?
        .execute([child_id, segment_id])?;
    if deleted == 0 {
        return Ok(false);
    }
    touch_segment(conn, segment.key, now())?;
    bump_if_completed(conn, &documents::require(conn, &segment.document_id)?)?;
    Ok(true)
}

/// The segment if it is in the dataset, else `NotFound` (for the dataset first if that is missing).
fn require_segment(conn: &Connection, dataset_id: &str, segment_id: &str) -> StoreResult<Segment> {
    match chunks::segment(conn, dataset_id, segment_id)? {
        Some(segment) => Ok(segment),
        None => {
            datasets::ensure_exists(conn, dataset_id)?;
            Err(StoreError::not_found("segment", segment_id))
        }
    }
}

/// The child chunk if it belongs to this segment of the dataset, else `NotFound`.
fn require_child(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
    child_id: &str,
) -> StoreResult<ChildChunk> {
    child_chunk(conn, dataset_id, child_id)?
        .filter(|child| child.segment_id == segment_id)
        .ok_or_else(|| StoreError::not_found("child chunk", child_id))
}

fn touch_segment(conn: &Connection, segment_key: u64, now: Timestamp) -> StoreResult<()> {
    conn.prepare_cached("UPDATE segments SET updated_at = ?2 WHERE key = ?1")?
        .execute(params![segment_key, now])?;
    Ok(())
}

/// Recomputes the document's counts from its segments.
fn refresh_counts(conn: &Connection, document_id: &str, now: Timestamp) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE documents SET \
             segment_count = counts.segments, total_segments = counts.segments, \
             completed_segments = counts.completed, word_count = counts.characters, \
             tokens = counts.tokens, updated_at = ?2 \
         FROM (SELECT COUNT(*) AS segments, \
                   COALESCE(SUM(status = 'completed'), 0) AS completed, \
                   COALESCE(SUM(word_count), 0) AS characters, \
                   COALESCE(SUM(tokens), 0) AS tokens \
               FROM segments WHERE document_id = ?1) AS counts \
         WHERE documents.id = ?1",
    )?
    .execute(params![document_id, now])?;
    Ok(())
}

/// Bumps the dataset version if the document is published (only completed documents are searchable).
fn bump_if_completed(conn: &Connection, document: &Document) -> StoreResult<()> {
    if document.indexing_status == IndexingStatus::Completed {
        datasets::bump_version(conn, &document.dataset_id)?;
    }
    Ok(())
}
