//! Metadata fields, built-in fields and document metadata values (§1.1, §1.4).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ragd_core::dataset::{BUILT_IN_METADATA_FIELDS, DatasetUpdate, MetadataType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::datasets::Json;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, uuid_or_404};
use crate::state::AppState;

fn field_not_found() -> ApiError {
    ApiError::not_found("Metadata not found.")
}

#[derive(Debug, Deserialize)]
pub struct CreateField {
    #[serde(rename = "type")]
    field_type: MetadataType,
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    ApiJson(body): ApiJson<CreateField>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let field = state
        .blocking(move |s| {
            Ok(s.store
                .create_metadata_field(&dataset.id, body.name.trim(), body.field_type)?)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": field.id, "name": field.name, "type": field.field_type})),
    )
        .into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let enabled = dataset.built_in_field_enabled;
    let fields = state
        .blocking(move |s| Ok(s.store.metadata_fields(&dataset.id)?))
        .await?;
    Ok(axum::Json(json!({
        "doc_metadata": fields.iter().map(|(f, count)| json!({
            "id": f.id, "name": f.name, "type": f.field_type, "count": count,
        })).collect::<Vec<_>>(),
        "built_in_field_enabled": enabled,
    })))
}

#[derive(Debug, Deserialize)]
pub struct RenameField {
    name: String,
}

pub async fn rename(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, field_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RenameField>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    uuid_or_404(&field_id, field_not_found)?;
    let field = state
        .blocking(move |s| {
            Ok(s.store
                .rename_metadata_field(&dataset.id, &field_id, body.name.trim())?)
        })
        .await?;
    Ok(axum::Json(
        json!({"id": field.id, "name": field.name, "type": field.field_type}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, field_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    uuid_or_404(&field_id, field_not_found)?;
    let deleted = state
        .blocking(move |s| Ok(s.store.delete_metadata_field(&dataset.id, &field_id)?))
        .await?;
    if !deleted {
        return Err(field_not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Dify's built-in fields and their types.
pub fn built_in_fields() -> Vec<Value> {
    BUILT_IN_METADATA_FIELDS
        .iter()
        .map(|name| {
            let field_type = if name.ends_with("_date") { "time" } else { "string" };
            json!({"name": name, "type": field_type})
        })
        .collect()
}

pub async fn built_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
) -> ApiResult<Json> {
    state.dataset_for(&caller, &dataset_id).await?;
    Ok(axum::Json(json!({"fields": built_in_fields()})))
}

pub async fn toggle_built_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, action)): Path<(String, String)>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => {
            return Err(ApiError::invalid_param(format!(
                "Invalid action {action:?}: expected enable or disable"
            ))
            .with_params("action"));
        }
    };
    state
        .blocking(move |s| {
            s.store.update_dataset(
                &dataset.id,
                &DatasetUpdate {
                    built_in_field_enabled: Some(enabled),
                    ..DatasetUpdate::default()
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(axum::Json(json!({"result": "success"})))
}

#[derive(Debug, Deserialize)]
pub struct MetadataValue {
    id: String,
    #[allow(dead_code)]
    name: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
pub struct DocumentMetadataOperation {
    document_id: String,
    metadata_list: Vec<MetadataValue>,
    #[serde(default)]
    partial_update: bool,
}

#[derive(Debug, Deserialize)]
pub struct SetDocumentMetadata {
    operation_data: Vec<DocumentMetadataOperation>,
}

pub async fn set_document_metadata(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    ApiJson(body): ApiJson<SetDocumentMetadata>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    for operation in &body.operation_data {
        uuid_or_404(&operation.document_id, ApiError::document_not_found)?;
    }
    state
        .blocking(move |s| {
            for operation in body.operation_data {
                // Built-in fields are computed from the document; Dify sends them with id "built-in".
                let values: Vec<(String, Value)> = operation
                    .metadata_list
                    .into_iter()
                    .filter(|m| m.id != "built-in")
                    .map(|m| (m.id, m.value))
                    .collect();
                s.store.set_document_metadata(
                    &dataset.id,
                    &operation.document_id,
                    &values,
                    operation.partial_update,
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(axum::Json(json!({"result": "success"})))
}
