//! Segments and child chunks of a document (§1.1, §1.3): list, create, get, update, delete.
//!
//! Every edit runs under the dataset's write lock in three steps: the store change (segments marked
//! `indexing`), the index change (`Indexer::apply_chunk_changes`: durable in both indexes before it
//! returns), then `complete_segments`, which marks them `completed` and bumps the dataset version.
//! What gets indexed is the segment itself, or its child chunks in a parent-child document; a disabled
//! segment has nothing in the indexes.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ragd_core::ProcessRule;
use ragd_core::dataset::{
    ChildChunk, Dataset, DocForm, Document, IndexingStatus, NewChildChunk, NewSegment, Segment,
    SegmentContent, SegmentStatus, SegmentUpdate,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::datasets::{Json, page_of};
use super::documents::require_document;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, lenient, uuid_or_404};
use crate::state::AppState;
use crate::views::{self, API_USER};

fn content_of(state: &AppState, text: &str) -> ApiResult<SegmentContent> {
    let tokens = state.counter.count_tokens(text)?;
    Ok(SegmentContent {
        content: text.to_owned(),
        word_count: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
        tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        hash: hex::encode(Sha256::digest(text.as_bytes())),
    })
}

/// Segment writes need a completed document (Dify: 404 otherwise).
fn require_completed_document(
    state: &AppState,
    dataset_id: &str,
    document_id: &str,
) -> ApiResult<Document> {
    let document = require_document(state, dataset_id, document_id)?;
    if document.indexing_status != IndexingStatus::Completed {
        return Err(ApiError::not_found("Document is not completed."));
    }
    Ok(document)
}

fn require_segment(state: &AppState, document: &Document, segment_id: &str) -> ApiResult<Segment> {
    uuid_or_404(segment_id, ApiError::segment_not_found)?;
    state
        .store
        .segment(&document.dataset_id, segment_id)?
        .filter(|s| s.document_id == document.id)
        .ok_or_else(ApiError::segment_not_found)
}

/// Child chunks for a parent-child document's segment, cut by the document's child rule.
fn children_for(
    state: &AppState,
    document: &Document,
    content: &str,
) -> ApiResult<Vec<NewChildChunk>> {
    let rule: ProcessRule = match &document.process_rule {
        Some(v) => serde_json::from_value(v.clone()).map_err(ApiError::internal)?,
        None => ProcessRule::automatic(),
    };
    let mut resolved = rule.resolve()?;
    if resolved.children.is_none() {
        return Ok(Vec::new());
    }
    // The segment is the parent: cut only children from it.
    resolved.segmentation = None;
    resolved.parent_mode = Some(ragd_core::ParentMode::FullDoc);
    let chunks = ragd_ingest::chunk_text(content, &resolved, state.counter.as_ref())
        .map_err(ApiError::from)?;
    Ok(chunks
        .into_iter()
        .filter(|c| c.parent.is_some())
        .map(|c| NewChildChunk {
            position: c.position,
            content: c.content,
            word_count: u32::try_from(c.char_count).unwrap_or(u32::MAX),
            tokens: u32::try_from(c.token_count).unwrap_or(u32::MAX),
            hash: c.content_hash,
        })
        .collect())
}

/// What a segment puts in the indexes: itself, or its children in a parent-child document.
fn indexed_chunks(
    document: &Document,
    segment: &Segment,
    children: &[ChildChunk],
) -> Vec<(u64, String)> {
    if !segment.enabled {
        return Vec::new();
    }
    if document.doc_form == DocForm::HierarchicalModel {
        children
            .iter()
            .map(|c| (c.key, c.content.clone()))
            .collect()
    } else {
        vec![(segment.key, segment.content.clone())]
    }
}

/// Index change then completion (see the module docs).
fn index_and_complete(
    state: &AppState,
    dataset: &Dataset,
    document: &Document,
    upserts: &[(u64, String)],
    removed: &[u64],
    segment_ids: &[String],
) -> ApiResult<()> {
    let upserts: Vec<(u64, &str)> = upserts.iter().map(|(k, t)| (*k, t.as_str())).collect();
    state
        .indexer
        .apply_chunk_changes(dataset, document.key, &upserts, removed)?;
    state.store.complete_segments(&dataset.id, segment_ids)?;
    Ok(())
}

/// One segment to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSegmentBody {
    /// The segment text (not empty). In a parent-child document its child chunks are cut from it.
    content: String,
    /// The answer, for `qa_model` documents.
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    keywords: Option<Vec<String>>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    attachment_ids: Option<Vec<String>>,
}

/// Body of `POST /v1/datasets/{dataset_id}/documents/{document_id}/segments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateSegments {
    /// The segments to add (at least one).
    segments: Vec<NewSegmentBody>,
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments",
    operation_id = "create_segments",
    tag = "segments",
    summary = "Add segments to a document",
    description = "Adds the segments and indexes them before answering (the document must be completed).",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)")),
    request_body = CreateSegments,
    responses(
        (status = 200, description = "`{data: [segment], doc_form}`", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (segments, answer)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document, or the document is not completed", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateSegments>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    if body.segments.is_empty() {
        return Err(ApiError::invalid_param("segments must not be empty.").with_params("segments"));
    }
    if let Some(i) = body
        .segments
        .iter()
        .position(|s| s.content.trim().is_empty())
    {
        return Err(
            ApiError::invalid_param(format!("segments[{i}].content must not be empty."))
                .with_params("segments"),
        );
    }
    let _guard = state.locks.lock(&dataset.id).await;
    let value = state
        .blocking(move |s| {
            let document = require_completed_document(s, &dataset.id, &document_id)?;
            let mut new = Vec::with_capacity(body.segments.len());
            for (i, segment) in body.segments.into_iter().enumerate() {
                if document.doc_form == DocForm::QaModel && segment.answer.is_none() {
                    return Err(ApiError::invalid_param("Answer is required").with_params("answer"));
                }
                let content = content_of(s, &segment.content)?;
                let children = children_for(s, &document, &segment.content)?;
                new.push(NewSegment {
                    position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    content: content.content,
                    answer: segment.answer,
                    word_count: content.word_count,
                    tokens: content.tokens,
                    keywords: segment.keywords.unwrap_or_default(),
                    hash: content.hash,
                    children,
                });
            }
            let segments = s
                .store
                .add_segments(&dataset.id, &document.id, &new, API_USER)?;
            let mut upserts = Vec::new();
            for segment in &segments {
                let children = s.store.child_chunks(&segment.id)?;
                upserts.extend(indexed_chunks(&document, segment, &children));
            }
            let ids: Vec<String> = segments.iter().map(|x| x.id.clone()).collect();
            index_and_complete(s, &dataset, &document, &upserts, &[], &ids)?;
            let mut data = Vec::with_capacity(ids.len());
            for id in &ids {
                let segment = require_segment(s, &document, id)?;
                let children = s.store.child_chunks(id)?;
                data.push(views::segment(&segment, &children));
            }
            Ok(json!({"data": data, "doc_form": document.doc_form}))
        })
        .await?;
    Ok(axum::Json(value))
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
    /// Substring of the segment content.
    #[serde(default)]
    keyword: Option<String>,
    /// `completed`, `indexing` or `error`.
    #[serde(default)]
    #[param(example = "completed")]
    status: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments",
    operation_id = "list_segments",
    tag = "segments",
    summary = "List the segments of a document",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ListQuery),
    responses(
        (status = 200, description = "`{data, doc_form, total, has_more, limit, page}`", body = Object),
        (status = 400, description = "`invalid_param`: a bad `status` or a query parameter of the wrong type", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset or document", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(SegmentStatus::from_name(name).ok_or_else(|| {
            ApiError::invalid_param(format!(
                "Invalid status {name:?}: expected completed, indexing or error"
            ))
            .with_params("status")
        })?),
    };
    let page = page_of(query.page, query.limit);
    let keyword = query.keyword.filter(|k| !k.is_empty());
    let value = state
        .blocking(move |s| {
            let document = require_document(s, &dataset.id, &document_id)?;
            let paged = s
                .store
                .list_segments(&document.id, page, keyword.as_deref(), status)?;
            let mut data = Vec::with_capacity(paged.data.len());
            for segment in &paged.data {
                let children = s.store.child_chunks(&segment.id)?;
                data.push(views::segment(segment, &children));
            }
            Ok(json!({
                "data": data,
                "doc_form": document.doc_form,
                "total": paged.total,
                "has_more": paged.has_more,
                "limit": paged.limit,
                "page": paged.page,
            }))
        })
        .await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    operation_id = "get_segment",
    tag = "segments",
    summary = "Get a segment",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)")),
    responses(
        (status = 200, description = "`{data: segment, doc_form}`", body = Object),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document or segment", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id)): Path<(String, String, String)>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let value = state
        .blocking(move |s| {
            let document = require_document(s, &dataset.id, &document_id)?;
            let segment = require_segment(s, &document, &segment_id)?;
            let children = s.store.child_chunks(&segment.id)?;
            Ok(json!({"data": views::segment(&segment, &children), "doc_form": document.doc_form}))
        })
        .await?;
    Ok(axum::Json(value))
}

/// What to change in a segment; absent fields are kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SegmentChanges {
    /// New text (not empty); re-indexed.
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    keywords: Option<Vec<String>>,
    /// `false` removes the segment from the indexes, `true` puts it back.
    #[serde(default)]
    enabled: Option<bool>,
    /// Parent-child documents: cut the child chunks again from `content` even if it is unchanged.
    #[serde(default)]
    regenerate_child_chunks: bool,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    attachment_ids: Option<Vec<String>>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    summary: Option<Value>,
}

/// Body of `POST /v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateSegment {
    segment: SegmentChanges,
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    operation_id = "update_segment",
    tag = "segments",
    summary = "Update a segment",
    description = "Changes the segment and re-indexes it before answering (the document must be completed).",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)")),
    request_body = UpdateSegment,
    responses(
        (status = 200, description = "`{data: segment, doc_form}`", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (content)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document or segment, or the document is not completed", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<UpdateSegment>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let changes = body.segment;
    if changes
        .content
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(ApiError::invalid_param("content must not be empty.").with_params("content"));
    }
    let _guard = state.locks.lock(&dataset.id).await;
    let value = state
        .blocking(move |s| {
            let document = require_completed_document(s, &dataset.id, &document_id)?;
            let before = require_segment(s, &document, &segment_id)?;
            let old_children = s.store.child_chunks(&before.id)?;
            let content = changes.content.as_deref().map(|c| content_of(s, c)).transpose()?;
            let content_changed = content.as_ref().is_some_and(|c| c.content != before.content);
            let hierarchical = document.doc_form == DocForm::HierarchicalModel;
            let children = match (&changes.content, hierarchical) {
                (Some(text), true) if content_changed || changes.regenerate_child_chunks => {
                    Some(children_for(s, &document, text)?)
                }
                _ => None,
            };
            let update = SegmentUpdate {
                content: content.filter(|_| content_changed),
                answer: changes.answer,
                keywords: changes.keywords,
                enabled: changes.enabled,
                children,
                by: API_USER.to_owned(),
            };
            let after = s.store.update_segment(&dataset.id, &before.id, &update)?;
            let new_children = s.store.child_chunks(&after.id)?;
            // Remove what the segment had in the indexes, add what it has now.
            let mut removed: Vec<u64> = indexed_chunks(&document, &before, &old_children)
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            if !before.enabled {
                removed.extend(old_children.iter().map(|c| c.key));
                removed.push(before.key);
            }
            let upserts = indexed_chunks(&document, &after, &new_children);
            index_and_complete(s, &dataset, &document, &upserts, &removed, std::slice::from_ref(&after.id))?;
            let segment = require_segment(s, &document, &after.id)?;
            Ok(json!({"data": views::segment(&segment, &new_children), "doc_form": document.doc_form}))
        })
        .await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    delete,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    operation_id = "delete_segment",
    tag = "segments",
    summary = "Delete a segment",
    description = "Deletes the segment and its child chunks, and removes them from the indexes.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document or segment", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let _guard = state.locks.lock(&dataset.id).await;
    state
        .blocking(move |s| {
            let document = require_document(s, &dataset.id, &document_id)?;
            let segment = require_segment(s, &document, &segment_id)?;
            let children = s.store.child_chunks(&segment.id)?;
            let mut removed: Vec<u64> = children.iter().map(|c| c.key).collect();
            removed.push(segment.key);
            if !s.store.delete_segment(&dataset.id, &segment.id)? {
                return Err(ApiError::segment_not_found());
            }
            s.indexer
                .apply_chunk_changes(&dataset, document.key, &[], &removed)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Body of the child chunk create and update routes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChildBody {
    /// The child chunk text (not empty).
    content: String,
}

fn require_hierarchical(document: &Document) -> ApiResult<()> {
    if document.doc_form == DocForm::HierarchicalModel {
        Ok(())
    } else {
        Err(ApiError::invalid_param(
            "Child chunks exist only in parent-child documents (doc_form hierarchical_model).",
        ))
    }
}

fn require_child(state: &AppState, segment: &Segment, child_id: &str) -> ApiResult<ChildChunk> {
    let not_found = || ApiError::not_found("Child chunk not found.");
    uuid_or_404(child_id, not_found)?;
    state
        .store
        .child_chunk(&segment.dataset_id, child_id)?
        .filter(|c| c.segment_id == segment.id)
        .ok_or_else(not_found)
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
    operation_id = "create_child_chunk",
    tag = "segments",
    summary = "Add a child chunk to a segment",
    description = "Parent-child (`hierarchical_model`) documents only; the chunk is indexed before the answer.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)")),
    request_body = ChildBody,
    responses(
        (status = 200, description = "`{data: child_chunk}`", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (empty content, or not a parent-child document)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document or segment, or the document is not completed", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create_child(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ChildBody>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    if body.content.trim().is_empty() {
        return Err(ApiError::invalid_param("content must not be empty.").with_params("content"));
    }
    let _guard = state.locks.lock(&dataset.id).await;
    let value = state
        .blocking(move |s| {
            let document = require_completed_document(s, &dataset.id, &document_id)?;
            require_hierarchical(&document)?;
            let segment = require_segment(s, &document, &segment_id)?;
            let child = s.store.add_child_chunk(
                &dataset.id,
                &segment.id,
                &content_of(s, &body.content)?,
            )?;
            let upserts = if segment.enabled {
                vec![(child.key, child.content.clone())]
            } else {
                Vec::new()
            };
            index_and_complete(
                s,
                &dataset,
                &document,
                &upserts,
                &[],
                std::slice::from_ref(&segment.id),
            )?;
            Ok(json!({"data": views::child_chunk(&child)}))
        })
        .await?;
    Ok(axum::Json(value))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChildListQuery {
    /// Page number, from 1 (default 1).
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    page: Option<u32>,
    /// Page size (default 20, at most 100).
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    limit: Option<u32>,
    /// Substring of the chunk content.
    #[serde(default)]
    keyword: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
    operation_id = "list_child_chunks",
    tag = "segments",
    summary = "List the child chunks of a segment",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)"), ChildListQuery),
    responses(
        (status = 200, description = "`{data, total, total_pages, page, limit}`", body = Object),
        (status = 400, description = "`invalid_param`: a query parameter of the wrong type", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document or segment", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn list_children(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<ChildListQuery>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let page = page_of(query.page, query.limit);
    let keyword = query.keyword.filter(|k| !k.is_empty());
    let value = state
        .blocking(move |s| {
            let document = require_document(s, &dataset.id, &document_id)?;
            let segment = require_segment(s, &document, &segment_id)?;
            let paged = s
                .store
                .list_child_chunks(&segment.id, page, keyword.as_deref())?;
            let total_pages = paged.total.div_ceil(u64::from(paged.limit.max(1)));
            Ok(json!({
                "data": paged.data.iter().map(views::child_chunk).collect::<Vec<_>>(),
                "total": paged.total,
                "total_pages": total_pages,
                "page": paged.page,
                "limit": paged.limit,
            }))
        })
        .await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    patch,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
    operation_id = "update_child_chunk",
    tag = "segments",
    summary = "Update a child chunk",
    description = "Parent-child documents only; the chunk is re-indexed before the answer.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)"), ("child_chunk_id" = String, Path, description = "Child chunk id (UUID)")),
    request_body = ChildBody,
    responses(
        (status = 200, description = "`{data: child_chunk}`", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (empty content, or not a parent-child document)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document, segment or child chunk, or the document is not completed", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn update_child(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id, child_id)): Path<(String, String, String, String)>,
    ApiJson(body): ApiJson<ChildBody>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    if body.content.trim().is_empty() {
        return Err(ApiError::invalid_param("content must not be empty.").with_params("content"));
    }
    let _guard = state.locks.lock(&dataset.id).await;
    let value = state
        .blocking(move |s| {
            let document = require_completed_document(s, &dataset.id, &document_id)?;
            require_hierarchical(&document)?;
            let segment = require_segment(s, &document, &segment_id)?;
            let child = require_child(s, &segment, &child_id)?;
            let child = s.store.update_child_chunk(
                &dataset.id,
                &segment.id,
                &child.id,
                &content_of(s, &body.content)?,
            )?;
            let upserts = if segment.enabled {
                vec![(child.key, child.content.clone())]
            } else {
                Vec::new()
            };
            index_and_complete(
                s,
                &dataset,
                &document,
                &upserts,
                &[],
                std::slice::from_ref(&segment.id),
            )?;
            Ok(json!({"data": views::child_chunk(&child)}))
        })
        .await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    delete,
    path = "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
    operation_id = "delete_child_chunk",
    tag = "segments",
    summary = "Delete a child chunk",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)"), ("document_id" = String, Path, description = "Document id (UUID)"), ("segment_id" = String, Path, description = "Segment id (UUID)"), ("child_chunk_id" = String, Path, description = "Child chunk id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset, document, segment or child chunk", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn delete_child(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((dataset_id, document_id, segment_id, child_id)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let _guard = state.locks.lock(&dataset.id).await;
    state
        .blocking(move |s| {
            let document = require_document(s, &dataset.id, &document_id)?;
            let segment = require_segment(s, &document, &segment_id)?;
            let child = require_child(s, &segment, &child_id)?;
            if !s
                .store
                .delete_child_chunk(&dataset.id, &segment.id, &child.id)?
            {
                return Err(ApiError::not_found("Child chunk not found."));
            }
            s.indexer
                .apply_chunk_changes(&dataset, document.key, &[], &[child.key])?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
