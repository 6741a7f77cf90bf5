//! `POST /v1/datasets/{dataset_id}/retrieve` (§1.6), with ragd's optional extensions: `dataset_ids`
//! (more datasets ranked together), `explain` (component scores per record), the retrieval model's
//! `fusion: rrf` / `rrf_k`, and cache control (`cache` in the body or `Cache-Control: no-cache` /
//! `no-store`; the answer's `cache` field and `X-Ragd-Cache` header say where it came from).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Extension;
use axum::body::{Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use ragd_cache::{Answer, CacheMode};
use ragd_core::dataset::Dataset;
use ragd_core::retrieval::{RetrievalModel, RetrievalSettings, validate_query};
use ragd_retrieve::RetrieveRequest;
use serde::Deserialize;
use serde_json::Value;

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
    /// ragd: `use` (default: look up, compute on a miss, store), `refresh` (compute and store) or
    /// `bypass` (compute, store nothing). `Cache-Control: no-cache` means `refresh` and `no-store`
    /// `bypass`; the body wins when both are given.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "use")]
    cache: Option<CacheMode>,
}

/// The response header saying where an answer came from: `l1-exact`, `l1-semantic`, `l2`, `miss`,
/// `refresh`, `bypass` or `off`.
pub const CACHE_HEADER: &str = "x-ragd-cache";

/// The cache mode a request asks for: the body's `cache`, else `Cache-Control` (`no-store` bypasses,
/// `no-cache` refreshes), else `use`.
pub fn cache_mode(headers: &HeaderMap, requested: Option<CacheMode>) -> CacheMode {
    if let Some(mode) = requested {
        return mode;
    }
    let mut mode = CacheMode::Use;
    let directives = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    for directive in directives {
        if directive.eq_ignore_ascii_case("no-store") {
            return CacheMode::Bypass;
        }
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("max-age=0")
        {
            mode = CacheMode::Refresh;
        }
    }
    mode
}

/// Adds `X-Ragd-Cache` to a response.
pub fn with_cache_header(mut response: Response, answer: &Answer) -> Response {
    response.headers_mut().insert(
        CACHE_HEADER,
        HeaderValue::from_static(answer.outcome.label()),
    );
    response
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

/// Runs a retrieval through the cache (computing it on the blocking pool on a miss) and records its
/// metrics. `datasets` are as the caller just read them from the store, in ranking order.
pub async fn run(
    state: &AppState,
    datasets: &[Dataset],
    query: String,
    settings: RetrievalSettings,
    explain: bool,
    mode: CacheMode,
) -> ApiResult<Answer> {
    let method = settings.method.as_str();
    let versions: Vec<(String, u64)> = datasets.iter().map(|d| (d.id.clone(), d.version)).collect();
    let ids = versions.iter().map(|(id, _)| id.clone()).collect();
    let mut request = RetrieveRequest::new(ids, query, settings);
    request.explain = explain;
    let started = Instant::now();
    let answer = state.cache.retrieve(request, &versions, mode).await?;
    if let Some(timings) = &answer.timings {
        crate::metrics::record_retrieval(method, started.elapsed(), timings);
    }
    state.record_hits(answer.entry.records.iter().map(|r| r.segment.key));
    Ok(answer)
}

#[utoipa::path(
    post,
    path = "/v1/datasets/{dataset_id}/retrieve",
    operation_id = "retrieve",
    tag = "retrieval",
    summary = "Retrieve chunks from a dataset",
    description = "Dify's hit testing: the best-matching segments for a query. ragd extensions: `dataset_ids` (more datasets ranked together), `explain` (component scores per record), `fusion: rrf` / `rrf_k` in the retrieval model, and the cache: `cache` (`use`, `refresh`, `bypass`) or `Cache-Control: no-cache` / `no-store`; the answer's `cache` field and `X-Ragd-Cache` header say whether it was a hit and from which tier.",
    params(("dataset_id" = String, Path, description = "Dataset id (UUID)")),
    request_body(content = RetrieveBody, example = json!({
        "query": "How do I reset my password?",
        "retrieval_model": {"search_method": "hybrid_search", "top_k": 4, "score_threshold_enabled": false}
    })),
    responses(
        (status = 200, description = "`{query: {content}, records: [{segment, score, ...}], cache: {hit, tier, kind, similarity?, age_ms?}}`", body = Object,
            headers(("x-ragd-cache" = String, description = "Where the answer came from: `l1-exact`, `l1-semantic`, `l2`, `miss`, `refresh`, `bypass` or `off`"))),
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
    headers: HeaderMap,
    ApiJson(body): ApiJson<RetrieveBody>,
) -> ApiResult<Response> {
    let dataset = state.dataset_for_search(&caller, &dataset_id).await?;
    let query = body.query.unwrap_or_default();
    if query.trim().is_empty() && body.attachment_ids.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::invalid_param(
            "Retrieval by attachment_ids (image queries) is not supported; send a text query.",
        )
        .with_params("attachment_ids"));
    }
    validate_query(&query).map_err(|e| ApiError::from(e).with_params("query"))?;
    let settings = settings_for(&dataset, body.retrieval_model.as_ref())?;
    let mode = cache_mode(&headers, body.cache);
    let mut datasets = vec![dataset];
    for other in body.dataset_ids {
        if !datasets.iter().any(|d| d.id == other) {
            datasets.push(state.dataset_for_search(&caller, &other).await?);
        }
    }
    let answer = run(
        &state,
        &datasets,
        query.clone(),
        settings,
        body.explain,
        mode,
    )
    .await?;
    // The records' JSON is made once per cached entry; a hit only writes the query and `cache` around
    // it, and sends the records' bytes as they are (shared, not copied).
    let records = answer.entry.rendered.get_or_init(|| {
        Bytes::from(
            Value::Array(answer.entry.records.iter().map(views::record).collect()).to_string(),
        )
    });
    let head = format!(
        r#"{{"query":{{"content":{}}},"records":"#,
        Value::from(query)
    );
    let tail = format!(r#","cache":{}}}"#, answer.outcome.to_json());
    let body = Chunks(VecDeque::from([
        Bytes::from(head),
        records.clone(),
        Bytes::from(tail),
    ]));
    let response = (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::new(body),
    )
        .into_response();
    Ok(with_cache_header(response, &answer))
}

/// A response body of a few buffers sent one after another, with its exact length (so the answer has a
/// `Content-Length`, not chunked encoding).
struct Chunks(VecDeque<Bytes>);

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|chunk| chunk.len() as u64).sum())
    }
}
