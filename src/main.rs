//! The `ragd` command line: a thin layer that parses arguments, loads the configuration once and calls the
//! library crates. Each subcommand lives in its own module under `commands/`.

mod commands;
mod engine;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: a request allocates many small short-lived buffers (JSON,
/// headers, keys), and glibc's malloc/free took about 12 % of the CPU of a cached retrieve under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ragd: a retrieval service for RAG, wire-compatible with Dify.
#[derive(Debug, Parser)]
#[command(name = "ragd", version, about, long_about = None)]
struct Cli {
    /// TOML configuration file (settings are layered: defaults < file < RAGD__* environment < flags).
    #[arg(long, global = true, env = "RAGD_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the local model cache (download and verify the pinned embedding model).
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
    /// Parse, clean, chunk and embed files, and report what indexing them would produce.
    Ingest(commands::ingest::IngestArgs),
    /// Import files, folders and .jsonl corpora into a dataset (local data dir, or a server with --server).
    Import(commands::import::ImportArgs),
    /// Retrieve from datasets of the local data dir.
    Retrieve(commands::retrieve::RetrieveArgs),
    /// Measure retrieval quality (nDCG@10, Recall@10/100, MRR@10) on a BEIR-format set, per method.
    Eval(commands::eval::EvalArgs),
    /// Check that every completed document has all its parts in the store and both indexes.
    Verify(commands::verify::VerifyArgs),
    /// Serve the Dify-compatible Knowledge API and External Knowledge API over HTTP.
    Serve(commands::serve::ServeArgs),
    /// Create, list and revoke dataset API keys.
    Keys(commands::keys::KeysArgs),
    /// Create, list and delete apps: Dify DSL flows served by the App API (`/v1/chat-messages`, …).
    Apps(commands::apps::AppsArgs),
    /// Chat with an app (or a chat flow file) in the terminal, streaming the answers.
    Chat(commands::chat::ChatArgs),
    /// Run a flow file once (`--input name=value`), streaming its output.
    Run(commands::run::RunArgs),
    /// List workflow runs and show a run's node executions, from the run log.
    Runs(commands::runs::RunsArgs),
    /// Inspect and tune the two-tier semantic cache.
    #[command(subcommand)]
    Cache(commands::cache::CacheCommand),
}

fn main() -> ExitCode {
    ragd_ingest::parse::silence_guarded_parser_panics();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = ragd_config::Config::load(cli.config.as_deref(), std::env::vars())
        .context("loading configuration")?;
    init_logging(&cli.command, &config);
    match cli.command {
        Command::Models(command) => commands::models::run(command, &config),
        Command::Ingest(args) => commands::ingest::run(args, &config),
        Command::Import(args) => commands::import::run(args, &config),
        Command::Retrieve(args) => commands::retrieve::run(args, &config),
        Command::Eval(args) => commands::eval::run(args, &config),
        Command::Verify(args) => commands::verify::run(args, &config),
        Command::Serve(args) => commands::serve::run(args, &config),
        Command::Keys(args) => commands::keys::run(args, &config),
        Command::Apps(args) => commands::apps::run(args, &config),
        Command::Chat(args) => commands::chat::run(args, &config),
        Command::Run(args) => commands::run::run(args, &config),
        Command::Runs(args) => commands::runs::run(args, &config),
        Command::Cache(command) => commands::cache::run(command, &config),
    }
}

/// Logs go to stderr, filtered by `RAGD_LOG` (default: `info` for the server, `warn` otherwise), as text
/// or, with `server.log_format = "json"`, one JSON object per line (with the request id of each request).
fn init_logging(command: &Command, config: &ragd_config::Config) {
    let default = if matches!(command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAGD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.server.log_format == "json" {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}
