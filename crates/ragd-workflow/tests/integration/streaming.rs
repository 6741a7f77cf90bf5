//! LLM tokens streamed live through answer nodes (advanced-chat) and end nodes (workflow).

use std::time::Duration;

use ragd_core::run::RunStatus;
use ragd_llm::test_server::Behaviour;
use ragd_workflow::RunEvent;

use crate::{Harness, answer_text, event_names, fixture, flow, input, node};

fn position(names: &[String], wanted: &str) -> usize {
    names
        .iter()
        .position(|name| name == wanted)
        .unwrap_or_else(|| panic!("no {wanted} in {names:?}"))
}

fn positions(names: &[String], wanted: &str) -> Vec<usize> {
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| *name == wanted)
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test]
async fn llm_tokens_stream_through_the_answer_while_generating() {
    let reply = "one two three four five six";
    let harness =
        Harness::start(Behaviour::reply(reply).chunk_delay(Duration::from_millis(100))).await;
    let mut run = input("run-stream");
    run.query = Some("What is ragd?".into());
    let (outcome, timed) = harness.run_timed(&fixture("rag-chat.yml"), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    let events: Vec<RunEvent> = timed.iter().map(|(_, e)| e.clone()).collect();
    let names = event_names(&events);
    let answers = positions(&names, "answer");
    // One event per token, all while the LLM node runs (before its node_finished)…
    assert_eq!(answers.len(), 6, "{names:?}");
    assert!(answers[0] > position(&names, "started:llm"));
    let llm_finished = position(&names, "finished:llm");
    assert!(*answers.last().unwrap() < llm_finished, "{names:?}");
    // …and received as generated: the first token half a second before the LLM is done.
    let first_token_at = timed[answers[0]].0;
    let llm_done_at = timed[llm_finished].0;
    assert!(
        llm_done_at - first_token_at >= Duration::from_millis(350),
        "{first_token_at:?} vs {llm_done_at:?}"
    );
    // The answer node then has nothing left to send; the text was sent once.
    assert_eq!(answer_text(&events), reply);
    assert_eq!(outcome.answer, reply);
    assert_eq!(
        node(&outcome, "answer").outputs["answer"],
        serde_json::json!(reply)
    );
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, RunEvent::Answer { node_id, .. } if node_id != "answer"))
    );
}

#[tokio::test]
async fn text_around_the_llm_reference_is_flushed_in_order() {
    let harness = Harness::start(
        Behaviour::reply("big answer").first_token_delay(Duration::from_millis(300)),
    )
    .await;
    let yaml = r#"
app: {name: around, mode: advanced-chat}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S}}
    - id: gate
      data:
        type: if-else
        title: Gate
        cases: [{case_id: go, logical_operator: and, conditions: [{variable_selector: [sys, query], comparison_operator: not empty, value: ''}]}]
    - id: llm
      data:
        type: llm
        title: LLM
        model: {provider: openai, name: m, mode: chat}
        prompt_template: [{role: user, text: "{{#sys.query#}}"}]
    - {id: a, data: {type: answer, title: A, answer: "Q: {{#sys.query#}}\nA: {{#llm.text#}} (tokens: {{#llm.usage.total_tokens#}})"}}
    - {id: nope, data: {type: answer, title: Nope, answer: "empty question"}}
    edges:
    - {source: s, target: gate}
    - {source: gate, target: llm, sourceHandle: go}
    - {source: gate, target: nope, sourceHandle: 'false'}
    - {source: llm, target: a}
"#;
    let mut run = input("run-around");
    run.query = Some("why".into());
    let (outcome, timed) = harness.run_timed(&flow(yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    let events: Vec<RunEvent> = timed.iter().map(|(_, e)| e.clone()).collect();
    let names = event_names(&events);
    let answers = positions(&names, "answer");
    let llm_finished = position(&names, "finished:llm");
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Answer { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        [
            "Q: ",
            "why",
            "\nA: ",
            "big",
            " answer",
            " (tokens: ",
            "3",
            ")"
        ]
    );
    // The text before the reference goes out when the LLM starts, before its first token (a branch
    // before the LLM does not prevent streaming); the tokens as they come; the rest once it finished.
    assert!(answers[2] > position(&names, "started:llm"));
    assert!(
        timed[llm_finished].0 - timed[answers[2]].0 >= Duration::from_millis(250),
        "{timed:?}"
    );
    assert!(answers[4] < llm_finished, "{names:?}");
    let tokens = node(&outcome, "llm").usage.total_tokens;
    assert_eq!(
        outcome.answer,
        format!("Q: why\nA: big answer (tokens: {tokens})")
    );
    assert_eq!(answer_text(&events), outcome.answer);
    assert!(!event_names(&events).contains(&"started:nope".to_string()));
}

#[tokio::test]
async fn no_live_stream_past_a_branch_after_the_llm() {
    let harness = Harness::start(Behaviour::reply("alpha beta gamma")).await;
    let yaml = r#"
app: {name: branch-after, mode: advanced-chat}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S}}
    - {id: llm, data: {type: llm, title: LLM, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "{{#sys.query#}}"}]}}
    - id: check
      data:
        type: if-else
        title: Check
        cases: [{case_id: long, logical_operator: and, conditions: [{variable_selector: [llm, text], comparison_operator: contains, value: beta}]}]
    - {id: a, data: {type: answer, title: A, answer: "{{#llm.text#}}!"}}
    - {id: b, data: {type: answer, title: B, answer: "short: {{#llm.text#}}"}}
    edges:
    - {source: s, target: llm}
    - {source: llm, target: check}
    - {source: check, target: a, sourceHandle: long}
    - {source: check, target: b, sourceHandle: 'false'}
"#;
    let mut run = input("run-branch-after");
    run.query = Some("x".into());
    let (outcome, events) = harness.run(&flow(yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    let names = event_names(&events);
    let answers = positions(&names, "answer");
    assert_eq!(answers.len(), 2, "the LLM text, then the `!`: {names:?}");
    assert!(answers[0] > position(&names, "started:a"), "{names:?}");
    assert!(answers[1] < position(&names, "finished:a"), "{names:?}");
    assert_eq!(outcome.answer, "alpha beta gamma!");
}

#[tokio::test]
async fn answers_in_sequence_and_in_parallel_never_interleave() {
    let harness = Harness::start(Behaviour::echo().chunk_delay(Duration::from_millis(15))).await;
    let yaml = r#"
app: {name: many, mode: advanced-chat}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S}}
    - {id: l1, data: {type: llm, title: L1, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "a1 a2 a3 a4 a5 a6"}]}}
    - {id: l2, data: {type: llm, title: L2, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "b1 b2 b3 b4 b5 b6"}]}}
    - {id: x1, data: {type: answer, title: X1, answer: "[{{#l1.text#}}]"}}
    - {id: x2, data: {type: answer, title: X2, answer: "({{#l2.text#}})"}}
    - {id: l3, data: {type: llm, title: L3, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "c1 c2"}]}}
    - {id: x3, data: {type: answer, title: X3, answer: " then {{#l3.text#}}"}}
    edges:
    - {source: s, target: l1}
    - {source: s, target: l2}
    - {source: l1, target: x1}
    - {source: l2, target: x2}
    - {source: x1, target: l3}
    - {source: x2, target: l3}
    - {source: l3, target: x3}
"#;
    let mut run = input("run-many");
    run.query = Some("go".into());
    let (outcome, events) = harness.run(&flow(yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    let first = "[a1 a2 a3 a4 a5 a6]";
    let second = "(b1 b2 b3 b4 b5 b6)";
    let either = [
        format!("{first}{second} then c1 c2"),
        format!("{second}{first} then c1 c2"),
    ];
    assert!(either.contains(&outcome.answer), "{}", outcome.answer);
    assert_eq!(answer_text(&events), outcome.answer);
}

#[tokio::test]
async fn workflow_end_streams_llm_outputs_as_text_chunks() {
    let harness =
        Harness::start(Behaviour::reply("w1 w2 w3").chunk_delay(Duration::from_millis(10))).await;
    let yaml = r#"
app: {name: chunks, mode: workflow}
kind: app
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: q, label: Q, type: text-input, required: true}]}}
    - {id: llm, data: {type: llm, title: LLM, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "{{#s.q#}}"}]}}
    - id: e
      data:
        type: end
        title: E
        outputs:
        - {variable: question, value_selector: [s, q]}
        - {variable: answer, value_selector: [llm, text]}
        - {variable: tokens, value_selector: [llm, usage, total_tokens]}
    edges: [{source: s, target: llm}, {source: llm, target: e}]
"#;
    let mut run = input("run-chunks");
    run.inputs = crate::inputs(serde_json::json!({ "q": "hi" }));
    let (outcome, events) = harness.run(&flow(yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    let names = event_names(&events);
    let chunks = positions(&names, "text_chunk");
    assert_eq!(chunks.len(), 3, "{names:?}");
    assert!(*chunks.last().unwrap() < position(&names, "finished:llm"));
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::TextChunk { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "w1 w2 w3");
    assert_eq!(
        outcome.record.outputs["answer"],
        serde_json::json!("w1 w2 w3")
    );
    assert_eq!(outcome.record.outputs["question"], serde_json::json!("hi"));
    assert!(outcome.record.outputs["tokens"].as_u64().unwrap() > 0);
}
