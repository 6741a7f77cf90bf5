//! Ingest and retrieve benchmark on Cranfield with the real model, SQLite, tantivy and HNSW.
//!
//! Reports the two ratios of DESIGN.md's budget table that this layer owns, measured in one run:
//! - ingest: chunks/s of the whole indexing pipeline (clean, chunk, embed, write, checkpoint) over chunks/s
//!   of raw batch embedding of the same chunk texts (budget ≥ 0.85);
//! - retrieve: p50 / p99 latency and queries/s per search method, next to query embedding alone (the floor
//!   of any uncached semantic or hybrid retrieval; budget ≥ 0.85 of its throughput).
//!
//! `cargo bench -p ragd-indexer --bench pipeline [-- --docs N]` (N: use only the first N documents).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ragd_config::Config;
use ragd_core::dataset::{DocForm, IndexingTechnique, NewDataset, NewDocument};
use ragd_core::retrieval::{FusionMethod, RetrievalModel, SearchMethod};
use ragd_embed::{Embedder, ModelTokenizer, OnnxEmbedder, OnnxEmbedderOptions};
use ragd_indexer::{Indexer, IndexerOptions};
use ragd_retrieve::{IndexRegistry, RetrieveRequest, Retriever};
use ragd_store::{MetadataStore, SqliteStore};
use ragd_vector::HnswOptions;

fn main() {
    let config = Config::load(None, std::env::vars()).expect("configuration");
    let limit: usize = std::env::args()
        .skip_while(|a| a != "--docs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/cranfield");
    let set = ragd_eval::BeirDataset::load(&dir).expect("cranfield");
    let docs: Vec<(String, String)> = set
        .corpus
        .iter()
        .filter(|d| !d.text.trim().is_empty())
        .take(limit)
        .map(|d| {
            (
                d.id.clone(),
                format!("{}\n\n{}", d.title.trim(), d.text.trim()),
            )
        })
        .collect();

    let embedder: Arc<OnnxEmbedder> = Arc::new(
        OnnxEmbedder::load(&OnnxEmbedderOptions::from_config(
            &config.models,
            &config.embed,
        ))
        .expect("model"),
    );
    let tokenizer =
        Arc::new(ModelTokenizer::from_model_dir(&config.model_dir()).expect("tokenizer"));
    let work = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn MetadataStore> =
        Arc::new(SqliteStore::open(&work.path().join("ragd.sqlite3")).expect("store"));
    let indexes = Arc::new(IndexRegistry::new(
        work.path().join("indexes"),
        embedder.dimensions(),
        HnswOptions::default(),
    ));
    let mut new = NewDataset::named("bench");
    new.indexing_technique = Some(IndexingTechnique::HighQuality);
    let dataset = store.create_dataset(&new).expect("dataset");
    let documents: Vec<_> = docs
        .iter()
        .map(|(id, text)| {
            store
                .create_document(&NewDocument {
                    dataset_id: dataset.id.clone(),
                    name: id.clone(),
                    data_source_type: "upload_file".into(),
                    source: None,
                    content_hash: id.clone(),
                    text: text.clone(),
                    batch: "bench".into(),
                    created_from: "bench".into(),
                    created_by: "bench".into(),
                    doc_form: DocForm::TextModel,
                    doc_language: "English".into(),
                    process_rule: None,
                    metadata: Vec::new(),
                })
                .expect("document")
                .0
        })
        .collect();

    let defaults = config.indexing.clone();
    let indexer = Indexer::new(
        store.clone(),
        indexes.clone(),
        embedder.clone(),
        tokenizer,
        IndexerOptions {
            embed_batch: defaults.embed_batch,
            group_documents: defaults.group_documents,
            checkpoint_interval: Duration::from_millis(defaults.checkpoint_interval_ms),
        },
    );
    let started = Instant::now();
    let report = indexer
        .index_documents(&dataset.id, &documents, &|_| {})
        .expect("indexing");
    let pipeline = started.elapsed();
    let chunks = report.embedded_chunks;

    // Raw batch embedding of exactly the chunks the pipeline embedded.
    let keys: Vec<u64> = documents
        .iter()
        .flat_map(|d| store.document_index_keys(&d.id).expect("keys"))
        .collect();
    let texts: Vec<String> = store
        .hydrate(&keys)
        .expect("hydrate")
        .into_iter()
        .map(|h| h.segment.content)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let started = Instant::now();
    for batch in refs.chunks(defaults.embed_batch) {
        embedder.embed_documents(batch).expect("embedding");
    }
    let raw = started.elapsed();
    let pipeline_rate = chunks as f64 / pipeline.as_secs_f64();
    let raw_rate = texts.len() as f64 / raw.as_secs_f64();
    println!("ingest: {} documents, {chunks} chunks", documents.len());
    println!(
        "  pipeline {pipeline_rate:.1} chunks/s ({:.2} s: prepare {:.2}, embed {:.2}, write {:.2}, checkpoint {:.2})",
        pipeline.as_secs_f64(),
        report.prepare_time.as_secs_f64(),
        report.embed_time.as_secs_f64(),
        report.write_time.as_secs_f64(),
        report.checkpoint_time.as_secs_f64()
    );
    println!(
        "  raw batch embedding {raw_rate:.1} chunks/s ({:.2} s)",
        raw.as_secs_f64()
    );
    println!("  ratio {:.3} (budget ≥ 0.85)", pipeline_rate / raw_rate);

    let retriever = Retriever::new(store.clone(), indexes.clone(), embedder.clone());
    let queries: Vec<String> = set.queries.iter().map(|q| q.text.clone()).collect();
    let floor = measure(&queries, |q| {
        embedder.embed_query(q).expect("embedding");
    });
    println!(
        "\nretrieve over {} queries (top_k 10), single thread:",
        queries.len()
    );
    println!(
        "  {:<22} {:>9} {:>9} {:>9} {:>8}",
        "method", "p50 ms", "p99 ms", "q/s", "ratio"
    );
    let row = |name: &str, m: &Measured| {
        println!(
            "  {name:<22} {:>9.3} {:>9.3} {:>9.1} {:>8.3}",
            m.p50_ms,
            m.p99_ms,
            m.qps,
            m.qps / floor.qps
        );
    };
    row("query embedding alone", &floor);
    let methods = [
        ("full_text_search", SearchMethod::FullTextSearch, None),
        ("semantic_search", SearchMethod::SemanticSearch, None),
        ("hybrid_search", SearchMethod::HybridSearch, None),
        (
            "hybrid_search (rrf)",
            SearchMethod::HybridSearch,
            Some(FusionMethod::Rrf),
        ),
    ];
    for (name, method, fusion) in methods {
        let mut model = RetrievalModel::for_method(method);
        model.top_k = 10;
        model.fusion = fusion;
        let settings = model.resolve().expect("settings");
        let m = measure(&queries, |q| {
            let request = RetrieveRequest::new(vec![dataset.id.clone()], q, settings.clone());
            retriever.retrieve(&request).expect("retrieve");
        });
        row(name, &m);
    }
}

struct Measured {
    p50_ms: f64,
    p99_ms: f64,
    qps: f64,
}

/// Runs every query twice (the first pass warms caches) and measures the second.
fn measure(queries: &[String], mut f: impl FnMut(&str)) -> Measured {
    for q in queries {
        f(q);
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let started = Instant::now();
    for q in queries {
        let t = Instant::now();
        f(q);
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let total = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Measured {
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        qps: queries.len() as f64 / total,
    }
}
