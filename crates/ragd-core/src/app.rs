//! Apps (a flow served by the App API), their conversations and messages: the App API's stored entities.

use serde::{Deserialize, Serialize};

use crate::dataset::Timestamp;

/// An app: one flow (Dify DSL) served under its own `app-…` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `workflow` or `advanced-chat`.
    pub mode: String,
    /// The flow's DSL, as loaded.
    pub dsl: String,
    /// Id of this version of the flow (Dify's `workflow_id`).
    pub workflow_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What it takes to store an app (the DSL already validated by the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApp {
    pub name: String,
    pub description: String,
    pub mode: String,
    pub dsl: String,
}

/// A conversation of one user with one chat app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub app_id: String,
    pub user: String,
    pub name: String,
    pub inputs: serde_json::Value,
    /// Values of the flow's conversation variables after the last turn.
    pub variables: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Conversation list order (Dify's `sort_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConversationSort {
    CreatedAt,
    CreatedAtDesc,
    UpdatedAt,
    #[default]
    UpdatedAtDesc,
}

impl ConversationSort {
    /// Parses Dify's spelling (`-updated_at`, `created_at`, …).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created_at" => ConversationSort::CreatedAt,
            "-created_at" => ConversationSort::CreatedAtDesc,
            "updated_at" => ConversationSort::UpdatedAt,
            "-updated_at" => ConversationSort::UpdatedAtDesc,
            _ => return None,
        })
    }
}

/// One question and its answer in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub app_id: String,
    pub user: String,
    pub parent_message_id: Option<String>,
    pub inputs: serde_json::Value,
    pub query: String,
    pub answer: String,
    /// `normal`, `error` or `stopped`.
    pub status: String,
    pub error: Option<String>,
    /// Dify's `retriever_resources` array, as answered.
    pub retriever_resources: serde_json::Value,
    /// `like`, `dislike` or none.
    pub feedback: Option<String>,
    pub feedback_content: Option<String>,
    pub message_tokens: u64,
    pub answer_tokens: u64,
    pub total_tokens: u64,
    /// Seconds the provider took.
    pub provider_response_latency: f64,
    pub workflow_run_id: Option<String>,
    pub created_at: Timestamp,
}
