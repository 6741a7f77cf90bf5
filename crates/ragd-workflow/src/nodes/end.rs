//! `end`: collects the workflow's outputs (`outputs[{variable, value_selector}]`); they become the
//! run's outputs. LLM text among them is streamed as `text_chunk`s by [`crate::stream`].

use serde::Deserialize;
use serde_json::{Map, Value};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::template::Selector;

#[derive(Debug, Deserialize)]
struct RawEnd {
    #[serde(default, deserialize_with = "dsl::nullable")]
    outputs: Vec<RawOutput>,
}

#[derive(Debug, Deserialize)]
struct RawOutput {
    variable: Text,
    #[serde(default, deserialize_with = "dsl::selector")]
    value_selector: Selector,
}

/// One output of the end node.
#[derive(Debug, Clone)]
pub(crate) struct EndOutput {
    pub variable: String,
    pub selector: Selector,
}

/// The end node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct EndNode {
    pub outputs: Vec<EndOutput>,
}

impl EndNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<EndNode, WorkflowError> {
        let raw: RawEnd = dsl::parse_data(node_id, title, data)?;
        let mut outputs: Vec<EndOutput> = Vec::new();
        for output in raw.outputs {
            let variable = output.variable.0;
            if variable.is_empty() {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    "an output has no variable name",
                ));
            }
            if output.value_selector.len() < 2 {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("output `{variable}` has no value_selector"),
                ));
            }
            if outputs.iter().any(|known| known.variable == variable) {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("output `{variable}` is declared twice"),
                ));
            }
            outputs.push(EndOutput {
                variable,
                selector: output.value_selector,
            });
        }
        Ok(EndNode { outputs })
    }
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &EndNode,
) -> Result<NodeSuccess, NodeFailure> {
    let mut outputs = Map::new();
    for output in &config.outputs {
        let value = context
            .pool
            .get(&output.selector)
            .cloned()
            .unwrap_or(Value::Null);
        outputs.insert(output.variable.clone(), value);
    }
    Ok(NodeSuccess {
        inputs: Value::Object(outputs.clone()),
        outputs,
        ..NodeSuccess::default()
    })
}
