//! Variable references of the DSL: selectors (`[node_id, var, …path]`) and `{{#node_id.var#}}`
//! templates, parsed once at load into [`Template`]s and rendered against a [`VariablePool`].

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::pool::VariablePool;

/// `[node_id, var, …path]`; `node_id` may also be `sys`, `env` or `conversation`.
pub(crate) type Selector = Vec<String>;

/// Scopes a selector may start with besides a node id.
pub(crate) const GLOBAL_SCOPES: [&str; 3] = ["sys", "env", "conversation"];

/// Dify's reference syntax (`variable_template_parser.py`), plus the LLM-only `{{#context#}}` and
/// `{{#histories#}}` placeholders.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\{\{#(context|histories|[a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}",
    )
    .expect("reference regex compiles")
});

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Text(String),
    Var(Selector),
    /// `{{#context#}}` (LLM prompts only; elsewhere it stays text).
    Context,
    /// `{{#histories#}}` (completion-mode LLM prompts only).
    Histories,
}

/// A parsed template: text and references in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Template {
    pub segments: Vec<Segment>,
}

impl Template {
    /// Parses `text`; `llm_placeholders` turns `{{#context#}}` / `{{#histories#}}` into placeholders.
    pub fn parse(text: &str, llm_placeholders: bool) -> Template {
        let mut segments = Vec::new();
        let mut last = 0;
        for captures in REFERENCE.captures_iter(text) {
            let whole = captures.get(0).expect("group 0 always matches");
            let inner = &captures[1];
            let segment = match inner {
                "context" if llm_placeholders => Segment::Context,
                "histories" if llm_placeholders => Segment::Histories,
                "context" | "histories" => continue,
                _ => Segment::Var(inner.split('.').map(str::to_string).collect()),
            };
            if whole.start() > last {
                push_text(&mut segments, &text[last..whole.start()]);
            }
            segments.push(segment);
            last = whole.end();
        }
        if last < text.len() {
            push_text(&mut segments, &text[last..]);
        }
        Template { segments }
    }

    /// The selectors the template references.
    pub fn selectors(&self) -> impl Iterator<Item = &Selector> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Var(selector) => Some(selector),
            _ => None,
        })
    }

    pub fn contains(&self, wanted: &Segment) -> bool {
        self.segments.iter().any(|segment| segment == wanted)
    }

    /// Renders every segment (missing variables render empty); `context` and `histories` fill the
    /// placeholders.
    pub fn render_parts(&self, pool: &VariablePool, context: &str, histories: &str) -> Vec<String> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Text(text) => text.clone(),
                Segment::Var(selector) => pool.get(selector).map(value_text).unwrap_or_default(),
                Segment::Context => context.to_string(),
                Segment::Histories => histories.to_string(),
            })
            .collect()
    }

    pub fn render(&self, pool: &VariablePool) -> String {
        self.render_parts(pool, "", "").concat()
    }
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if let Some(Segment::Text(previous)) = segments.last_mut() {
        previous.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_string()));
    }
}

/// How a value appears inside text: strings as they are, null as nothing, numbers and booleans as
/// JSON, arrays and objects as JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `node.var` for messages.
pub(crate) fn selector_text(selector: &[String]) -> String {
    selector.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_text() {
        let template = Template::parse("Hi {{#start.name#}}, {{#sys.query#}}!", false);
        assert_eq!(
            template.segments,
            vec![
                Segment::Text("Hi ".into()),
                Segment::Var(vec!["start".into(), "name".into()]),
                Segment::Text(", ".into()),
                Segment::Var(vec!["sys".into(), "query".into()]),
                Segment::Text("!".into()),
            ]
        );
    }

    #[test]
    fn context_is_a_placeholder_only_in_llm_prompts() {
        let llm = Template::parse("ctx: {{#context#}}", true);
        assert_eq!(llm.segments[1], Segment::Context);
        let other = Template::parse("ctx: {{#context#}}", false);
        assert_eq!(
            other.segments,
            vec![Segment::Text("ctx: {{#context#}}".into())]
        );
    }

    #[test]
    fn paths_and_malformed_references() {
        let template = Template::parse("{{#1720.result.0#}} {{#bad#}} {{ plain }}", false);
        // `.0` does not match Dify's identifier rule, so the whole reference stays text.
        assert!(template.selectors().next().is_none());
        let template = Template::parse("{{#llm.usage.total_tokens#}}", false);
        assert_eq!(
            template.selectors().next().unwrap(),
            &vec!["llm".to_string(), "usage".into(), "total_tokens".into()]
        );
    }

    #[test]
    fn renders_values() {
        assert_eq!(value_text(&Value::Null), "");
        assert_eq!(value_text(&serde_json::json!(3)), "3");
        assert_eq!(value_text(&serde_json::json!("a")), "a");
        assert_eq!(value_text(&serde_json::json!(["a"])), r#"["a"]"#);
    }
}
