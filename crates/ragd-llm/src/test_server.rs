//! [`OpenAiTestServer`]: an in-process server speaking the OpenAI chat-completions protocol, for tests of
//! anything that calls an LLM (this crate's client, the workflow runtime, the HTTP API) and for load
//! benchmarks (see `examples/instant_llm.rs`). Enabled by the `test-server` feature.
//!
//! `POST /v1/chat/completions` answers like OpenAI: with `stream: true`, SSE `chat.completion.chunk`s (a
//! role chunk, content chunks, a `finish_reason` chunk, the usage chunk when `stream_options.include_usage`
//! is set, then `data: [DONE]`); otherwise one `chat.completion` object. What it answers and how (delays,
//! failures, hangs) is a [`Behaviour`], fixed at start or changed with [`OpenAiTestServer::set_behaviour`].
//! "Tokens" are whitespace-led words: `"Hello big world"` is `Hello`, ` big`, ` world`; usage counts them.
//!
//! Every request is recorded (unless [`Behaviour::record_requests`] is off, as for load tests), so a test
//! can check the exact messages a component sent. Dropping the server stops it; requests left hanging
//! answer 503 then.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ragd_config::ProviderConfig;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::{ChatMessage, Role};

/// What the server replies.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// This text, whatever was asked.
    Text(String),
    /// The content of the last `user` message.
    EchoLastUser,
}

/// How the stream goes wrong after some content chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidStreamFailure {
    /// An OpenAI error object sent as a `data:` event (as OpenAI and vLLM do), then the stream ends.
    ErrorEvent,
    /// The connection is broken (the chunked body is cut short).
    Disconnect,
    /// Nothing more is sent, ever (until the server stops).
    Hang,
}

/// How the server answers. Build one with [`Behaviour::reply`] or [`Behaviour::echo`] and the methods
/// that follow; fields are public for tests that prefer a struct literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub reply: Reply,
    /// Model name reported in the answers.
    pub model: String,
    /// Tokens (words) per content chunk.
    pub tokens_per_chunk: usize,
    /// Wait before the first content chunk (the response headers are sent at once).
    pub first_token_delay: Duration,
    /// Wait between content chunks.
    pub chunk_delay: Duration,
    /// The first `fail_times` requests answer `fail_status` with an OpenAI error body.
    pub fail_times: u64,
    pub fail_status: u16,
    pub fail_message: String,
    /// `Retry-After` sent with the failures, in seconds (fractions allowed).
    pub fail_retry_after: Option<Duration>,
    /// After this many content chunks, fail this way.
    pub mid_stream_failure: Option<(usize, MidStreamFailure)>,
    /// Never send the usage chunk (as servers that ignore `stream_options` do).
    pub omit_usage: bool,
    /// Never answer at all: no headers (for first-byte timeouts).
    pub hang: bool,
    /// Record the requests (off for load tests, where they would pile up).
    pub record_requests: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::reply("Hello from the test server.")
    }
}

impl Behaviour {
    /// Answers `text` to every request.
    pub fn reply(text: impl Into<String>) -> Self {
        Behaviour {
            reply: Reply::Text(text.into()),
            model: "test-model".into(),
            tokens_per_chunk: 1,
            first_token_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            fail_times: 0,
            fail_status: 503,
            fail_message: "the test server is failing on purpose".into(),
            fail_retry_after: None,
            mid_stream_failure: None,
            omit_usage: false,
            hang: false,
            record_requests: true,
        }
    }

    /// Answers the last user message back.
    pub fn echo() -> Self {
        Behaviour {
            reply: Reply::EchoLastUser,
            ..Behaviour::default()
        }
    }

    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    pub fn tokens_per_chunk(mut self, tokens: usize) -> Self {
        self.tokens_per_chunk = tokens.max(1);
        self
    }

    pub fn first_token_delay(mut self, delay: Duration) -> Self {
        self.first_token_delay = delay;
        self
    }

    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// The first `times` requests answer `status` (e.g. 429 or 503) before the server behaves.
    pub fn fail_times(mut self, times: u64, status: u16) -> Self {
        self.fail_times = times;
        self.fail_status = status;
        self
    }

    pub fn fail_message(mut self, message: impl Into<String>) -> Self {
        self.fail_message = message.into();
        self
    }

    pub fn retry_after(mut self, after: Duration) -> Self {
        self.fail_retry_after = Some(after);
        self
    }

    /// After `chunks` content chunks, send an error event and end the stream.
    pub fn error_mid_stream(mut self, chunks: usize) -> Self {
        self.mid_stream_failure = Some((chunks, MidStreamFailure::ErrorEvent));
        self
    }

    /// After `chunks` content chunks, break the connection.
    pub fn disconnect_mid_stream(mut self, chunks: usize) -> Self {
        self.mid_stream_failure = Some((chunks, MidStreamFailure::Disconnect));
        self
    }

    /// After `chunks` content chunks, stall forever.
    pub fn hang_mid_stream(mut self, chunks: usize) -> Self {
        self.mid_stream_failure = Some((chunks, MidStreamFailure::Hang));
        self
    }

    pub fn omit_usage(mut self) -> Self {
        self.omit_usage = true;
        self
    }

    /// Never answer.
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    pub fn record_requests(mut self, record: bool) -> Self {
        self.record_requests = record;
        self
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The JSON body, as sent.
    pub body: Value,
    /// The messages (content parts joined when sent as an array).
    pub messages: Vec<ChatMessage>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl RecordedRequest {
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    pub fn stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    pub fn last_user_message(&self) -> Option<&str> {
        last_user_message(&self.messages)
    }
}

struct ServerState {
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<RecordedRequest>>,
    received: AtomicU64,
    stopped: watch::Receiver<bool>,
}

/// A running test server; dropping it stops it.
pub struct OpenAiTestServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for OpenAiTestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiTestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl OpenAiTestServer {
    /// Starts a server on `127.0.0.1:0` (a free port) in the current tokio runtime.
    pub async fn start(behaviour: Behaviour) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(addr, behaviour)
            .await
            .expect("binding 127.0.0.1:0 succeeds")
    }

    /// Starts a server on `addr` (for a fixed port, as the load-test example uses).
    pub async fn start_on(addr: SocketAddr, behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(ServerState {
            behaviour: Mutex::new(behaviour),
            requests: Mutex::new(Vec::new()),
            received: AtomicU64::new(0),
            stopped: stopped.clone(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .with_state(state.clone());
        let mut shutdown = stopped;
        let task = tokio::spawn(async move {
            // TCP_NODELAY, as real servers set it: small SSE chunks must not wait for delayed ACKs.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stopped| *stopped).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "openai test server failed");
            }
        });
        Ok(OpenAiTestServer {
            addr,
            state,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure a provider with: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A provider config pointing here, with short timeouts and backoff suited to tests.
    pub fn provider_config(&self) -> ProviderConfig {
        ProviderConfig {
            base_url: self.base_url(),
            api_key: "test-key".into(),
            model: String::new(),
            connect_timeout_secs: 5,
            timeout_secs: 30,
            max_retries: 3,
            backoff_ms: 10,
        }
    }

    /// Replaces the behaviour for the next requests (the failure count restarts).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.behaviour) = behaviour;
        self.state.received.store(0, Ordering::SeqCst);
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// How many chat requests arrived (recorded or not) since the start or the last `set_behaviour`.
    pub fn request_count(&self) -> u64 {
        self.state.received.load(Ordering::SeqCst)
    }

    /// Serves until the task ends (for the example binary, which runs until killed).
    pub async fn run_until_stopped(mut self) {
        let task = &mut self.task;
        let _ = task.await;
    }
}

impl Drop for OpenAiTestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn models(State(state): State<Arc<ServerState>>) -> Response {
    let model = lock(&state.behaviour).model.clone();
    axum::Json(json!({
        "object": "list",
        "data": [{"id": model, "object": "model", "created": 0, "owned_by": "ragd-test"}],
    }))
    .into_response()
}

async fn chat_completions(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let number = state.received.fetch_add(1, Ordering::SeqCst);
    let behaviour = lock(&state.behaviour).clone();
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return openai_error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}"), None);
        }
    };
    let messages = parse_messages(&body);
    if behaviour.record_requests {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        lock(&state.requests).push(RecordedRequest {
            body: body.clone(),
            messages: messages.clone().unwrap_or_default(),
            authorization,
        });
    }
    if behaviour.hang {
        let mut stopped = state.stopped.clone();
        let _ = stopped.wait_for(|stopped| *stopped).await;
        return openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the test server stopped",
            None,
        );
    }
    if number < behaviour.fail_times {
        let status =
            StatusCode::from_u16(behaviour.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return openai_error(status, &behaviour.fail_message, behaviour.fail_retry_after);
    }
    let Some(messages) = messages.filter(|m| !m.is_empty()) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "'messages' must be a non-empty array",
            None,
        );
    };

    let reply = match &behaviour.reply {
        Reply::Text(text) => text.clone(),
        Reply::EchoLastUser => last_user_message(&messages).unwrap_or_default().to_owned(),
    };
    let mut tokens = split_tokens(&reply);
    let max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    let finish_reason = match max_tokens {
        Some(max) if (tokens.len() as u64) > max => {
            tokens.truncate(max as usize);
            "length"
        }
        _ => "stop",
    };
    let prompt_tokens: usize = messages
        .iter()
        .map(|m| split_tokens(&m.content).len())
        .sum();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": tokens.len(),
        "total_tokens": prompt_tokens + tokens.len(),
    });
    let answer = Answer {
        id: format!("chatcmpl-test-{number}"),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: behaviour.model.clone(),
        tokens,
        finish_reason,
        usage,
    };

    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true)
            && !behaviour.omit_usage;
        stream_answer(answer, behaviour, include_usage, state.stopped.clone())
    } else {
        tokio::time::sleep(behaviour.first_token_delay).await;
        let mut completion = json!({
            "id": answer.id,
            "object": "chat.completion",
            "created": answer.created,
            "model": answer.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.tokens.concat()},
                "finish_reason": answer.finish_reason,
            }],
        });
        if !behaviour.omit_usage {
            completion["usage"] = answer.usage;
        }
        axum::Json(completion).into_response()
    }
}

struct Answer {
    id: String,
    created: u64,
    model: String,
    tokens: Vec<String>,
    finish_reason: &'static str,
    usage: Value,
}

impl Answer {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        });
        format!("data: {chunk}\n\n")
    }
}

type BodyItem = Result<String, std::io::Error>;

/// Streams the answer from a task writing to a channel: the body ends when the task does, and breaks
/// when it sends an error.
fn stream_answer(
    answer: Answer,
    behaviour: Behaviour,
    include_usage: bool,
    stopped: watch::Receiver<bool>,
) -> Response {
    let (tx, rx) = mpsc::channel::<BodyItem>(16);
    tokio::spawn(async move {
        // A send fails when the client went away: stop writing then.
        let _ = write_stream(&answer, &behaviour, include_usage, stopped, &tx).await;
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn write_stream(
    answer: &Answer,
    behaviour: &Behaviour,
    include_usage: bool,
    mut stopped: watch::Receiver<bool>,
    tx: &mpsc::Sender<BodyItem>,
) -> Result<(), mpsc::error::SendError<BodyItem>> {
    tx.send(Ok(
        answer.chunk(json!({"role": "assistant", "content": ""}), None)
    ))
    .await?;
    pause(behaviour.first_token_delay).await;
    for (number, piece) in answer
        .tokens
        .chunks(behaviour.tokens_per_chunk.max(1))
        .enumerate()
    {
        if let Some((after, failure)) = behaviour.mid_stream_failure
            && number == after
        {
            return fail_stream(failure, &mut stopped, tx).await;
        }
        if number > 0 {
            pause(behaviour.chunk_delay).await;
        }
        tx.send(Ok(answer.chunk(json!({"content": piece.concat()}), None)))
            .await?;
    }
    if let Some((after, failure)) = behaviour.mid_stream_failure
        && after
            >= answer
                .tokens
                .len()
                .div_ceil(behaviour.tokens_per_chunk.max(1))
    {
        return fail_stream(failure, &mut stopped, tx).await;
    }
    tx.send(Ok(answer.chunk(json!({}), Some(answer.finish_reason))))
        .await?;
    if include_usage {
        let chunk = json!({
            "id": answer.id,
            "object": "chat.completion.chunk",
            "created": answer.created,
            "model": answer.model,
            "choices": [],
            "usage": answer.usage,
        });
        tx.send(Ok(format!("data: {chunk}\n\n"))).await?;
    }
    tx.send(Ok("data: [DONE]\n\n".to_owned())).await
}

async fn fail_stream(
    failure: MidStreamFailure,
    stopped: &mut watch::Receiver<bool>,
    tx: &mpsc::Sender<BodyItem>,
) -> Result<(), mpsc::error::SendError<BodyItem>> {
    match failure {
        MidStreamFailure::ErrorEvent => {
            let error = json!({"error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": null,
                "code": null,
            }});
            tx.send(Ok(format!("data: {error}\n\n"))).await
        }
        MidStreamFailure::Disconnect => {
            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut on purpose");
            tx.send(Err(cut)).await
        }
        MidStreamFailure::Hang => {
            let _ = stopped.wait_for(|stopped| *stopped).await;
            Ok(())
        }
    }
}

fn openai_error(status: StatusCode, message: &str, retry_after: Option<Duration>) -> Response {
    let kind = match status.as_u16() {
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(after) = retry_after
        && let Ok(value) = after.as_secs_f64().to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The request's messages, or `None` when `messages` is not an array of `{role, content}`.
fn parse_messages(body: &Value) -> Option<Vec<ChatMessage>> {
    let mut messages = Vec::new();
    for message in body.get("messages")?.as_array()? {
        let role = match message.get("role")?.as_str()? {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => return None,
        };
        let content = match message.get("content")? {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            Value::Null => String::new(),
            _ => return None,
        };
        messages.push(ChatMessage { role, content });
    }
    Some(messages)
}

fn last_user_message(messages: &[ChatMessage]) -> Option<&str> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
}

/// Whitespace-led words: each token is a run of whitespace followed by a run of non-whitespace.
pub fn split_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        }
        in_word |= !c.is_whitespace();
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Waits `delay`; no wait at all for zero (tokio's timer would still take a 1 ms tick per chunk, which
/// made the "instant" server pace a 32-token answer over 33 ms).
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_whitespace_led_words() {
        assert_eq!(
            split_tokens("Hello big  world!"),
            ["Hello", " big", "  world!"]
        );
        assert_eq!(split_tokens("  lead"), ["  lead"]);
        assert_eq!(split_tokens("tail "), ["tail", " "]);
        assert!(split_tokens("").is_empty());
        assert_eq!(split_tokens("a b c").concat(), "a b c");
    }

    #[test]
    fn messages_parse_strings_and_parts() {
        let body = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
        ]});
        let messages = parse_messages(&body).unwrap();
        assert_eq!(messages[1], ChatMessage::new(Role::User, "hi there"));
        assert_eq!(last_user_message(&messages), Some("hi there"));
        assert_eq!(parse_messages(&json!({"messages": "no"})), None);
    }
}
