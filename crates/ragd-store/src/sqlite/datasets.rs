//! Dataset rows.

use ragd_core::dataset::{Dataset, DatasetUpdate, NewDataset, Page, Paged};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, DATASET_COLUMNS, json_text, keyword_filter};
use super::{new_id, now};
use crate::{StoreError, StoreResult, validate_dataset_name};

pub(super) fn create(conn: &Connection, new: &NewDataset) -> StoreResult<Dataset> {
    validate_dataset_name(&new.name)?;
    ensure_name_free(conn, &new.name, None)?;
    let id = new_id();
    let now = now();
    conn.execute(
        "INSERT INTO datasets (id, name, description, indexing_technique, permission, provider, \
             embedding_model, embedding_model_provider, retrieval_model, lexical_analyzer, doc_form, \
             built_in_field_enabled, enable_api, process_rule, version, created_by, created_at, \
             updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 1, NULL, 1, ?12, ?13, ?13)",
        params![
            id,
            new.name,
            new.description,
            new.indexing_technique.map(|technique| technique.as_str()),
            new.permission,
            new.provider,
            new.embedding_model,
            new.embedding_model_provider,
            json_text(new.retrieval_model.as_ref()),
            new.lexical_analyzer,
            new.doc_form.as_str(),
            new.created_by,
            now,
        ],
    )?;
    require(conn, &id)
}

pub(super) fn by_id(conn: &Connection, id: &str) -> StoreResult<Option<Dataset>> {
    let sql = format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], rows::dataset)
        .optional()?)
}

pub(super) fn by_name(conn: &Connection, name: &str) -> StoreResult<Option<Dataset>> {
    let sql = format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], rows::dataset)
        .optional()?)
}

/// The dataset, or `NotFound`.
pub(super) fn require(conn: &Connection, id: &str) -> StoreResult<Dataset> {
    by_id(conn, id)?.ok_or_else(|| StoreError::not_found("dataset", id))
}

/// `NotFound` unless the dataset exists.
pub(super) fn ensure_exists(conn: &Connection, id: &str) -> StoreResult<()> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM datasets WHERE id = ?1)")?
        .query_row([id], |row| row.get(0))?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::not_found("dataset", id))
    }
}

pub(super) fn list(
    conn: &Connection,
    page: Page,
    keyword: Option<&str>,
) -> StoreResult<Paged<Dataset>> {
    let page = page.clamped();
    let pattern = keyword_filter(keyword);
    let filter = if pattern.is_some() {
        "WHERE name LIKE ?1 ESCAPE '\\'"
    } else {
        "WHERE ?1 IS NULL"
    };
    let total: u64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM datasets {filter}"))?
        .query_row([&pattern], |row| row.get(0))?;
    let sql = format!(
        "SELECT {DATASET_COLUMNS} FROM datasets {filter} \
         ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
    );
    let data = conn
        .prepare_cached(&sql)?
        .query_map(params![pattern, page.limit, page.offset()], rows::dataset)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Paged::new(data, page, total))
}

pub(super) fn update(conn: &Connection, id: &str, update: &DatasetUpdate) -> StoreResult<Dataset> {
    let current = require(conn, id)?;
    if let Some(name) = &update.name {
        validate_dataset_name(name)?;
        ensure_name_free(conn, name, Some(id))?;
    }
    let retrieval_changed = (update.indexing_technique.is_some()
        && update.indexing_technique != current.indexing_technique)
        || (update.embedding_model.is_some() && update.embedding_model != current.embedding_model)
        || (update.embedding_model_provider.is_some()
            && update.embedding_model_provider != current.embedding_model_provider)
        || (update.retrieval_model.is_some() && update.retrieval_model != current.retrieval_model)
        || update
            .built_in_field_enabled
            .is_some_and(|enabled| enabled != current.built_in_field_enabled)
        || update.doc_form.is_some_and(|form| form != current.doc_form);
    conn.execute(
        "UPDATE datasets SET \
             name = COALESCE(?2, name), \
             description = COALESCE(?3, description), \
             indexing_technique = COALESCE(?4, indexing_technique), \
             permission = COALESCE(?5, permission), \
             retrieval_model = COALESCE(?6, retrieval_model), \
             embedding_model = COALESCE(?7, embedding_model), \
             embedding_model_provider = COALESCE(?8, embedding_model_provider), \
             enable_api = COALESCE(?9, enable_api), \
             built_in_field_enabled = COALESCE(?10, built_in_field_enabled), \
             process_rule = COALESCE(?11, process_rule), \
             version = version + ?12, \
             updated_at = ?13, \
             doc_form = COALESCE(?14, doc_form) \
         WHERE id = ?1",
        params![
            id,
            update.name,
            update.description,
            update
                .indexing_technique
                .map(|technique| technique.as_str()),
            update.permission,
            json_text(update.retrieval_model.as_ref()),
            update.embedding_model,
            update.embedding_model_provider,
            update.enable_api,
            update.built_in_field_enabled,
            json_text(update.process_rule.as_ref()),
            i64::from(retrieval_changed),
            now(),
            update.doc_form.map(|form| form.as_str()),
        ],
    )?;
    let updated = require(conn, id)?;
    super::note_change(
        id,
        if retrieval_changed {
            updated.version
        } else {
            0
        },
    );
    Ok(updated)
}

pub(super) fn delete(conn: &Connection, id: &str) -> StoreResult<bool> {
    let deleted = conn.execute("DELETE FROM datasets WHERE id = ?1", [id])?;
    if deleted > 0 {
        super::note_change(id, 0);
    }
    Ok(deleted > 0)
}

pub(super) fn bump_version(conn: &Connection, id: &str) -> StoreResult<u64> {
    let version = conn
        .prepare_cached(
            "UPDATE datasets SET version = version + 1, updated_at = ?2 WHERE id = ?1 RETURNING version",
        )?
        .query_row(params![id, now()], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("dataset", id))?;
    super::note_change(id, version);
    Ok(version)
}

/// The dataset's current version.
pub(super) fn version(conn: &Connection, id: &str) -> StoreResult<u64> {
    conn.prepare_cached("SELECT version FROM datasets WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("dataset", id))
}

fn ensure_name_free(conn: &Connection, name: &str, except_id: Option<&str>) -> StoreResult<()> {
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM datasets WHERE name = ?1 AND id IS NOT ?2)")?
        .query_row(params![name, except_id], |row| row.get(0))?;
    if taken {
        Err(StoreError::DatasetNameTaken(name.to_owned()))
    } else {
        Ok(())
    }
}
