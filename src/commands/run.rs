//! `ragd run FLOW.yml --input k=v`: run a flow file once in this process, streaming its output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ragd_config::Config;
use ragd_core::run::RunStatus;
use ragd_workflow::{AppMode, Flow, RunInput};
use serde_json::{Map, Value, json};

use super::flow_runner::{LocalRunner, summary};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The flow: a Dify DSL file (workflow or advanced-chat).
    flow: PathBuf,
    /// A start variable, `name=value` (a value that parses as JSON is taken as JSON); repeat for more.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// The user message (`sys.query`) for an advanced-chat flow.
    #[arg(long, short = 'q')]
    query: Option<String>,
    /// Print every node's start and end (with time and tokens) to stderr.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Print the run record and node executions as JSON at the end instead of the streamed text.
    #[arg(long)]
    json: bool,
    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// `name=value` pairs into the inputs object.
pub fn parse_inputs(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut inputs = Map::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--input `{pair}` is not NAME=VALUE"))?;
        let value = match serde_json::from_str::<Value>(value) {
            Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => v,
            _ => Value::String(value.to_owned()),
        };
        inputs.insert(name.trim().to_owned(), value);
    }
    Ok(inputs)
}

pub fn run(args: RunArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let mut config = config.clone();
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    let dsl = std::fs::read_to_string(&args.flow)
        .with_context(|| format!("reading {}", args.flow.display()))?;
    let flow =
        Flow::from_yaml(&dsl).map_err(|e| anyhow::anyhow!("{}: {e}", args.flow.display()))?;
    let inputs = flow
        .check_inputs(&parse_inputs(&args.inputs)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if flow.mode() == AppMode::AdvancedChat && args.query.is_none() {
        anyhow::bail!(
            "{} is a chat flow: give the message with --query",
            args.flow.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let runner = LocalRunner::open(&config)?;
        let input = RunInput {
            run_id: uuid::Uuid::new_v4().to_string(),
            app_id: "cli".to_owned(),
            workflow_id: format!("file:{}", args.flow.display()),
            user: "cli".to_owned(),
            query: args.query.clone(),
            inputs,
            conversation_variables: flow.conversation_variable_defaults(),
            ..RunInput::default()
        };
        let outcome = if args.json {
            let quiet = runner.run_quiet(Arc::new(flow), input).await;
            println!(
                "{}",
                json!({"run": quiet.record, "nodes": quiet.nodes, "answer": quiet.answer})
            );
            quiet
        } else {
            let outcome = runner.run(Arc::new(flow), input, args.verbose).await;
            println!();
            if let Value::Object(outputs) = &outcome.record.outputs
                && flow_is_workflow(&outcome.record.mode)
            {
                for (name, value) in outputs {
                    eprintln!("output {name} = {value}");
                }
            }
            eprintln!("{}", summary(&outcome));
            outcome
        };
        Ok(if outcome.record.status == RunStatus::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

fn flow_is_workflow(mode: &str) -> bool {
    mode == "workflow"
}
