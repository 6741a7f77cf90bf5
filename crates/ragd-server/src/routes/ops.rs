//! Operational endpoints, outside auth and load shedding: `/health` (the process answers), `/ready`
//! (store open, model loaded, indexes recovered), `/metrics` (Prometheus text), `/openapi.json` and the
//! `/docs` page that renders it.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    if !state.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "starting"})),
        )
            .into_response();
    }
    // The store must answer a read now; the model and indexes were loaded before `ready` was set.
    let store = state.store.clone();
    let store_ok = tokio::task::spawn_blocking(move || store.queued_jobs())
        .await
        .ok()
        .and_then(Result::ok);
    match store_ok {
        Some(queued) => axum::Json(json!({
            "status": "ready",
            "store": "ok",
            "model": state.retriever.embedder().model_id(),
            "indexing_queue": queued,
        }))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unavailable", "store": "error"})),
        )
            .into_response(),
    }
}

async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::handle().render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
