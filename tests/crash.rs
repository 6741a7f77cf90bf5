//! Crash consistency: `kill -9` of the real `ragd import` in the middle of a large import, several times,
//! then a restart. No document may be `completed` with missing parts (`ragd verify`), the dataset must
//! keep answering, and re-running the import must finish the rest.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ragd` on the data dir `data`, with short checkpoints so that a kill lands between many of them.
fn ragd(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command
        .current_dir(repo())
        .env("RAGD__DATA_DIR", data)
        .env("RAGD__INDEXING__CHECKPOINT_INTERVAL_MS", "250")
        .env("RAGD__INDEXING__GROUP_DOCUMENTS", "16");
    command
}

fn output(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "ragd panicked: {stderr}");
    (output, stdout, stderr)
}

/// Documents in each indexing status, read straight from the SQLite file (another process is writing it).
fn status_counts(data: &Path) -> (u64, u64) {
    let db = data.join("ragd.sqlite3");
    if !db.exists() {
        return (0, 0);
    }
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, 0);
    };
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, u64>(0)).unwrap_or(0);
    (
        count("SELECT count(*) FROM documents WHERE indexing_status = 'completed'"),
        count("SELECT count(*) FROM documents"),
    )
}

/// Starts an import and kills it with SIGKILL once more than `after` documents are completed.
fn import_and_kill(data: &Path, corpus: &Path, after: u64) -> u64 {
    let mut child: Child = ragd(data)
        .args(["import", "--json", "--dataset", "crash", "--create"])
        .arg(corpus)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ragd import starts");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (completed, _) = status_counts(data);
        if completed > after {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the import ended ({status}) before it could be killed; make the corpus larger");
        }
        assert!(Instant::now() < deadline, "no progress in the import");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: no destructor, no flush, no chance to finish a checkpoint.
    child.kill().expect("kill -9");
    child.wait().unwrap();
    status_counts(data).0
}

fn verify(data: &Path) -> Value {
    let (out, stdout, stderr) = output(ragd(data).args(["verify", "--json", "--dataset", "crash"]));
    assert!(
        out.status.success(),
        "verify found problems: {stdout}\n{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let report = report["crash"].clone();
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    report
}

fn answers(data: &Path) {
    let (out, stdout, stderr) = output(ragd(data).args([
        "retrieve",
        "--json",
        "--dataset",
        "crash",
        "--top-k",
        "5",
        "boundary layer heat transfer",
    ]));
    assert!(
        out.status.success(),
        "retrieve failed after a crash: {stderr}"
    );
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert!(!body["records"].as_array().unwrap().is_empty(), "{body}");
}

#[test]
fn kill_dash_nine_during_import_never_leaves_a_half_indexed_completed_document() {
    // 700 Cranfield abstracts, one document per JSON line.
    let source = repo().join("../shared/datasets/cranfield/corpus.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()))
        .lines()
        .filter(|l| !l.contains("\"text\": \"\""))
        .take(700)
        .map(str::to_owned)
        .collect();
    let total = lines.len() as u64;
    let work = tempfile::tempdir().unwrap();
    let corpus = work.path().join("corpus.jsonl");
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let data = work.path().join("data");

    let mut completed = 0;
    for round in 0..3 {
        let at_kill = import_and_kill(&data, &corpus, completed);
        assert!(at_kill > completed, "round {round}: no progress");
        assert!(
            at_kill < total,
            "round {round}: killed too late to test anything"
        );
        let report = verify(&data);
        let now = report["completed"].as_u64().unwrap();
        assert!(
            now >= completed,
            "round {round}: completed documents were lost"
        );
        answers(&data);
        completed = now;
    }

    // A restart recovers the unfinished documents and finishes the import.
    let (out, stdout, stderr) = output(
        ragd(&data)
            .args(["import", "--json", "--dataset", "crash"])
            .arg(&corpus),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(
        summary["imported"].as_u64().unwrap() + summary["unchanged"].as_u64().unwrap(),
        total,
        "{summary}"
    );
    let report = verify(&data);
    assert_eq!(report["completed"].as_u64().unwrap(), total, "{report}");
    assert_eq!(report["unfinished"], 0, "{report}");
    answers(&data);
}
