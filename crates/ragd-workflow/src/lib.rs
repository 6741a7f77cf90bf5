//! Dify-style flows for ragd: load an exported DSL file ([`Flow`]), run it as a DAG ([`Runtime`]) with its
//! node types, and report every step as [`RunEvent`]s and run records.
//!
//! Layout: [`flow`] loads and validates the YAML (every check happens at load, so a loaded flow only fails
//! at run time on data: a model error, a timeout, a bad HTTP answer); `template` and `pool` hold the
//! variable references and values; [`runtime`] is the executor (one coordinating task per run, one tokio
//! task per running node); `stream` forwards LLM tokens through answer and end nodes while they are
//! generated; `nodes` has one module per node type.

mod condition;
pub mod flow;
mod nodes;
mod pool;
pub mod runtime;
mod stream;
mod template;

pub use flow::{AppMode, Flow, StartVariable};
use ragd_core::run::{NodeExecution, RunRecord};
pub use runtime::{RunOutcome, Runtime};
use serde::{Deserialize, Serialize};

/// Errors of loading a flow and of checking a run's inputs. Running a flow never returns an error:
/// failures end up in the run record (status `failed`, `error`) and in the events. All variants are
/// user errors (a bad file, a bad input): their `Display` is meant to be shown as is.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The file is not YAML, or not a Dify DSL of a supported shape; the message names the place.
    #[error("invalid flow: {0}")]
    Invalid(String),
    /// A start variable's value is missing or of the wrong type.
    #[error("input `{variable}`: {message}")]
    Input { variable: String, message: String },
    /// A node of a type this runtime does not run.
    #[error(
        "node {node_id} ({title}) has type `{node_type}`, which ragd does not run; supported: {supported}"
    )]
    UnsupportedNode {
        node_id: String,
        title: String,
        node_type: String,
        supported: String,
    },
}

/// One dataset search asked for by a knowledge-retrieval node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeQuery {
    pub dataset_ids: Vec<String>,
    pub query: String,
    pub top_k: usize,
    /// `None` when the node's threshold is disabled.
    pub score_threshold: Option<f64>,
    /// `(vector_weight, keyword_weight)` of the node's weighted hybrid settings, when given.
    pub weights: Option<(f64, f64)>,
    /// Dify's `metadata_filtering_conditions` object (`{logical_operator, conditions}`) in manual mode.
    pub metadata_filter: Option<serde_json::Value>,
}

/// One retrieved chunk, with everything Dify's `retriever_resources` carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeHit {
    pub content: String,
    pub score: f64,
    pub dataset_id: String,
    pub dataset_name: String,
    pub document_id: String,
    pub document_name: String,
    pub data_source_type: String,
    pub segment_id: String,
    pub segment_position: i64,
    pub hit_count: i64,
    pub word_count: i64,
    pub index_node_hash: String,
    pub created_at: i64,
}

/// The retrieval a knowledge-retrieval node calls (the server passes its in-process retrieval path).
#[async_trait::async_trait]
pub trait Knowledge: Send + Sync {
    /// Searches; the `Err` string is shown as the node's error.
    async fn retrieve(&self, query: KnowledgeQuery) -> Result<Vec<KnowledgeHit>, String>;
}

/// One earlier turn of a conversation (for LLM memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub query: String,
    pub answer: String,
}

/// What a run starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    /// Run id (UUID) chosen by the caller, so it can be returned before the run ends.
    pub run_id: String,
    pub app_id: String,
    pub workflow_id: String,
    pub user: String,
    /// `sys.query` (chat flows).
    pub query: Option<String>,
    /// The start node's variables.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// `sys.files`.
    pub files: Vec<serde_json::Value>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    /// `sys.dialogue_count`: turns in the conversation before this one.
    pub dialogue_count: u64,
    /// Earlier turns, oldest first.
    pub memory: Vec<Turn>,
    /// Current values of the conversation variables (defaults from the flow when absent).
    pub conversation_variables: serde_json::Map<String, serde_json::Value>,
}

/// What a run reports while it runs, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    WorkflowStarted {
        run_id: String,
        workflow_id: String,
        inputs: serde_json::Value,
        created_at: i64,
    },
    /// A node began (status `running`, no outputs yet).
    NodeStarted(NodeExecution),
    NodeFinished(NodeExecution),
    /// A piece of the chat answer (advanced-chat: answer nodes, LLM tokens streamed through them).
    Answer {
        node_id: String,
        text: String,
    },
    /// A piece of a workflow's output (workflow mode: end node outputs, LLM tokens streamed through them).
    TextChunk {
        text: String,
        from_variable_selector: Vec<String>,
    },
    /// Retrieved chunks of a knowledge-retrieval node, for `retriever_resources`.
    Retrieved(Vec<KnowledgeHit>),
    /// The last event; the same record the run returns.
    WorkflowFinished(RunRecord),
}
