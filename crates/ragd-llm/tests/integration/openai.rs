//! `OpenAiProvider` against `OpenAiTestServer`: streaming, usage, timing, retries, failures, cancellation.

use std::time::{Duration, Instant};

use ragd_config::ProviderConfig;
use ragd_llm::test_server::{Behaviour, OpenAiTestServer};
use ragd_llm::{ChatModel, LlmError, OpenAiProvider};
use tokio::sync::mpsc;

use crate::{ask, drain};

fn provider(config: &ProviderConfig) -> OpenAiProvider {
    OpenAiProvider::new("testai", config).unwrap()
}

#[tokio::test]
async fn streams_deltas_and_assembles_the_text() {
    let server =
        OpenAiTestServer::start(Behaviour::reply("The quick brown fox jumps").tokens_per_chunk(2))
            .await;
    let model = provider(&server.provider_config());
    let (tx, mut rx) = mpsc::unbounded_channel();

    let completion = model.chat(ask("Who jumps?"), tx).await.unwrap();

    assert_eq!(drain(&mut rx), ["The quick", " brown fox", " jumps"]);
    assert_eq!(completion.text, "The quick brown fox jumps");
    assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
    assert_eq!(completion.model, "test-model");
    assert!(completion.usage_reported);
    assert_eq!(completion.usage.completion_tokens, 5);
    // "You answer briefly." (3) + "Who jumps?" (2), as the test server counts.
    assert_eq!(completion.usage.prompt_tokens, 5);
    assert_eq!(completion.usage.total_tokens, 10);
    assert!(completion.time_to_first_token.unwrap() <= completion.latency);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(request.stream());
    assert_eq!(request.body["stream_options"]["include_usage"], true);
    assert_eq!(request.model(), Some("gpt-4o-mini"));
    assert_eq!(request.authorization.as_deref(), Some("Bearer test-key"));
    assert_eq!(request.messages, ask("Who jumps?").messages);
    assert_eq!(request.last_user_message(), Some("Who jumps?"));
}

#[tokio::test]
async fn sends_params_and_the_configured_model() {
    let server = OpenAiTestServer::start(Behaviour::echo()).await;
    let config = ProviderConfig {
        model: "served-model".into(),
        api_key: String::new(),
        ..server.provider_config()
    };
    let mut request = ask("one two three four five");
    request.params.temperature = Some(0.2);
    request.params.top_p = Some(0.9);
    request.params.max_tokens = Some(3);
    request.params.stop = vec!["END".into()];
    let (tx, _rx) = mpsc::unbounded_channel();

    let completion = provider(&config).chat(request, tx).await.unwrap();

    assert_eq!(completion.text, "one two three");
    assert_eq!(completion.finish_reason.as_deref(), Some("length"));
    let sent = &server.requests()[0];
    assert_eq!(sent.model(), Some("served-model"));
    assert_eq!(sent.authorization, None);
    assert_eq!(sent.body["temperature"], 0.2);
    assert_eq!(sent.body["top_p"], 0.9);
    assert_eq!(sent.body["max_tokens"], 3);
    assert_eq!(sent.body["stop"], serde_json::json!(["END"]));
}

#[tokio::test]
async fn counts_usage_when_the_provider_reports_none() {
    let server = OpenAiTestServer::start(Behaviour::reply("Hello world").omit_usage()).await;
    let (tx, _rx) = mpsc::unbounded_channel();

    let completion = provider(&server.provider_config())
        .chat(ask("Say hello"), tx)
        .await
        .unwrap();

    assert!(!completion.usage_reported);
    // tiktoken: "Hello world" is 2 tokens; the prompt is 3 + 2 × 3 framing + roles + contents.
    assert_eq!(completion.usage.completion_tokens, 2);
    assert_eq!(completion.usage.prompt_tokens, 3 + 3 + 1 + 4 + 3 + 1 + 2);
    assert_eq!(
        completion.usage.total_tokens,
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    );
}

#[tokio::test]
async fn measures_time_to_first_token() {
    let delay = Duration::from_millis(300);
    let behaviour = Behaviour::reply("slow then fast")
        .first_token_delay(delay)
        .chunk_delay(Duration::from_millis(50));
    let server = OpenAiTestServer::start(behaviour).await;
    let (tx, _rx) = mpsc::unbounded_channel();

    let completion = provider(&server.provider_config())
        .chat(ask("?"), tx)
        .await
        .unwrap();

    let ttft = completion.time_to_first_token.unwrap();
    assert!(ttft >= delay, "{ttft:?}");
    assert!(
        completion.latency >= ttft + Duration::from_millis(100),
        "{completion:?}"
    );
}

#[tokio::test]
async fn retries_429_and_503_then_succeeds() {
    for status in [429, 503] {
        let behaviour = Behaviour::reply("finally").fail_times(2, status);
        let server = OpenAiTestServer::start(behaviour).await;
        let (tx, mut rx) = mpsc::unbounded_channel();

        let completion = provider(&server.provider_config())
            .chat(ask("?"), tx)
            .await
            .unwrap();

        assert_eq!(completion.text, "finally");
        assert_eq!(drain(&mut rx), ["finally"]);
        assert_eq!(server.request_count(), 3, "status {status}");
    }
}

#[tokio::test]
async fn honours_retry_after() {
    let behaviour = Behaviour::reply("ok")
        .fail_times(1, 429)
        .retry_after(Duration::from_millis(400));
    let server = OpenAiTestServer::start(behaviour).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let started = Instant::now();

    provider(&server.provider_config())
        .chat(ask("?"), tx)
        .await
        .unwrap();

    // backoff_ms is 10 in the test config: only Retry-After explains the wait.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn status_error_after_retries_carries_the_message() {
    let behaviour = Behaviour::reply("never")
        .fail_times(100, 503)
        .fail_message("Engine overloaded, try later");
    let server = OpenAiTestServer::start(behaviour).await;
    let config = ProviderConfig {
        max_retries: 2,
        ..server.provider_config()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();

    let error = provider(&config).chat(ask("?"), tx).await.unwrap_err();

    match &error {
        LlmError::Status {
            provider,
            status,
            message,
        } => {
            assert_eq!(provider, "testai");
            assert_eq!(*status, 503);
            assert_eq!(message, "Engine overloaded, try later");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(error.to_string().contains("Engine overloaded"));
    assert_eq!(server.request_count(), 3);
    assert!(drain(&mut rx).is_empty());
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let behaviour = Behaviour::reply("never")
        .fail_times(1, 401)
        .fail_message("Incorrect API key provided");
    let server = OpenAiTestServer::start(behaviour).await;
    let (tx, _rx) = mpsc::unbounded_channel();

    let error = provider(&server.provider_config())
        .chat(ask("?"), tx)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, LlmError::Status { status: 401, message, .. } if message == "Incorrect API key provided"),
        "{error:?}"
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn an_error_event_mid_stream_fails_the_completion() {
    let server = OpenAiTestServer::start(Behaviour::reply("a b c d e").error_mid_stream(2)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();

    let error = provider(&server.provider_config())
        .chat(ask("?"), tx)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, LlmError::Status { message, .. } if message.contains("server had an error")),
        "{error:?}"
    );
    assert_eq!(drain(&mut rx), ["a", " b"]);
    // Deltas were already sent: no retry.
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_broken_connection_mid_stream_fails_the_completion() {
    let server =
        OpenAiTestServer::start(Behaviour::reply("a b c d e").disconnect_mid_stream(3)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();

    let error = provider(&server.provider_config())
        .chat(ask("?"), tx)
        .await
        .unwrap_err();

    assert!(matches!(error, LlmError::Connect { .. }), "{error:?}");
    // What was written just before the cut may be lost with it: the deltas are a prefix of "a b c".
    let received = drain(&mut rx).concat();
    assert!("a b c".starts_with(&received), "{received:?}");
}

#[tokio::test]
async fn a_broken_stream_before_any_token_is_retried() {
    let server = OpenAiTestServer::start(Behaviour::reply("x").disconnect_mid_stream(0)).await;
    let config = ProviderConfig {
        max_retries: 1,
        ..server.provider_config()
    };
    let (tx, _rx) = mpsc::unbounded_channel();

    let error = provider(&config).chat(ask("?"), tx).await.unwrap_err();

    assert!(matches!(error, LlmError::Connect { .. }), "{error:?}");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn no_answer_is_a_first_byte_timeout() {
    let server = OpenAiTestServer::start(Behaviour::default().hang()).await;
    let config = ProviderConfig {
        connect_timeout_secs: 1,
        ..server.provider_config()
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let started = Instant::now();

    let error = provider(&config).chat(ask("?"), tx).await.unwrap_err();

    assert!(
        matches!(error, LlmError::Timeout { secs, .. } if secs == 1.0),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Timeouts are not retried.
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_stalled_stream_hits_the_completion_timeout() {
    let server = OpenAiTestServer::start(Behaviour::reply("a b c").hang_mid_stream(1)).await;
    let config = ProviderConfig {
        timeout_secs: 1,
        ..server.provider_config()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();

    let error = provider(&config).chat(ask("?"), tx).await.unwrap_err();

    assert!(matches!(error, LlmError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(drain(&mut rx), ["a"]);
}

#[tokio::test]
async fn dropping_the_receiver_cancels() {
    let behaviour = Behaviour::reply("one two three four five six seven eight nine ten")
        .chunk_delay(Duration::from_millis(600));
    let server = OpenAiTestServer::start(behaviour).await;
    let model = provider(&server.provider_config());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();

    let chat = tokio::spawn(async move { model.chat(ask("?"), tx).await });
    assert_eq!(rx.recv().await.as_deref(), Some("one"));
    drop(rx);
    let error = chat.await.unwrap().unwrap_err();

    assert!(matches!(error, LlmError::Cancelled), "{error:?}");
    // Noticed while waiting for the next chunk, not at the end of the answer (5.4 s away).
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connect_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ProviderConfig {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        max_retries: 1,
        backoff_ms: 10,
        ..ProviderConfig::default()
    };
    let (tx, _rx) = mpsc::unbounded_channel();

    let error = provider(&config).chat(ask("?"), tx).await.unwrap_err();

    assert!(matches!(error, LlmError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains("testai"));
}

#[tokio::test]
async fn the_test_server_also_answers_without_streaming() {
    let server = OpenAiTestServer::start(Behaviour::echo()).await;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    let body = serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": "echo me"}],
    });

    let answer: serde_json::Value = client
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "echo me");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["completion_tokens"], 2);
    assert!(!server.requests()[0].stream());
}
