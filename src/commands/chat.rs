//! `ragd chat APP`: chat with an app of the data dir in the terminal, answers streamed token by token,
//! earlier turns fed to the flow's LLM memory.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use ragd_config::Config;
use ragd_core::run::RunStatus;
use ragd_workflow::{AppMode, Flow, RunInput, Turn};

use super::flow_runner::{LocalRunner, summary};
use super::run::parse_inputs;

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The app: its id or name (`ragd apps list`), or a chat flow file (`.yml`).
    app: String,
    /// A start variable, `name=value`; repeat for more.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// Send this one message and exit (otherwise read messages from stdin, one per line).
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// Print every node's start and end (with time and tokens) to stderr.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(args: ChatArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let mut config = config.clone();
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let runner = LocalRunner::open(&config)?;
        let (app_id, workflow_id, dsl) =
            if args.app.ends_with(".yml") || args.app.ends_with(".yaml") {
                let dsl = std::fs::read_to_string(&args.app)
                    .with_context(|| format!("reading {}", args.app))?;
                ("cli".to_owned(), format!("file:{}", args.app), dsl)
            } else {
                let app = super::apps::find_app(runner.engine.store.as_ref(), &args.app)?;
                (app.id, app.workflow_id, app.dsl)
            };
        let flow = std::sync::Arc::new(
            Flow::from_yaml(&dsl).map_err(|e| anyhow::anyhow!("{}: {e}", args.app))?,
        );
        if flow.mode() != AppMode::AdvancedChat {
            anyhow::bail!(
                "{} is a workflow, not a chat flow: use `ragd run FLOW.yml --input k=v`",
                args.app
            );
        }
        let inputs = flow
            .check_inputs(&parse_inputs(&args.inputs)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(opening) = flow.features()["opening_statement"].as_str()
            && !opening.is_empty()
            && args.message.is_none()
        {
            println!("{opening}");
        }
        let conversation_id = uuid::Uuid::new_v4().to_string();
        let mut memory: Vec<Turn> = Vec::new();
        let mut variables = flow.conversation_variable_defaults();
        let mut failed = false;
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            let query = match &args.message {
                Some(message) if memory.is_empty() && !failed => message.clone(),
                Some(_) => break,
                None => {
                    eprint!("> ");
                    let _ = std::io::stderr().flush();
                    match lines.next() {
                        Some(line) => line?,
                        None => break,
                    }
                }
            };
            if query.trim().is_empty() {
                continue;
            }
            let input = RunInput {
                run_id: uuid::Uuid::new_v4().to_string(),
                app_id: app_id.clone(),
                workflow_id: workflow_id.clone(),
                user: "cli".to_owned(),
                query: Some(query.clone()),
                inputs: inputs.clone(),
                conversation_id: Some(conversation_id.clone()),
                message_id: Some(uuid::Uuid::new_v4().to_string()),
                dialogue_count: memory.len() as u64,
                memory: memory.clone(),
                conversation_variables: variables.clone(),
                ..RunInput::default()
            };
            let outcome = runner.run(flow.clone(), input, args.verbose).await;
            println!();
            if args.verbose || outcome.record.status != RunStatus::Succeeded {
                eprintln!("{}", summary(&outcome));
            }
            if outcome.record.status == RunStatus::Succeeded {
                memory.push(Turn {
                    query,
                    answer: outcome.answer.clone(),
                });
                variables = outcome.conversation_variables.clone();
            } else {
                failed = true;
                if args.message.is_some() {
                    break;
                }
            }
        }
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}
