//! Column lists, row mappers and small SQL helpers shared by the query modules.
//!
//! Rows are read by column name, so each `*_COLUMNS` list and its mapper must agree on names only.
//! Values this binary cannot decode (an unknown enum name, bad JSON) become conversion errors, which
//! `StoreError` reports as `Corrupt`.

use std::collections::HashMap;

use ragd_core::dataset::{
    ApiKey, ChildChunk, ChildChunkType, Dataset, DocForm, Document, DocumentMetadataValue,
    IndexingJob, IndexingStatus, IndexingTechnique, JobState, MetadataField, MetadataType, Segment,
    SegmentStatus,
};
use rusqlite::types::Type;
use rusqlite::{Connection, Row, params_from_iter};
use serde_json::Value;

use crate::StoreResult;

/// Most values bound in one `IN (…)` list.
pub(super) const IN_BATCH: usize = 500;

/// Columns of a dataset row, with its document count and word count computed.
pub(super) const DATASET_COLUMNS: &str = "id, name, description, indexing_technique, permission, \
    provider, embedding_model, embedding_model_provider, retrieval_model, lexical_analyzer, doc_form, \
    built_in_field_enabled, enable_api, process_rule, version, created_by, created_at, updated_at, \
    (SELECT COUNT(*) FROM documents WHERE documents.dataset_id = datasets.id) AS document_count, \
    (SELECT COALESCE(SUM(documents.word_count), 0) FROM documents \
        WHERE documents.dataset_id = datasets.id) AS total_word_count";

pub(super) const DOCUMENT_COLUMNS: &str = "key, id, dataset_id, position, name, data_source_type, \
    source, content_hash, batch, created_from, created_by, created_at, updated_at, indexing_status, \
    error, processing_started_at, parsing_completed_at, cleaning_completed_at, splitting_completed_at, \
    completed_at, paused_at, stopped_at, disabled_at, disabled_by, enabled, archived, word_count, \
    tokens, segment_count, completed_segments, total_segments, doc_form, doc_language, process_rule";

pub(super) const SEGMENT_COLUMNS: &str = "key, id, dataset_id, document_id, position, content, \
    answer, word_count, tokens, keywords, index_node_id, index_node_hash, hit_count, enabled, \
    disabled_at, disabled_by, status, error, created_by, created_at, updated_at, indexing_at, \
    completed_at";

pub(super) const CHILD_CHUNK_COLUMNS: &str = "key, id, segment_id, document_id, dataset_id, position, \
    content, word_count, tokens, index_node_hash, kind, created_at, updated_at";

pub(super) const JOB_COLUMNS: &str =
    "id, dataset_id, document_id, state, attempts, error, created_at, updated_at";

pub(super) const API_KEY_COLUMNS: &str =
    "id, name, prefix, datasets, app_id, created_at, last_used_at, revoked_at";

pub(super) fn dataset(row: &Row<'_>) -> rusqlite::Result<Dataset> {
    Ok(Dataset {
        id: row.get("id")?,
        name: row.get("name")?,
        description: row.get("description")?,
        indexing_technique: optional_enum(row, "indexing_technique", IndexingTechnique::from_name)?,
        permission: row.get("permission")?,
        provider: row.get("provider")?,
        embedding_model: row.get("embedding_model")?,
        embedding_model_provider: row.get("embedding_model_provider")?,
        retrieval_model: json(row, "retrieval_model")?,
        lexical_analyzer: row.get("lexical_analyzer")?,
        doc_form: required_enum(row, "doc_form", DocForm::from_name)?,
        built_in_field_enabled: row.get("built_in_field_enabled")?,
        enable_api: row.get("enable_api")?,
        process_rule: json(row, "process_rule")?,
        version: row.get("version")?,
        document_count: row.get("document_count")?,
        word_count: row.get("total_word_count")?,
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// A document without its metadata values (see [`attach_metadata`]).
pub(super) fn document(row: &Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        id: row.get("id")?,
        key: row.get("key")?,
        dataset_id: row.get("dataset_id")?,
        position: row.get("position")?,
        name: row.get("name")?,
        data_source_type: row.get("data_source_type")?,
        source: row.get("source")?,
        content_hash: row.get("content_hash")?,
        batch: row.get("batch")?,
        created_from: row.get("created_from")?,
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        indexing_status: required_enum(row, "indexing_status", IndexingStatus::from_name)?,
        error: row.get("error")?,
        processing_started_at: row.get("processing_started_at")?,
        parsing_completed_at: row.get("parsing_completed_at")?,
        cleaning_completed_at: row.get("cleaning_completed_at")?,
        splitting_completed_at: row.get("splitting_completed_at")?,
        completed_at: row.get("completed_at")?,
        paused_at: row.get("paused_at")?,
        stopped_at: row.get("stopped_at")?,
        disabled_at: row.get("disabled_at")?,
        disabled_by: row.get("disabled_by")?,
        enabled: row.get("enabled")?,
        archived: row.get("archived")?,
        word_count: row.get("word_count")?,
        tokens: row.get("tokens")?,
        segment_count: row.get("segment_count")?,
        completed_segments: row.get("completed_segments")?,
        total_segments: row.get("total_segments")?,
        doc_form: required_enum(row, "doc_form", DocForm::from_name)?,
        doc_language: row.get("doc_language")?,
        process_rule: json(row, "process_rule")?,
        metadata: Vec::new(),
    })
}

pub(super) fn segment(row: &Row<'_>) -> rusqlite::Result<Segment> {
    let keywords = json(row, "keywords")?.unwrap_or(Value::Null);
    let keywords = serde_json::from_value(keywords)
        .map_err(|error| conversion_error(row, "keywords", error.to_string()))?;
    Ok(Segment {
        id: row.get("id")?,
        key: row.get("key")?,
        dataset_id: row.get("dataset_id")?,
        document_id: row.get("document_id")?,
        position: row.get("position")?,
        content: row.get("content")?,
        answer: row.get("answer")?,
        word_count: row.get("word_count")?,
        tokens: row.get("tokens")?,
        keywords,
        index_node_id: row.get("index_node_id")?,
        index_node_hash: row.get("index_node_hash")?,
        hit_count: row.get("hit_count")?,
        enabled: row.get("enabled")?,
        disabled_at: row.get("disabled_at")?,
        disabled_by: row.get("disabled_by")?,
        status: required_enum(row, "status", SegmentStatus::from_name)?,
        error: row.get("error")?,
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        indexing_at: row.get("indexing_at")?,
        completed_at: row.get("completed_at")?,
    })
}

pub(super) fn child_chunk(row: &Row<'_>) -> rusqlite::Result<ChildChunk> {
    Ok(ChildChunk {
        id: row.get("id")?,
        key: row.get("key")?,
        segment_id: row.get("segment_id")?,
        document_id: row.get("document_id")?,
        dataset_id: row.get("dataset_id")?,
        position: row.get("position")?,
        content: row.get("content")?,
        word_count: row.get("word_count")?,
        tokens: row.get("tokens")?,
        index_node_hash: row.get("index_node_hash")?,
        kind: required_enum(row, "kind", ChildChunkType::from_name)?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

pub(super) fn job(row: &Row<'_>) -> rusqlite::Result<IndexingJob> {
    Ok(IndexingJob {
        id: row.get("id")?,
        dataset_id: row.get("dataset_id")?,
        document_id: row.get("document_id")?,
        state: required_enum(row, "state", JobState::from_name)?,
        attempts: row.get("attempts")?,
        error: row.get("error")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

pub(super) fn api_key(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let datasets = json(row, "datasets")?.unwrap_or(Value::Null);
    let datasets = serde_json::from_value(datasets)
        .map_err(|error| conversion_error(row, "datasets", error.to_string()))?;
    Ok(ApiKey {
        id: row.get("id")?,
        name: row.get("name")?,
        prefix: row.get("prefix")?,
        datasets,
        app_id: row.get("app_id")?,
        created_at: row.get("created_at")?,
        last_used_at: row.get("last_used_at")?,
        revoked_at: row.get("revoked_at")?,
    })
}

pub(super) fn metadata_field(row: &Row<'_>) -> rusqlite::Result<MetadataField> {
    Ok(MetadataField {
        id: row.get("id")?,
        dataset_id: row.get("dataset_id")?,
        name: row.get("name")?,
        field_type: required_enum(row, "field_type", MetadataType::from_name)?,
    })
}

/// Fills in the metadata values of `documents`, in field creation order.
pub(super) fn attach_metadata(conn: &Connection, documents: &mut [Document]) -> StoreResult<()> {
    if documents.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<String, Vec<DocumentMetadataValue>> = HashMap::new();
    for batch in documents.chunks(IN_BATCH) {
        let sql = format!(
            "SELECT dm.document_id, f.id, f.name, f.field_type, dm.value \
             FROM document_metadata dm JOIN metadata_fields f ON f.id = dm.field_id \
             WHERE dm.document_id IN ({}) ORDER BY f.created_at, f.rowid",
            placeholders(batch.len())
        );
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map(
            params_from_iter(batch.iter().map(|document| &document.id)),
            |row| {
                let document_id: String = row.get(0)?;
                let value = DocumentMetadataValue {
                    field_id: row.get(1)?,
                    name: row.get(2)?,
                    field_type: required_enum(row, "field_type", MetadataType::from_name)?,
                    value: json(row, "value")?.unwrap_or(Value::Null),
                };
                Ok((document_id, value))
            },
        )?;
        for row in rows {
            let (document_id, value) = row?;
            values.entry(document_id).or_default().push(value);
        }
    }
    for document in documents {
        document.metadata = values.remove(&document.id).unwrap_or_default();
    }
    Ok(())
}

/// `?, ?, …` for an `IN` list of `count` values.
pub(super) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// A `LIKE … ESCAPE '\'` pattern matching `keyword` anywhere.
pub(super) fn like_pattern(keyword: &str) -> String {
    let mut pattern = String::with_capacity(keyword.len() + 2);
    pattern.push('%');
    for ch in keyword.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// The keyword filter to apply: `None` for an absent or blank keyword.
pub(super) fn keyword_filter(keyword: Option<&str>) -> Option<String> {
    keyword
        .map(str::trim)
        .filter(|keyword| !keyword.is_empty())
        .map(like_pattern)
}

/// JSON text for an optional JSON column.
pub(super) fn json_text(value: Option<&Value>) -> Option<String> {
    value.map(Value::to_string)
}

fn json(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<Value>> {
    let text: Option<String> = row.get(column)?;
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|error| conversion_error(row, column, error.to_string()))
    })
    .transpose()
}

fn required_enum<T>(
    row: &Row<'_>,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let name: String = row.get(column)?;
    parse(&name).ok_or_else(|| conversion_error(row, column, format!("unknown value `{name}`")))
}

fn optional_enum<T>(
    row: &Row<'_>,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<Option<T>> {
    let name: Option<String> = row.get(column)?;
    name.map(|name| {
        parse(&name).ok_or_else(|| conversion_error(row, column, format!("unknown value `{name}`")))
    })
    .transpose()
}

fn conversion_error(row: &Row<'_>, column: &str, message: String) -> rusqlite::Error {
    let index = row.as_ref().column_index(column).unwrap_or(usize::MAX);
    rusqlite::Error::FromSqlConversionFailure(
        index,
        Type::Text,
        format!("column {column}: {message}").into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(keyword_filter(Some("  ")), None);
        assert_eq!(keyword_filter(Some(" x ")), Some("%x%".to_owned()));
    }

    #[test]
    fn placeholders_are_comma_separated() {
        assert_eq!(placeholders(3), "?, ?, ?");
    }
}
