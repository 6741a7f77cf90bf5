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

/// Body of `POST /v1/datasets/{dataset_id}/metadata`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateField {
    /// `string`, `number` or `time`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "string")]
    field_type: MetadataType,
    /// Field name, unique in the dataset.
    #[schema(example = "author")]
    name: String,
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/metadata",
    operation_id = "create_metadata_field",
    tag = "metadata",
    summary = "Create a metadata field",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body = CreateField,
    responses(
        (status = 201, description = "`{id, name, type}`", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (type, or a name that already exists)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
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

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/metadata",
    operation_id = "list_metadata_fields",
    tag = "metadata",
    summary = "List the metadata fields of a dataset",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    responses(
        (status = 200, description = "`{doc_metadata: [{id, name, type, count}], built_in_field_enabled}`", body = Object),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
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

/// Body of `PATCH /v1/datasets/{dataset_id}/metadata/{metadata_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RenameField {
    /// The new name, unique in the dataset.
    name: String,
}

#[utoipa::path(
    patch,
    path = "/v1/datasets/{dataset_id}/metadata/{metadata_id}",
    operation_id = "rename_metadata_field",
    tag = "metadata",
    summary = "Rename a metadata field",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("metadata_id" = String, Path, description = "Metadata field id (UUID)")),
    request_body = RenameField,
    responses(
        (status = 200, description = "`{id, name, type}`", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (a name that already exists)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or metadata field", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
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

#[utoipa::path(
    delete,
    path = "/v1/datasets/{dataset_id}/metadata/{metadata_id}",
    operation_id = "delete_metadata_field",
    tag = "metadata",
    summary = "Delete a metadata field",
    description = "Deletes the field and its values on every document.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("metadata_id" = String, Path, description = "Metadata field id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or metadata field", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
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
            let field_type = if name.ends_with("_date") {
                "time"
            } else {
                "string"
            };
            json!({"name": name, "type": field_type})
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/metadata/built-in",
    operation_id = "list_built_in_metadata_fields",
    tag = "metadata",
    summary = "List Dify's built-in metadata fields",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    responses(
        (status = 200, description = "`{fields: [{name, type}]}`", body = Object),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn built_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
) -> ApiResult<Json> {
    state.dataset_for(&caller, &dataset_id).await?;
    Ok(axum::Json(json!({"fields": built_in_fields()})))
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/metadata/built-in/{action}",
    operation_id = "toggle_built_in_metadata_fields",
    tag = "metadata",
    summary = "Enable or disable the built-in metadata fields",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("action" = String, Path, description = "`enable` or `disable`", example = "enable")),
    responses(
        (status = 200, description = "`{\"result\": \"success\"}`", body = Object, example = json!({"result": "success"})),
        (status = 400, description = "`invalid_param`: an action other than enable or disable", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
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

/// One metadata value of a document.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MetadataValue {
    /// The metadata field id; Dify's `built-in` entries are skipped (built-in values are computed).
    id: String,
    /// The field name (informative).
    #[allow(dead_code)]
    name: String,
    /// The value: a string, a number, or a timestamp for `time` fields; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Value)]
    value: Value,
}

/// The metadata of one document.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DocumentMetadataOperation {
    /// Document id (UUID).
    document_id: String,
    metadata_list: Vec<MetadataValue>,
    /// `true`: change only the listed fields; `false` (default): the list replaces the document's values.
    #[serde(default)]
    partial_update: bool,
}

/// Body of `POST /v1/datasets/{dataset_id}/documents/metadata`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetDocumentMetadata {
    operation_data: Vec<DocumentMetadataOperation>,
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/documents/metadata",
    operation_id = "set_document_metadata",
    tag = "metadata",
    summary = "Set the metadata values of documents",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body = SetDocumentMetadata,
    responses(
        (status = 200, description = "`{\"result\": \"success\"}`", body = Object, example = json!({"result": "success"})),
        (status = 400, description = "`bad_request` or `invalid_param` (an unknown field, a value of the wrong type)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
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
