//! Running flows in this process for `ragd run` and `ragd chat`: the same runtime, knowledge search and
//! LLM providers as `ragd serve`, answers streamed to the terminal as they come, runs recorded in the
//! run log.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use ragd_config::Config;
use ragd_core::run::{NodeStatus, RunStatus};
use ragd_runlog::{LogRecord, RunLogStore, RunLogWriter};
use ragd_workflow::{Flow, RunEvent, RunInput, RunOutcome, Runtime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// A runtime over the local data dir.
pub struct LocalRunner {
    pub engine: Engine,
    runtime: Runtime,
    runlog: RunLogWriter,
}

impl LocalRunner {
    /// Opens the data dir, the models and the run log (call inside a tokio runtime).
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let engine = Engine::open(config, &config.data_dir)?;
        let llm = ragd_llm::Providers::from_config(&config.llm, config.llm_model_dir())
            .context("setting up the LLM providers")?;
        let cache = ragd_cache::RetrievalCache::new(&config.cache, Arc::new(engine.retriever()))
            .context("setting up the retrieval cache")?;
        cache.start();
        let runtime = Runtime::new(
            Arc::new(ragd_server::apps::ServerKnowledge {
                store: engine.store.clone(),
                cache,
            }),
            Arc::new(llm),
            config.workflow.clone(),
        );
        let path = config.runlog_path();
        let store = RunLogStore::open(&path)
            .with_context(|| format!("opening the run log {}", path.display()))?;
        let runlog = RunLogWriter::start(store, &config.runlog).context("starting the run log")?;
        Ok(Self {
            engine,
            runtime,
            runlog,
        })
    }

    /// Runs `flow`, printing the answer (chat) or text chunks (workflow) to stdout as they stream, and
    /// with `verbose` every node's start and end to stderr. Ctrl-C stops the run.
    pub async fn run(&self, flow: Arc<Flow>, input: RunInput, verbose: bool) -> RunOutcome {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let stopper = cancel.clone();
        let ctrl_c = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stopper.cancel();
            }
        });
        let run = self.runtime.run(flow, input, events_tx, cancel);
        tokio::pin!(run);
        let mut outcome = None;
        let mut stdout = std::io::stdout();
        loop {
            tokio::select! {
                result = &mut run, if outcome.is_none() => outcome = Some(result),
                event = events.recv() => match event {
                    None => break,
                    Some(event) => self.show(event, verbose, &mut stdout),
                },
            }
        }
        ctrl_c.abort();
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => run.await,
        };
        self.runlog.record(LogRecord::Run(outcome.record.clone()));
        let _ = self.runlog.flush().await;
        outcome
    }

    /// Runs `flow` printing nothing (for `--json`); the run is still recorded in the run log.
    pub async fn run_quiet(&self, flow: Arc<Flow>, input: RunInput) -> RunOutcome {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let drain = tokio::spawn(async move {
            let mut nodes = Vec::new();
            while let Some(event) = events.recv().await {
                if let RunEvent::NodeFinished(node) = event {
                    nodes.push(node);
                }
            }
            nodes
        });
        let outcome = self
            .runtime
            .run(flow, input, events_tx, CancellationToken::new())
            .await;
        for node in drain.await.unwrap_or_default() {
            self.runlog.record(LogRecord::Node(node));
        }
        self.runlog.record(LogRecord::Run(outcome.record.clone()));
        let _ = self.runlog.flush().await;
        outcome
    }

    fn show(&self, event: RunEvent, verbose: bool, stdout: &mut std::io::Stdout) {
        match event {
            RunEvent::Answer { text, .. } | RunEvent::TextChunk { text, .. } => {
                let _ = write!(stdout, "{text}");
                let _ = stdout.flush();
            }
            RunEvent::NodeStarted(node) if verbose => {
                eprintln!("▶ {} ({})", node.title, node.node_type);
            }
            RunEvent::NodeFinished(node) => {
                if verbose || node.status != NodeStatus::Succeeded {
                    let tokens = if node.usage.total_tokens > 0 {
                        format!(
                            ", {} tokens, first token after {:.3} s",
                            node.usage.total_tokens,
                            node.usage.time_to_first_token.unwrap_or_default()
                        )
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "{} {} ({}) {} in {:.3} s{tokens}{}",
                        if node.status == NodeStatus::Succeeded {
                            "✔"
                        } else {
                            "✘"
                        },
                        node.title,
                        node.node_type,
                        node.status.as_str(),
                        node.elapsed_time,
                        node.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    );
                }
                self.runlog.record(LogRecord::Node(node));
            }
            _ => {}
        }
    }
}

/// One line about a finished run, for stderr.
pub fn summary(outcome: &RunOutcome) -> String {
    let r = &outcome.record;
    let status = match r.status {
        RunStatus::Succeeded => "succeeded".to_owned(),
        other => format!(
            "{}{}",
            other.as_str(),
            r.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    };
    format!(
        "run {} {status} in {:.2} s: {} steps, {} tokens ({} prompt + {} completion){}",
        r.id,
        r.elapsed_time,
        r.total_steps,
        r.usage.total_tokens,
        r.usage.prompt_tokens,
        r.usage.completion_tokens,
        r.usage
            .time_to_first_token
            .map(|t| format!(", first token after {t:.3} s"))
            .unwrap_or_default()
    )
}
