//! Admin API for apps (a ragd extension; Dify manages apps in its console): create an app from a DSL
//! file, list and delete apps, and issue more app keys. Authorized with a dataset key that is not scoped
//! to some datasets (an admin key).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ragd_core::app::App;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::state::AppState;

fn admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_scoped() {
        return Err(ApiError::forbidden(
            "This key is limited to some datasets; managing apps needs an unscoped key.",
        ));
    }
    Ok(())
}

fn app_view(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "description": app.description,
        "mode": app.mode,
        "workflow_id": app.workflow_id,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    })
}

/// JSON body of `POST /v1/apps` (a raw YAML body with a YAML content type works too).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateAppBody {
    /// The flow: Dify's exported DSL, as YAML text.
    yaml: String,
    /// The app's name (default: the DSL's `app.name`).
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/apps",
    operation_id = "create_app",
    tag = "apps-admin",
    summary = "Create an app from a Dify DSL file",
    description = "The DSL is validated (node types, edges, references, that its datasets exist). Answers the app and its first `app-…` key, shown once. Send JSON `{yaml, name?}` or the YAML itself with `Content-Type: application/yaml`.",
    request_body(content = CreateAppBody),
    responses(
        (status = 201, description = "`{id, name, mode, workflow_id, api_key, …}`", body = Object),
        (status = 400, description = "`invalid_param`: the DSL does not load, names an unsupported node type, or a dataset that does not exist", body = crate::openapi::ErrorBody),
        (status = 403, description = "`forbidden`: a scoped key", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    admin(&caller)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (yaml, name) = if content_type.contains("yaml") || content_type.starts_with("text/plain") {
        let yaml = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::invalid_param("The DSL is not UTF-8 text."))?;
        (yaml, None)
    } else {
        let body: CreateAppBody = parse_json(&body)?;
        (body.yaml, body.name)
    };
    let created = state
        .blocking(move |s| crate::apps::create_app(s.store.as_ref(), &yaml, name.as_deref()))
        .await?;
    let mut view = app_view(&created.app);
    view["api_key"] = json!(created.token);
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/apps",
    operation_id = "list_apps",
    tag = "apps-admin",
    summary = "List apps",
    responses(
        (status = 200, description = "`{data: [app]}`", body = Object),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<axum::Json<Value>> {
    admin(&caller)?;
    let apps = state.blocking(|s| Ok(s.store.list_apps()?)).await?;
    Ok(axum::Json(
        json!({"data": apps.iter().map(app_view).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/apps/{app_id}",
    operation_id = "delete_app",
    tag = "apps-admin",
    summary = "Delete an app with its keys, conversations and messages",
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such app", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app_id): Path<String>,
) -> ApiResult<Response> {
    admin(&caller)?;
    let id = app_id.clone();
    let deleted = state
        .blocking(move |s| Ok(s.store.delete_app(&id)?))
        .await?;
    if !deleted {
        return Err(ApiError::not_found("App not found."));
    }
    state.apps.forget(&app_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/v1/apps/{app_id}/keys",
    operation_id = "create_app_key",
    tag = "apps-admin",
    summary = "Issue another key for an app",
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 201, description = "`{id, prefix, api_key}`", body = Object),
        (status = 404, description = "`not_found`: no such app", body = crate::openapi::ErrorBody),
        crate::openapi::KnowledgeErrors,
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(app_id): Path<String>,
) -> ApiResult<Response> {
    admin(&caller)?;
    let (key, token) = state
        .blocking(move |s| {
            let app = s
                .store
                .get_app(&app_id)?
                .ok_or_else(|| ApiError::not_found("App not found."))?;
            crate::auth::create_app_key(s.store.as_ref(), &format!("{} key", app.name), &app.id)
                .map_err(ApiError::internal)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": key.id, "prefix": key.prefix, "api_key": token})),
    )
        .into_response())
}
