//! The router: Knowledge API under `/v1/datasets`, the External Knowledge API, and the operational
//! endpoints, with their layers.
//!
//! Layers, outermost first: request id (set and echoed as `x-request-id`), tracing span per request,
//! panic → Dify-shaped 500, metrics. The API routes (not the probes and `/metrics`, which must answer
//! under load) add: load shedding at `max_concurrent_requests` in flight (429), a per-request timeout
//! (504), and the body limit (413).

// `pub(crate)` so `crate::openapi` can list the handlers' `#[utoipa::path]` operations.
pub(crate) mod apps;
pub(crate) mod chat;
pub(crate) mod conversations;
pub(crate) mod datasets;
pub(crate) mod documents;
pub(crate) mod embeddings;
pub(crate) mod external;
pub(crate) mod metadata;
pub(crate) mod ops;
pub(crate) mod retrieve;
pub(crate) mod segments;

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Multipart framing on top of the file itself.
const MULTIPART_SLACK: u64 = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let timeout_secs = config.request_timeout_secs;
    let body_limit = usize::try_from(config.max_body_bytes + MULTIPART_SLACK).unwrap_or(usize::MAX);

    let knowledge = Router::new()
        .route("/datasets", post(datasets::create).get(datasets::list))
        .route(
            "/datasets/{dataset_id}",
            get(datasets::get).patch(datasets::update).delete(datasets::delete),
        )
        .route("/datasets/{dataset_id}/document/create-by-text", post(documents::create_by_text))
        .route("/datasets/{dataset_id}/document/create_by_text", post(documents::create_by_text))
        .route("/datasets/{dataset_id}/document/create-by-file", post(documents::create_by_file))
        .route("/datasets/{dataset_id}/document/create_by_file", post(documents::create_by_file))
        .route("/datasets/{dataset_id}/documents", get(documents::list))
        .route(
            "/datasets/{dataset_id}/documents/metadata",
            post(metadata::set_document_metadata),
        )
        .route(
            "/datasets/{dataset_id}/documents/status/{action}",
            patch(documents::set_status),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}",
            get(documents::get).delete(documents::delete).patch(documents::update_by_file),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/update-by-text",
            post(documents::update_by_text),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/update_by_text",
            post(documents::update_by_text),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/update-by-file",
            post(documents::update_by_file),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/update_by_file",
            post(documents::update_by_file),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/indexing-status",
            get(documents::indexing_status),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/segments",
            post(segments::create).get(segments::list),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            get(segments::get).post(segments::update).delete(segments::delete),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
            post(segments::create_child).get(segments::list_children),
        )
        .route(
            "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
            patch(segments::update_child).delete(segments::delete_child),
        )
        .route(
            "/datasets/{dataset_id}/metadata",
            post(metadata::create).get(metadata::list),
        )
        .route("/datasets/{dataset_id}/metadata/built-in", get(metadata::built_in))
        .route(
            "/datasets/{dataset_id}/metadata/built-in/{action}",
            post(metadata::toggle_built_in),
        )
        .route(
            "/datasets/{dataset_id}/metadata/{metadata_id}",
            patch(metadata::rename).delete(metadata::delete),
        )
        .route("/datasets/{dataset_id}/retrieve", post(retrieve::retrieve))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/apps", post(apps::create).get(apps::list))
        .route("/apps/{app_id}", delete(apps::delete))
        .route("/apps/{app_id}/keys", post(apps::create_key))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_dataset_key,
        ));

    let app_api = Router::new()
        .route("/chat-messages", post(chat::chat_messages))
        .route("/chat-messages/{task_id}/stop", post(chat::stop))
        .route("/workflows/run", post(chat::run_workflow))
        .route("/workflows/{id}/run", post(chat::run_workflow))
        .route(
            "/workflows/run/{workflow_run_id}",
            get(conversations::get_run),
        )
        .route("/workflows/tasks/{task_id}/stop", post(chat::stop))
        .route("/workflows/{id}/stop", post(chat::stop))
        .route("/conversations", get(conversations::list_conversations))
        .route(
            "/conversations/{conversation_id}",
            delete(conversations::delete_conversation),
        )
        .route(
            "/conversations/{conversation_id}/name",
            post(conversations::rename_conversation),
        )
        .route("/messages", get(conversations::list_messages))
        .route(
            "/messages/{message_id}/feedbacks",
            post(conversations::feedback),
        )
        .route(
            "/messages/{message_id}/suggested",
            get(conversations::suggested),
        )
        .route("/parameters", get(conversations::parameters))
        .route("/info", get(conversations::info))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_app_key,
        ));

    let mut external_routes = Router::new().route("/retrieval", post(external::retrieval));
    let prefix = config.external_knowledge_prefix.trim_end_matches('/');
    if !prefix.is_empty() {
        external_routes =
            external_routes.route(&format!("{prefix}/retrieval"), post(external::retrieval));
    }

    let limits = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(
            move |e: tower::BoxError| async move {
                if e.is::<tower::timeout::error::Elapsed>() {
                    ApiError::timeout(timeout_secs)
                } else {
                    ApiError::internal(e)
                }
            },
        ))
        .timeout(timeout);

    let api = Router::new()
        .nest("/v1", knowledge.merge(app_api))
        .merge(external_routes)
        .layer(limits)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shed_load,
        ))
        .layer(DefaultBodyLimit::max(body_limit));

    Router::new()
        .merge(api)
        .merge(ops::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Load shedding: one semaphore for the whole API (a per-route tower limit would give every route its
/// own budget). A request that finds no permit is answered 429 at once rather than queued.
async fn shed_load(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            metrics::counter!("ragd_http_shed_total").increment(1);
            ApiError::too_many_requests().into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("The requested URL was not found on the server.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "The method is not allowed for the requested URL.",
    )
}
