//! The App API around a chat (§3.4): conversations (list, rename, delete), message history with cursor
//! paging, feedback, suggested questions, `/v1/parameters`, `/v1/info`, and the run record of
//! `GET /v1/workflows/run/{workflow_run_id}` (read from the run log).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ragd_core::app::{App, Conversation, ConversationSort, Message};
use serde::Deserialize;
use serde_json::{Value, json};

use super::chat::{workflow_finished_data, wrong_mode};
use crate::auth::AppCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, lenient};
use crate::state::AppState;

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

fn chat_app(app: &App) -> ApiResult<()> {
    if app.mode != "advanced-chat" {
        return Err(wrong_mode("not_chat_app"));
    }
    Ok(())
}

fn required_user(user: Option<String>) -> ApiResult<String> {
    user.filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_param("user is required.").with_params("user"))
}

fn limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::invalid_param(format!(
            "limit must be between 1 and {MAX_LIMIT}."
        ))
        .with_params("limit")),
    }
}

fn conversation_not_found() -> ApiError {
    ApiError::not_found("Conversation Not Exists.")
}

fn conversation_view(c: &Conversation) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "inputs": c.inputs,
        "status": "normal",
        "introduction": "",
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

fn message_view(m: &Message) -> Value {
    json!({
        "id": m.id,
        "conversation_id": m.conversation_id,
        "parent_message_id": m.parent_message_id,
        "inputs": m.inputs,
        "query": m.query,
        "answer": m.answer,
        "status": m.status,
        "error": m.error,
        "message_files": [],
        "feedback": m.feedback.as_ref().map(|rating| json!({"rating": rating})),
        "retriever_resources": m.retriever_resources,
        "agent_thoughts": [],
        "created_at": m.created_at,
        "message_tokens": m.message_tokens,
        "answer_tokens": m.answer_tokens,
        "total_tokens": m.total_tokens,
        "provider_response_latency": m.provider_response_latency,
        "total_price": "0",
        "currency": "USD",
        "workflow_run_id": m.workflow_run_id,
    })
}

/// Query of `GET /v1/conversations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationsQuery {
    /// The end user whose conversations to list.
    #[serde(default)]
    user: Option<String>,
    /// The last conversation of the previous page.
    #[serde(default)]
    last_id: Option<String>,
    /// Page size (default 20, at most 100).
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    limit: Option<u32>,
    /// `-updated_at` (default), `updated_at`, `created_at` or `-created_at`.
    #[serde(default)]
    sort_by: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/conversations",
    operation_id = "list_conversations",
    tag = "apps",
    summary = "List a user's conversations",
    params(ConversationsQuery),
    responses(
        (status = 200, description = "`{limit, has_more, data: [{id, name, inputs, status, introduction, created_at, updated_at}]}`", body = Object),
        (status = 400, description = "`invalid_param` (user, limit, sort_by), `not_chat_app`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: unknown `last_id`", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn list_conversations(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    ApiQuery(query): ApiQuery<ConversationsQuery>,
) -> ApiResult<axum::Json<Value>> {
    chat_app(&caller.app)?;
    let user = required_user(query.user)?;
    let limit = limit(query.limit)?;
    let sort = match query.sort_by.as_deref() {
        None | Some("") => ConversationSort::default(),
        Some(s) => ConversationSort::parse(s).ok_or_else(|| {
            ApiError::invalid_param(
                "sort_by must be one of created_at, -created_at, updated_at, -updated_at.",
            )
            .with_params("sort_by")
        })?,
    };
    let last_id = query.last_id.filter(|l| !l.is_empty());
    let app_id = caller.app.id;
    let (page, has_more) = state
        .blocking(move |s| {
            Ok(s.store
                .list_conversations(&app_id, &user, last_id.as_deref(), limit, sort)?)
        })
        .await?;
    Ok(axum::Json(json!({
        "limit": limit,
        "has_more": has_more,
        "data": page.iter().map(conversation_view).collect::<Vec<_>>(),
    })))
}

/// Body of `POST /v1/conversations/{id}/name`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RenameBody {
    /// The new name (required unless `auto_generate`).
    #[serde(default)]
    name: Option<String>,
    /// Name the conversation after its first message instead.
    #[serde(default)]
    auto_generate: bool,
    /// The conversation's user.
    #[serde(default)]
    user: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/name",
    operation_id = "rename_conversation",
    tag = "apps",
    summary = "Rename a conversation",
    params(("conversation_id" = String, Path, description = "Conversation id")),
    request_body(content = RenameBody, example = json!({"name": "Password help", "user": "user-1"})),
    responses(
        (status = 200, description = "The conversation", body = Object),
        (status = 400, description = "`invalid_param` (name, user), `not_chat_app`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such conversation of this user", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn rename_conversation(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    Path(conversation_id): Path<String>,
    ApiJson(body): ApiJson<RenameBody>,
) -> ApiResult<axum::Json<Value>> {
    chat_app(&caller.app)?;
    let user = required_user(body.user)?;
    let app_id = caller.app.id;
    let name = body.name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if !body.auto_generate && name.is_empty() {
        return Err(ApiError::invalid_param("name is required.").with_params("name"));
    }
    let conversation = state
        .blocking(move |s| {
            if s.store
                .get_conversation(&app_id, &user, &conversation_id)?
                .is_none()
            {
                return Err(conversation_not_found());
            }
            let name = if body.auto_generate {
                let (first, _) = s.store.list_messages(&conversation_id, None, u32::MAX)?;
                first
                    .first()
                    .map(|m| m.query.chars().take(40).collect::<String>())
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| "New conversation".to_owned())
            } else {
                name
            };
            Ok(s.store
                .rename_conversation(&app_id, &user, &conversation_id, &name)?)
        })
        .await?;
    Ok(axum::Json(conversation_view(&conversation)))
}

/// Body of `DELETE /v1/conversations/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UserBody {
    /// The conversation's user.
    #[serde(default)]
    user: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}",
    operation_id = "delete_conversation",
    tag = "apps",
    summary = "Delete a conversation and its messages",
    params(("conversation_id" = String, Path, description = "Conversation id")),
    request_body(content = UserBody, example = json!({"user": "user-1"})),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_param` (user), `not_chat_app`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such conversation of this user", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn delete_conversation(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    Path(conversation_id): Path<String>,
    ApiJson(body): ApiJson<UserBody>,
) -> ApiResult<Response> {
    chat_app(&caller.app)?;
    let user = required_user(body.user)?;
    let app_id = caller.app.id;
    let deleted = state
        .blocking(move |s| {
            Ok(s.store
                .delete_conversation(&app_id, &user, &conversation_id)?)
        })
        .await?;
    if !deleted {
        return Err(conversation_not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// The conversation.
    #[serde(default)]
    conversation_id: Option<String>,
    /// The conversation's user.
    #[serde(default)]
    user: Option<String>,
    /// The oldest message of the previous page: this page holds the messages before it.
    #[serde(default)]
    first_id: Option<String>,
    /// Page size (default 20, at most 100).
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/messages",
    operation_id = "list_messages",
    tag = "apps",
    summary = "A conversation's messages, newest page first, oldest first within a page",
    params(MessagesQuery),
    responses(
        (status = 200, description = "`{limit, has_more, data: [message]}`", body = Object),
        (status = 400, description = "`invalid_param` (conversation_id, user, limit), `not_chat_app`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: unknown conversation or `first_id`", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn list_messages(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> ApiResult<axum::Json<Value>> {
    chat_app(&caller.app)?;
    let user = required_user(query.user)?;
    let conversation_id = query
        .conversation_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_param("conversation_id is required.").with_params("conversation_id")
        })?;
    let limit = limit(query.limit)?;
    let first_id = query.first_id.filter(|f| !f.is_empty());
    let app_id = caller.app.id;
    let (page, has_more) = state
        .blocking(move |s| {
            if s.store
                .get_conversation(&app_id, &user, &conversation_id)?
                .is_none()
            {
                return Err(conversation_not_found());
            }
            s.store
                .list_messages(&conversation_id, first_id.as_deref(), limit)
                .map_err(|e| match e {
                    ragd_store::StoreError::NotFound { .. } => {
                        ApiError::not_found("First Message Not Exists.")
                    }
                    other => other.into(),
                })
        })
        .await?;
    Ok(axum::Json(json!({
        "limit": limit,
        "has_more": has_more,
        "data": page.iter().map(message_view).collect::<Vec<_>>(),
    })))
}

/// Body of `POST /v1/messages/{id}/feedbacks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FeedbackBody {
    /// `like`, `dislike`, or null to clear.
    #[serde(default)]
    rating: Option<String>,
    /// The message's user.
    #[serde(default)]
    user: Option<String>,
    /// Free text.
    #[serde(default)]
    content: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/messages/{message_id}/feedbacks",
    operation_id = "message_feedback",
    tag = "apps",
    summary = "Rate a message",
    params(("message_id" = String, Path, description = "Message id")),
    request_body(content = FeedbackBody, example = json!({"rating": "like", "user": "user-1", "content": null})),
    responses(
        (status = 200, description = "`{\"result\": \"success\"}`", body = Object),
        (status = 400, description = "`invalid_param` (rating, user)", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such message", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn feedback(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    Path(message_id): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> ApiResult<axum::Json<Value>> {
    let user = required_user(body.user)?;
    if let Some(rating) = body.rating.as_deref()
        && !matches!(rating, "like" | "dislike")
    {
        return Err(
            ApiError::invalid_param("rating must be like, dislike or null.").with_params("rating"),
        );
    }
    let app_id = caller.app.id;
    let found = state
        .blocking(move |s| {
            match s.store.get_message(&app_id, &message_id)? {
                Some(m) if m.user == user => {}
                _ => return Ok(false),
            }
            Ok(s.store.set_feedback(
                &app_id,
                &message_id,
                body.rating.as_deref(),
                body.content.as_deref(),
            )?)
        })
        .await?;
    if !found {
        return Err(ApiError::not_found("Message Not Exists."));
    }
    Ok(axum::Json(json!({"result": "success"})))
}

/// Query carrying only the end user.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The end user.
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/messages/{message_id}/suggested",
    operation_id = "suggested_questions",
    tag = "apps",
    summary = "Suggested next questions",
    description = "ragd generates no suggestions: with `suggested_questions_after_answer` disabled in the flow's features (the default) this is Dify's 400; enabled, the list is empty.",
    params(("message_id" = String, Path, description = "Message id"), UserQuery),
    responses(
        (status = 200, description = "`{result, data: [str]}`", body = Object),
        (status = 400, description = "`bad_request`: suggestions are disabled", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such message", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn suggested(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    Path(message_id): Path<String>,
    ApiQuery(_query): ApiQuery<UserQuery>,
) -> ApiResult<axum::Json<Value>> {
    chat_app(&caller.app)?;
    let flow = state.apps.flow(&caller.app)?;
    let app_id = caller.app.id.clone();
    let exists = state
        .blocking(move |s| Ok(s.store.get_message(&app_id, &message_id)?.is_some()))
        .await?;
    if !exists {
        return Err(ApiError::not_found("Message Not Exists."));
    }
    let enabled = flow.features()["suggested_questions_after_answer"]["enabled"]
        .as_bool()
        .unwrap_or(false);
    if !enabled {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Suggested Questions Is Disabled.",
        ));
    }
    Ok(axum::Json(json!({"result": "success", "data": []})))
}

fn feature(features: &Value, name: &str) -> Value {
    match features.get(name) {
        Some(Value::Object(o)) => {
            let mut o = o.clone();
            o.entry("enabled").or_insert(json!(false));
            Value::Object(o)
        }
        _ => json!({"enabled": false}),
    }
}

#[utoipa::path(
    get,
    path = "/v1/parameters",
    operation_id = "app_parameters",
    tag = "apps",
    summary = "The app's input form and features",
    responses((status = 200, description = "Dify's parameters object", body = Object), crate::openapi::AppErrors)
)]
pub async fn parameters(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
) -> ApiResult<axum::Json<Value>> {
    let flow = state.apps.flow(&caller.app)?;
    let features = flow.features();
    let form: Vec<Value> = flow
        .start_variables()
        .iter()
        .map(|v| {
            let kind = match v.kind.as_str() {
                "text-input" | "paragraph" | "select" | "number" | "file" | "file-list" => {
                    v.kind.as_str()
                }
                _ => "text-input",
            };
            json!({kind: {
                "label": v.label,
                "variable": v.variable,
                "required": v.required,
                "default": v.default.clone().unwrap_or(json!("")),
                "max_length": v.max_length,
                "options": v.options,
            }})
        })
        .collect();
    let mut retriever_resource = feature(features, "retriever_resource");
    if features.get("retriever_resource").is_none() {
        // ragd always returns retriever resources.
        retriever_resource = json!({"enabled": true});
    }
    Ok(axum::Json(json!({
        "opening_statement": features.get("opening_statement").cloned().unwrap_or(json!("")),
        "suggested_questions": features.get("suggested_questions").cloned().unwrap_or(json!([])),
        "suggested_questions_after_answer": feature(features, "suggested_questions_after_answer"),
        "speech_to_text": feature(features, "speech_to_text"),
        "text_to_speech": feature(features, "text_to_speech"),
        "retriever_resource": retriever_resource,
        "annotation_reply": feature(features, "annotation_reply"),
        "more_like_this": feature(features, "more_like_this"),
        "sensitive_word_avoidance": feature(features, "sensitive_word_avoidance"),
        "user_input_form": form,
        "file_upload": features.get("file_upload").cloned().unwrap_or(json!({"image": {"enabled": false}})),
        "system_parameters": {
            "file_size_limit": 15,
            "image_file_size_limit": 10,
            "audio_file_size_limit": 50,
            "video_file_size_limit": 100,
            "workflow_file_upload_limit": 10,
        },
    })))
}

#[utoipa::path(
    get,
    path = "/v1/info",
    operation_id = "app_info",
    tag = "apps",
    summary = "The app's name, description and mode",
    responses((status = 200, description = "`{name, description, tags, mode, author_name}`", body = Object), crate::openapi::AppErrors)
)]
pub async fn info(Extension(caller): Extension<AppCaller>) -> axum::Json<Value> {
    axum::Json(json!({
        "name": caller.app.name,
        "description": caller.app.description,
        "tags": [],
        "mode": caller.app.mode,
        "author_name": "",
    }))
}

#[utoipa::path(
    get,
    path = "/v1/workflows/run/{workflow_run_id}",
    operation_id = "get_workflow_run",
    tag = "apps",
    summary = "A run's record (from the run log)",
    description = "The run as `workflow_finished` reports it, plus `inputs` and ragd's `node_executions` (each node's status, elapsed time, tokens and time to first token). Runs reach the run log through an asynchronous writer, so a run is visible here a moment (`runlog.flush_interval_ms`) after it ends.",
    params(("workflow_run_id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run record", body = Object),
        (status = 404, description = "`not_found`: no such run of this app", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn get_run(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    Path(run_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let not_found = || ApiError::not_found("Workflow run not found.");
    let reader = state.apps.runlog_reader.clone().ok_or_else(not_found)?;
    let found = reader.get_run(&run_id).await.map_err(ApiError::internal)?;
    let (run, nodes) = found
        .filter(|(run, _)| run.app_id == caller.app.id)
        .ok_or_else(not_found)?;
    let mut view = workflow_finished_data(&run);
    view["inputs"] = run.inputs.clone();
    view["usage"] = super::chat::usage_json(&run.usage);
    view["node_executions"] = Value::Array(
        nodes
            .iter()
            .map(|n| {
                json!({
                    "id": n.id, "node_id": n.node_id, "node_type": n.node_type, "title": n.title,
                    "index": n.index, "status": n.status.as_str(), "error": n.error,
                    "elapsed_time": n.elapsed_time, "total_tokens": n.usage.total_tokens,
                    "time_to_first_token": n.usage.time_to_first_token,
                })
            })
            .collect(),
    );
    Ok(axum::Json(view))
}
