//! [`OpenAiProvider`]: a streaming client for OpenAI-compatible `POST {base_url}/chat/completions`
//! (OpenAI, vLLM, Ollama, llama.cpp's server, and ragd's own test server).
//!
//! One completion is one streamed request (`stream: true`, `stream_options.include_usage`), read as SSE
//! `data:` events until `[DONE]`. Invariants:
//! - Retries (429, 5xx, connection failures) happen only before the first content delta was sent to the
//!   caller, so a caller never sees a delta twice; the wait doubles from `backoff_ms`, or is the
//!   provider's `Retry-After`.
//! - `connect_timeout_secs` bounds each attempt's wait for the response headers; `timeout_secs` bounds
//!   the whole completion, retries and waits included. Timeouts are not retried.
//! - A closed delta receiver is noticed while waiting (for headers, chunks or a backoff) and ends the
//!   request at once with [`LlmError::Cancelled`]; dropping the response closes the connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ragd_config::ProviderConfig;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::sse::SseDecoder;
use crate::token_count;
use crate::{ChatModel, ChatRequest, Completion, LlmError, Usage};

/// Longest error body kept for a message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Longest provider error message carried in an [`LlmError`].
const ERROR_MESSAGE_CHARS: usize = 500;

/// A chat model behind an OpenAI-compatible HTTP API.
pub struct OpenAiProvider {
    name: String,
    endpoint: String,
    api_key: String,
    model: String,
    first_byte_timeout: Duration,
    completion_timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("model", &self.model)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("completion_timeout", &self.completion_timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl OpenAiProvider {
    /// A provider named `name` (for logs, errors and [`crate::Providers::resolve`]) from its config. Fails
    /// when `base_url` is empty or the HTTP client cannot be built.
    pub fn new(name: impl Into<String>, config: &ProviderConfig) -> Result<Self, LlmError> {
        let name = name.into();
        let base_url = config.base_url.trim().trim_end_matches('/');
        if base_url.is_empty() {
            return Err(LlmError::Invalid(format!(
                "LLM provider {name} has no base_url (e.g. https://api.openai.com/v1)"
            )));
        }
        let first_byte_timeout = Duration::from_secs(config.connect_timeout_secs.max(1));
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config())
            .connect_timeout(first_byte_timeout)
            .build()
            .map_err(|e| {
                LlmError::Invalid(format!(
                    "LLM provider {name}: cannot build its HTTP client: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(OpenAiProvider {
            endpoint: format!("{base_url}/chat/completions"),
            api_key: config.api_key.clone(),
            model: config.model.clone(),
            first_byte_timeout,
            completion_timeout: Duration::from_secs(config.timeout_secs.max(1)),
            max_retries: config.max_retries,
            backoff: Duration::from_millis(config.backoff_ms),
            client,
            name,
        })
    }

    /// The URL completions are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn request_body(&self, model: &str, request: &ChatRequest) -> Value {
        let mut body = json!({
            "model": model,
            "messages": request.messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let params = &request.params;
        if let Some(temperature) = params.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(top_p) = params.top_p {
            body["top_p"] = json!(top_p);
        }
        if let Some(max_tokens) = params.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        body
    }

    /// One HTTP request, streamed to `deltas`. `stream` keeps what was received across attempts (only
    /// an attempt that sent nothing may be retried, so it is empty at every attempt's start).
    async fn attempt(
        &self,
        body: &Value,
        deltas: &mpsc::UnboundedSender<String>,
        stream: &mut StreamState,
        deadline: tokio::time::Instant,
    ) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body);
        if !self.api_key.is_empty() {
            request = request.bearer_auth(&self.api_key);
        }
        let first_byte_deadline =
            deadline.min(tokio::time::Instant::now() + self.first_byte_timeout);
        let response = tokio::select! {
            sent = tokio::time::timeout_at(first_byte_deadline, request.send()) => match sent {
                Err(_elapsed) => return Err(Failure::fatal(self.timeout_error(first_byte_deadline, deadline))),
                Ok(Err(e)) if e.is_timeout() => return Err(Failure::fatal(self.timeout_error(first_byte_deadline, deadline))),
                Ok(Err(e)) if e.is_builder() => return Err(Failure::fatal(LlmError::Invalid(format!(
                    "LLM provider {}: cannot build a request to {}: {}", self.name, self.endpoint, error_chain(&e)
                )))),
                Ok(Err(e)) => return Err(Failure::retryable(self.connect_error(&e), None)),
                Ok(Ok(response)) => response,
            },
            () = deltas.closed() => return Err(Failure::fatal(LlmError::Cancelled)),
        };

        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let message = tokio::select! {
                message = tokio::time::timeout_at(deadline, read_error_message(response)) => {
                    message.unwrap_or_else(|_| "no error body before the timeout".to_owned())
                }
                () = deltas.closed() => return Err(Failure::fatal(LlmError::Cancelled)),
            };
            let error = LlmError::Status {
                provider: self.name.clone(),
                status: status.as_u16(),
                message,
            };
            return Err(if status.as_u16() == 429 || status.is_server_error() {
                Failure::retryable(error, retry_after)
            } else {
                Failure::fatal(error)
            });
        }

        let mut response = response;
        let mut decoder = SseDecoder::default();
        loop {
            let chunk = tokio::select! {
                chunk = tokio::time::timeout_at(deadline, response.chunk()) => chunk,
                () = deltas.closed() => return Err(Failure::fatal(LlmError::Cancelled)),
            };
            let events = match chunk {
                Err(_elapsed) => return Err(Failure::fatal(self.completion_timeout_error())),
                Ok(Err(e)) if e.is_timeout() => {
                    return Err(Failure::fatal(self.completion_timeout_error()));
                }
                Ok(Err(e)) => {
                    let error = LlmError::Connect {
                        provider: self.name.clone(),
                        message: format!("the answer stream broke: {}", error_chain(&e)),
                    };
                    return Err(stream.failure(error));
                }
                Ok(Ok(Some(bytes))) => decoder.push(&bytes).map_err(|e| {
                    Failure::fatal(self.protocol_error(format!("the stream is not UTF-8: {e}")))
                })?,
                Ok(Ok(None)) => {
                    let last = decoder.finish().map_err(|e| {
                        Failure::fatal(self.protocol_error(format!("the stream is not UTF-8: {e}")))
                    })?;
                    if let Some(data) = last
                        && stream.handle_event(self, &data, deltas)? == Event::Done
                    {
                        return Ok(());
                    }
                    if stream.finish_reason.is_some() {
                        // Some servers close without `[DONE]` after the last choice; the answer is whole.
                        return Ok(());
                    }
                    let error = LlmError::Connect {
                        provider: self.name.clone(),
                        message: "the answer stream ended before [DONE]".to_owned(),
                    };
                    return Err(stream.failure(error));
                }
            };
            for data in events {
                if stream.handle_event(self, &data, deltas)? == Event::Done {
                    return Ok(());
                }
            }
        }
    }

    fn timeout_error(
        &self,
        first_byte_deadline: tokio::time::Instant,
        deadline: tokio::time::Instant,
    ) -> LlmError {
        if first_byte_deadline < deadline {
            LlmError::Timeout {
                provider: self.name.clone(),
                secs: self.first_byte_timeout.as_secs_f64(),
            }
        } else {
            self.completion_timeout_error()
        }
    }

    fn completion_timeout_error(&self) -> LlmError {
        LlmError::Timeout {
            provider: self.name.clone(),
            secs: self.completion_timeout.as_secs_f64(),
        }
    }

    fn connect_error(&self, error: &reqwest::Error) -> LlmError {
        LlmError::Connect {
            provider: self.name.clone(),
            message: error_chain(error),
        }
    }

    fn protocol_error(&self, message: String) -> LlmError {
        LlmError::Protocol {
            provider: self.name.clone(),
            message,
        }
    }
}

#[async_trait::async_trait]
impl ChatModel for OpenAiProvider {
    fn provider(&self) -> &str {
        &self.name
    }

    async fn chat(
        &self,
        request: ChatRequest,
        deltas: mpsc::UnboundedSender<String>,
    ) -> Result<Completion, LlmError> {
        if request.messages.is_empty() {
            return Err(LlmError::Invalid("the chat request has no messages".into()));
        }
        if deltas.is_closed() {
            return Err(LlmError::Cancelled);
        }
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.completion_timeout;
        let model = if self.model.is_empty() {
            request.model.clone()
        } else {
            self.model.clone()
        };
        let body = self.request_body(&model, &request);

        let mut retries = 0;
        let stream = loop {
            let mut stream = StreamState::new(started);
            match self.attempt(&body, &deltas, &mut stream, deadline).await {
                Ok(()) => break stream,
                Err(Failure {
                    error,
                    retry: Some(retry_after),
                }) if retries < self.max_retries => {
                    let wait =
                        retry_after.unwrap_or_else(|| self.backoff * 2u32.saturating_pow(retries));
                    if tokio::time::Instant::now() + wait >= deadline {
                        return Err(error);
                    }
                    retries += 1;
                    tracing::warn!(
                        provider = %self.name,
                        retry = retries,
                        wait_ms = wait.as_millis() as u64,
                        error = %error,
                        "llm request failed, retrying"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = deltas.closed() => return Err(LlmError::Cancelled),
                    }
                }
                Err(failure) => return Err(failure.error),
            }
        };

        let (usage, usage_reported) = match stream.usage {
            Some(usage) => (usage, true),
            None => {
                // Tokenizing is CPU work (and the first use loads a BPE table): off the reactor.
                let (model, text) = (model.clone(), stream.text.clone());
                let usage = tokio::task::spawn_blocking(move || {
                    let prompt_tokens = token_count::count_prompt_tokens(&model, &request.messages);
                    let completion_tokens = token_count::count_text_tokens(&model, &text);
                    Usage {
                        prompt_tokens,
                        completion_tokens,
                        total_tokens: prompt_tokens + completion_tokens,
                    }
                })
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "llm token counting failed");
                    Usage::default()
                });
                (usage, false)
            }
        };
        Ok(Completion {
            text: stream.text,
            usage,
            usage_reported,
            time_to_first_token: stream.time_to_first_token,
            latency: started.elapsed(),
            model: stream.model.unwrap_or(model),
            finish_reason: stream.finish_reason,
        })
    }
}

/// Why an attempt failed, and whether (and after how long, if the provider said) to try again.
#[derive(Debug)]
struct Failure {
    error: LlmError,
    /// `Some` when a retry may help; the inner value is the provider's `Retry-After`.
    retry: Option<Option<Duration>>,
}

impl Failure {
    fn fatal(error: LlmError) -> Self {
        Failure { error, retry: None }
    }

    fn retryable(error: LlmError, retry_after: Option<Duration>) -> Self {
        Failure {
            error,
            retry: Some(retry_after),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Event {
    More,
    Done,
}

/// What one answer stream delivered so far.
#[derive(Debug)]
struct StreamState {
    started: Instant,
    text: String,
    sent_any: bool,
    usage: Option<Usage>,
    model: Option<String>,
    finish_reason: Option<String>,
    time_to_first_token: Option<Duration>,
}

impl StreamState {
    fn new(started: Instant) -> Self {
        StreamState {
            started,
            text: String::new(),
            sent_any: false,
            usage: None,
            model: None,
            finish_reason: None,
            time_to_first_token: None,
        }
    }

    /// A broken stream may be retried only while the caller has seen nothing of it.
    fn failure(&self, error: LlmError) -> Failure {
        if self.sent_any {
            Failure::fatal(error)
        } else {
            Failure::retryable(error, None)
        }
    }

    fn handle_event(
        &mut self,
        provider: &OpenAiProvider,
        data: &str,
        deltas: &mpsc::UnboundedSender<String>,
    ) -> Result<Event, Failure> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(Event::Done);
        }
        if data.is_empty() {
            return Ok(Event::More);
        }
        let chunk: StreamChunk = serde_json::from_str(data).map_err(|e| {
            Failure::fatal(provider.protocol_error(format!(
                "a stream chunk is not a chat.completion.chunk ({e}): {}",
                truncate_chars(data, ERROR_MESSAGE_CHARS)
            )))
        })?;
        if let Some(error) = chunk.error {
            let status = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (400..600).contains(code))
                .unwrap_or(502);
            let error = LlmError::Status {
                provider: provider.name.clone(),
                status,
                message: error_message_of(&error),
            };
            return Err(if self.sent_any || status < 500 && status != 429 {
                Failure::fatal(error)
            } else {
                Failure::retryable(error, None)
            });
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = Some(model);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                total_tokens: usage
                    .total_tokens
                    .unwrap_or(usage.prompt_tokens + usage.completion_tokens),
            });
        }
        let Some(choice) = chunk
            .choices
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        else {
            return Ok(Event::More);
        };
        if let Some(reason) = choice.finish_reason {
            self.finish_reason = Some(reason);
        }
        if let Some(content) = choice
            .delta
            .and_then(|d| d.content)
            .filter(|c| !c.is_empty())
        {
            if self.time_to_first_token.is_none() {
                self.time_to_first_token = Some(self.started.elapsed());
            }
            self.text.push_str(&content);
            deltas
                .send(content)
                .map_err(|_| Failure::fatal(LlmError::Cancelled))?;
            self.sent_any = true;
        }
        Ok(Event::More)
    }
}

/// One `chat.completion.chunk` (or an error object sent in its place).
#[derive(Debug, Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct StreamChoice {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    delta: Option<StreamDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StreamDelta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// The rustls configuration: ring for crypto (no aws-lc, no OpenSSL), the platform's root certificates,
/// or the Mozilla roots compiled in when the platform has none (a bare container). Also used by the
/// workflow runtime's http-request nodes.
pub fn tls_config() -> rustls::ClientConfig {
    use rustls_platform_verifier::BuilderVerifierExt;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = || {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
    };
    match builder().with_platform_verifier() {
        Ok(config) => config.with_no_client_auth(),
        Err(error) => {
            tracing::debug!(%error, "no platform root certificates, using the bundled Mozilla roots");
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by chat APIs and is ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// The provider's message from an error body: OpenAI's `{"error": {"message"}}`, `{"error": "…"}`,
/// `{"message"}`, FastAPI's `{"detail"}`, else the text itself.
async fn read_error_message(mut response: reqwest::Response) -> String {
    let reason = response
        .status()
        .canonical_reason()
        .unwrap_or("error")
        .to_owned();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_LIMIT {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    let message = match serde_json::from_str::<Value>(&text) {
        Ok(json) => error_message_of(&json),
        Err(_) => text.trim().to_owned(),
    };
    if message.is_empty() {
        reason
    } else {
        truncate_chars(&message, ERROR_MESSAGE_CHARS)
    }
}

fn error_message_of(json: &Value) -> String {
    let found = [
        json.pointer("/error/message"),
        json.get("error").filter(|e| e.is_string()),
        json.get("message"),
        json.get("detail"),
    ]
    .into_iter()
    .flatten()
    .next();
    let message = match found {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => json.to_string(),
    };
    truncate_chars(&message, ERROR_MESSAGE_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error with its causes, `a: b: c` (reqwest's own message rarely says what went wrong).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_common_bodies() {
        let openai = json!({"error": {"message": "Rate limit reached", "type": "requests"}});
        assert_eq!(error_message_of(&openai), "Rate limit reached");
        assert_eq!(error_message_of(&json!({"error": "bad key"})), "bad key");
        assert_eq!(
            error_message_of(&json!({"detail": "Not Found"})),
            "Not Found"
        );
        assert_eq!(error_message_of(&json!({"other": 1})), "{\"other\":1}");
    }

    #[test]
    fn retry_after_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("hé", 2), "hé");
    }

    #[test]
    fn provider_needs_a_base_url() {
        let error = OpenAiProvider::new("x", &ProviderConfig::default()).unwrap_err();
        assert!(matches!(error, LlmError::Invalid(_)), "{error}");
        let config = ProviderConfig {
            base_url: "http://127.0.0.1:9/v1/".into(),
            api_key: "sk-secret".into(),
            ..ProviderConfig::default()
        };
        let provider = OpenAiProvider::new("x", &config).unwrap();
        assert_eq!(
            provider.endpoint(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert!(!format!("{provider:?}").contains("sk-secret"));
    }
}
