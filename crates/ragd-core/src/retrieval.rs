//! Retrieval settings: Dify's retrieval model (`retrieval_model` in the Knowledge API), its validation into
//! the settings a search runs with, and Dify's metadata filtering conditions.
//!
//! The JSON shapes are Dify's (spec §1.4–1.6). ragd's extensions are optional fields that Dify clients never
//! send: `fusion` (`weighted` or `rrf`) and `rrf_k`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CoreError;

/// Largest `top_k` a retrieval accepts.
pub const MAX_TOP_K: usize = 100;
/// Dify's default `top_k` when neither the request nor the dataset sets a retrieval model.
pub const DEFAULT_TOP_K: usize = 4;
/// Longest query Dify accepts, in characters.
pub const MAX_QUERY_CHARS: usize = 250;
/// The `k` of reciprocal rank fusion unless a request sets `rrf_k` (the value of the original paper).
pub const DEFAULT_RRF_K: u32 = 60;
/// Default weights of weighted hybrid fusion, used when a request gives none: equal weights measured best
/// by `ragd eval` on Cranfield (nDCG@10 0.423 at 0.5/0.5, 0.420 at 0.4, 0.419 at 0.6, 0.415 at Dify's
/// `semantic_first` 0.7/0.3; see the README's evaluation table).
pub const DEFAULT_VECTOR_WEIGHT: f32 = 0.5;
pub const DEFAULT_KEYWORD_WEIGHT: f32 = 0.5;

/// Dify's `search_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    SemanticSearch,
    FullTextSearch,
    KeywordSearch,
    HybridSearch,
}

impl SearchMethod {
    /// Whether the method needs a query embedding.
    pub fn uses_vectors(self) -> bool {
        matches!(self, Self::SemanticSearch | Self::HybridSearch)
    }

    /// Whether the method runs BM25.
    pub fn uses_bm25(self) -> bool {
        !matches!(self, Self::SemanticSearch)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SemanticSearch => "semantic_search",
            Self::FullTextSearch => "full_text_search",
            Self::KeywordSearch => "keyword_search",
            Self::HybridSearch => "hybrid_search",
        }
    }
}

impl std::fmt::Display for SearchMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SearchMethod {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
            CoreError::InvalidRetrieval(format!(
                "unknown search_method {s:?}: expected semantic_search, full_text_search, keyword_search \
                 or hybrid_search"
            ))
        })
    }
}

/// Dify's `reranking_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerankingMode {
    RerankingModel,
    WeightedScore,
}

/// Dify's `reranking_model`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RerankingModelRef {
    #[serde(default)]
    pub reranking_provider_name: Option<String>,
    #[serde(default)]
    pub reranking_model_name: Option<String>,
}

/// Dify's `weights.vector_setting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorSetting {
    pub vector_weight: f64,
    #[serde(default)]
    pub embedding_provider_name: Option<String>,
    #[serde(default)]
    pub embedding_model_name: Option<String>,
}

/// Dify's `weights.keyword_setting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordSetting {
    pub keyword_weight: f64,
}

/// Dify's `weights` of weighted hybrid fusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_type: Option<String>,
    pub vector_setting: VectorSetting,
    pub keyword_setting: KeywordSetting,
}

impl Weights {
    /// Dify's `customized` weights: `vector_weight` for the vector score, the rest for the keyword score.
    pub fn customized(vector_weight: f64) -> Self {
        Self {
            weight_type: Some("customized".into()),
            vector_setting: VectorSetting {
                vector_weight,
                embedding_provider_name: None,
                embedding_model_name: None,
            },
            keyword_setting: KeywordSetting {
                keyword_weight: 1.0 - vector_weight,
            },
        }
    }
}

/// How hybrid search fuses its two rankings (a ragd extension; Dify always uses weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    /// Dify's weighted score: `vector_weight × vector score + keyword_weight × keyword score`.
    #[default]
    Weighted,
    /// Reciprocal rank fusion: `Σ 1 / (k + rank)`, scaled into [0, 1] by its largest possible value.
    Rrf,
}

/// Dify's `retrieval_model` (§1.5), plus ragd's optional `fusion` and `rrf_k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalModel {
    pub search_method: SearchMethod,
    #[serde(default)]
    pub reranking_enable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reranking_mode: Option<RerankingMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reranking_model: Option<RerankingModelRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Weights>,
    #[serde(default = "default_top_k")]
    pub top_k: i64,
    #[serde(default)]
    pub score_threshold_enabled: bool,
    #[serde(default)]
    pub score_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_filtering_conditions: Option<MetadataFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<FusionMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<u32>,
}

fn default_top_k() -> i64 {
    DEFAULT_TOP_K as i64
}

impl Default for RetrievalModel {
    /// Dify's fallback: semantic search, no reranking, top 4, no threshold.
    fn default() -> Self {
        Self::for_method(SearchMethod::SemanticSearch)
    }
}

impl RetrievalModel {
    /// Dify's defaults for a search method.
    pub fn for_method(search_method: SearchMethod) -> Self {
        Self {
            search_method,
            reranking_enable: false,
            reranking_mode: None,
            reranking_model: None,
            weights: None,
            top_k: default_top_k(),
            score_threshold_enabled: false,
            score_threshold: None,
            metadata_filtering_conditions: None,
            fusion: None,
            rrf_k: None,
        }
    }

    /// Validates the model into the settings a search runs with.
    pub fn resolve(&self) -> Result<RetrievalSettings, CoreError> {
        let top_k = usize::try_from(self.top_k)
            .ok()
            .filter(|k| (1..=MAX_TOP_K).contains(k))
            .ok_or_else(|| {
                invalid(format!(
                    "top_k must be between 1 and {MAX_TOP_K}, got {}",
                    self.top_k
                ))
            })?;
        let threshold = match (self.score_threshold_enabled, self.score_threshold) {
            (false, _) => None,
            (true, None) => {
                return Err(invalid(
                    "score_threshold is required when score_threshold_enabled is true",
                ));
            }
            (true, Some(t)) if !(0.0..=1.0).contains(&t) => {
                return Err(invalid(format!(
                    "score_threshold must be between 0 and 1, got {t}"
                )));
            }
            (true, Some(t)) => Some(t as f32),
        };
        if self.reranking_enable && self.reranking_mode != Some(RerankingMode::WeightedScore) {
            // Hybrid search with weighted_score is Dify's "reranking" without a model; a rerank model is not
            // something ragd runs.
            let weighted_hybrid = self.search_method == SearchMethod::HybridSearch
                && self.reranking_mode.is_none()
                && self.weights.is_some();
            if !weighted_hybrid {
                return Err(CoreError::Unsupported(
                    "reranking models are not supported: set reranking_enable to false, or use \
                     hybrid_search with reranking_mode weighted_score (or fusion rrf)"
                        .into(),
                ));
            }
        }
        let fusion = match self.fusion.unwrap_or_default() {
            FusionMethod::Rrf => {
                let k = self.rrf_k.unwrap_or(DEFAULT_RRF_K);
                if k == 0 {
                    return Err(invalid("rrf_k must be at least 1"));
                }
                Fusion::Rrf { k }
            }
            FusionMethod::Weighted => {
                let (vector, keyword) = match &self.weights {
                    None => (DEFAULT_VECTOR_WEIGHT, DEFAULT_KEYWORD_WEIGHT),
                    Some(w) => check_weights(
                        w.vector_setting.vector_weight,
                        w.keyword_setting.keyword_weight,
                    )?,
                };
                Fusion::Weighted { vector, keyword }
            }
        };
        if let Some(filter) = &self.metadata_filtering_conditions {
            filter.validate()?;
        }
        Ok(RetrievalSettings {
            method: self.search_method,
            top_k,
            threshold,
            fusion,
            filter: self.metadata_filtering_conditions.clone(),
        })
    }
}

fn check_weights(vector: f64, keyword: f64) -> Result<(f32, f32), CoreError> {
    let ok = |w: f64| w.is_finite() && (0.0..=1.0).contains(&w);
    if !ok(vector) || !ok(keyword) {
        return Err(invalid(format!(
            "weights must be between 0 and 1, got vector_weight {vector} and keyword_weight {keyword}"
        )));
    }
    if ((vector + keyword) - 1.0).abs() > 1e-3 {
        return Err(invalid(format!(
            "vector_weight and keyword_weight must sum to 1, got {vector} + {keyword}"
        )));
    }
    Ok((vector as f32, keyword as f32))
}

/// How hybrid search combines its rankings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Fusion {
    Weighted { vector: f32, keyword: f32 },
    Rrf { k: u32 },
}

/// A validated retrieval model: what one search runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalSettings {
    pub method: SearchMethod,
    pub top_k: usize,
    /// Drop results whose final score is below this (Dify's `score_threshold` when enabled).
    pub threshold: Option<f32>,
    /// Used by hybrid search only.
    pub fusion: Fusion,
    pub filter: Option<MetadataFilter>,
}

/// Checks a query the way Dify does: non-blank, at most [`MAX_QUERY_CHARS`] characters.
pub fn validate_query(query: &str) -> Result<(), CoreError> {
    if query.trim().is_empty() {
        return Err(invalid("Query or attachment_ids is required"));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(format!(
            "Query cannot exceed {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(())
}

/// `and` / `or` of Dify's metadata filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogicalOperator {
    #[default]
    And,
    Or,
}

/// Dify's comparison operators (§1.4). The ASCII spellings `!=`, `>=`, `<=` are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComparisonOperator {
    #[serde(rename = "contains")]
    Contains,
    #[serde(rename = "not contains")]
    NotContains,
    #[serde(rename = "start with")]
    StartWith,
    #[serde(rename = "end with")]
    EndWith,
    #[serde(rename = "is")]
    Is,
    #[serde(rename = "is not")]
    IsNot,
    #[serde(rename = "empty")]
    Empty,
    #[serde(rename = "not empty")]
    NotEmpty,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not in")]
    NotIn,
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "≠", alias = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "≥", alias = ">=")]
    Ge,
    #[serde(rename = "≤", alias = "<=")]
    Le,
    #[serde(rename = "before")]
    Before,
    #[serde(rename = "after")]
    After,
}

/// One condition: `{name, comparison_operator, value}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataCondition {
    pub name: String,
    pub comparison_operator: ComparisonOperator,
    #[serde(default)]
    pub value: Option<Value>,
}

/// Dify's `metadata_filtering_conditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetadataFilter {
    #[serde(default)]
    pub logical_operator: LogicalOperator,
    #[serde(default)]
    pub conditions: Vec<MetadataCondition>,
}

impl MetadataFilter {
    /// Checks every condition's value against its operator.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.conditions
            .iter()
            .try_for_each(MetadataCondition::validate)
    }

    /// Whether a document whose metadata `lookup` returns passes the filter. No conditions: every document.
    pub fn matches<'a>(&self, lookup: impl Fn(&str) -> Option<&'a Value>) -> bool {
        if self.conditions.is_empty() {
            return true;
        }
        let mut results = self.conditions.iter().map(|c| c.matches(lookup(&c.name)));
        match self.logical_operator {
            LogicalOperator::And => results.all(|r| r),
            LogicalOperator::Or => results.any(|r| r),
        }
    }
}

impl MetadataCondition {
    /// Checks that the value suits the operator: a string for the string operators, a number (or a numeric
    /// string) for the numeric and time ones, a list or a comma-separated string for `in` / `not in`.
    pub fn validate(&self) -> Result<(), CoreError> {
        use ComparisonOperator as Op;
        let name = &self.name;
        if name.trim().is_empty() {
            return Err(CoreError::InvalidFilter(
                "a metadata condition needs a non-empty name".into(),
            ));
        }
        let op = self.comparison_operator;
        let bad = |expected: &str| {
            CoreError::InvalidFilter(format!(
                "metadata condition on {name:?}: operator {:?} needs {expected}, got {}",
                serde_json::to_value(op).unwrap_or_default(),
                self.value
                    .as_ref()
                    .map_or_else(|| "no value".to_owned(), Value::to_string)
            ))
        };
        match op {
            Op::Empty | Op::NotEmpty => Ok(()),
            Op::Contains | Op::NotContains | Op::StartWith | Op::EndWith | Op::Is | Op::IsNot => {
                match &self.value {
                    Some(Value::String(_) | Value::Number(_)) => Ok(()),
                    _ => Err(bad("a string value")),
                }
            }
            Op::In | Op::NotIn => match &self.value {
                Some(Value::String(_)) => Ok(()),
                Some(Value::Array(items)) if items.iter().all(|v| scalar_text(v).is_some()) => {
                    Ok(())
                }
                _ => Err(bad("a list of strings or a comma-separated string")),
            },
            Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le | Op::Before | Op::After => {
                match self.value.as_ref().and_then(as_number) {
                    Some(_) => Ok(()),
                    None => Err(bad("a number (times are Unix seconds)")),
                }
            }
        }
    }

    /// Dify's semantics, which are SQL's: a document without a value for the field matches only `empty`.
    pub fn matches(&self, actual: Option<&Value>) -> bool {
        use ComparisonOperator as Op;
        let actual = actual.filter(|v| !v.is_null());
        match self.comparison_operator {
            Op::Empty => return actual.is_none_or(|v| v.as_str() == Some("")),
            Op::NotEmpty => return actual.is_some_and(|v| v.as_str() != Some("")),
            _ => {}
        }
        let Some(actual) = actual else {
            return false;
        };
        let expected = self.value.as_ref();
        match self.comparison_operator {
            Op::Contains | Op::NotContains | Op::StartWith | Op::EndWith | Op::Is | Op::IsNot => {
                let (Some(a), Some(e)) = (scalar_text(actual), expected.and_then(scalar_text))
                else {
                    return false;
                };
                match self.comparison_operator {
                    Op::Contains => a.contains(e.as_str()),
                    Op::NotContains => !a.contains(e.as_str()),
                    Op::StartWith => a.starts_with(e.as_str()),
                    Op::EndWith => a.ends_with(e.as_str()),
                    Op::Is => a == e,
                    _ => a != e,
                }
            }
            Op::In | Op::NotIn => {
                let Some(a) = scalar_text(actual) else {
                    return false;
                };
                let listed = match expected {
                    Some(Value::String(s)) => s.split(',').any(|item| item.trim() == a),
                    Some(Value::Array(items)) => {
                        items.iter().filter_map(scalar_text).any(|item| item == a)
                    }
                    _ => false,
                };
                listed == (self.comparison_operator == Op::In)
            }
            op => {
                let (Some(a), Some(e)) = (as_number(actual), expected.and_then(as_number)) else {
                    return false;
                };
                match op {
                    Op::Eq => a == e,
                    Op::Ne => a != e,
                    Op::Gt | Op::After => a > e,
                    Op::Lt | Op::Before => a < e,
                    Op::Ge => a >= e,
                    _ => a <= e,
                }
            }
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
        _ => None,
    }
}

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::InvalidRetrieval(message.into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn model(value: Value) -> Result<RetrievalSettings, CoreError> {
        serde_json::from_value::<RetrievalModel>(value)
            .map_err(|e| CoreError::InvalidRetrieval(e.to_string()))?
            .resolve()
    }

    #[test]
    fn defaults_follow_dify() {
        let s = model(json!({"search_method": "semantic_search"})).unwrap();
        assert_eq!(s.top_k, 4);
        assert_eq!(s.threshold, None);
        let s = RetrievalModel::default().resolve().unwrap();
        assert_eq!(s.method, SearchMethod::SemanticSearch);
    }

    #[test]
    fn threshold_only_when_enabled_and_in_range() {
        let s =
            model(json!({"search_method": "full_text_search", "score_threshold": 0.9})).unwrap();
        assert_eq!(s.threshold, None);
        let s = model(
            json!({"search_method": "full_text_search", "score_threshold_enabled": true,
            "score_threshold": 0.5}),
        )
        .unwrap();
        assert_eq!(s.threshold, Some(0.5));
        for bad in [json!(1.5), json!(-0.1)] {
            let err = model(json!({"search_method": "full_text_search",
                "score_threshold_enabled": true, "score_threshold": bad}))
            .unwrap_err();
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
    }

    #[test]
    fn top_k_bounds() {
        for bad in [0, -3, 101, 1_000_000] {
            let err = model(json!({"search_method": "semantic_search", "top_k": bad})).unwrap_err();
            assert!(err.to_string().contains("top_k"), "{err}");
        }
        assert_eq!(
            model(json!({"search_method": "semantic_search", "top_k": 100}))
                .unwrap()
                .top_k,
            100
        );
    }

    #[test]
    fn weights_are_checked_and_rrf_is_an_extension() {
        let s = model(
            json!({"search_method": "hybrid_search", "reranking_enable": true,
            "reranking_mode": "weighted_score",
            "weights": {"weight_type": "customized", "vector_setting": {"vector_weight": 0.4},
                "keyword_setting": {"keyword_weight": 0.6}}}),
        )
        .unwrap();
        assert_eq!(
            s.fusion,
            Fusion::Weighted {
                vector: 0.4,
                keyword: 0.6
            }
        );
        let err = model(json!({"search_method": "hybrid_search",
            "weights": {"vector_setting": {"vector_weight": 0.9},
                "keyword_setting": {"keyword_weight": 0.6}}}))
        .unwrap_err();
        assert!(err.to_string().contains("sum to 1"), "{err}");
        let s = model(json!({"search_method": "hybrid_search", "fusion": "rrf"})).unwrap();
        assert_eq!(s.fusion, Fusion::Rrf { k: 60 });
        let err = model(
            json!({"search_method": "semantic_search", "reranking_enable": true,
            "reranking_mode": "reranking_model"}),
        )
        .unwrap_err();
        assert!(matches!(err, CoreError::Unsupported(_)));
    }

    #[test]
    fn queries_are_checked() {
        assert!(validate_query("  ").is_err());
        assert!(validate_query(&"é".repeat(250)).is_ok());
        let err = validate_query(&"é".repeat(251)).unwrap_err();
        assert!(err.to_string().contains("250"));
    }

    fn cond(name: &str, op: &str, value: Value) -> MetadataCondition {
        serde_json::from_value(json!({"name": name, "comparison_operator": op, "value": value}))
            .unwrap()
    }

    #[test]
    fn every_operator() {
        let s = json!("Quarterly report 2024");
        let n = json!(42);
        let b = json!("b");
        let (t1, t2) = (json!(1_600_000_000), json!(1_600_000_000));
        let cases: Vec<(MetadataCondition, Option<&Value>, bool)> = vec![
            (cond("t", "contains", json!("report")), Some(&s), true),
            (cond("t", "contains", json!("Report")), Some(&s), false),
            (cond("t", "not contains", json!("report")), Some(&s), false),
            (cond("t", "not contains", json!("x")), Some(&s), true),
            (cond("t", "start with", json!("Quarterly")), Some(&s), true),
            (cond("t", "end with", json!("2024")), Some(&s), true),
            (cond("t", "end with", json!("2023")), Some(&s), false),
            (
                cond("t", "is", json!("Quarterly report 2024")),
                Some(&s),
                true,
            ),
            (
                cond("t", "is not", json!("Quarterly report 2024")),
                Some(&s),
                false,
            ),
            (cond("t", "empty", Value::Null), None, true),
            (cond("t", "empty", Value::Null), Some(&s), false),
            (cond("t", "not empty", Value::Null), Some(&s), true),
            (cond("t", "not empty", Value::Null), None, false),
            (
                cond("t", "in", json!(["a", "Quarterly report 2024"])),
                Some(&s),
                true,
            ),
            (cond("t", "in", json!("a, b")), Some(&b), true),
            (cond("t", "not in", json!(["a"])), Some(&s), true),
            (cond("n", "=", json!(42)), Some(&n), true),
            (cond("n", "≠", json!(42)), Some(&n), false),
            (cond("n", "!=", json!(41)), Some(&n), true),
            (cond("n", ">", json!(41.5)), Some(&n), true),
            (cond("n", "<", json!(42)), Some(&n), false),
            (cond("n", "≥", json!(42)), Some(&n), true),
            (cond("n", "<=", json!("42")), Some(&n), true),
            (cond("d", "before", json!(1_700_000_000)), Some(&t1), true),
            (cond("d", "after", json!(1_700_000_000)), Some(&t2), false),
            // SQL semantics: a missing value matches nothing but `empty`.
            (cond("t", "not contains", json!("x")), None, false),
            (cond("n", "≠", json!(1)), None, false),
        ];
        for (c, actual, expected) in cases {
            c.validate().unwrap();
            assert_eq!(c.matches(actual), expected, "{c:?} on {actual:?}");
        }
    }

    #[test]
    fn malformed_conditions_are_refused() {
        for (op, value) in [
            ("contains", json!(["x"])),
            (">", json!("abc")),
            ("in", json!({"a": 1})),
            ("before", Value::Null),
        ] {
            let err = cond("f", op, value).validate().unwrap_err();
            assert!(matches!(err, CoreError::InvalidFilter(_)), "{op}: {err}");
        }
        let unknown = serde_json::from_value::<MetadataCondition>(
            json!({"name": "f", "comparison_operator": "like", "value": "x"}),
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn and_or() {
        let filter: MetadataFilter = serde_json::from_value(json!({"logical_operator": "or",
            "conditions": [{"name": "a", "comparison_operator": "is", "value": "1"},
                           {"name": "b", "comparison_operator": "is", "value": "2"}]}))
        .unwrap();
        let a = json!("1");
        assert!(filter.matches(|name| (name == "a").then_some(&a)));
        let and = MetadataFilter {
            logical_operator: LogicalOperator::And,
            ..filter.clone()
        };
        assert!(!and.matches(|name| (name == "a").then_some(&a)));
        assert!(MetadataFilter::default().matches(|_| None));
    }
}
