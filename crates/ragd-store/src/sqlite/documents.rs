//! Document rows, their source text, lifecycle and flags.

use std::collections::BTreeMap;

use ragd_core::dataset::{
    CatalogEntry, Document, DocumentQuery, DocumentStatusFilter, DocumentUpdate, IndexingJob,
    IndexingStatus, JobState, NewDocument, Paged, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::rows::{self, DOCUMENT_COLUMNS, attach_metadata, json_text, keyword_filter};
use super::{datasets, jobs, metadata, new_id, now};
use crate::values::validate_document_name;
use crate::{StoreError, StoreResult};

pub(super) fn create(conn: &Connection, new: &NewDocument) -> StoreResult<(Document, IndexingJob)> {
    datasets::ensure_exists(conn, &new.dataset_id)?;
    validate_document_name(&new.name)?;
    let values = metadata::resolve_names(conn, &new.dataset_id, &new.metadata)?;
    let position: u32 = conn
        .prepare_cached(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM documents WHERE dataset_id = ?1",
        )?
        .query_row([&new.dataset_id], |row| row.get(0))?;
    let id = new_id();
    let now = now();
    conn.prepare_cached(
        "INSERT INTO documents (id, dataset_id, position, name, data_source_type, source, \
             content_hash, batch, created_from, created_by, created_at, updated_at, indexing_status, \
             enabled, archived, word_count, tokens, segment_count, completed_segments, total_segments, \
             doc_form, doc_language, process_rule) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, 1, 0, 0, 0, 0, 0, 0, ?13, \
             ?14, ?15)",
    )?
    .execute(params![
        id,
        new.dataset_id,
        position,
        new.name,
        new.data_source_type,
        new.source,
        new.content_hash,
        new.batch,
        new.created_from,
        new.created_by,
        now,
        IndexingStatus::Waiting.as_str(),
        new.doc_form.as_str(),
        new.doc_language,
        json_text(new.process_rule.as_ref()),
    ])?;
    let key = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO document_texts (document_key, text) VALUES (?1, ?2)")?
        .execute(params![key, new.text])?;
    for (field_id, value) in &values {
        metadata::upsert_value(conn, &id, field_id, value)?;
    }
    let job = jobs::insert(conn, &new.dataset_id, &id, now)?;
    Ok((require(conn, &id)?, job))
}

/// A document of any dataset, with its metadata values.
pub(super) fn by_id(conn: &Connection, document_id: &str) -> StoreResult<Option<Document>> {
    let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = ?1");
    query_documents(conn, &sql, [document_id]).map(|documents| documents.into_iter().next())
}

/// The document, or `NotFound`.
pub(super) fn require(conn: &Connection, document_id: &str) -> StoreResult<Document> {
    by_id(conn, document_id)?.ok_or_else(|| StoreError::not_found("document", document_id))
}

pub(super) fn in_dataset(
    conn: &Connection,
    dataset_id: &str,
    document_id: &str,
) -> StoreResult<Option<Document>> {
    let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = ?1 AND dataset_id = ?2");
    query_documents(conn, &sql, [document_id, dataset_id])
        .map(|documents| documents.into_iter().next())
}

/// The document if it is in the dataset, else `NotFound` (for the dataset first if that is missing).
pub(super) fn require_in_dataset(
    conn: &Connection,
    dataset_id: &str,
    document_id: &str,
) -> StoreResult<Document> {
    match in_dataset(conn, dataset_id, document_id)? {
        Some(document) => Ok(document),
        None => {
            datasets::ensure_exists(conn, dataset_id)?;
            Err(StoreError::not_found("document", document_id))
        }
    }
}

pub(super) fn by_hash(
    conn: &Connection,
    dataset_id: &str,
    hash: &str,
) -> StoreResult<Option<Document>> {
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE dataset_id = ?1 AND content_hash = ?2 \
         ORDER BY key LIMIT 1"
    );
    query_documents(conn, &sql, [dataset_id, hash]).map(|documents| documents.into_iter().next())
}

pub(super) fn by_batch(
    conn: &Connection,
    dataset_id: &str,
    batch: &str,
) -> StoreResult<Vec<Document>> {
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE dataset_id = ?1 AND batch = ?2 \
         ORDER BY position, key"
    );
    query_documents(conn, &sql, [dataset_id, batch])
}

pub(super) fn list(
    conn: &Connection,
    dataset_id: &str,
    query: &DocumentQuery,
) -> StoreResult<Paged<Document>> {
    datasets::ensure_exists(conn, dataset_id)?;
    let page = query.page.clamped();
    let pattern = keyword_filter(query.keyword.as_deref());
    let filter = format!(
        "WHERE dataset_id = ?1 AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\') AND {}",
        status_condition(query.status)
    );
    let total: u64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM documents {filter}"))?
        .query_row(params![dataset_id, pattern], |row| row.get(0))?;
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents {filter} \
         ORDER BY position DESC, key DESC LIMIT ?3 OFFSET ?4"
    );
    let data = query_documents(
        conn,
        &sql,
        params![dataset_id, pattern, page.limit, page.offset()],
    )?;
    Ok(Paged::new(data, page, total))
}

/// SQL condition for Dify's display status filter (the statuses are mutually exclusive).
fn status_condition(status: Option<DocumentStatusFilter>) -> &'static str {
    match status {
        None => "1",
        Some(DocumentStatusFilter::Queuing) => "indexing_status = 'waiting'",
        Some(DocumentStatusFilter::Indexing) => {
            "indexing_status IN ('parsing', 'cleaning', 'splitting', 'indexing')"
        }
        Some(DocumentStatusFilter::Paused) => "indexing_status = 'paused'",
        Some(DocumentStatusFilter::Error) => "indexing_status = 'error'",
        Some(DocumentStatusFilter::Available) => {
            "indexing_status = 'completed' AND enabled = 1 AND archived = 0"
        }
        Some(DocumentStatusFilter::Disabled) => {
            "indexing_status = 'completed' AND enabled = 0 AND archived = 0"
        }
        Some(DocumentStatusFilter::Archived) => "indexing_status = 'completed' AND archived = 1",
    }
}

pub(super) fn text(conn: &Connection, document_id: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT t.text FROM document_texts t JOIN documents d ON d.key = t.document_key \
             WHERE d.id = ?1",
        )?
        .query_row([document_id], |row| row.get(0))
        .optional()?)
}

pub(super) fn set_indexing_status(
    conn: &Connection,
    document_id: &str,
    status: IndexingStatus,
    error: Option<&str>,
) -> StoreResult<Document> {
    if status == IndexingStatus::Completed {
        return Err(StoreError::Invalid(
            "documents are completed with complete_documents, which also publishes them".to_owned(),
        ));
    }
    let mut document = require(conn, document_id)?;
    let was_completed = document.indexing_status == IndexingStatus::Completed;
    apply_status(&mut document, status, error, now());
    write_status(conn, &document)?;
    if was_completed {
        datasets::bump_version(conn, &document.dataset_id)?;
    }
    require(conn, document_id)
}

/// Moves `document` to `status`, keeping its lifecycle timestamps consistent with it: the stages before
/// `status` have completion times (set now if missing), the ones from `status` on have none.
fn apply_status(
    document: &mut Document,
    status: IndexingStatus,
    error: Option<&str>,
    now: Timestamp,
) {
    match status {
        IndexingStatus::Waiting => {
            document.processing_started_at = None;
            document.parsing_completed_at = None;
            document.cleaning_completed_at = None;
            document.splitting_completed_at = None;
            document.completed_at = None;
            document.paused_at = None;
            document.stopped_at = None;
            document.error = None;
        }
        IndexingStatus::Error => {
            document.error = Some(error.unwrap_or("indexing failed").to_owned());
            document.stopped_at = Some(now);
        }
        IndexingStatus::Paused => document.paused_at = Some(now),
        IndexingStatus::Parsing
        | IndexingStatus::Cleaning
        | IndexingStatus::Splitting
        | IndexingStatus::Indexing
        | IndexingStatus::Completed => {
            let stage = status.stage().unwrap_or(0);
            let stamp = |passed: bool, at: Option<Timestamp>| passed.then(|| at.unwrap_or(now));
            document.processing_started_at = Some(document.processing_started_at.unwrap_or(now));
            document.parsing_completed_at = stamp(stage > 1, document.parsing_completed_at);
            document.cleaning_completed_at = stamp(stage > 2, document.cleaning_completed_at);
            document.splitting_completed_at = stamp(stage > 3, document.splitting_completed_at);
            document.completed_at = (stage > 4).then_some(now);
            document.paused_at = None;
            document.stopped_at = None;
            document.error = None;
        }
    }
    document.indexing_status = status;
}

fn write_status(conn: &Connection, document: &Document) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE documents SET indexing_status = ?2, error = ?3, processing_started_at = ?4, \
             parsing_completed_at = ?5, cleaning_completed_at = ?6, splitting_completed_at = ?7, \
             completed_at = ?8, paused_at = ?9, stopped_at = ?10, updated_at = ?11 \
         WHERE key = ?1",
    )?
    .execute(params![
        document.key,
        document.indexing_status.as_str(),
        document.error,
        document.processing_started_at,
        document.parsing_completed_at,
        document.cleaning_completed_at,
        document.splitting_completed_at,
        document.completed_at,
        document.paused_at,
        document.stopped_at,
        now(),
    ])?;
    Ok(())
}

pub(super) fn update(
    conn: &Connection,
    dataset_id: &str,
    document_id: &str,
    update: &DocumentUpdate,
) -> StoreResult<(Document, Option<IndexingJob>)> {
    let mut document = require_in_dataset(conn, dataset_id, document_id)?;
    if let Some(name) = &update.name {
        validate_document_name(name)?;
    }
    let now = now();
    // Built-in filter fields (document_name, source) change filter results.
    let renamed = update
        .name
        .as_ref()
        .is_some_and(|name| *name != document.name)
        || update
            .source
            .as_ref()
            .is_some_and(|source| Some(source) != document.source.as_ref());
    conn.prepare_cached(
        "UPDATE documents SET name = COALESCE(?2, name), doc_language = COALESCE(?3, doc_language), \
             data_source_type = COALESCE(?4, data_source_type), source = COALESCE(?5, source), \
             updated_at = ?6 \
         WHERE key = ?1",
    )?
    .execute(params![
        document.key,
        update.name,
        update.doc_language,
        update.data_source_type,
        update.source,
        now,
    ])?;

    let reindex = update.text.is_some() || update.process_rule.is_some();
    let mut job = None;
    if reindex {
        let was_completed = document.indexing_status == IndexingStatus::Completed;
        if let Some((text, hash)) = &update.text {
            conn.prepare_cached("UPDATE document_texts SET text = ?2 WHERE document_key = ?1")?
                .execute(params![document.key, text])?;
            conn.prepare_cached("UPDATE documents SET content_hash = ?2 WHERE key = ?1")?
                .execute(params![document.key, hash])?;
        }
        if let Some(rule) = &update.process_rule {
            conn.prepare_cached("UPDATE documents SET process_rule = ?2 WHERE key = ?1")?
                .execute(params![document.key, rule.to_string()])?;
        }
        // The old chunks go now (their keys are never reused; the indexes drop a document's entries
        // by document key when it is indexed again).
        conn.prepare_cached("DELETE FROM segments WHERE document_id = ?1")?
            .execute([document_id])?;
        conn.prepare_cached(
            "UPDATE documents SET batch = ?2, word_count = 0, tokens = 0, segment_count = 0, \
                 completed_segments = 0, total_segments = 0 \
             WHERE key = ?1",
        )?
        .execute(params![document.key, update.batch])?;
        apply_status(&mut document, IndexingStatus::Waiting, None, now);
        write_status(conn, &document)?;
        jobs::supersede(conn, document_id, now)?;
        job = Some(jobs::insert(conn, dataset_id, document_id, now)?);
        if was_completed && !renamed {
            datasets::bump_version(conn, dataset_id)?;
        }
    }
    if renamed {
        datasets::bump_version(conn, dataset_id)?;
    }
    Ok((require(conn, document_id)?, job))
}

pub(super) fn set_completed_segments(
    conn: &Connection,
    document_id: &str,
    completed: u64,
    total: Option<u64>,
) -> StoreResult<()> {
    let updated = conn
        .prepare_cached(
            "UPDATE documents SET completed_segments = ?2, updated_at = ?3, \
                 total_segments = COALESCE(?4, total_segments) \
             WHERE id = ?1",
        )?
        .execute(params![document_id, completed, now(), total])?;
    if updated == 0 {
        return Err(StoreError::not_found("document", document_id));
    }
    Ok(())
}

pub(super) fn complete(
    conn: &Connection,
    dataset_id: &str,
    document_ids: &[String],
) -> StoreResult<u64> {
    if document_ids.is_empty() {
        return datasets::version(conn, dataset_id);
    }
    let now = now();
    for document_id in document_ids {
        let mut document = require_in_dataset(conn, dataset_id, document_id)?;
        apply_status(&mut document, IndexingStatus::Completed, None, now);
        write_status(conn, &document)?;
        conn.prepare_cached(
            "UPDATE documents SET completed_segments = total_segments WHERE key = ?1",
        )?
        .execute([document.key])?;
        conn.prepare_cached(
            "UPDATE segments SET status = 'completed', completed_at = ?2, error = NULL, \
                 updated_at = ?2 \
             WHERE document_id = ?1",
        )?
        .execute(params![document_id, now])?;
        jobs::finish(conn, document_id, JobState::Done, None, now)?;
    }
    datasets::bump_version(conn, dataset_id)
}

pub(super) fn fail(conn: &Connection, document_id: &str, reason: &str) -> StoreResult<()> {
    let mut document = require(conn, document_id)?;
    let was_completed = document.indexing_status == IndexingStatus::Completed;
    let now = now();
    apply_status(&mut document, IndexingStatus::Error, Some(reason), now);
    write_status(conn, &document)?;
    jobs::finish(conn, document_id, JobState::Failed, Some(reason), now)?;
    if was_completed {
        datasets::bump_version(conn, &document.dataset_id)?;
    }
    Ok(())
}

pub(super) fn set_enabled(
    conn: &Connection,
    dataset_id: &str,
    document_ids: &[String],
    enabled: bool,
    by: &str,
) -> StoreResult<u64> {
    set_flags(conn, dataset_id, document_ids, |document_id, now| {
        let sql = if enabled {
            "UPDATE documents SET enabled = 1, disabled_at = NULL, disabled_by = NULL, \
                 updated_at = ?3 \
             WHERE id = ?1 AND dataset_id = ?2"
        } else {
            "UPDATE documents SET \
                 disabled_at = CASE WHEN enabled = 1 THEN ?3 ELSE disabled_at END, \
                 disabled_by = CASE WHEN enabled = 1 THEN ?4 ELSE disabled_by END, \
                 enabled = 0, updated_at = ?3 \
             WHERE id = ?1 AND dataset_id = ?2"
        };
        let mut statement = conn.prepare_cached(sql)?;
        let updated = if enabled {
            statement.execute(params![document_id, dataset_id, now])?
        } else {
            statement.execute(params![document_id, dataset_id, now, by])?
        };
        Ok(updated)
    })
}

pub(super) fn set_archived(
    conn: &Connection,
    dataset_id: &str,
    document_ids: &[String],
    archived: bool,
) -> StoreResult<u64> {
    set_flags(conn, dataset_id, document_ids, |document_id, now| {
        Ok(conn
            .prepare_cached(
                "UPDATE documents SET archived = ?3, updated_at = ?4 \
                 WHERE id = ?1 AND dataset_id = ?2",
            )?
            .execute(params![document_id, dataset_id, archived, now])?)
    })
}

/// Runs `update` (which returns the rows it changed) for each document, then bumps the version once.
fn set_flags(
    conn: &Connection,
    dataset_id: &str,
    document_ids: &[String],
    update: impl Fn(&str, Timestamp) -> StoreResult<usize>,
) -> StoreResult<u64> {
    datasets::ensure_exists(conn, dataset_id)?;
    if document_ids.is_empty() {
        return datasets::version(conn, dataset_id);
    }
    let now = now();
    for document_id in document_ids {
        if update(document_id, now)? == 0 {
            return Err(StoreError::not_found("document", document_id.as_str()));
        }
    }
    datasets::bump_version(conn, dataset_id)
}

pub(super) fn delete(conn: &Connection, dataset_id: &str, document_id: &str) -> StoreResult<bool> {
    let status: Option<String> = conn
        .prepare_cached(
            "DELETE FROM documents WHERE id = ?1 AND dataset_id = ?2 RETURNING indexing_status",
        )?
        .query_row([document_id, dataset_id], |row| row.get(0))
        .optional()?;
    let Some(status) = status else {
        return Ok(false);
    };
    if status == IndexingStatus::Completed.as_str() {
        datasets::bump_version(conn, dataset_id)?;
    }
    Ok(true)
}

pub(super) fn unfinished(conn: &Connection) -> StoreResult<Vec<Document>> {
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents \
         WHERE indexing_status NOT IN ('completed', 'error', 'paused') ORDER BY key"
    );
    query_documents(conn, &sql, [])
}

pub(super) fn catalog(conn: &Connection, dataset_id: &str) -> StoreResult<Vec<CatalogEntry>> {
    datasets::ensure_exists(conn, dataset_id)?;
    let mut values: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut statement = conn.prepare_cached(
        "SELECT dm.document_id, f.name, dm.value \
         FROM document_metadata dm JOIN metadata_fields f ON f.id = dm.field_id \
         WHERE f.dataset_id = ?1",
    )?;
    let rows = statement.query_map([dataset_id], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (document_id, name, value) = row?;
        let value = serde_json::from_str(&value).map_err(|error| {
            StoreError::Corrupt(format!("metadata value of document {document_id}: {error}"))
        })?;
        values.entry(document_id).or_default().insert(name, value);
    }
    let documents = conn
        .prepare_cached(
            "SELECT key, id, name, enabled, archived, indexing_status, created_by, created_at, \
                 updated_at, source \
             FROM documents WHERE dataset_id = ?1 ORDER BY key",
        )?
        .query_map([dataset_id], |row| {
            let status: String = row.get("indexing_status")?;
            Ok((
                CatalogEntry {
                    key: row.get("key")?,
                    id: row.get("id")?,
                    name: row.get("name")?,
                    enabled: row.get("enabled")?,
                    archived: row.get("archived")?,
                    indexing_status: IndexingStatus::Waiting,
                    metadata: BTreeMap::new(),
                    created_by: row.get("created_by")?,
                    created_at: row.get("created_at")?,
                    updated_at: row.get("updated_at")?,
                    source: row.get("source")?,
                },
                status,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    documents
        .into_iter()
        .map(|(mut entry, status)| {
            entry.indexing_status = IndexingStatus::from_name(&status).ok_or_else(|| {
                StoreError::Corrupt(format!("document {}: unknown status `{status}`", entry.id))
            })?;
            entry.metadata = values.remove(&entry.id).unwrap_or_default();
            Ok(entry)
        })
        .collect()
}

/// Runs a query selecting [`DOCUMENT_COLUMNS`] and attaches the documents' metadata values.
pub(super) fn query_documents(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Document>> {
    let mut documents = conn
        .prepare_cached(sql)?
        .query_map(params, rows::document)?
        .collect::<Result<Vec<_>, _>>()?;
    attach_metadata(conn, &mut documents)?;
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use ragd_core::dataset::DocForm;

    use super::*;

    fn waiting_document() -> Document {
        Document {
            id: "d".to_owned(),
            key: 1,
            dataset_id: "ds".to_owned(),
            position: 1,
            name: "n".to_owned(),
            data_source_type: "upload_file".to_owned(),
            source: None,
            content_hash: String::new(),
            batch: String::new(),
            created_from: "api".to_owned(),
            created_by: String::new(),
            created_at: 0,
            updated_at: 0,
            indexing_status: IndexingStatus::Waiting,
            error: None,
            processing_started_at: None,
            parsing_completed_at: None,
            cleaning_completed_at: None,
            splitting_completed_at: None,
            completed_at: None,
            paused_at: None,
            stopped_at: None,
            disabled_at: None,
            disabled_by: None,
            enabled: true,
            archived: false,
            word_count: 0,
            tokens: 0,
            segment_count: 0,
            completed_segments: 0,
            total_segments: 0,
            doc_form: DocForm::TextModel,
            doc_language: "English".to_owned(),
            process_rule: None,
            metadata: Vec::new(),
        }
    }

    #[test]
    fn stages_stamp_what_they_pass_and_keep_earlier_stamps() {
        let mut document = waiting_document();
        apply_status(&mut document, IndexingStatus::Parsing, None, 10);
        assert_eq!(document.processing_started_at, Some(10));
        assert_eq!(document.parsing_completed_at, None);
        apply_status(&mut document, IndexingStatus::Splitting, None, 20);
        assert_eq!(document.processing_started_at, Some(10));
        assert_eq!(document.parsing_completed_at, Some(20));
        assert_eq!(document.cleaning_completed_at, Some(20));
        assert_eq!(document.splitting_completed_at, None);
        apply_status(&mut document, IndexingStatus::Error, Some("boom"), 30);
        assert_eq!(document.error.as_deref(), Some("boom"));
        assert_eq!(document.stopped_at, Some(30));
        assert_eq!(document.parsing_completed_at, Some(20));
        apply_status(&mut document, IndexingStatus::Completed, None, 40);
        assert_eq!(document.splitting_completed_at, Some(40));
        assert_eq!(document.completed_at, Some(40));
        assert_eq!(document.error, None);
        assert_eq!(document.stopped_at, None);
        apply_status(&mut document, IndexingStatus::Parsing, None, 50);
        assert_eq!(document.parsing_completed_at, None);
        assert_eq!(document.completed_at, None);
        assert_eq!(document.processing_started_at, Some(10));
        apply_status(&mut document, IndexingStatus::Waiting, None, 60);
        assert_eq!(document.processing_started_at, None);
    }
}
