//! The variable pool of a run: node outputs keyed by node id, plus the `sys`, `env` and `conversation`
//! scopes. Cloning is cheap (node outputs are shared), so each node gets a snapshot when it starts.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Values visible to the nodes of a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct VariablePool {
    pub sys: Map<String, Value>,
    pub env: Map<String, Value>,
    pub conversation: Map<String, Value>,
    nodes: HashMap<String, Arc<Map<String, Value>>>,
}

impl VariablePool {
    /// The value at `selector` (`[scope or node_id, var, …path]`); path steps index objects by key and
    /// arrays by position.
    pub fn get(&self, selector: &[String]) -> Option<&Value> {
        let [scope, name, path @ ..] = selector else {
            return None;
        };
        let mut value = match scope.as_str() {
            "sys" => self.sys.get(name),
            "env" => self.env.get(name),
            "conversation" => self.conversation.get(name),
            node_id => self.nodes.get(node_id)?.get(name),
        }?;
        for step in path {
            value = match value {
                Value::Object(object) => object.get(step)?,
                Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }

    pub fn set_node_outputs(&mut self, node_id: &str, outputs: Map<String, Value>) {
        self.nodes.insert(node_id.to_string(), Arc::new(outputs));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn selector(text: &str) -> Vec<String> {
        text.split('.').map(str::to_string).collect()
    }

    #[test]
    fn resolves_scopes_and_paths() {
        let mut pool = VariablePool::default();
        pool.sys.insert("query".into(), json!("hi"));
        pool.env.insert("key".into(), json!("secret"));
        let outputs = json!({"result": [{"content": "a"}], "n": 2});
        pool.set_node_outputs("kr", outputs.as_object().unwrap().clone());
        assert_eq!(pool.get(&selector("sys.query")), Some(&json!("hi")));
        assert_eq!(pool.get(&selector("env.key")), Some(&json!("secret")));
        assert_eq!(
            pool.get(&selector("kr.result.0.content")),
            Some(&json!("a"))
        );
        assert_eq!(pool.get(&selector("kr.n")), Some(&json!(2)));
        assert_eq!(pool.get(&selector("kr.missing")), None);
        assert_eq!(pool.get(&selector("other.n")), None);
        assert_eq!(pool.get(&["kr".to_string()]), None);
    }
}
