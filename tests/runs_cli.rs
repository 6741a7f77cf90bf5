//! End-to-end tests of `ragd runs` and `ragd runs show`: the real binary reading a run log written
//! through `ragd-runlog` into a temporary data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ragd_core::run::{LlmUsage, NodeExecution, NodeStatus, RunRecord, RunStatus};
use ragd_runlog::{LogRecord, RunLogStore};
use serde_json::{Value, json};

const CREATED: i64 = 1_700_000_000;

/// `ragd` with its data dir in `data`.
fn ragd(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RAGD__DATA_DIR", data);
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "ragd panicked: {stderr}");
    (output, stdout, stderr)
}

fn ok(data: &Path, args: &[&str]) -> String {
    let (output, stdout, stderr) = run(ragd(data).args(args));
    assert!(output.status.success(), "ragd {args:?} failed: {stderr}");
    stdout
}

fn json_of(data: &Path, args: &[&str]) -> Value {
    let stdout = ok(data, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn record(id: &str, app_id: &str, status: RunStatus, created_at: i64) -> RunRecord {
    RunRecord {
        id: id.into(),
        app_id: app_id.into(),
        workflow_id: "wf-1".into(),
        mode: "workflow".into(),
        user: "cli-test".into(),
        conversation_id: None,
        message_id: None,
        status,
        inputs: json!({"query": "what is ragd?"}),
        outputs: json!({}),
        error: None,
        elapsed_time: 1.5,
        total_steps: 2,
        usage: LlmUsage {
            prompt_tokens: 30,
            completion_tokens: 12,
            total_tokens: 42,
            latency: 1.2,
            time_to_first_token: Some(0.25),
        },
        created_at,
        finished_at: Some(created_at + 2),
    }
}

fn node(run_id: &str, index: u32, title: &str, status: NodeStatus) -> NodeExecution {
    NodeExecution {
        id: format!("{run_id}-exec-{index}"),
        run_id: run_id.into(),
        node_id: format!("node-{index}"),
        node_type: if index == 1 { "start" } else { "llm" }.into(),
        title: title.into(),
        index,
        predecessor_node_id: None,
        inputs: json!({}),
        process_data: json!({}),
        outputs: json!({}),
        status,
        error: (status == NodeStatus::Failed).then(|| "model timed out".to_owned()),
        elapsed_time: 0.5,
        usage: LlmUsage::default(),
        created_at: CREATED,
        finished_at: Some(CREATED + 1),
    }
}

/// A data dir whose run log holds a succeeded run of `app-a` and a failed run of `app-b` with two nodes.
fn data_dir_with_runs() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let mut store = RunLogStore::open(&data.path().join("runs.sqlite")).unwrap();
    let mut failed = record("run-bad", "app-b", RunStatus::Failed, CREATED + 60);
    failed.error = Some("node LLM failed: model timed out".into());
    store
        .write_batch(&[
            LogRecord::Run(record("run-ok", "app-a", RunStatus::Succeeded, CREATED)),
            LogRecord::Run(failed),
            // Written out of order: `show` lists nodes by index.
            LogRecord::Node(node("run-bad", 2, "Answer", NodeStatus::Failed)),
            LogRecord::Node(node("run-bad", 1, "Start", NodeStatus::Succeeded)),
        ])
        .unwrap();
    data
}

#[test]
fn runs_lists_newest_first_and_filters() {
    let data = data_dir_with_runs();
    let stdout = ok(data.path(), &["runs"]);
    let bad = stdout.find("run-bad").expect(&stdout);
    let good = stdout.find("run-ok").expect(&stdout);
    assert!(bad < good, "newest first:\n{stdout}");
    for expected in [
        "failed",
        "succeeded",
        "42",
        "0.250",
        "1.500",
        "2023-11-14 22:13:20",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from\n{stdout}"
        );
    }

    let failed = ok(data.path(), &["runs", "--status", "failed"]);
    assert!(
        failed.contains("run-bad") && !failed.contains("run-ok"),
        "{failed}"
    );

    let listed = json_of(data.path(), &["runs", "--app", "app-a", "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], "run-ok");
    assert_eq!(listed[0]["status"], "succeeded");
    assert_eq!(listed[0]["usage"]["total_tokens"], 42);
    assert_eq!(listed[0]["node_count"], 0);

    let limited = json_of(data.path(), &["runs", "--limit", "1", "--json"]);
    assert_eq!(limited[0]["id"], "run-bad");
    assert_eq!(limited[0]["node_count"], 2);
    assert_eq!(limited.as_array().unwrap().len(), 1);

    let (output, _, stderr) = run(ragd(data.path()).args(["runs", "--status", "exploded"]));
    assert!(!output.status.success());
    assert!(stderr.contains("partial-succeeded"), "{stderr}");
}

#[test]
fn runs_show_prints_the_run_and_its_nodes() {
    let data = data_dir_with_runs();
    let stdout = ok(data.path(), &["runs", "show", "run-bad"]);
    for expected in [
        "run-bad",
        "node LLM failed: model timed out",
        "42 (prompt 30, completion 12)",
        "Start",
        "Answer",
        "model timed out",
        "node-2",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from\n{stdout}"
        );
    }
    let start = stdout.find("Start").unwrap();
    let answer = stdout.find("Answer").unwrap();
    assert!(start < answer, "nodes by index:\n{stdout}");

    let shown = json_of(data.path(), &["runs", "show", "run-bad", "--json"]);
    assert_eq!(shown["run"]["id"], "run-bad");
    assert_eq!(shown["run"]["status"], "failed");
    let nodes = shown["nodes"].as_array().unwrap();
    let indexes: Vec<&Value> = nodes.iter().map(|n| &n["index"]).collect();
    assert_eq!(indexes, [1, 2]);
    assert_eq!(nodes[1]["error"], "model timed out");

    // --data-dir instead of the configured one.
    let elsewhere = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let stdout = ok(
        elsewhere.path(),
        &["runs", "show", "run-ok", "--data-dir", data_dir],
    );
    assert!(stdout.contains("app-a"), "{stdout}");
}

#[test]
fn an_unknown_run_is_an_error() {
    let data = data_dir_with_runs();
    let (output, stdout, stderr) = run(ragd(data.path()).args(["runs", "show", "nope"]));
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stderr.contains("no run with id \"nope\""), "{stderr}");
}

#[test]
fn a_data_dir_without_a_run_log_has_no_runs_and_gets_none() {
    let data = tempfile::tempdir().unwrap();
    let runs_file: PathBuf = data.path().join("runs.sqlite");
    let stdout = ok(data.path(), &["runs"]);
    assert!(stdout.contains("no runs yet"), "{stdout}");
    assert_eq!(json_of(data.path(), &["runs", "--json"]), json!([]));
    let (output, _, stderr) = run(ragd(data.path()).args(["runs", "show", "r1"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!runs_file.exists(), "ragd runs must not create the run log");
}
