//! Column lists, row mappers and parameter binding of the run-log tables.
//!
//! Rows are read by column name, so each `*_COLUMNS` list and its mapper agree on names only. A value
//! this binary cannot decode (an unknown status, bad JSON) becomes a conversion error, which
//! `RunLogError` reports as `Corrupt`.

use ragd_core::run::{LlmUsage, NodeExecution, NodeStatus, RunRecord, RunStatus};
use rusqlite::types::Type;
use rusqlite::{Row, Statement, named_params};
use serde_json::Value;

pub(crate) const RUN_COLUMNS: &str = "id, app_id, workflow_id, mode, user_id, conversation_id, \
    message_id, status, inputs, outputs, error, elapsed_time, total_steps, prompt_tokens, \
    completion_tokens, total_tokens, latency, time_to_first_token, created_at, finished_at";

pub(crate) const NODE_COLUMNS: &str = "id, run_id, node_id, node_type, title, position, \
    predecessor_node_id, inputs, process_data, outputs, status, error, elapsed_time, prompt_tokens, \
    completion_tokens, total_tokens, latency, time_to_first_token, created_at, finished_at";

/// Inserts a run, or replaces every field of the run with the same id but its start time (a run is
/// written when it starts, as `running`, and again when it ends).
pub(crate) const UPSERT_RUN: &str = "INSERT INTO runs (id, app_id, workflow_id, mode, user_id, \
    conversation_id, message_id, status, inputs, outputs, error, elapsed_time, total_steps, \
    prompt_tokens, completion_tokens, total_tokens, latency, time_to_first_token, created_at, \
    finished_at) VALUES (:id, :app_id, :workflow_id, :mode, :user_id, :conversation_id, :message_id, \
    :status, :inputs, :outputs, :error, :elapsed_time, :total_steps, :prompt_tokens, \
    :completion_tokens, :total_tokens, :latency, :time_to_first_token, :created_at, :finished_at) \
    ON CONFLICT (id) DO UPDATE SET app_id = excluded.app_id, workflow_id = excluded.workflow_id, \
    mode = excluded.mode, user_id = excluded.user_id, conversation_id = excluded.conversation_id, \
    message_id = excluded.message_id, status = excluded.status, inputs = excluded.inputs, \
    outputs = excluded.outputs, error = excluded.error, elapsed_time = excluded.elapsed_time, \
    total_steps = excluded.total_steps, prompt_tokens = excluded.prompt_tokens, \
    completion_tokens = excluded.completion_tokens, total_tokens = excluded.total_tokens, \
    latency = excluded.latency, time_to_first_token = excluded.time_to_first_token, \
    finished_at = excluded.finished_at";

/// Inserts a node execution, or replaces every field of the one with the same id but its start time.
pub(crate) const UPSERT_NODE: &str = "INSERT INTO node_executions (id, run_id, node_id, node_type, \
    title, position, predecessor_node_id, inputs, process_data, outputs, status, error, elapsed_time, \
    prompt_tokens, completion_tokens, total_tokens, latency, time_to_first_token, created_at, \
    finished_at) VALUES (:id, :run_id, :node_id, :node_type, :title, :position, \
    :predecessor_node_id, :inputs, :process_data, :outputs, :status, :error, :elapsed_time, \
    :prompt_tokens, :completion_tokens, :total_tokens, :latency, :time_to_first_token, :created_at, \
    :finished_at) ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, \
    node_id = excluded.node_id, node_type = excluded.node_type, title = excluded.title, \
    position = excluded.position, predecessor_node_id = excluded.predecessor_node_id, \
    inputs = excluded.inputs, process_data = excluded.process_data, outputs = excluded.outputs, \
    status = excluded.status, error = excluded.error, elapsed_time = excluded.elapsed_time, \
    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, \
    total_tokens = excluded.total_tokens, latency = excluded.latency, \
    time_to_first_token = excluded.time_to_first_token, finished_at = excluded.finished_at";

pub(crate) fn upsert_run(statement: &mut Statement<'_>, run: &RunRecord) -> rusqlite::Result<()> {
    statement.execute(named_params! {
        ":id": run.id,
        ":app_id": run.app_id,
        ":workflow_id": run.workflow_id,
        ":mode": run.mode,
        ":user_id": run.user,
        ":conversation_id": run.conversation_id,
        ":message_id": run.message_id,
        ":status": run.status.as_str(),
        ":inputs": run.inputs.to_string(),
        ":outputs": run.outputs.to_string(),
        ":error": run.error,
        ":elapsed_time": run.elapsed_time,
        ":total_steps": run.total_steps,
        ":prompt_tokens": run.usage.prompt_tokens,
        ":completion_tokens": run.usage.completion_tokens,
        ":total_tokens": run.usage.total_tokens,
        ":latency": run.usage.latency,
        ":time_to_first_token": run.usage.time_to_first_token,
        ":created_at": run.created_at,
        ":finished_at": run.finished_at,
    })?;
    Ok(())
}

pub(crate) fn upsert_node(
    statement: &mut Statement<'_>,
    node: &NodeExecution,
) -> rusqlite::Result<()> {
    statement.execute(named_params! {
        ":id": node.id,
        ":run_id": node.run_id,
        ":node_id": node.node_id,
        ":node_type": node.node_type,
        ":title": node.title,
        ":position": node.index,
        ":predecessor_node_id": node.predecessor_node_id,
        ":inputs": node.inputs.to_string(),
        ":process_data": node.process_data.to_string(),
        ":outputs": node.outputs.to_string(),
        ":status": node.status.as_str(),
        ":error": node.error,
        ":elapsed_time": node.elapsed_time,
        ":prompt_tokens": node.usage.prompt_tokens,
        ":completion_tokens": node.usage.completion_tokens,
        ":total_tokens": node.usage.total_tokens,
        ":latency": node.usage.latency,
        ":time_to_first_token": node.usage.time_to_first_token,
        ":created_at": node.created_at,
        ":finished_at": node.finished_at,
    })?;
    Ok(())
}

pub(crate) fn run(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get("id")?,
        app_id: row.get("app_id")?,
        workflow_id: row.get("workflow_id")?,
        mode: row.get("mode")?,
        user: row.get("user_id")?,
        conversation_id: row.get("conversation_id")?,
        message_id: row.get("message_id")?,
        status: status(row, "status", RunStatus::parse)?,
        inputs: json(row, "inputs")?,
        outputs: json(row, "outputs")?,
        error: row.get("error")?,
        elapsed_time: row.get("elapsed_time")?,
        total_steps: row.get("total_steps")?,
        usage: usage(row)?,
        created_at: row.get("created_at")?,
        finished_at: row.get("finished_at")?,
    })
}

pub(crate) fn node(row: &Row<'_>) -> rusqlite::Result<NodeExecution> {
    Ok(NodeExecution {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        node_id: row.get("node_id")?,
        node_type: row.get("node_type")?,
        title: row.get("title")?,
        index: row.get("position")?,
        predecessor_node_id: row.get("predecessor_node_id")?,
        inputs: json(row, "inputs")?,
        process_data: json(row, "process_data")?,
        outputs: json(row, "outputs")?,
        status: status(row, "status", NodeStatus::parse)?,
        error: row.get("error")?,
        elapsed_time: row.get("elapsed_time")?,
        usage: usage(row)?,
        created_at: row.get("created_at")?,
        finished_at: row.get("finished_at")?,
    })
}

fn usage(row: &Row<'_>) -> rusqlite::Result<LlmUsage> {
    Ok(LlmUsage {
        prompt_tokens: row.get("prompt_tokens")?,
        completion_tokens: row.get("completion_tokens")?,
        total_tokens: row.get("total_tokens")?,
        latency: row.get("latency")?,
        time_to_first_token: row.get("time_to_first_token")?,
    })
}

fn json(row: &Row<'_>, column: &str) -> rusqlite::Result<Value> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|error| conversion_error(row, column, error.to_string()))
}

fn status<T>(row: &Row<'_>, column: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let name: String = row.get(column)?;
    parse(&name).ok_or_else(|| conversion_error(row, column, format!("unknown status `{name}`")))
}

fn conversion_error(row: &Row<'_>, column: &str, message: String) -> rusqlite::Error {
    let index = row.as_ref().column_index(column).unwrap_or(usize::MAX);
    rusqlite::Error::FromSqlConversionFailure(
        index,
        Type::Text,
        format!("column {column}: {message}").into(),
    )
}
