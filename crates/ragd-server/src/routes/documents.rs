//! Documents: create by text or file, update, list, get, delete, indexing status, status toggles (§1.1,
//! §1.3). Creating or updating answers at once with the document and its batch; the workers index it.

use std::path::Path as FsPath;

use axum::Extension;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ragd_core::ProcessRule;
use ragd_core::dataset::{
    Dataset, DatasetUpdate, DocForm, Document, DocumentQuery, DocumentStatusFilter, DocumentUpdate,
    IndexingStatus, IndexingTechnique, NewDocument,
};
use ragd_core::retrieval::RetrievalModel;
use ragd_ingest::DocumentFormat;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::datasets::{Json, page_of};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, from_value, lenient, parse_json, uuid_or_404};
use crate::state::AppState;
use crate::views::{self, API_USER};

/// Settings a created or updated document may carry (by-text body, or the by-file `data` part).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DocumentSettings {
    /// `high_quality` or `economy`: required when the dataset has none yet (its first document).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "high_quality")]
    indexing_technique: Option<IndexingTechnique>,
    /// `text_model` or `hierarchical_model` (parent-child; needs a `hierarchical` process rule);
    /// `qa_model` is refused. Only the first document may change the dataset's form.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "text_model")]
    doc_form: Option<DocForm>,
    /// Default `English`.
    #[serde(default)]
    #[schema(example = "English")]
    doc_language: Option<String>,
    /// Dify's process rule: `{"mode": "automatic" | "custom" | "hierarchical", "rules": {
    /// "pre_processing_rules", "segmentation": {"separator", "max_tokens", "chunk_overlap"},
    /// "parent_mode", "subchunk_segmentation"}}`. Defaults to the dataset's latest rule, else
    /// `automatic`; required by the by-file routes when the dataset has none.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    process_rule: Option<Value>,
    /// Dify's `retrieval_model` object, stored as the dataset's default for retrievals.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    retrieval_model: Option<RetrievalModel>,
    #[serde(default)]
    embedding_model: Option<String>,
    #[serde(default)]
    embedding_model_provider: Option<String>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    original_document_id: Option<String>,
    /// ragd: answer with the existing document instead of creating one when the dataset already has a
    /// document with the same content (what `ragd import --server` uses to be idempotent).
    #[serde(default)]
    skip_if_exists: bool,
}

/// Body of `POST /v1/datasets/{dataset_id}/document/create-by-text`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateByText {
    /// Document name.
    #[schema(example = "faq.txt")]
    name: String,
    /// Document text.
    text: String,
    #[serde(flatten)]
    settings: DocumentSettings,
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0]);
        }
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Validates a process rule against the document form (parent-child needs a hierarchical rule).
fn check_process_rule(rule: &Value, doc_form: DocForm) -> ApiResult<()> {
    let parsed: ProcessRule = from_value(rule.clone()).map_err(|e| {
        ApiError::invalid_param(format!("process_rule: {}", e.message)).with_params("process_rule")
    })?;
    let resolved = parsed.resolve()?;
    let hierarchical = doc_form == DocForm::HierarchicalModel;
    if hierarchical != resolved.children.is_some() {
        return Err(ApiError::invalid_param(if hierarchical {
            "doc_form hierarchical_model needs process_rule mode hierarchical"
        } else {
            "process_rule mode hierarchical needs doc_form hierarchical_model"
        })
        .with_params("process_rule"));
    }
    Ok(())
}

/// First-document setup and checks shared by every create: the indexing technique (required when the
/// dataset has none), the document form, and the process rule (the request's, else the dataset's latest).
/// Returns the dataset as updated, the rule to use and the form.
fn settle_settings(
    state: &AppState,
    dataset: &Dataset,
    settings: &DocumentSettings,
    rule_required: bool,
) -> ApiResult<(Dataset, Value, DocForm)> {
    if dataset.indexing_technique.is_none() && settings.indexing_technique.is_none() {
        return Err(ApiError::invalid_param("indexing_technique is required.")
            .with_params("indexing_technique"));
    }
    let doc_form = settings.doc_form.unwrap_or(dataset.doc_form);
    if doc_form == DocForm::QaModel {
        return Err(ApiError::invalid_param(
            "doc_form qa_model needs an LLM to generate questions, which ragd does not run; use \
             text_model or hierarchical_model",
        )
        .with_params("doc_form"));
    }
    let first_document = dataset.document_count == 0;
    if doc_form != dataset.doc_form && !first_document {
        return Err(ApiError::invalid_param(format!(
            "doc_form {} differs from the dataset's {}; a dataset holds one form",
            doc_form.as_str(),
            dataset.doc_form.as_str()
        ))
        .with_params("doc_form"));
    }
    let rule = match (&settings.process_rule, &dataset.process_rule) {
        (Some(rule), _) => rule.clone(),
        (None, Some(rule)) if doc_form == dataset.doc_form => rule.clone(),
        (None, _) if rule_required => {
            return Err(
                ApiError::invalid_param("process_rule is required.").with_params("process_rule")
            );
        }
        (None, _) => json!({"mode": "automatic"}),
    };
    check_process_rule(&rule, doc_form)?;
    if let Some(model) = &settings.retrieval_model {
        model.resolve()?;
    }
    let mut update = DatasetUpdate {
        process_rule: Some(rule.clone()),
        ..DatasetUpdate::default()
    };
    if dataset.indexing_technique.is_none() {
        update.indexing_technique = settings.indexing_technique;
    }
    if first_document && doc_form != dataset.doc_form {
        update.doc_form = Some(doc_form);
    }
    if let Some(model) = &settings.retrieval_model {
        update.retrieval_model = Some(serde_json::to_value(model).map_err(ApiError::internal)?);
    }
    update.embedding_model = settings.embedding_model.clone();
    update.embedding_model_provider = settings.embedding_model_provider.clone();
    let dataset = state.store.update_dataset(&dataset.id, &update)?;
    Ok((dataset, rule, doc_form))
}

/// Stores a new document and queues its indexing; answers `{document, batch}`.
fn create_document(
    state: &AppState,
    dataset: &Dataset,
    name: String,
    text: String,
    content_hash: String,
    settings: &DocumentSettings,
    rule_required: bool,
) -> ApiResult<Value> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid_param("name is required.").with_params("name"));
    }
    if text.trim().is_empty() {
        return Err(ApiError::invalid_param("The document has no text.").with_params("text"));
    }
    if settings.skip_if_exists
        && let Some(existing) = state.store.document_by_hash(&dataset.id, &content_hash)?
    {
        return Ok(json!({"document": views::document(&existing), "batch": existing.batch}));
    }
    let (dataset, rule, doc_form) = settle_settings(state, dataset, settings, rule_required)?;
    let batch = ragd_core::dataset::new_batch_id();
    let (document, _job) = state.store.create_document(&NewDocument {
        dataset_id: dataset.id.clone(),
        name,
        data_source_type: "upload_file".into(),
        source: None,
        content_hash,
        text,
        batch: batch.clone(),
        created_from: "api".into(),
        created_by: API_USER.into(),
        doc_form,
        doc_language: settings
            .doc_language
            .clone()
            .unwrap_or_else(|| "English".to_owned()),
        process_rule: Some(rule),
        metadata: Vec::new(),
    })?;
    state.jobs_queued.notify_one();
    Ok(json!({"document": views::document(&document), "batch": batch}))
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/document/create-by-text",
    operation_id = "create_document_by_text",
    tag = "documents",
    summary = "Create a document from text",
    description = "Stores the document and queues its indexing; answers at once with `{document, batch}` (poll `indexing-status` with the batch). Also served at the underscore alias `/v1/datasets/{dataset_id}/document/create_by_text`.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body(content = CreateByText, example = json!({
        "name": "faq.txt",
        "text": "How do I reset my password? Open Settings, then Security.",
        "indexing_technique": "high_quality",
        "process_rule": {"mode": "automatic"}
    })),
    responses(
        (status = 200, description = "`{document, batch}`", body = Object),
        (status = 400, description = "`bad_request` (body is not JSON) or `invalid_param` (name, text, indexing_technique, doc_form, process_rule, retrieval_model)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create_by_text(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    ApiJson(body): ApiJson<CreateByText>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let value = state
        .blocking(move |s| {
            let hash = sha256_hex(&[body.name.as_bytes(), body.text.as_bytes()]);
            create_document(
                s,
                &dataset,
                body.name,
                body.text,
                hash,
                &body.settings,
                false,
            )
        })
        .await?;
    Ok(axum::Json(value))
}

/// A multipart upload: the file part and the `data` settings.
struct Upload {
    file: Option<(String, Vec<u8>)>,
    data: Option<Value>,
}

async fn read_upload(state: &AppState, mut multipart: Multipart) -> ApiResult<Upload> {
    let limit = state.config.max_body_bytes;
    let mut upload = Upload {
        file: None,
        data: None,
    };
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(limit)
        } else {
            ApiError::invalid_param(format!("Invalid multipart body: {}", e.body_text()))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                if upload.file.is_some() {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "too_many_files",
                        "Only one file is allowed.",
                    ));
                }
                let Some(filename) = field
                    .file_name()
                    .map(str::to_owned)
                    .filter(|f| !f.is_empty())
                else {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "filename_not_exists_error",
                        "The specified filename does not exist.",
                    ));
                };
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() as u64 > limit {
                    return Err(ApiError::payload_too_large(limit));
                }
                upload.file = Some((filename, bytes.to_vec()));
            }
            Some("data") => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                let value: Value = parse_json(&bytes)?;
                upload.data = Some(value);
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// Parses an uploaded file into one document text: its format from the file name (415 otherwise).
fn parse_upload(state: &AppState, filename: &str, bytes: &[u8]) -> ApiResult<String> {
    let path = FsPath::new(filename);
    let format = DocumentFormat::from_path(path).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
            format!(
                "File type not allowed: {filename} (supported: txt, md, markdown, html, htm, pdf, \
                 docx, csv, json, jsonl)"
            ),
        )
    })?;
    let mut options = state.parse_options.clone();
    options.max_file_bytes = options.max_file_bytes.min(state.config.max_body_bytes);
    let documents = ragd_ingest::parse_bytes(path, bytes, format, &options)?;
    let text = documents
        .into_iter()
        .map(|d| d.text)
        .collect::<Vec<_>>()
        .join("\n\n");
    Ok(text)
}

fn settings_from(data: Option<Value>) -> ApiResult<DocumentSettings> {
    match data {
        None => Ok(DocumentSettings::default()),
        Some(value) => from_value(value),
    }
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/document/create-by-file",
    operation_id = "create_document_by_file",
    tag = "documents",
    summary = "Create a document from a file",
    description = "Multipart upload: `file` (txt, md, markdown, html, htm, pdf, docx, csv, json, jsonl) and an optional `data` part holding the JSON settings. Parses the file, stores the document and queues its indexing; answers `{document, batch}`. Also served at the underscore alias `/v1/datasets/{dataset_id}/document/create_by_file`.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body(content = crate::openapi::FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "`{document, batch}`", body = Object),
        (status = 400, description = "`no_file_uploaded`, `too_many_files`, `filename_not_exists_error`, `bad_request` (`data` is not JSON) or `invalid_param` (settings, or a file that is empty, corrupt, encrypted or without text)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the file or body is over the size limit", body = crate::openapi::ErrorBody),
        (status = 415, description = "`unsupported_file_type`: the file's extension is not a supported format", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create_by_file(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let multipart = multipart.map_err(|_| no_file())?;
    let upload = read_upload(&state, multipart).await?;
    let (filename, bytes) = upload.file.ok_or_else(no_file)?;
    let settings = settings_from(upload.data)?;
    let value = state
        .blocking(move |s| {
            let text = parse_upload(s, &filename, &bytes)?;
            let hash = sha256_hex(&[filename.as_bytes(), &bytes]);
            create_document(s, &dataset, filename, text, hash, &settings, true)
        })
        .await?;
    Ok(axum::Json(value))
}

fn no_file() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "no_file_uploaded",
        "Please upload your file.",
    )
}

/// A document of the dataset, or 404 "Document not found." (also for a non-UUID id).
pub(super) fn require_document(
    state: &AppState,
    dataset_id: &str,
    document_id: &str,
) -> ApiResult<Document> {
    uuid_or_404(document_id, ApiError::document_not_found)?;
    state
        .store
        .document(dataset_id, document_id)?
        .ok_or_else(ApiError::document_not_found)
}

fn in_progress(d: &Document) -> bool {
    matches!(
        d.indexing_status,
        IndexingStatus::Parsing
            | IndexingStatus::Cleaning
            | IndexingStatus::Splitting
            | IndexingStatus::Indexing
    )
}

/// Dify's refusals for changing a document: archived (403) or being indexed (400).
fn check_editable(d: &Document, action: &str) -> ApiResult<()> {
    if d.archived {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "archived_document_immutable",
            "The archived document is not editable.",
        ));
    }
    if in_progress(d) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "document_indexing",
            format!("The document is being processed and cannot be {action}."),
        ));
    }
    Ok(())
}

/// Body of `POST /v1/datasets/{dataset_id}/documents/{document_id}/update-by-text`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateByText {
    /// New name; required when `text` is given.
    #[serde(default)]
    name: Option<String>,
    /// New text: the document is re-chunked and re-indexed.
    #[serde(default)]
    text: Option<String>,
    #[serde(flatten)]
    settings: DocumentSettings,
}

/// Applies an update under the dataset lock; answers `{document, batch}`.
async fn apply_update(
    state: &AppState,
    dataset: Dataset,
    document_id: String,
    name: Option<String>,
    text: Option<(String, String)>,
    settings: DocumentSettings,
) -> ApiResult<Value> {
    let current = {
        let (id, doc) = (dataset.id.clone(), document_id.clone());
        state
            .blocking(move |s| require_document(s, &id, &doc))
            .await?
    };
    check_editable(&current, "edited")?;
    let _guard = state.locks.lock(&dataset.id).await;
    let value = state
        .blocking(move |s| {
            let current = require_document(s, &dataset.id, &document_id)?;
            check_editable(&current, "edited")?;
            if let Some(rule) = &settings.process_rule {
                check_process_rule(rule, current.doc_form)?;
            }
            if let Some(model) = &settings.retrieval_model {
                model.resolve()?;
                s.store.update_dataset(
                    &dataset.id,
                    &DatasetUpdate {
                        retrieval_model: Some(
                            serde_json::to_value(model).map_err(ApiError::internal)?,
                        ),
                        ..DatasetUpdate::default()
                    },
                )?;
            }
            let batch = ragd_core::dataset::new_batch_id();
            let update = DocumentUpdate {
                name,
                text,
                process_rule: settings.process_rule,
                doc_language: settings.doc_language,
                data_source_type: None,
                source: None,
                batch,
            };
            let (document, job) = s.store.update_document(&dataset.id, &current.id, &update)?;
            if job.is_some() {
                s.jobs_queued.notify_one();
            }
            let batch = document.batch.clone();
            Ok(json!({"document": views::document(&document), "batch": batch}))
        })
        .await?;
    Ok(value)
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text",
    operation_id = "update_document_by_text",
    tag = "documents",
    summary = "Update a document with text",
    description = "Renames the document and/or replaces its text (queued for re-indexing); answers `{document, batch}`. Also served at the underscore alias `/v1/datasets/{dataset_id}/documents/{document_id}/update_by_text`.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)")),
    request_body = UpdateByText,
    responses(
        (status = 200, description = "`{document, batch}`", body = Object),
        (status = 400, description = "`bad_request` (body is not JSON), `invalid_param` (name, text, process_rule, retrieval_model) or `document_indexing` (the document is being processed)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`archived_document_immutable`: the document is archived, or `forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn update_by_text(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateByText>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let text = match (body.text, &body.name) {
        (Some(_), None) => {
            return Err(
                ApiError::invalid_param("name is required when text is given.").with_params("name"),
            );
        }
        (Some(text), Some(name)) => {
            if text.trim().is_empty() {
                return Err(
                    ApiError::invalid_param("The document has no text.").with_params("text")
                );
            }
            let hash = sha256_hex(&[name.as_bytes(), text.as_bytes()]);
            Some((text, hash))
        }
        (None, _) => None,
    };
    if body.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid_param("name must not be empty.").with_params("name"));
    }
    let value = apply_update(&state, dataset, document_id, body.name, text, body.settings).await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-file",
    operation_id = "update_document_by_file",
    tag = "documents",
    summary = "Update a document with a file",
    description = "Multipart upload like create-by-file; without a `file` part only the settings change. Answers `{document, batch}`. Also served at the underscore alias `/v1/datasets/{dataset_id}/documents/{document_id}/update_by_file` and as `PATCH /v1/datasets/{dataset_id}/documents/{document_id}`.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)")),
    request_body(content = crate::openapi::FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "`{document, batch}`", body = Object),
        (status = 400, description = "`no_file_uploaded` (not a multipart body), `too_many_files`, `filename_not_exists_error`, `bad_request`, `invalid_param` or `document_indexing`", body = crate::openapi::ErrorBody),
        (status = 403, description = "`archived_document_immutable`: the document is archived, or `forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the file or body is over the size limit", body = crate::openapi::ErrorBody),
        (status = 415, description = "`unsupported_file_type`: the file's extension is not a supported format", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn update_by_file(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id)): Path<(String, String)>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let multipart = multipart.map_err(|_| no_file())?;
    let upload = read_upload(&state, multipart).await?;
    let settings = settings_from(upload.data)?;
    let (name, text) = match upload.file {
        None => (None, None),
        Some((filename, bytes)) => {
            let parse_state = state.clone();
            let name = filename.clone();
            let (text, hash) = tokio::task::spawn_blocking(move || {
                let text = parse_upload(&parse_state, &filename, &bytes)?;
                Ok::<_, ApiError>((text, sha256_hex(&[filename.as_bytes(), &bytes])))
            })
            .await??;
            (Some(name), Some((text, hash)))
        }
    };
    let value = apply_update(&state, dataset, document_id, name, text, settings).await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/indexing-status",
    operation_id = "get_indexing_status",
    tag = "documents",
    summary = "Indexing progress of a batch",
    description = "The path's `{document_id}` is the `batch` returned by a create or update (Dify's route shape).",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "The batch id returned by a create or update")),
    responses(
        (status = 200, description = "`{data: [{id, indexing_status, completed_segments, total_segments, ...}]}`", body = Object),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, or no documents in the batch", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn indexing_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, batch)): Path<(String, String)>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let documents = state
        .blocking(move |s| Ok(s.store.documents_by_batch(&dataset.id, &batch)?))
        .await?;
    if documents.is_empty() {
        return Err(ApiError::not_found("Documents not found."));
    }
    Ok(axum::Json(json!({
        "data": documents.iter().map(views::indexing_status).collect::<Vec<_>>()
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page number, from 1 (default 1).
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    page: Option<u32>,
    /// Page size (default 20, at most 100).
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    limit: Option<u32>,
    /// Substring of the document name.
    #[serde(default)]
    keyword: Option<String>,
    /// `queuing`, `indexing`, `paused`, `error`, `available`, `disabled` or `archived`.
    #[serde(default)]
    #[param(example = "available")]
    status: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/documents",
    operation_id = "list_documents",
    tag = "documents",
    summary = "List the documents of a dataset",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ListQuery),
    responses(
        (status = 200, description = "`{data, has_more, limit, total, page}`", body = Object),
        (status = 400, description = "`invalid_param`: a bad `status` or a query parameter of the wrong type", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(DocumentStatusFilter::from_name(name).ok_or_else(|| {
            ApiError::invalid_param(format!(
                "Invalid status {name:?}: expected one of queuing, indexing, paused, error, available, \
                 disabled, archived"
            ))
            .with_params("status")
        })?),
    };
    let document_query = DocumentQuery {
        page: page_of(query.page, query.limit),
        keyword: query.keyword.filter(|k| !k.is_empty()),
        status,
    };
    let paged = state
        .blocking(move |s| Ok(s.store.list_documents(&dataset.id, &document_query)?))
        .await?;
    Ok(axum::Json(json!({
        "data": paged.data.iter().map(views::document).collect::<Vec<_>>(),
        "has_more": paged.has_more,
        "limit": paged.limit,
        "total": paged.total,
        "page": paged.page,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// `all` (default), `only` (just the metadata) or `without` (no metadata).
    #[serde(default)]
    #[param(example = "all")]
    metadata: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}",
    operation_id = "get_document",
    tag = "documents",
    summary = "Get a document",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), GetQuery),
    responses(
        (status = 200, description = "The document's detail", body = Object),
        (status = 400, description = "`invalid_param`: a bad `metadata` value", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<GetQuery>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let metadata = query.metadata.unwrap_or_else(|| "all".to_owned());
    if !matches!(metadata.as_str(), "all" | "only" | "without") {
        return Err(ApiError::invalid_param(format!(
            "Invalid metadata value: {metadata} (expected all, only or without)"
        ))
        .with_params("metadata"));
    }
    let document = state
        .blocking(move |s| require_document(s, &dataset.id, &document_id))
        .await?;
    Ok(axum::Json(views::document_detail(&document, &metadata)))
}

#[utoipa::path(
    delete,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}",
    operation_id = "delete_document",
    tag = "documents",
    summary = "Delete a document",
    description = "Deletes the document, its segments and its index entries.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`document_indexing`: the document is being processed", body = crate::openapi::ErrorBody),
        (status = 403, description = "`archived_document_immutable`: the document is archived, or `forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let current = {
        let (id, doc) = (dataset.id.clone(), document_id.clone());
        state
            .blocking(move |s| require_document(s, &id, &doc))
            .await?
    };
    check_editable(&current, "deleted")?;
    // The lock waits out an indexing group of this dataset that has the document queued.
    let _guard = state.locks.lock(&dataset.id).await;
    state
        .blocking(move |s| {
            let current = require_document(s, &dataset.id, &document_id)?;
            check_editable(&current, "deleted")?;
            // Store first: once the row is gone the document can no longer be returned, even if removing
            // its index entries fails (they are then skipped at hydration and removed by `ragd verify`).
            if !s.store.delete_document(&dataset.id, &current.id)? {
                return Err(ApiError::document_not_found());
            }
            s.indexer.remove_document(&dataset, current.key)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Body of `PATCH /v1/datasets/{dataset_id}/documents/status/{action}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StatusBody {
    /// The documents to change (at least one).
    document_ids: Vec<String>,
}

#[utoipa::path(
    patch,
    path = "/v1/datasets/{dataset_id}/documents/status/{action}",
    operation_id = "set_document_status",
    tag = "documents",
    summary = "Enable, disable, archive or un-archive documents",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("action" = String, Path, description = "`enable`, `disable`, `archive` or `un_archive`", example = "disable")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "`{\"result\": \"success\"}`", body = Object, example = json!({"result": "success"})),
        (status = 400, description = "`bad_request`, `invalid_param` (action, document_ids) or `document_indexing` (a document is being indexed)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn set_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    if !matches!(
        action.as_str(),
        "enable" | "disable" | "archive" | "un_archive"
    ) {
        return Err(ApiError::invalid_param(format!(
            "Invalid action {action:?}: expected enable, disable, archive or un_archive"
        ))
        .with_params("action"));
    }
    if body.document_ids.is_empty() {
        return Err(
            ApiError::invalid_param("document_ids must not be empty.").with_params("document_ids")
        );
    }
    let _guard = state.locks.lock(&dataset.id).await;
    state
        .blocking(move |s| {
            for id in &body.document_ids {
                let document = require_document(s, &dataset.id, id)?;
                if in_progress(&document) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "document_indexing",
                        format!(
                            "Document {} is being indexed, please try again later.",
                            document.name
                        ),
                    ));
                }
            }
            match action.as_str() {
                "enable" => s.store.set_documents_enabled(
                    &dataset.id,
                    &body.document_ids,
                    true,
                    API_USER,
                )?,
                "disable" => s.store.set_documents_enabled(
                    &dataset.id,
                    &body.document_ids,
                    false,
                    API_USER,
                )?,
                "archive" => {
                    s.store
                        .set_documents_archived(&dataset.id, &body.document_ids, true)?
                }
                _ => s
                    .store
                    .set_documents_archived(&dataset.id, &body.document_ids, false)?,
            };
            Ok(())
        })
        .await?;
    Ok(axum::Json(json!({"result": "success"})))
}
