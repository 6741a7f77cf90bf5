//! `ragd serve`: the Knowledge API and External Knowledge API over HTTP, with indexing workers, on the
//! local data dir (the embedded default).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ragd_config::Config;
use ragd_ingest::ParseOptions;
use ragd_server::{Parts, Server};

use crate::engine::Engine;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides server.bind; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,

    /// Indexing worker tasks (overrides server.workers).
    #[arg(long)]
    workers: Option<usize>,

    /// Serve without API keys (every request is allowed). For local experiments only.
    #[arg(long)]
    no_auth: bool,

    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Applies the flags to the config (flags are the last layer), then validates it again.
pub fn apply_flags(args: &ServeArgs, config: &mut Config) -> anyhow::Result<()> {
    if let Some(bind) = &args.bind {
        config.server.bind = bind.clone();
    }
    if let Some(workers) = args.workers {
        config.server.workers = workers;
    }
    if args.no_auth {
        config.server.auth = false;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    config.validate().context("invalid flags")?;
    Ok(())
}

pub fn run(args: ServeArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let mut config = config.clone();
    apply_flags(&args, &mut config)?;
    let engine = Engine::open(&config, &config.data_dir)?;
    let store = engine.store.clone();
    if config.server.auth
        && !store
            .list_api_keys()?
            .iter()
            .any(|k| k.revoked_at.is_none())
    {
        let (key, token) = ragd_server::auth::create_key(store.as_ref(), "first key", Vec::new())
            .map_err(anyhow::Error::msg)?;
        println!(
            "Created the first API key ({}), shown only this once; keep it:\n\n    {token}\n\n\
             More keys: `ragd keys create --name NAME [--dataset NAME]`; revoke: `ragd keys revoke {}`.",
            key.name, key.prefix
        );
    }
    let llm = Arc::new(
        ragd_llm::Providers::from_config(&config.llm, config.llm_model_dir())
            .context("setting up the LLM providers")?,
    );
    let runlog_path = config.runlog_path();
    let mut parts = Parts {
        store,
        indexes: engine.indexes.clone(),
        embedder: engine.embedder.clone(),
        counter: engine.tokenizer.clone(),
        indexer_options: engine.indexer_options(),
        parse_options: ParseOptions {
            max_file_bytes: config.ingest.max_file_bytes,
            json_text_field: config.ingest.json_text_field.clone(),
            json_title_field: config.ingest.json_title_field.clone(),
        },
        llm,
        workflow: config.workflow.clone(),
        runlog: None,
        cache: config.cache.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ragd-http")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let runlog_store = ragd_runlog::RunLogStore::open(&runlog_path)
            .with_context(|| format!("opening the run log {}", runlog_path.display()))?;
        let writer = ragd_runlog::RunLogWriter::start(runlog_store, &config.runlog)
            .context("starting the run-log writer")?;
        let reader = ragd_runlog::RunLogReader::open(&runlog_path)
            .with_context(|| format!("opening the run log {}", runlog_path.display()))?;
        parts.runlog = Some((writer, reader));
        let server = Server::bind(parts, config.server.clone())
            .await
            .with_context(|| format!("listening on {}", config.server.bind))?;
        let addr = server.local_addr()?;
        println!(
            "ragd listening on http://{addr} (data dir {})",
            config.data_dir.display()
        );
        if !config.server.auth {
            println!("warning: authentication is off (--no-auth or server.auth = false)");
        }
        std::io::stdout().flush().ok();
        tracing::info!(%addr, "listening");
        server.run_until_stopped(shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
