//! `if-else`: evaluates its cases in order; the first that matches names the branch taken (its
//! `case_id`), none matching takes `"false"`. Older files with one top-level `conditions` list are one
//! case with id `"true"`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::condition::{self, Operator};
use crate::template::{Selector, Template};

#[derive(Debug, Deserialize)]
struct RawIfElse {
    #[serde(default)]
    cases: Option<Vec<RawCase>>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    logical_operator: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    conditions: Vec<RawCondition>,
}

#[derive(Debug, Deserialize)]
struct RawCase {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    case_id: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    id: Option<String>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    logical_operator: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    conditions: Vec<RawCondition>,
}

#[derive(Debug, Deserialize)]
struct RawCondition {
    #[serde(default, deserialize_with = "dsl::selector")]
    variable_selector: Selector,
    comparison_operator: Text,
    #[serde(default)]
    value: Value,
}

/// The expected side of a condition: strings may hold `{{#…#}}` references.
#[derive(Debug, Clone)]
pub(crate) enum Expected {
    Template(Template),
    Value(Value),
}

#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub selector: Selector,
    pub operator: Operator,
    pub operator_text: String,
    pub expected: Expected,
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub id: String,
    pub all: bool,
    pub conditions: Vec<Condition>,
}

/// The if-else node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct IfElseNode {
    pub cases: Vec<Case>,
}

impl IfElseNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<IfElseNode, WorkflowError> {
        let raw: RawIfElse = dsl::parse_data(node_id, title, data)?;
        let raw_cases = match raw.cases {
            Some(cases) if !cases.is_empty() => cases,
            _ => vec![RawCase {
                case_id: Some("true".into()),
                id: None,
                logical_operator: raw.logical_operator,
                conditions: raw.conditions,
            }],
        };
        let mut cases: Vec<Case> = Vec::new();
        for (i, raw_case) in raw_cases.into_iter().enumerate() {
            let id = raw_case
                .case_id
                .or(raw_case.id)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    dsl::invalid(node_id, title, format!("cases[{i}] has no case_id"))
                })?;
            if id == "false" || cases.iter().any(|case| case.id == id) {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("case id `{id}` is used twice"),
                ));
            }
            let all = match raw_case.logical_operator.as_deref() {
                None | Some("") | Some("and") => true,
                Some("or") => false,
                Some(other) => {
                    return Err(dsl::invalid(
                        node_id,
                        title,
                        format!("logical_operator `{other}` is not and/or"),
                    ));
                }
            };
            if raw_case.conditions.is_empty() {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("case `{id}` has no conditions"),
                ));
            }
            let mut conditions = Vec::new();
            for condition in raw_case.conditions {
                let operator_text = condition.comparison_operator.0;
                let operator = Operator::parse(&operator_text).ok_or_else(|| {
                    dsl::invalid(
                        node_id,
                        title,
                        format!("case `{id}`: unknown comparison_operator `{operator_text}`"),
                    )
                })?;
                if condition.variable_selector.len() < 2 {
                    return Err(dsl::invalid(
                        node_id,
                        title,
                        format!("case `{id}`: a condition has no variable_selector"),
                    ));
                }
                let expected = match condition.value {
                    Value::String(text) => Expected::Template(Template::parse(&text, false)),
                    other => Expected::Value(other),
                };
                conditions.push(Condition {
                    selector: condition.variable_selector,
                    operator,
                    operator_text,
                    expected,
                });
            }
            cases.push(Case {
                id,
                all,
                conditions,
            });
        }
        Ok(IfElseNode { cases })
    }

    /// Branch handles: the case ids and `"false"`.
    pub fn handles(&self) -> Vec<String> {
        self.cases
            .iter()
            .map(|case| case.id.clone())
            .chain(["false".to_string()])
            .collect()
    }

    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.cases
            .iter()
            .flat_map(|case| &case.conditions)
            .filter_map(|condition| match &condition.expected {
                Expected::Template(template) => Some(template),
                Expected::Value(_) => None,
            })
    }
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &IfElseNode,
) -> Result<NodeSuccess, NodeFailure> {
    let mut checked = Vec::new();
    let mut group_results = Vec::new();
    let mut selected = None;
    for case in &config.cases {
        let mut results = Vec::new();
        let mut matched = case.all;
        for condition in &case.conditions {
            let actual = context.pool.get(&condition.selector);
            let expected = match &condition.expected {
                Expected::Template(template) => Value::String(template.render(&context.pool)),
                Expected::Value(value) => value.clone(),
            };
            checked.push(json!({
                "actual_value": actual,
                "expected_value": if condition.operator.is_unary() { Value::Null } else { expected.clone() },
                "comparison_operator": condition.operator_text,
            }));
            let result =
                condition::evaluate(condition.operator, actual, &expected).map_err(|error| {
                    NodeFailure::new(format!(
                        "case `{}`, `{}`: {error}",
                        case.id,
                        condition.selector.join(".")
                    ))
                    .with_inputs(json!({ "conditions": checked }))
                })?;
            results.push(result);
            // Short-circuit as Dify does.
            if case.all && !result {
                matched = false;
                break;
            }
            if !case.all && result {
                matched = true;
                break;
            }
        }
        group_results
            .push(json!({ "group": case.id, "results": results, "final_result": matched }));
        if matched {
            selected = Some(case.id.clone());
            break;
        }
    }
    let mut outputs = Map::new();
    outputs.insert("result".into(), json!(selected.is_some()));
    outputs.insert(
        "selected_case_id".into(),
        json!(selected.clone().unwrap_or_else(|| "false".into())),
    );
    Ok(NodeSuccess {
        inputs: json!({ "conditions": checked }),
        process_data: json!({ "condition_results": group_results }),
        outputs,
        handle: Some(selected.unwrap_or_else(|| "false".into())),
        ..NodeSuccess::default()
    })
}
