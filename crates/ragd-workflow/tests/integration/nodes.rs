//! Every node type at run time, through the fixtures and small inline flows.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;
use ragd_core::run::{NodeStatus, RunStatus};
use ragd_llm::Role;
use ragd_llm::test_server::Behaviour;
use ragd_workflow::{RunEvent, Turn};
use serde_json::{Value, json};

use crate::{
    FIXTURE_DATASET, Harness, TestKnowledge, config, fixture, fixture_text, flow, input, inputs,
    node, ran,
};

#[tokio::test]
async fn rag_chat_retrieves_prompts_with_context_and_memory_and_answers() {
    let reply = "ragd is a retrieval service for RAG.";
    let harness = Harness::start(Behaviour::reply(reply)).await;
    let flow = fixture("rag-chat.yml");
    let mut run = input("run-chat");
    run.query = Some("What is ragd, the retrieval service?".into());
    run.conversation_id = Some("conv-1".into());
    run.dialogue_count = 6;
    run.memory = (0..6)
        .map(|i| Turn {
            query: format!("q{i}"),
            answer: format!("a{i}"),
        })
        .collect();
    let (outcome, events) = harness.run(&flow, run).await;

    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(outcome.record.mode, "advanced-chat");
    assert_eq!(outcome.record.id, "run-chat");
    assert_eq!(outcome.record.conversation_id.as_deref(), Some("conv-1"));
    assert_eq!(outcome.answer, reply);
    assert_eq!(outcome.record.outputs, json!({ "answer": reply }));
    assert_eq!(crate::answer_text(&events), reply);
    assert_eq!(
        ran(&outcome),
        vec!["1718000000001", "1718000000002", "llm", "answer"]
    );

    // Retrieval: the node's settings reach Knowledge; hits come back as resources and as `result`.
    let queries = harness.knowledge.queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0].dataset_ids, vec![FIXTURE_DATASET.to_string()]);
    assert_eq!(queries[0].query, "What is ragd, the retrieval service?");
    assert_eq!(queries[0].top_k, 3);
    assert_eq!(queries[0].score_threshold, None);
    assert_eq!(queries[0].weights, Some((0.7, 0.3)));
    assert!(!outcome.retriever_resources.is_empty());
    assert_eq!(outcome.retriever_resources[0].document_name, "intro.md");
    assert!(
        events.iter().any(
            |e| matches!(e, RunEvent::Retrieved(hits) if hits == &outcome.retriever_resources)
        )
    );
    let retrieval = node(&outcome, "1718000000002");
    let first = &retrieval.outputs["result"][0];
    assert_eq!(first["metadata"]["_source"], json!("knowledge"));
    assert_eq!(first["metadata"]["dataset_id"], json!(FIXTURE_DATASET));
    assert_eq!(first["metadata"]["position"], json!(1));
    assert_eq!(first["title"], json!("intro.md"));
    assert!(
        first["content"]
            .as_str()
            .unwrap()
            .contains("retrieval service")
    );

    // The prompt: system with the context, the last 4 turns, then the query.
    let requests = harness.server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.model(), Some("gpt-4o-mini"));
    assert!(request.stream());
    assert_eq!(request.body["temperature"], json!(0.2));
    assert_eq!(request.body["max_tokens"], json!(512));
    let messages = &request.messages;
    assert_eq!(messages[0].role, Role::System);
    assert!(
        messages[0]
            .content
            .contains("<context>\nragd is a retrieval service for RAG"),
        "{}",
        messages[0].content
    );
    let history: Vec<(Role, &str)> = messages[1..9]
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(history[0], (Role::User, "q2"));
    assert_eq!(history[1], (Role::Assistant, "a2"));
    assert_eq!(history[7], (Role::Assistant, "a5"));
    assert_eq!(messages.len(), 10);
    assert_eq!(messages[9].role, Role::User);
    assert_eq!(messages[9].content, "What is ragd, the retrieval service?");

    // Usage and records.
    let llm = node(&outcome, "llm");
    assert_eq!(llm.status, NodeStatus::Succeeded);
    assert!(llm.usage.total_tokens > 0);
    assert!(llm.usage.time_to_first_token.is_some());
    assert_eq!(llm.outputs["text"], json!(reply));
    assert_eq!(
        llm.outputs["usage"]["total_tokens"],
        json!(llm.usage.total_tokens)
    );
    assert_eq!(llm.outputs["usage"]["currency"], json!("USD"));
    assert_eq!(llm.process_data["prompts"].as_array().unwrap().len(), 10);
    assert!(llm.process_data["time_to_first_token"].is_number());
    assert_eq!(llm.predecessor_node_id.as_deref(), Some("1718000000002"));
    assert_eq!(outcome.record.usage.total_tokens, llm.usage.total_tokens);
    assert!(llm.finished_at.unwrap() >= llm.created_at);
    let answer = node(&outcome, "answer");
    assert_eq!(answer.outputs["answer"], json!(reply));
    let start = node(&outcome, "1718000000001");
    assert_eq!(
        start.outputs["sys.query"],
        json!("What is ragd, the retrieval service?")
    );
    assert_eq!(start.outputs["sys.dialogue_count"], json!(6));
    assert_eq!(
        outcome.record.inputs["sys.query"],
        json!("What is ragd, the retrieval service?")
    );
}

#[tokio::test]
async fn rag_workflow_outputs_the_llm_text() {
    let reply = "Import with ragd import.";
    let harness = Harness::start(Behaviour::reply(reply)).await;
    let flow = fixture("rag-workflow.yml");
    let mut run = input("run-wf");
    run.inputs = inputs(json!({ "question": "How do I import documents?" }));
    let (outcome, events) = harness.run(&flow, run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(outcome.record.mode, "workflow");
    assert_eq!(outcome.record.outputs, json!({ "answer": reply }));
    assert_eq!(outcome.answer, "");
    assert_eq!(
        outcome.record.inputs["question"],
        json!("How do I import documents?")
    );
    let request = &harness.server.requests()[0];
    assert_eq!(request.messages[1].content, "How do I import documents?");
    assert!(
        request.messages[0]
            .content
            .contains("Import documents with ragd import")
    );
    let chunks: String = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::TextChunk {
                text,
                from_variable_selector,
            } => {
                assert_eq!(
                    from_variable_selector,
                    &vec!["llm".to_string(), "text".to_string()]
                );
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(chunks, reply);
    assert!(!events.iter().any(|e| matches!(e, RunEvent::Answer { .. })));
}

#[tokio::test]
async fn branching_takes_the_matching_branches_and_skips_the_others() {
    let harness = Harness::start(Behaviour::reply(
        r#"{"category_id": "1", "category_name": "Question"}"#,
    ))
    .await;
    let flow = fixture("branching.yml");
    let mut run = input("run-branch-1");
    run.inputs = inputs(json!({ "topic": "Why is the sky blue?", "level": 5 }));
    let (outcome, _) = harness.run(&flow, run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs,
        json!({
            "text": "Detailed notes on Why is the sky blue? (level 5)",
            "note": "asked: Why is the sky blue?",
            "kind": "Question",
            "detailed": true,
        })
    );
    let names = ran(&outcome);
    assert!(
        !names.contains(&"brief") && !names.contains(&"statement_note"),
        "{names:?}"
    );
    assert_eq!(names.len(), 8);
    let check = node(&outcome, "check");
    assert_eq!(
        check.outputs,
        json!({ "result": true, "selected_case_id": "detailed" })
    );
    assert_eq!(
        check.process_data["condition_results"][0]["final_result"],
        json!(true)
    );
    let classify = node(&outcome, "classify");
    assert_eq!(classify.outputs["class_id"], json!("1"));
    assert!(classify.usage.total_tokens > 0);
    assert_eq!(
        node(&outcome, "detailed").predecessor_node_id.as_deref(),
        Some("check")
    );
    assert_eq!(
        node(&outcome, "notes").outputs,
        json!({ "note": { "output": "asked: Why is the sky blue?" } })
    );
    // The classifier's prompt lists the classes and the instruction; the query is the user message.
    let request = &harness.server.requests()[0];
    assert!(
        request.messages[0]
            .content
            .contains(r#""category_name":"Statement""#),
        "{}",
        request.messages[0].content
    );
    assert!(request.messages[0].content.contains("asked as a question"));
    assert_eq!(request.messages[1].content, "Why is the sky blue?");

    // The other way: default level 1 (false branch), and a free-text answer naming a class.
    harness
        .server
        .set_behaviour(Behaviour::reply("That is a Statement, I think."));
    let mut run = input("run-branch-2");
    run.inputs = inputs(json!({ "topic": "the sky is blue" }));
    let (outcome, _) = harness.run(&flow, run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs,
        json!({ "text": "Brief: THE SKY IS BLUE", "note": "stated: the sky is blue", "kind": "Statement", "detailed": false })
    );
    let names = ran(&outcome);
    assert!(
        !names.contains(&"detailed") && !names.contains(&"question_note"),
        "{names:?}"
    );
    assert_eq!(
        node(&outcome, "check").outputs["selected_case_id"],
        json!("false")
    );
}

#[tokio::test]
async fn classifier_falls_back_to_the_first_class() {
    let harness = Harness::start(Behaviour::reply("I cannot decide.")).await;
    let mut run = input("run-fallback");
    run.inputs = inputs(json!({ "topic": "hmm" }));
    let (outcome, _) = harness.run(&fixture("branching.yml"), run).await;
    assert_eq!(outcome.record.outputs["kind"], json!("Question"));
}

/// One request the HTTP test server received: method, URI, headers, body.
type Received = (String, Uri, HeaderMap, String);

/// The forecast service of `extract.yml`: records what it got, answers a fixed status.
#[derive(Clone, Default)]
struct Recorder {
    requests: Arc<Mutex<Vec<Received>>>,
    status: Arc<Mutex<u16>>,
    body: Arc<Mutex<String>>,
}

async fn record(
    State(recorder): State<Recorder>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(String, String); 1], String) {
    recorder.requests.lock().unwrap().push((
        method.to_string(),
        uri,
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    let status = StatusCode::from_u16(*recorder.status.lock().unwrap()).unwrap();
    (
        status,
        [("x-served-by".to_string(), "test".to_string())],
        recorder.body.lock().unwrap().clone(),
    )
}

async fn http_server(status: u16, body: &str) -> (String, Recorder) {
    let recorder = Recorder::default();
    *recorder.status.lock().unwrap() = status;
    *recorder.body.lock().unwrap() = body.to_string();
    let app = Router::new()
        .fallback(any(record))
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), recorder)
}

fn extract_flow(api_base: &str) -> Arc<ragd_workflow::Flow> {
    flow(&fixture_text("extract.yml").replace("http://127.0.0.1:9", api_base))
}

#[tokio::test]
async fn extract_then_call_an_http_service() {
    let harness = Harness::start(Behaviour::reply(r#"Sure: {"city": "Paris", "days": "3"}"#)).await;
    let (base, recorder) = http_server(200, r#"{"forecast": "sunny"}"#).await;
    let mut run = input("run-extract");
    run.inputs = inputs(json!({ "request": "What's the weather in Paris for the next 3 days?" }));
    let (outcome, _) = harness.run(&extract_flow(&base), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs,
        json!({ "city": "Paris", "days": 3, "extracted": 1, "status": 200, "forecast": r#"{"forecast": "sunny"}"# })
    );
    let extract = node(&outcome, "extract");
    assert_eq!(extract.outputs["__reason"], Value::Null);
    assert!(extract.usage.total_tokens > 0);
    let system = &harness.server.requests()[0].messages[0].content;
    assert!(
        system.contains(r#""city":{"#) && system.contains("The city to forecast"),
        "{system}"
    );
    assert!(system.contains("how many days ahead"));

    let requests = recorder.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (method, uri, headers, body) = &requests[0];
    assert_eq!(method, "POST");
    assert_eq!(uri.path(), "/forecast");
    assert_eq!(uri.query(), Some("units=metric"));
    assert_eq!(headers["authorization"], "Bearer test-key");
    assert_eq!(headers["x-trace"], "ragd-run-extract");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({ "city": "Paris", "days": 3 })
    );
    let call = node(&outcome, "call");
    assert_eq!(call.outputs["headers"]["x-served-by"], json!("test"));
    assert!(
        call.process_data["request"]
            .as_str()
            .unwrap()
            .starts_with("POST http://")
    );

    // A 500 is an answer, not a failure; a missing required parameter is reported, not fatal.
    *recorder.status.lock().unwrap() = 500;
    harness
        .server
        .set_behaviour(Behaviour::reply(r#"{"days": 2}"#));
    let mut run = input("run-extract-2");
    run.inputs = inputs(json!({ "request": "weather for two days" }));
    let (outcome, _) = harness.run(&extract_flow(&base), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(outcome.record.outputs["status"], json!(500));
    assert_eq!(outcome.record.outputs["extracted"], json!(0));
    assert_eq!(outcome.record.outputs["city"], json!(""));
    assert!(
        node(&outcome, "extract").outputs["__reason"]
            .as_str()
            .unwrap()
            .contains("city")
    );
}

#[tokio::test]
async fn http_connection_errors_fail_the_node() {
    let harness = Harness::start(Behaviour::reply(r#"{"city": "Oslo"}"#)).await;
    // A port nothing listens on: bind, note the port, drop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut run = input("run-refused");
    run.inputs = inputs(json!({ "request": "Oslo" }));
    let (outcome, _) = harness
        .run(&extract_flow(&format!("http://127.0.0.1:{port}")), run)
        .await;
    assert_eq!(outcome.record.status, RunStatus::Failed);
    let call = node(&outcome, "call");
    assert_eq!(call.status, NodeStatus::Failed);
    let error = call.error.as_deref().unwrap();
    assert!(
        error.contains("request to http://127.0.0.1") && error.contains("/forecast"),
        "{error}"
    );
    assert_eq!(outcome.record.error.as_deref(), Some(error));
    assert!(!ran(&outcome).contains(&"end"));
}

#[tokio::test]
async fn http_bodies_auth_and_truncation() {
    let harness = Harness::with(Behaviour::default(), TestKnowledge::corpus(), {
        let mut config = config();
        config.http_max_response_bytes = 12;
        config
    })
    .await;
    let (base, recorder) = http_server(201, "0123456789abcdefghij").await;
    let yaml = format!(
        r#"
app: {{name: http, mode: workflow}}
kind: app
workflow:
  graph:
    nodes:
    - {{id: s, data: {{type: start, title: S, variables: [{{variable: name, label: Name, type: text-input, required: true}}]}}}}
    - id: form
      data:
        type: http-request
        title: Form
        method: put
        url: '{base}/form'
        headers: ''
        params: ''
        authorization: {{type: api-key, config: {{type: basic, api_key: 'user:pass'}}}}
        body:
          type: x-www-form-urlencoded
          data: [{{key: name, type: text, value: '{{{{#s.name#}}}}'}}, {{key: sign, type: text, value: 'a&b'}}]
    - id: multi
      data:
        type: http-request
        title: Multipart
        method: post
        url: '{base}/multi'
        authorization: {{type: api-key, config: {{type: custom, header: X-Api-Key, api_key: secret}}}}
        body: {{type: form-data, data: [{{key: field, type: text, value: '{{{{#s.name#}}}}'}}]}}
    - id: raw
      data:
        type: http-request
        title: Raw
        method: patch
        url: '{base}/raw'
        headers: "Content-Type: text/csv"
        body: {{type: raw-text, data: "a,b\n1,2"}}
    - id: e
      data:
        type: end
        title: E
        outputs:
        - {{variable: status, value_selector: [form, status_code]}}
        - {{variable: body, value_selector: [form, body]}}
    edges:
    - {{source: s, target: form}}
    - {{source: form, target: multi}}
    - {{source: multi, target: raw}}
    - {{source: raw, target: e}}
"#
    );
    let mut run = input("run-http");
    run.inputs = inputs(json!({ "name": "Zoë Smith" }));
    let (outcome, _) = harness.run(&flow(&yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs,
        json!({ "status": 201, "body": "0123456789ab" })
    );
    assert_eq!(
        node(&outcome, "form").process_data["truncated"],
        json!(true)
    );
    let requests = recorder.requests.lock().unwrap().clone();
    let (method, _, headers, body) = &requests[0];
    assert_eq!(method, "PUT");
    assert_eq!(headers["authorization"], "Basic dXNlcjpwYXNz");
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(body, "name=Zo%C3%AB+Smith&sign=a%26b");
    let (_, _, headers, body) = &requests[1];
    assert_eq!(headers["x-api-key"], "secret");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    assert!(
        body.contains("Content-Disposition: form-data; name=\"field\"\r\n\r\nZoë Smith\r\n"),
        "{body}"
    );
    let (method, _, headers, body) = &requests[2];
    assert_eq!(method, "PATCH");
    assert_eq!(headers["content-type"], "text/csv");
    assert_eq!(body, "a,b\n1,2");
}

#[tokio::test]
async fn llm_completion_mode_jinja_prompts_and_templates() {
    let harness = Harness::start(Behaviour::echo()).await;
    let yaml = r#"
app: {name: prompts, mode: workflow}
kind: app
workflow:
  environment_variables: [{name: tone, value_type: string, value: dry}]
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: topic, label: T, type: text-input, required: true}, {variable: n, label: N, type: number, required: false}]}}
    - id: kr
      data:
        type: knowledge-retrieval
        title: K
        query_variable_selector: [s, topic]
        dataset_ids: [d1]
        retrieval_mode: single
        single_retrieval_config: {model: {provider: openai, name: gpt, mode: chat}}
    - id: list
      data:
        type: template-transform
        title: List
        variables: [{variable: hits, value_selector: [kr, result]}, {variable: n, value_selector: [s, n]}]
        template: "{% for hit in hits %}{{ loop.index }}. {{ hit.title }}\n{% endfor %}n={{ n }}"
    - id: completion
      data:
        type: llm
        title: Completion
        model: {provider: openai, name: m1, mode: completion, completion_params: {stop: ["\n\n"], top_p: 0.9}}
        prompt_template: {text: "Write about {{#s.topic#}} in a {{#env.tone#}} tone."}
    - id: jinja
      data:
        type: llm
        title: Jinja
        model: {provider: unknown-provider, name: m2, mode: chat}
        prompt_config: {jinja2_variables: [{variable: topic, value_selector: [s, topic]}]}
        prompt_template:
        - {role: system, text: '', edition_type: jinja2, jinja2_text: "Topic: {{ topic | upper }}"}
        - {role: user, text: "{{#completion.text#}}"}
    - id: e
      data:
        type: end
        title: E
        outputs:
        - {variable: list, value_selector: [list, output]}
        - {variable: echoed, value_selector: [jinja, text]}
    edges:
    - {source: s, target: kr}
    - {source: kr, target: list}
    - {source: list, target: completion}
    - {source: completion, target: jinja}
    - {source: jinja, target: e}
"#;
    let mut run = input("run-prompts");
    run.inputs = inputs(json!({ "topic": "search weights" }));
    let (outcome, _) = harness.run(&flow(yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs["list"],
        json!("1. search.md\nn=None")
    );
    assert_eq!(harness.knowledge.queries.lock().unwrap()[0].top_k, 4);
    let requests = harness.server.requests();
    assert_eq!(requests[0].messages.len(), 1);
    assert_eq!(
        requests[0].messages[0].content,
        "Write about search weights in a dry tone."
    );
    assert_eq!(requests[0].body["stop"], json!(["\n\n"]));
    assert_eq!(requests[0].body["top_p"], json!(0.9));
    assert_eq!(requests[1].messages[0].content, "Topic: SEARCH WEIGHTS");
    assert_eq!(
        requests[1].messages[1].content,
        "Write about search weights in a dry tone."
    );
    assert_eq!(
        outcome.record.outputs["echoed"],
        json!("Write about search weights in a dry tone.")
    );
    // Usage of both LLM calls adds up.
    let total: u64 = outcome.nodes.iter().map(|n| n.usage.total_tokens).sum();
    assert_eq!(outcome.record.usage.total_tokens, total);
    assert!(total > 0);
}

#[tokio::test]
async fn chat_scopes_conversation_variables_and_legacy_if_else() {
    let harness = Harness::start(Behaviour::default()).await;
    let yaml = r#"
app: {name: scopes, mode: advanced-chat}
kind: app
workflow:
  conversation_variables: [{name: topic, value_type: string, value: general}, {name: level, value_type: number, value: 1}]
  environment_variables: [{name: greeting, value_type: string, value: Hi}]
  graph:
    nodes:
    - {id: s, data: {type: start, title: S}}
    - id: old
      data:
        type: if-else
        title: Old style
        logical_operator: or
        conditions:
        - {variable_selector: [sys, query], comparison_operator: contains, value: help}
        - {variable_selector: [conversation, level], comparison_operator: '>', value: '5'}
    - {id: yes, data: {type: answer, title: Yes, answer: "{{#env.greeting#}} {{#sys.user_id#}}, topic {{#conversation.topic#}}, turn {{#sys.dialogue_count#}}."}}
    - {id: no, data: {type: answer, title: No, answer: "No help."}}
    edges:
    - {source: s, target: old}
    - {source: old, target: yes, sourceHandle: 'true'}
    - {source: old, target: no, sourceHandle: 'false'}
"#;
    let flow = flow(yaml);
    let mut run = input("run-scopes");
    run.query = Some("I need help".into());
    run.dialogue_count = 2;
    run.conversation_variables = inputs(json!({ "topic": "billing" }));
    let (outcome, events) = harness.run(&flow, run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(outcome.answer, "Hi user-1, topic billing, turn 2.");
    assert_eq!(crate::answer_text(&events), outcome.answer);
    assert_eq!(
        outcome.conversation_variables,
        inputs(json!({ "topic": "billing", "level": 1 }))
    );
    assert!(!ran(&outcome).contains(&"no"));

    let mut run = input("run-scopes-2");
    run.query = Some("hello".into());
    let (outcome, _) = harness.run(&flow, run).await;
    assert_eq!(outcome.answer, "No help.");
    assert_eq!(outcome.conversation_variables["topic"], json!("general"));
}

#[tokio::test]
async fn error_strategies_default_value_and_fail_branch() {
    let harness = Harness::start(Behaviour::default()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        r#"
app: {{name: strategies, mode: workflow}}
kind: app
workflow:
  graph:
    nodes:
    - {{id: s, data: {{type: start, title: S}}}}
    - id: soft
      data:
        type: http-request
        title: Soft
        method: get
        url: 'http://127.0.0.1:{port}/x'
        error_strategy: default-value
        default_value: [{{key: body, type: string, value: fallback}}, {{key: status_code, type: number, value: 0}}]
    - id: branchy
      data: {{type: http-request, title: Branchy, method: get, url: 'http://127.0.0.1:{port}/y', error_strategy: fail-branch}}
    - {{id: ok, data: {{type: template-transform, title: Ok, template: fine, variables: []}}}}
    - {{id: recover, data: {{type: template-transform, title: Recover, template: "recovered: {{{{ e }}}}", variables: [{{variable: e, value_selector: [branchy, error_type]}}]}}}}
    - id: e
      data:
        type: end
        title: E
        outputs:
        - {{variable: body, value_selector: [soft, body]}}
        - {{variable: recovered, value_selector: [recover, output]}}
        - {{variable: ok, value_selector: [ok, output]}}
    edges:
    - {{source: s, target: soft}}
    - {{source: soft, target: branchy}}
    - {{source: branchy, target: ok, sourceHandle: source}}
    - {{source: branchy, target: recover, sourceHandle: fail-branch}}
    - {{source: ok, target: e}}
    - {{source: recover, target: e}}
"#
    );
    let (outcome, _) = harness.run(&flow(&yaml), input("run-strategies")).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::PartialSucceeded,
        "{:?}",
        outcome.record.error
    );
    assert_eq!(
        outcome.record.outputs,
        json!({ "body": "fallback", "recovered": "recovered: NodeError", "ok": null })
    );
    let soft = node(&outcome, "soft");
    assert_eq!(soft.status, NodeStatus::Exception);
    assert!(soft.error.is_some());
    assert!(
        soft.outputs["error_message"]
            .as_str()
            .unwrap()
            .contains("request to")
    );
    assert_eq!(node(&outcome, "branchy").status, NodeStatus::Exception);
    assert!(!ran(&outcome).contains(&"ok"));
}

#[tokio::test]
async fn older_exports_read_sys_query_from_the_start_node() {
    // Dify before 0.6 wrote the chat query as `[<start id>, sys.query]`; the start node outputs it.
    let harness = Harness::start(Behaviour::default()).await;
    let yaml = r#"
app: {name: old, mode: advanced-chat}
kind: app
workflow:
  graph:
    nodes:
    - {id: '1711528914102', data: {type: start, title: Start, variables: []}}
    - id: kr
      data:
        type: knowledge-retrieval
        title: K
        query_variable_selector: ['1711528914102', sys.query]
        dataset_ids: [d1]
        retrieval_mode: multiple
        multiple_retrieval_config: {top_k: 2, score_threshold: 0.5, score_threshold_enabled: true}
        metadata_filtering_mode: manual
        metadata_filtering_conditions: {logical_operator: and, conditions: [{name: lang, comparison_operator: is, value: en}]}
    - {id: a, data: {type: answer, title: A, answer: "{{#kr.result#}}"}}
    edges: [{source: '1711528914102', target: kr}, {source: kr, target: a}]
"#;
    let mut run = input("run-old");
    run.query = Some("hybrid search weights".into());
    let (outcome, _) = harness.run(&flow(yaml), run).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.record.error
    );
    let query = harness.knowledge.queries.lock().unwrap()[0].clone();
    assert_eq!(query.query, "hybrid search weights");
    assert_eq!((query.top_k, query.score_threshold), (2, Some(0.5)));
    assert_eq!(
        query.metadata_filter.unwrap()["conditions"][0]["name"],
        json!("lang")
    );
    // An array renders as JSON in an answer.
    let result: Value = serde_json::from_str(&outcome.answer).unwrap();
    assert_eq!(result[0]["metadata"]["document_name"], json!("search.md"));
}
