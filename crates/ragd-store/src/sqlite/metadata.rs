//! Metadata fields of datasets and their values on documents.

use ragd_core::dataset::{MetadataField, MetadataType};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::rows::{self};
use super::{datasets, new_id, now};
use crate::{StoreError, StoreResult, normalize_metadata_value, validate_metadata_name};

pub(super) fn create_field(
    conn: &Connection,
    dataset_id: &str,
    name: &str,
    field_type: MetadataType,
) -> StoreResult<MetadataField> {
    datasets::ensure_exists(conn, dataset_id)?;
    validate_metadata_name(name)?;
    ensure_name_free(conn, dataset_id, name)?;
    let field = MetadataField {
        id: new_id(),
        dataset_id: dataset_id.to_owned(),
        name: name.to_owned(),
        field_type,
    };
    conn.prepare_cached(
        "INSERT INTO metadata_fields (id, dataset_id, name, field_type, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        field.id,
        field.dataset_id,
        field.name,
        field.field_type.as_str(),
        now()
    ])?;
    Ok(field)
}

pub(super) fn fields_with_counts(
    conn: &Connection,
    dataset_id: &str,
) -> StoreResult<Vec<(MetadataField, u64)>> {
    datasets::ensure_exists(conn, dataset_id)?;
    let fields = conn
        .prepare_cached(
            "SELECT id, dataset_id, name, field_type, \
                 (SELECT COUNT(*) FROM document_metadata dm WHERE dm.field_id = metadata_fields.id) \
                     AS documents \
             FROM metadata_fields WHERE dataset_id = ?1 ORDER BY created_at, rowid",
        )?
        .query_map([dataset_id], |row| {
            Ok((rows::metadata_field(row)?, row.get("documents")?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fields)
}

pub(super) fn rename_field(
    conn: &Connection,
    dataset_id: &str,
    field_id: &str,
    name: &str,
) -> StoreResult<MetadataField> {
    let mut field = require_field(conn, dataset_id, field_id)?;
    validate_metadata_name(name)?;
    if field.name == name {
        return Ok(field);
    }
    ensure_name_free(conn, dataset_id, name)?;
    conn.prepare_cached("UPDATE metadata_fields SET name = ?2 WHERE id = ?1")?
        .execute([field_id, name])?;
    datasets::bump_version(conn, dataset_id)?;
    field.name = name.to_owned();
    Ok(field)
}

pub(super) fn delete_field(
    conn: &Connection,
    dataset_id: &str,
    field_id: &str,
) -> StoreResult<bool> {
    datasets::ensure_exists(conn, dataset_id)?;
    let deleted = conn
        .prepare_cached("DELETE FROM metadata_fields WHERE id = ?1 AND dataset_id = ?2")?
        .execute([field_id, dataset_id])?;
    if deleted == 0 {
        return Ok(false);
    }
    datasets::bump_version(conn, dataset_id)?;
    Ok(true)
}

pub(super) fn set_document_values(
    conn: &Connection,
    dataset_id: &str,
    document_id: &str,
    values: &[(String, Value)],
    partial: bool,
) -> StoreResult<u64> {
    datasets::ensure_exists(conn, dataset_id)?;
    let in_dataset: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE id = ?1 AND dataset_id = ?2)",
        )?
        .query_row([document_id, dataset_id], |row| row.get(0))?;
    if !in_dataset {
        return Err(StoreError::not_found("document", document_id));
    }
    let mut checked = Vec::with_capacity(values.len());
    for (field_id, value) in values {
        let field = require_field(conn, dataset_id, field_id)?;
        checked.push((
            field.id,
            normalize_metadata_value(&field.name, field.field_type, value)?,
        ));
    }
    if !partial {
        conn.prepare_cached("DELETE FROM document_metadata WHERE document_id = ?1")?
            .execute([document_id])?;
    }
    for (field_id, value) in &checked {
        match value {
            Some(value) => upsert_value(conn, document_id, field_id, value)?,
            None => {
                conn.prepare_cached(
                    "DELETE FROM document_metadata WHERE document_id = ?1 AND field_id = ?2",
                )?
                .execute([document_id, field_id])?;
            }
        }
    }
    conn.prepare_cached("UPDATE documents SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![document_id, now()])?;
    datasets::bump_version(conn, dataset_id)
}

/// Resolves `(field name, value)` pairs of a new document to `(field id, stored value)`; an unknown
/// name or a badly typed value is `Invalid`. Null values are dropped.
pub(super) fn resolve_names(
    conn: &Connection,
    dataset_id: &str,
    values: &[(String, Value)],
) -> StoreResult<Vec<(String, Value)>> {
    let mut resolved = Vec::with_capacity(values.len());
    for (name, value) in values {
        let field = conn
            .prepare_cached(
                "SELECT id, dataset_id, name, field_type FROM metadata_fields \
                 WHERE dataset_id = ?1 AND name = ?2",
            )?
            .query_row([dataset_id, name], rows::metadata_field)
            .optional()?
            .ok_or_else(|| StoreError::Invalid(format!("unknown metadata field `{name}`")))?;
        if let Some(value) = normalize_metadata_value(&field.name, field.field_type, value)? {
            resolved.push((field.id, value));
        }
    }
    Ok(resolved)
}

pub(super) fn upsert_value(
    conn: &Connection,
    document_id: &str,
    field_id: &str,
    value: &Value,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO document_metadata (document_id, field_id, value) VALUES (?1, ?2, ?3) \
         ON CONFLICT (document_id, field_id) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![document_id, field_id, value.to_string()])?;
    Ok(())
}

fn require_field(
    conn: &Connection,
    dataset_id: &str,
    field_id: &str,
) -> StoreResult<MetadataField> {
    conn.prepare_cached(
        "SELECT id, dataset_id, name, field_type FROM metadata_fields \
         WHERE id = ?1 AND dataset_id = ?2",
    )?
    .query_row([field_id, dataset_id], rows::metadata_field)
    .optional()?
    .ok_or_else(|| StoreError::not_found("metadata field", field_id))
}

fn ensure_name_free(conn: &Connection, dataset_id: &str, name: &str) -> StoreResult<()> {
    let taken: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM metadata_fields WHERE dataset_id = ?1 AND name = ?2)",
        )?
        .query_row([dataset_id, name], |row| row.get(0))?;
    if taken {
        Err(StoreError::MetadataNameTaken(name.to_owned()))
    } else {
        Ok(())
    }
}
