//! `ragd retrieve --dataset NAME "query"`: one retrieval over the local data dir, as a table or as JSON in
//! the shape of Dify's retrieve response.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use comfy_table::{Cell, Table};
use ragd_config::Config;
use ragd_core::retrieval::{FusionMethod, MetadataFilter, RetrievalModel, SearchMethod, Weights};
use ragd_retrieve::RetrieveRequest;
use serde_json::{Value, json};

use super::ui::spinner;
use crate::engine::Engine;

/// Search methods by their short names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    Semantic,
    FullText,
    Keyword,
    Hybrid,
    /// Hybrid search fused by reciprocal rank fusion.
    Rrf,
}

impl Method {
    pub fn search_method(self) -> SearchMethod {
        match self {
            Self::Semantic => SearchMethod::SemanticSearch,
            Self::FullText => SearchMethod::FullTextSearch,
            Self::Keyword => SearchMethod::KeywordSearch,
            Self::Hybrid | Self::Rrf => SearchMethod::HybridSearch,
        }
    }
}

#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// The query (at most 250 characters, as in Dify).
    query: String,

    /// Dataset name or id; repeat to search several datasets with one ranking.
    #[arg(long, required = true)]
    dataset: Vec<String>,

    #[arg(long, value_enum, default_value = "hybrid")]
    method: Method,

    /// Results to return (1–100).
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    top_k: i64,

    /// Drop results whose score is below this (0–1).
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,

    /// Weight of the vector score in weighted hybrid fusion (the keyword weight is 1 minus it).
    #[arg(long, value_name = "W")]
    vector_weight: Option<f64>,

    /// Dify metadata filter as JSON: `{"logical_operator": "and", "conditions": [...]}`.
    #[arg(long, value_name = "JSON")]
    filter: Option<String>,

    /// Show each result's component scores (vector, keyword, BM25, ranks).
    #[arg(long)]
    explain: bool,

    /// Print Dify's retrieve response as JSON.
    #[arg(long)]
    json: bool,

    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(args: RetrieveArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let mut model = RetrievalModel::for_method(args.method.search_method());
    model.top_k = args.top_k;
    if let Some(t) = args.threshold {
        model.score_threshold_enabled = true;
        model.score_threshold = Some(t);
    }
    if args.method == Method::Rrf {
        model.fusion = Some(FusionMethod::Rrf);
    }
    if let Some(w) = args.vector_weight {
        model.weights = Some(Weights::customized(w));
    }
    if let Some(filter) = &args.filter {
        let filter: MetadataFilter =
            serde_json::from_str(filter).context("--filter is not a valid Dify metadata filter")?;
        model.metadata_filtering_conditions = Some(filter);
    }
    let settings = model.resolve()?;
    ragd_core::retrieval::validate_query(&args.query)?;

    let data_dir = args.data_dir.as_deref().unwrap_or(&config.data_dir);
    let loading = spinner("loading the embedding model");
    let engine = Engine::open(config, data_dir)?;
    loading.finish_and_clear();
    let dataset_ids = args
        .dataset
        .iter()
        .map(|d| engine.require_dataset(d).map(|d| d.id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut request = RetrieveRequest::new(dataset_ids, args.query.clone(), settings);
    request.explain = args.explain;
    let retrieval = engine.retriever().retrieve(&request)?;

    if args.json {
        let records: Vec<Value> = retrieval
            .records
            .iter()
            .map(ragd_server::views::record)
            .collect();
        let body = json!({"query": {"content": args.query}, "records": records});
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    if retrieval.records.is_empty() {
        println!("no results");
    } else {
        let mut table = Table::new();
        let mut header = vec!["#", "score", "document", "seg", "content"];
        if args.explain {
            header.extend(["vector", "keyword", "bm25", "ranks v/k"]);
        }
        table.set_header(header);
        for (i, r) in retrieval.records.iter().enumerate() {
            let mut row = vec![
                Cell::new(i + 1),
                Cell::new(format!("{:.4}", r.score)),
                Cell::new(&r.document.name),
                Cell::new(r.segment.position),
                Cell::new(preview(&r.segment.content, 90)),
            ];
            if let Some(e) = &r.explain {
                let f = |v: Option<f32>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
                let rank = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                row.extend([
                    Cell::new(f(e.vector_score)),
                    Cell::new(f(e.keyword_score)),
                    Cell::new(f(e.bm25)),
                    Cell::new(format!("{}/{}", rank(e.vector_rank), rank(e.keyword_rank))),
                ]);
            }
            table.add_row(row);
        }
        println!("{table}");
    }
    let t = retrieval.timings;
    eprintln!(
        "{} results · embed {:.1} ms · bm25 {:.1} ms · ann {:.1} ms · fusion {:.2} ms · hydrate {:.1} ms",
        retrieval.records.len(),
        ms(t.embed),
        ms(t.bm25),
        ms(t.ann),
        ms(t.fusion),
        ms(t.hydrate)
    );
    Ok(ExitCode::SUCCESS)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn preview(text: &str, chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= chars {
        flat
    } else {
        format!("{}…", flat.chars().take(chars).collect::<String>())
    }
}
