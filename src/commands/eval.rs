//! `ragd eval DIR`: imports a BEIR-format set (corpus, queries, graded qrels) into its own data dir and
//! reports nDCG@10, Recall@10, Recall@100 and MRR@10 per search method, with queries/s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use comfy_table::{Cell, Table};
use indicatif::{ProgressBar, ProgressStyle};
use ragd_config::Config;
use ragd_core::dataset::{
    DocForm, Document, IndexingStatus, IndexingTechnique, NewDataset, NewDocument,
};
use ragd_core::retrieval::{FusionMethod, RetrievalModel, SearchMethod, Weights};
use ragd_eval::{BeirDataset, MetricsSummary, Run, evaluate};
use ragd_indexer::Progress;
use ragd_retrieve::RetrieveRequest;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ui::spinner;
use crate::engine::Engine;
use ragd_core::dataset::new_batch_id;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A BEIR-format directory: corpus.jsonl, queries.jsonl, qrels/test.tsv.
    dir: PathBuf,

    /// Methods to evaluate, comma-separated: bm25, semantic, hybrid, rrf; `hybrid@W` sets the vector
    /// weight W of weighted fusion, `rrf@K` the k of reciprocal rank fusion.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bm25,semantic,hybrid,rrf"
    )]
    methods: Vec<String>,

    /// Data dir for the imported set (default: `eval/NAME` under the configured data dir; reused by later
    /// runs, since importing is idempotent).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Delete the set's data dir first and import from scratch.
    #[arg(long)]
    fresh: bool,

    /// Write each method's run in TREC format (and the qrels) to this directory, for external scorers.
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,

    /// Qrels split (qrels/SPLIT.tsv).
    #[arg(long, default_value = "test")]
    split: String,

    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

/// One method to evaluate.
#[derive(Debug, Clone, Serialize)]
struct MethodSpec {
    name: String,
    #[serde(skip)]
    model: RetrievalModel,
}

#[derive(Debug, Serialize)]
struct MethodResult {
    method: String,
    #[serde(flatten)]
    metrics: MetricsSummary,
    queries_per_second: f64,
}

#[derive(Debug, Serialize)]
struct EvalReport {
    dataset: String,
    documents: usize,
    queries: usize,
    import_seconds: f64,
    results: Vec<MethodResult>,
}

pub fn run(args: EvalArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let methods = args
        .methods
        .iter()
        .map(|m| parse_method(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let set = BeirDataset::load_split(&args.dir, &args.split)
        .with_context(|| format!("loading the BEIR set in {}", args.dir.display()))?;
    let name = args
        .dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "beir".into());
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("eval").join(&name));
    if args.fresh && data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("removing {}", data_dir.display()))?;
    }

    let loading = spinner("loading the embedding model");
    let engine = Engine::open(config, &data_dir)?;
    loading.finish_and_clear();
    let started = Instant::now();
    let dataset_id = import_corpus(&engine, &set, &name, args.json)?;
    let import_seconds = started.elapsed().as_secs_f64();

    if let Some(dir) = &args.run_dir {
        std::fs::create_dir_all(dir)?;
        set.qrels.write_trec_file(&dir.join("qrels.txt"))?;
    }
    let retriever = engine.retriever();
    let mut results = Vec::new();
    for spec in &methods {
        let settings = spec.model.resolve()?;
        let bar = query_bar(set.queries.len(), &spec.name, args.json);
        let mut run = Run::new(&format!("ragd-{}", spec.name));
        let started = Instant::now();
        for q in &set.queries {
            let request =
                RetrieveRequest::new(vec![dataset_id.clone()], q.text.clone(), settings.clone());
            let retrieval = retriever
                .retrieve(&request)
                .with_context(|| format!("query {} with {}", q.id, spec.name))?;
            let mut ranking: Vec<(String, f64)> = retrieval
                .records
                .into_iter()
                .map(|r| (r.document.name, f64::from(r.score)))
                .collect();
            ragd_eval::dedup_by_doc(&mut ranking);
            run.insert(q.id.clone(), ranking);
            bar.inc(1);
        }
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        if let Some(dir) = &args.run_dir {
            run.write_trec_file(&dir.join(format!("{}.run", spec.name)))?;
        }
        let evaluation = evaluate(&run, &set.qrels);
        results.push(MethodResult {
            method: spec.name.clone(),
            metrics: evaluation.summary,
            queries_per_second: set.queries.len() as f64 / seconds.max(1e-9),
        });
    }

    let report = EvalReport {
        dataset: name,
        documents: set.corpus.len(),
        queries: set.queries.len(),
        import_seconds,
        results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// `bm25`, `semantic`, `hybrid`, `hybrid@0.5`, `rrf`, `rrf@60`.
fn parse_method(spec: &str) -> anyhow::Result<MethodSpec> {
    let (base, param) = match spec.split_once('@') {
        Some((b, p)) => (b, Some(p)),
        None => (spec, None),
    };
    let method = match base {
        "bm25" | "full_text" | "keyword" => SearchMethod::FullTextSearch,
        "semantic" => SearchMethod::SemanticSearch,
        "hybrid" | "rrf" => SearchMethod::HybridSearch,
        other => anyhow::bail!(
            "unknown method {other:?}: expected bm25, semantic, hybrid[@W] or rrf[@K]"
        ),
    };
    let mut model = RetrievalModel::for_method(method);
    model.top_k = ragd_core::retrieval::MAX_TOP_K as i64;
    match (base, param) {
        ("hybrid", Some(w)) => {
            let w: f64 = w
                .parse()
                .with_context(|| format!("{spec}: W must be a number"))?;
            model.weights = Some(Weights::customized(w));
        }
        ("rrf", k) => {
            model.fusion = Some(FusionMethod::Rrf);
            if let Some(k) = k {
                model.rrf_k = Some(
                    k.parse()
                        .with_context(|| format!("{spec}: K must be an integer"))?,
                );
            }
        }
        (_, Some(_)) => anyhow::bail!("{spec}: only hybrid@W and rrf@K take a parameter"),
        _ => {}
    }
    model.resolve()?;
    Ok(MethodSpec {
        name: spec.to_owned(),
        model,
    })
}

/// Imports the corpus (title and text of each document) into a dataset named after the set, skipping what
/// an earlier run imported; returns the dataset id.
fn import_corpus(
    engine: &Engine,
    set: &BeirDataset,
    name: &str,
    quiet: bool,
) -> anyhow::Result<String> {
    let dataset = match engine.dataset(name)? {
        Some(d) => d,
        None => {
            let mut new = NewDataset::named(name);
            new.indexing_technique = Some(IndexingTechnique::HighQuality);
            new.embedding_model = Some(engine.embedder.model_id().to_owned());
            new.created_by = "ragd eval".into();
            engine.store.create_dataset(&new)?
        }
    };
    let indexer = engine.indexer();
    indexer.recover()?;
    let batch = new_batch_id();
    let mut to_index: Vec<Document> = Vec::new();
    for doc in &set.corpus {
        let text = match (doc.title.trim(), doc.text.trim()) {
            ("", "") => continue,
            ("", t) | (t, "") => t.to_owned(),
            (title, t) => format!("{title}\n\n{t}"),
        };
        let mut h = Sha256::new();
        h.update(doc.id.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        let hash = hex::encode(h.finalize());
        match engine.store.document_by_hash(&dataset.id, &hash)? {
            Some(d) if d.indexing_status == IndexingStatus::Completed => {}
            Some(d) => to_index.push(d),
            None => {
                let (d, _) = engine.store.create_document(&NewDocument {
                    dataset_id: dataset.id.clone(),
                    name: doc.id.clone(),
                    data_source_type: "upload_file".into(),
                    source: None,
                    content_hash: hash,
                    text,
                    batch: batch.clone(),
                    created_from: "cli".into(),
                    created_by: "ragd eval".into(),
                    doc_form: DocForm::TextModel,
                    doc_language: "English".into(),
                    process_rule: None,
                    metadata: Vec::new(),
                })?;
                to_index.push(d);
            }
        }
    }
    if !to_index.is_empty() {
        let bar = ProgressBar::new(to_index.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("  indexing [{bar:30}] {pos}/{len} documents · ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        if quiet {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let report = indexer.index_documents(&dataset.id, &to_index, &|p| match p {
            Progress::Completed { documents, .. } => bar.inc(documents as u64),
            Progress::Failed { .. } => bar.inc(1),
            _ => {}
        })?;
        bar.finish_and_clear();
        if !report.failed.is_empty() {
            eprintln!("{} documents could not be indexed", report.failed.len());
        }
    }
    Ok(dataset.id)
}

fn query_bar(len: usize, method: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{method:>10} [{{bar:30}}] {{pos}}/{{len}} queries ({{per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

fn print_report(r: &EvalReport) {
    let mut table = Table::new();
    table.set_header([
        "method",
        "nDCG@10",
        "Recall@10",
        "Recall@100",
        "MRR@10",
        "queries/s",
    ]);
    for m in &r.results {
        table.add_row(vec![
            Cell::new(&m.method),
            Cell::new(format!("{:.4}", m.metrics.ndcg_at_10)),
            Cell::new(format!("{:.4}", m.metrics.recall_at_10)),
            Cell::new(format!("{:.4}", m.metrics.recall_at_100)),
            Cell::new(format!("{:.4}", m.metrics.mrr_at_10)),
            Cell::new(format!("{:.1}", m.queries_per_second)),
        ]);
    }
    println!("{table}");
    println!(
        "{}: {} documents, {} queries with relevance judgments (import {:.1} s)",
        r.dataset, r.documents, r.queries, r.import_seconds
    );
}
