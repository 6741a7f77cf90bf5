//! [`Flow`]: a Dify DSL file, loaded and validated. Everything that can be checked without running is
//! checked here: the app mode, the node types and their configuration, one start node, the answer or end
//! nodes the mode needs, edges between known nodes with valid branch handles, no cycles, and references
//! to known nodes. UI keys (positions, sizes, viewport, notes) are ignored.
//!
//! The flow also precomputes the live streams (`StreamPlan`): which answer (or end) nodes forward an
//! LLM's tokens while it generates.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::WorkflowError;
use crate::nodes::dsl::{self, Text};
use crate::nodes::{Node, NodeKind};
use crate::stream::{StreamKind, StreamPlan, StreamSegment};
use crate::template::{GLOBAL_SCOPES, Segment, selector_text};

/// The app modes ragd runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppMode {
    /// A workflow app: inputs in, end-node outputs out (`/workflows/run`).
    Workflow,
    /// A chatflow: a conversation whose answer comes from answer nodes (`/chat-messages`).
    AdvancedChat,
}

impl AppMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AppMode::Workflow => "workflow",
            AppMode::AdvancedChat => "advanced-chat",
        }
    }
}

/// One input variable of the start node (Dify's `user_input_form` entry).
#[derive(Debug, Clone, PartialEq)]
pub struct StartVariable {
    pub variable: String,
    pub label: String,
    /// `text-input`, `paragraph`, `select`, `number`, `file` or `file-list` (others are passed through).
    pub kind: String,
    pub required: bool,
    pub max_length: Option<usize>,
    pub options: Vec<String>,
    pub default: Option<Value>,
}

/// An edge of the graph.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub id: String,
    pub source: usize,
    pub target: usize,
    /// `source` for plain edges; a case id, `false`, a class id or `fail-branch` otherwise.
    pub handle: String,
}

/// A loaded, validated flow. Immutable; share it in an `Arc` between runs.
#[derive(Debug)]
pub struct Flow {
    name: String,
    description: String,
    mode: AppMode,
    features: Value,
    start_variables: Vec<StartVariable>,
    pub(crate) environment: Map<String, Value>,
    conversation_defaults: Map<String, Value>,
    pub(crate) nodes: Vec<Node>,
    node_ids: HashMap<String, usize>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) outgoing: Vec<Vec<usize>>,
    pub(crate) incoming: Vec<Vec<usize>>,
    pub(crate) start: usize,
    pub(crate) stream_plans: Vec<StreamPlan>,
    /// LLM nodes whose deltas some stream plan forwards.
    streamed_llms: HashSet<usize>,
}

#[derive(Debug, Deserialize)]
struct RawFile {
    #[serde(default)]
    app: Option<RawApp>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    kind: Option<String>,
    #[serde(default)]
    workflow: Option<RawWorkflow>,
}

#[derive(Debug, Deserialize)]
struct RawApp {
    #[serde(default, deserialize_with = "dsl::nullable")]
    name: Text,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    description: Text,
}

#[derive(Debug, Deserialize)]
struct RawWorkflow {
    #[serde(default, deserialize_with = "dsl::nullable")]
    conversation_variables: Vec<RawVariable>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    environment_variables: Vec<RawVariable>,
    #[serde(default)]
    features: Value,
    #[serde(default)]
    graph: Option<RawGraph>,
}

#[derive(Debug, Deserialize)]
struct RawVariable {
    name: Text,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    value_type: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
struct RawGraph {
    #[serde(default, deserialize_with = "dsl::nullable")]
    nodes: Vec<RawNode>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    edges: Vec<RawEdge>,
}

#[derive(Debug, Deserialize)]
struct RawNode {
    #[serde(default, deserialize_with = "dsl::nullable")]
    id: Text,
    /// The UI's node component (`custom`, `custom-note`, …).
    #[serde(default, rename = "type", deserialize_with = "dsl::opt_text")]
    ui_type: Option<String>,
    #[serde(default)]
    data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEdge {
    #[serde(default, deserialize_with = "dsl::opt_text")]
    id: Option<String>,
    #[serde(default, deserialize_with = "dsl::nullable")]
    source: Text,
    #[serde(default, deserialize_with = "dsl::nullable")]
    target: Text,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    source_handle: Option<String>,
}

fn invalid(message: impl Into<String>) -> WorkflowError {
    WorkflowError::Invalid(message.into())
}

impl Flow {
    /// Parses and validates an exported DSL file.
    pub fn from_yaml(text: &str) -> Result<Flow, WorkflowError> {
        let document: Value =
            serde_yaml_ng::from_str(text).map_err(|error| invalid(format!("not YAML: {error}")))?;
        if !document.is_object() {
            return Err(invalid(
                "not a Dify DSL file: the top level is not a mapping",
            ));
        }
        let raw: RawFile = serde_path_to_error::deserialize(&document)
            .map_err(|error| invalid(format!("{}: {}", error.path(), error.inner())))?;
        if let Some(kind) = raw.kind.as_deref()
            && kind != "app"
        {
            return Err(invalid(format!("kind `{kind}` is not `app`")));
        }
        let app = raw
            .app
            .ok_or_else(|| invalid("the `app` section is missing"))?;
        let mode = match app.mode.as_deref() {
            Some("workflow") => AppMode::Workflow,
            Some("advanced-chat") => AppMode::AdvancedChat,
            Some(other) => {
                return Err(invalid(format!(
                    "app mode `{other}` is not supported: ragd runs `workflow` and `advanced-chat` apps"
                )));
            }
            None => return Err(invalid("app.mode is missing")),
        };
        let workflow = raw
            .workflow
            .ok_or_else(|| invalid("the `workflow` section is missing"))?;
        let graph = workflow
            .graph
            .ok_or_else(|| invalid("workflow.graph is missing"))?;

        let nodes = parse_nodes(graph.nodes)?;
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        let starts: Vec<&Node> = nodes
            .iter()
            .filter(|node| matches!(node.kind, NodeKind::Start(_)))
            .collect();
        let start_node = match starts.as_slice() {
            [start] => *start,
            [] => return Err(invalid("the flow has no start node")),
            _ => {
                let ids: Vec<&str> = starts.iter().map(|node| node.id.as_str()).collect();
                return Err(invalid(format!(
                    "the flow has {} start nodes ({}); it needs exactly one",
                    ids.len(),
                    ids.join(", ")
                )));
            }
        };
        let NodeKind::Start(start_config) = &start_node.kind else {
            unreachable!("filtered on start")
        };
        let start_variables = start_config.variables.clone();
        let start = index[start_node.id.as_str()];
        match mode {
            AppMode::AdvancedChat
                if !nodes
                    .iter()
                    .any(|node| matches!(node.kind, NodeKind::Answer(_))) =>
            {
                return Err(invalid(
                    "an advanced-chat flow needs at least one answer node",
                ));
            }
            AppMode::Workflow
                if !nodes
                    .iter()
                    .any(|node| matches!(node.kind, NodeKind::End(_))) =>
            {
                return Err(invalid("a workflow needs an end node"));
            }
            _ => {}
        }

        let edges = parse_edges(graph.edges, &nodes, &index)?;
        let mut outgoing = vec![Vec::new(); nodes.len()];
        let mut incoming = vec![Vec::new(); nodes.len()];
        for (i, edge) in edges.iter().enumerate() {
            outgoing[edge.source].push(i);
            incoming[edge.target].push(i);
        }
        if !incoming[start].is_empty() {
            return Err(invalid(format!(
                "edge {} enters the start node",
                edges[incoming[start][0]].id
            )));
        }
        check_acyclic(&nodes, &edges, &outgoing)?;
        check_references(&nodes, &index)?;

        let node_ids = index.iter().map(|(id, i)| (id.to_string(), *i)).collect();
        let mut flow = Flow {
            name: app.name.0,
            description: app.description.0,
            mode,
            features: match workflow.features {
                Value::Object(features) => Value::Object(features),
                _ => Value::Object(Map::new()),
            },
            start_variables,
            environment: variables_map(workflow.environment_variables),
            conversation_defaults: variables_map(workflow.conversation_variables),
            nodes,
            node_ids,
            edges,
            outgoing,
            incoming,
            start,
            stream_plans: Vec::new(),
            streamed_llms: HashSet::new(),
        };
        flow.stream_plans = plan_streams(&flow);
        flow.streamed_llms = flow
            .stream_plans
            .iter()
            .flat_map(|plan| plan.live_sources.iter().copied())
            .collect();
        Ok(flow)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn mode(&self) -> AppMode {
        self.mode
    }

    pub fn start_variables(&self) -> &[StartVariable] {
        &self.start_variables
    }

    /// `workflow.features` as in the file (`opening_statement`, `suggested_questions`, …); `{}` if absent.
    pub fn features(&self) -> &Value {
        &self.features
    }

    /// Every dataset the knowledge-retrieval nodes search, each once, in file order.
    pub fn dataset_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for node in &self.nodes {
            if let NodeKind::Knowledge(config) = &node.kind {
                for id in &config.dataset_ids {
                    if !ids.contains(id) {
                        ids.push(id.clone());
                    }
                }
            }
        }
        ids
    }

    /// Initial values of the conversation variables, by name.
    pub fn conversation_variable_defaults(&self) -> Map<String, Value> {
        self.conversation_defaults.clone()
    }

    /// Checks a run's inputs against the start variables, as Dify does: required values present and
    /// not empty, strings for text and select (within `max_length`, among the options), numbers (numeric
    /// strings converted) for number; defaults fill absent values. Only declared variables are kept;
    /// absent optional ones are `null`.
    pub fn check_inputs(
        &self,
        inputs: &Map<String, Value>,
    ) -> Result<Map<String, Value>, WorkflowError> {
        let mut checked = Map::new();
        for variable in &self.start_variables {
            let error = |message: String| WorkflowError::Input {
                variable: variable.variable.clone(),
                message,
            };
            let given = inputs
                .get(&variable.variable)
                .filter(|value| !is_blank(value));
            let value = match given.or(variable.default.as_ref()) {
                Some(value) => value.clone(),
                None if variable.required => {
                    return Err(error(format!(
                        "{} is required in input form",
                        variable.variable
                    )));
                }
                None => {
                    checked.insert(variable.variable.clone(), Value::Null);
                    continue;
                }
            };
            let value = match variable.kind.as_str() {
                "text-input" | "paragraph" | "select" => {
                    let Value::String(text) = &value else {
                        return Err(error(format!(
                            "{} in input form must be a string",
                            variable.variable
                        )));
                    };
                    if let Some(max) = variable.max_length
                        && text.chars().count() > max
                    {
                        return Err(error(format!(
                            "{} in input form must be less than {max} characters",
                            variable.variable
                        )));
                    }
                    if variable.kind == "select" && !variable.options.contains(text) {
                        return Err(error(format!(
                            "{} in input form must be one of the following: {}",
                            variable.variable,
                            variable.options.join(", ")
                        )));
                    }
                    value
                }
                "number" => match &value {
                    Value::Number(_) => value,
                    Value::String(text) => match text.trim().parse::<i64>() {
                        Ok(int) => Value::from(int),
                        Err(_) => text
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                            .ok_or_else(|| {
                                error(format!(
                                    "{} in input form must be a valid number",
                                    variable.variable
                                ))
                            })?,
                    },
                    _ => {
                        return Err(error(format!(
                            "{} in input form must be a valid number",
                            variable.variable
                        )));
                    }
                },
                "file" if !value.is_object() => {
                    return Err(error(format!(
                        "{} in input form must be a file",
                        variable.variable
                    )));
                }
                "file-list" if !value.is_array() => {
                    return Err(error(format!(
                        "{} in input form must be a list of files",
                        variable.variable
                    )));
                }
                _ => value,
            };
            checked.insert(variable.variable.clone(), value);
        }
        Ok(checked)
    }

    /// Whether some answer or end node forwards this LLM node's deltas live.
    pub(crate) fn streams_llm(&self, node: usize) -> bool {
        self.streamed_llms.contains(&node)
    }

    pub(crate) fn node_index(&self, id: &str) -> Option<usize> {
        self.node_ids.get(id).copied()
    }
}

fn is_blank(value: &Value) -> bool {
    value.is_null() || value.as_str() == Some("")
}

fn variables_map(variables: Vec<RawVariable>) -> Map<String, Value> {
    variables
        .into_iter()
        .filter(|variable| !variable.name.0.is_empty())
        .map(|variable| {
            let value = match (variable.value_type.as_deref(), variable.value) {
                (Some("number"), Value::String(text)) => text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::String(text), Value::Number),
                (_, value) => value,
            };
            (variable.name.0, value)
        })
        .collect()
}

fn parse_nodes(raw_nodes: Vec<RawNode>) -> Result<Vec<Node>, WorkflowError> {
    let mut nodes: Vec<Node> = Vec::new();
    for (i, raw) in raw_nodes.into_iter().enumerate() {
        let node_type = raw
            .data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Sticky notes of the editor are nodes too; they never run.
        if raw.ui_type.as_deref() == Some("custom-note")
            || (node_type.is_empty() && raw.ui_type.is_some())
        {
            continue;
        }
        let id = raw.id.0;
        if id.is_empty() {
            return Err(invalid(format!("graph.nodes[{i}] has no id")));
        }
        if !raw.data.is_object() {
            return Err(invalid(format!("node {id}: `data` is missing")));
        }
        if node_type.is_empty() {
            return Err(invalid(format!("node {id}: data.type is missing")));
        }
        let title = raw
            .data
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or(&id)
            .to_string();
        if nodes.iter().any(|node| node.id == id) {
            return Err(invalid(format!("node id {id} is used twice")));
        }
        nodes.push(Node::parse(&id, &title, node_type, &raw.data)?);
    }
    Ok(nodes)
}

fn parse_edges(
    raw_edges: Vec<RawEdge>,
    nodes: &[Node],
    index: &HashMap<&str, usize>,
) -> Result<Vec<Edge>, WorkflowError> {
    let mut edges = Vec::new();
    for (i, raw) in raw_edges.into_iter().enumerate() {
        let id = raw
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("{}-{}", raw.source.0, raw.target.0));
        let endpoint = |end: &str, node_id: &str| {
            index.get(node_id).copied().ok_or_else(|| {
                invalid(format!("edge {id} (graph.edges[{i}]) is dangling: its {end} `{node_id}` is not a node of the flow"))
            })
        };
        let source = endpoint("source", &raw.source.0)?;
        let target = endpoint("target", &raw.target.0)?;
        let node = &nodes[source];
        let handle = raw
            .source_handle
            .filter(|handle| !handle.is_empty())
            .unwrap_or_else(|| "source".into());
        let fail_branch =
            node.on_error == crate::nodes::ErrorStrategy::FailBranch && handle == "fail-branch";
        if let Some(handles) = node.branch_handles()
            && !fail_branch
            && !handles.contains(&handle)
        {
            let what = if matches!(node.kind, NodeKind::IfElse(_)) {
                "a case_id or \"false\""
            } else {
                "a class id"
            };
            return Err(invalid(format!(
                "edge {id} leaves node {} ({}) by handle `{handle}`, which is not {what} of the node (expected one of: {})",
                node.id,
                node.title,
                handles.join(", ")
            )));
        }
        if handle == "fail-branch" && node.on_error != crate::nodes::ErrorStrategy::FailBranch {
            return Err(invalid(format!(
                "edge {id} leaves node {} ({}) by `fail-branch`, but the node's error_strategy is not fail-branch",
                node.id, node.title
            )));
        }
        edges.push(Edge {
            id,
            source,
            target,
            handle,
        });
    }
    Ok(edges)
}

/// Rejects cycles, naming the nodes of one.
fn check_acyclic(
    nodes: &[Node],
    edges: &[Edge],
    outgoing: &[Vec<usize>],
) -> Result<(), WorkflowError> {
    // Colours: 0 unvisited, 1 on the current path, 2 done. Iterative DFS keeping the path.
    let mut colour = vec![0u8; nodes.len()];
    for root in 0..nodes.len() {
        if colour[root] != 0 {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = 1;
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            if let Some(&edge) = outgoing[node].get(*next_edge) {
                *next_edge += 1;
                let target = edges[edge].target;
                match colour[target] {
                    0 => {
                        colour[target] = 1;
                        path.push((target, 0));
                    }
                    1 => {
                        let from = path.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..]
                            .iter()
                            .map(|(n, _)| format!("{} ({})", nodes[*n].id, nodes[*n].title))
                            .collect();
                        cycle.push(format!("{} ({})", nodes[target].id, nodes[target].title));
                        return Err(invalid(format!(
                            "the graph has a cycle: {}",
                            cycle.join(" -> ")
                        )));
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                path.pop();
            }
        }
    }
    Ok(())
}

fn check_references(nodes: &[Node], index: &HashMap<&str, usize>) -> Result<(), WorkflowError> {
    for node in nodes {
        for selector in node.references() {
            let Some(scope) = selector.first() else {
                continue;
            };
            if selector.len() < 2 {
                return Err(invalid(format!(
                    "node {} ({}) has an incomplete reference `{}`",
                    node.id,
                    node.title,
                    selector_text(selector)
                )));
            }
            if !GLOBAL_SCOPES.contains(&scope.as_str()) && !index.contains_key(scope.as_str()) {
                return Err(invalid(format!(
                    "node {} ({}) references `{}`, but there is no node `{scope}`",
                    node.id,
                    node.title,
                    selector_text(selector)
                )));
            }
        }
    }
    Ok(())
}

/// Nodes reachable from `from` without passing through a branching node (`from` itself excluded
/// from the check: an LLM is not branching unless it has a fail branch).
fn reachable_without_branches(flow: &Flow, from: usize) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        for &edge in &flow.outgoing[node] {
            let target = flow.edges[edge].target;
            if seen.insert(target) && !flow.nodes[target].is_branching() {
                queue.push_back(target);
            }
        }
    }
    seen
}

/// One stream per answer node (advanced-chat) and per end node with LLM text outputs (workflow).
fn plan_streams(flow: &Flow) -> Vec<StreamPlan> {
    let llms: Vec<usize> = (0..flow.nodes.len())
        .filter(|&i| flow.nodes[i].is_llm() && !flow.nodes[i].is_branching())
        .collect();
    let reach: HashMap<usize, HashSet<usize>> = llms
        .iter()
        .map(|&llm| (llm, reachable_without_branches(flow, llm)))
        .collect();
    // The LLM whose `text` a selector names, when it may stream live into `target`.
    let live_llm = |selector: &[String], target: usize| -> Option<usize> {
        match selector {
            [node_id, var] if var == "text" => {
                let llm = flow.node_index(node_id)?;
                reach
                    .get(&llm)
                    .filter(|reached| reached.contains(&target))
                    .map(|_| llm)
            }
            _ => None,
        }
    };
    let mut plans = Vec::new();
    for (i, node) in flow.nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Answer(config) if flow.mode == AppMode::AdvancedChat => {
                let mut live_sources = Vec::new();
                let segments = config
                    .template
                    .segments
                    .iter()
                    .map(|segment| match segment {
                        Segment::Var(selector) => {
                            if let Some(llm) = live_llm(selector, i) {
                                live_sources.push(llm);
                            }
                            StreamSegment::Var(selector.clone())
                        }
                        Segment::Text(text) => StreamSegment::Text(text.clone()),
                        Segment::Context | Segment::Histories => StreamSegment::Text(String::new()),
                    })
                    .collect();
                plans.push(StreamPlan {
                    node: i,
                    kind: StreamKind::Answer,
                    segments,
                    live_sources,
                });
            }
            NodeKind::End(config) if flow.mode == AppMode::Workflow => {
                let mut live_sources = Vec::new();
                let mut segments = Vec::new();
                for output in &config.outputs {
                    if let Some(llm) = live_llm(&output.selector, i) {
                        live_sources.push(llm);
                        segments.push(StreamSegment::Var(output.selector.clone()));
                    }
                }
                if !segments.is_empty() {
                    plans.push(StreamPlan {
                        node: i,
                        kind: StreamKind::End,
                        segments,
                        live_sources,
                    });
                }
            }
            _ => {}
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MINIMAL: &str = r#"
app: {name: t, mode: workflow}
kind: app
workflow:
  graph:
    nodes:
      - id: s
        data: {type: start, title: Start, variables: [
          {variable: q, label: Q, type: text-input, required: true, max_length: 5},
          {variable: n, label: N, type: number, required: false},
          {variable: c, label: C, type: select, required: false, options: [a, b], default: a}]}
      - id: e
        data: {type: end, title: End, outputs: [{variable: out, value_selector: [s, q]}]}
    edges:
      - {id: s-e, source: s, target: e}
"#;

    #[test]
    fn check_inputs_follows_dify() {
        let flow = Flow::from_yaml(MINIMAL).unwrap();
        let inputs = |value: Value| value.as_object().unwrap().clone();
        let checked = flow
            .check_inputs(&inputs(json!({"q": "hi", "n": "3", "extra": 1})))
            .unwrap();
        assert_eq!(Value::Object(checked), json!({"q": "hi", "n": 3, "c": "a"}));
        let error = flow.check_inputs(&inputs(json!({"q": ""}))).unwrap_err();
        assert!(
            matches!(&error, WorkflowError::Input { variable, .. } if variable == "q"),
            "{error}"
        );
        assert!(
            flow.check_inputs(&inputs(json!({"q": "toolong"})))
                .unwrap_err()
                .to_string()
                .contains("q")
        );
        assert!(flow.check_inputs(&inputs(json!({"q": 5}))).is_err());
        assert!(
            flow.check_inputs(&inputs(json!({"q": "a", "n": "x"})))
                .unwrap_err()
                .to_string()
                .contains("`n`")
        );
        assert!(
            flow.check_inputs(&inputs(json!({"q": "a", "c": "z"})))
                .unwrap_err()
                .to_string()
                .contains("`c`")
        );
    }

    #[test]
    fn rejects_handles_that_are_not_cases() {
        let text = r#"
app: {name: t, mode: workflow}
workflow:
  graph:
    nodes:
      - {id: s, data: {type: start, title: S, variables: []}}
      - id: i
        data: {type: if-else, title: Branch, cases: [{case_id: yes, logical_operator: and,
               conditions: [{variable_selector: [sys, user_id], comparison_operator: empty, value: ''}]}]}
      - {id: e, data: {type: end, title: E, outputs: []}}
    edges:
      - {id: s-i, source: s, target: i, sourceHandle: source}
      - {id: i-e, source: i, target: e, sourceHandle: maybe}
"#;
        let error = Flow::from_yaml(text).unwrap_err().to_string();
        assert!(
            error.contains("i-e") && error.contains("maybe") && error.contains("case_id"),
            "{error}"
        );
    }
}
