//! Integration tests of the run-log writer through the public API: batching, flushing on time, drops
//! on a full queue, shutdown draining, retention at start, and the JSON lines sink.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ragd_config::RunLogConfig;
use ragd_core::dataset::Timestamp;
use ragd_core::run::{LlmUsage, NodeExecution, NodeStatus, RunRecord, RunStatus};
use ragd_runlog::{LogRecord, RunFilter, RunLogError, RunLogReader, RunLogStore, RunLogWriter};
use serde_json::{Value, json};

fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as Timestamp
}

fn run(id: &str, status: RunStatus, created_at: Timestamp) -> RunRecord {
    RunRecord {
        id: id.into(),
        app_id: "app".into(),
        workflow_id: "wf".into(),
        mode: "workflow".into(),
        user: "bob".into(),
        conversation_id: None,
        message_id: None,
        status,
        inputs: json!({}),
        outputs: json!({}),
        error: None,
        elapsed_time: 0.5,
        total_steps: 1,
        usage: LlmUsage::default(),
        created_at,
        finished_at: None,
    }
}

fn node(id: &str, run_id: &str, index: u32) -> NodeExecution {
    NodeExecution {
        id: id.into(),
        run_id: run_id.into(),
        node_id: "llm".into(),
        node_type: "llm".into(),
        title: "LLM".into(),
        index,
        predecessor_node_id: None,
        inputs: json!({}),
        process_data: json!({}),
        outputs: json!({"text": "hi"}),
        status: NodeStatus::Succeeded,
        error: None,
        elapsed_time: 0.25,
        usage: LlmUsage::default(),
        created_at: now(),
        finished_at: Some(now()),
    }
}

fn config(queue_capacity: usize, batch_size: usize, flush_interval_ms: u64) -> RunLogConfig {
    RunLogConfig {
        queue_capacity,
        batch_size,
        flush_interval_ms,
        retention_days: 0,
        retention_max_runs: 0,
        ..RunLogConfig::default()
    }
}

fn start(path: &Path, config: &RunLogConfig) -> RunLogWriter {
    RunLogWriter::start(RunLogStore::open(path).unwrap(), config).unwrap()
}

#[tokio::test]
async fn many_records_are_written_in_batches_and_all_there_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    let writer = start(&path, &config(10_000, 16, 60_000));
    let reader = RunLogReader::open(&path).unwrap();
    let created = now();
    for i in 0..500 {
        let id = format!("run-{i:03}");
        writer.record(LogRecord::Run(run(&id, RunStatus::Running, created)));
        writer.record(LogRecord::Node(node(&format!("{id}-n"), &id, 1)));
        writer.record(LogRecord::Run(run(&id, RunStatus::Succeeded, created)));
    }
    writer.flush().await.unwrap();
    assert_eq!(writer.written(), 1500);
    assert_eq!(writer.dropped(), 0);
    assert_eq!(writer.queued(), 0);
    assert_eq!(reader.count_runs().await.unwrap(), 500);
    let still_running = RunFilter {
        status: Some(RunStatus::Running),
        ..RunFilter::default()
    };
    assert!(reader.list_runs(still_running).await.unwrap().is_empty());
    let (record, nodes) = reader.get_run("run-042").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(nodes.len(), 1);
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_partial_batch_is_written_after_the_flush_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    let writer = start(&path, &config(100, 1000, 20));
    let reader = RunLogReader::open(&path).unwrap();
    writer.record(LogRecord::Run(run("r1", RunStatus::Running, now())));
    let started = Instant::now();
    while reader.count_runs().await.unwrap() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never written without a flush"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(writer.written(), 1);
}

/// On this single-threaded runtime the writer task cannot run while the test sends synchronously, so
/// the queue fills after exactly `queue_capacity` records, as it would behind a slow disk.
#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    let writer = start(&path, &config(4, 2, 10));
    // `record` never waits: the 96 that find the queue full are dropped and counted at once.
    for i in 0..100 {
        writer.record(LogRecord::Run(run(
            &format!("r{i}"),
            RunStatus::Running,
            now(),
        )));
    }
    assert_eq!(writer.dropped(), 96);
    assert_eq!(writer.queued(), 4);
    writer.flush().await.unwrap();
    assert_eq!(writer.written(), 4);
    assert_eq!(RunLogStore::open(&path).unwrap().count_runs().unwrap(), 4);

    // Once stopped, records are dropped too, and flushing says so.
    writer.shutdown().await.unwrap();
    writer.record(LogRecord::Run(run("late", RunStatus::Running, now())));
    assert_eq!(writer.dropped(), 97);
    assert!(matches!(writer.flush().await, Err(RunLogError::Stopped)));
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_writes_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    let writer = start(&path, &config(1000, 1000, 60_000));
    for i in 0..50 {
        writer.record(LogRecord::Run(run(
            &format!("r{i}"),
            RunStatus::Stopped,
            now(),
        )));
    }
    let clone = writer.clone();
    writer.shutdown().await.unwrap();
    assert_eq!(clone.written(), 50);
    assert_eq!(RunLogStore::open(&path).unwrap().count_runs().unwrap(), 50);
}

#[tokio::test]
async fn retention_runs_when_the_writer_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    let mut store = RunLogStore::open(&path).unwrap();
    let day = 24 * 60 * 60;
    let records: Vec<LogRecord> = (0..5)
        .map(|i| LogRecord::Run(run(&format!("r{i}"), RunStatus::Succeeded, now() - i * day)))
        .collect();
    store.write_batch(&records).unwrap();
    let config = RunLogConfig {
        retention_days: 4,
        retention_max_runs: 3,
        ..config(10, 10, 10)
    };
    let writer = RunLogWriter::start(store, &config).unwrap();
    writer.flush().await.unwrap();
    let reader = RunLogReader::open(&path).unwrap();
    let kept = reader.list_runs(RunFilter::default()).await.unwrap();
    let ids: Vec<&str> = kept.iter().map(|s| s.run.id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2"]);
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_record_is_also_a_json_line_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    let jsonl = dir.path().join("logs/runs.jsonl");
    std::fs::create_dir_all(jsonl.parent().unwrap()).unwrap();
    std::fs::write(&jsonl, "{\"kind\":\"earlier\"}\n").unwrap();
    let config = RunLogConfig {
        jsonl: jsonl.to_str().unwrap().to_owned(),
        ..config(100, 2, 10)
    };
    let writer = start(&path, &config);
    let created = now();
    writer.record(LogRecord::Run(run("r1", RunStatus::Running, created)));
    writer.record(LogRecord::Node(node("n1", "r1", 1)));
    writer.record(LogRecord::Run(run("r1", RunStatus::Succeeded, created)));
    writer.shutdown().await.unwrap();

    let text = std::fs::read_to_string(&jsonl).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["earlier", "run", "node", "run"], "appended: {text}");
    assert_eq!(lines[1]["status"], "running");
    assert_eq!(lines[2]["run_id"], "r1");
    assert_eq!(lines[3]["status"], "succeeded");
    let record: LogRecord = serde_json::from_value(lines[3].clone()).unwrap();
    assert_eq!(
        record,
        LogRecord::Run(run("r1", RunStatus::Succeeded, created))
    );
    assert_eq!(RunLogStore::open(&path).unwrap().count_runs().unwrap(), 1);
}

#[tokio::test]
async fn an_unwritable_json_lines_path_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = RunLogConfig {
        // A directory cannot be opened for appending.
        jsonl: dir.path().to_str().unwrap().to_owned(),
        ..config(10, 10, 10)
    };
    let store = RunLogStore::open(&dir.path().join("runs.sqlite")).unwrap();
    let error = RunLogWriter::start(store, &config).unwrap_err();
    assert!(matches!(error, RunLogError::Io { .. }), "{error}");
}
