//! `start`: declares the run's input variables; at run time it checks the inputs and outputs them, with
//! the `sys.*` variables alongside (as Dify does).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::flow::StartVariable;

#[derive(Debug, Deserialize)]
struct RawStart {
    #[serde(default, deserialize_with = "dsl::nullable")]
    variables: Vec<RawVariable>,
}

#[derive(Debug, Deserialize)]
struct RawVariable {
    variable: Text,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    label: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "dsl::opt_text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    required: bool,
    #[serde(default, deserialize_with = "dsl::opt_number")]
    max_length: Option<f64>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    options: Vec<Text>,
    #[serde(default)]
    default: Option<Value>,
}

/// The start node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct StartNode {
    pub variables: Vec<StartVariable>,
}

impl StartNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<StartNode, WorkflowError> {
        let raw: RawStart = dsl::parse_data(node_id, title, data)?;
        let mut variables: Vec<StartVariable> = Vec::new();
        for variable in raw.variables {
            let name = variable.variable.0;
            if name.is_empty() {
                return Err(dsl::invalid(node_id, title, "a start variable has no name"));
            }
            if variables.iter().any(|known| known.variable == name) {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("start variable `{name}` is declared twice"),
                ));
            }
            let kind = variable
                .kind
                .filter(|kind| !kind.is_empty())
                .unwrap_or_else(|| "text-input".into());
            if kind == "select" && variable.options.is_empty() {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("select variable `{name}` has no options"),
                ));
            }
            variables.push(StartVariable {
                label: variable
                    .label
                    .filter(|label| !label.is_empty())
                    .unwrap_or_else(|| name.clone()),
                variable: name,
                kind,
                required: variable.required,
                max_length: variable.max_length.filter(|n| *n > 0.0).map(|n| n as usize),
                options: variable
                    .options
                    .into_iter()
                    .map(|option| option.0)
                    .collect(),
                default: variable
                    .default
                    .filter(|value| !value.is_null() && value != ""),
            });
        }
        Ok(StartNode { variables })
    }
}

pub(crate) async fn run(context: &NodeContext) -> Result<NodeSuccess, NodeFailure> {
    let checked = context
        .flow
        .check_inputs(&context.input.inputs)
        .map_err(|error| {
            NodeFailure::new(error.to_string())
                .with_inputs(Value::Object(context.input.inputs.clone()))
        })?;
    let mut outputs: Map<String, Value> = checked.clone();
    for (name, value) in &context.pool.sys {
        outputs.insert(format!("sys.{name}"), value.clone());
    }
    Ok(NodeSuccess {
        inputs: Value::Object(checked),
        outputs,
        ..NodeSuccess::default()
    })
}
