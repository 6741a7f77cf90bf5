//! [`Runtime`]: runs a [`Flow`] as a DAG.
//!
//! One coordinator (the `run` future) owns the run's state: the variable pool, each node's state, the
//! live answer streams and the records. Each ready node runs as its own tokio task (so independent
//! branches run concurrently) with a snapshot of the pool and the node timeout; LLM deltas come back on
//! a channel. A node is ready when all its incoming edges are resolved and at least one is live (taken);
//! when all are dead it is skipped, and its own edges die with it (Dify's semantics for branches).
//!
//! The run ends when no node runs any more, or at the first failure (other running nodes are stopped),
//! the run timeout, or cancellation. `WorkflowFinished` is always the last event. Events go to an
//! unbounded channel whose receiver may be gone: the run goes on regardless.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ragd_config::WorkflowConfig;
use ragd_core::run::{LlmUsage, NodeExecution, NodeStatus, RunRecord, RunStatus};
use ragd_llm::Providers;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::flow::{AppMode, Flow};
use crate::nodes::{
    self, ErrorStrategy, NodeContext, NodeFailure, NodeKind, NodeMessage, NodeSuccess,
};
use crate::pool::VariablePool;
use crate::stream::{StreamKind, StreamSegment, Streams};
use crate::template::{GLOBAL_SCOPES, value_text};
use crate::{Knowledge, KnowledgeHit, RunEvent, RunInput};

/// What node executions share: the backends and the limits.
pub(crate) struct Services {
    pub knowledge: Arc<dyn Knowledge>,
    pub llms: Arc<Providers>,
    pub config: WorkflowConfig,
    /// TLS settings of the http-request nodes' clients (ring, platform roots or the bundled ones).
    pub tls: rustls::ClientConfig,
}

/// Runs flows. Cheap to share; one runtime serves any number of concurrent runs.
#[derive(Clone)]
pub struct Runtime {
    services: Arc<Services>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.services.config)
            .finish()
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub record: RunRecord,
    /// Every node that started, in start order.
    pub nodes: Vec<NodeExecution>,
    /// Advanced-chat: all the answer text sent (empty for workflows).
    pub answer: String,
    /// Hits of every knowledge-retrieval node, in the order they came.
    pub retriever_resources: Vec<KnowledgeHit>,
    /// The conversation variables after the run.
    pub conversation_variables: Map<String, Value>,
}

impl Runtime {
    pub fn new(
        knowledge: Arc<dyn Knowledge>,
        llms: Arc<Providers>,
        config: WorkflowConfig,
    ) -> Runtime {
        // The same TLS setup as the LLM providers (ring, platform roots or bundled Mozilla roots).
        let tls = ragd_llm::tls_config();
        Runtime {
            services: Arc::new(Services {
                knowledge,
                llms,
                config,
                tls,
            }),
        }
    }

    /// Runs to the end; every step is also sent to `events` (a closed receiver does not stop the run);
    /// `cancel` stops it (status `stopped`).
    pub async fn run(
        &self,
        flow: Arc<Flow>,
        input: RunInput,
        events: mpsc::UnboundedSender<RunEvent>,
        cancel: CancellationToken,
    ) -> RunOutcome {
        Execution::new(flow, self.services.clone(), input, events)
            .run(cancel)
            .await
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Waiting,
    Running,
    /// Ran (successfully, as an exception, or failed).
    Finished,
    Skipped,
}

/// Why the main loop ended.
enum Ending {
    Completed,
    Failed(String),
    Stopped,
    TimedOut,
}

struct RunningNode {
    record: NodeExecution,
    started: Instant,
}

struct Execution {
    flow: Arc<Flow>,
    services: Arc<Services>,
    input: Arc<RunInput>,
    events: mpsc::UnboundedSender<RunEvent>,
    pool: VariablePool,
    states: Vec<NodeState>,
    /// Unresolved incoming edges per node.
    pending_edges: Vec<usize>,
    /// Whether some incoming edge was taken.
    live_in: Vec<bool>,
    predecessor: Vec<Option<usize>>,
    running: HashMap<usize, RunningNode>,
    tasks: JoinSet<(usize, Result<NodeSuccess, NodeFailure>)>,
    task_nodes: HashMap<tokio::task::Id, usize>,
    messages: mpsc::UnboundedSender<NodeMessage>,
    message_rx: mpsc::UnboundedReceiver<NodeMessage>,
    records: Vec<NodeExecution>,
    next_index: u32,
    streams: Streams,
    answer: String,
    retrieved: Vec<KnowledgeHit>,
    outputs: Map<String, Value>,
    usage: LlmUsage,
    exceptions: usize,
    run_inputs: Value,
    started: Instant,
    created_at: i64,
}

impl Execution {
    fn new(
        flow: Arc<Flow>,
        services: Arc<Services>,
        input: RunInput,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Execution {
        let mut pool = VariablePool::default();
        let chat = flow.mode() == AppMode::AdvancedChat;
        if chat {
            pool.sys.insert(
                "query".into(),
                json!(input.query.clone().unwrap_or_default()),
            );
            pool.sys.insert(
                "conversation_id".into(),
                json!(input.conversation_id.clone().unwrap_or_default()),
            );
            pool.sys
                .insert("dialogue_count".into(), json!(input.dialogue_count));
        }
        pool.sys
            .insert("files".into(), Value::Array(input.files.clone()));
        pool.sys.insert("user_id".into(), json!(input.user));
        pool.sys.insert("app_id".into(), json!(input.app_id));
        pool.sys
            .insert("workflow_id".into(), json!(input.workflow_id));
        pool.sys
            .insert("workflow_run_id".into(), json!(input.run_id));
        pool.env = flow.environment.clone();
        pool.conversation = flow.conversation_variable_defaults();
        for (name, value) in &input.conversation_variables {
            pool.conversation.insert(name.clone(), value.clone());
        }
        let mut run_inputs = flow
            .check_inputs(&input.inputs)
            .unwrap_or_else(|_| input.inputs.clone());
        for (name, value) in &pool.sys {
            run_inputs.insert(format!("sys.{name}"), value.clone());
        }
        let (messages, message_rx) = mpsc::unbounded_channel();
        let count = flow.nodes.len();
        Execution {
            states: vec![NodeState::Waiting; count],
            pending_edges: flow.incoming.iter().map(Vec::len).collect(),
            live_in: vec![false; count],
            predecessor: vec![None; count],
            streams: Streams::new(&flow),
            flow,
            services,
            input: Arc::new(input),
            events,
            pool,
            running: HashMap::new(),
            tasks: JoinSet::new(),
            task_nodes: HashMap::new(),
            messages,
            message_rx,
            records: Vec::new(),
            next_index: 0,
            answer: String::new(),
            retrieved: Vec::new(),
            outputs: Map::new(),
            usage: LlmUsage::default(),
            exceptions: 0,
            run_inputs: Value::Object(run_inputs),
            started: Instant::now(),
            created_at: unix_now(),
        }
    }

    fn emit(&self, event: RunEvent) {
        let _ = self.events.send(event);
    }

    async fn run(mut self, cancel: CancellationToken) -> RunOutcome {
        self.emit(RunEvent::WorkflowStarted {
            run_id: self.input.run_id.clone(),
            workflow_id: self.input.workflow_id.clone(),
            inputs: self.run_inputs.clone(),
            created_at: self.created_at,
        });
        let run_timeout = Duration::from_secs(self.services.config.run_timeout_secs);
        let deadline = tokio::time::Instant::now() + run_timeout;
        self.start_node(self.flow.start);
        let ending = loop {
            if self.tasks.is_empty() {
                break Ending::Completed;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break Ending::Stopped,
                _ = tokio::time::sleep_until(deadline) => break Ending::TimedOut,
                Some(message) = self.message_rx.recv() => self.on_message(message),
                Some(joined) = self.tasks.join_next_with_id() => {
                    // Deltas sent before the task ended come first.
                    while let Ok(message) = self.message_rx.try_recv() {
                        self.on_message(message);
                    }
                    let (node, result) = match joined {
                        Ok((_, outcome)) => outcome,
                        Err(error) => {
                            let node = self.task_nodes[&error.id()];
                            (node, Err(NodeFailure::new(format!("node {} panicked: {error}", self.flow.nodes[node].id))))
                        }
                    };
                    if let Some(error) = self.on_node_done(node, result) {
                        break Ending::Failed(error);
                    }
                }
            }
        };
        self.finish(ending, run_timeout).await
    }

    fn on_message(&mut self, message: NodeMessage) {
        match message {
            NodeMessage::Delta { node, text } => {
                self.streams.delta(node, &text);
                self.pump_streams();
            }
        }
    }

    fn start_node(&mut self, node: usize) {
        let flow = self.flow.clone();
        let spec = &flow.nodes[node];
        self.next_index += 1;
        let record = NodeExecution {
            id: uuid::Uuid::new_v4().to_string(),
            run_id: self.input.run_id.clone(),
            node_id: spec.id.clone(),
            node_type: spec.node_type.clone(),
            title: spec.title.clone(),
            index: self.next_index,
            predecessor_node_id: self.predecessor[node].map(|p| flow.nodes[p].id.clone()),
            inputs: Value::Null,
            process_data: Value::Null,
            outputs: Value::Null,
            status: NodeStatus::Running,
            error: None,
            elapsed_time: 0.0,
            usage: LlmUsage::default(),
            created_at: unix_now(),
            finished_at: None,
        };
        self.emit(RunEvent::NodeStarted(record.clone()));
        self.states[node] = NodeState::Running;
        if spec.is_llm() {
            self.streams.llm_started(&flow, node);
            self.pump_streams();
        }
        let context = NodeContext {
            flow: flow.clone(),
            index: node,
            pool: self.pool.clone(),
            services: self.services.clone(),
            input: self.input.clone(),
            messages: self.messages.clone(),
        };
        let secs = self.services.config.node_timeout_secs;
        let timeout_error = format!("node {} ({}) timed out after {secs} s", spec.id, spec.title);
        let handle = self.tasks.spawn(async move {
            let result =
                match tokio::time::timeout(Duration::from_secs(secs), nodes::run(context)).await {
                    Ok(result) => result,
                    Err(_) => Err(NodeFailure::new(timeout_error)),
                };
            (node, result)
        });
        self.task_nodes.insert(handle.id(), node);
        self.running.insert(
            node,
            RunningNode {
                record,
                started: Instant::now(),
            },
        );
    }

    /// Records a finished node and moves the graph on; returns the run's error when the node failed it.
    fn on_node_done(
        &mut self,
        node: usize,
        result: Result<NodeSuccess, NodeFailure>,
    ) -> Option<String> {
        let flow = self.flow.clone();
        let spec = &flow.nodes[node];
        let RunningNode {
            mut record,
            started,
        } = self
            .running
            .remove(&node)
            .expect("a finished node was running");
        record.elapsed_time = started.elapsed().as_secs_f64();
        record.finished_at = Some(unix_now());
        self.states[node] = NodeState::Finished;
        let mut answer_parts = None;
        let (outputs, handle, take_fail_branch) = match result {
            Ok(success) => {
                record.status = NodeStatus::Succeeded;
                record.inputs = object_or_empty(success.inputs);
                record.process_data = success.process_data;
                record.usage = success.usage;
                if let Some(hits) = success.retrieved {
                    self.emit(RunEvent::Retrieved(hits.clone()));
                    self.retrieved.extend(hits);
                }
                answer_parts = success.answer_parts;
                (success.outputs, success.handle, false)
            }
            Err(failure) => {
                record.error = Some(failure.error.clone());
                record.inputs = object_or_empty(failure.inputs);
                record.process_data = failure.process_data;
                let mut outputs = match &spec.on_error {
                    ErrorStrategy::Fail => {
                        record.status = NodeStatus::Failed;
                        self.emit(RunEvent::NodeFinished(record.clone()));
                        self.records.push(record);
                        return Some(failure.error);
                    }
                    ErrorStrategy::DefaultValue(defaults) => defaults.clone(),
                    ErrorStrategy::FailBranch => Map::new(),
                };
                // Default values let the run go on along the normal edges; a fail branch replaces them.
                let take_fail_branch = spec.on_error == ErrorStrategy::FailBranch;
                record.status = NodeStatus::Exception;
                self.exceptions += 1;
                outputs.insert("error_message".into(), json!(failure.error));
                outputs.insert("error_type".into(), json!("NodeError"));
                (outputs, None, take_fail_branch)
            }
        };
        self.usage.add(&record.usage);
        if matches!(spec.kind, NodeKind::End(_)) {
            self.outputs.extend(outputs.clone());
        }
        record.outputs = Value::Object(outputs.clone());
        self.pool.set_node_outputs(&spec.id, outputs);
        self.finish_stream(node, answer_parts);
        self.pump_streams();
        self.emit(RunEvent::NodeFinished(record.clone()));
        self.records.push(record);
        self.follow_edges(node, handle.as_deref(), take_fail_branch);
        None
    }

    /// Hands the text of a finished answer node (its rendered parts) or end node (its outputs, now in
    /// the pool) to its stream, which sends what it had not sent yet.
    fn finish_stream(&mut self, node: usize, answer_parts: Option<Vec<String>>) {
        let flow = self.flow.clone();
        let Some(plan_index) = Streams::plan_of(&flow, node) else {
            return;
        };
        let plan = &flow.stream_plans[plan_index];
        let parts = match plan.kind {
            StreamKind::Answer => answer_parts.unwrap_or_default(),
            StreamKind::End => plan
                .segments
                .iter()
                .map(|segment| match segment {
                    StreamSegment::Text(text) => text.clone(),
                    StreamSegment::Var(selector) => {
                        self.pool.get(selector).map(value_text).unwrap_or_default()
                    }
                })
                .collect(),
        };
        self.streams.finish(plan_index, parts);
    }

    /// Resolves the node's outgoing edges (taken or not), skips what can no longer run and starts what
    /// is ready.
    fn follow_edges(&mut self, node: usize, handle: Option<&str>, take_fail_branch: bool) {
        let flow = self.flow.clone();
        let fail_branch = flow.nodes[node].on_error == ErrorStrategy::FailBranch;
        let mut queue: VecDeque<(usize, bool)> = flow.outgoing[node]
            .iter()
            .map(|&edge| {
                let edge_handle = flow.edges[edge].handle.as_str();
                let taken = match handle {
                    _ if take_fail_branch => edge_handle == "fail-branch",
                    Some(handle) => edge_handle == handle,
                    None if fail_branch => edge_handle != "fail-branch",
                    None => true,
                };
                (edge, taken)
            })
            .collect();
        let mut ready = Vec::new();
        let mut skipped_any = false;
        while let Some((edge, taken)) = queue.pop_front() {
            let source = flow.edges[edge].source;
            let target = flow.edges[edge].target;
            self.pending_edges[target] -= 1;
            if taken {
                self.live_in[target] = true;
                self.predecessor[target] = Some(source);
            }
            if self.pending_edges[target] > 0 || self.states[target] != NodeState::Waiting {
                continue;
            }
            if self.live_in[target] {
                ready.push(target);
            } else {
                self.states[target] = NodeState::Skipped;
                skipped_any = true;
                queue.extend(flow.outgoing[target].iter().map(|&edge| (edge, false)));
            }
        }
        if skipped_any {
            self.pump_streams();
        }
        for target in ready {
            self.start_node(target);
        }
    }

    /// Sends the answer / output text that can be sent now.
    fn pump_streams(&mut self) {
        let flow = self.flow.clone();
        let pool = &self.pool;
        let states = &self.states;
        let resolve = |selector: &[String]| -> Option<String> {
            let scope = selector.first()?;
            let resolved = || pool.get(selector).map(value_text).unwrap_or_default();
            if GLOBAL_SCOPES.contains(&scope.as_str()) {
                return Some(resolved());
            }
            match flow.node_index(scope) {
                Some(node) if matches!(states[node], NodeState::Finished | NodeState::Skipped) => {
                    Some(resolved())
                }
                Some(_) => None,
                None => Some(String::new()),
            }
        };
        for emitted in self.streams.pump(&flow, &resolve) {
            let plan = &flow.stream_plans[emitted.plan];
            match plan.kind {
                StreamKind::Answer => {
                    self.answer.push_str(&emitted.text);
                    let _ = self.events.send(RunEvent::Answer {
                        node_id: flow.nodes[plan.node].id.clone(),
                        text: emitted.text,
                    });
                }
                StreamKind::End => {
                    let _ = self.events.send(RunEvent::TextChunk {
                        text: emitted.text,
                        from_variable_selector: emitted.selector.unwrap_or_default(),
                    });
                }
            }
        }
    }

    /// Stops what still runs, builds the run record and sends `WorkflowFinished`.
    async fn finish(mut self, ending: Ending, run_timeout: Duration) -> RunOutcome {
        let (status, error, leftover_status, leftover_error) = match ending {
            Ending::Completed if self.exceptions > 0 => {
                (RunStatus::PartialSucceeded, None, NodeStatus::Stopped, None)
            }
            Ending::Completed => (RunStatus::Succeeded, None, NodeStatus::Stopped, None),
            Ending::Failed(error) => {
                let reason = "stopped: another node failed".to_string();
                (
                    RunStatus::Failed,
                    Some(error),
                    NodeStatus::Stopped,
                    Some(reason),
                )
            }
            Ending::Stopped => {
                let reason = "stopped by user".to_string();
                (
                    RunStatus::Stopped,
                    Some(reason.clone()),
                    NodeStatus::Stopped,
                    Some(reason),
                )
            }
            Ending::TimedOut => {
                let reason = format!("run timed out after {} s", run_timeout.as_secs());
                (
                    RunStatus::Failed,
                    Some(reason.clone()),
                    NodeStatus::Failed,
                    Some(reason),
                )
            }
        };
        self.tasks.abort_all();
        let mut leftovers: Vec<RunningNode> =
            self.running.drain().map(|(_, running)| running).collect();
        leftovers.sort_by_key(|running| running.record.index);
        for RunningNode {
            mut record,
            started,
        } in leftovers
        {
            record.status = leftover_status;
            record.error = leftover_error.clone();
            record.elapsed_time = started.elapsed().as_secs_f64();
            record.finished_at = Some(unix_now());
            record.inputs = object_or_empty(record.inputs);
            self.emit(RunEvent::NodeFinished(record.clone()));
            self.records.push(record);
        }
        // Aborted tasks drop their futures (and so their HTTP streams) before the run returns.
        while self.tasks.join_next().await.is_some() {}

        self.records.sort_by_key(|record| record.index);
        let outputs = match self.flow.mode() {
            AppMode::Workflow => Value::Object(self.outputs),
            AppMode::AdvancedChat => json!({ "answer": self.answer }),
        };
        let record = RunRecord {
            id: self.input.run_id.clone(),
            app_id: self.input.app_id.clone(),
            workflow_id: self.input.workflow_id.clone(),
            mode: self.flow.mode().as_str().to_string(),
            user: self.input.user.clone(),
            conversation_id: self.input.conversation_id.clone(),
            message_id: self.input.message_id.clone(),
            status,
            inputs: self.run_inputs,
            outputs,
            error,
            elapsed_time: self.started.elapsed().as_secs_f64(),
            total_steps: self.records.len() as u32,
            usage: self.usage,
            created_at: self.created_at,
            finished_at: Some(unix_now()),
        };
        let _ = self.events.send(RunEvent::WorkflowFinished(record.clone()));
        RunOutcome {
            record,
            nodes: self.records,
            answer: self.answer,
            retriever_resources: self.retrieved,
            conversation_variables: self.pool.conversation,
        }
    }
}

fn object_or_empty(value: Value) -> Value {
    match value {
        Value::Null => Value::Object(Map::new()),
        other => other,
    }
}
