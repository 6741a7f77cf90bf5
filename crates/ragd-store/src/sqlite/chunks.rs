//! Segments and child chunks: replacement after chunking, hydration of search hits, listing.
//!
//! Chunk keys come from the `chunk` row of `key_sequences`, bumped inside the replacing transaction, so
//! segments and child chunks share one never-reused key space.

use std::collections::HashMap;

use ragd_core::dataset::{
    ChildChunk, ChildChunkType, ChunkKeys, DocForm, Document, HydratedChunk, NewChildChunk,
    NewSegment, Page, Paged, Segment, SegmentStatus, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::documents;
use super::rows::{
    self, CHILD_CHUNK_COLUMNS, DOCUMENT_COLUMNS, IN_BATCH, SEGMENT_COLUMNS, attach_metadata,
    keyword_filter, placeholders,
};
use super::{new_id, now};
use crate::{StoreError, StoreResult};

pub(super) fn replace(
    conn: &Connection,
    document_id: &str,
    segments: &[NewSegment],
) -> StoreResult<Vec<ChunkKeys>> {
    let document = documents::require(conn, document_id)?;
    conn.prepare_cached("DELETE FROM segments WHERE document_id = ?1")?
        .execute([document_id])?;
    let now = now();
    let inserted = insert_segments(conn, &document, segments, None, &document.created_by, now)?;
    let word_count: u64 = segments.iter().map(|s| u64::from(s.word_count)).sum();
    let tokens: u64 = segments.iter().map(|s| u64::from(s.tokens)).sum();
    conn.prepare_cached(
        "UPDATE documents SET total_segments = ?2, segment_count = ?2, completed_segments = 0, \
             word_count = ?3, tokens = ?4, updated_at = ?5 \
         WHERE id = ?1",
    )?
    .execute(params![
        document_id,
        segments.len() as u64,
        word_count,
        tokens,
        now
    ])?;
    Ok(inserted.into_iter().map(|(_, keys)| keys).collect())
}

/// Inserts `segments` of `document` (status indexing) with their children (type automatic), under new
/// chunk keys. Positions are the given ones, or consecutive from `first_position` when it is set
/// (children keep theirs). Returns each segment's id and keys, in the order given.
pub(super) fn insert_segments(
    conn: &Connection,
    document: &Document,
    segments: &[NewSegment],
    first_position: Option<u32>,
    created_by: &str,
    now: Timestamp,
) -> StoreResult<Vec<(String, ChunkKeys)>> {
    let chunk_count: usize = segments
        .iter()
        .map(|segment| 1 + segment.children.len())
        .sum();
    if chunk_count == 0 {
        return Ok(Vec::new());
    }
    let mut next_key = allocate_chunk_keys(conn, chunk_count as u64)?;
    let mut insert_segment = conn.prepare_cached(
        "INSERT INTO segments (key, id, dataset_id, document_id, position, content, answer, \
             word_count, tokens, keywords, index_node_id, index_node_hash, hit_count, enabled, status, \
             created_by, created_at, updated_at, indexing_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, 1, ?13, ?14, ?15, ?15, ?15)",
    )?;
    let mut inserted = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let segment_key = next_key;
        next_key += 1;
        let segment_id = new_id();
        let position = match first_position {
            Some(first) => first.saturating_add(u32::try_from(index).unwrap_or(u32::MAX)),
            None => segment.position,
        };
        insert_segment.execute(params![
            segment_key,
            segment_id,
            document.dataset_id,
            document.id,
            position,
            segment.content,
            segment.answer,
            segment.word_count,
            segment.tokens,
            keywords_json(&segment.keywords)?,
            new_id(),
            segment.hash,
            SegmentStatus::Indexing.as_str(),
            created_by,
            now,
        ])?;
        let child_keys = insert_children(
            conn,
            document,
            &segment_id,
            &segment.children,
            next_key,
            ChildChunkType::Automatic,
            now,
        )?;
        next_key += child_keys.len() as u64;
        inserted.push((
            segment_id,
            ChunkKeys {
                segment: segment_key,
                children: child_keys,
            },
        ));
    }
    Ok(inserted)
}

/// Inserts child chunks of a segment under the keys `first_key`, `first_key + 1`… (already reserved).
pub(super) fn insert_children(
    conn: &Connection,
    document: &Document,
    segment_id: &str,
    children: &[NewChildChunk],
    first_key: u64,
    kind: ChildChunkType,
    now: Timestamp,
) -> StoreResult<Vec<u64>> {
    let mut insert_child = conn.prepare_cached(
        "INSERT INTO child_chunks (key, id, segment_id, document_id, dataset_id, position, content, \
             word_count, tokens, index_node_hash, kind, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?;
    let mut keys = Vec::with_capacity(children.len());
    for (key, child) in (first_key..).zip(children) {
        insert_child.execute(params![
            key,
            new_id(),
            segment_id,
            document.id,
            document.dataset_id,
            child.position,
            child.content,
            child.word_count,
            child.tokens,
            child.hash,
            kind.as_str(),
            now,
        ])?;
        keys.push(key);
    }
    Ok(keys)
}

pub(super) fn keywords_json(keywords: &[String]) -> StoreResult<String> {
    serde_json::to_string(keywords)
        .map_err(|error| StoreError::Invalid(format!("segment keywords: {error}")))
}

/// Reserves `count` consecutive chunk keys and returns the first.
pub(super) fn allocate_chunk_keys(conn: &Connection, count: u64) -> StoreResult<u64> {
    let last: u64 = conn
        .prepare_cached(
            "UPDATE key_sequences SET last = last + ?1 WHERE name = 'chunk' RETURNING last",
        )?
        .query_row([count], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Corrupt("the chunk key sequence is missing".to_owned()))?;
    Ok(last - count + 1)
}

pub(super) fn document_index_keys(conn: &Connection, document_id: &str) -> StoreResult<Vec<u64>> {
    let doc_form: Option<String> = conn
        .prepare_cached("SELECT doc_form FROM documents WHERE id = ?1")?
        .query_row([document_id], |row| row.get(0))
        .optional()?;
    let doc_form = doc_form.ok_or_else(|| StoreError::not_found("document", document_id))?;
    let sql = if doc_form == DocForm::HierarchicalModel.as_str() {
        "SELECT key FROM child_chunks WHERE document_id = ?1 ORDER BY key"
    } else {
        "SELECT key FROM segments WHERE document_id = ?1 ORDER BY key"
    };
    let keys = conn
        .prepare_cached(sql)?
        .query_map([document_id], |row| row.get(0))?
        .collect::<Result<Vec<u64>, _>>()?;
    Ok(keys)
}

pub(super) fn hydrate(conn: &Connection, keys: &[u64]) -> StoreResult<Vec<HydratedChunk>> {
    let mut unique = keys.to_vec();
    unique.sort_unstable();
    unique.dedup();

    // Segments hit directly, then child chunks, then the parents of those children.
    let mut segments: HashMap<String, Segment> = HashMap::new();
    let mut segment_by_key: HashMap<u64, String> = HashMap::new();
    for segment in select_in::<Segment, _>(
        conn,
        SEGMENT_COLUMNS,
        "segments",
        "key",
        &unique,
        rows::segment,
    )? {
        segment_by_key.insert(segment.key, segment.id.clone());
        segments.insert(segment.id.clone(), segment);
    }
    let child_keys: Vec<u64> = unique
        .iter()
        .copied()
        .filter(|key| !segment_by_key.contains_key(key))
        .collect();
    let mut children: HashMap<u64, ChildChunk> = HashMap::new();
    for child in select_in(
        conn,
        CHILD_CHUNK_COLUMNS,
        "child_chunks",
        "key",
        &child_keys,
        rows::child_chunk,
    )? {
        children.insert(child.key, child);
    }
    let mut parent_ids: Vec<&str> = children
        .values()
        .map(|child| child.segment_id.as_str())
        .filter(|id| !segments.contains_key(*id))
        .collect();
    parent_ids.sort_unstable();
    parent_ids.dedup();
    for segment in select_in(
        conn,
        SEGMENT_COLUMNS,
        "segments",
        "id",
        &parent_ids,
        rows::segment,
    )? {
        segments.insert(segment.id.clone(), segment);
    }

    let mut document_ids: Vec<&str> = segments
        .values()
        .map(|segment| segment.document_id.as_str())
        .collect();
    document_ids.sort_unstable();
    document_ids.dedup();
    let mut documents: HashMap<String, Document> = HashMap::new();
    for batch in document_ids.chunks(IN_BATCH) {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id IN ({})",
            placeholders(batch.len())
        );
        let mut statement = conn.prepare(&sql)?;
        for document in statement.query_map(params_from_iter(batch), rows::document)? {
            let document = document?;
            documents.insert(document.id.clone(), document);
        }
    }
    let mut with_metadata: Vec<Document> = documents.into_values().collect();
    attach_metadata(conn, &mut with_metadata)?;
    let documents: HashMap<String, Document> = with_metadata
        .into_iter()
        .map(|document| (document.id.clone(), document))
        .collect();

    let mut hydrated = Vec::with_capacity(keys.len());
    for key in keys {
        let (segment_id, child) = match segment_by_key.get(key) {
            Some(segment_id) => (segment_id.as_str(), None),
            None => match children.get(key) {
                Some(child) => (child.segment_id.as_str(), Some(child)),
                None => continue,
            },
        };
        let Some(segment) = segments.get(segment_id) else {
            continue;
        };
        let Some(document) = documents.get(&segment.document_id) else {
            continue;
        };
        hydrated.push(HydratedChunk {
            key: *key,
            segment: segment.clone(),
            child: child.cloned(),
            document: document.clone(),
        });
    }
    Ok(hydrated)
}

/// `SELECT columns FROM table WHERE column IN (values)`, in batches.
fn select_in<T, V: rusqlite::ToSql>(
    conn: &Connection,
    columns: &str,
    table: &str,
    column: &str,
    values: &[V],
    map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut found = Vec::new();
    for batch in values.chunks(IN_BATCH) {
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {column} IN ({})",
            placeholders(batch.len())
        );
        let mut statement = conn.prepare(&sql)?;
        for row in statement.query_map(params_from_iter(batch), map)? {
            found.push(row?);
        }
    }
    Ok(found)
}

pub(super) fn segment(
    conn: &Connection,
    dataset_id: &str,
    segment_id: &str,
) -> StoreResult<Option<Segment>> {
    let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = ?1 AND dataset_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([segment_id, dataset_id], rows::segment)
        .optional()?)
}

pub(super) fn list_segments(
    conn: &Connection,
    document_id: &str,
    page: Page,
    keyword: Option<&str>,
    status: Option<SegmentStatus>,
) -> StoreResult<Paged<Segment>> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM documents WHERE id = ?1)")?
        .query_row([document_id], |row| row.get(0))?;
    if !exists {
        return Err(StoreError::not_found("document", document_id));
    }
    let page = page.clamped();
    let pattern = keyword_filter(keyword);
    let status = status.map(SegmentStatus::as_str);
    let filter = "WHERE document_id = ?1 AND (?2 IS NULL OR content LIKE ?2 ESCAPE '\\') \
                  AND (?3 IS NULL OR status = ?3)";
    let total: u64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM segments {filter}"))?
        .query_row(params![document_id, pattern, status], |row| row.get(0))?;
    let sql = format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments {filter} ORDER BY position, key LIMIT ?4 OFFSET ?5"
    );
    let data = conn
        .prepare_cached(&sql)?
        .query_map(
            params![document_id, pattern, status, page.limit, page.offset()],
            rows::segment,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Paged::new(data, page, total))
}

pub(super) fn child_chunks(conn: &Connection, segment_id: &str) -> StoreResult<Vec<ChildChunk>> {
    let sql = format!(
        "SELECT {CHILD_CHUNK_COLUMNS} FROM child_chunks WHERE segment_id = ?1 ORDER BY position, key"
    );
    let children = conn
        .prepare_cached(&sql)?
        .query_map([segment_id], rows::child_chunk)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(children)
}

pub(super) fn add_hit_counts(conn: &Connection, hits: &[(u64, u64)]) -> StoreResult<()> {
    let mut statement =
        conn.prepare_cached("UPDATE segments SET hit_count = hit_count + ?2 WHERE key = ?1")?;
    for (key, count) in hits {
        statement.execute(params![key, count])?;
    }
    Ok(())
}

pub(super) fn increment_hit_counts(conn: &Connection, keys: &[u64]) -> StoreResult<()> {
    let mut unique = keys.to_vec();
    unique.sort_unstable();
    unique.dedup();
    // Collect the distinct segments first, so that a segment hit directly and through a child, or
    // through two children, counts once.
    let mut segment_keys: Vec<u64> = Vec::new();
    for batch in unique.chunks(IN_BATCH) {
        let list = placeholders(batch.len());
        let sql = format!(
            "SELECT key FROM segments WHERE key IN ({list}) \
             UNION \
             SELECT s.key FROM child_chunks c JOIN segments s ON s.id = c.segment_id \
                 WHERE c.key IN ({list})"
        );
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map(params_from_iter(batch.iter().chain(batch)), |row| {
            row.get(0)
        })?;
        for row in rows {
            segment_keys.push(row?);
        }
    }
    segment_keys.sort_unstable();
    segment_keys.dedup();
    for batch in segment_keys.chunks(IN_BATCH) {
        let sql = format!(
            "UPDATE segments SET hit_count = hit_count + 1 WHERE key IN ({})",
            placeholders(batch.len())
        );
        conn.prepare(&sql)?.execute(params_from_iter(batch))?;
    }
    Ok(())
}
