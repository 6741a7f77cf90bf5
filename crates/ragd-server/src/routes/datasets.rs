//! Datasets: create, list, get, update, delete (spec §1.1, §1.2).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ragd_core::dataset::{
    Dataset, DatasetUpdate, DocumentQuery, DocumentStatusFilter, IndexingTechnique, NewDataset,
    Page, Paged,
};
use ragd_core::retrieval::RetrievalModel;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, lenient};
use crate::state::AppState;
use crate::views::{self, DatasetExtras};

const PERMISSIONS: [&str; 3] = ["only_me", "all_team_members", "partial_members"];
const ANALYZERS: [&str; 2] = ["english", "cjk"];

/// Body of `POST /v1/datasets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateDataset {
    /// 1 to 40 characters, unique.
    #[schema(example = "Handbook")]
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// `high_quality` (embeddings and BM25) or `economy` (BM25 only). Required before the first
    /// document when not set here.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "high_quality")]
    indexing_technique: Option<IndexingTechnique>,
    /// `only_me` (default), `all_team_members` or `partial_members`.
    #[serde(default)]
    #[schema(example = "only_me")]
    permission: Option<String>,
    /// Only `vendor` (the default) is supported.
    #[serde(default)]
    #[schema(example = "vendor")]
    provider: Option<String>,
    #[serde(default)]
    embedding_model: Option<String>,
    #[serde(default)]
    embedding_model_provider: Option<String>,
    /// Dify's `retrieval_model` object: `search_method` (`semantic_search`, `full_text_search`,
    /// `keyword_search`, `hybrid_search`), `top_k`, `score_threshold_enabled`, `score_threshold`,
    /// `reranking_enable`, `reranking_mode`, `weights`, `metadata_filtering_conditions`, and ragd's
    /// `fusion` (`rrf`) and `rrf_k`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    retrieval_model: Option<RetrievalModel>,
    /// ragd: the BM25 analyzer, `english` (default) or `cjk`.
    #[serde(default)]
    #[schema(example = "english")]
    lexical_analyzer: Option<String>,
    /// `text_model` (default) or `hierarchical_model` (parent-child); `qa_model` is refused.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "text_model")]
    doc_form: Option<ragd_core::dataset::DocForm>,
    // Accepted for compatibility; ragd is itself the knowledge base.
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    external_knowledge_api_id: Option<String>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    external_knowledge_id: Option<String>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    summary_index_setting: Option<Value>,
}

fn check_permission(permission: &str) -> ApiResult<()> {
    if PERMISSIONS.contains(&permission) {
        Ok(())
    } else {
        Err(ApiError::invalid_param(format!(
            "Invalid permission {permission:?}: expected one of {}",
            PERMISSIONS.join(", ")
        ))
        .with_params("permission"))
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    let chars = name.trim().chars().count();
    if (1..=ragd_core::dataset::MAX_DATASET_NAME_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(ApiError::invalid_param("Name must be between 1 to 40 characters.").with_params("name"))
    }
}

fn check_retrieval_model(model: &Option<RetrievalModel>) -> ApiResult<Option<Value>> {
    match model {
        None => Ok(None),
        Some(m) => {
            m.resolve()?;
            Ok(Some(serde_json::to_value(m).map_err(ApiError::internal)?))
        }
    }
}

/// The dataset with what its view shows besides the row (metadata fields, available documents).
pub(super) fn view(state: &AppState, dataset: &Dataset) -> ApiResult<Value> {
    let fields = state
        .store
        .metadata_fields(&dataset.id)?
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    let available = state
        .store
        .list_documents(
            &dataset.id,
            &DocumentQuery {
                page: Page::new(1, 1),
                keyword: None,
                status: Some(DocumentStatusFilter::Available),
            },
        )?
        .total;
    Ok(views::dataset(
        dataset,
        &DatasetExtras {
            fields,
            available_documents: available,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/v1/datasets",
    operation_id = "create_dataset",
    tag = "datasets",
    summary = "Create an empty dataset",
    description = "Creates a dataset (knowledge base). A key limited to some datasets cannot create datasets (403).",
    request_body(content = CreateDataset, example = json!({
        "name": "Handbook",
        "description": "The staff handbook",
        "indexing_technique": "high_quality",
        "permission": "only_me"
    })),
    responses(
        (status = 200, description = "The created dataset", body = Object),
        (status = 400, description = "`bad_request` (body is not JSON) or `invalid_param` (name, permission, provider, lexical_analyzer, retrieval_model)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: the key is limited to some datasets", body = crate::openapi::ErrorBody),
        (status = 409, description = "`dataset_name_duplicate`: the name is taken", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CreateDataset>,
) -> ApiResult<Json> {
    if caller.is_scoped() {
        return Err(ApiError::forbidden(
            "This API key is limited to some datasets and cannot create datasets.",
        ));
    }
    check_name(&body.name)?;
    let permission = body.permission.unwrap_or_else(|| "only_me".to_owned());
    check_permission(&permission)?;
    let provider = body.provider.unwrap_or_else(|| "vendor".to_owned());
    if provider != "vendor" {
        return Err(ApiError::invalid_param(
            "Only provider \"vendor\" is supported: ragd is the knowledge base (point Dify's external \
             knowledge API at ragd's /retrieval instead).",
        )
        .with_params("provider"));
    }
    let analyzer = body
        .lexical_analyzer
        .unwrap_or_else(|| "english".to_owned());
    if !ANALYZERS.contains(&analyzer.as_str()) {
        return Err(ApiError::invalid_param(format!(
            "Unknown lexical_analyzer {analyzer:?}: expected english or cjk"
        ))
        .with_params("lexical_analyzer"));
    }
    let retrieval_model = check_retrieval_model(&body.retrieval_model)?;
    let mut new = NewDataset::named(body.name.trim());
    new.description = body.description.unwrap_or_default();
    new.indexing_technique = body.indexing_technique;
    new.permission = permission;
    new.embedding_model = body.embedding_model;
    new.embedding_model_provider = body.embedding_model_provider;
    new.retrieval_model = retrieval_model;
    new.lexical_analyzer = analyzer;
    new.doc_form = body.doc_form.unwrap_or_default();
    new.created_by = crate::views::API_USER.to_owned();
    let value = state
        .blocking(move |s| {
            let dataset = s.store.create_dataset(&new)?;
            view(s, &dataset)
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
    /// Case-insensitive substring of the name.
    #[serde(default)]
    keyword: Option<String>,
    /// Accepted for compatibility and ignored.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    #[allow(dead_code)]
    include_all: Option<bool>,
    /// Accepted for compatibility and ignored (`tag_ids=a&tag_ids=b`).
    #[serde(default)]
    #[allow(dead_code)]
    #[param(value_type = Option<Vec<String>>)]
    tag_ids: Option<Value>,
}

/// Page and limit as Dify reads them: defaults 1 and 20, limit capped at 100.
pub(super) fn page_of(page: Option<u32>, limit: Option<u32>) -> Page {
    Page::new(
        page.unwrap_or(1),
        limit.unwrap_or(ragd_core::dataset::DEFAULT_PAGE_LIMIT),
    )
    .clamped()
}

#[utoipa::path(
    get,
    path = "/v1/datasets",
    operation_id = "list_datasets",
    tag = "datasets",
    summary = "List datasets",
    description = "Newest first, paged. A key limited to some datasets sees only those.",
    params(ListQuery),
    responses(
        (status = 200, description = "`{data, has_more, limit, total, page}`", body = Object),
        (status = 400, description = "`invalid_param`: a query parameter of the wrong type", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json> {
    let page = page_of(query.page, query.limit);
    let keyword = query.keyword.filter(|k| !k.is_empty());
    let value = state
        .blocking(move |s| {
            let paged = match caller.key.as_ref().filter(|k| !k.datasets.is_empty()) {
                None => s.store.list_datasets(page, keyword.as_deref())?,
                Some(key) => {
                    // A scoped key sees only its datasets.
                    let mut mine = Vec::new();
                    for id in &key.datasets {
                        if let Some(d) = s.store.dataset(id)? {
                            let matches = keyword
                                .as_deref()
                                .is_none_or(|k| d.name.to_lowercase().contains(&k.to_lowercase()));
                            if matches {
                                mine.push(d);
                            }
                        }
                    }
                    mine.sort_by_key(|d| std::cmp::Reverse(d.created_at));
                    let total = mine.len() as u64;
                    let data = mine
                        .into_iter()
                        .skip(page.offset() as usize)
                        .take(page.limit as usize)
                        .collect();
                    Paged::new(data, page, total)
                }
            };
            let data = paged
                .data
                .iter()
                .map(|d| view(s, d))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(json!({
                "data": data,
                "has_more": paged.has_more,
                "limit": paged.limit,
                "total": paged.total,
                "page": paged.page,
            }))
        })
        .await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{dataset_id}",
    operation_id = "get_dataset",
    tag = "datasets",
    summary = "Get a dataset",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    responses(
        (status = 200, description = "The dataset", body = Object),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset (or not one this key may use)", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let value = state.blocking(move |s| view(s, &dataset)).await?;
    Ok(axum::Json(value))
}

/// Body of `PATCH /v1/datasets/{dataset_id}`: the fields to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateDataset {
    /// 1 to 40 characters, unique.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// `high_quality` or `economy`; a `high_quality` dataset with documents cannot become `economy`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "high_quality")]
    indexing_technique: Option<IndexingTechnique>,
    /// `only_me`, `all_team_members` or `partial_members`.
    #[serde(default)]
    #[schema(example = "all_team_members")]
    permission: Option<String>,
    #[serde(default)]
    embedding_model: Option<String>,
    #[serde(default)]
    embedding_model_provider: Option<String>,
    /// Dify's `retrieval_model` object (see `CreateDataset.retrieval_model`), stored as the
    /// dataset's default for retrievals.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    retrieval_model: Option<RetrievalModel>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Vec<Object>>)]
    partial_member_list: Option<Value>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    external_retrieval_model: Option<Value>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    external_knowledge_id: Option<String>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    external_knowledge_api_id: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/v1/datasets/{dataset_id}",
    operation_id = "update_dataset",
    tag = "datasets",
    summary = "Update a dataset",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body = UpdateDataset,
    responses(
        (status = 200, description = "The updated dataset", body = Object),
        (status = 400, description = "`bad_request` (body is not JSON) or `invalid_param` (name, permission, indexing_technique, retrieval_model)", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        (status = 409, description = "`dataset_name_duplicate`: the new name is taken", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    ApiJson(body): ApiJson<UpdateDataset>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if let Some(permission) = &body.permission {
        check_permission(permission)?;
    }
    if dataset.indexing_technique == Some(IndexingTechnique::HighQuality)
        && body.indexing_technique == Some(IndexingTechnique::Economy)
        && dataset.document_count > 0
    {
        return Err(ApiError::invalid_param(
            "A high_quality dataset with documents cannot become economy (its vectors would be \
             dropped); create a new dataset instead.",
        )
        .with_params("indexing_technique"));
    }
    let update = DatasetUpdate {
        name: body.name.map(|n| n.trim().to_owned()),
        description: body.description,
        indexing_technique: body.indexing_technique,
        permission: body.permission,
        retrieval_model: check_retrieval_model(&body.retrieval_model)?,
        embedding_model: body.embedding_model,
        embedding_model_provider: body.embedding_model_provider,
        ..DatasetUpdate::default()
    };
    let value = state
        .blocking(move |s| {
            let dataset = s.store.update_dataset(&dataset.id, &update)?;
            view(s, &dataset)
        })
        .await?;
    Ok(axum::Json(value))
}

#[utoipa::path(
    delete,
    path = "/v1/datasets/{dataset_id}",
    operation_id = "delete_dataset",
    tag = "datasets",
    summary = "Delete a dataset",
    description = "Deletes the dataset with its documents, segments and indexes (waits for an indexing group of the dataset in progress).",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    // Waits for an indexing group of this dataset to finish, so no worker writes into removed indexes.
    let _guard = state.locks.lock(&dataset.id).await;
    state
        .blocking(move |s| {
            if !s.store.delete_dataset(&dataset.id)? {
                return Err(ApiError::dataset_not_found());
            }
            s.indexer.remove_dataset(&dataset.id)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// JSON responses.
pub type Json = axum::Json<Value>;
