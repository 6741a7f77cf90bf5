//! The `ChatModel` contract, checked against every implementation: the OpenAI-compatible client (against
//! the test server) and the embedded SmolLM2.

use std::sync::Arc;

use ragd_llm::test_server::{Behaviour, OpenAiTestServer};
use ragd_llm::{ChatModel, ChatRequest, LlmError, OpenAiProvider};
use tokio::sync::mpsc;

use crate::{ask, drain};

async fn check_contract(model: Arc<dyn ChatModel>) {
    let name = model.provider().to_owned();

    // The deltas, in order, are the text; usage adds up; the first token comes before the end.
    let mut request = ask("Say hello.");
    request.params.max_tokens = Some(8);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let completion = model.chat(request.clone(), tx).await.unwrap();
    assert!(!completion.text.is_empty(), "{name}");
    assert_eq!(drain(&mut rx).concat(), completion.text, "{name}");
    let usage = completion.usage;
    assert!(
        usage.prompt_tokens > 0 && usage.completion_tokens > 0,
        "{name}: {usage:?}"
    );
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens,
        "{name}"
    );
    assert!(
        completion.time_to_first_token.unwrap() <= completion.latency,
        "{name}"
    );
    assert!(completion.finish_reason.is_some(), "{name}");

    // A request without messages is the caller's error.
    let empty = ChatRequest {
        messages: Vec::new(),
        ..request.clone()
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let error = model.chat(empty, tx).await.unwrap_err();
    assert!(matches!(error, LlmError::Invalid(_)), "{name}: {error:?}");

    // Nobody listening: cancelled, not run.
    let (tx, rx) = mpsc::unbounded_channel();
    drop(rx);
    let error = model.chat(request, tx).await.unwrap_err();
    assert!(matches!(error, LlmError::Cancelled), "{name}: {error:?}");
}

#[tokio::test]
async fn openai_provider_meets_the_contract() {
    let server = OpenAiTestServer::start(Behaviour::reply("Hello there, friend.")).await;
    let provider = OpenAiProvider::new("testai", &server.provider_config()).unwrap();
    check_contract(Arc::new(provider)).await;
}

#[tokio::test]
async fn local_model_meets_the_contract() {
    check_contract(crate::local::shared_local()).await;
}
