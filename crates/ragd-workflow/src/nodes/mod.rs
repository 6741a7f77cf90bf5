//! The node types: each module parses its `data` block at load (checking what it needs) and runs one
//! execution against a snapshot of the variable pool. A run returns [`NodeSuccess`] or [`NodeFailure`];
//! the coordinator ([`crate::runtime`]) turns them into records and events.

mod aggregator;
mod answer;
mod classifier;
pub(crate) mod dsl;
mod end;
mod extractor;
mod http;
mod if_else;
mod knowledge;
mod llm;
mod start;
mod template_transform;

use std::sync::Arc;

use ragd_core::run::LlmUsage;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

pub(crate) use answer::AnswerNode;
pub(crate) use end::EndNode;
pub(crate) use start::StartNode;

use self::dsl::Text;
use crate::flow::Flow;
use crate::pool::VariablePool;
use crate::runtime::Services;
use crate::template::{Selector, Template};
use crate::{KnowledgeHit, RunInput, WorkflowError};

/// The `data.type`s this runtime runs.
pub(crate) const SUPPORTED_TYPES: [&str; 11] = [
    "start",
    "knowledge-retrieval",
    "llm",
    "answer",
    "end",
    "if-else",
    "template-transform",
    "variable-aggregator",
    "http-request",
    "question-classifier",
    "parameter-extractor",
];

/// A node's typed configuration.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Start(StartNode),
    Knowledge(knowledge::KnowledgeNode),
    Llm(llm::LlmNode),
    Answer(AnswerNode),
    End(EndNode),
    IfElse(if_else::IfElseNode),
    TemplateTransform(template_transform::TemplateTransformNode),
    Aggregator(aggregator::AggregatorNode),
    Http(http::HttpNode),
    Classifier(classifier::ClassifierNode),
    Extractor(extractor::ExtractorNode),
}

/// What happens when the node fails (Dify's `error_strategy`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ErrorStrategy {
    /// The run fails (Dify's default).
    Fail,
    /// The node ends as `exception` with these outputs (plus `error_message`, `error_type`); the run goes on.
    DefaultValue(Map<String, Value>),
    /// The node ends as `exception` and only its `fail-branch` edges are taken.
    FailBranch,
}

#[derive(Debug, Deserialize)]
struct RawCommon {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    error_strategy: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    default_value: Vec<RawDefault>,
}

#[derive(Debug, Deserialize)]
struct RawDefault {
    key: Text,
    #[serde(default)]
    value: Value,
}

/// One node of a flow.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub id: String,
    pub title: String,
    /// Dify's `data.type`.
    pub node_type: String,
    pub kind: NodeKind,
    pub on_error: ErrorStrategy,
}

impl Node {
    /// Parses a node's `data`; an unknown type is [`WorkflowError::UnsupportedNode`].
    pub fn parse(
        id: &str,
        title: &str,
        node_type: &str,
        data: &Value,
    ) -> Result<Node, WorkflowError> {
        let kind = match node_type {
            "start" => NodeKind::Start(StartNode::parse(id, title, data)?),
            "knowledge-retrieval" => {
                NodeKind::Knowledge(knowledge::KnowledgeNode::parse(id, title, data)?)
            }
            "llm" => NodeKind::Llm(llm::LlmNode::parse(id, title, data)?),
            "answer" => NodeKind::Answer(AnswerNode::parse(id, title, data)?),
            "end" => NodeKind::End(EndNode::parse(id, title, data)?),
            "if-else" => NodeKind::IfElse(if_else::IfElseNode::parse(id, title, data)?),
            "template-transform" => NodeKind::TemplateTransform(
                template_transform::TemplateTransformNode::parse(id, title, data)?,
            ),
            "variable-aggregator" | "variable-assigner" if is_aggregator(node_type, data) => {
                NodeKind::Aggregator(aggregator::AggregatorNode::parse(id, title, data)?)
            }
            "http-request" => NodeKind::Http(http::HttpNode::parse(id, title, data)?),
            "question-classifier" => {
                NodeKind::Classifier(classifier::ClassifierNode::parse(id, title, data)?)
            }
            "parameter-extractor" => {
                NodeKind::Extractor(extractor::ExtractorNode::parse(id, title, data)?)
            }
            other => {
                return Err(WorkflowError::UnsupportedNode {
                    node_id: id.to_string(),
                    title: title.to_string(),
                    node_type: other.to_string(),
                    supported: SUPPORTED_TYPES.join(", "),
                });
            }
        };
        let common: RawCommon = dsl::parse_data(id, title, data)?;
        let on_error = match common.error_strategy.as_deref() {
            None | Some("") | Some("none") => ErrorStrategy::Fail,
            Some("fail-branch") => ErrorStrategy::FailBranch,
            Some("default-value") => ErrorStrategy::DefaultValue(
                common
                    .default_value
                    .into_iter()
                    .map(|default| (default.key.0, default.value))
                    .collect(),
            ),
            Some(other) => {
                return Err(dsl::invalid(
                    id,
                    title,
                    format!("error_strategy `{other}` is not supported"),
                ));
            }
        };
        Ok(Node {
            id: id.to_string(),
            title: title.to_string(),
            node_type: node_type.to_string(),
            kind,
            on_error,
        })
    }

    /// Every selector the node reads, from its fields and its templates.
    pub fn references(&self) -> Vec<&Selector> {
        fn from_templates<'a>(
            templates: impl IntoIterator<Item = &'a Template>,
        ) -> Vec<&'a Selector> {
            templates
                .into_iter()
                .flat_map(Template::selectors)
                .collect()
        }
        match &self.kind {
            NodeKind::Start(_) => Vec::new(),
            NodeKind::Knowledge(config) => vec![&config.query],
            NodeKind::Llm(config) => {
                let mut selectors = from_templates(config.templates());
                selectors.extend(config.context.iter());
                selectors.extend(
                    config
                        .jinja_variables
                        .iter()
                        .map(|variable| &variable.value_selector),
                );
                selectors
            }
            NodeKind::Answer(config) => from_templates([&config.template]),
            NodeKind::End(config) => config
                .outputs
                .iter()
                .map(|output| &output.selector)
                .collect(),
            NodeKind::IfElse(config) => {
                let mut selectors = from_templates(config.templates());
                selectors.extend(
                    config
                        .cases
                        .iter()
                        .flat_map(|case| &case.conditions)
                        .map(|c| &c.selector),
                );
                selectors
            }
            NodeKind::TemplateTransform(config) => {
                config.variables.iter().map(|v| &v.selector).collect()
            }
            NodeKind::Aggregator(config) => config.selectors().collect(),
            NodeKind::Http(config) => config.selectors(),
            NodeKind::Classifier(config) => {
                let mut selectors = from_templates([&config.instruction]);
                selectors.push(&config.query);
                selectors
            }
            NodeKind::Extractor(config) => {
                let mut selectors = from_templates([&config.instruction]);
                selectors.push(&config.query);
                selectors
            }
        }
    }

    /// For branching nodes, the handles their edges may carry.
    pub fn branch_handles(&self) -> Option<Vec<String>> {
        match &self.kind {
            NodeKind::IfElse(config) => Some(config.handles()),
            NodeKind::Classifier(config) => Some(config.handles()),
            _ => None,
        }
    }

    /// Whether some of its outgoing edges may be left untaken.
    pub fn is_branching(&self) -> bool {
        self.branch_handles().is_some() || self.on_error == ErrorStrategy::FailBranch
    }

    pub fn is_llm(&self) -> bool {
        matches!(self.kind, NodeKind::Llm(_))
    }
}

/// Dify renamed `variable-assigner` (v1 aggregator) to `variable-aggregator`; the new variable
/// assigner (writing conversation variables) has `version: '2'` or `items` and is not supported.
fn is_aggregator(node_type: &str, data: &Value) -> bool {
    node_type == "variable-aggregator"
        || (data.get("items").is_none() && data.get("version").is_none())
}

/// Messages from running nodes to the coordinator.
#[derive(Debug)]
pub(crate) enum NodeMessage {
    /// An LLM node's content delta.
    Delta { node: usize, text: String },
}

/// What a node execution sees.
pub(crate) struct NodeContext {
    pub flow: Arc<Flow>,
    /// The node's position in `flow.nodes`.
    pub index: usize,
    /// Snapshot of the pool when the node started (all its predecessors' outputs are in it).
    pub pool: VariablePool,
    pub services: Arc<Services>,
    pub input: Arc<RunInput>,
    pub messages: mpsc::UnboundedSender<NodeMessage>,
}

/// A successful execution.
#[derive(Debug, Default)]
pub(crate) struct NodeSuccess {
    pub inputs: Value,
    pub process_data: Value,
    pub outputs: Map<String, Value>,
    /// Branching nodes: the source handle of the edges to take.
    pub handle: Option<String>,
    pub usage: LlmUsage,
    /// Answer nodes: the rendered template, segment by segment.
    pub answer_parts: Option<Vec<String>>,
    /// Knowledge-retrieval nodes: the hits, for `retriever_resources`.
    pub retrieved: Option<Vec<KnowledgeHit>>,
}

/// A failed execution: the error and what was known when it happened.
#[derive(Debug)]
pub(crate) struct NodeFailure {
    pub error: String,
    pub inputs: Value,
    pub process_data: Value,
}

impl NodeFailure {
    pub fn new(error: impl Into<String>) -> NodeFailure {
        NodeFailure {
            error: error.into(),
            inputs: Value::Null,
            process_data: Value::Null,
        }
    }

    pub fn with_inputs(mut self, inputs: Value) -> NodeFailure {
        self.inputs = inputs;
        self
    }

    pub fn with_process_data(mut self, process_data: Value) -> NodeFailure {
        self.process_data = process_data;
        self
    }
}

/// Runs one execution of the node at `context.index`.
pub(crate) async fn run(context: NodeContext) -> Result<NodeSuccess, NodeFailure> {
    let flow = context.flow.clone();
    match &flow.nodes[context.index].kind {
        NodeKind::Start(_) => start::run(&context).await,
        NodeKind::Knowledge(config) => knowledge::run(&context, config).await,
        NodeKind::Llm(config) => llm::run(&context, config).await,
        NodeKind::Answer(config) => answer::run(&context, config).await,
        NodeKind::End(config) => end::run(&context, config).await,
        NodeKind::IfElse(config) => if_else::run(&context, config).await,
        NodeKind::TemplateTransform(config) => template_transform::run(&context, config).await,
        NodeKind::Aggregator(config) => aggregator::run(&context, config).await,
        NodeKind::Http(config) => http::run(&context, config).await,
        NodeKind::Classifier(config) => classifier::run(&context, config).await,
        NodeKind::Extractor(config) => extractor::run(&context, config).await,
    }
}

/// The first complete JSON object (or array) in `text` that parses, as Dify's extractors look for it.
pub(crate) fn first_json_object(text: &str) -> Option<Value> {
    for (start, opening) in text.char_indices().filter(|(_, c)| *c == '{' || *c == '[') {
        let closing = if opening == '{' { '}' } else { ']' };
        if let Some(end) = balanced_end(&text[start..], opening, closing)
            && let Ok(value) = serde_json::from_str::<Value>(&text[start..start + end])
        {
            return Some(value);
        }
    }
    None
}

/// Byte length of the balanced group at the start of `text`, skipping brackets inside strings.
fn balanced_end(text: &str, opening: char, closing: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            c if c == opening => depth += 1,
            c if c == closing => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + c.len_utf8());
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_the_first_json_object() {
        assert_eq!(
            first_json_object(r#"x {"a": "}{"} y"#),
            Some(json!({"a": "}{"}))
        );
        assert_eq!(
            first_json_object("```json\n{\"a\": [1, 2]}\n```"),
            Some(json!({"a": [1, 2]}))
        );
        assert_eq!(
            first_json_object("{not json} {\"b\": 1}"),
            Some(json!({"b": 1}))
        );
        assert_eq!(first_json_object("nothing"), None);
    }

    #[test]
    fn unsupported_types_name_the_node() {
        let error = Node::parse("n1", "Run code", "code", &json!({})).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("n1") && text.contains("Run code") && text.contains("`code`"),
            "{text}"
        );
        assert!(Node::parse("n2", "Assign", "assigner", &json!({})).is_err());
        assert!(
            Node::parse(
                "n3",
                "Assign v2",
                "variable-assigner",
                &json!({"version": "2", "items": []})
            )
            .is_err()
        );
    }

    #[test]
    fn error_strategies() {
        let data = json!({"answer": "x", "error_strategy": "default-value",
                          "default_value": [{"key": "answer", "type": "string", "value": "fallback"}]});
        let node = Node::parse("a", "A", "answer", &data).unwrap();
        assert_eq!(
            node.on_error,
            ErrorStrategy::DefaultValue(json!({"answer": "fallback"}).as_object().unwrap().clone())
        );
        let data = json!({"answer": "x", "error_strategy": "fail-branch"});
        assert!(
            Node::parse("a", "A", "answer", &data)
                .unwrap()
                .is_branching()
        );
    }
}
