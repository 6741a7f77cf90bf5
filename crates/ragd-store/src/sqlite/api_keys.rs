//! Dataset API keys: stored by the SHA-256 of their token, never the token itself.

use ragd_core::dataset::{ApiKey, NewApiKey};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, API_KEY_COLUMNS};
use super::{new_id, now};
use crate::values::validate_api_key_name;
use crate::{StoreError, StoreResult};

pub(super) fn create(conn: &Connection, new: &NewApiKey) -> StoreResult<ApiKey> {
    validate_api_key_name(&new.name)?;
    if new.prefix.trim().is_empty() {
        return Err(StoreError::Invalid(
            "API key prefix cannot be empty.".to_owned(),
        ));
    }
    if new.token_hash.trim().is_empty() {
        return Err(StoreError::Invalid(
            "API key token hash cannot be empty.".to_owned(),
        ));
    }
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys WHERE token_hash = ?1)")?
        .query_row([&new.token_hash], |row| row.get(0))?;
    if taken {
        return Err(StoreError::Invalid(
            "an API key with this token already exists".to_owned(),
        ));
    }
    let datasets = serde_json::to_string(&new.datasets)
        .map_err(|error| StoreError::Invalid(format!("API key datasets: {error}")))?;
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, prefix, token_hash, datasets, app_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        new.name,
        new.prefix,
        new.token_hash,
        datasets,
        new.app_id,
        now()
    ])?;
    by_id(conn, &id)?.ok_or_else(|| StoreError::not_found("API key", id))
}

fn by_id(conn: &Connection, id: &str) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], rows::api_key)
        .optional()?)
}

pub(super) fn by_hash(conn: &Connection, token_hash: &str) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE token_hash = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([token_hash], rows::api_key)
        .optional()?)
}

pub(super) fn list(conn: &Connection) -> StoreResult<Vec<ApiKey>> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, rowid");
    let keys = conn
        .prepare_cached(&sql)?
        .query_map([], rows::api_key)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys)
}

/// Revokes the live key with this id, else the one live key with this prefix.
pub(super) fn revoke(conn: &Connection, id_or_prefix: &str) -> StoreResult<bool> {
    let now = now();
    let by_id = conn
        .prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![id_or_prefix, now])?;
    if by_id > 0 {
        return Ok(true);
    }
    let ids: Vec<String> = conn
        .prepare_cached("SELECT id FROM api_keys WHERE prefix = ?1 AND revoked_at IS NULL")?
        .query_map([id_or_prefix], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    match ids.as_slice() {
        [] => Ok(false),
        [id] => {
            conn.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1")?
                .execute(params![id, now])?;
            Ok(true)
        }
        several => Err(StoreError::Invalid(format!(
            "the prefix `{id_or_prefix}` matches {} API keys; revoke one by its id",
            several.len()
        ))),
    }
}

pub(super) fn touch(conn: &Connection, id: &str) -> StoreResult<()> {
    let updated = conn
        .prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")?
        .execute(params![id, now()])?;
    if updated == 0 {
        return Err(StoreError::not_found("API key", id));
    }
    Ok(())
}
