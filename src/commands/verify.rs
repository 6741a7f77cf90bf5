//! `ragd verify --dataset NAME`: checks that every completed document has exactly its chunks in the store,
//! the BM25 index and the vector index; reports unfinished and failed documents. Read-only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ragd_config::Config;

use super::ui::spinner;
use crate::engine::Engine;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Dataset name or id (repeatable); default: every dataset.
    #[arg(long)]
    dataset: Vec<String>,

    /// Print the report as JSON.
    #[arg(long)]
    json: bool,

    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(args: VerifyArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.as_deref().unwrap_or(&config.data_dir);
    let loading = spinner("opening the data dir");
    let engine = Engine::open(config, data_dir)?;
    loading.finish_and_clear();
    let datasets = if args.dataset.is_empty() {
        engine
            .store
            .list_datasets(
                ragd_core::dataset::Page {
                    page: 1,
                    limit: 100,
                },
                None,
            )?
            .data
    } else {
        args.dataset
            .iter()
            .map(|d| engine.require_dataset(d))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let indexer = engine.indexer();
    let mut reports = serde_json::Map::new();
    let mut problems = 0;
    for d in &datasets {
        let report = indexer.verify(d)?;
        problems += report.problems.len();
        if !args.json {
            println!(
                "{}: {} documents, {} completed, {} unfinished, {} failed, {} problems",
                d.name,
                report.documents,
                report.completed,
                report.unfinished,
                report.errors,
                report.problems.len()
            );
            for p in &report.problems {
                println!("  {p}");
            }
        }
        reports.insert(d.name.clone(), serde_json::to_value(&report)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
