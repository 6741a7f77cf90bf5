//! Loading the fixtures, and every validation error at load.

use ragd_workflow::{AppMode, Flow, WorkflowError};
use serde_json::json;

use crate::{FIXTURE_DATASET, fixture, fixture_text};

fn load_error(yaml: &str) -> WorkflowError {
    match Flow::from_yaml(yaml) {
        Ok(_) => panic!("loaded, but should not have:\n{yaml}"),
        Err(error) => error,
    }
}

fn invalid_message(yaml: &str) -> String {
    match load_error(yaml) {
        WorkflowError::Invalid(message) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn rag_chat_export_loads_with_its_ui_keys() {
    let flow = fixture("rag-chat.yml");
    assert_eq!(flow.name(), "RAG chat");
    assert_eq!(flow.mode(), AppMode::AdvancedChat);
    assert_eq!(flow.mode().as_str(), "advanced-chat");
    assert!(flow.description().starts_with("Answers questions"));
    assert!(flow.start_variables().is_empty());
    assert_eq!(flow.dataset_ids(), vec![FIXTURE_DATASET.to_string()]);
    assert_eq!(
        flow.features()["opening_statement"],
        json!("Hello! Ask me anything about the documents.")
    );
    assert_eq!(
        flow.features()["suggested_questions"][1],
        json!("How do I import documents?")
    );
    assert!(flow.conversation_variable_defaults().is_empty());
}

#[test]
fn rag_workflow_declares_its_inputs() {
    let flow = fixture("rag-workflow.yml");
    assert_eq!(flow.mode(), AppMode::Workflow);
    let variables = flow.start_variables();
    assert_eq!(variables.len(), 1);
    assert_eq!(variables[0].variable, "question");
    assert_eq!(variables[0].label, "Question");
    assert_eq!(variables[0].kind, "text-input");
    assert!(variables[0].required);
    assert_eq!(variables[0].max_length, Some(256));
    let error = flow.check_inputs(&serde_json::Map::new()).unwrap_err();
    match error {
        WorkflowError::Input { variable, message } => {
            assert_eq!(variable, "question");
            assert!(message.contains("required"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_fixtures_load() {
    let branching = fixture("branching.yml");
    assert_eq!(branching.start_variables()[1].default, Some(json!(1)));
    assert!(branching.features().as_object().unwrap().is_empty());
    assert!(branching.dataset_ids().is_empty());
    let extract = fixture("extract.yml");
    assert_eq!(extract.start_variables()[0].kind, "paragraph");
}

#[test]
fn invalid_fixtures_are_rejected_with_what_is_wrong() {
    match load_error(&fixture_text("invalid/code-node.yml")) {
        WorkflowError::UnsupportedNode {
            node_id,
            title,
            node_type,
            supported,
        } => {
            assert_eq!(
                (node_id.as_str(), title.as_str(), node_type.as_str()),
                ("shout", "Shout", "code")
            );
            assert!(supported.contains("knowledge-retrieval"));
        }
        other => panic!("{other:?}"),
    }
    let cycle = invalid_message(&fixture_text("invalid/cycle.yml"));
    assert!(
        cycle.contains("cycle")
            && cycle.contains("b (B)")
            && cycle.contains("c (C)")
            && cycle.contains("d (D)"),
        "{cycle}"
    );
    assert!(!cycle.contains("a (Start)"), "{cycle}");
    let dangling = invalid_message(&fixture_text("invalid/dangling-edge.yml"));
    assert!(
        dangling.contains("llm-ghost")
            && dangling.contains("ghost")
            && dangling.contains("dangling"),
        "{dangling}"
    );
    let missing = invalid_message(&fixture_text("invalid/missing-start.yml"));
    assert!(missing.contains("no start node"), "{missing}");
    let unknown = invalid_message(&fixture_text("invalid/unknown-variable.yml"));
    assert!(
        unknown.contains("answer") && unknown.contains("retrieval.result"),
        "{unknown}"
    );
    let mode = invalid_message(&fixture_text("invalid/bad-mode.yml"));
    assert!(mode.contains("agent-chat"), "{mode}");
    let not_yaml = invalid_message(&fixture_text("invalid/not-yaml.yml"));
    assert!(not_yaml.contains("not YAML"), "{not_yaml}");
}

const HEADER: &str = "app: {name: t, mode: MODE}\nkind: app\nversion: 0.3.1\nworkflow:\n  graph:\n";

fn graph(mode: &str, body: &str) -> String {
    format!("{}{body}", HEADER.replace("MODE", mode))
}

#[test]
fn mode_specific_requirements() {
    let no_answer = graph(
        "advanced-chat",
        "    nodes:\n    - {id: s, data: {type: start, title: S}}\n    - {id: e, data: {type: end, title: E, outputs: []}}\n    edges: [{source: s, target: e}]\n",
    );
    assert!(invalid_message(&no_answer).contains("answer node"));
    let no_end = graph(
        "workflow",
        "    nodes:\n    - {id: s, data: {type: start, title: S}}\n    - {id: a, data: {type: answer, title: A, answer: x}}\n    edges: [{source: s, target: a}]\n",
    );
    assert!(invalid_message(&no_end).contains("end node"));
    let two_starts = graph(
        "workflow",
        "    nodes:\n    - {id: s1, data: {type: start, title: S}}\n    - {id: s2, data: {type: start, title: S}}\n    - {id: e, data: {type: end, title: E}}\n    edges: []\n",
    );
    let message = invalid_message(&two_starts);
    assert!(
        message.contains("s1") && message.contains("s2"),
        "{message}"
    );
    let chat_mode = "app: {name: t, mode: chat}\nkind: app\n";
    assert!(invalid_message(chat_mode).contains("`chat`"));
    assert!(
        invalid_message("app: {name: t, mode: workflow}\nkind: plugin\nworkflow: {}\n")
            .contains("plugin")
    );
    assert!(invalid_message("- just\n- a list\n").contains("mapping"));
}

#[test]
fn references_must_name_known_nodes() {
    let selector = graph(
        "workflow",
        "    nodes:\n    - {id: s, data: {type: start, title: S}}\n    - {id: e, data: {type: end, title: End, outputs: [{variable: x, value_selector: [nowhere, text]}]}}\n    edges: [{source: s, target: e}]\n",
    );
    let message = invalid_message(&selector);
    assert!(
        message.contains("e (End)") && message.contains("nowhere.text"),
        "{message}"
    );
    // sys, env and conversation scopes and the LLM's own context are fine.
    let fine = graph(
        "advanced-chat",
        r#"    nodes:
    - {id: s, data: {type: start, title: S}}
    - id: l
      data:
        type: llm
        title: L
        model: {provider: openai, name: m, mode: chat}
        context: {enabled: false, variable_selector: []}
        prompt_template: [{role: system, text: "{{#context#}} {{#env.tone#}} {{#conversation.name#}}"}, {role: user, text: "{{#sys.query#}}"}]
    - {id: a, data: {type: answer, title: A, answer: "{{#l.text#}} {{#sys.dialogue_count#}}"}}
    edges: [{source: s, target: l}, {source: l, target: a}]
"#,
    );
    Flow::from_yaml(&fine).unwrap();
    let template = graph(
        "advanced-chat",
        r#"    nodes:
    - {id: s, data: {type: start, title: S}}
    - id: h
      data: {type: http-request, title: Fetch, method: get, url: "http://x/{{#ghost.id#}}"}
    - {id: a, data: {type: answer, title: A, answer: ok}}
    edges: [{source: s, target: h}, {source: h, target: a}]
"#,
    );
    let message = invalid_message(&template);
    assert!(
        message.contains("h (Fetch)") && message.contains("ghost.id"),
        "{message}"
    );
}

#[test]
fn branch_handles_are_checked() {
    let classifier = graph(
        "workflow",
        r#"    nodes:
    - {id: s, data: {type: start, title: S}}
    - id: q
      data:
        type: question-classifier
        title: Q
        model: {provider: openai, name: m, mode: chat}
        query_variable_selector: [sys, user_id]
        classes: [{id: '1', name: A}, {id: '2', name: B}]
    - {id: e, data: {type: end, title: E}}
    edges: [{source: s, target: q}, {id: q-e, source: q, target: e, sourceHandle: '3'}]
"#,
    );
    let message = invalid_message(&classifier);
    assert!(
        message.contains("q-e") && message.contains("class id"),
        "{message}"
    );
    let fail_branch = graph(
        "workflow",
        "    nodes:\n    - {id: s, data: {type: start, title: S}}\n    - {id: e, data: {type: end, title: E}}\n    edges: [{id: bad, source: s, target: e, sourceHandle: fail-branch}]\n",
    );
    assert!(invalid_message(&fail_branch).contains("fail-branch"));
}

#[test]
fn node_configuration_errors_name_the_node_and_field() {
    let bad_type = graph(
        "workflow",
        "    nodes:\n    - {id: s, data: {type: start, title: S, variables: {not: a list}}}\n    - {id: e, data: {type: end, title: E}}\n    edges: []\n",
    );
    let message = invalid_message(&bad_type);
    assert!(
        message.contains("node s (S)") && message.contains("variables"),
        "{message}"
    );
    let bad_operator = graph(
        "workflow",
        r#"    nodes:
    - {id: s, data: {type: start, title: S}}
    - {id: i, data: {type: if-else, title: I, cases: [{case_id: c, conditions: [{variable_selector: [s, x], comparison_operator: between, value: '1'}]}]}}
    - {id: e, data: {type: end, title: E}}
    edges: [{source: s, target: i}, {source: i, target: e, sourceHandle: c}]
"#,
    );
    assert!(invalid_message(&bad_operator).contains("between"));
    let bad_jinja = graph(
        "workflow",
        "    nodes:\n    - {id: s, data: {type: start, title: S}}\n    - {id: t, data: {type: template-transform, title: T, template: '{% for %}', variables: []}}\n    - {id: e, data: {type: end, title: E}}\n    edges: []\n",
    );
    assert!(invalid_message(&bad_jinja).contains("node t (T)"));
    let unsupported = graph(
        "workflow",
        "    nodes:\n    - {id: s, data: {type: start, title: S}}\n    - {id: it, data: {type: iteration, title: Loop}}\n    - {id: e, data: {type: end, title: E}}\n    edges: []\n",
    );
    assert!(
        matches!(load_error(&unsupported), WorkflowError::UnsupportedNode { node_type, .. } if node_type == "iteration")
    );
}

#[test]
fn variables_from_the_file() {
    let text = r#"
app: {name: vars, mode: advanced-chat}
kind: app
workflow:
  conversation_variables:
  - {id: c1, name: topic, value_type: string, value: general, description: '', selector: [conversation, topic]}
  - {id: c2, name: turns, value_type: number, value: 0, description: '', selector: [conversation, turns]}
  environment_variables:
  - {id: e1, name: tone, value_type: string, value: friendly}
  graph:
    nodes:
    - {id: s, data: {type: start, title: S}}
    - {id: a, data: {type: answer, title: A, answer: "{{#conversation.topic#}} {{#env.tone#}}"}}
    edges: [{source: s, target: a}]
"#;
    let flow = Flow::from_yaml(text).unwrap();
    let defaults = flow.conversation_variable_defaults();
    assert_eq!(defaults["topic"], json!("general"));
    assert_eq!(defaults["turns"], json!(0));
}
