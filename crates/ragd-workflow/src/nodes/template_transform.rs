//! `template-transform`: renders a Jinja2 template (minijinja) over named variables into `output`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::template::Selector;

/// Dify's limit on the rendered text (`TEMPLATE_TRANSFORM_MAX_LENGTH`).
const MAX_OUTPUT_CHARS: usize = 400_000;

#[derive(Debug, Deserialize)]
struct RawTemplateTransform {
    #[serde(default, deserialize_with = "dsl::nullable")]
    variables: Vec<RawVariable>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    template: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawVariable {
    pub variable: Text,
    #[serde(default, deserialize_with = "dsl::selector")]
    pub value_selector: Selector,
}

/// A named variable of a template.
#[derive(Debug, Clone)]
pub(crate) struct NamedVariable {
    pub name: String,
    pub selector: Selector,
}

/// The template-transform node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct TemplateTransformNode {
    pub variables: Vec<NamedVariable>,
    pub template: String,
}

impl TemplateTransformNode {
    pub fn parse(
        node_id: &str,
        title: &str,
        data: &Value,
    ) -> Result<TemplateTransformNode, WorkflowError> {
        let raw: RawTemplateTransform = dsl::parse_data(node_id, title, data)?;
        minijinja::Environment::new()
            .template_from_str(&raw.template)
            .map_err(|error| {
                dsl::invalid(
                    node_id,
                    title,
                    format!("the template does not compile: {error}"),
                )
            })?;
        let variables = raw
            .variables
            .into_iter()
            .map(|variable| NamedVariable {
                name: variable.variable.0,
                selector: variable.value_selector,
            })
            .collect();
        Ok(TemplateTransformNode {
            variables,
            template: raw.template,
        })
    }
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &TemplateTransformNode,
) -> Result<NodeSuccess, NodeFailure> {
    let mut values = Map::new();
    for variable in &config.variables {
        let value = context
            .pool
            .get(&variable.selector)
            .cloned()
            .unwrap_or(Value::Null);
        values.insert(variable.name.clone(), value);
    }
    let inputs = Value::Object(values.clone());
    let environment = minijinja::Environment::new();
    let output = environment
        .render_str(
            &config.template,
            minijinja::Value::from(minijinja::value::Serde(&values)),
        )
        .map_err(|error| {
            NodeFailure::new(format!("the template failed to render: {error}"))
                .with_inputs(inputs.clone())
        })?;
    if output.chars().count() > MAX_OUTPUT_CHARS {
        return Err(NodeFailure::new(format!(
            "the output is longer than {MAX_OUTPUT_CHARS} characters"
        ))
        .with_inputs(inputs));
    }
    let mut outputs = Map::new();
    outputs.insert("output".into(), json!(output));
    Ok(NodeSuccess {
        inputs,
        outputs,
        ..NodeSuccess::default()
    })
}
