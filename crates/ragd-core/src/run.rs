//! Records of workflow runs and node executions: what the runtime produces, the run-log store keeps, and
//! the API and `ragd runs` show. Shapes follow Dify's `workflow_finished` / `node_finished` payloads.

use serde::{Deserialize, Serialize};

use crate::dataset::Timestamp;

/// Status of a whole run (Dify's `workflow_finished.data.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Stopped,
    PartialSucceeded,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::PartialSucceeded => "partial-succeeded",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Stopped,
            RunStatus::PartialSucceeded,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// Status of one node execution (Dify's `node_finished.data.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Running,
    Succeeded,
    Failed,
    Exception,
    Stopped,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Running => "running",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::Exception => "exception",
            NodeStatus::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<NodeStatus> {
        [
            NodeStatus::Running,
            NodeStatus::Succeeded,
            NodeStatus::Failed,
            NodeStatus::Exception,
            NodeStatus::Stopped,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// Token usage and timing of the LLM calls of a node or of a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Seconds from the request to the end of the answer (summed over the calls).
    pub latency: f64,
    /// Seconds from the request to the first token (of the first call that produced one).
    pub time_to_first_token: Option<f64>,
}

impl LlmUsage {
    /// Adds another call's usage; the first known time to first token is kept.
    pub fn add(&mut self, other: &LlmUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.latency += other.latency;
        if self.time_to_first_token.is_none() {
            self.time_to_first_token = other.time_to_first_token;
        }
    }
}

/// One execution of one node in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeExecution {
    /// Execution id (a UUID), distinct from the node id.
    pub id: String,
    pub run_id: String,
    pub node_id: String,
    /// Dify's `data.type` (`llm`, `knowledge-retrieval`, …).
    pub node_type: String,
    pub title: String,
    /// 1-based order in which nodes started.
    pub index: u32,
    pub predecessor_node_id: Option<String>,
    pub inputs: serde_json::Value,
    /// What the node did besides its outputs: the rendered prompt, the HTTP request, usage, timings.
    pub process_data: serde_json::Value,
    pub outputs: serde_json::Value,
    pub status: NodeStatus,
    pub error: Option<String>,
    /// Seconds.
    pub elapsed_time: f64,
    /// LLM usage of this node (zero for nodes that call no model).
    pub usage: LlmUsage,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// One run of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (Dify's `workflow_run_id`), a UUID.
    pub id: String,
    pub app_id: String,
    /// Id of the flow version that ran (Dify's `workflow_id`).
    pub workflow_id: String,
    /// `workflow` or `advanced-chat`.
    pub mode: String,
    pub user: String,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub status: RunStatus,
    pub inputs: serde_json::Value,
    pub outputs: serde_json::Value,
    pub error: Option<String>,
    /// Seconds.
    pub elapsed_time: f64,
    /// Nodes that ran.
    pub total_steps: u32,
    /// LLM usage summed over the run's nodes.
    pub usage: LlmUsage,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}
