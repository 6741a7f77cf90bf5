//! `parameter-extractor`: asks the model for a JSON object with the node's parameters, reads the first
//! JSON object of the answer and coerces each parameter to its type. Outputs every parameter (a typed
//! empty value when missing) plus `__is_success` (1/0) and `__reason` (why not, else null).

use serde::Deserialize;
use serde_json::{Map, Number, Value, json};

use super::dsl::{self, Text};
use super::llm::{self, MemoryConfig, ModelConfig, RawModel};
use super::{NodeContext, NodeFailure, NodeSuccess, first_json_object};
use crate::WorkflowError;
use crate::condition::{as_bool, as_number};
use crate::template::{Selector, Template, value_text};

#[derive(Debug, Deserialize)]
struct RawExtractor {
    model: RawModel,
    #[serde(default, deserialize_with = "dsl::selector")]
    query: Selector,
    #[serde(default, deserialize_with = "dsl::nullable")]
    parameters: Vec<RawParameter>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    instruction: String,
    #[serde(default)]
    memory: Option<MemoryConfig>,
}

#[derive(Debug, Deserialize)]
struct RawParameter {
    name: Text,
    #[serde(rename = "type")]
    kind: Text,
    #[serde(default, deserialize_with = "dsl::nullable")]
    description: String,
    #[serde(default, deserialize_with = "dsl::nullable")]
    required: bool,
    #[serde(default, deserialize_with = "dsl::nullable")]
    options: Vec<Text>,
}

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamType {
    String,
    Number,
    Bool,
    Select,
    ArrayString,
    ArrayNumber,
    ArrayBool,
    ArrayObject,
}

impl ParamType {
    fn parse(text: &str) -> Option<ParamType> {
        Some(match text {
            "string" => ParamType::String,
            "number" => ParamType::Number,
            "bool" | "boolean" => ParamType::Bool,
            "select" => ParamType::Select,
            "array[string]" => ParamType::ArrayString,
            "array[number]" => ParamType::ArrayNumber,
            "array[bool]" | "array[boolean]" => ParamType::ArrayBool,
            "array[object]" => ParamType::ArrayObject,
            _ => return None,
        })
    }

    fn json_schema(self) -> Value {
        match self {
            ParamType::String | ParamType::Select => json!({"type": "string"}),
            ParamType::Number => json!({"type": "number"}),
            ParamType::Bool => json!({"type": "boolean"}),
            ParamType::ArrayString => json!({"type": "array", "items": {"type": "string"}}),
            ParamType::ArrayNumber => json!({"type": "array", "items": {"type": "number"}}),
            ParamType::ArrayBool => json!({"type": "array", "items": {"type": "boolean"}}),
            ParamType::ArrayObject => json!({"type": "array", "items": {"type": "object"}}),
        }
    }

    /// The value output for a parameter the model did not give.
    fn empty(self) -> Value {
        match self {
            ParamType::String | ParamType::Select => json!(""),
            ParamType::Number => json!(0),
            ParamType::Bool => json!(false),
            _ => json!([]),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Parameter {
    pub name: String,
    pub kind: ParamType,
    pub description: String,
    pub required: bool,
    pub options: Vec<String>,
}

/// The parameter-extractor node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct ExtractorNode {
    pub model: ModelConfig,
    pub query: Selector,
    pub parameters: Vec<Parameter>,
    pub instruction: Template,
    pub memory: Option<MemoryConfig>,
}

impl ExtractorNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<ExtractorNode, WorkflowError> {
        let raw: RawExtractor = dsl::parse_data(node_id, title, data)?;
        if raw.query.len() < 2 {
            return Err(dsl::invalid(
                node_id,
                title,
                "query (the input variable) is missing",
            ));
        }
        let mut parameters: Vec<Parameter> = Vec::new();
        for parameter in raw.parameters {
            let name = parameter.name.0;
            if name.is_empty()
                || name.starts_with("__")
                || parameters.iter().any(|known| known.name == name)
            {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("parameter name `{name}` is empty, reserved or used twice"),
                ));
            }
            let kind = ParamType::parse(&parameter.kind.0).ok_or_else(|| {
                dsl::invalid(
                    node_id,
                    title,
                    format!("parameter `{name}` has unknown type `{}`", parameter.kind.0),
                )
            })?;
            parameters.push(Parameter {
                name,
                kind,
                description: parameter.description,
                required: parameter.required,
                options: parameter
                    .options
                    .into_iter()
                    .map(|option| option.0)
                    .collect(),
            });
        }
        if parameters.is_empty() {
            return Err(dsl::invalid(node_id, title, "parameters is empty"));
        }
        Ok(ExtractorNode {
            model: ModelConfig::from_raw(node_id, title, raw.model)?,
            query: raw.query,
            parameters,
            instruction: Template::parse(&raw.instruction, false),
            memory: raw.memory,
        })
    }

    /// The JSON schema the model is asked to follow.
    fn schema(&self) -> Value {
        let mut properties = Map::new();
        for parameter in &self.parameters {
            let mut schema = parameter.kind.json_schema();
            schema["description"] = json!(parameter.description);
            if parameter.kind == ParamType::Select && !parameter.options.is_empty() {
                schema["enum"] = json!(parameter.options);
            }
            properties.insert(parameter.name.clone(), schema);
        }
        let required: Vec<&str> = self
            .parameters
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name.as_str())
            .collect();
        json!({ "type": "object", "properties": properties, "required": required })
    }
}

fn system_prompt(config: &ExtractorNode, instruction: &str, histories: &str) -> String {
    let mut prompt = String::from(
        "You extract structured parameters from the text the user gives. Answer with one JSON object and \
         nothing else: its keys are the parameters of this JSON schema; leave out any parameter the text \
         does not give.\n### Schema\n",
    );
    prompt.push_str(&config.schema().to_string());
    if !instruction.trim().is_empty() {
        prompt.push_str("\n### Instructions\n");
        prompt.push_str(instruction);
    }
    if !histories.is_empty() {
        prompt.push_str("\n### Chat history\n<histories>\n");
        prompt.push_str(histories);
        prompt.push_str("\n</histories>");
    }
    prompt
}

/// `value` as the parameter's type, or `None` when it cannot be.
fn coerce(parameter: &Parameter, value: &Value) -> Option<Value> {
    let number = |value: &Value| -> Option<Value> {
        match value {
            Value::Number(_) => Some(value.clone()),
            Value::String(text) => {
                let text = text.trim();
                match text.parse::<i64>() {
                    Ok(int) => Some(json!(int)),
                    Err(_) => text
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .map(Value::Number),
                }
            }
            _ => None,
        }
    };
    let array = |coerce_item: &dyn Fn(&Value) -> Option<Value>| -> Option<Value> {
        let Value::Array(items) = value else {
            return None;
        };
        Some(Value::Array(items.iter().filter_map(coerce_item).collect()))
    };
    match parameter.kind {
        ParamType::String => match value {
            Value::String(_) => Some(value.clone()),
            Value::Number(_) | Value::Bool(_) => Some(json!(value_text(value))),
            _ => None,
        },
        ParamType::Select => {
            let text = value_text(value);
            let allowed = parameter.options.is_empty() || parameter.options.contains(&text);
            (allowed && !value.is_null()).then(|| json!(text))
        }
        ParamType::Number => number(value).filter(|_| as_number(value).is_some()),
        ParamType::Bool => as_bool(value).map(Value::Bool),
        ParamType::ArrayString => array(&|item| match item {
            Value::String(_) => Some(item.clone()),
            Value::Number(_) | Value::Bool(_) => Some(json!(value_text(item))),
            _ => None,
        }),
        ParamType::ArrayNumber => array(&number),
        ParamType::ArrayBool => array(&|item| as_bool(item).map(Value::Bool)),
        ParamType::ArrayObject => array(&|item| item.is_object().then(|| item.clone())),
    }
}

/// The outputs for the model's answer: parameters, `__is_success` and `__reason`.
pub(crate) fn extract(config: &ExtractorNode, answer: &str) -> Map<String, Value> {
    let found = first_json_object(answer);
    let mut outputs = Map::new();
    let mut reasons = Vec::new();
    if found.is_none() {
        reasons.push("the model's answer holds no JSON object".to_string());
    }
    let object = found
        .and_then(|value| value.as_object().cloned())
        .unwrap_or_default();
    for parameter in &config.parameters {
        let value = object.get(&parameter.name).filter(|value| !value.is_null());
        let coerced = value.and_then(|value| coerce(parameter, value));
        if coerced.is_none() && parameter.required && !reasons.iter().any(|r| r.contains("no JSON"))
        {
            reasons.push(match value {
                Some(value) => format!(
                    "required parameter `{}` has an invalid value {value}",
                    parameter.name
                ),
                None => format!("required parameter `{}` is missing", parameter.name),
            });
        }
        outputs.insert(
            parameter.name.clone(),
            coerced.unwrap_or_else(|| parameter.kind.empty()),
        );
    }
    outputs.insert(
        "__is_success".into(),
        json!(if reasons.is_empty() { 1 } else { 0 }),
    );
    outputs.insert(
        "__reason".into(),
        if reasons.is_empty() {
            Value::Null
        } else {
            json!(reasons.join("; "))
        },
    );
    outputs
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &ExtractorNode,
) -> Result<NodeSuccess, NodeFailure> {
    let llm::QueryPrompt {
        query,
        instruction,
        messages,
    } = llm::query_prompt(
        context,
        &config.query,
        &config.instruction,
        config.memory.as_ref(),
        |instruction, histories| system_prompt(config, instruction, histories),
    );
    let inputs = json!({
        "query": query,
        "parameters": config.schema(),
        "instruction": instruction,
    });
    let mut process_data = json!({
        "model_mode": "chat",
        "model_provider": config.model.provider,
        "model_name": config.model.name,
        "prompts": llm::prompts_for_saving(&messages),
    });
    let completion = llm::invoke(context, &config.model, messages, false)
        .await
        .map_err(|error| {
            NodeFailure::new(error)
                .with_inputs(inputs.clone())
                .with_process_data(process_data.clone())
        })?;
    process_data["usage"] = llm::usage_json(&completion);
    process_data["llm_text"] = json!(completion.text);
    let mut outputs = extract(config, &completion.text);
    outputs.insert("__usage".into(), llm::usage_json(&completion));
    Ok(NodeSuccess {
        inputs,
        process_data,
        outputs,
        usage: llm::llm_usage(&completion),
        ..NodeSuccess::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> ExtractorNode {
        let data = json!({
            "model": {"provider": "openai", "name": "gpt", "mode": "chat"},
            "query": ["start", "text"],
            "parameters": [
                {"name": "city", "type": "string", "description": "City", "required": true},
                {"name": "days", "type": "number", "description": "Days", "required": false},
                {"name": "urgent", "type": "bool", "description": "", "required": false},
                {"name": "unit", "type": "select", "options": ["c", "f"], "required": false},
                {"name": "tags", "type": "array[string]", "required": false}
            ],
            "reasoning_mode": "prompt"
        });
        ExtractorNode::parse("pe", "PE", &data).unwrap()
    }

    #[test]
    fn extracts_and_coerces() {
        let outputs = extract(
            &node(),
            r#"Sure! {"city": "Paris", "days": "3", "urgent": "true", "unit": "k", "tags": ["a", 1, {}]} done"#,
        );
        assert_eq!(outputs["city"], json!("Paris"));
        assert_eq!(outputs["days"], json!(3));
        assert_eq!(outputs["urgent"], json!(true));
        assert_eq!(outputs["unit"], json!(""));
        assert_eq!(outputs["tags"], json!(["a", "1"]));
        assert_eq!(outputs["__is_success"], json!(1));
        assert_eq!(outputs["__reason"], Value::Null);
    }

    #[test]
    fn missing_required_and_no_json() {
        let outputs = extract(&node(), r#"{"days": 2.5}"#);
        assert_eq!(outputs["__is_success"], json!(0));
        assert!(outputs["__reason"].as_str().unwrap().contains("city"));
        assert_eq!(outputs["city"], json!(""));
        assert_eq!(outputs["days"], json!(2.5));
        let outputs = extract(&node(), "I cannot help");
        assert_eq!(outputs["__is_success"], json!(0));
        assert_eq!(outputs["days"], json!(0));
    }

    #[test]
    fn rejects_bad_parameters() {
        let data = json!({"model": {}, "query": ["s", "t"], "parameters": [{"name": "x", "type": "date"}]});
        assert!(
            ExtractorNode::parse("pe", "PE", &data)
                .unwrap_err()
                .to_string()
                .contains("date")
        );
    }
}
