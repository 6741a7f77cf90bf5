//! End-to-end tests of `ragd import`, `ragd retrieve`, `ragd verify` and `ragd eval`: the real binary, the
//! real model, real SQLite, tantivy and HNSW in a temporary data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ragd` with its data dir in `data`.
fn ragd(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command.current_dir(repo()).env("RAGD__DATA_DIR", data);
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "ragd panicked: {stderr}");
    (output, stdout, stderr)
}

fn json(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

fn import(data: &Path, args: &[&str]) -> (bool, Value) {
    let (output, stdout, stderr) = run(ragd(data).args(["import", "--json"]).args(args));
    (output.status.success(), json(&stdout, &stderr))
}

fn retrieve(data: &Path, args: &[&str]) -> (Output, String, String) {
    run(ragd(data).arg("retrieve").args(args))
}

fn retrieve_json(data: &Path, args: &[&str]) -> Value {
    let (output, stdout, stderr) = retrieve(data, &[&["--json"], args].concat());
    assert!(output.status.success(), "retrieve failed: {stderr}");
    json(&stdout, &stderr)
}

#[test]
fn import_is_idempotent_and_retrieve_finds_the_right_document() {
    let data = tempfile::tempdir().unwrap();
    let (ok, first) = import(
        data.path(),
        &["fixtures/docs", "--dataset", "demo", "--create"],
    );
    assert!(ok, "{first}");
    assert_eq!(first["failed"], 0, "{first}");
    let imported = first["imported"].as_u64().unwrap();
    assert!(
        imported >= 10,
        "every fixture file gives a document: {first}"
    );
    assert_eq!(first["documents"].as_u64().unwrap(), imported);
    assert!(first["segments"].as_u64().unwrap() >= imported);

    // Re-running imports nothing new and does not move the dataset's version.
    let (ok, second) = import(data.path(), &["fixtures/docs", "--dataset", "demo"]);
    assert!(ok, "{second}");
    assert_eq!(second["imported"], 0, "{second}");
    assert_eq!(second["unchanged"].as_u64().unwrap(), imported);
    assert_eq!(second["dataset_version"], first["dataset_version"]);

    for method in ["semantic", "full-text", "keyword", "hybrid", "rrf"] {
        let body = retrieve_json(
            data.path(),
            &[
                "--dataset",
                "demo",
                "--method",
                method,
                "--top-k",
                "3",
                "how do honey bees keep warm in winter",
            ],
        );
        let records = body["records"].as_array().unwrap();
        assert!(
            !records.is_empty() && records.len() <= 3,
            "{method}: {body}"
        );
        let top = &records[0]["segment"];
        assert!(
            top["document"]["name"] == "guide.txt",
            "{method}: top result is not the beekeeping guide: {top}"
        );
        let scores: Vec<f64> = records
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(
            scores.iter().all(|s| (0.0..=1.0).contains(s)),
            "{method}: {scores:?}"
        );
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "{method}: not sorted: {scores:?}"
        );
        assert_eq!(
            body["query"]["content"],
            "how do honey bees keep warm in winter"
        );
        assert!(records[0]["segment"]["document"]["name"].is_string());
    }

    // A CJK dataset finds Chinese text by a Chinese query.
    let (ok, cjk) = import(
        data.path(),
        &[
            "fixtures/docs/chinese.txt",
            "--dataset",
            "cjk",
            "--create",
            "--analyzer",
            "cjk",
        ],
    );
    assert!(ok, "{cjk}");
    let body = retrieve_json(
        data.path(),
        &["--dataset", "cjk", "--method", "full-text", "茶经"],
    );
    assert_eq!(body["records"].as_array().unwrap().len(), 1, "{body}");

    let (output, stdout, _) = run(ragd(data.path()).args(["verify", "--json"]));
    assert!(output.status.success(), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["demo"]["completed"].as_u64().unwrap(), imported);
    assert_eq!(report["demo"]["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn explain_threshold_and_filters() {
    let data = tempfile::tempdir().unwrap();
    let (ok, report) = import(
        data.path(),
        &["fixtures/docs", "--dataset", "demo", "--create"],
    );
    assert!(ok, "{report}");

    let body = retrieve_json(
        data.path(),
        &[
            "--dataset",
            "demo",
            "--explain",
            "--top-k",
            "5",
            "retrieval augmented generation",
        ],
    );
    for r in body["records"].as_array().unwrap() {
        let e = &r["explain"];
        let (v, k) = (
            e["vector_score"].as_f64().unwrap(),
            e["keyword_score"].as_f64().unwrap(),
        );
        let expected = 0.5 * v + 0.5 * k; // the default weights
        assert!(
            (r["score"].as_f64().unwrap() - expected).abs() < 1e-5,
            "{r}"
        );
    }

    // A threshold above every score leaves nothing; one below keeps results, all above it.
    let all = retrieve_json(
        data.path(),
        &["--dataset", "demo", "--top-k", "10", "compost"],
    );
    let best = all["records"][0]["score"].as_f64().unwrap();
    let above = format!("{}", (best + 0.01).min(1.0));
    let none = retrieve_json(
        data.path(),
        &["--dataset", "demo", "--threshold", &above, "compost"],
    );
    assert_eq!(none["records"].as_array().unwrap().len(), 0, "{none}");
    let below = format!("{}", best / 2.0);
    let some = retrieve_json(
        data.path(),
        &["--dataset", "demo", "--threshold", &below, "compost"],
    );
    let kept = some["records"].as_array().unwrap();
    assert!(!kept.is_empty());
    assert!(
        kept.iter()
            .all(|r| r["score"].as_f64().unwrap() >= best / 2.0 - 1e-6)
    );

    // Filters apply before top-k: with top-k 1, the only document named guide.txt is returned.
    let filter = r#"{"conditions":[{"name":"document_name","comparison_operator":"is","value":"guide.txt"}]}"#;
    let body = retrieve_json(
        data.path(),
        &[
            "--dataset",
            "demo",
            "--top-k",
            "1",
            "--filter",
            filter,
            "compost bin",
        ],
    );
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{body}");
    assert_eq!(records[0]["segment"]["document"]["name"], "guide.txt");

    // The table output has the explain columns.
    let (output, stdout, stderr) =
        retrieve(data.path(), &["--dataset", "demo", "--explain", "compost"]);
    assert!(output.status.success());
    assert!(
        stdout.contains("vector") && stdout.contains("bm25"),
        "{stdout}"
    );
    assert!(
        stderr.contains("embed") && stderr.contains("hydrate"),
        "{stderr}"
    );
}

#[test]
fn bad_retrieve_input_gets_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    let (ok, report) = import(
        data.path(),
        &["fixtures/docs/guide.txt", "--dataset", "demo", "--create"],
    );
    assert!(ok, "{report}");
    let long = "x".repeat(251);
    let filter_bad_json = "{conditions";
    let filter_bad_op = r#"{"conditions":[{"name":"a","comparison_operator":"like","value":"x"}]}"#;
    let filter_bad_value =
        r#"{"conditions":[{"name":"a","comparison_operator":">","value":"abc"}]}"#;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--dataset", "nope", "q"], "dataset \"nope\" not found"),
        (
            vec!["--dataset", "demo", "  "],
            "Query or attachment_ids is required",
        ),
        (
            vec!["--dataset", "demo", &long],
            "Query cannot exceed 250 characters",
        ),
        (
            vec!["--dataset", "demo", "--top-k", "0", "q"],
            "top_k must be between 1 and 100",
        ),
        (
            vec!["--dataset", "demo", "--top-k", "-2", "q"],
            "top_k must be between 1 and 100",
        ),
        (
            vec!["--dataset", "demo", "--top-k", "100000", "q"],
            "top_k must be between 1 and 100",
        ),
        (
            vec!["--dataset", "demo", "--threshold", "1.5", "q"],
            "score_threshold must be between 0 and 1",
        ),
        (
            vec!["--dataset", "demo", "--threshold", "-0.1", "q"],
            "score_threshold must be between 0 and 1",
        ),
        (
            vec!["--dataset", "demo", "--filter", filter_bad_json, "q"],
            "not a valid Dify metadata filter",
        ),
        (
            vec!["--dataset", "demo", "--filter", filter_bad_op, "q"],
            "not a valid Dify metadata filter",
        ),
        (
            vec!["--dataset", "demo", "--filter", filter_bad_value, "q"],
            "needs a number",
        ),
        (
            vec!["--dataset", "demo", "--vector-weight", "1.5", "q"],
            "weights must be between 0 and 1",
        ),
    ];
    for (args, message) in cases {
        let (output, _, stderr) = retrieve(data.path(), &args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(message),
            "{args:?}: expected {message:?} in {stderr}"
        );
    }
}

#[test]
fn import_reports_bad_files_and_exits_non_zero_without_losing_good_ones() {
    let data = tempfile::tempdir().unwrap();
    let (ok, report) = import(
        data.path(),
        &[
            "fixtures/bad",
            "fixtures/docs/guide.txt",
            "--dataset",
            "mixed",
            "--create",
        ],
    );
    assert!(!ok, "a failed file makes the exit code non-zero: {report}");
    let errors = report["errors"].as_array().unwrap();
    let failed_file = |name: &str| {
        errors
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not among the errors: {report}"))
    };
    assert!(
        failed_file("empty.txt")["error"]
            .as_str()
            .unwrap()
            .contains("empty")
    );
    assert!(failed_file("corrupt.pdf")["error"].is_string());
    assert!(failed_file("binary.txt")["error"].is_string());
    // The good files (the guide and the readable "bad" ones, e.g. latin1.txt) are imported.
    assert!(report["imported"].as_u64().unwrap() >= 2, "{report}");
    let body = retrieve_json(
        data.path(),
        &["--dataset", "mixed", "--method", "full-text", "guide"],
    );
    assert!(!body["records"].as_array().unwrap().is_empty());

    // Glob filters: only markdown files.
    let data = tempfile::tempdir().unwrap();
    let (ok, report) = import(
        data.path(),
        &[
            "fixtures/docs",
            "--dataset",
            "md",
            "--create",
            "--include",
            "*.md",
        ],
    );
    assert!(ok, "{report}");
    assert_eq!(report["files"], 2, "{report}");
    assert!(
        report["skipped"]["(filtered)"].as_u64().unwrap() >= 8,
        "{report}"
    );

    // Without --create, an unknown dataset is an error that says how to create it.
    let (output, _, stderr) =
        run(ragd(data.path()).args(["import", "fixtures/docs", "--dataset", "other"]));
    assert!(!output.status.success());
    assert!(stderr.contains("--create"), "{stderr}");
}

/// `ragd eval` on a small BEIR set written by the test: BM25 must put the one relevant document first.
#[test]
fn eval_scores_a_beir_set_per_method() {
    let set = tempfile::tempdir().unwrap();
    let docs = [
        (
            "d1",
            "Photosynthesis",
            "Plants convert light energy into chemical energy in chloroplasts.",
        ),
        (
            "d2",
            "TCP congestion control",
            "Slow start and congestion avoidance adjust the window.",
        ),
        (
            "d3",
            "Sourdough",
            "A starter of flour and water ferments with wild yeast.",
        ),
        (
            "d4",
            "Black holes",
            "Regions of spacetime where gravity prevents light from escaping.",
        ),
    ];
    let corpus: String = docs
        .iter()
        .map(|(id, title, text)| {
            format!(
                "{}\n",
                serde_json::json!({"_id": id, "title": title, "text": text})
            )
        })
        .collect();
    std::fs::write(set.path().join("corpus.jsonl"), corpus).unwrap();
    std::fs::write(
        set.path().join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"congestion window slow start\"}\n{\"_id\": \"q2\", \"text\": \"wild yeast starter\"}\n",
    )
    .unwrap();
    std::fs::create_dir(set.path().join("qrels")).unwrap();
    std::fs::write(
        set.path().join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td2\t2\nq2\td3\t1\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let runs = tempfile::tempdir().unwrap();
    let set_dir = set.path().to_str().unwrap();
    let runs_dir = runs.path().to_str().unwrap();
    let (output, stdout, stderr) = run(ragd(data.path()).args([
        "eval",
        set_dir,
        "--methods",
        "bm25,semantic,hybrid@0.5,rrf",
        "--json",
        "--run-dir",
        runs_dir,
    ]));
    assert!(output.status.success(), "{stderr}");
    let report = json(&stdout, &stderr);
    assert_eq!(report["queries"], 2);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["ndcg_at_10"], 1.0, "{r}");
        assert_eq!(r["mrr_at_10"], 1.0, "{r}");
        assert!(r["queries_per_second"].as_f64().unwrap() > 0.0);
    }
    let bm25_run = std::fs::read_to_string(runs.path().join("bm25.run")).unwrap();
    assert!(
        bm25_run.lines().next().unwrap().starts_with("q1 Q0 d2 1 "),
        "{bm25_run}"
    );

    // Unknown methods are refused before anything runs.
    let (output, _, stderr) = run(ragd(data.path()).args(["eval", set_dir, "--methods", "bm26"]));
    assert!(!output.status.success());
    assert!(stderr.contains("unknown method"), "{stderr}");
}
