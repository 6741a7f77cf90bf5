//! `ragd runs [show RUN_ID]`: the workflow runs and node executions of the run log (`runs.sqlite` in the
//! data dir, or `runlog.path`), newest first. Reads only: a missing run log is reported, not created.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Cell, CellAlignment, Table};
use ragd_config::Config;
use ragd_core::dataset::Timestamp;
use ragd_core::run::{NodeExecution, RunRecord, RunStatus};
use ragd_runlog::{RunFilter, RunLogStore, RunSummary};
use serde_json::json;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,

    #[command(flatten)]
    list: ListArgs,

    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

/// Listing runs (what `ragd runs` does without a subcommand).
#[derive(Debug, Args)]
struct ListArgs {
    /// Only runs of this app.
    #[arg(long = "app", value_name = "APP_ID")]
    app_id: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_parser = ["running", "succeeded", "failed", "stopped", "partial-succeeded"])]
    status: Option<String>,
    /// Most runs shown, newest first.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print the runs as a JSON array.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Show one run and its node executions.
    Show {
        run_id: String,
        /// Print `{"run": …, "nodes": […]}` as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: RunsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let path = runlog_path(config, args.data_dir.as_deref());
    let store = if path.exists() {
        Some(
            RunLogStore::open(&path)
                .with_context(|| format!("opening the run log {}", path.display()))?,
        )
    } else {
        None
    };
    match args.command {
        None => list(store.as_ref(), &path, args.list)?,
        Some(RunsCommand::Show { run_id, json }) => show(store.as_ref(), &path, &run_id, json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured run-log file, under `data_dir` when given and `runlog.path` is not set.
fn runlog_path(config: &Config, data_dir: Option<&Path>) -> PathBuf {
    match data_dir {
        Some(data_dir) => Config {
            data_dir: data_dir.to_path_buf(),
            ..config.clone()
        }
        .runlog_path(),
        None => config.runlog_path(),
    }
}

fn list(store: Option<&RunLogStore>, path: &Path, args: ListArgs) -> anyhow::Result<()> {
    let Some(store) = store else {
        if args.json {
            println!("[]");
        } else {
            println!(
                "no runs yet: {} does not exist (the server creates it when a workflow first runs)",
                path.display()
            );
        }
        return Ok(());
    };
    let filter = RunFilter {
        app_id: args.app_id,
        status: args.status.as_deref().and_then(RunStatus::parse),
        limit: args.limit,
        before: None,
    };
    let runs = store.list_runs(&filter)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    if runs.is_empty() {
        if filter.app_id.is_none() && filter.status.is_none() {
            println!("no runs yet in {}", path.display());
        } else {
            println!("no runs match");
        }
        return Ok(());
    }
    println!("{}", runs_table(&runs));
    if runs.len() == filter.limit as usize {
        eprintln!("the {} newest runs; --limit shows more", runs.len());
    }
    Ok(())
}

fn runs_table(runs: &[RunSummary]) -> Table {
    let mut table = Table::new();
    table.set_header([
        "id",
        "app",
        "status",
        "elapsed s",
        "tokens",
        "TTFT s",
        "nodes",
        "created (UTC)",
    ]);
    for RunSummary { run, node_count } in runs {
        table.add_row(vec![
            Cell::new(&run.id),
            Cell::new(&run.app_id),
            Cell::new(run.status.as_str()),
            right(format!("{:.3}", run.elapsed_time)),
            right(run.usage.total_tokens),
            right(seconds(run.usage.time_to_first_token)),
            right(node_count),
            Cell::new(utc(run.created_at)),
        ]);
    }
    table
}

fn show(store: Option<&RunLogStore>, path: &Path, run_id: &str, json: bool) -> anyhow::Result<()> {
    let Some(store) = store else {
        anyhow::bail!(
            "no run with id {run_id:?}: the run log {} does not exist yet",
            path.display()
        );
    };
    let Some((run, nodes)) = store.get_run(run_id)? else {
        anyhow::bail!(
            "no run with id {run_id:?} in {} (see `ragd runs`)",
            path.display()
        );
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"run": run, "nodes": nodes}))?
        );
        return Ok(());
    }
    print_run(&run);
    if nodes.is_empty() {
        println!("\nno node executions recorded");
    } else {
        println!("\n{}", nodes_table(&nodes));
    }
    Ok(())
}

fn print_run(run: &RunRecord) {
    let usage = &run.usage;
    let mut fields = vec![
        ("run", run.id.clone()),
        ("app", run.app_id.clone()),
        ("workflow", format!("{} ({})", run.workflow_id, run.mode)),
        ("user", run.user.clone()),
        ("status", run.status.as_str().to_owned()),
    ];
    if let Some(error) = &run.error {
        fields.push(("error", error.clone()));
    }
    if let Some(conversation_id) = &run.conversation_id {
        fields.push(("conversation", conversation_id.clone()));
    }
    if let Some(message_id) = &run.message_id {
        fields.push(("message", message_id.clone()));
    }
    fields.extend([
        (
            "elapsed",
            format!("{:.3} s, {} steps", run.elapsed_time, run.total_steps),
        ),
        (
            "tokens",
            format!(
                "{} (prompt {}, completion {})",
                usage.total_tokens, usage.prompt_tokens, usage.completion_tokens
            ),
        ),
        ("TTFT", format!("{} s", seconds(usage.time_to_first_token))),
        ("created", format!("{} UTC", utc(run.created_at))),
        (
            "finished",
            run.finished_at
                .map_or_else(|| "-".to_owned(), |at| format!("{} UTC", utc(at))),
        ),
        ("inputs", run.inputs.to_string()),
        ("outputs", run.outputs.to_string()),
    ]);
    for (name, value) in fields {
        println!("{name:<13}{value}");
    }
}

fn nodes_table(nodes: &[NodeExecution]) -> Table {
    let mut table = Table::new();
    table.set_header([
        "#",
        "node id",
        "type",
        "title",
        "status",
        "elapsed s",
        "tokens",
        "TTFT s",
        "error",
    ]);
    for node in nodes {
        table.add_row(vec![
            right(node.index),
            Cell::new(&node.node_id),
            Cell::new(&node.node_type),
            Cell::new(&node.title),
            Cell::new(node.status.as_str()),
            right(format!("{:.3}", node.elapsed_time)),
            right(node.usage.total_tokens),
            right(seconds(node.usage.time_to_first_token)),
            Cell::new(one_line(node.error.as_deref().unwrap_or(""), 120)),
        ]);
    }
    table
}

fn right(value: impl std::fmt::Display) -> Cell {
    Cell::new(value).set_alignment(CellAlignment::Right)
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"))
}

/// The text on one line, cut to `max` characters (the JSON output has it whole).
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), by the civil-from-days algorithm (H. Hinnant).
fn utc(timestamp: Timestamp) -> String {
    let days = timestamp.div_euclid(86_400);
    let second_of_day = timestamp.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn long_errors_are_cut_to_one_line() {
        assert_eq!(one_line("a\n  b", 10), "a b");
        assert_eq!(one_line("abcdefghij", 5), "abcd…");
    }
}
