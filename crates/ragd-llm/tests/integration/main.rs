//! Integration tests of ragd-llm: the OpenAI-compatible client against the in-process test server (real
//! HTTP on 127.0.0.1), provider resolution, and the embedded SmolLM2 with the real GGUF when fetched.

mod conformance;
mod local;
mod openai;
mod providers;

use ragd_llm::{ChatMessage, ChatRequest, CompletionParams, Role};
use tokio::sync::mpsc;

/// A one-question request.
pub fn ask(question: &str) -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![
            ChatMessage::new(Role::System, "You answer briefly."),
            ChatMessage::new(Role::User, question),
        ],
        params: CompletionParams::default(),
    }
}

/// Everything already sent to a delta channel.
pub fn drain(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut deltas = Vec::new();
    while let Ok(delta) = rx.try_recv() {
        deltas.push(delta);
    }
    deltas
}
