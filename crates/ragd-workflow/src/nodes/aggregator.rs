//! `variable-aggregator`: outputs the first of its variables that has a value (the branch that ran), or
//! one such value per group when `advanced_settings.group_enabled`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::WorkflowError;
use crate::template::Selector;

#[derive(Debug, Deserialize)]
struct RawAggregator {
    #[serde(default, deserialize_with = "dsl::selectors")]
    variables: Vec<Selector>,
    #[serde(default)]
    advanced_settings: Option<RawAdvanced>,
}

#[derive(Debug, Deserialize)]
struct RawAdvanced {
    #[serde(default, deserialize_with = "dsl::nullable")]
    group_enabled: bool,
    #[serde(default, deserialize_with = "dsl::nullable")]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
struct RawGroup {
    group_name: Text,
    #[serde(default, deserialize_with = "dsl::selectors")]
    variables: Vec<Selector>,
}

/// A named group of candidate variables.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub name: String,
    pub variables: Vec<Selector>,
}

/// The variable-aggregator node's configuration: one unnamed group, or named groups.
#[derive(Debug, Clone)]
pub(crate) struct AggregatorNode {
    pub variables: Vec<Selector>,
    pub groups: Option<Vec<Group>>,
}

impl AggregatorNode {
    pub fn parse(
        node_id: &str,
        title: &str,
        data: &Value,
    ) -> Result<AggregatorNode, WorkflowError> {
        let raw: RawAggregator = dsl::parse_data(node_id, title, data)?;
        let groups = match raw.advanced_settings {
            Some(advanced) if advanced.group_enabled => {
                let mut groups: Vec<Group> = Vec::new();
                for group in advanced.groups {
                    if groups.iter().any(|known| known.name == group.group_name.0) {
                        return Err(dsl::invalid(
                            node_id,
                            title,
                            format!("group `{}` is declared twice", group.group_name.0),
                        ));
                    }
                    groups.push(Group {
                        name: group.group_name.0,
                        variables: group.variables,
                    });
                }
                Some(groups)
            }
            _ => None,
        };
        Ok(AggregatorNode {
            variables: raw.variables,
            groups,
        })
    }

    pub fn selectors(&self) -> impl Iterator<Item = &Selector> {
        self.variables.iter().chain(
            self.groups
                .iter()
                .flatten()
                .flat_map(|group| &group.variables),
        )
    }
}

fn first_value(context: &NodeContext, selectors: &[Selector]) -> Value {
    selectors
        .iter()
        .find_map(|selector| context.pool.get(selector).filter(|value| !value.is_null()))
        .cloned()
        .unwrap_or(Value::Null)
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &AggregatorNode,
) -> Result<NodeSuccess, NodeFailure> {
    let mut outputs = Map::new();
    match &config.groups {
        None => {
            outputs.insert("output".into(), first_value(context, &config.variables));
        }
        Some(groups) => {
            for group in groups {
                outputs.insert(
                    group.name.clone(),
                    json!({ "output": first_value(context, &group.variables) }),
                );
            }
        }
    }
    Ok(NodeSuccess {
        inputs: Value::Object(outputs.clone()),
        outputs,
        ..NodeSuccess::default()
    })
}
