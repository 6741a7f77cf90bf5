//! Dify's JSON representations of datasets, documents, segments, child chunks, indexing status and
//! retrieval records (spec §1.2, §1.3, §1.6), built from the store's entities.
//!
//! Clients validate these strictly (the Python SDK rejects a null `created_by` or `indexing_at`), so every
//! field Dify always fills is filled here too, with the nearest true value.

use ragd_core::dataset::{ChildChunk, Dataset, Document, IndexingStatus, MetadataField, Segment};
use ragd_core::retrieval::RetrievalModel;
use ragd_retrieve::Record;
use serde_json::{Map, Value, json};

/// Who the API acts as in `created_by` fields (ragd has no accounts; keys act for the workspace).
pub const API_USER: &str = "api";

/// Dify's `display_status` of a document.
pub fn display_status(d: &Document) -> &'static str {
    match d.indexing_status {
        IndexingStatus::Waiting => "queuing",
        IndexingStatus::Parsing
        | IndexingStatus::Cleaning
        | IndexingStatus::Splitting
        | IndexingStatus::Indexing => "indexing",
        IndexingStatus::Paused => "paused",
        IndexingStatus::Error => "error",
        IndexingStatus::Completed if d.archived => "archived",
        IndexingStatus::Completed if !d.enabled => "disabled",
        IndexingStatus::Completed => "available",
    }
}

/// The retrieval model stored with the dataset, if it has one that parses (stores keep it as opaque JSON;
/// what the API writes there was validated first).
pub fn stored_retrieval_model(dataset: &Dataset) -> Option<RetrievalModel> {
    dataset
        .retrieval_model
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// The dataset's retrieval model as Dify shows it (`retrieval_model_dict`): the stored one, or Dify's
/// default (semantic search, top 4, no threshold), with every key present.
pub fn retrieval_model_dict(dataset: &Dataset) -> Value {
    let model: RetrievalModel = stored_retrieval_model(dataset).unwrap_or_default();
    let mut dict = json!({
        "search_method": model.search_method,
        "reranking_enable": model.reranking_enable,
        "reranking_mode": model.reranking_mode,
        "reranking_model": {
            "reranking_provider_name": model.reranking_model.as_ref().map(|m| m.reranking_provider_name.clone()).unwrap_or_default(),
            "reranking_model_name": model.reranking_model.as_ref().map(|m| m.reranking_model_name.clone()).unwrap_or_default(),
        },
        "weights": model.weights,
        "top_k": model.top_k,
        "score_threshold_enabled": model.score_threshold_enabled,
        "score_threshold": model.score_threshold,
    });
    if let Some(filter) = &model.metadata_filtering_conditions {
        dict["metadata_filtering_conditions"] = json!(filter);
    }
    if let Some(fusion) = model.fusion {
        dict["fusion"] = json!(fusion);
        dict["rrf_k"] = json!(model.rrf_k);
    }
    dict
}

/// Counts a dataset view shows besides the dataset row itself.
#[derive(Debug, Clone, Default)]
pub struct DatasetExtras {
    pub fields: Vec<MetadataField>,
    pub available_documents: u64,
}

pub fn dataset(d: &Dataset, extras: &DatasetExtras) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "provider": d.provider,
        "permission": d.permission,
        "data_source_type": if d.document_count > 0 { Value::from("upload_file") } else { Value::Null },
        "indexing_technique": d.indexing_technique,
        "app_count": 0,
        "document_count": d.document_count,
        "word_count": d.word_count,
        "created_by": if d.created_by.is_empty() { API_USER } else { d.created_by.as_str() },
        "author_name": if d.created_by.is_empty() { API_USER } else { d.created_by.as_str() },
        "created_at": d.created_at,
        "updated_by": if d.created_by.is_empty() { API_USER } else { d.created_by.as_str() },
        "updated_at": d.updated_at,
        "embedding_model": d.embedding_model,
        "embedding_model_provider": d.embedding_model_provider,
        "embedding_available": true,
        "retrieval_model_dict": retrieval_model_dict(d),
        "tags": [],
        "doc_form": d.doc_form,
        "external_knowledge_info": {
            "external_knowledge_id": null,
            "external_knowledge_api_id": null,
            "external_knowledge_api_name": null,
            "external_knowledge_api_endpoint": null,
        },
        "external_retrieval_model": {"top_k": 2, "score_threshold": 0.0, "score_threshold_enabled": null},
        "doc_metadata": extras.fields.iter().map(|f| json!({"id": f.id, "name": f.name, "type": f.field_type})).collect::<Vec<_>>(),
        "built_in_field_enabled": d.built_in_field_enabled,
        "pipeline_id": null,
        "runtime_mode": "general",
        "chunk_structure": null,
        "icon_info": null,
        "summary_index_setting": null,
        "is_published": false,
        "total_documents": d.document_count,
        "total_available_documents": extras.available_documents,
        "enable_api": d.enable_api,
        "is_multimodal": false,
        "maintainer": null,
        // ragd extensions: the analyzer used for BM25 and the version cache keys include.
        "lexical_analyzer": d.lexical_analyzer,
        "version": d.version,
    })
}

fn extension(name: &str) -> &str {
    name.rsplit_once('.').map(|(_, e)| e).unwrap_or("txt")
}

fn doc_metadata(d: &Document) -> Vec<Value> {
    d.metadata
        .iter()
        .map(|m| json!({"id": m.field_id, "name": m.name, "type": m.field_type, "value": m.value}))
        .collect()
}

/// A document as lists and create/update answers show it.
pub fn document(d: &Document) -> Value {
    json!({
        "id": d.id,
        "position": d.position,
        "data_source_type": d.data_source_type,
        "data_source_info": {"upload_file_id": d.id},
        "data_source_detail_dict": {
            "upload_file": {
                "id": d.id,
                "name": d.name,
                "size": d.word_count,
                "extension": extension(&d.name),
                "mime_type": null,
                "created_by": created_by(&d.created_by),
                "created_at": d.created_at,
            }
        },
        "dataset_process_rule_id": null,
        "name": d.name,
        "created_from": d.created_from,
        "created_by": created_by(&d.created_by),
        "created_at": d.created_at,
        "tokens": d.tokens,
        "indexing_status": d.indexing_status,
        "error": d.error,
        "enabled": d.enabled,
        "disabled_at": d.disabled_at,
        "disabled_by": d.disabled_by,
        "archived": d.archived,
        "display_status": display_status(d),
        "word_count": d.word_count,
        "hit_count": 0,
        "doc_form": d.doc_form,
        "doc_metadata": doc_metadata(d),
        "summary_index_status": null,
        "need_summary": false,
    })
}

/// `GET …/documents/{id}` with `metadata=all|only|without`.
pub fn document_detail(d: &Document, metadata: &str) -> Value {
    if metadata == "only" {
        return json!({"id": d.id, "doc_type": null, "doc_metadata": doc_metadata(d)});
    }
    let mut v = document(d);
    let extra = json!({
        "dataset_process_rule": d.process_rule,
        "document_process_rule": d.process_rule,
        "doc_language": d.doc_language,
        "doc_type": null,
        "completed_at": d.completed_at,
        "updated_at": d.updated_at,
        "indexing_latency": match (d.processing_started_at, d.completed_at) {
            (Some(s), Some(c)) => Value::from((c - s).max(0) as f64),
            _ => Value::Null,
        },
        "segment_count": d.segment_count,
        "average_segment_length": d.word_count.checked_div(d.segment_count).unwrap_or(0),
        "processing_started_at": d.processing_started_at,
        "parsing_completed_at": d.parsing_completed_at,
        "cleaning_completed_at": d.cleaning_completed_at,
        "splitting_completed_at": d.splitting_completed_at,
    });
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
        if metadata == "without" {
            v.remove("doc_metadata");
        }
    }
    v
}

fn created_by(by: &str) -> &str {
    if by.is_empty() { API_USER } else { by }
}

/// One entry of `GET …/documents/{batch}/indexing-status`.
pub fn indexing_status(d: &Document) -> Value {
    json!({
        "id": d.id,
        "indexing_status": d.indexing_status,
        "processing_started_at": d.processing_started_at,
        "parsing_completed_at": d.parsing_completed_at,
        "cleaning_completed_at": d.cleaning_completed_at,
        "splitting_completed_at": d.splitting_completed_at,
        "completed_at": d.completed_at,
        "paused_at": d.paused_at,
        "error": d.error,
        "stopped_at": d.stopped_at,
        "completed_segments": d.completed_segments,
        "total_segments": d.total_segments,
    })
}

pub fn child_chunk(c: &ChildChunk) -> Value {
    json!({
        "id": c.id,
        "segment_id": c.segment_id,
        "content": c.content,
        "position": c.position,
        "word_count": c.word_count,
        "type": c.kind,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// A segment with its child chunks.
pub fn segment(s: &Segment, children: &[ChildChunk]) -> Value {
    let mut v = segment_core(s);
    if let Value::Object(map) = &mut v {
        map.insert("updated_at".into(), s.updated_at.into());
        map.insert("updated_by".into(), created_by(&s.created_by).into());
        map.insert(
            "child_chunks".into(),
            children.iter().map(child_chunk).collect::<Vec<_>>().into(),
        );
        map.insert("attachments".into(), Value::Array(Vec::new()));
        map.insert("summary".into(), Value::Null);
    }
    v
}

/// The segment fields retrieval records carry too.
fn segment_core(s: &Segment) -> Value {
    json!({
        "id": s.id,
        "position": s.position,
        "document_id": s.document_id,
        "content": s.content,
        "sign_content": s.content,
        "answer": s.answer,
        "word_count": s.word_count,
        "tokens": s.tokens,
        "keywords": s.keywords,
        "index_node_id": s.index_node_id,
        "index_node_hash": s.index_node_hash,
        "hit_count": s.hit_count,
        "enabled": s.enabled,
        "disabled_at": s.disabled_at,
        "disabled_by": s.disabled_by,
        "status": s.status,
        "created_by": created_by(&s.created_by),
        "created_at": s.created_at,
        "indexing_at": s.indexing_at.unwrap_or(s.created_at),
        "completed_at": s.completed_at,
        "error": s.error,
        "stopped_at": null,
    })
}

/// One record of `POST /datasets/{id}/retrieve` (§1.6).
pub fn record(r: &Record) -> Value {
    let d = &r.document;
    let metadata: Map<String, Value> = d
        .metadata
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    let mut segment = segment_core(&r.segment);
    segment["document"] = json!({
        "id": d.id,
        "data_source_type": d.data_source_type,
        "name": d.name,
        "doc_type": null,
        "doc_metadata": if metadata.is_empty() { Value::Null } else { Value::Object(metadata) },
    });
    let mut record = json!({
        "segment": segment,
        "child_chunks": r.child_chunks.iter().map(|c| json!({
            "id": c.chunk.id, "content": c.chunk.content, "position": c.chunk.position, "score": c.score,
        })).collect::<Vec<_>>(),
        "score": r.score,
        "tsne_position": null,
        "files": [],
        "summary": null,
    });
    if r.dataset_id != d.dataset_id || r.explain.is_some() {
        record["dataset_id"] = json!(r.dataset_id);
    }
    if let Some(e) = &r.explain {
        record["explain"] = json!(e);
    }
    record
}

/// One record of the External Knowledge API (§2): `{content, score, title, metadata}`.
pub fn external_record(r: &Record) -> Value {
    let d = &r.document;
    let mut metadata: Map<String, Value> = d
        .metadata
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    metadata.insert("dataset_id".into(), json!(r.dataset_id));
    metadata.insert("document_id".into(), json!(d.id));
    metadata.insert("segment_id".into(), json!(r.segment.id));
    metadata.insert("position".into(), json!(r.segment.position));
    if let Some(source) = &d.source {
        metadata.insert("path".into(), json!(source));
    }
    let content = match &r.segment.answer {
        Some(answer) if !answer.is_empty() => {
            format!("question:{} answer:{}", r.segment.content, answer)
        }
        _ => r.segment.content.clone(),
    };
    json!({
        "content": content,
        "score": r.score,
        "title": d.name,
        "metadata": metadata,
    })
}

#[cfg(test)]
mod tests {
    use ragd_core::dataset::NewDataset;

    use super::*;

    fn dataset_row() -> Dataset {
        let new = NewDataset::named("d");
        Dataset {
            id: "x".into(),
            name: new.name,
            description: new.description,
            indexing_technique: None,
            permission: new.permission,
            provider: new.provider,
            embedding_model: None,
            embedding_model_provider: None,
            retrieval_model: None,
            lexical_analyzer: new.lexical_analyzer,
            doc_form: new.doc_form,
            built_in_field_enabled: false,
            enable_api: true,
            process_rule: None,
            version: 1,
            document_count: 0,
            word_count: 0,
            created_by: String::new(),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn dataset_view_fills_what_strict_clients_require() {
        let v = dataset(&dataset_row(), &DatasetExtras::default());
        assert_eq!(v["created_by"], "api");
        assert_eq!(v["updated_by"], "api");
        assert_eq!(
            v["retrieval_model_dict"]["search_method"],
            "semantic_search"
        );
        assert_eq!(v["retrieval_model_dict"]["top_k"], 4);
        assert_eq!(v["retrieval_model_dict"]["score_threshold_enabled"], false);
        assert!(v["tags"].as_array().unwrap().is_empty());
    }
}
