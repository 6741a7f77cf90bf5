//! Independent branches run concurrently; one runtime serves concurrent runs.

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

/// Limits short enough that an executor running the branches one after the other fails quickly (its
/// first retrieval would wait at the barrier for a second one that never starts).
fn short_limits() -> ragd_config::WorkflowConfig {
    let mut limits = config();
    limits.node_timeout_secs = 5;
    limits
}

#[tokio::test]
async fn independent_branches_run_at_the_same_time() {
    // The two retrievals meet at a barrier of two: the run only gets past them if both are in flight at
    // once. Sequential branches would time the first retrieval out.
    let harness = Harness::with(
        Behaviour::echo(),
        TestKnowledge::corpus().with_barrier(2),
        short_limits(),
    )
    .await;
    let mut run = input("run-parallel");
    run.inputs = inputs(json!({ "q": "ragd" }));
    let (outcome, _) = harness.run(&flow(PARALLEL), run).await;
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
    // Both retrievals started before either finished.
    let kr1 = node(&outcome, "kr1");
    let kr2 = node(&outcome, "kr2");
    assert_eq!((kr1.index.min(kr2.index), kr1.index.max(kr2.index)), (2, 3));
    assert!(node(&outcome, "e").predecessor_node_id.is_some());
}

#[tokio::test]
async fn concurrent_runs_share_one_runtime() {
    // Four runs of the RAG chat flow: their retrievals meet at a barrier of four.
    let harness = Harness::with(
        Behaviour::reply("shared answer"),
        TestKnowledge::corpus().with_barrier(4),
        short_limits(),
    )
    .await;
    let flow = fixture("rag-chat.yml");
    let runs = (0..4).map(|i| {
        let mut run = input(&format!("run-{i}"));
        run.query = Some(format!("question {i} about ragd"));
        harness.run(&flow, run)
    });
    let outcomes = futures::future::join_all(runs).await;
    for (i, (outcome, _)) in outcomes.iter().enumerate() {
        assert_eq!(
            outcome.record.status,
            RunStatus::Succeeded,
            "{:?}",
            outcome.record.error
        );
        assert_eq!(outcome.record.id, format!("run-{i}"));
        assert_eq!(outcome.answer, "shared answer");
    }
    assert_eq!(harness.server.request_count(), 4);
}
