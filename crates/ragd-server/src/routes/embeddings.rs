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

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct EmbeddingsBody {
    input: Input,
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<String>,
}

pub async fn embeddings(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmbeddingsBody>,
) -> ApiResult<Json> {
    let (texts, single) = match body.input {
        Input::One(text) => (vec![text], true),
        Input::Many(texts) => (texts, false),
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(ApiError::invalid_param(format!(
            "input must hold 1 to {MAX_INPUTS} texts"
        ))
        .with_params("input"));
    }
    if texts.iter().any(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid_param("input texts must not be empty").with_params("input"));
    }
    let value = state
        .blocking(move |s| {
            let embedder = s.retriever.embedder();
            let vectors = if single {
                vec![embedder.embed_query(&texts[0]).map_err(ApiError::internal)?]
            } else {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder.embed_documents(&refs).map_err(ApiError::internal)?
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
