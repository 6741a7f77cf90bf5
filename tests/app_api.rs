//! End-to-end tests of the App API (spec `dify-compat.md` §3): the real `ragd serve` runs Dify DSL flows
//! (knowledge retrieval over the real model and indexes) against an LLM that is a local server speaking
//! the real OpenAI streaming protocol (`ragd_llm::test_server`), driven over HTTP: SSE order and fields,
//! memory, conversations and messages, run logs, stop, and every kind of bad input.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use ragd_llm::test_server::{Behaviour, OpenAiTestServer};
use serde_json::{Value, json};
use support::{Auth, Req, TestServer, assert_error, fixture_text};

const REPLY: &str =
    "Honey bees cluster together and shiver their flight muscles to keep the hive warm.";

/// A tokio runtime that outlives the test's LLM server.
fn llm_server(behaviour: Behaviour) -> (tokio::runtime::Runtime, OpenAiTestServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(OpenAiTestServer::start(behaviour.record_requests(true)));
    (runtime, server)
}

fn start(llm: &OpenAiTestServer, extra: &[(&str, &str)]) -> TestServer {
    let mut builder = TestServer::builder()
        .env("RAGD__LLM__PROVIDERS__OPENAI__BASE_URL", llm.base_url())
        .env("RAGD__LLM__PROVIDERS__OPENAI__MAX_RETRIES", 0)
        .env("RAGD__LLM__DEFAULT_PROVIDER", "openai")
        .env("RAGD__RUNLOG__FLUSH_INTERVAL_MS", 20);
    for (name, value) in extra {
        builder = builder.env(name, value);
    }
    builder.start()
}

/// A dataset with the beekeeping guide, indexed; its id.
fn bee_dataset(server: &TestServer) -> String {
    let dataset = server.create_dataset("bees");
    let (_, batch) =
        server.create_text_document(&dataset, "guide.txt", &fixture_text("docs/guide.txt"));
    server.wait_completed(&dataset, &batch);
    dataset
}

/// `POST /v1/apps` with the admin (dataset) key; the app's key.
fn create_app(server: &TestServer, yaml: &str) -> String {
    let (status, body) = server.post_json("/v1/apps", &json!({ "yaml": yaml }));
    assert_eq!(status, 201, "{body}");
    let key = body["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("app-") && key.len() == 28, "{key}");
    key
}

fn app_req(method: &'static str, path: &str, key: &str) -> Req {
    Req::new(method, path).bearer(key)
}

/// The `data:` events of an SSE body, and how many `ping` events it had.
fn sse_events(text: &str) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut pings = 0;
    for block in text.split("\n\n") {
        for line in block.lines() {
            if let Some(data) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                events.push(serde_json::from_str(data.trim()).unwrap_or_else(|e| {
                    panic!("an SSE data line is not JSON ({e}): {data}\nbody:\n{text}")
                }));
            } else if line.trim() == "event: ping" {
                pings += 1;
            }
        }
    }
    (events, pings)
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?"))
        .collect()
}

fn answer_of(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["answer"].as_str().unwrap())
        .collect()
}

/// Polls `GET /v1/workflows/run/{id}` until the run log has it.
fn run_record(server: &TestServer, key: &str, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server.send(&app_req("GET", &format!("/v1/workflows/run/{run_id}"), key));
        if reply.status == 200 {
            return reply.json;
        }
        assert_eq!(reply.status, 404, "{}", reply.text);
        assert!(
            Instant::now() < deadline,
            "run {run_id} never reached the run log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const USAGE_FIELDS: [&str; 12] = [
    "prompt_tokens",
    "prompt_unit_price",
    "prompt_price_unit",
    "prompt_price",
    "completion_tokens",
    "completion_unit_price",
    "completion_price_unit",
    "completion_price",
    "total_tokens",
    "total_price",
    "currency",
    "latency",
];

#[test]
fn chat_streams_tokens_with_retrieval_memory_and_history() {
    let (_rt, llm) = llm_server(Behaviour::reply(REPLY).tokens_per_chunk(2));
    let server = start(&llm, &[]);
    let dataset = bee_dataset(&server);
    let key = create_app(&server, &support::flow_text("rag-chat.yml", &dataset));

    // Streaming: the whole chatflow event sequence, tokens as `message` deltas.
    let first = "How do honey bees keep warm in winter?";
    let reply = server.send(&app_req("POST", "/v1/chat-messages", &key).json(&json!({
        "query": first, "inputs": {}, "user": "alice", "response_mode": "streaming",
        "conversation_id": "", "files": []
    })));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        reply.headers
    );
    let (events, _) = sse_events(&reply.text);
    let order = names(&events);
    assert_eq!(order.first(), Some(&"workflow_started"), "{order:?}");
    assert_eq!(order.last(), Some(&"workflow_finished"), "{order:?}");
    let end = order
        .iter()
        .position(|e| *e == "message_end")
        .expect("message_end");
    assert_eq!(
        end,
        order.len() - 2,
        "message_end comes just before workflow_finished: {order:?}"
    );
    assert!(
        order.iter().filter(|e| **e == "message").count() >= 5,
        "tokens arrive as many deltas: {order:?}"
    );
    let first_message = order.iter().position(|e| *e == "message").unwrap();
    let llm_finished = events
        .iter()
        .position(|e| e["event"] == "node_finished" && e["data"]["node_type"] == "llm")
        .expect("the llm node finishes");
    assert!(
        first_message < llm_finished,
        "tokens stream before the LLM node ends: {order:?}"
    );
    assert_eq!(answer_of(&events), REPLY);
    let task_id = events[0]["task_id"].as_str().unwrap();
    let message_id = events[0]["message_id"].as_str().unwrap();
    let conversation_id = events[0]["conversation_id"].as_str().unwrap().to_owned();
    let run_id = events[0]["workflow_run_id"].as_str().unwrap().to_owned();
    for e in &events {
        assert_eq!(e["task_id"], task_id, "{e}");
        assert_eq!(e["message_id"], message_id, "{e}");
        assert_eq!(e["conversation_id"], conversation_id.as_str(), "{e}");
        assert!(e["created_at"].is_i64(), "{e}");
    }
    let nodes: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "node_finished")
        .map(|e| e["data"]["node_type"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["start", "knowledge-retrieval", "llm", "answer"]);
    let message_end = &events[end];
    let usage = &message_end["metadata"]["usage"];
    for field in USAGE_FIELDS {
        assert!(!usage[field].is_null(), "usage lacks {field}: {usage}");
    }
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert!(
        usage["prompt_price"].is_string(),
        "prices are strings: {usage}"
    );
    let resources = message_end["metadata"]["retriever_resources"]
        .as_array()
        .unwrap();
    assert!(!resources.is_empty(), "{message_end}");
    assert_eq!(resources[0]["position"], 1);
    assert_eq!(resources[0]["dataset_id"], dataset.as_str());
    assert_eq!(resources[0]["dataset_name"], "bees");
    assert_eq!(resources[0]["document_name"], "guide.txt");
    assert!(resources[0]["score"].as_f64().unwrap() > 0.0);

    // The LLM saw the retrieved context in its prompt.
    let requests = llm.requests();
    let prompt: String = requests[0]
        .messages
        .iter()
        .map(|m| m.content.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        prompt.contains(resources[0]["content"].as_str().unwrap().trim()),
        "the retrieved chunk is in the prompt:\n{prompt}"
    );
    assert!(requests[0].stream(), "the provider is asked to stream");

    // Blocking second turn in the same conversation: the first turn is in the LLM's memory.
    let second = "And what do they eat then?";
    let reply = server.send(&app_req("POST", "/v1/chat-messages", &key).json(&json!({
        "query": second, "inputs": {}, "user": "alice", "response_mode": "blocking",
        "conversation_id": conversation_id
    })));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = &reply.json;
    assert_eq!(body["event"], "message");
    assert_eq!(body["mode"], "advanced-chat");
    assert_eq!(body["answer"], REPLY);
    assert_eq!(body["conversation_id"], conversation_id.as_str());
    assert!(body["created_at"].is_i64());
    for field in USAGE_FIELDS {
        assert!(!body["metadata"]["usage"][field].is_null(), "{body}");
    }
    let memory = &llm.requests()[1].messages;
    let texts: Vec<&str> = memory.iter().map(|m| m.content.as_str()).collect();
    assert!(
        texts.iter().any(|t| t.contains(first)) && texts.iter().any(|t| t.contains(REPLY)),
        "the second prompt carries the first turn: {texts:?}"
    );
    assert_eq!(
        llm.requests()[1]
            .last_user_message()
            .map(|m| m.contains(second)),
        Some(true)
    );

    // History: both turns, oldest first; paging with first_id.
    let path = format!("/v1/messages?conversation_id={conversation_id}&user=alice");
    let reply = server.send(&app_req("GET", &path, &key));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let data = reply.json["data"].as_array().unwrap();
    let queries: Vec<&str> = data.iter().map(|m| m["query"].as_str().unwrap()).collect();
    assert_eq!(queries, [first, second]);
    assert_eq!(data[0]["answer"], REPLY);
    assert_eq!(data[0]["id"], message_id);
    assert!(
        data[0]["retriever_resources"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    let page = server.send(&app_req("GET", &format!("{path}&limit=1"), &key));
    assert_eq!(page.json["has_more"], true);
    let newest = page.json["data"][0]["id"].as_str().unwrap().to_owned();
    let older = server.send(&app_req(
        "GET",
        &format!("{path}&limit=1&first_id={newest}"),
        &key,
    ));
    assert_eq!(older.json["data"][0]["id"], message_id, "{}", older.text);
    assert_eq!(older.json["has_more"], false);

    // Another user sees neither the conversation nor its messages.
    let reply = server.send(&app_req(
        "GET",
        &format!("/v1/messages?conversation_id={conversation_id}&user=bob"),
        &key,
    ));
    assert_error(
        &(reply.status, reply.json),
        404,
        "not_found",
        Some("Conversation Not Exists."),
    );

    // Feedback, rename, list, parameters, info.
    let reply = server.send(
        &app_req(
            "POST",
            &format!("/v1/messages/{message_id}/feedbacks"),
            &key,
        )
        .json(&json!({"rating": "like", "user": "alice", "content": null})),
    );
    assert_eq!(
        (reply.status, reply.json.clone()),
        (200, json!({"result": "success"}))
    );
    let reply = server.send(&app_req("GET", &path, &key));
    assert_eq!(reply.json["data"][0]["feedback"], json!({"rating": "like"}));
    let reply = server.send(
        &app_req(
            "POST",
            &format!("/v1/conversations/{conversation_id}/name"),
            &key,
        )
        .json(&json!({"name": "Bees in winter", "user": "alice"})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["name"], "Bees in winter");
    let reply = server.send(&app_req("GET", "/v1/conversations?user=alice", &key));
    assert_eq!(
        reply.json["data"][0]["id"],
        conversation_id.as_str(),
        "{}",
        reply.text
    );
    assert_eq!(reply.json["has_more"], false);
    let reply = server.send(&app_req("GET", "/v1/parameters", &key));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json["opening_statement"],
        "Hello! Ask me anything about the documents."
    );
    assert!(reply.json["user_input_form"].is_array());
    assert_eq!(reply.json["retriever_resource"]["enabled"], true);
    let reply = server.send(&app_req("GET", "/v1/info", &key));
    assert_eq!(
        (reply.json["name"].clone(), reply.json["mode"].clone()),
        (json!("RAG chat"), json!("advanced-chat"))
    );

    // The run log has the run with every node, the LLM's tokens and time to first token.
    let record = run_record(&server, &key, &run_id);
    assert_eq!(record["status"], "succeeded", "{record}");
    let nodes = record["node_executions"].as_array().unwrap();
    assert_eq!(nodes.len(), 4, "{record}");
    let llm_node = nodes.iter().find(|n| n["node_type"] == "llm").unwrap();
    assert!(llm_node["total_tokens"].as_u64().unwrap() > 0, "{llm_node}");
    assert!(
        llm_node["time_to_first_token"].as_f64().is_some(),
        "{llm_node}"
    );
    let runs = std::fs::metadata(server.data_dir.join("runs.sqlite"));
    assert!(runs.is_ok(), "run logs live in their own file");
    let metrics = server
        .send(&Req::new("GET", "/metrics").auth(Auth::None))
        .text;
    assert!(
        metrics.contains(r#"ragd_workflow_runs_total{mode="advanced-chat",status="succeeded"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("ragd_llm_time_to_first_token_seconds"),
        "{metrics}"
    );

    // Deleting the conversation deletes its messages.
    let reply = server.send(
        &app_req(
            "DELETE",
            &format!("/v1/conversations/{conversation_id}"),
            &key,
        )
        .json(&json!({"user": "alice"})),
    );
    assert_eq!(reply.status, 204, "{}", reply.text);
    let reply = server.send(&app_req("GET", &path, &key));
    assert_eq!(reply.status, 404);
    let _ = task_id;
}

#[test]
fn bad_requests_get_dify_errors_and_change_nothing() {
    let (_rt, llm) = llm_server(Behaviour::reply(REPLY));
    let server = start(&llm, &[]);
    let dataset = bee_dataset(&server);
    let chat_key = create_app(&server, &support::flow_text("rag-chat.yml", &dataset));
    let workflow_key = create_app(&server, &support::flow_text("rag-workflow.yml", &dataset));
    let chat =
        |body: Value| server.send(&app_req("POST", "/v1/chat-messages", &chat_key).json(&body));

    // Keys: none, a dataset key, an unknown app key; an app key on the Knowledge API.
    let reply = server.send(
        &Req::new("POST", "/v1/chat-messages")
            .auth(Auth::None)
            .json(&json!({})),
    );
    assert_eq!(reply.status, 401, "{}", reply.text);
    let reply = server.send(
        &Req::new("POST", "/v1/chat-messages")
            .json(&json!({"query": "q", "inputs": {}, "user": "u"})),
    );
    assert_error(
        &(reply.status, reply.json),
        401,
        "unauthorized",
        Some("Access token is invalid"),
    );
    let reply = server.send(&app_req("GET", "/v1/info", "app-AAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(reply.status, 401);
    let reply = server.send(&app_req("GET", "/v1/datasets", &chat_key));
    assert_error(
        &(reply.status, reply.json),
        401,
        "unauthorized",
        Some("Access token is invalid"),
    );

    // Bodies: malformed JSON, missing user, wrong types, bad mode.
    let reply = server.send(&app_req("POST", "/v1/chat-messages", &chat_key).body("{not json"));
    assert_error(&(reply.status, reply.json), 400, "bad_request", None);
    let reply = chat(json!({"query": "hi", "inputs": {}}));
    assert_error(
        &(reply.status, reply.json.clone()),
        400,
        "invalid_param",
        None,
    );
    assert_eq!(reply.json["params"], "user", "{}", reply.text);
    let reply = chat(json!({"query": 42, "inputs": {}, "user": "u"}));
    assert_error(&(reply.status, reply.json), 400, "invalid_param", None);
    let reply =
        chat(json!({"query": "hi", "inputs": {}, "user": "u", "response_mode": "telepathy"}));
    assert_error(&(reply.status, reply.json), 400, "invalid_param", None);

    // Unknown conversation (a UUID and not), wrong app mode for each route.
    for id in ["3f0b7c4e-1111-4a2b-9c3d-000000000000", "nope"] {
        let reply = chat(json!({"query": "hi", "inputs": {}, "user": "u", "conversation_id": id}));
        assert_error(
            &(reply.status, reply.json),
            404,
            "not_found",
            Some("Conversation Not Exists."),
        );
    }
    let reply = server.send(
        &app_req("POST", "/v1/workflows/run", &chat_key).json(&json!({"inputs": {}, "user": "u"})),
    );
    assert_error(&(reply.status, reply.json), 400, "not_workflow_app", None);
    let reply = server.send(
        &app_req("POST", "/v1/chat-messages", &workflow_key)
            .json(&json!({"query": "hi", "inputs": {}, "user": "u"})),
    );
    assert_error(&(reply.status, reply.json), 400, "not_chat_app", None);
    let reply = server.send(&app_req("GET", "/v1/conversations?user=u", &workflow_key));
    assert_error(&(reply.status, reply.json), 400, "not_chat_app", None);

    // A missing required input names the variable.
    let reply = server.send(
        &app_req("POST", "/v1/workflows/run", &workflow_key)
            .json(&json!({"inputs": {}, "user": "u"})),
    );
    assert_error(
        &(reply.status, reply.json.clone()),
        400,
        "invalid_param",
        None,
    );
    assert!(reply.text.contains("question"), "{}", reply.text);

    // Nothing of this reached the LLM or created a conversation.
    assert_eq!(llm.request_count(), 0);
    let reply = server.send(&app_req("GET", "/v1/conversations?user=u", &chat_key));
    assert_eq!(reply.json["data"], json!([]), "{}", reply.text);

    // Invalid flows are refused at creation with a message naming the problem.
    let invalid = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/flows/invalid");
    let mut refused = 0;
    for entry in std::fs::read_dir(&invalid).unwrap() {
        let path = entry.unwrap().path();
        let yaml = std::fs::read_to_string(&path).unwrap();
        let (status, body) = server.post_json("/v1/apps", &json!({ "yaml": yaml }));
        assert_eq!(status, 400, "{} was accepted: {body}", path.display());
        assert_eq!(body["code"], "invalid_param", "{body}");
        assert!(body["message"].as_str().unwrap().len() > 20, "{body}");
        refused += 1;
    }
    assert!(refused >= 6, "the invalid fixtures: {refused}");
    let unknown_dataset =
        support::flow_text("rag-chat.yml", "11111111-2222-4333-8444-555555555555");
    let (status, body) = server.post_json("/v1/apps", &json!({ "yaml": unknown_dataset }));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("11111111-2222"),
        "{body}"
    );
    let (status, body) = server.get("/v1/apps");
    assert_eq!(status, 200);
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        2,
        "only the two good apps: {body}"
    );
}

#[test]
fn llm_failures_end_the_stream_with_an_error_and_a_failed_run() {
    let (_rt, llm) = llm_server(
        Behaviour::reply(REPLY)
            .tokens_per_chunk(1)
            .error_mid_stream(3),
    );
    let server = start(&llm, &[("RAGD__WORKFLOW__NODE_TIMEOUT_SECS", "2")]);
    let dataset = bee_dataset(&server);
    let chat_key = create_app(&server, &support::flow_text("rag-chat.yml", &dataset));
    let workflow_key = create_app(&server, &support::flow_text("rag-workflow.yml", &dataset));
    let ask = |key: &str| {
        server.send(&app_req("POST", "/v1/chat-messages", key).json(&json!({
            "query": "How do bees keep warm?", "inputs": {}, "user": "u", "response_mode": "streaming"
        })))
    };

    // An error in the middle of the provider's stream.
    let reply = ask(&chat_key);
    assert_eq!(reply.status, 200, "failures are events, not statuses");
    let (events, _) = sse_events(&reply.text);
    let order = names(&events);
    assert_eq!(
        &order[order.len() - 2..],
        ["workflow_finished", "error"],
        "{order:?}"
    );
    assert!(!order.contains(&"message_end"), "{order:?}");
    let finished = &events[events.len() - 2];
    assert_eq!(finished["data"]["status"], "failed");
    let error = events.last().unwrap();
    assert!(error["message"].as_str().unwrap().len() > 5, "{error}");
    assert_eq!(
        (error["status"].clone(), error["code"].clone()),
        (json!(400), json!("invalid_param"))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Run failed: "),
        "{error}"
    );
    let run_id = events[0]["workflow_run_id"].as_str().unwrap();
    let record = run_record(&server, &chat_key, run_id);
    assert_eq!(record["status"], "failed", "{record}");
    let failed: Vec<_> = record["node_executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{record}");
    assert_eq!(failed[0]["node_type"], "llm");

    // Blocking: Dify's 400 with the error.
    let reply = server.send(
        &app_req("POST", "/v1/chat-messages", &chat_key).json(&json!({
            "query": "How do bees keep warm?", "inputs": {}, "user": "u"
        })),
    );
    assert_error(
        &(reply.status, reply.json.clone()),
        400,
        "invalid_param",
        None,
    );
    let message = reply.json["message"].as_str().unwrap();
    assert!(message.starts_with("Run failed: "), "{}", reply.text);

    // A provider that stops sending: the node times out (RAGD__WORKFLOW__NODE_TIMEOUT_SECS=2).
    llm.set_behaviour(
        Behaviour::reply(REPLY)
            .record_requests(true)
            .hang_mid_stream(2),
    );
    let started = Instant::now();
    let reply = server.send(&app_req("POST", "/v1/workflows/run", &workflow_key).json(&json!({
        "inputs": {"question": "How do bees keep warm?"}, "user": "u", "response_mode": "streaming"
    })));
    let (events, _) = sse_events(&reply.text);
    let order = names(&events);
    assert_eq!(
        &order[order.len() - 2..],
        ["workflow_finished", "error"],
        "{order:?}"
    );
    assert!(
        events.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{}",
        events.last().unwrap()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        order.contains(&"text_chunk"),
        "the tokens before the hang streamed: {order:?}"
    );

    // The stored message of the failed chat says so.
    let reply = server.send(&app_req("GET", "/v1/conversations?user=u", &chat_key));
    let conversation = reply.json["data"][0]["id"].as_str().unwrap().to_owned();
    let reply = server.send(&app_req(
        "GET",
        &format!("/v1/messages?conversation_id={conversation}&user=u"),
        &chat_key,
    ));
    assert_eq!(reply.json["data"][0]["status"], "error", "{}", reply.text);
}

#[test]
fn workflows_run_blocking_and_streaming_and_stop_cancels() {
    let (_rt, llm) = llm_server(Behaviour::reply(REPLY).tokens_per_chunk(1));
    let server = start(&llm, &[("RAGD__SERVER__SSE_PING_SECS", "1")]);
    let dataset = bee_dataset(&server);
    let key = create_app(&server, &support::flow_text("rag-workflow.yml", &dataset));
    let run = |mode: &str| {
        server.send(&app_req("POST", "/v1/workflows/run", &key).json(&json!({
            "inputs": {"question": "How do bees keep warm in winter?"}, "user": "u",
            "response_mode": mode, "files": []
        })))
    };
    let reply = run("blocking");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let data = &reply.json["data"];
    assert_eq!(data["status"], "succeeded", "{}", reply.text);
    assert_eq!(data["outputs"]["answer"], REPLY);
    assert!(data["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(reply.json["workflow_run_id"], data["id"]);

    let reply = run("streaming");
    let (events, _) = sse_events(&reply.text);
    let order = names(&events);
    assert_eq!(order[0], "workflow_started");
    assert_eq!(*order.last().unwrap(), "workflow_finished");
    let text: String = events
        .iter()
        .filter(|e| e["event"] == "text_chunk")
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, REPLY);
    assert!(
        events
            .iter()
            .all(|e| e["workflow_run_id"] == events[0]["workflow_run_id"])
    );

    // A slow provider: stop the task after its first token; the run ends `stopped` at once, and a quiet
    // stream carries pings (RAGD__SERVER__SSE_PING_SECS=1).
    llm.set_behaviour(
        Behaviour::reply(REPLY)
            .record_requests(true)
            .tokens_per_chunk(1)
            .first_token_delay(Duration::from_millis(1500))
            .chunk_delay(Duration::from_millis(300)),
    );
    let url = format!("{}/v1/workflows/run", server.base);
    let body = json!({"inputs": {"question": "How do bees keep warm?"}, "user": "u", "response_mode": "streaming"});
    let response = ureq::post(&url)
        .header("Authorization", format!("Bearer {key}"))
        .send_json(&body)
        .unwrap();
    let started = Instant::now();
    let mut lines = BufReader::new(response.into_body().into_reader()).lines();
    let mut task_id = None;
    let mut stopped_at = None;
    let mut pings = 0;
    let mut last = Value::Null;
    while let Some(Ok(line)) = lines.next() {
        if line.trim() == "event: ping" {
            pings += 1;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let event: Value = serde_json::from_str(data).unwrap();
        if task_id.is_none() {
            task_id = event["task_id"].as_str().map(str::to_owned);
        }
        if event["event"] == "text_chunk" && stopped_at.is_none() {
            let stop = ureq::post(&format!(
                "{}/v1/workflows/tasks/{}/stop",
                server.base,
                task_id.as_deref().unwrap()
            ))
            .header("Authorization", format!("Bearer {key}"))
            .send_json(json!({"user": "u"}))
            .unwrap()
            .into_body()
            .read_json::<Value>()
            .unwrap();
            assert_eq!(stop, json!({"result": "success"}));
            stopped_at = Some(Instant::now());
        }
        last = event;
    }
    assert!(stopped_at.is_some(), "a token arrived before the stop");
    assert_eq!(last["event"], "workflow_finished", "{last}");
    assert_eq!(last["data"]["status"], "stopped", "{last}");
    let full = Duration::from_millis(1500 + 300 * REPLY.split_whitespace().count() as u64);
    assert!(
        started.elapsed() < full,
        "stopped before the provider finished: {:?}",
        started.elapsed()
    );
    assert!(pings >= 1, "a quiet stream carries pings");
}

#[test]
fn cli_runs_flows_chats_and_lists_runs() {
    let (_rt, llm) = llm_server(Behaviour::reply(REPLY).tokens_per_chunk(3));
    let server = start(&llm, &[]);
    let dataset = bee_dataset(&server);
    let dir = tempfile::tempdir().unwrap();
    let workflow = support::flow_with_dataset("rag-workflow.yml", &dataset, dir.path());
    let chat_flow = support::flow_with_dataset("rag-chat.yml", &dataset, dir.path());
    // The CLI opens the data dir itself (its indexes take one writer at a time): stop the server first.
    let stopped = server.stop(Duration::from_secs(30));
    let ragd = |args: &[&str]| {
        let output = support::ragd()
            .args(args)
            .arg("--data-dir")
            .arg(&stopped.data_dir)
            .env("RAGD__LLM__PROVIDERS__OPENAI__BASE_URL", llm.base_url())
            .env("RAGD__LLM__DEFAULT_PROVIDER", "openai")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, out, err) = ragd(&[
        "run",
        workflow.to_str().unwrap(),
        "--input",
        "question=How do bees keep warm?",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(REPLY), "streamed output: {out}");
    assert!(err.contains("succeeded"), "{err}");
    let (code, out, err) = ragd(&["run", workflow.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("question"), "a missing input is named: {err}");

    let (code, out, err) = ragd(&["apps", "create", chat_flow.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let app: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(app["mode"], "advanced-chat");
    assert!(app["api_key"].as_str().unwrap().starts_with("app-"));
    let (code, out, err) = ragd(&[
        "chat",
        app["id"].as_str().unwrap(),
        "-m",
        "How do bees keep warm?",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(REPLY), "{out}");

    let (code, out, err) = ragd(&["runs", "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let runs: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    // Both runs, whatever their order (they may share a second; ordering is tested in runs_cli.rs).
    let mut modes: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    modes.sort_unstable();
    assert_eq!(
        modes,
        ["advanced-chat", "workflow"],
        "the chat and the run: {runs}"
    );
    assert!(
        runs[0]["usage"]["time_to_first_token"].as_f64().is_some(),
        "{runs}"
    );
    let (code, out, err) = ragd(&["runs", "--status", "failed", "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let failed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(failed, json!([]), "a refused input starts no run: {failed}");

    let (code, out, err) = ragd(&["apps", "create", "fixtures/flows/invalid/cycle.yml"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("cycle"), "{err}");
}
