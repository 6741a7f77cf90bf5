//! Independent branches run concurrently; one runtime serves concurrent runs.

use std::time::{Duration, Instant};

use ragd_core::run::RunStatus;
use ragd_llm::test_server::Behaviour;
use serde_json::json;

use crate::{Harness, TestKnowledge, config, fixture, flow, input, inputs, node};

const PARALLEL: &str = r#"
app: {name: parallel, mode: workflow}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: q, label: Q, type: text-input, required: true}]}}
    - {id: kr1, data: {type: knowledge-retrieval, title: K1, query_variable_selector: [s, q], dataset_ids: [d1]}}
    - {id: kr2, data: {type: knowledge-retrieval, title: K2, query_variable_selector: [s, q], dataset_ids: [d2]}}
    - {id: llm1, data: {type: llm, title: L1, model: {provider: openai, name: m}, prompt_template: [{role: user, text: "one {{#s.q#}}"}]}}
    - {id: llm2, data: {type: llm, title: L2, model: {provider: openai, name: m}, prompt_template: [{role: user, text: "two {{#s.q#}}"}]}}
    - id: e
      data:
        type: end
        title: E
        outputs:
        - {variable: a, value_selector: [llm1, text]}
        - {variable: b, value_selector: [llm2, text]}
    edges:
    - {source: s, target: kr1}
    - {source: s, target: kr2}
    - {source: kr1, target: llm1}
    - {source: kr2, target: llm2}
    - {source: llm1, target: e}
    - {source: llm2, target: e}
"#;

#[tokio::test]
async fn independent_branches_run_at_the_same_time() {
    // Each branch: a 500 ms retrieval, then a 500 ms LLM. Sequential would take ≥ 2 s.
    let harness = Harness::with(
        Behaviour::echo().first_token_delay(Duration::from_millis(500)),
        TestKnowledge::corpus().with_delay(Duration::from_millis(500)),
        config(),
    )
    .await;
    let mut run = input("run-parallel");
    run.inputs = inputs(json!({ "q": "ragd" }));
    let started = Instant::now();
    let (outcome, _) = harness.run(&flow(PARALLEL), run).await;
    let elapsed = started.elapsed();
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs,
        json!({ "a": "one ragd", "b": "two ragd" })
    );
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1700),
        "branches did not overlap: {elapsed:?}"
    );
    // Both retrievals started before either finished.
    let kr1 = node(&outcome, "kr1");
    let kr2 = node(&outcome, "kr2");
    assert_eq!((kr1.index.min(kr2.index), kr1.index.max(kr2.index)), (2, 3));
    assert!(node(&outcome, "e").predecessor_node_id.is_some());
}

#[tokio::test]
async fn concurrent_runs_share_one_runtime() {
    let harness = Harness::start(
        Behaviour::reply("shared answer").first_token_delay(Duration::from_millis(500)),
    )
    .await;
    let flow = fixture("rag-chat.yml");
    let started = Instant::now();
    let runs = (0..4).map(|i| {
        let mut run = input(&format!("run-{i}"));
        run.query = Some(format!("question {i} about ragd"));
        harness.run(&flow, run)
    });
    let outcomes = futures::future::join_all(runs).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    for (i, (outcome, _)) in outcomes.iter().enumerate() {
        assert_eq!(outcome.record.status, RunStatus::Succeeded);
        assert_eq!(outcome.record.id, format!("run-{i}"));
        assert_eq!(outcome.answer, "shared answer");
    }
    assert_eq!(harness.server.request_count(), 4);
}
