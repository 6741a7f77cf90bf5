//! App API SDK conformance: the real Python client `dify-client-python==1.0.3`, unpatched, drives the real
//! `ragd serve` (real embedding model, store and indexes in a temporary data dir) through an advanced-chat
//! app (start → knowledge-retrieval → llm → answer) and a workflow app (start → knowledge-retrieval → llm →
//! end) built from `fixtures/flows/rag-chat.yml` and `fixtures/flows/rag-workflow.yml`: streaming and blocking
//! chat, a second turn with memory, conversations, history, feedback, stop, workflow runs and their stop.
//!
//! The LLM is ragd-llm's in-process OpenAI-protocol test server (feature `test-server`), answering a fixed
//! text word by word with a delay between chunks, so that a stop lands mid-answer; afterwards the test checks
//! the prompts it received: the retrieved context, and on the second turn the first turn (memory).
//!
//! `scripts/sdk_venv.sh` installs the client into `target/sdk-venv` (once; it needs `python3 -m venv` and,
//! the first time, network access to PyPI); `scripts/chat_sdk_conformance.py` does the calls and assertions
//! and prints one line per step.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ragd_llm::Role;
use ragd_llm::test_server::{Behaviour, OpenAiTestServer, RecordedRequest};
use serde_json::{Value, json};
use support::{TestServer, fixture, repo};

/// What the test LLM answers, word by word. Distinctive, so that it can be found in later prompts.
const REPLY: &str = "Plan on roughly twenty to thirty kilograms of capped honey per colony, heft the hive \
    in October, and feed thick syrup while it is still warm; the quartermaster of the apiary \
    recommends fondant once the days stay cold.";
/// Delay between the test LLM's chunks (one word each): a full answer takes about 3.5 s.
const CHUNK_DELAY: Duration = Duration::from_millis(100);

// The questions of scripts/chat_sdk_conformance.py (keep in sync).
const QUESTION_1: &str = "How much capped honey does a bee colony need to get through the winter?";
const QUESTION_2: &str = "And what should I feed the bees once it is too cold for syrup?";
const WORKFLOW_QUESTION: &str = "Why should a hive be tilted slightly forward in winter?";
/// Retrieved for QUESTION_1 from fixtures/docs/guide.txt (and not in the question).
const CONTEXT_1: &str = "20 to 30 kilograms";
/// Retrieved for QUESTION_2 from fixtures/docs/guide.txt (and not in the question nor in REPLY).
const CONTEXT_2: &str = "candy board";
/// Retrieved for WORKFLOW_QUESTION from fixtures/docs/guide.txt.
const CONTEXT_WORKFLOW: &str = "tilt the hive slightly forward";

/// Documents of the knowledge base.
const DOCS: &[&str] = &["guide.txt", "notes.md", "faq.json"];

/// `ragd apps create FLOW --name NAME --json` on the data dir: `{"id", "name", "mode", "api_key"}`.
fn create_app(data_dir: &Path, flow: &Path, name: &str, mode: &str) -> Value {
    let output = support::ragd()
        .env("RAGD__DATA_DIR", data_dir)
        .args(["apps", "create"])
        .arg(flow)
        .args(["--name", name, "--json"])
        .output()
        .expect("ragd apps create runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "ragd apps create {} failed ({}):\n{stdout}{stderr}",
        flow.display(),
        output.status
    );
    let app: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("ragd apps create --json printed no JSON ({e}): {stdout}"));
    assert_eq!(app["name"], name, "{app}");
    assert_eq!(app["mode"], mode, "{app}");
    assert!(app["id"].as_str().is_some_and(|id| !id.is_empty()), "{app}");
    let key = app["api_key"].as_str().unwrap_or_default();
    let suffix = key.strip_prefix("app-").unwrap_or_default();
    assert!(
        suffix.len() == 24 && suffix.chars().all(|c| c.is_ascii_alphanumeric()),
        "api_key is not app- + 24 base62 characters: {app}"
    );
    app
}

/// Whether the server answers `GET /v1/info` with this app key.
fn app_served(server: &TestServer, key: &str) -> bool {
    let reply = server.send(&support::Req::new("GET", "/v1/info").bearer(key));
    reply.status == 200
}

/// The messages of a recorded LLM request, one per line, for failure messages.
fn show(request: &RecordedRequest) -> String {
    request
        .messages
        .iter()
        .map(|m| format!("  [{:?}] {}", m.role, m.content.replace('\n', "\\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show_all(requests: &[RecordedRequest]) -> String {
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| format!("request {i}:\n{}", show(r)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The recorded requests with a message containing `text`.
fn asking<'a>(requests: &'a [RecordedRequest], text: &str) -> Vec<&'a RecordedRequest> {
    requests.iter().filter(|r| mentions(r, text)).collect()
}

fn mentions(request: &RecordedRequest, text: &str) -> bool {
    request.messages.iter().any(|m| m.content.contains(text))
}

#[test]
fn dify_client_python_drives_the_app_api_without_patches() {
    let python = support::sdk_python();

    // The LLM: the test server in a runtime of its own, answering word by word, slowly enough to stop.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let llm = runtime.block_on(OpenAiTestServer::start(
        Behaviour::reply(REPLY)
            .tokens_per_chunk(1)
            .chunk_delay(CHUNK_DELAY),
    ));

    let server = TestServer::builder()
        .env("RAGD__LLM__PROVIDERS__OPENAI__BASE_URL", llm.base_url())
        .env("RAGD__LLM__PROVIDERS__OPENAI__API_KEY", "test-key")
        .env("RAGD__LLM__DEFAULT_PROVIDER", "openai")
        .start();

    // The knowledge base, through the Knowledge API.
    let dataset = server.create_dataset("chat-sdk-kb");
    for name in DOCS {
        let (status, body) = server.upload_file(
            &dataset,
            name,
            &fixture(&format!("docs/{name}")),
            Some(&json!({"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}})),
        );
        assert_eq!(status, 200, "uploading {name}: {body}");
        let batch = body["batch"].as_str().unwrap().to_owned();
        server.wait_completed(&dataset, &batch);
    }

    // The two apps, from the flow fixtures with the real dataset id.
    let flows = tempfile::tempdir().unwrap();
    let chat_flow = support::flow_with_dataset("rag-chat.yml", &dataset, flows.path());
    let workflow_flow = support::flow_with_dataset("rag-workflow.yml", &dataset, flows.path());
    let chat_app = create_app(
        &server.data_dir,
        &chat_flow,
        "sdk-rag-chat",
        "advanced-chat",
    );
    let workflow_app = create_app(
        &server.data_dir,
        &workflow_flow,
        "sdk-rag-workflow",
        "workflow",
    );
    let chat_key = chat_app["api_key"].as_str().unwrap().to_owned();
    let workflow_key = workflow_app["api_key"].as_str().unwrap().to_owned();

    // Apps created while the server runs must be served within a few seconds (as new dataset keys are).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(app_served(&server, &chat_key) && app_served(&server, &workflow_key)) {
        if Instant::now() > deadline {
            let reply = server.send(&support::Req::new("GET", "/v1/info").bearer(&chat_key));
            panic!(
                "apps created by `ragd apps create` while the server runs are not served within 10 s: \
                 GET /v1/info answered {}: {}",
                reply.status, reply.text
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let base_url = format!("{}/v1", server.base);
    let output = Command::new(&python)
        .arg(repo().join("scripts/chat_sdk_conformance.py"))
        .args([&base_url, &chat_key, &workflow_key])
        .args(["--dataset-id", &dataset])
        .args(["--chat-app-name", "sdk-rag-chat"])
        .args(["--workflow-app-name", "sdk-rag-workflow"])
        .args(["--expected-answer", REPLY])
        .current_dir(repo())
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the App API SDK conformance script failed ({}):\n{stdout}{stderr}",
        output.status
    );
    assert!(stdout.contains("\nPASS "), "no PASS line:\n{stdout}");

    // What the LLM was asked.
    let requests = llm.requests();
    assert!(
        requests.iter().all(|r| r.stream()),
        "ragd called the LLM without streaming:\n{}",
        show_all(&requests)
    );

    // Turn 1 (streamed): the retrieved passage is in the prompt. (Other requests may carry the question,
    // e.g. a conversation-title generation, so one with the context is enough.)
    let turn_1: Vec<&RecordedRequest> = asking(&requests, QUESTION_1)
        .into_iter()
        .filter(|r| !mentions(r, QUESTION_2))
        .collect();
    assert!(
        turn_1.iter().any(|r| mentions(r, CONTEXT_1)),
        "no first-turn LLM request carries the retrieved context {CONTEXT_1:?}:\n{}",
        show_all(&requests)
    );

    // Turn 2 (blocking, same conversation): the first turn is in the prompt, as a user message with the
    // first question and an assistant message with the first answer, before the new question.
    let turn_2 = asking(&requests, QUESTION_2);
    assert_eq!(
        turn_2.len(),
        1,
        "expected one LLM request for the second turn:\n{}",
        show_all(&requests)
    );
    let turn_2 = turn_2[0];
    let current = turn_2
        .messages
        .iter()
        .position(|m| m.content.contains(QUESTION_2))
        .unwrap();
    let earlier = &turn_2.messages[..current];
    assert!(
        earlier
            .iter()
            .any(|m| m.role == Role::User && m.content.contains(QUESTION_1)),
        "the second turn's prompt lacks the first question as an earlier user message (memory):\n{}",
        show(turn_2)
    );
    assert!(
        earlier
            .iter()
            .any(|m| m.role == Role::Assistant && m.content.trim() == REPLY),
        "the second turn's prompt lacks the first answer as an earlier assistant message (memory):\n{}",
        show(turn_2)
    );
    assert!(
        mentions(turn_2, CONTEXT_2),
        "the second turn's prompt lacks the retrieved context {CONTEXT_2:?}:\n{}",
        show(turn_2)
    );

    // The workflow runs: retrieved context in the prompt, and no conversation memory.
    let workflow_runs = asking(&requests, WORKFLOW_QUESTION);
    assert!(
        workflow_runs.len() >= 2,
        "expected the streamed and the blocking workflow runs to call the LLM:\n{}",
        show_all(&requests)
    );
    for request in &workflow_runs {
        assert!(
            mentions(request, CONTEXT_WORKFLOW),
            "a workflow prompt lacks the retrieved context {CONTEXT_WORKFLOW:?}:\n{}",
            show(request)
        );
        assert!(
            request.messages.iter().all(|m| m.role != Role::Assistant),
            "a workflow prompt has conversation history:\n{}",
            show(request)
        );
    }

    // SIGTERM stops the server gracefully.
    let stopped = server.stop(Duration::from_secs(30));
    let log_path = stopped.data_dir.parent().unwrap().join("server.log");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        stopped.status.success(),
        "ragd serve did not exit cleanly on SIGTERM ({}):\n{log}",
        stopped.status
    );
    assert!(!log.contains("panicked"), "ragd serve panicked:\n{log}");
    drop(llm);
}
