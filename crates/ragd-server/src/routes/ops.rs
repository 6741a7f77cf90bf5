//! Operational endpoints, outside auth and load shedding: `/health` (the process answers), `/ready`
//! (store open, model loaded, indexes recovered), `/metrics` (Prometheus text), `/cache/stats` (the
//! cache's figures as JSON) and the `/cache` page that plots them, `/openapi.json` and the `/docs` page
//! that renders it.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/cache/stats", get(cache_stats))
        .route("/cache", get(cache_page))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
}

#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "ops",
    summary = "Liveness: the process answers",
    description = "Outside auth and load shedding. Always 200 while the process serves.",
    responses(
        (status = 200, description = "The process is up", body = Object,
            example = json!({"status": "ok", "version": "0.1.0"})),
    )
)]
async fn health() -> Response {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "ready",
    tag = "ops",
    summary = "Readiness: store open, model loaded, indexes recovered",
    description = "Outside auth and load shedding. 503 while starting (`{\"status\": \"starting\"}`) or when the store does not answer a read (`{\"status\": \"unavailable\", \"store\": \"error\"}`).",
    responses(
        (status = 200, description = "Ready to serve", body = Object,
            example = json!({"status": "ready", "store": "ok", "model": "all-MiniLM-L6-v2-int8", "indexing_queue": 0})),
        (status = 503, description = "Starting, or the store is unavailable", body = Object,
            example = json!({"status": "starting"})),
    )
)]
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

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "ops",
    summary = "Prometheus metrics",
    description = "Prometheus text exposition format (HTTP requests, retrieval timings, indexing queue). Outside auth and load shedding.",
    responses(
        (status = 200, description = "Metrics in Prometheus text format", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
    )
)]
async fn metrics(State(state): State<AppState>) -> Response {
    state.cache.publish_sizes();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::handle().render(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "ops",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "The OpenAPI document, generated from the request types and handlers", body = Object),
    )
)]
async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "docs",
    tag = "ops",
    summary = "API reference page",
    description = "An HTML page that renders `/openapi.json`.",
    responses(
        (status = 200, description = "The HTML page", body = String, content_type = "text/html; charset=utf-8"),
    )
)]
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

/// Query of `/cache/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatsQuery {
    /// Seconds of per-second series to include (default 300, at most 600).
    #[serde(default = "default_series_secs")]
    secs: u64,
}

fn default_series_secs() -> u64 {
    300
}

#[utoipa::path(
    get,
    path = "/cache/stats",
    operation_id = "cache_stats",
    tag = "ops",
    summary = "Cache statistics",
    description = "The two-tier cache's figures: hits per tier and kind (L1 exact, L1 semantic, L2), misses and bypasses, in total and per dataset, hit ratios, L1 sizes, L2 state (configured, up, errors, outages, dropped writes), the dataset versions this replica knows, and per-second series (counts, hit ratio, lookup latency p50/p99 of hits and of computed answers) of the last `secs` seconds. Outside auth and load shedding, like `/metrics`.",
    params(StatsQuery),
    responses(
        (status = 200, description = "The figures", body = Object, example = json!({
            "l1_enabled": true, "l2_configured": true, "l2_up": true, "semantic_threshold": 0.95,
            "totals": {"l1_exact": 10, "l1_semantic": 2, "l2": 1, "misses": 3, "bypassed": 0},
            "hit_ratio": 0.8125, "datasets": {}, "l1": {"entries": 4, "bytes": 20480},
            "l2_errors": 0, "l2_outages": 0, "l2_writes_dropped": 0, "versions": {}, "series": []
        })),
    )
)]
async fn cache_stats(State(state): State<AppState>, Query(query): Query<StatsQuery>) -> Response {
    let cache = state.cache.clone();
    let secs = query.secs.clamp(1, 600);
    // Sizing L1 walks moka's pending work: off the reactor.
    match tokio::task::spawn_blocking(move || {
        cache.sync();
        cache.snapshot(secs)
    })
    .await
    {
        Ok(snapshot) => axum::Json(snapshot).into_response(),
        Err(e) => crate::error::ApiError::internal(format!("cache stats: {e}")).into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/cache",
    operation_id = "cache_page",
    tag = "ops",
    summary = "Cache monitoring page",
    description = "An HTML page that polls `/cache/stats` and plots the hit ratio and the lookup latency of the last minutes.",
    responses(
        (status = 200, description = "The HTML page", body = String, content_type = "text/html; charset=utf-8"),
    )
)]
async fn cache_page() -> Html<&'static str> {
    Html(include_str!("cache.html"))
}
