//! `question-classifier`: asks the model which of the node's classes the query belongs to and takes the
//! branch of that class (its `id` is the edge's `sourceHandle`). The answer is read robustly: a JSON
//! object with `category_id` / `category_name`, else a class name (or id) in the text, else the first
//! class, as Dify falls back.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dsl::{self, Text};
use super::llm::{self, MemoryConfig, ModelConfig, RawModel};
use super::{NodeContext, NodeFailure, NodeSuccess, first_json_object};
use crate::WorkflowError;
use crate::template::{Selector, Template, value_text};

#[derive(Debug, Deserialize)]
struct RawClassifier {
    model: RawModel,
    #[serde(default, deserialize_with = "dsl::selector")]
    query_variable_selector: Selector,
    #[serde(default, deserialize_with = "dsl::nullable")]
    classes: Vec<RawClass>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    instruction: String,
    #[serde(default)]
    memory: Option<MemoryConfig>,
}

#[derive(Debug, Deserialize)]
struct RawClass {
    id: Text,
    #[serde(default, deserialize_with = "dsl::nullable")]
    name: Text,
}

/// One class: its id is the branch handle.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub id: String,
    pub name: String,
}

/// The question-classifier node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct ClassifierNode {
    pub model: ModelConfig,
    pub query: Selector,
    pub classes: Vec<Class>,
    pub instruction: Template,
    pub memory: Option<MemoryConfig>,
}

impl ClassifierNode {
    pub fn parse(
        node_id: &str,
        title: &str,
        data: &Value,
    ) -> Result<ClassifierNode, WorkflowError> {
        let raw: RawClassifier = dsl::parse_data(node_id, title, data)?;
        if raw.query_variable_selector.len() < 2 {
            return Err(dsl::invalid(
                node_id,
                title,
                "query_variable_selector is missing",
            ));
        }
        let mut classes: Vec<Class> = Vec::new();
        for class in raw.classes {
            if class.id.0.is_empty() || classes.iter().any(|known| known.id == class.id.0) {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("class id `{}` is empty or used twice", class.id.0),
                ));
            }
            classes.push(Class {
                id: class.id.0,
                name: class.name.0,
            });
        }
        if classes.is_empty() {
            return Err(dsl::invalid(node_id, title, "classes is empty"));
        }
        Ok(ClassifierNode {
            model: ModelConfig::from_raw(node_id, title, raw.model)?,
            query: raw.query_variable_selector,
            classes,
            instruction: Template::parse(&raw.instruction, false),
            memory: raw.memory,
        })
    }

    /// Branch handles: the class ids.
    pub fn handles(&self) -> Vec<String> {
        self.classes.iter().map(|class| class.id.clone()).collect()
    }
}

fn system_prompt(config: &ClassifierNode, instruction: &str, histories: &str) -> String {
    let categories: Vec<Value> = config
        .classes
        .iter()
        .map(|class| json!({ "category_id": class.id, "category_name": class.name }))
        .collect();
    let mut prompt = String::from(
        "### Job Description\nYou are a text classification engine. You assign the input text to exactly one \
         of the categories below.\n### Categories\n",
    );
    prompt.push_str(&Value::Array(categories).to_string());
    if !instruction.trim().is_empty() {
        prompt.push_str("\n### Classification instructions\n");
        prompt.push_str(instruction);
    }
    if !histories.is_empty() {
        prompt
            .push_str("\n### Memory\nThe chat history between human and assistant:\n<histories>\n");
        prompt.push_str(histories);
        prompt.push_str("\n</histories>");
    }
    prompt.push_str(
        "\n### Format\nAnswer with one JSON object and nothing else: \
         {\"category_id\": \"<id>\", \"category_name\": \"<name>\"}",
    );
    prompt
}

/// The class the model's answer names; falls back to the first class.
pub(crate) fn pick_class<'a>(classes: &'a [Class], answer: &str) -> &'a Class {
    if let Some(Value::Object(object)) = first_json_object(answer) {
        let id = object.get("category_id").map(value_text);
        if let Some(class) = classes.iter().find(|class| Some(&class.id) == id.as_ref()) {
            return class;
        }
        let name = object
            .get("category_name")
            .map(value_text)
            .unwrap_or_default();
        if let Some(class) = classes
            .iter()
            .find(|class| class.name.trim().eq_ignore_ascii_case(name.trim()))
        {
            return class;
        }
    }
    let lower = answer.to_lowercase();
    let earliest = |key: fn(&Class) -> &str| {
        classes
            .iter()
            .filter(|class| !key(class).trim().is_empty())
            .filter_map(|class| {
                lower
                    .find(&key(class).trim().to_lowercase())
                    .map(|at| (at, class))
            })
            .min_by_key(|(at, class)| (*at, usize::MAX - key(class).len()))
            .map(|(_, class)| class)
    };
    earliest(|class| &class.name)
        .or_else(|| earliest(|class| &class.id))
        .unwrap_or(&classes[0])
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &ClassifierNode,
) -> Result<NodeSuccess, NodeFailure> {
    let llm::QueryPrompt {
        query, messages, ..
    } = llm::query_prompt(
        context,
        &config.query,
        &config.instruction,
        config.memory.as_ref(),
        |instruction, histories| system_prompt(config, instruction, histories),
    );
    let inputs = json!({ "query": query });
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
    let class = pick_class(&config.classes, &completion.text);
    process_data["usage"] = llm::usage_json(&completion);
    process_data["llm_text"] = json!(completion.text);
    let mut outputs = Map::new();
    outputs.insert("class_name".into(), json!(class.name));
    outputs.insert("class_id".into(), json!(class.id));
    outputs.insert("usage".into(), llm::usage_json(&completion));
    Ok(NodeSuccess {
        inputs,
        process_data,
        outputs,
        handle: Some(class.id.clone()),
        usage: llm::llm_usage(&completion),
        ..NodeSuccess::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<Class> {
        vec![
            Class {
                id: "1".into(),
                name: "Billing".into(),
            },
            Class {
                id: "2".into(),
                name: "Technical support".into(),
            },
            Class {
                id: "3".into(),
                name: "Other".into(),
            },
        ]
    }

    #[test]
    fn reads_json_names_and_falls_back() {
        let classes = classes();
        assert_eq!(
            pick_class(&classes, r#"{"category_id": "2", "category_name": "x"}"#).id,
            "2"
        );
        assert_eq!(
            pick_class(&classes, r#"```json {"category_name": "billing"} ```"#).id,
            "1"
        );
        assert_eq!(
            pick_class(&classes, "I think it is technical support.").id,
            "2"
        );
        assert_eq!(pick_class(&classes, "no idea").id, "1");
        assert_eq!(pick_class(&classes, "Other, not Billing").id, "3");
    }
}
