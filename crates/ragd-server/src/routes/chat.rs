//! `POST /v1/chat-messages` and `POST /v1/workflows/run` (§3.1–3.3): run the app's flow, streamed as
//! Dify's SSE events or answered at the end (blocking), and the stop endpoints.
//!
//! A run is driven by its own task, not by the request: the flow's events are translated into Dify's
//! events as they come (LLM tokens become `message` / `text_chunk` at once), the message is stored before
//! `message_end` (so the next turn's memory sees it), and run and node records go to the run log through
//! its non-blocking writer. A client that goes away does not stop the run; the stop endpoints do.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ragd_core::app::Message;
use ragd_core::run::{LlmUsage, NodeExecution, RunRecord, RunStatus};
use ragd_workflow::{Flow, KnowledgeHit, RunEvent, RunInput, Turn, WorkflowError};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::auth::AppCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, now};

/// Turns of history handed to a run; LLM nodes take their own window of it.
const MEMORY_TURNS: u32 = 50;

/// Body of `POST /v1/chat-messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChatBody {
    /// The user's message (`sys.query`).
    query: String,
    /// Values of the flow's start variables; a conversation keeps those of its first message.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    inputs: Option<Map<String, Value>>,
    /// The end user's id; conversations belong to one user.
    user: String,
    /// `streaming` (SSE) or `blocking` (the default).
    #[serde(default)]
    response_mode: Option<String>,
    /// Continue this conversation; empty or absent starts a new one.
    #[serde(default)]
    conversation_id: Option<String>,
    /// `sys.files`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    files: Option<Vec<Value>>,
    /// Name a new conversation after its first message (default true).
    #[serde(default)]
    auto_generate_name: Option<bool>,
    /// Accepted for compatibility; the app's current flow runs.
    #[serde(default)]
    #[allow(dead_code)]
    workflow_id: Option<String>,
}

/// Body of `POST /v1/workflows/run`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WorkflowRunBody {
    /// Values of the flow's start variables.
    #[serde(default)]
    #[schema(value_type = Object)]
    inputs: Map<String, Value>,
    /// The end user's id.
    user: String,
    /// `streaming` (SSE) or `blocking` (the default).
    #[serde(default)]
    response_mode: Option<String>,
    /// `sys.files`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    files: Option<Vec<Value>>,
}

/// Body of the stop endpoints.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StopBody {
    /// The user who started the task.
    user: String,
}

fn streaming(mode: Option<&str>) -> ApiResult<bool> {
    match mode {
        None | Some("blocking") | Some("") => Ok(false),
        Some("streaming") => Ok(true),
        Some(other) => Err(ApiError::invalid_param(format!(
            "response_mode `{other}` is not supported; use streaming or blocking."
        ))
        .with_params("response_mode")),
    }
}

fn require_user(user: &str) -> ApiResult<()> {
    if user.trim().is_empty() {
        return Err(ApiError::invalid_param("user is required.").with_params("user"));
    }
    Ok(())
}

fn input_error(e: WorkflowError) -> ApiError {
    match e {
        WorkflowError::Input { variable, message } => {
            ApiError::invalid_param(message).with_params(&variable)
        }
        other => ApiError::invalid_param(other.to_string()).with_params("inputs"),
    }
}

pub(crate) fn wrong_mode(code: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        code,
        "Please check if your app mode matches the right API route.",
    )
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Dify's `usage` object (prices are decimal strings; ragd runs no priced model, so they are zero),
/// with ragd's `time_to_first_token` (seconds) as an extension.
pub(crate) fn usage_json(usage: &LlmUsage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "prompt_unit_price": "0",
        "prompt_price_unit": "0",
        "prompt_price": "0",
        "completion_tokens": usage.completion_tokens,
        "completion_unit_price": "0",
        "completion_price_unit": "0",
        "completion_price": "0",
        "total_tokens": usage.total_tokens,
        "total_price": "0",
        "currency": "USD",
        "latency": usage.latency,
        "time_to_first_token": usage.time_to_first_token,
    })
}

/// Dify's `retriever_resources` for the chunks a run retrieved.
pub(crate) fn retriever_resources(hits: &[KnowledgeHit], message_id: &str) -> Value {
    Value::Array(
        hits.iter()
            .enumerate()
            .map(|(i, hit)| {
                json!({
                    "id": new_id(),
                    "message_id": message_id,
                    "position": i + 1,
                    "dataset_id": hit.dataset_id,
                    "dataset_name": hit.dataset_name,
                    "document_id": hit.document_id,
                    "document_name": hit.document_name,
                    "data_source_type": hit.data_source_type,
                    "segment_id": hit.segment_id,
                    "score": hit.score,
                    "hit_count": hit.hit_count,
                    "word_count": hit.word_count,
                    "segment_position": hit.segment_position,
                    "index_node_hash": hit.index_node_hash,
                    "content": hit.content,
                    "summary": null,
                    "created_at": hit.created_at,
                })
            })
            .collect(),
    )
}

fn node_started_data(node: &NodeExecution) -> Value {
    json!({
        "id": node.id,
        "node_id": node.node_id,
        "node_type": node.node_type,
        "title": node.title,
        "index": node.index,
        "predecessor_node_id": node.predecessor_node_id,
        "inputs": node.inputs,
        "created_at": node.created_at,
        "extras": {},
        "iteration_id": null,
        "loop_id": null,
    })
}

fn node_finished_data(node: &NodeExecution) -> Value {
    let mut data = node_started_data(node);
    let extra = json!({
        "process_data": node.process_data,
        "outputs": node.outputs,
        "status": node.status.as_str(),
        "error": node.error,
        "elapsed_time": node.elapsed_time,
        "execution_metadata": {
            "total_tokens": node.usage.total_tokens,
            "total_price": "0",
            "currency": "USD",
            "time_to_first_token": node.usage.time_to_first_token,
        },
        "finished_at": node.finished_at.unwrap_or(node.created_at),
        "files": [],
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    data
}

/// Dify's `workflow_finished.data` (also the blocking workflow answer's `data`).
pub(crate) fn workflow_finished_data(record: &RunRecord) -> Value {
    json!({
        "id": record.id,
        "workflow_id": record.workflow_id,
        "status": record.status.as_str(),
        "outputs": record.outputs,
        "error": record.error,
        "elapsed_time": record.elapsed_time,
        "total_tokens": record.usage.total_tokens,
        "total_steps": record.total_steps,
        "created_by": {},
        "created_at": record.created_at,
        "finished_at": record.finished_at.unwrap_or(record.created_at),
        "exceptions_count": 0,
        "files": [],
    })
}

/// Identifiers every event of one task carries.
#[derive(Debug, Clone)]
struct Ids {
    task_id: String,
    run_id: String,
    /// Chat only.
    chat: Option<ChatIds>,
}

#[derive(Debug, Clone)]
struct ChatIds {
    message_id: String,
    conversation_id: String,
    created_at: i64,
}

impl Ids {
    /// An event with the fields Dify puts on every event of this kind of task.
    fn event(&self, event: &str) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("event".into(), json!(event));
        map.insert("task_id".into(), json!(self.task_id));
        if let Some(chat) = &self.chat {
            map.insert("id".into(), json!(chat.message_id));
            map.insert("message_id".into(), json!(chat.message_id));
            map.insert("conversation_id".into(), json!(chat.conversation_id));
            map.insert("created_at".into(), json!(chat.created_at));
        }
        map
    }

    fn workflow_event(&self, event: &str, data: Value) -> Value {
        let mut map = self.event(event);
        map.insert("workflow_run_id".into(), json!(self.run_id));
        map.insert("data".into(), data);
        Value::Object(map)
    }

    /// The `error` event: a failed run is Dify's 400 `invalid_param` "Run failed: …"; a run that could not
    /// finish at all (a panic) is a 500.
    fn error_event(&self, status: u16, message: &str) -> Value {
        let mut map = self.event("error");
        map.insert("status".into(), json!(status));
        let code = if status == 500 {
            "internal_server_error"
        } else {
            "invalid_param"
        };
        map.insert("code".into(), json!(code));
        map.insert("message".into(), json!(message));
        Value::Object(map)
    }
}

/// Where a finished chat turn is stored.
struct ChatTurn {
    app_id: String,
    user: String,
    query: String,
    inputs: Value,
    parent_message_id: Option<String>,
}

/// The end of a run, for blocking answers.
struct Finished {
    record: RunRecord,
    answer: String,
    resources: Value,
}

/// Runs the flow in its own task; translated events go to `out`, the end to `done`.
fn drive(
    state: &AppState,
    flow: Arc<Flow>,
    input: RunInput,
    ids: Ids,
    turn: Option<ChatTurn>,
    out: mpsc::UnboundedSender<Value>,
    done: oneshot::Sender<Finished>,
) {
    let state = state.clone();
    tokio::spawn(async move {
        let guard = state
            .apps
            .start_task(&ids.task_id, &input.app_id, &input.user);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let runtime_state = state.clone();
        let cancel = guard.cancel.clone();
        let run = tokio::spawn(async move {
            runtime_state
                .apps
                .runtime
                .run(flow, input, events_tx, cancel)
                .await
        });
        let mut finished_record = None;
        while let Some(event) = events.recv().await {
            match event {
                RunEvent::WorkflowStarted {
                    run_id,
                    workflow_id,
                    inputs,
                    created_at,
                } => {
                    let _ = out.send(ids.workflow_event(
                        "workflow_started",
                        json!({
                            "id": run_id,
                            "workflow_id": workflow_id,
                            "sequence_number": 1,
                            "inputs": inputs,
                            "created_at": created_at,
                            "reason": "initial",
                        }),
                    ));
                }
                RunEvent::NodeStarted(node) => {
                    let _ = out.send(ids.workflow_event("node_started", node_started_data(&node)));
                }
                RunEvent::NodeFinished(node) => {
                    let _ =
                        out.send(ids.workflow_event("node_finished", node_finished_data(&node)));
                    state.apps.log(ragd_runlog::LogRecord::Node(node));
                }
                RunEvent::Answer { text, .. } => {
                    if ids.chat.is_some() && !text.is_empty() {
                        let mut map = ids.event("message");
                        map.insert("answer".into(), json!(text));
                        let _ = out.send(Value::Object(map));
                    }
                }
                RunEvent::TextChunk {
                    text,
                    from_variable_selector,
                } => {
                    if ids.chat.is_none() {
                        let _ = out.send(ids.workflow_event(
                            "text_chunk",
                            json!({"text": text, "from_variable_selector": from_variable_selector}),
                        ));
                    }
                }
                RunEvent::Retrieved(_) => {}
                RunEvent::WorkflowFinished(record) => finished_record = Some(record),
            }
        }
        let outcome = match run.await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "a workflow run panicked");
                let _ = out.send(ids.error_event(500, "The run failed unexpectedly."));
                return;
            }
        };
        drop(guard);
        let record = finished_record.unwrap_or_else(|| outcome.record.clone());
        crate::metrics::record_run(&record);
        state.apps.log(ragd_runlog::LogRecord::Run(record.clone()));
        let resources = match &ids.chat {
            Some(chat) => retriever_resources(&outcome.retriever_resources, &chat.message_id),
            None => json!([]),
        };
        if let (Some(chat), Some(turn)) = (&ids.chat, turn) {
            let message = Message {
                id: chat.message_id.clone(),
                conversation_id: chat.conversation_id.clone(),
                app_id: turn.app_id,
                user: turn.user,
                parent_message_id: turn.parent_message_id,
                inputs: turn.inputs,
                query: turn.query,
                answer: outcome.answer.clone(),
                status: match record.status {
                    RunStatus::Succeeded | RunStatus::PartialSucceeded | RunStatus::Running => {
                        "normal"
                    }
                    RunStatus::Stopped => "stopped",
                    RunStatus::Failed => "error",
                }
                .to_owned(),
                error: record.error.clone(),
                retriever_resources: resources.clone(),
                feedback: None,
                feedback_content: None,
                message_tokens: record.usage.prompt_tokens,
                answer_tokens: record.usage.completion_tokens,
                total_tokens: record.usage.total_tokens,
                provider_response_latency: record.usage.latency,
                workflow_run_id: Some(record.id.clone()),
                created_at: chat.created_at,
            };
            let variables = Value::Object(outcome.conversation_variables.clone());
            let saved = state
                .blocking(move |s| Ok(s.store.add_message(&message, Some(&variables))?))
                .await;
            if let Err(e) = saved {
                tracing::warn!(error = %e.message, "storing a chat message failed");
            }
            if record.status != RunStatus::Failed {
                let mut map = ids.event("message_end");
                map.insert(
                    "metadata".into(),
                    json!({"usage": usage_json(&record.usage), "retriever_resources": resources}),
                );
                map.insert("files".into(), json!([]));
                let _ = out.send(Value::Object(map));
            }
        }
        let _ = out.send(ids.workflow_event("workflow_finished", workflow_finished_data(&record)));
        if record.status == RunStatus::Failed {
            let _ = out.send(ids.error_event(400, &run_failed_message(&record)));
        }
        let _ = done.send(Finished {
            record,
            answer: outcome.answer,
            resources,
        });
    });
}

/// A run started by [`start`]: its SSE response, or the end to wait for.
enum Started {
    Streaming(Response),
    Blocking(oneshot::Receiver<Finished>),
}

/// Starts the run's task; streaming answers get the SSE response at once.
fn start(
    state: &AppState,
    flow: Arc<Flow>,
    input: RunInput,
    ids: Ids,
    turn: Option<ChatTurn>,
    stream: bool,
) -> Started {
    let (out, events) = mpsc::unbounded_channel();
    let (done_tx, done) = oneshot::channel();
    drive(state, flow, input, ids, turn, out, done_tx);
    if stream {
        Started::Streaming(sse(state, events))
    } else {
        // Blocking: the events are not wanted, only the end.
        drop(events);
        Started::Blocking(done)
    }
}

async fn wait(done: oneshot::Receiver<Finished>) -> ApiResult<Finished> {
    done.await
        .map_err(|_| ApiError::internal("the run ended without an answer"))
}

/// The SSE answer: every event as `data: {json}`, a `ping` event every `ping_secs` while quiet.
fn sse(state: &AppState, events: mpsc::UnboundedReceiver<Value>) -> Response {
    let stream = futures::stream::unfold(events, |mut events| async move {
        events.recv().await.map(|value| {
            (
                Ok::<_, Infallible>(Event::default().data(value.to_string())),
                events,
            )
        })
    });
    Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(state.apps.ping_secs))
                .event(Event::default().event("ping")),
        )
        .into_response()
}

#[utoipa::path(
    post,
    path = "/v1/chat-messages",
    operation_id = "chat_messages",
    tag = "apps",
    summary = "Send a chat message (advanced-chat apps)",
    description = "Runs the app's chatflow with the message. `response_mode: streaming` answers with Dify's SSE events (`workflow_started`, `node_started`, `node_finished`, `message` token deltas, `message_end` with usage and retriever resources, `workflow_finished`; `error` on failure; `ping` while quiet); `blocking` answers with the whole message. Authorize with the app's `app-…` key.",
    request_body(content = ChatBody, example = json!({
        "query": "How do I reset my password?", "inputs": {}, "user": "user-1", "response_mode": "streaming", "conversation_id": ""
    })),
    responses(
        (status = 200, description = "SSE stream or the blocking message", body = Object),
        (status = 400, description = "`invalid_param` (missing `user`, inputs; blocking: \"Run failed: …\" when the flow fails), `not_chat_app`", body = crate::openapi::ErrorBody),
        (status = 404, description = "`not_found`: unknown conversation", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn chat_messages(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Response> {
    let app = caller.app;
    if app.mode != "advanced-chat" {
        return Err(wrong_mode("not_chat_app"));
    }
    require_user(&body.user)?;
    let stream = streaming(body.response_mode.as_deref())?;
    let flow = state.apps.flow(&app)?;
    let user = body.user.clone();
    let existing = match body.conversation_id.as_deref().filter(|c| !c.is_empty()) {
        Some(id) => {
            let (app_id, user, id) = (app.id.clone(), user.clone(), id.to_owned());
            let found = if uuid::Uuid::try_parse(&id).is_ok() {
                state
                    .blocking(move |s| Ok(s.store.get_conversation(&app_id, &user, &id)?))
                    .await?
            } else {
                None
            };
            Some(found.ok_or_else(|| ApiError::not_found("Conversation Not Exists."))?)
        }
        None => None,
    };
    let created_at = now();
    let (conversation, memory, parent, inputs) = match existing {
        Some(conversation) => {
            let id = conversation.id.clone();
            let (history, _) = state
                .blocking(move |s| Ok(s.store.list_messages(&id, None, MEMORY_TURNS)?))
                .await?;
            let parent = history.last().map(|m| m.id.clone());
            let memory: Vec<Turn> = history
                .into_iter()
                .filter(|m| m.status == "normal")
                .map(|m| Turn {
                    query: m.query,
                    answer: m.answer,
                })
                .collect();
            let inputs = conversation.inputs.as_object().cloned().unwrap_or_default();
            (conversation, memory, parent, inputs)
        }
        None => {
            let inputs = flow
                .check_inputs(&body.inputs.clone().unwrap_or_default())
                .map_err(input_error)?;
            let name = if body.auto_generate_name.unwrap_or(true) {
                conversation_name(&body.query)
            } else {
                "New conversation".to_owned()
            };
            let (app_id, user, inputs_value) =
                (app.id.clone(), user.clone(), Value::Object(inputs.clone()));
            let variables = Value::Object(flow.conversation_variable_defaults());
            let conversation = state
                .blocking(move |s| {
                    Ok(s.store.create_conversation(
                        &new_id(),
                        &app_id,
                        &user,
                        &name,
                        &inputs_value,
                        &variables,
                    )?)
                })
                .await?;
            (conversation, Vec::new(), None, inputs)
        }
    };
    let ids = Ids {
        task_id: new_id(),
        run_id: new_id(),
        chat: Some(ChatIds {
            message_id: new_id(),
            conversation_id: conversation.id.clone(),
            created_at,
        }),
    };
    let chat = ids.chat.clone().unwrap_or_else(|| unreachable!());
    let input = RunInput {
        run_id: ids.run_id.clone(),
        app_id: app.id.clone(),
        workflow_id: app.workflow_id.clone(),
        user: user.clone(),
        query: Some(body.query.clone()),
        inputs: inputs.clone(),
        files: body.files.clone().unwrap_or_default(),
        conversation_id: Some(conversation.id.clone()),
        message_id: Some(chat.message_id.clone()),
        dialogue_count: memory.len() as u64,
        memory,
        conversation_variables: conversation
            .variables
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let turn = ChatTurn {
        app_id: app.id.clone(),
        user,
        query: body.query,
        inputs: Value::Object(inputs),
        parent_message_id: parent,
    };
    let finished = match start(&state, flow, input, ids.clone(), Some(turn), stream) {
        Started::Streaming(response) => return Ok(response),
        Started::Blocking(done) => wait(done).await?,
    };
    if finished.record.status == RunStatus::Failed {
        return Err(run_failed(&finished.record));
    }
    Ok(axum::Json(json!({
        "event": "message",
        "task_id": ids.task_id,
        "id": chat.message_id,
        "message_id": chat.message_id,
        "conversation_id": chat.conversation_id,
        "mode": "advanced-chat",
        "answer": finished.answer,
        "metadata": {
            "usage": usage_json(&finished.record.usage),
            "retriever_resources": finished.resources,
        },
        "created_at": chat.created_at,
    }))
    .into_response())
}

/// Dify's message for a failed run.
fn run_failed_message(record: &RunRecord) -> String {
    format!(
        "Run failed: {}",
        record.error.as_deref().unwrap_or("the run failed")
    )
}

/// A failed blocking chat: Dify's 400 `invalid_param` "Run failed: …".
fn run_failed(record: &RunRecord) -> ApiError {
    ApiError::invalid_param(run_failed_message(record))
}

/// A new conversation's name: the start of its first message.
fn conversation_name(query: &str) -> String {
    let line = query.lines().next().unwrap_or("").trim();
    let mut name: String = line.chars().take(40).collect();
    if line.chars().count() > 40 {
        name.push('…');
    }
    if name.is_empty() {
        "New conversation".to_owned()
    } else {
        name
    }
}

#[utoipa::path(
    post,
    path = "/v1/workflows/run",
    operation_id = "run_workflow",
    tag = "apps",
    summary = "Run a workflow app",
    description = "Runs the app's workflow with the inputs. `streaming` answers with SSE (`workflow_started`, `node_started`, `node_finished`, `text_chunk`, `workflow_finished`; `error` on failure; `ping` while quiet); `blocking` with the finished run. Also served at `/v1/workflows/{id}/run`.",
    request_body(content = WorkflowRunBody, example = json!({
        "inputs": {"question": "What is ragd?"}, "user": "user-1", "response_mode": "blocking"
    })),
    responses(
        (status = 200, description = "SSE stream or `{task_id, workflow_run_id, data}`", body = Object),
        (status = 400, description = "`invalid_param` (missing `user`, inputs), `not_workflow_app`", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn run_workflow(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    ApiJson(body): ApiJson<WorkflowRunBody>,
) -> ApiResult<Response> {
    let app = caller.app;
    if app.mode != "workflow" {
        return Err(wrong_mode("not_workflow_app"));
    }
    require_user(&body.user)?;
    let stream = streaming(body.response_mode.as_deref())?;
    let flow = state.apps.flow(&app)?;
    let inputs = flow.check_inputs(&body.inputs).map_err(input_error)?;
    let ids = Ids {
        task_id: new_id(),
        run_id: new_id(),
        chat: None,
    };
    let input = RunInput {
        run_id: ids.run_id.clone(),
        app_id: app.id.clone(),
        workflow_id: app.workflow_id.clone(),
        user: body.user,
        inputs,
        files: body.files.unwrap_or_default(),
        ..RunInput::default()
    };
    let finished = match start(&state, flow, input, ids.clone(), None, stream) {
        Started::Streaming(response) => return Ok(response),
        Started::Blocking(done) => wait(done).await?,
    };
    Ok(axum::Json(json!({
        "task_id": ids.task_id,
        "workflow_run_id": ids.run_id,
        "data": workflow_finished_data(&finished.record),
    }))
    .into_response())
}

#[utoipa::path(
    post,
    path = "/v1/chat-messages/{task_id}/stop",
    operation_id = "stop_chat",
    tag = "apps",
    summary = "Stop a streaming chat message",
    description = "Stops the run of a task (its id is in every event). Answers success whether or not the task was still running, as Dify does. `POST /v1/workflows/tasks/{task_id}/stop` (and `/v1/workflows/{id}/stop`) stop workflow runs the same way.",
    params(("task_id" = String, Path, description = "The task id from the stream's events")),
    request_body(content = StopBody, example = json!({"user": "user-1"})),
    responses(
        (status = 200, description = "`{\"result\": \"success\"}`", body = Object),
        (status = 400, description = "`invalid_param`: missing `user`", body = crate::openapi::ErrorBody),
        crate::openapi::AppErrors,
    )
)]
pub async fn stop(
    State(state): State<AppState>,
    Extension(caller): Extension<AppCaller>,
    Path(task_id): Path<String>,
    ApiJson(body): ApiJson<StopBody>,
) -> ApiResult<axum::Json<Value>> {
    require_user(&body.user)?;
    let stopped = state.apps.stop(&task_id, &caller.app.id, &body.user);
    tracing::info!(task_id, stopped, "stop requested");
    Ok(axum::Json(json!({"result": "success"})))
}
