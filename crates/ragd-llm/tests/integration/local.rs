//! `LocalModel` with the real SmolLM2 GGUF from the model cache (`ragd models fetch` puts it there; the
//! test command runs that first). Generations are kept short: a few tokens each.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ragd_config::{Config, LocalLlmConfig};
use ragd_llm::{ChatMessage, ChatModel, ChatRequest, LOCAL_MODEL_FILE, LlmError, LocalModel, Role};
use tokio::sync::mpsc;

use crate::{ask, drain};

/// The configured model directory (defaults < `RAGD__` environment, as the binary loads it).
fn model_dir() -> PathBuf {
    let config = Config::load(None, std::env::vars()).expect("configuration loads");
    let dir = config.llm_model_dir();
    assert!(
        dir.join(LOCAL_MODEL_FILE).exists(),
        "the local chat model is not in {}; run `ragd models fetch` (the test command does) first",
        dir.display()
    );
    dir
}

/// One model for the tests that use the default settings, loaded once (the test runtimes come and go;
/// the model's lazy load and its semaphore do not depend on one).
pub fn shared_local() -> Arc<LocalModel> {
    static MODEL: OnceLock<Arc<LocalModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| Arc::new(LocalModel::new(model_dir(), &LocalLlmConfig::default())))
        .clone()
}

fn ask_briefly(question: &str, max_tokens: usize) -> ChatRequest {
    let mut request = ask(question);
    request.params.max_tokens = Some(max_tokens);
    request
}

#[tokio::test]
async fn the_tokenizer_round_trips_text() {
    let model = shared_local();
    assert!(model.files_present());
    model.load_now().await.unwrap();
    assert!(model.is_loaded());

    for text in [
        "Hello, world!",
        "  leading spaces, tabs\tand\nnew lines\n",
        "Prix: 12,50 € — café, naïve, 日本語, emoji 🦀",
        "don't won't I'm they're",
    ] {
        let ids = model.tokenize(text).await.unwrap();
        assert!(!ids.is_empty());
        assert_eq!(model.detokenize(&ids).await.unwrap(), text);
    }
    // Digits are split one by one (the `smollm` pre-tokenizer), and ChatML markers are single ids.
    assert_eq!(model.tokenize("2025").await.unwrap().len(), 4);
    let ids = model
        .tokenize("<|im_start|>user\nHi<|im_end|>")
        .await
        .unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    // Common words are one token each, with their leading space.
    assert_eq!(model.tokenize(" the").await.unwrap().len(), 1);
    assert_eq!(model.tokenize("Hello world").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_short_generation_streams_its_text() {
    let model = shared_local();
    let (tx, mut rx) = mpsc::unbounded_channel();

    let completion = model
        .chat(ask_briefly("What is the capital of France?", 16), tx)
        .await
        .unwrap();

    let deltas = drain(&mut rx);
    assert!(!deltas.is_empty());
    assert_eq!(deltas.concat(), completion.text);
    assert!(!completion.text.trim().is_empty());
    assert!(completion.usage_reported);
    let usage = completion.usage;
    assert!(
        usage.completion_tokens > 0 && usage.completion_tokens <= 16,
        "{usage:?}"
    );
    // The ChatML prompt: system and user turns and the generation prompt.
    assert!(usage.prompt_tokens > 15, "{usage:?}");
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    let ttft = completion.time_to_first_token.unwrap();
    assert!(ttft <= completion.latency);
    assert!(matches!(
        completion.finish_reason.as_deref(),
        Some("stop" | "length")
    ));
    assert_eq!(completion.model, "SmolLM2-135M-Instruct-Q4_1");
}

#[tokio::test]
async fn greedy_decoding_is_repeatable_and_stop_strings_cut_it() {
    let model = shared_local();
    let (tx, _rx) = mpsc::unbounded_channel();
    let first = model
        .chat(ask_briefly("Name three colors.", 12), tx)
        .await
        .unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let second = model
        .chat(ask_briefly("Name three colors.", 12), tx)
        .await
        .unwrap();
    assert_eq!(first.text, second.text);
    assert_eq!(first.usage, second.usage);

    // Stop at the first occurrence of some text from the middle of the answer.
    let chars: Vec<char> = first.text.chars().collect();
    assert!(chars.len() >= 6, "{:?}", first.text);
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let expected = &first.text[..first.text.find(&stop).unwrap()];
    let mut request = ask_briefly("Name three colors.", 12);
    request.params.stop = vec![stop.clone()];
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cut = model.chat(request, tx).await.unwrap();

    assert_eq!(cut.text, expected, "stop {stop:?}");
    assert_eq!(drain(&mut rx).concat(), expected);
    assert_eq!(cut.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn a_long_prompt_keeps_its_end_within_the_context() {
    let config = LocalLlmConfig {
        context_tokens: 64,
        max_tokens: 4,
        ..LocalLlmConfig::default()
    };
    let model = LocalModel::new(model_dir(), &config);
    let request = ChatRequest {
        model: String::new(),
        messages: vec![
            ChatMessage::new(Role::System, "word ".repeat(200)),
            ChatMessage::new(Role::User, "Say yes."),
        ],
        params: Default::default(),
    };
    let (tx, _rx) = mpsc::unbounded_channel();

    let completion = model.chat(request, tx).await.unwrap();

    assert_eq!(completion.usage.prompt_tokens, 60);
    assert!(completion.usage.completion_tokens <= 4);
}

#[tokio::test]
async fn dropping_the_receiver_cancels_the_generation() {
    let model = shared_local();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = std::time::Instant::now();
    let chat = async {
        model
            .chat(ask_briefly("Write a long story about a dragon.", 200), tx)
            .await
    };
    let receive = async move {
        let first = rx.recv().await;
        drop(rx);
        first
    };

    let (result, first) = tokio::join!(chat, receive);

    assert!(first.is_some());
    assert!(matches!(result, Err(LlmError::Cancelled)), "{result:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn a_missing_model_says_how_to_fetch_it() {
    let empty = tempfile::tempdir().unwrap();
    let model = LocalModel::new(empty.path(), &LocalLlmConfig::default());
    assert!(!model.files_present());
    let (tx, _rx) = mpsc::unbounded_channel();

    let error = model.chat(ask("?"), tx).await.unwrap_err();

    assert!(matches!(error, LlmError::Model(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("ragd models fetch"), "{message}");
    assert!(message.contains(LOCAL_MODEL_FILE), "{message}");
    assert!(model.load_now().await.is_err());
}

#[tokio::test]
async fn a_damaged_model_file_is_a_model_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LOCAL_MODEL_FILE), b"GGUF but not really").unwrap();
    let model = LocalModel::new(dir.path(), &LocalLlmConfig::default());

    let error = model.load_now().await.unwrap_err();

    assert!(matches!(error, LlmError::Model(_)), "{error:?}");
    assert!(error.to_string().contains("ragd models fetch"), "{error}");
}
