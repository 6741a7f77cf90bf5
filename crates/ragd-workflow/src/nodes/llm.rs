//! `llm`: renders the prompt (templates, `{{#context#}}`, conversation memory), calls the model through
//! [`Providers`](ragd_llm::Providers), streams the deltas to the coordinator and outputs `text` and
//! `usage`. Also the model call shared by question-classifier and parameter-extractor.

use ragd_core::run::LlmUsage;
use ragd_llm::{ChatMessage, ChatRequest, Completion, CompletionParams, Role};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeMessage, NodeSuccess};
use crate::template::{Segment, Selector, Template, selector_text, value_text};
use crate::{Turn, WorkflowError};

#[derive(Debug, Deserialize)]
pub(crate) struct RawModel {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    provider: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    completion_params: Map<String, Value>,
}

/// Whether the prompt is a list of chat messages or one completion text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelMode {
    Chat,
    Completion,
}

impl ModelMode {
    fn as_str(self) -> &'static str {
        match self {
            ModelMode::Chat => "chat",
            ModelMode::Completion => "completion",
        }
    }
}

/// A node's `model` block.
#[derive(Debug, Clone)]
pub(crate) struct ModelConfig {
    pub provider: String,
    pub name: String,
    pub mode: ModelMode,
    pub params: CompletionParams,
}

impl ModelConfig {
    pub fn from_raw(
        node_id: &str,
        title: &str,
        raw: RawModel,
    ) -> Result<ModelConfig, WorkflowError> {
        let mode = match raw.mode.as_deref() {
            None | Some("") | Some("chat") => ModelMode::Chat,
            Some("completion") => ModelMode::Completion,
            Some(other) => {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("model.mode `{other}` is not chat or completion"),
                ));
            }
        };
        let params = &raw.completion_params;
        let number = |key: &str| params.get(key).and_then(Value::as_f64);
        let stop = match params.get("stop") {
            Some(Value::Array(items)) => items
                .iter()
                .map(value_text)
                .filter(|stop| !stop.is_empty())
                .collect(),
            Some(Value::String(stop)) if !stop.is_empty() => vec![stop.clone()],
            _ => Vec::new(),
        };
        Ok(ModelConfig {
            provider: raw.provider.unwrap_or_default(),
            name: raw.name.unwrap_or_default(),
            mode,
            params: CompletionParams {
                temperature: number("temperature"),
                top_p: number("top_p"),
                max_tokens: number("max_tokens")
                    .filter(|n| *n >= 1.0)
                    .map(|n| n as usize),
                stop,
            },
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MemoryConfig {
    #[serde(default)]
    window: Option<MemoryWindow>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    pub query_prompt_template: Option<String>,
    #[serde(default)]
    role_prefix: Option<RolePrefix>,
}

#[derive(Debug, Clone, Deserialize)]
struct MemoryWindow {
    #[serde(default, deserialize_with = "dsl::nullable")]
    enabled: bool,
    #[serde(default, deserialize_with = "dsl::opt_number")]
    size: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct RolePrefix {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    user: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    assistant: Option<String>,
}

impl MemoryConfig {
    /// The turns of the conversation to show: the window's size when enabled, else `default_window`.
    pub fn turns<'a>(&self, memory: &'a [Turn], default_window: usize) -> &'a [Turn] {
        let size = match &self.window {
            Some(MemoryWindow {
                enabled: true,
                size: Some(size),
            }) => *size as usize,
            _ => default_window,
        };
        &memory[memory.len().saturating_sub(size)..]
    }

    /// The turns as text, `Human: …\nAssistant: …` (for completion prompts and classifiers).
    pub fn history_text(&self, turns: &[Turn]) -> String {
        let prefix = self.role_prefix.as_ref();
        let user = prefix
            .and_then(|p| p.user.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "Human".into());
        let assistant = prefix
            .and_then(|p| p.assistant.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "Assistant".into());
        turns
            .iter()
            .map(|turn| format!("{user}: {}\n{assistant}: {}", turn.query, turn.answer))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Deserialize)]
struct RawLlm {
    model: RawModel,
    #[serde(default)]
    prompt_template: Value,
    #[serde(default)]
    context: Option<RawContext>,
    #[serde(default)]
    memory: Option<MemoryConfig>,
    #[serde(default)]
    prompt_config: Option<RawPromptConfig>,
}

#[derive(Debug, Deserialize)]
struct RawContext {
    #[serde(default, deserialize_with = "dsl::nullable")]
    enabled: bool,
    #[serde(default, deserialize_with = "dsl::selector")]
    variable_selector: Selector,
}

#[derive(Debug, Deserialize)]
struct RawPromptConfig {
    #[serde(default, deserialize_with = "dsl::nullable")]
    jinja2_variables: Vec<JinjaVariable>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct JinjaVariable {
    pub variable: Text,
    #[serde(default, deserialize_with = "dsl::selector")]
    pub value_selector: Selector,
}

#[derive(Debug, Deserialize)]
struct RawPromptItem {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    role: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    text: String,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    edition_type: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    jinja2_text: String,
}

/// The body of one prompt message.
#[derive(Debug, Clone)]
pub(crate) enum PromptBody {
    Basic(Template),
    /// `edition_type: jinja2`: rendered by minijinja with the node's `jinja2_variables`.
    Jinja(String),
}

#[derive(Debug, Clone)]
pub(crate) struct PromptMessage {
    pub role: Role,
    pub body: PromptBody,
}

/// The llm node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct LlmNode {
    pub model: ModelConfig,
    pub prompt: Vec<PromptMessage>,
    pub context: Option<Selector>,
    pub memory: Option<MemoryConfig>,
    pub memory_query: Option<Template>,
    pub jinja_variables: Vec<JinjaVariable>,
}

impl LlmNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<LlmNode, WorkflowError> {
        let raw: RawLlm = dsl::parse_data(node_id, title, data)?;
        let model = ModelConfig::from_raw(node_id, title, raw.model)?;
        let items: Vec<RawPromptItem> = match &raw.prompt_template {
            Value::Array(_) => dsl::parse_data(node_id, title, &raw.prompt_template)?,
            Value::Object(_) => vec![dsl::parse_data(node_id, title, &raw.prompt_template)?],
            Value::Null => Vec::new(),
            other => {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("prompt_template is not a list: {other}"),
                ));
            }
        };
        let single = matches!(raw.prompt_template, Value::Object(_));
        let mut prompt = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let role = match item.role.as_deref() {
                None | Some("") if single => Role::User,
                Some("system") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                other => {
                    return Err(dsl::invalid(
                        node_id,
                        title,
                        format!(
                            "prompt_template[{i}].role {:?} is not system, user or assistant",
                            other.unwrap_or("")
                        ),
                    ));
                }
            };
            let body = if item.edition_type.as_deref() == Some("jinja2") {
                check_jinja(node_id, title, &item.jinja2_text)?;
                PromptBody::Jinja(item.jinja2_text)
            } else {
                PromptBody::Basic(Template::parse(&item.text, true))
            };
            prompt.push(PromptMessage { role, body });
        }
        if prompt.is_empty() && raw.memory.is_none() {
            return Err(dsl::invalid(node_id, title, "prompt_template is empty"));
        }
        let context = raw
            .context
            .filter(|context| context.enabled && !context.variable_selector.is_empty())
            .map(|context| context.variable_selector);
        let memory_query = raw
            .memory
            .as_ref()
            .and_then(|memory| memory.query_prompt_template.as_deref())
            .filter(|query| !query.trim().is_empty())
            .map(|query| Template::parse(query, false));
        Ok(LlmNode {
            model,
            prompt,
            context,
            memory: raw.memory,
            memory_query,
            jinja_variables: raw
                .prompt_config
                .map(|config| config.jinja2_variables)
                .unwrap_or_default(),
        })
    }

    /// Templates of the prompt (for reference checks).
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.prompt
            .iter()
            .filter_map(|message| match &message.body {
                PromptBody::Basic(template) => Some(template),
                PromptBody::Jinja(_) => None,
            })
            .chain(self.memory_query.iter())
    }
}

fn check_jinja(node_id: &str, title: &str, source: &str) -> Result<(), WorkflowError> {
    let environment = minijinja::Environment::new();
    environment
        .template_from_str(source)
        .map(|_| ())
        .map_err(|error| {
            dsl::invalid(
                node_id,
                title,
                format!("the Jinja2 prompt does not compile: {error}"),
            )
        })
}

/// The text `{{#context#}}` stands for: retrieval results joined by newlines, a string as is.
fn context_text(value: &Value) -> String {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(object) => object
                    .get("content")
                    .map(value_text)
                    .unwrap_or_else(|| item.to_string()),
                other => value_text(other),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => value_text(other),
    }
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &LlmNode,
) -> Result<NodeSuccess, NodeFailure> {
    let pool = &context.pool;
    let mut inputs = Map::new();
    let context_value = config
        .context
        .as_ref()
        .map(|selector| pool.get(selector).map(context_text).unwrap_or_default());
    if let Some(text) = &context_value {
        inputs.insert("#context#".into(), json!(text));
    }
    for template in config.templates() {
        for selector in template.selectors() {
            let value = pool.get(selector).cloned().unwrap_or(Value::Null);
            inputs.insert(format!("#{}#", selector_text(selector)), value);
        }
    }
    let turns = match &config.memory {
        Some(memory) => memory.turns(&context.input.memory, context.services.config.memory_window),
        None => &[],
    };
    let histories = config
        .memory
        .as_ref()
        .map(|memory| memory.history_text(turns))
        .unwrap_or_default();
    let context_str = context_value.unwrap_or_default();

    let mut messages = Vec::new();
    for message in &config.prompt {
        let text = match &message.body {
            PromptBody::Basic(template) => template
                .render_parts(pool, &context_str, &histories)
                .concat(),
            PromptBody::Jinja(source) => render_jinja(source, &config.jinja_variables, context)
                .map_err(|error| {
                    NodeFailure::new(error).with_inputs(Value::Object(inputs.clone()))
                })?,
        };
        messages.push(ChatMessage::new(message.role, text));
    }
    let uses_histories_placeholder = config
        .templates()
        .any(|template| template.contains(&Segment::Histories));
    if config.memory.is_some()
        && config.model.mode == ModelMode::Chat
        && !uses_histories_placeholder
    {
        add_memory(&mut messages, config, context, turns);
    }
    messages.retain(|message| !message.content.is_empty());

    let stream = context.flow.streams_llm(context.index);
    let process_data = |completion: Option<&Completion>| {
        json!({
            "model_mode": config.model.mode.as_str(),
            "model_provider": config.model.provider,
            "model_name": config.model.name,
            "prompts": prompts_for_saving(&messages),
            "usage": completion.map(usage_json),
            "finish_reason": completion.and_then(|c| c.finish_reason.clone()),
            "time_to_first_token": completion.and_then(|c| c.time_to_first_token).map(|t| t.as_secs_f64()),
        })
    };
    let completion = invoke(context, &config.model, messages.clone(), stream)
        .await
        .map_err(|error| {
            NodeFailure::new(error)
                .with_inputs(Value::Object(inputs.clone()))
                .with_process_data(process_data(None))
        })?;
    let mut outputs = Map::new();
    outputs.insert("text".into(), json!(completion.text));
    outputs.insert("usage".into(), usage_json(&completion));
    outputs.insert("finish_reason".into(), json!(completion.finish_reason));
    Ok(NodeSuccess {
        inputs: Value::Object(inputs),
        process_data: process_data(Some(&completion)),
        outputs,
        usage: llm_usage(&completion),
        ..NodeSuccess::default()
    })
}

/// Conversation memory in a chat prompt: the query message (`memory.query_prompt_template`, or
/// `sys.query` when the prompt has no user message) goes last, the earlier turns just before the last
/// user message.
fn add_memory(
    messages: &mut Vec<ChatMessage>,
    config: &LlmNode,
    context: &NodeContext,
    turns: &[Turn],
) {
    let has_user_message = messages.iter().any(|message| message.role == Role::User);
    let query = match &config.memory_query {
        Some(template) => Some(template.render(&context.pool)),
        None if !has_user_message => context
            .pool
            .sys
            .get("query")
            .map(value_text)
            .filter(|query| !query.is_empty()),
        None => None,
    };
    if let Some(query) = query {
        messages.push(ChatMessage::new(Role::User, query));
    }
    let insert_at = messages
        .iter()
        .rposition(|message| message.role == Role::User)
        .unwrap_or(messages.len());
    let history = turns.iter().flat_map(|turn| {
        [
            ChatMessage::new(Role::User, turn.query.clone()),
            ChatMessage::new(Role::Assistant, turn.answer.clone()),
        ]
    });
    messages.splice(insert_at..insert_at, history);
}

fn render_jinja(
    source: &str,
    variables: &[JinjaVariable],
    context: &NodeContext,
) -> Result<String, String> {
    let mut values = Map::new();
    for variable in variables {
        let value = context
            .pool
            .get(&variable.value_selector)
            .cloned()
            .unwrap_or(Value::Null);
        values.insert(variable.variable.0.clone(), value);
    }
    let environment = minijinja::Environment::new();
    environment
        .render_str(
            source,
            minijinja::Value::from(minijinja::value::Serde(&values)),
        )
        .map_err(|error| format!("the Jinja2 prompt failed to render: {error}"))
}

/// Dify's saved prompt shape: `[{role, text, files}]`.
/// The prompt of the nodes that have the LLM read a query (question-classifier, parameter-extractor).
pub(crate) struct QueryPrompt {
    /// The query's text.
    pub query: String,
    /// The rendered instruction.
    pub instruction: String,
    /// A system message (built by the node from the instruction and the memory's history), then the query.
    pub messages: Vec<ChatMessage>,
}

/// Builds a [`QueryPrompt`]: `system(instruction, histories)` makes the node's system message.
pub(crate) fn query_prompt(
    context: &NodeContext,
    query: &Selector,
    instruction: &Template,
    memory: Option<&MemoryConfig>,
    system: impl FnOnce(&str, &str) -> String,
) -> QueryPrompt {
    let query = context.pool.get(query).map(value_text).unwrap_or_default();
    let instruction = instruction.render(&context.pool);
    let histories = match memory {
        Some(memory) => memory.history_text(
            memory.turns(&context.input.memory, context.services.config.memory_window),
        ),
        None => String::new(),
    };
    let messages = vec![
        ChatMessage::new(Role::System, system(&instruction, &histories)),
        ChatMessage::new(Role::User, query.clone()),
    ];
    QueryPrompt {
        query,
        instruction,
        messages,
    }
}

pub(crate) fn prompts_for_saving(messages: &[ChatMessage]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|message| json!({ "role": message.role, "text": message.content, "files": [] }))
            .collect(),
    )
}

/// Calls the node's model; with `stream`, every delta is forwarded to the coordinator as it arrives.
/// The error is the provider's message.
pub(crate) async fn invoke(
    context: &NodeContext,
    model: &ModelConfig,
    messages: Vec<ChatMessage>,
    stream: bool,
) -> Result<Completion, String> {
    let chat_model = context.services.llms.resolve(&model.provider);
    let request = ChatRequest {
        model: model.name.clone(),
        messages,
        params: model.params.clone(),
    };
    let (deltas, mut received) = mpsc::unbounded_channel();
    let call = chat_model.chat(request, deltas);
    tokio::pin!(call);
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            delta = received.recv(), if open => match delta {
                Some(text) if stream => {
                    let _ = context.messages.send(NodeMessage::Delta { node: context.index, text });
                }
                Some(_) => {}
                None => open = false,
            },
            result = &mut call => {
                while let Ok(text) = received.try_recv() {
                    if stream {
                        let _ = context.messages.send(NodeMessage::Delta { node: context.index, text });
                    }
                }
                return result.map_err(|error| error.to_string());
            }
        }
    }
}

/// Usage of one completion in the run record's shape.
pub(crate) fn llm_usage(completion: &Completion) -> LlmUsage {
    LlmUsage {
        prompt_tokens: completion.usage.prompt_tokens,
        completion_tokens: completion.usage.completion_tokens,
        total_tokens: completion.usage.total_tokens,
        latency: completion.latency.as_secs_f64(),
        time_to_first_token: completion.time_to_first_token.map(|t| t.as_secs_f64()),
    }
}

/// Dify's `usage` object (prices are decimal strings; ragd does not price tokens).
pub(crate) fn usage_json(completion: &Completion) -> Value {
    json!({
        "prompt_tokens": completion.usage.prompt_tokens,
        "prompt_unit_price": "0",
        "prompt_price_unit": "0",
        "prompt_price": "0",
        "completion_tokens": completion.usage.completion_tokens,
        "completion_unit_price": "0",
        "completion_price_unit": "0",
        "completion_price": "0",
        "total_tokens": completion.usage.total_tokens,
        "total_price": "0",
        "currency": "USD",
        "latency": completion.latency.as_secs_f64(),
        "time_to_first_token": completion.time_to_first_token.map(|t| t.as_secs_f64()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chat_and_completion_prompts() {
        let data = json!({
            "model": {"provider": "langgenius/openai/openai", "name": "gpt-4o", "mode": "chat",
                      "completion_params": {"temperature": 0.2, "max_tokens": 100, "stop": ["END"]}},
            "prompt_template": [
                {"role": "system", "text": "Use {{#context#}}"},
                {"role": "user", "text": "{{#sys.query#}}"}
            ],
            "context": {"enabled": true, "variable_selector": ["kr", "result"]},
            "memory": {"window": {"enabled": true, "size": 3}, "query_prompt_template": "{{#sys.query#}}"}
        });
        let node = LlmNode::parse("llm", "LLM", &data).unwrap();
        assert_eq!(node.model.params.temperature, Some(0.2));
        assert_eq!(node.model.params.max_tokens, Some(100));
        assert_eq!(node.model.params.stop, vec!["END".to_string()]);
        assert_eq!(node.prompt.len(), 2);
        assert_eq!(node.context, Some(vec!["kr".to_string(), "result".into()]));
        assert!(node.memory_query.is_some());

        let data = json!({"model": {"mode": "completion"}, "prompt_template": {"text": "Say {{#start.x#}}"}});
        let node = LlmNode::parse("llm", "LLM", &data).unwrap();
        assert_eq!(node.prompt[0].role, Role::User);
        assert_eq!(node.model.mode, ModelMode::Completion);
    }

    #[test]
    fn rejects_bad_roles_and_jinja() {
        let data = json!({"model": {}, "prompt_template": [{"role": "robot", "text": "x"}]});
        assert!(
            LlmNode::parse("llm", "LLM", &data)
                .unwrap_err()
                .to_string()
                .contains("robot")
        );
        let data = json!({"model": {}, "prompt_template": [{"role": "user", "edition_type": "jinja2", "jinja2_text": "{% if %}"}]});
        assert!(
            LlmNode::parse("llm", "LLM", &data)
                .unwrap_err()
                .to_string()
                .contains("Jinja2")
        );
    }

    #[test]
    fn memory_window_and_context_text() {
        let memory: MemoryConfig =
            serde_json::from_value(json!({"window": {"enabled": true, "size": 2}})).unwrap();
        let turns: Vec<Turn> = (0..5)
            .map(|i| Turn {
                query: format!("q{i}"),
                answer: format!("a{i}"),
            })
            .collect();
        assert_eq!(memory.turns(&turns, 10).len(), 2);
        assert_eq!(memory.turns(&turns, 10)[0].query, "q3");
        let disabled: MemoryConfig =
            serde_json::from_value(json!({"window": {"enabled": false, "size": 2}})).unwrap();
        assert_eq!(disabled.turns(&turns, 4).len(), 4);
        assert_eq!(memory.history_text(&turns[..1]), "Human: q0\nAssistant: a0");
        let result = json!([{"content": "one", "title": "t"}, {"content": "two"}]);
        assert_eq!(context_text(&result), "one\ntwo");
    }
}
