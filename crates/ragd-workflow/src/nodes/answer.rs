//! `answer`: renders its template into the chat answer. The text is sent by the coordinator's answer
//! stream ([`crate::stream`]), which may already have sent the parts an LLM streamed live; the node
//! returns its rendered parts so that only the rest is sent.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dsl;
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::template::Template;

#[derive(Debug, Deserialize)]
struct RawAnswer {
    #[serde(default, deserialize_with = "dsl::nullable")]
    answer: String,
}

/// The answer node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct AnswerNode {
    pub template: Template,
}

impl AnswerNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<AnswerNode, WorkflowError> {
        let raw: RawAnswer = dsl::parse_data(node_id, title, data)?;
        Ok(AnswerNode {
            template: Template::parse(&raw.answer, false),
        })
    }
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &AnswerNode,
) -> Result<NodeSuccess, NodeFailure> {
    let parts = config.template.render_parts(&context.pool, "", "");
    let mut outputs = Map::new();
    outputs.insert("answer".into(), json!(parts.concat()));
    outputs.insert("files".into(), json!([]));
    Ok(NodeSuccess {
        outputs,
        answer_parts: Some(parts),
        ..NodeSuccess::default()
    })
}
