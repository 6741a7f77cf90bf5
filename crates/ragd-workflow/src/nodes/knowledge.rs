//! `knowledge-retrieval`: searches the node's datasets through [`Knowledge`](crate::Knowledge) and
//! outputs `result` in Dify's shape (`[{content, title, metadata{_source, dataset_id, …}}]`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::dsl::{self, Text};
use super::{NodeContext, NodeFailure, NodeSuccess};
use crate::template::{Selector, selector_text, value_text};
use crate::{KnowledgeHit, KnowledgeQuery, WorkflowError};

/// Dify's default `top_k` for single (router) retrieval and when a config leaves it out.
const DEFAULT_TOP_K: usize = 4;

#[derive(Debug, Deserialize)]
struct RawKnowledge {
    #[serde(default, deserialize_with = "dsl::selector")]
    query_variable_selector: Selector,
    #[serde(default, deserialize_with = "dsl::nullable")]
    dataset_ids: Vec<Text>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    retrieval_mode: Option<String>,
    #[serde(default)]
    multiple_retrieval_config: Option<RawMultiple>,
    #[serde(default)]
    single_retrieval_config: Option<RawSingle>,
    #[serde(default, deserialize_with = "dsl::opt_text")]
    metadata_filtering_mode: Option<String>,
    #[serde(default)]
    metadata_filtering_conditions: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawMultiple {
    #[serde(default, deserialize_with = "dsl::opt_number")]
    top_k: Option<f64>,
    #[serde(default, deserialize_with = "dsl::opt_number")]
    score_threshold: Option<f64>,
    /// Older files carry the switch apart from the value.
    #[serde(default)]
    score_threshold_enabled: Option<bool>,
    #[serde(default)]
    weights: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawSingle {
    #[serde(default, deserialize_with = "dsl::opt_number")]
    top_k: Option<f64>,
}

/// The knowledge-retrieval node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct KnowledgeNode {
    pub query: Selector,
    pub dataset_ids: Vec<String>,
    pub top_k: usize,
    pub score_threshold: Option<f64>,
    pub weights: Option<(f64, f64)>,
    pub metadata_filter: Option<Value>,
}

impl KnowledgeNode {
    pub fn parse(node_id: &str, title: &str, data: &Value) -> Result<KnowledgeNode, WorkflowError> {
        let raw: RawKnowledge = dsl::parse_data(node_id, title, data)?;
        if raw.query_variable_selector.len() < 2 {
            return Err(dsl::invalid(
                node_id,
                title,
                "query_variable_selector is missing",
            ));
        }
        let dataset_ids: Vec<String> = raw
            .dataset_ids
            .into_iter()
            .map(|id| id.0)
            .filter(|id| !id.is_empty())
            .collect();
        if dataset_ids.is_empty() {
            return Err(dsl::invalid(node_id, title, "dataset_ids is empty"));
        }
        let mode = raw.retrieval_mode.unwrap_or_else(|| "multiple".into());
        let (top_k, score_threshold, weights) = match mode.as_str() {
            "single" => {
                let top_k = raw.single_retrieval_config.and_then(|config| config.top_k);
                (top_k, None, None)
            }
            "multiple" => match raw.multiple_retrieval_config {
                Some(config) => {
                    let threshold = match config.score_threshold_enabled {
                        Some(false) => None,
                        _ => config.score_threshold,
                    };
                    (
                        config.top_k,
                        threshold,
                        config.weights.as_ref().and_then(parse_weights),
                    )
                }
                None => (None, None, None),
            },
            other => {
                return Err(dsl::invalid(
                    node_id,
                    title,
                    format!("retrieval_mode `{other}` is not single or multiple"),
                ));
            }
        };
        let metadata_filter = match raw.metadata_filtering_mode.as_deref() {
            Some("manual") => raw
                .metadata_filtering_conditions
                .filter(|conditions| !conditions.is_null()),
            _ => None,
        };
        Ok(KnowledgeNode {
            query: raw.query_variable_selector,
            dataset_ids,
            top_k: top_k
                .filter(|k| *k >= 1.0)
                .map_or(DEFAULT_TOP_K, |k| k as usize),
            score_threshold,
            weights,
            metadata_filter,
        })
    }
}

/// `weights{vector_setting{vector_weight}, keyword_setting{keyword_weight}}`.
fn parse_weights(weights: &Value) -> Option<(f64, f64)> {
    let vector = weights.pointer("/vector_setting/vector_weight")?.as_f64()?;
    let keyword = weights
        .pointer("/keyword_setting/keyword_weight")?
        .as_f64()?;
    Some((vector, keyword))
}

pub(crate) async fn run(
    context: &NodeContext,
    config: &KnowledgeNode,
) -> Result<NodeSuccess, NodeFailure> {
    let query = context
        .pool
        .get(&config.query)
        .map(value_text)
        .unwrap_or_default();
    let inputs = json!({ "query": query });
    if query.trim().is_empty() {
        return Err(NodeFailure::new(format!(
            "the query ({}) is empty",
            selector_text(&config.query)
        ))
        .with_inputs(inputs));
    }
    let request = KnowledgeQuery {
        dataset_ids: config.dataset_ids.clone(),
        query,
        top_k: config.top_k,
        score_threshold: config.score_threshold,
        weights: config.weights,
        metadata_filter: config.metadata_filter.clone(),
    };
    let process_data = serde_json::to_value(&request).unwrap_or_default();
    let hits = context
        .services
        .knowledge
        .retrieve(request)
        .await
        .map_err(|error| {
            NodeFailure::new(format!("retrieval failed: {error}"))
                .with_inputs(inputs.clone())
                .with_process_data(process_data.clone())
        })?;
    let result: Vec<Value> = hits
        .iter()
        .enumerate()
        .map(|(i, hit)| hit_to_result(i + 1, hit))
        .collect();
    let mut outputs = serde_json::Map::new();
    outputs.insert("result".into(), Value::Array(result));
    Ok(NodeSuccess {
        inputs,
        process_data,
        outputs,
        retrieved: Some(hits),
        ..NodeSuccess::default()
    })
}

/// One entry of the node's `result`, as Dify's knowledge-retrieval node writes it.
fn hit_to_result(position: usize, hit: &KnowledgeHit) -> Value {
    json!({
        "content": hit.content,
        "title": hit.document_name,
        "metadata": {
            "_source": "knowledge",
            "position": position,
            "dataset_id": hit.dataset_id,
            "dataset_name": hit.dataset_name,
            "document_id": hit.document_id,
            "document_name": hit.document_name,
            "data_source_type": hit.data_source_type,
            "segment_id": hit.segment_id,
            "retriever_from": "workflow",
            "score": hit.score,
            "segment_hit_count": hit.hit_count,
            "segment_word_count": hit.word_count,
            "segment_position": hit.segment_position,
            "segment_index_node_hash": hit.index_node_hash,
            "created_at": hit.created_at,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiple_config_and_defaults() {
        let data = json!({
            "type": "knowledge-retrieval", "title": "K",
            "query_variable_selector": ["start", "q"],
            "dataset_ids": ["d1"],
            "retrieval_mode": "multiple",
            "multiple_retrieval_config": {
                "top_k": 6, "score_threshold": null, "reranking_enable": false,
                "weights": {"vector_setting": {"vector_weight": 0.7}, "keyword_setting": {"keyword_weight": 0.3}}
            },
            "metadata_filtering_mode": "manual",
            "metadata_filtering_conditions": {"logical_operator": "and", "conditions": []}
        });
        let node = KnowledgeNode::parse("k", "K", &data).unwrap();
        assert_eq!(node.top_k, 6);
        assert_eq!(node.score_threshold, None);
        assert_eq!(node.weights, Some((0.7, 0.3)));
        assert!(node.metadata_filter.is_some());

        let data = json!({
            "query_variable_selector": ["sys", "query"], "dataset_ids": ["d1"], "retrieval_mode": "single",
            "single_retrieval_config": {"model": {"provider": "openai", "name": "gpt"}}
        });
        let node = KnowledgeNode::parse("k", "K", &data).unwrap();
        assert_eq!(node.top_k, 4);
        assert_eq!(node.metadata_filter, None);
    }

    #[test]
    fn rejects_missing_datasets_and_modes() {
        let data = json!({"query_variable_selector": ["sys", "query"], "dataset_ids": []});
        assert!(
            KnowledgeNode::parse("k", "K", &data)
                .unwrap_err()
                .to_string()
                .contains("dataset_ids")
        );
        let data = json!({"query_variable_selector": ["sys", "query"], "dataset_ids": ["d"], "retrieval_mode": "x"});
        assert!(KnowledgeNode::parse("k", "K", &data).is_err());
    }
}
