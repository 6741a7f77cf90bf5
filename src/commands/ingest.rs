//! `ragd ingest --dry-run PATH...`: parse, clean, chunk and embed files and report what indexing them
//! would produce (files, chunks, tokens, embedding time), without storing anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use comfy_table::{Cell, CellAlignment, Table};
use ragd_config::Config;
use ragd_core::{ResolvedProcessRule, TokenCounter};
use ragd_embed::{Embedder, ModelTokenizer, OnnxEmbedder, OnnxEmbedderOptions};
use ragd_ingest::{
    DocumentFormat, IngestError, ParseOptions, PreparedDocument, parse_file, prepare_document,
};
use rayon::prelude::*;

use super::ui::{ChunkingArgs, collect_files, progress, right, spinner};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files and folders to ingest (folders are walked recursively; hidden files and unsupported types in
    /// folders are skipped and counted).
    #[arg(required = true)]
    paths: Vec<PathBuf>,

    /// Process everything but store nothing (required until `ragd import` stores into a data dir).
    #[arg(long, required = true)]
    dry_run: bool,

    #[command(flatten)]
    chunking: ChunkingArgs,

    /// Parse and chunk only; do not load the embedding model.
    #[arg(long)]
    no_embed: bool,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What happened to one file.
#[derive(Debug, Serialize)]
struct FileReport {
    path: PathBuf,
    format: Option<&'static str>,
    documents: usize,
    chunks: usize,
    embedded_chunks: usize,
    tokens: usize,
    max_chunk_tokens: usize,
    /// Embedded chunks longer than the model's input (their tail is truncated when embedded).
    chunks_over_input: usize,
    bytes: u64,
    embed_ms: f64,
    error: Option<FileError>,
}

#[derive(Debug, Serialize)]
struct FileError {
    kind: &'static str,
    message: String,
}

#[derive(Debug, Serialize)]
struct Report {
    files: Vec<FileReport>,
    skipped: BTreeMap<String, usize>,
    failed_files: usize,
    documents: usize,
    chunks: usize,
    tokens: usize,
    bytes: u64,
    prepare_seconds: f64,
    embed_seconds: Option<f64>,
    chunks_over_model_input: usize,
    model_max_input_tokens: usize,
}

pub fn run(args: IngestArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let rule = args.chunking.process_rule()?.resolve()?;
    let super::ui::FoundFiles { files, skipped } = collect_files(&args.paths, None, None);
    anyhow::ensure!(
        !files.is_empty() || !skipped.is_empty(),
        "no files found under {:?}",
        args.paths
    );

    let tokenizer = ModelTokenizer::from_model_dir(&config.model_dir())?;
    let embedder = if args.no_embed {
        None
    } else {
        let spinner = spinner("loading the embedding model");
        let embedder = OnnxEmbedder::load(&OnnxEmbedderOptions::from_config(
            &config.models,
            &config.embed,
        ))?;
        spinner.finish_and_clear();
        Some(embedder)
    };
    let parse_options = ParseOptions {
        max_file_bytes: config.ingest.max_file_bytes,
        json_text_field: config.ingest.json_text_field.clone(),
        json_title_field: config.ingest.json_title_field.clone(),
    };

    let started = Instant::now();
    let bar = progress(files.len() as u64, "preparing", "files");
    let prepared: Vec<(PathBuf, Result<Vec<PreparedDocument>, IngestError>)> = files
        .par_iter()
        .map(|path| {
            let result = prepare_file(path, &parse_options, &rule, &tokenizer);
            bar.inc(1);
            (path.clone(), result)
        })
        .collect();
    bar.finish_and_clear();
    let prepare_seconds = started.elapsed().as_secs_f64();

    let total_to_embed: usize = prepared
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .map(|d| d.chunks_to_embed().count())
        .sum();
    let max_input = config.embed.max_length;
    let special = tokenizer.special_tokens();
    let bar = progress(total_to_embed as u64, "embedding", "chunks");
    let mut embed_total = Duration::ZERO;
    let mut reports = Vec::with_capacity(prepared.len());
    for (path, result) in prepared {
        let mut report = FileReport {
            bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
            format: DocumentFormat::from_path(&path).map(DocumentFormat::name),
            path,
            documents: 0,
            chunks: 0,
            embedded_chunks: 0,
            tokens: 0,
            max_chunk_tokens: 0,
            chunks_over_input: 0,
            embed_ms: 0.0,
            error: None,
        };
        match result {
            Ok(documents) => {
                report.documents = documents.len();
                for document in &documents {
                    report.chunks += document.chunks.len();
                    let mut to_embed = Vec::new();
                    for chunk in document.chunks_to_embed() {
                        to_embed.push(chunk.content.as_str());
                        report.tokens += chunk.token_count;
                        report.max_chunk_tokens = report.max_chunk_tokens.max(chunk.token_count);
                        if chunk.token_count + special > max_input {
                            report.chunks_over_input += 1;
                        }
                    }
                    report.embedded_chunks += to_embed.len();
                    if let Some(embedder) = &embedder {
                        let t = Instant::now();
                        let vectors = embedder.embed_documents(&to_embed)?;
                        let elapsed = t.elapsed();
                        debug_assert_eq!(vectors.len(), to_embed.len());
                        embed_total += elapsed;
                        report.embed_ms += elapsed.as_secs_f64() * 1e3;
                    }
                    bar.inc(to_embed.len() as u64);
                }
            }
            Err(error) => {
                report.error = Some(FileError {
                    kind: error.kind(),
                    message: error.to_string(),
                })
            }
        }
        reports.push(report);
    }
    bar.finish_and_clear();

    let report = Report {
        failed_files: reports.iter().filter(|r| r.error.is_some()).count(),
        documents: reports.iter().map(|r| r.documents).sum(),
        chunks: reports.iter().map(|r| r.chunks).sum(),
        tokens: reports.iter().map(|r| r.tokens).sum(),
        bytes: reports.iter().map(|r| r.bytes).sum(),
        chunks_over_model_input: reports.iter().map(|r| r.chunks_over_input).sum(),
        files: reports,
        skipped,
        prepare_seconds,
        embed_seconds: embedder.as_ref().map(|_| embed_total.as_secs_f64()),
        model_max_input_tokens: max_input,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, embedder.as_ref().map(|e| e as &dyn Embedder));
    }
    Ok(if report.failed_files > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn prepare_file(
    path: &Path,
    options: &ParseOptions,
    rule: &ResolvedProcessRule,
    counter: &dyn TokenCounter,
) -> Result<Vec<PreparedDocument>, IngestError> {
    parse_file(path, options)?
        .into_iter()
        .map(|document| prepare_document(path, document, rule, counter))
        .collect()
}

fn print_report(report: &Report, embedder: Option<&dyn Embedder>) {
    let mut table = Table::new();
    table.set_header([
        "file", "format", "docs", "chunks", "tokens", "max tok", "embed ms", "status",
    ]);
    for file in &report.files {
        let status = match &file.error {
            None => "ok".to_owned(),
            Some(error) => format!("{}: {}", error.kind, error.message),
        };
        table.add_row(vec![
            Cell::new(file.path.display()),
            Cell::new(file.format.unwrap_or("?")),
            right(file.documents),
            right(file.chunks),
            right(file.tokens),
            right(file.max_chunk_tokens),
            Cell::new(if embedder.is_some() {
                format!("{:.1}", file.embed_ms)
            } else {
                "-".into()
            })
            .set_alignment(CellAlignment::Right),
            Cell::new(status),
        ]);
    }
    let embed_ms = report.embed_seconds.map(|s| s * 1e3);
    table.add_row(vec![
        Cell::new("total"),
        Cell::new(""),
        right(report.documents),
        right(report.chunks),
        right(report.tokens),
        Cell::new(""),
        Cell::new(embed_ms.map_or("-".into(), |ms| format!("{ms:.1}")))
            .set_alignment(CellAlignment::Right),
        Cell::new(format!("{} failed", report.failed_files)),
    ]);
    println!("{table}");

    let files_ok = report.files.len() - report.failed_files;
    println!(
        "{} files ({} ok, {} failed), {:.2} MB: parsed, cleaned and chunked in {:.2}s",
        report.files.len(),
        files_ok,
        report.failed_files,
        report.bytes as f64 / 1e6,
        report.prepare_seconds
    );
    if let (Some(seconds), Some(embedder)) = (report.embed_seconds, embedder) {
        let embedded: usize = report.files.iter().map(|f| f.embedded_chunks).sum();
        let rate = if seconds > 0.0 {
            embedded as f64 / seconds
        } else {
            0.0
        };
        println!(
            "embedded {embedded} chunks with {} ({} dims) in {seconds:.2}s: {rate:.0} chunks/s",
            embedder.model_id(),
            embedder.dimensions()
        );
    }
    if !report.skipped.is_empty() {
        let list: Vec<String> = report
            .skipped
            .iter()
            .map(|(ext, n)| format!("{ext} ({n})"))
            .collect();
        println!("skipped files of unsupported types: {}", list.join(", "));
    }
    if report.chunks_over_model_input > 0 {
        println!(
            "note: {} chunk(s) are longer than the model's {}-token input; their tails are not embedded \
             (full-text search still sees them). A custom rule with --chunk-size {} avoids that.",
            report.chunks_over_model_input,
            report.model_max_input_tokens,
            report.model_max_input_tokens - 2
        );
    }
}
