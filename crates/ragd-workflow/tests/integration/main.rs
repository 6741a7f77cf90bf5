//! Integration tests of the workflow runtime with real parts: the fixtures of `fixtures/flows`, a real
//! LLM over the real protocol (ragd-llm's OpenAI provider against its in-process OpenAI test server),
//! HTTP nodes against an axum server on 127.0.0.1:0, and an in-memory [`Knowledge`] corpus (the real
//! retrieval is tested end to end by the server's tests).

mod concurrency;
mod failures;
mod loader;
mod nodes;
mod streaming;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ragd_config::WorkflowConfig;
use ragd_core::run::NodeExecution;
use ragd_llm::test_server::{Behaviour, OpenAiTestServer};
use ragd_llm::{ChatModel, OpenAiProvider, Providers};
use ragd_workflow::{
    Flow, Knowledge, KnowledgeHit, KnowledgeQuery, RunEvent, RunInput, RunOutcome, Runtime,
};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The dataset id the fixtures use.
pub const FIXTURE_DATASET: &str = "00000000-0000-0000-0000-00000000da7a";

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/flows")
        .join(name)
}

pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name))
        .unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

pub fn fixture(name: &str) -> Arc<Flow> {
    Arc::new(Flow::from_yaml(&fixture_text(name)).unwrap_or_else(|e| panic!("loading {name}: {e}")))
}

pub fn flow(yaml: &str) -> Arc<Flow> {
    Arc::new(Flow::from_yaml(yaml).unwrap_or_else(|e| panic!("loading flow: {e}\n{yaml}")))
}

/// A small corpus searched by word overlap; records every query.
pub struct TestKnowledge {
    chunks: Vec<(String, String)>,
    pub queries: Mutex<Vec<KnowledgeQuery>>,
    pub delay: Duration,
    /// When set, every retrieval waits here until the barrier's count of retrievals are in flight at
    /// once: a run succeeds only if they really run concurrently (no timing involved).
    pub barrier: Option<Arc<tokio::sync::Barrier>>,
}

impl TestKnowledge {
    pub fn corpus() -> TestKnowledge {
        let chunks = [
            (
                "intro.md",
                "ragd is a retrieval service for RAG, compatible with Dify.",
            ),
            (
                "import.md",
                "Import documents with ragd import or the create-by-file API.",
            ),
            (
                "search.md",
                "Hybrid search fuses BM25 and vector scores with weights.",
            ),
            (
                "llama.md",
                "Llamas are domesticated South American camelids.",
            ),
        ];
        TestKnowledge {
            chunks: chunks
                .iter()
                .map(|(doc, text)| (doc.to_string(), text.to_string()))
                .collect(),
            queries: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
            barrier: None,
        }
    }

    pub fn with_barrier(mut self, retrievals: usize) -> TestKnowledge {
        self.barrier = Some(Arc::new(tokio::sync::Barrier::new(retrievals)));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> TestKnowledge {
        self.delay = delay;
        self
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

#[async_trait::async_trait]
impl Knowledge for TestKnowledge {
    async fn retrieve(&self, query: KnowledgeQuery) -> Result<Vec<KnowledgeHit>, String> {
        self.queries.lock().unwrap().push(query.clone());
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        tokio::time::sleep(self.delay).await;
        if query.query.contains("explode") {
            return Err("the index is on fire".into());
        }
        let wanted = words(&query.query);
        let mut hits: Vec<KnowledgeHit> = self
            .chunks
            .iter()
            .enumerate()
            .filter_map(|(i, (doc, text))| {
                let overlap = words(text).iter().filter(|w| wanted.contains(w)).count();
                (overlap > 0).then(|| KnowledgeHit {
                    content: text.clone(),
                    score: overlap as f64 / wanted.len().max(1) as f64,
                    dataset_id: query.dataset_ids[0].clone(),
                    dataset_name: "Docs".into(),
                    document_id: format!("doc-{i}"),
                    document_name: doc.clone(),
                    data_source_type: "upload_file".into(),
                    segment_id: format!("seg-{i}"),
                    segment_position: 1,
                    hit_count: 0,
                    word_count: text.split_whitespace().count() as i64,
                    index_node_hash: format!("hash-{i}"),
                    created_at: 1_700_000_000,
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(query.top_k);
        Ok(hits)
    }
}

/// A runtime wired to a fresh OpenAI test server.
pub struct Harness {
    pub server: OpenAiTestServer,
    pub runtime: Runtime,
    pub knowledge: Arc<TestKnowledge>,
}

pub fn config() -> WorkflowConfig {
    WorkflowConfig {
        node_timeout_secs: 20,
        run_timeout_secs: 60,
        memory_window: 10,
        http_max_response_bytes: 1 << 20,
    }
}

impl Harness {
    pub async fn start(behaviour: Behaviour) -> Harness {
        Harness::with(behaviour, TestKnowledge::corpus(), config()).await
    }

    pub async fn with(
        behaviour: Behaviour,
        knowledge: TestKnowledge,
        config: WorkflowConfig,
    ) -> Harness {
        let server = OpenAiTestServer::start(behaviour).await;
        let mut provider_config = server.provider_config();
        provider_config.max_retries = 0;
        let provider = OpenAiProvider::new("openai", &provider_config).expect("provider builds");
        let models: HashMap<String, Arc<dyn ChatModel>> = HashMap::from([(
            "openai".to_string(),
            Arc::new(provider) as Arc<dyn ChatModel>,
        )]);
        let knowledge = Arc::new(knowledge);
        let runtime = Runtime::new(
            knowledge.clone(),
            Arc::new(Providers::new("openai", models)),
            config,
        );
        Harness {
            server,
            runtime,
            knowledge,
        }
    }

    pub async fn run(&self, flow: &Arc<Flow>, input: RunInput) -> (RunOutcome, Vec<RunEvent>) {
        self.run_with(flow, input, CancellationToken::new()).await
    }

    pub async fn run_with(
        &self,
        flow: &Arc<Flow>,
        input: RunInput,
        cancel: CancellationToken,
    ) -> (RunOutcome, Vec<RunEvent>) {
        let (events, mut received) = mpsc::unbounded_channel();
        let outcome = self.runtime.run(flow.clone(), input, events, cancel).await;
        let mut collected = Vec::new();
        while let Ok(event) = received.try_recv() {
            collected.push(event);
        }
        check_event_invariants(&outcome, &collected);
        (outcome, collected)
    }
}

impl Harness {
    /// Runs while a separate task receives the events, noting when each arrived (from the run's start).
    pub async fn run_timed(
        &self,
        flow: &Arc<Flow>,
        input: RunInput,
    ) -> (RunOutcome, Vec<(Duration, RunEvent)>) {
        let (events, mut received) = mpsc::unbounded_channel();
        let started = std::time::Instant::now();
        let receiver = tokio::spawn(async move {
            let mut timed = Vec::new();
            while let Some(event) = received.recv().await {
                timed.push((started.elapsed(), event));
            }
            timed
        });
        let outcome = self
            .runtime
            .run(flow.clone(), input, events, CancellationToken::new())
            .await;
        let timed = receiver.await.expect("the receiver task ends");
        let plain: Vec<RunEvent> = timed.iter().map(|(_, event)| event.clone()).collect();
        check_event_invariants(&outcome, &plain);
        (outcome, timed)
    }
}

/// What every run's events must satisfy: started first, finished last and equal to the record, every
/// node started once before it finished, indexes 1.. in start order.
pub fn check_event_invariants(outcome: &RunOutcome, events: &[RunEvent]) {
    assert!(
        matches!(events.first(), Some(RunEvent::WorkflowStarted { .. })),
        "first event: {:?}",
        events.first()
    );
    match events.last() {
        Some(RunEvent::WorkflowFinished(record)) => assert_eq!(record, &outcome.record),
        other => panic!("last event is not WorkflowFinished: {other:?}"),
    }
    let finished_count = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WorkflowFinished(_)))
        .count();
    assert_eq!(finished_count, 1);
    let mut started: Vec<&NodeExecution> = Vec::new();
    let mut finished: Vec<&NodeExecution> = Vec::new();
    for event in events {
        match event {
            RunEvent::NodeStarted(node) => {
                assert_eq!(
                    node.index as usize,
                    started.len() + 1,
                    "indexes follow start order"
                );
                started.push(node);
            }
            RunEvent::NodeFinished(node) => {
                assert!(
                    started.iter().any(|s| s.id == node.id),
                    "{} finished before it started",
                    node.node_id
                );
                assert!(
                    !finished.iter().any(|f| f.id == node.id),
                    "{} finished twice",
                    node.node_id
                );
                finished.push(node);
            }
            _ => {}
        }
    }
    assert_eq!(started.len(), finished.len(), "every started node finished");
    assert_eq!(outcome.nodes.len(), started.len());
    assert_eq!(outcome.record.total_steps as usize, started.len());
    for (i, node) in outcome.nodes.iter().enumerate() {
        assert_eq!(node.index as usize, i + 1);
        assert_eq!(node.run_id, outcome.record.id);
    }
}

pub fn input(run_id: &str) -> RunInput {
    RunInput {
        run_id: run_id.into(),
        app_id: "app-1".into(),
        workflow_id: "wf-1".into(),
        user: "user-1".into(),
        ..RunInput::default()
    }
}

pub fn inputs(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// The node record of `node_id`.
pub fn node<'a>(outcome: &'a RunOutcome, node_id: &str) -> &'a NodeExecution {
    outcome
        .nodes
        .iter()
        .find(|n| n.node_id == node_id)
        .unwrap_or_else(|| {
            let ran: Vec<&str> = outcome.nodes.iter().map(|n| n.node_id.as_str()).collect();
            panic!("node {node_id} did not run; ran: {ran:?}")
        })
}

pub fn ran(outcome: &RunOutcome) -> Vec<&str> {
    outcome.nodes.iter().map(|n| n.node_id.as_str()).collect()
}

/// Short names of the events, for order checks (`started:llm`, `answer`, `finished:llm`, …).
pub fn event_names(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event {
            RunEvent::WorkflowStarted { .. } => "workflow_started".to_string(),
            RunEvent::NodeStarted(node) => format!("started:{}", node.node_id),
            RunEvent::NodeFinished(node) => format!("finished:{}", node.node_id),
            RunEvent::Answer { .. } => "answer".to_string(),
            RunEvent::TextChunk { .. } => "text_chunk".to_string(),
            RunEvent::Retrieved(_) => "retrieved".to_string(),
            RunEvent::WorkflowFinished(_) => "workflow_finished".to_string(),
        })
        .collect()
}

/// The answer text of the events, concatenated.
pub fn answer_text(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            RunEvent::Answer { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
