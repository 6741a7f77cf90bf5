//! `ragd import PATH... --dataset NAME`: parse files, folders and `.jsonl` corpora (one document per
//! record) in parallel, store them, and index them through the shared pipeline with a progress bar.
//! Idempotent by content hash; per-file errors go to a summary table and a non-zero exit. With
//! `--server URL`, the same import goes through a server's Knowledge API (`import_remote`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use comfy_table::{Cell, Table};
use indicatif::{ProgressBar, ProgressStyle};
use ragd_config::Config;
use ragd_core::ProcessRule;
use ragd_core::dataset::{
    Dataset, DocForm, Document, IndexingStatus, IndexingTechnique, NewDataset, NewDocument,
};
use ragd_indexer::Progress;
use ragd_ingest::{IngestError, ParseOptions, ParsedDocument, parse_file};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ui::{
    ChunkingArgs, collect_files, file_name, glob_set, print_file_errors, progress, right, spinner,
};
use crate::engine::Engine;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files and folders to import (folders recursively; `.jsonl` files hold one document per line).
    #[arg(required = true)]
    pub(super) paths: Vec<PathBuf>,

    /// Dataset name (or id) to import into.
    #[arg(long)]
    pub(super) dataset: String,

    /// Create the dataset if it does not exist.
    #[arg(long)]
    pub(super) create: bool,

    /// Text analysis of a created dataset's BM25 index: `english` (stemming, stop words) or `cjk`
    /// (Chinese, Japanese and Korean text, mixed with English).
    #[arg(long, default_value = "english", value_parser = ["english", "cjk"])]
    pub(super) analyzer: String,

    /// Only files whose path (relative to a given folder) matches one of these globs, e.g. `**/*.md`.
    #[arg(long, value_name = "GLOB")]
    pub(super) include: Vec<String>,

    /// Skip files whose path (relative to a given folder) matches one of these globs.
    #[arg(long, value_name = "GLOB")]
    pub(super) exclude: Vec<String>,

    #[command(flatten)]
    pub(super) chunking: ChunkingArgs,

    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub(super) json: bool,

    /// Import through the Knowledge API of a ragd (or Dify) server at this URL (with or without `/v1`)
    /// instead of into the local data dir: files are uploaded and the server parses and indexes them
    /// (there, a `.jsonl` or `.json` file becomes one document).
    #[arg(long, value_name = "URL")]
    pub(super) server: Option<String>,

    /// The server's dataset API key (`dataset-…`), with --server.
    #[arg(long, value_name = "KEY", env = "RAGD_API_KEY", hide_env_values = true)]
    pub(super) api_key: Option<String>,
}

/// One file's outcome.
#[derive(Debug, Serialize)]
struct FileOutcome {
    path: PathBuf,
    documents: usize,
    imported: usize,
    unchanged: usize,
    failed: usize,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    dataset: String,
    dataset_id: String,
    files: usize,
    skipped: BTreeMap<String, usize>,
    documents: usize,
    imported: usize,
    unchanged: usize,
    failed: usize,
    segments: usize,
    embedded_chunks: usize,
    seconds: f64,
    chunks_per_second: f64,
    embed_seconds: f64,
    /// Time in each stage of the pipeline: parsing, cleaning and chunking, embedding, writing, checkpoints.
    stage_seconds: BTreeMap<&'static str, f64>,
    dataset_version: u64,
    errors: Vec<FileOutcome>,
}

/// A parsed document of a file, ready to store.
struct Parsed {
    file: usize,
    name: String,
    text: String,
    hash: String,
}

pub fn run(args: ImportArgs, config: &Config) -> anyhow::Result<ExitCode> {
    if let Some(server) = &args.server {
        return super::import_remote::run(&args, server);
    }
    let rule = args.chunking.process_rule()?;
    let include = glob_set(&args.include)?;
    let exclude = glob_set(&args.exclude)?;
    let found = collect_files(&args.paths, include.as_ref(), exclude.as_ref());
    anyhow::ensure!(
        !found.files.is_empty(),
        "no files to import under {:?}{}",
        args.paths,
        if found.skipped.is_empty() {
            String::new()
        } else {
            format!(" (skipped: {:?})", found.skipped)
        }
    );

    let loading = spinner("opening the data dir and loading the embedding model");
    let engine = Engine::open(config, &config.data_dir)?;
    loading.finish_and_clear();
    let dataset = open_dataset(&engine, &args, &rule)?;
    let indexer = engine.indexer();
    let recovered = indexer
        .recover()
        .context("recovering unfinished documents")?;
    if !recovered.requeued.is_empty() && !args.json {
        eprintln!(
            "recovered {} document(s) left unfinished by an interrupted run",
            recovered.requeued.len()
        );
    }

    let started = Instant::now();
    let options = ParseOptions {
        max_file_bytes: config.ingest.max_file_bytes,
        json_text_field: config.ingest.json_text_field.clone(),
        json_title_field: config.ingest.json_title_field.clone(),
    };
    let bar = progress(found.files.len() as u64, "parsing", "files");
    let parsed: Vec<Result<Vec<ParsedDocument>, IngestError>> = found
        .files
        .par_iter()
        .map(|path| {
            let result = parse_file(path, &options);
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();
    let parse_seconds = started.elapsed().as_secs_f64();

    let mut outcomes: Vec<FileOutcome> = found
        .files
        .iter()
        .map(|path| FileOutcome {
            path: path.clone(),
            documents: 0,
            imported: 0,
            unchanged: 0,
            failed: 0,
            error: None,
        })
        .collect();
    let mut documents = Vec::new();
    for (file, result) in parsed.into_iter().enumerate() {
        match result {
            Err(e) => {
                outcomes[file].failed += 1;
                outcomes[file].error = Some(format!("{}: {e}", e.kind()));
            }
            Ok(docs) => {
                let multi = docs.len() > 1;
                for (i, d) in docs.into_iter().enumerate() {
                    let name = if multi {
                        format!("{} #{}", d.title, i + 1)
                    } else {
                        file_name(&found.files[file])
                    };
                    documents.push(Parsed {
                        file,
                        hash: content_hash(&d),
                        name,
                        text: d.text,
                    });
                }
            }
        }
    }

    // Store new documents; find the ones already there.
    let batch = ragd_core::dataset::new_batch_id();
    let rule_json = serde_json::to_value(&rule)?;
    let doc_form = if rule.mode == ragd_core::ProcessMode::Hierarchical {
        DocForm::HierarchicalModel
    } else {
        DocForm::TextModel
    };
    let mut to_index: Vec<Document> = Vec::new();
    let mut file_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_hashes = std::collections::HashSet::new();
    for p in documents {
        outcomes[p.file].documents += 1;
        if !seen_hashes.insert(p.hash.clone()) {
            outcomes[p.file].unchanged += 1;
            continue;
        }
        let existing = engine.store.document_by_hash(&dataset.id, &p.hash)?;
        let document = match existing {
            Some(d) if d.indexing_status == IndexingStatus::Completed => {
                outcomes[p.file].unchanged += 1;
                continue;
            }
            Some(d) if d.indexing_status == IndexingStatus::Error => engine
                .store
                .set_indexing_status(&d.id, IndexingStatus::Waiting, None)?,
            Some(d) => d,
            None => {
                let new = NewDocument {
                    dataset_id: dataset.id.clone(),
                    name: p.name,
                    data_source_type: "upload_file".into(),
                    source: Some(found.files[p.file].display().to_string()),
                    content_hash: p.hash,
                    text: p.text,
                    batch: batch.clone(),
                    created_from: "cli".into(),
                    created_by: "ragd import".into(),
                    doc_form,
                    doc_language: "English".into(),
                    process_rule: Some(rule_json.clone()),
                    metadata: Vec::new(),
                };
                engine.store.create_document(&new)?.0
            }
        };
        file_of.insert(document.id.clone(), p.file);
        to_index.push(document);
    }

    let bar = ProgressBar::new(to_index.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "  indexing [{bar:30}] {pos}/{len} documents · {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let chunks_done = Mutex::new((0usize, Instant::now()));
    let failures: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let on_progress = |p: Progress<'_>| match p {
        Progress::Prepared { .. } => {}
        Progress::Embedded { chunks } => {
            let mut done = chunks_done.lock().unwrap_or_else(|e| e.into_inner());
            done.0 += chunks;
            let rate = done.0 as f64 / done.1.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{} chunks · {rate:.0} chunks/s", done.0));
        }
        Progress::Completed { documents, .. } => bar.inc(documents as u64),
        Progress::Failed { document, reason } => {
            bar.inc(1);
            failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((document.id.clone(), reason.to_owned()));
        }
    };
    let report = indexer
        .index_documents(&dataset.id, &to_index, &on_progress)
        .context("indexing")?;
    bar.finish_and_clear();

    for id in &report.completed {
        if let Some(&file) = file_of.get(id) {
            outcomes[file].imported += 1;
        }
    }
    for (id, reason) in failures.into_inner().unwrap_or_else(|e| e.into_inner()) {
        if let Some(&file) = file_of.get(&id) {
            outcomes[file].failed += 1;
            outcomes[file].error.get_or_insert(reason);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let version = engine
        .store
        .dataset(&dataset.id)?
        .map_or(dataset.version, |d| d.version);
    let summary = Summary {
        dataset: dataset.name.clone(),
        dataset_id: dataset.id.clone(),
        files: outcomes.len(),
        skipped: found.skipped,
        documents: outcomes.iter().map(|o| o.documents).sum(),
        imported: outcomes.iter().map(|o| o.imported).sum(),
        unchanged: outcomes.iter().map(|o| o.unchanged).sum(),
        failed: outcomes.iter().map(|o| o.failed).sum(),
        segments: report.segments,
        embedded_chunks: report.embedded_chunks,
        seconds,
        chunks_per_second: report.embedded_chunks as f64 / seconds.max(1e-9),
        embed_seconds: report.embed_time.as_secs_f64(),
        stage_seconds: BTreeMap::from([
            ("parse", parse_seconds),
            ("prepare", report.prepare_time.as_secs_f64()),
            ("embed", report.embed_time.as_secs_f64()),
            ("write", report.write_time.as_secs_f64()),
            ("checkpoint", report.checkpoint_time.as_secs_f64()),
        ]),
        dataset_version: version,
        errors: outcomes.into_iter().filter(|o| o.failed > 0).collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn open_dataset(engine: &Engine, args: &ImportArgs, rule: &ProcessRule) -> anyhow::Result<Dataset> {
    if let Some(d) = engine.dataset(&args.dataset)? {
        return Ok(d);
    }
    if !args.create {
        return engine
            .require_dataset(&args.dataset)
            .context("pass --create to create it");
    }
    let mut new = NewDataset::named(&args.dataset);
    new.indexing_technique = Some(IndexingTechnique::HighQuality);
    new.lexical_analyzer = args.analyzer.clone();
    new.embedding_model = Some(engine.embedder.model_id().to_owned());
    new.embedding_model_provider = Some("ragd".into());
    if rule.mode == ragd_core::ProcessMode::Hierarchical {
        new.doc_form = DocForm::HierarchicalModel;
    }
    new.created_by = "ragd import".into();
    Ok(engine.store.create_dataset(&new)?)
}

/// SHA-256 of a parsed document's title and text: the same content imports once.
pub fn content_hash(d: &ParsedDocument) -> String {
    let mut h = Sha256::new();
    h.update(d.title.as_bytes());
    h.update([0]);
    h.update(d.text.as_bytes());
    hex::encode(h.finalize())
}

fn print_summary(s: &Summary) {
    print_file_errors(
        s.errors
            .iter()
            .map(|e| (e.path.as_path(), e.documents, e.failed, e.error.as_deref())),
    );
    let mut table = Table::new();
    table.set_header([
        "dataset",
        "files",
        "documents",
        "imported",
        "unchanged",
        "failed",
        "segments",
        "chunks/s",
        "seconds",
    ]);
    table.add_row(vec![
        Cell::new(&s.dataset),
        right(s.files),
        right(s.documents),
        right(s.imported),
        right(s.unchanged),
        right(s.failed),
        right(s.segments),
        Cell::new(format!("{:.1}", s.chunks_per_second)),
        Cell::new(format!("{:.1}", s.seconds)),
    ]);
    println!("{table}");
    if !s.skipped.is_empty() {
        let skipped: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("skipped in folders: {}", skipped.join(", "));
    }
    println!(
        "dataset {} ({}) is at version {}",
        s.dataset, s.dataset_id, s.dataset_version
    );
}
