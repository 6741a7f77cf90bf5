//! `POST /v1/datasets/{dataset_id}/retrieve` (§1.6), with ragd's optional extensions: `dataset_ids`
//! (more datasets ranked together), `explain` (component scores per record), and the retrieval model's
//! `fusion: rrf` / `rrf_k`.

use std::time::Instant;

use axum::Extension;
use axum::extract::{Path, State};
use ragd_core::dataset::Dataset;
use ragd_core::retrieval::{RetrievalModel, RetrievalSettings, validate_query};
use ragd_retrieve::{Retrieval, RetrieveRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::datasets::Json;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::views;

/// Body of `POST /v1/datasets/{dataset_id}/retrieve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RetrieveBody {
    /// The query text (required in practice: image queries by `attachment_ids` are not supported).
    #[serde(default)]
    #[schema(example = "How do I reset my password?")]
    query: Option<String>,
    /// Dify's `retrieval_model` object: `search_method` (`semantic_search`, `full_text_search`,
    /// `keyword_search`, `hybrid_search`), `top_k`, `score_threshold_enabled`, `score_threshold`,
    /// `reranking_enable`, `reranking_mode`, `weights`, `metadata_filtering_conditions`, and ragd's
    /// `fusion` (`rrf`) and `rrf_k`. Defaults to the dataset's stored model, else semantic search,
    /// top 4.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    retrieval_model: Option<RetrievalModel>,
    /// Not supported without a text query (400).
    #[serde(default)]
    attachment_ids: Option<Vec<String>>,
    /// Accepted for compatibility and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    external_retrieval_model: Option<Value>,
    /// ragd: more datasets to search with the path's, ranked together.
    #[serde(default)]
    dataset_ids: Vec<String>,
    /// ragd: include each record's component scores.
    #[serde(default)]
    explain: bool,
}

/// The retrieval model a request runs with: the request's, else the dataset's stored one, else Dify's
/// default (semantic search, top 4, no threshold).
pub fn settings_for(
    dataset: &Dataset,
    requested: Option<&RetrievalModel>,
) -> ApiResult<RetrievalSettings> {
    let model = match requested {
        Some(model) => model.clone(),
        None => views::stored_retrieval_model(dataset).unwrap_or_default(),
    };
    Ok(model.resolve()?)
}

/// Runs a retrieval on the blocking pool and records its metrics.
pub async fn run(
    state: &AppState,
    dataset_ids: Vec<String>,
    query: String,
    settings: RetrievalSettings,
    explain: bool,
) -> ApiResult<Retrieval> {
    let method = settings.method.as_str();
    let mut request = RetrieveRequest::new(dataset_ids, query, settings);
    request.explain = explain;
    let started = Instant::now();
    let retrieval = state.retriever.clone().retrieve_async(request).await?;
    crate::metrics::record_retrieval(method, started.elapsed(), &retrieval.timings);
    state.record_hits(retrieval.records.iter().map(|r| r.segment.key));
    Ok(retrieval)
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/retrieve",
    operation_id = "retrieve",
    tag = "retrieval",
    summary = "Retrieve chunks from a dataset",
    description = "Dify's hit testing: the best-matching segments for a query. ragd extensions: `dataset_ids` (more datasets ranked together), `explain` (component scores per record), and `fusion: rrf` / `rrf_k` in the retrieval model.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body(content = RetrieveBody, example = json!({
        "query": "How do I reset my password?",
        "retrieval_model": {"search_method": "hybrid_search", "top_k": 4, "score_threshold_enabled": false}
    })),
    responses(
        (status = 200, description = "`{query: {content}, records: [{segment, score, ...}]}`", body = Object),
        (status = 400, description = "`bad_request`, `invalid_param` (query, retrieval_model, attachment_ids) or `model_currently_not_support`", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: API access to the dataset is disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such dataset (the path's or one of `dataset_ids`)", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn retrieve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(dataset_id): Path<String>,
    ApiJson(body): ApiJson<RetrieveBody>,
) -> ApiResult<Json> {
    let dataset = state.dataset_for(&caller, &dataset_id).await?;
    let query = body.query.unwrap_or_default();
    if query.trim().is_empty() && body.attachment_ids.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::invalid_param(
            "Retrieval by attachment_ids (image queries) is not supported; send a text query.",
        )
        .with_params("attachment_ids"));
    }
    validate_query(&query).map_err(|e| ApiError::from(e).with_params("query"))?;
    let settings = settings_for(&dataset, body.retrieval_model.as_ref())?;
    let mut dataset_ids = vec![dataset.id.clone()];
    for other in body.dataset_ids {
        if !dataset_ids.contains(&other) {
            state.dataset_for(&caller, &other).await?;
            dataset_ids.push(other);
        }
    }
    let retrieval = run(&state, dataset_ids, query.clone(), settings, body.explain).await?;
    Ok(axum::Json(json!({
        "query": {"content": query},
        "records": retrieval.records.iter().map(views::record).collect::<Vec<_>>(),
    })))
}
