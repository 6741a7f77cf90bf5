//! End-to-end tests of the real `ragd` binary: `--help`, `models`, and `ingest --dry-run` on the committed
//! fixtures with the real model (the test command fetches it first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ragd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command.current_dir(repo());
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "ragd panicked: {stderr}");
    (output, stdout, stderr)
}

fn ingest_json(args: &[&str]) -> (bool, Value, String) {
    let (output, stdout, stderr) = run(ragd().args(["ingest", "--dry-run", "--json"]).args(args));
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (output.status.success(), report, stderr)
}

fn file<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in the report"))
}

#[test]
fn help_lists_only_working_subcommands() {
    let (output, stdout, _) = run(ragd().arg("--help"));
    assert!(output.status.success());
    let commands: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "models", "ingest", "import", "retrieve", "eval", "verify", "serve", "keys", "apps",
            "chat", "run", "runs", "cache", "help"
        ]
    );
}

#[test]
fn ingest_dry_run_of_the_fixtures_chunks_and_embeds_every_file() {
    let (ok, report, stderr) = ingest_json(&["fixtures/docs"]);
    assert!(ok, "{stderr}");
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 10);
    for f in files {
        assert!(f["error"].is_null(), "{f}");
        assert!(f["chunks"].as_u64().unwrap() >= 1, "{f}");
        assert!(f["tokens"].as_u64().unwrap() > 50, "{f}");
        assert!(f["embed_ms"].as_f64().unwrap() > 0.0, "{f}");
    }
    assert_eq!(file(&report, "articles.jsonl")["documents"], 5);
    assert!(report["embed_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(report["failed_files"], 0);
}

#[test]
fn the_table_output_has_a_row_per_file_and_a_total() {
    let (output, stdout, _) =
        run(ragd().args(["ingest", "--dry-run", "--no-embed", "fixtures/docs"]));
    assert!(output.status.success());
    for name in [
        "guide.txt",
        "paper.pdf",
        "report.docx",
        "products.csv",
        "total",
    ] {
        assert!(stdout.contains(name), "{name} missing from\n{stdout}");
    }
    assert!(stdout.contains("10 files (10 ok, 0 failed)"), "{stdout}");
}

#[test]
fn bad_files_are_reported_per_file_without_stopping_the_batch() {
    let (ok, report, _) = ingest_json(&[
        "--no-embed",
        "fixtures/bad",
        "fixtures/docs/guide.txt",
        "fixtures/bad/image.png",
        "fixtures/nope.txt",
    ]);
    assert!(!ok, "a failed file makes the exit code non-zero");
    let kind = |name: &str| {
        file(&report, name)["error"]["kind"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(kind("bad/empty.txt").as_deref(), Some("empty"));
    assert_eq!(kind("corrupt.pdf").as_deref(), Some("corrupt"));
    assert_eq!(kind("encrypted.pdf").as_deref(), Some("encrypted"));
    assert_eq!(kind("encrypted.docx").as_deref(), Some("encrypted"));
    assert_eq!(kind("corrupt.docx").as_deref(), Some("corrupt"));
    assert_eq!(kind("scanned.pdf").as_deref(), Some("no_text"));
    assert_eq!(kind("binary.txt").as_deref(), Some("encoding"));
    assert_eq!(kind("image.png").as_deref(), Some("unsupported"));
    assert_eq!(kind("nope.txt").as_deref(), Some("io"));
    // pdf-extract panics on this one; the panic is caught, reported as corrupt, and prints no backtrace
    // (`run` asserts that stderr never says "panicked").
    assert_eq!(kind("crashing.pdf").as_deref(), Some("corrupt"));
    let crashed = file(&report, "crashing.pdf")["error"]["message"]
        .as_str()
        .unwrap();
    assert!(
        crashed.contains("pdf-extract crashed on this file"),
        "{crashed}"
    );
    // Good files in the same batch still go through.
    assert_eq!(kind("guide.txt"), None);
    assert_eq!(kind("latin1.txt"), None);
    assert_eq!(kind("utf16le.txt"), None);
    // An unsupported type met while walking a folder is skipped and counted, not failed.
    assert_eq!(report["skipped"][".png"], 1);
    let message = file(&report, "encrypted.pdf")["error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("encrypted.pdf"), "{message}");
}

#[test]
fn chunk_size_and_process_rule_options_shape_the_chunks() {
    let (ok, small, _) = ingest_json(&[
        "--no-embed",
        "--chunk-size",
        "60",
        "--overlap",
        "10",
        "--separator",
        "\\n",
        "fixtures/docs/guide.txt",
    ]);
    assert!(ok);
    let (_, automatic, _) = ingest_json(&["--no-embed", "fixtures/docs/guide.txt"]);
    let chunks = |r: &Value| file(r, "guide.txt")["chunks"].as_u64().unwrap();
    assert!(
        chunks(&small) > chunks(&automatic),
        "{} vs {}",
        chunks(&small),
        chunks(&automatic)
    );
    assert!(
        file(&small, "guide.txt")["max_chunk_tokens"]
            .as_u64()
            .unwrap()
            <= 60
    );

    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("rule.json");
    std::fs::write(
        &rule,
        r#"{"mode":"hierarchical","rules":{"pre_processing_rules":[],"parent_mode":"paragraph",
            "segmentation":{"separator":"\n\n","max_tokens":500},
            "subchunk_segmentation":{"separator":"\n","max_tokens":50,"chunk_overlap":0}}}"#,
    )
    .unwrap();
    let (ok, hierarchical, _) = ingest_json(&[
        "--no-embed",
        "--process-rule",
        rule.to_str().unwrap(),
        "fixtures/docs/guide.txt",
    ]);
    assert!(ok);
    let f = file(&hierarchical, "guide.txt");
    assert!(
        f["chunks"].as_u64().unwrap() > f["embedded_chunks"].as_u64().unwrap(),
        "parents are not embedded"
    );
}

#[test]
fn invalid_options_and_rules_are_clear_errors() {
    let (output, _, stderr) =
        run(ragd().args(["ingest", "--dry-run", "--chunk-size", "10", "fixtures/docs"]));
    assert!(!output.status.success());
    assert!(stderr.contains("between 50 and 4000"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("rule.json");
    std::fs::write(&rule, r#"{"mode":"custom"}"#).unwrap();
    let (output, _, stderr) = run(ragd().args([
        "ingest",
        "--dry-run",
        "--process-rule",
        rule.to_str().unwrap(),
        "fixtures/docs",
    ]));
    assert!(!output.status.success());
    assert!(stderr.contains("rules is required"), "{stderr}");

    let (output, _, stderr) = run(ragd().args(["ingest", "fixtures/docs"]));
    assert!(!output.status.success());
    assert!(stderr.contains("--dry-run"), "{stderr}");

    let (output, _, stderr) = run(ragd().env("RAGD__EMBED__BATCH_SIZE", "0").args([
        "ingest",
        "--dry-run",
        "fixtures/docs",
    ]));
    assert!(!output.status.success());
    assert!(stderr.contains("embed.batch_size"), "{stderr}");
}

fn model_dir() -> PathBuf {
    let (output, stdout, _) = run(ragd().args(["models", "status"]));
    assert!(
        output.status.success(),
        "the model cache is complete: {stdout}"
    );
    let line = stdout.lines().find(|l| l.contains("model.onnx")).unwrap();
    let path = line.split('|').nth(1).unwrap().trim();
    Path::new(path).parent().unwrap().to_owned()
}

/// `ragd ingest --dry-run PATH` and `ragd models status` against the model cache `models`.
fn run_with_models(models: &Path, ingest_path: &str) -> [(Output, String, String); 2] {
    let with_models = |args: &[&str]| run(ragd().env("RAGD__MODELS__DIR", models).args(args));
    [
        with_models(&["ingest", "--dry-run", ingest_path]),
        with_models(&["models", "status"]),
    ]
}

#[test]
fn a_missing_model_says_how_to_fetch_it() {
    let empty = tempfile::tempdir().unwrap();
    let [(ingest, stdout, stderr), (status, status_out, _)] =
        run_with_models(empty.path(), "fixtures/docs");
    assert!(!ingest.status.success());
    assert!(stderr.contains("ragd models fetch"), "{stdout}{stderr}");
    assert!(!status.status.success());
    assert_eq!(status_out.matches("missing").count(), 7, "{status_out}");
}

#[test]
fn a_corrupt_onnx_runtime_library_is_an_error_not_a_crash() {
    let models = tempfile::tempdir().unwrap();
    let model = models.path().join("all-MiniLM-L6-v2-int8");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(model_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    let runtime = models.path().join("onnxruntime-1.31.1");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::write(
        runtime.join("libonnxruntime.so.1.31.1"),
        b"not a shared library",
    )
    .unwrap();

    let [(ingest, _, stderr), (status, status_out, _)] =
        run_with_models(models.path(), "fixtures/docs/guide.txt");
    assert!(!ingest.status.success());
    assert!(stderr.contains("libonnxruntime.so.1.31.1"), "{stderr}");
    assert!(!status.status.success());
    assert!(status_out.contains("checksum mismatch"), "{status_out}");
}
