//! Failures: LLM errors mid-stream, timeouts (node and run), cancellation, retrieval errors, bad inputs,
//! and a closed event receiver.

use std::time::{Duration, Instant};

use ragd_core::run::{NodeStatus, RunStatus};
use ragd_llm::test_server::Behaviour;
use ragd_workflow::RunEvent;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{Harness, TestKnowledge, config, event_names, fixture, flow, input, inputs, node, ran};

fn chat_input(query: &str) -> ragd_workflow::RunInput {
    let mut run = input("run-failure");
    run.query = Some(query.into());
    run
}

#[tokio::test]
async fn llm_error_mid_stream_fails_the_node_and_the_run() {
    let harness =
        Harness::start(Behaviour::reply("partial answer that breaks").error_mid_stream(2)).await;
    let (outcome, events) = harness
        .run(&fixture("rag-chat.yml"), chat_input("What is ragd?"))
        .await;
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let llm = node(&outcome, "llm");
    assert_eq!(llm.status, NodeStatus::Failed);
    let error = llm.error.as_deref().unwrap();
    assert!(error.contains("LLM provider openai"), "{error}");
    assert_eq!(outcome.record.error.as_deref(), Some(error));
    assert!(
        llm.process_data["prompts"].is_array(),
        "the prompt is kept for diagnosis"
    );
    assert!(!ran(&outcome).contains(&"answer"));
    // The tokens before the error were streamed; the run still ends with workflow_finished(failed).
    assert_eq!(crate::answer_text(&events), "partial answer");
    match events.last() {
        Some(RunEvent::WorkflowFinished(record)) => assert_eq!(record.status, RunStatus::Failed),
        other => panic!("{other:?}"),
    }
    let names = event_names(&events);
    assert_eq!(
        names
            .iter()
            .filter(|n| n.as_str() == "finished:llm")
            .count(),
        1
    );
}

#[tokio::test]
async fn llm_error_status_fails_the_node() {
    let harness =
        Harness::start(Behaviour::default().fail_times(5, 500).fail_message("boom")).await;
    let (outcome, _) = harness
        .run(&fixture("rag-chat.yml"), chat_input("What is ragd?"))
        .await;
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let error = node(&outcome, "llm").error.clone().unwrap();
    assert!(error.contains("500") && error.contains("boom"), "{error}");
}

#[tokio::test]
async fn slow_llm_hits_the_node_timeout() {
    let mut config = config();
    config.node_timeout_secs = 1;
    let harness = Harness::with(
        Behaviour::reply("too late").first_token_delay(Duration::from_secs(20)),
        TestKnowledge::corpus(),
        config,
    )
    .await;
    let started = Instant::now();
    let (outcome, _) = harness
        .run(&fixture("rag-chat.yml"), chat_input("What is ragd?"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let llm = node(&outcome, "llm");
    assert_eq!(llm.status, NodeStatus::Failed);
    let error = llm.error.as_deref().unwrap();
    assert!(
        error.contains("timed out after 1 s") && error.contains("llm (LLM)"),
        "{error}"
    );
    assert!(
        llm.elapsed_time >= 0.9 && llm.elapsed_time < 5.0,
        "{}",
        llm.elapsed_time
    );
    assert_eq!(outcome.record.error.as_deref(), Some(error));
}

#[tokio::test]
async fn a_hung_stream_hits_the_run_timeout() {
    let mut config = config();
    config.run_timeout_secs = 1;
    let harness = Harness::with(
        Behaviour::reply("a b c d").hang_mid_stream(1),
        TestKnowledge::corpus(),
        config,
    )
    .await;
    let started = Instant::now();
    let (outcome, events) = harness
        .run(&fixture("rag-chat.yml"), chat_input("What is ragd?"))
        .await;
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let error = outcome.record.error.as_deref().unwrap();
    assert!(error.contains("run timed out after 1 s"), "{error}");
    let llm = node(&outcome, "llm");
    assert_eq!(llm.status, NodeStatus::Failed);
    assert!(llm.error.as_deref().unwrap().contains("timed out"));
    assert_eq!(crate::answer_text(&events), "a");
}

#[tokio::test]
async fn cancelling_stops_a_slow_llm() {
    let harness =
        Harness::start(Behaviour::reply("never seen").first_token_delay(Duration::from_secs(20)))
            .await;
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let started = Instant::now();
    let (outcome, events) = harness
        .run_with(
            &fixture("rag-chat.yml"),
            chat_input("What is ragd?"),
            cancel,
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.record.status, RunStatus::Stopped);
    let llm = node(&outcome, "llm");
    assert_eq!(llm.status, NodeStatus::Stopped);
    assert_eq!(
        node(&outcome, "1718000000002").status,
        NodeStatus::Succeeded
    );
    assert!(!ran(&outcome).contains(&"answer"));
    assert!(
        matches!(events.last(), Some(RunEvent::WorkflowFinished(r)) if r.status == RunStatus::Stopped)
    );
    // The server saw the request; the connection was dropped with the node.
    assert_eq!(harness.server.request_count(), 1);
}

#[tokio::test]
async fn a_failure_stops_the_other_branches() {
    let harness =
        Harness::start(Behaviour::reply("slow").first_token_delay(Duration::from_secs(20))).await;
    let yaml = r#"
app: {name: fail-fast, mode: workflow}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: q, label: Q, type: text-input, required: true}]}}
    - {id: kr, data: {type: knowledge-retrieval, title: K, query_variable_selector: [s, q], dataset_ids: [d], retrieval_mode: multiple, multiple_retrieval_config: {top_k: 2}}}
    - {id: llm, data: {type: llm, title: LLM, model: {provider: openai, name: m}, prompt_template: [{role: user, text: "{{#s.q#}}"}]}}
    - {id: e, data: {type: end, title: E, outputs: [{variable: a, value_selector: [llm, text]}, {variable: b, value_selector: [kr, result]}]}}
    edges: [{source: s, target: kr}, {source: s, target: llm}, {source: kr, target: e}, {source: llm, target: e}]
"#;
    let mut run = input("run-fail-fast");
    run.inputs = inputs(json!({ "q": "please explode" }));
    let started = Instant::now();
    let (outcome, _) = harness.run(&flow(yaml), run).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.record.status, RunStatus::Failed);
    assert_eq!(
        outcome.record.error.as_deref(),
        Some("retrieval failed: the index is on fire")
    );
    assert_eq!(node(&outcome, "kr").status, NodeStatus::Failed);
    let llm = node(&outcome, "llm");
    assert_eq!(llm.status, NodeStatus::Stopped);
    assert!(
        llm.error
            .as_deref()
            .unwrap()
            .contains("another node failed")
    );
}

#[tokio::test]
async fn missing_required_input_fails_at_the_start_node() {
    let harness = Harness::start(Behaviour::default()).await;
    let mut run = input("run-missing");
    run.inputs = inputs(json!({ "other": 1 }));
    let (outcome, events) = harness.run(&fixture("rag-workflow.yml"), run).await;
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let start = node(&outcome, "start");
    assert_eq!(start.status, NodeStatus::Failed);
    let error = start.error.as_deref().unwrap();
    assert!(
        error.contains("question") && error.contains("required"),
        "{error}"
    );
    assert_eq!(ran(&outcome), vec!["start"]);
    assert_eq!(
        event_names(&events),
        vec![
            "workflow_started",
            "started:start",
            "finished:start",
            "workflow_finished"
        ]
    );
    assert_eq!(harness.server.request_count(), 0);
}

#[tokio::test]
async fn a_bad_comparison_fails_the_if_else_node() {
    let harness = Harness::start(Behaviour::default()).await;
    let yaml = r#"
app: {name: compare, mode: workflow}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: word, label: W, type: text-input, required: true}]}}
    - {id: i, data: {type: if-else, title: I, cases: [{case_id: big, conditions: [{variable_selector: [s, word], comparison_operator: '>', value: '3'}]}]}}
    - {id: e, data: {type: end, title: E}}
    edges: [{source: s, target: i}, {source: i, target: e, sourceHandle: big}, {source: i, target: e, sourceHandle: 'false'}]
"#;
    let mut run = input("run-compare");
    run.inputs = inputs(json!({ "word": "abc" }));
    let (outcome, _) = harness.run(&flow(yaml), run).await;
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let error = node(&outcome, "i").error.clone().unwrap();
    assert!(
        error.contains("case `big`") && error.contains("s.word"),
        "{error}"
    );
}

#[tokio::test]
async fn a_closed_event_receiver_does_not_stop_the_run() {
    let harness = Harness::start(Behaviour::reply("still answered")).await;
    let (events, received) = mpsc::unbounded_channel();
    drop(received);
    let outcome = harness
        .runtime
        .run(
            fixture("rag-chat.yml"),
            chat_input("What is ragd?"),
            events,
            CancellationToken::new(),
        )
        .await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(outcome.answer, "still answered");
}
