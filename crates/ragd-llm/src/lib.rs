//! Chat-completion providers for ragd: the [`ChatModel`] trait, an OpenAI-compatible streaming client and
//! the embedded local model (SmolLM2-135M-Instruct, GGUF), picked per flow node by [`Providers`].
//!
//! The feature `test-server` adds [`test_server`], an in-process OpenAI-compatible server for the tests of
//! any crate that calls an LLM and for load benchmarks (`examples/instant_llm.rs`).

use std::time::Duration;

mod gguf_tokenizer;
mod local;
mod openai;
mod providers;
mod sse;
mod stop;
#[cfg(feature = "test-server")]
pub mod test_server;
mod token_count;

pub use local::{LOCAL_MODEL_FILE, LOCAL_PROVIDER, LocalModel};
pub use openai::{OpenAiProvider, tls_config};
pub use providers::Providers;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Errors of a chat completion. `Display` is the message shown to users (in the SSE `error` event and
/// the run log), so it says what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider answered with an error status (after retries, for 429 and 5xx).
    #[error("LLM provider {provider} answered {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        message: String,
    },
    /// The provider could not be reached or the connection broke.
    #[error("LLM provider {provider} unreachable: {message}")]
    Connect { provider: String, message: String },
    /// No answer (or no next token) in time.
    #[error("LLM provider {provider} timed out after {secs:.1} s")]
    Timeout { provider: String, secs: f64 },
    /// The provider sent something that is not the OpenAI protocol.
    #[error("LLM provider {provider} sent an invalid response: {message}")]
    Protocol { provider: String, message: String },
    /// The local model's files are missing or could not be loaded.
    #[error("local model: {0}")]
    Model(String),
    /// The caller went away (the stream's receiver was dropped or the run was stopped).
    #[error("generation cancelled")]
    Cancelled,
    /// Bad request from the flow (unknown provider, empty prompt).
    #[error("{0}")]
    Invalid(String),
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// Sampling parameters (Dify's `completion_params`); `None` leaves the provider's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionParams {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub stop: Vec<String>,
}

/// One chat-completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model named by the flow (`model.name`); a provider configured with its own model overrides it.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub params: CompletionParams,
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// The result of a finished completion (its text was also sent, piece by piece, to the delta channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    /// True when the provider reported usage; false when ragd counted the tokens itself.
    pub usage_reported: bool,
    /// Time from the request to the first content token.
    pub time_to_first_token: Option<Duration>,
    /// Time from the request to the end of the answer.
    pub latency: Duration,
    /// The model that answered (as the provider reports it).
    pub model: String,
    /// `stop`, `length`, … as the provider reports it.
    pub finish_reason: Option<String>,
}

/// A chat model that streams its answer.
///
/// Implementations:
/// - [`OpenAiProvider`]: any OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, llama.cpp's server), for
///   real answers; retries, timeouts and usage as the provider reports it.
/// - [`LocalModel`]: the embedded SmolLM2-135M on the CPU, for a setup with no network and no key (the
///   default provider): small and fast (tens of tokens/s on 2 cores), not smart.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// Provider name, for logs and errors.
    fn provider(&self) -> &str;

    /// Runs one completion: every content delta is sent to `deltas` as it arrives (a closed receiver
    /// cancels the generation with [`LlmError::Cancelled`]), and the whole answer with its usage is
    /// returned at the end.
    async fn chat(
        &self,
        request: ChatRequest,
        deltas: mpsc::UnboundedSender<String>,
    ) -> Result<Completion, LlmError>;
}
