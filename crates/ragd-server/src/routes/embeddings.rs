//! `POST /v1/embeddings`: the service's embedding model, OpenAI-compatible (`{"input": str | [str]}` →
//! `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}`).
//! Useful to clients that embed with the same model as the index, and the floor the load benchmark
//! compares retrieval against (query embedding alone, through the same HTTP stack).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::datasets::Json;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Most texts one request may embed.
const MAX_INPUTS: usize = 256;

/// One text, or a list of 1 to 256 texts.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Input {
    One(String),
    Many(Vec<String>),
}

/// Body of `POST /v1/embeddings` (OpenAI-compatible).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsBody {
    /// The text(s) to embed; none may be empty.
    input: Input,
    /// Accepted for compatibility and ignored: the service's model is used.
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/embeddings",
    operation_id = "embeddings",
    tag = "embeddings",
    summary = "Embed texts with the service's model",
    description = "OpenAI-compatible: `{\"input\": str | [str]}` → `{object: \"list\", data: [{object: \"embedding\", index, embedding}], model, usage: {prompt_tokens, total_tokens}}`. A single string is embedded as a query, a list as documents.",
    request_body(content = EmbeddingsBody, example = json!({"input": ["first text", "second text"]})),
    responses(
        (status = 200, description = "The embeddings", body = Object),
        (status = 400, description = "`bad_request` or `invalid_param` (input: 1 to 256 non-empty texts)", body = crate::openapi::ErrorBody),
        (status = 413, description = "`file_too_large`: the body is over the size limit", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn embeddings(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmbeddingsBody>,
) -> ApiResult<Json> {
    let (texts, single) = match body.input {
        Input::One(text) => (vec![text], true),
        Input::Many(texts) => (texts, false),
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(
            ApiError::invalid_param(format!("input must hold 1 to {MAX_INPUTS} texts"))
                .with_params("input"),
        );
    }
    if texts.iter().any(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid_param("input texts must not be empty").with_params("input"));
    }
    let value = state
        .blocking(move |s| {
            let embedder = s.retriever.embedder();
            let vectors = if single {
                vec![
                    embedder
                        .embed_query(&texts[0])
                        .map_err(ApiError::internal)?,
                ]
            } else {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder
                    .embed_documents(&refs)
                    .map_err(ApiError::internal)?
            };
            let tokens: usize = texts
                .iter()
                .map(|t| s.counter.count_tokens(t).unwrap_or(0))
                .sum();
            Ok(json!({
                "object": "list",
                "data": vectors.iter().enumerate().map(|(i, v)| json!({
                    "object": "embedding", "index": i, "embedding": v,
                })).collect::<Vec<_>>(),
                "model": embedder.model_id(),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }))
        })
        .await?;
    Ok(axum::Json(value))
}
