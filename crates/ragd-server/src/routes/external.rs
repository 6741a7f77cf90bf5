//! Dify's External Knowledge API (§2): `POST /retrieval` (and `{prefix}/retrieval`), so a Dify
//! installation can use ragd as an external knowledge base.
//!
//! `knowledge_id` is a dataset id or name; the Bearer key is a ragd dataset key (checked when auth is
//! on). Errors use the API's own body `{"error_code", "error_msg"}`: 1001 malformed Authorization header
//! and 1002 unknown key (HTTP 403), 2001 unknown knowledge base (404); other request errors keep their
//! HTTP status with the status as the code.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ragd_core::retrieval::{MetadataFilter, RetrievalModel, SearchMethod};
use serde::Deserialize;
use serde_json::json;

use super::retrieve::{run, settings_for};
use crate::auth::{Caller, bearer_token, lookup_dataset_key};
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::state::AppState;
use crate::views;

/// Dify's `retrieval_setting`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RetrievalSetting {
    /// How many records to answer at most.
    #[schema(example = 5)]
    top_k: i64,
    /// Minimum score; `0` turns the threshold off.
    #[schema(example = 0.5)]
    score_threshold: f64,
}

/// Body of `POST /retrieval` (Dify's External Knowledge API).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ExternalRequest {
    /// A dataset id or name.
    #[schema(example = "Handbook")]
    knowledge_id: String,
    #[schema(example = "How do I reset my password?")]
    query: String,
    retrieval_setting: RetrievalSetting,
    /// Dify's metadata filter: `{"logical_operator": "and" | "or", "conditions": [{"name",
    /// "comparison_operator", "value"}]}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata_condition: Option<MetadataFilter>,
}

/// An error in the External Knowledge API's shape.
struct ExternalError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl IntoResponse for ExternalError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error_code": self.code, "error_msg": self.message})),
        )
            .into_response()
    }
}

impl From<ApiError> for ExternalError {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status,
            code: u32::from(e.status.as_u16()),
            message: e.message,
        }
    }
}

fn not_found() -> ExternalError {
    ExternalError {
        status: StatusCode::NOT_FOUND,
        code: 2001,
        message: "The knowledge does not exist".into(),
    }
}

async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Caller, ExternalError> {
    if !state.config.auth {
        return Ok(Caller { key: None });
    }
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = bearer_token(header).map_err(|_| ExternalError {
        status: StatusCode::FORBIDDEN,
        code: 1001,
        message: "Invalid Authorization header format. Expected 'Bearer <api-key>' format.".into(),
    })?;
    match lookup_dataset_key(state, token).await? {
        Some(key) => Ok(Caller { key: Some(key) }),
        None => Err(ExternalError {
            status: StatusCode::FORBIDDEN,
            code: 1002,
            message: "Authorization failed".into(),
        }),
    }
}

#[utoipa::path(
    post,
    path = "/retrieval",
    operation_id = "external_retrieval",
    tag = "external",
    summary = "Dify External Knowledge API retrieval",
    description = "Lets a Dify installation use ragd as an external knowledge base. Searches with the dataset's own retrieval model (hybrid search when it has none) and Dify's `top_k` and threshold. Also served at `{prefix}/retrieval` (`server.external_knowledge_prefix`, default `/external`, so `/external/retrieval`). Errors use this API's body `{error_code, error_msg}`: 1001 malformed Authorization header and 1002 unknown key (403), 2001 unknown knowledge base (404); other request errors keep their HTTP status as the code.",
    request_body(content = ExternalRequest, example = json!({
        "knowledge_id": "Handbook",
        "query": "How do I reset my password?",
        "retrieval_setting": {"top_k": 5, "score_threshold": 0.5}
    })),
    responses(
        (status = 200, description = "`{records: [{content, score, title, metadata}]}`", body = Object),
        (status = 400, description = "Malformed body or invalid query (`error_code` 400)", body = crate::openapi::ExternalErrorBody),
        (status = 403, description = "`error_code` 1001 (malformed Authorization header) or 1002 (unknown key)", body = crate::openapi::ExternalErrorBody),
        (status = 404, description = "`error_code` 2001: no such knowledge base (or not one the key may use, or API access disabled)", body = crate::openapi::ExternalErrorBody),
        (status = 413, description = "The body is over the size limit"),
        crate::openapi::LimitErrors,
    )
)]
pub async fn retrieval(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match answer(&state, &headers, &body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ExternalError> {
    let caller = authorize(state, headers).await?;
    let request: ExternalRequest = parse_json(body)?;
    ragd_core::retrieval::validate_query(&request.query).map_err(ApiError::from)?;
    let knowledge_id = request.knowledge_id.clone();
    let dataset = state
        .blocking(move |s| {
            let by_name = s.store.dataset_by_name(&knowledge_id)?;
            let found = match by_name {
                Some(d) => Some(d),
                None if uuid::Uuid::try_parse(&knowledge_id).is_ok() => {
                    s.store.dataset(&knowledge_id)?
                }
                None => None,
            };
            Ok(found)
        })
        .await?
        .filter(|d| caller.may_use(&d.id) && d.enable_api)
        .ok_or_else(not_found)?;
    // The dataset's own retrieval model (its search method, weights, fusion), with Dify's top_k and
    // threshold; a dataset with none uses hybrid search, ragd's best method on its evaluation.
    let mut model: RetrievalModel = views::stored_retrieval_model(&dataset)
        .unwrap_or_else(|| RetrievalModel::for_method(SearchMethod::HybridSearch));
    model.top_k = request.retrieval_setting.top_k;
    model.score_threshold_enabled = request.retrieval_setting.score_threshold > 0.0;
    model.score_threshold = Some(request.retrieval_setting.score_threshold);
    if request.metadata_condition.is_some() {
        model.metadata_filtering_conditions = request.metadata_condition;
    }
    let settings = settings_for(&dataset, Some(&model))?;
    let mode = crate::routes::retrieve::cache_mode(headers, None);
    let answer = run(
        state,
        std::slice::from_ref(&dataset),
        request.query,
        settings,
        false,
        mode,
    )
    .await?;
    let response = axum::Json(json!({
        "records": answer.entry.records.iter().map(views::external_record).collect::<Vec<_>>()
    }))
    .into_response();
    Ok(crate::routes::retrieve::with_cache_header(
        response, &answer,
    ))
}
