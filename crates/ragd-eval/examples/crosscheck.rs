//! Cross-checks ragd-eval's metrics against trec_eval (pytrec_eval, via `scripts/eval_reference.py`).
//!
//! ```sh
//! python3 scripts/eval_reference.py --bm25 ../shared/datasets/cranfield     # writes the BM25 run
//! cargo run -p ragd-eval --example crosscheck -- ../shared/datasets/cranfield \
//!     target/eval-reference/cranfield/bm25-lucene.run
//! ```
//!
//! It writes the dataset's qrels and a set of synthetic runs (ideal, noisy, tied scores, short and
//! missing rankings, against the real graded qrels and against qrels with judged non-relevant and
//! negative grades) under `target/eval-crosscheck/`, adds the runs given on the command line, scores every
//! run with this crate (reading it back with `Run::read_trec`, so both sides see the same order) and with
//! the Python scorer, and fails if any per-query or mean value differs by more than 1e-6.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use ragd_eval::{BeirDataset, Evaluation, Qrels, QueryScores, Run, evaluate};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;
const METRICS: [&str; 4] = ["ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((dataset_dir, extra_runs)) = args.split_first() else {
        eprintln!("usage: crosscheck BEIR_DIR [TREC_RUN...]");
        return ExitCode::from(2);
    };
    match crosscheck(Path::new(dataset_dir), extra_runs) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn crosscheck(dataset_dir: &Path, extra_runs: &[String]) -> Result<bool, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = workspace.join("target/eval-crosscheck");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let dataset = BeirDataset::load(dataset_dir).map_err(|e| e.to_string())?;
    eprintln!("{}: {}", dataset_dir.display(), dataset.stats);

    let qrels_path = out.join("qrels.trec");
    dataset
        .qrels
        .write_trec_file(&qrels_path)
        .map_err(|e| e.to_string())?;
    let runs = synthetic_runs(&dataset);
    let mut noisy = runs
        .iter()
        .find(|run| run.tag() == "noisy")
        .cloned()
        .unwrap_or_default();
    noisy.sort_like_trec_eval();
    let mixed_qrels = with_non_relevant_judgments(&dataset, &noisy);
    let mixed_qrels_path = out.join("qrels-mixed.trec");
    mixed_qrels
        .write_trec_file(&mixed_qrels_path)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "qrels-mixed.trec: {} judgments ({} not relevant)",
        mixed_qrels.len(),
        mixed_qrels.len() - dataset.stats.relevant_judgments
    );

    let mut cases: Vec<(PathBuf, &Qrels, &Path)> = Vec::new();
    for run in runs {
        let path = out.join(format!("{}.run", run.tag()));
        run.write_trec_file(&path).map_err(|e| e.to_string())?;
        cases.push((path.clone(), &dataset.qrels, &qrels_path));
        cases.push((path, &mixed_qrels, &mixed_qrels_path));
    }
    for run in extra_runs {
        cases.push((PathBuf::from(run), &dataset.qrels, &qrels_path));
    }

    let script = workspace.join("scripts/eval_reference.py");
    let mut all_agree = true;
    println!(
        "{:<28} {:<16} {:<14} {:>14} {:>14} {:>10}",
        "run", "qrels", "metric", "ragd-eval", "pytrec_eval", "max |diff|"
    );
    for (run_path, qrels, qrels_path) in cases {
        let run = Run::read_trec(&run_path).map_err(|e| e.to_string())?;
        let ours = evaluate(&run, qrels);
        let theirs = python_scores(&script, &run_path, qrels_path)?;
        all_agree &= report(&run_path, qrels_path, &ours, &theirs);
    }
    println!(
        "{}",
        if all_agree {
            format!("all runs agree within {TOLERANCE:e}")
        } else {
            format!("DISAGREEMENT above {TOLERANCE:e}")
        }
    );
    Ok(all_agree)
}

/// Prints one row per metric (the means) and returns whether every per-query value and mean agrees.
fn report(run_path: &Path, qrels_path: &Path, ours: &Evaluation, theirs: &Value) -> bool {
    let file_name = |path: &Path| {
        path.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let mut agree = ours.summary.queries as u64 == theirs["queries"].as_u64().unwrap_or(u64::MAX);
    let per_query = theirs["per_query"].as_object();
    let ours_keys: Vec<&String> = ours.per_query.keys().collect();
    let theirs_keys: Vec<&String> = per_query.map(|m| m.keys().collect()).unwrap_or_default();
    agree &= ours_keys == theirs_keys;
    let summary = serde_json::to_value(ours.summary).unwrap_or_default();
    for metric in METRICS {
        let ours_mean = summary[metric].as_f64().unwrap_or(f64::NAN);
        let theirs_mean = theirs[metric].as_f64().unwrap_or(f64::NAN);
        let mut worst = difference(ours_mean, theirs_mean);
        for (query_id, scores) in &ours.per_query {
            let reference = theirs["per_query"][query_id][metric]
                .as_f64()
                .unwrap_or(f64::NAN);
            worst = worst.max(difference(metric_value(scores, metric), reference));
        }
        agree &= worst <= TOLERANCE;
        println!(
            "{:<28} {:<16} {:<14} {:>14.9} {:>14.9} {:>10.1e}",
            file_name(run_path),
            file_name(qrels_path),
            metric,
            ours_mean,
            theirs_mean,
            worst,
        );
    }
    if !agree {
        println!(
            "  ^ DISAGREES (query sets: ours {}, theirs {})",
            ours_keys.len(),
            theirs_keys.len()
        );
    }
    agree
}

/// |a - b|, infinite when either is missing (NaN), so a gap can never pass for agreement.
fn difference(a: f64, b: f64) -> f64 {
    let difference = (a - b).abs();
    if difference.is_nan() {
        f64::INFINITY
    } else {
        difference
    }
}

fn metric_value(scores: &QueryScores, metric: &str) -> f64 {
    match metric {
        "ndcg_at_10" => scores.ndcg_at_10,
        "recall_at_10" => scores.recall_at_10,
        "recall_at_100" => scores.recall_at_100,
        "mrr_at_10" => scores.mrr_at_10,
        _ => f64::NAN,
    }
}

fn python_scores(script: &Path, run: &Path, qrels: &Path) -> Result<Value, String> {
    let output = Command::new("python3")
        .arg(script)
        .arg("--score")
        .arg(run)
        .arg(qrels)
        .arg("--per-query")
        .output()
        .map_err(|e| format!("running python3 {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} --score {} failed: {}",
            script.display(),
            run.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("reading the scorer's JSON: {e}"))
}

/// A deterministic pseudo-random generator (splitmix64): reproducible runs without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The dataset's qrels plus judged non-relevant (0) and negative (-1) grades for unjudged documents
/// in the top 10 of `run`, and one extra query judged only non-relevant: none of these may count as
/// relevant, and a negative grade must not lower nDCG.
fn with_non_relevant_judgments(dataset: &BeirDataset, run: &Run) -> Qrels {
    let mut qrels = dataset.qrels.clone();
    for (query_id, ranking) in run.iter() {
        let Some(judged) = dataset.qrels.for_query(query_id) else {
            continue;
        };
        let unjudged = ranking
            .iter()
            .take(10)
            .filter(|(doc, _)| !judged.contains_key(doc));
        for ((doc, _), grade) in unjudged.zip([0, -1, 0, -1]) {
            qrels.insert(query_id, doc.clone(), grade);
        }
    }
    qrels.insert("only-non-relevant", dataset.corpus[0].id.clone(), 0);
    qrels
}

/// Runs that exercise the edge cases: ideal order, relevant documents buried in noise, heavy score
/// ties, rankings shorter than 10, queries missing or empty, and queries the qrels do not judge.
fn synthetic_runs(dataset: &BeirDataset) -> Vec<Run> {
    let mut rng = SplitMix(42);
    let corpus = &dataset.corpus;
    let [
        mut ideal_run,
        mut noisy_run,
        mut ties_run,
        mut short_run,
        mut sparse_run,
    ] = ["ideal", "noisy", "ties", "short", "sparse"].map(Run::new);
    for query in &dataset.queries {
        let judged = dataset
            .qrels
            .for_query(&query.id)
            .cloned()
            .unwrap_or_default();
        let mut by_grade: Vec<(&String, &i32)> = judged.iter().collect();
        by_grade.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));

        let ideal = by_grade
            .iter()
            .enumerate()
            .map(|(rank, (doc, _))| ((*doc).clone(), 100.0 - rank as f64))
            .collect();
        ideal_run.insert(query.id.clone(), ideal);

        // Relevant documents at random positions among up to 150 random ones, random scores.
        let mut noisy = BTreeMap::new();
        for (doc, _) in &by_grade {
            if rng.unit() < 0.7 {
                noisy.insert((*doc).clone(), rng.unit());
            }
        }
        for _ in 0..rng.below(150) {
            noisy.insert(corpus[rng.below(corpus.len())].id.clone(), rng.unit());
        }
        let noisy: Vec<(String, f64)> = noisy.into_iter().collect();

        // The same documents with scores rounded to a few levels: many ties, which trec_eval breaks
        // by document id, descending.
        let ties = noisy
            .iter()
            .map(|(doc, score)| (doc.clone(), (score * 4.0).floor() / 4.0))
            .collect();
        let short = noisy.iter().take(rng.below(10)).cloned().collect();
        noisy_run.insert(query.id.clone(), noisy);
        ties_run.insert(query.id.clone(), ties);
        short_run.insert(query.id.clone(), short);

        // Every third query missing, every fifth empty, the rest the ideal ranking reversed.
        let sparse = match rng.below(15) {
            n if n % 3 == 0 => None,
            n if n % 5 == 0 => Some(Vec::new()),
            _ => Some(
                by_grade
                    .iter()
                    .rev()
                    .enumerate()
                    .map(|(rank, (doc, _))| ((*doc).clone(), 1.0 / (rank as f64 + 1.0)))
                    .collect(),
            ),
        };
        if let Some(sparse) = sparse {
            sparse_run.insert(query.id.clone(), sparse);
        }
    }
    // A query nobody judged: both scorers must ignore it.
    noisy_run.insert("not-judged", vec![(corpus[0].id.clone(), 1.0)]);
    vec![ideal_run, noisy_run, ties_run, short_run, sparse_run]
}
