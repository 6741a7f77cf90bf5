//! `ragd cache thresholds` on a small labelled TSV, with the real model (the test command fetches it
//! first, as for the other tests of the binary).

mod support;

use serde_json::Value;
use support::ragd;

/// Three paraphrases (the first the same sentence but for case and whitespace), three unrelated pairs,
/// MRPC's header, and one line with a missing field.
const PAIRS: &str = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n\
    1\t1\t2\tHow do I reset my password?\t  how do I RESET my   password?\n\
    1\t3\t4\tThe company's \"profits\" rose 5 percent in the third quarter.\tThird-quarter profits at the company increased by 5 percent.\n\
    1\t5\t6\tThe meeting was postponed until next week.\tThe meeting has been delayed to next week.\n\
    0\t7\t8\tBees keep their hive warm by shivering their flight muscles.\tThe stock market closed lower on Friday.\n\
    0\t9\t10\tHow do I reset my password?\tWhat is the capital of Australia?\n\
    0\t11\t12\tThe recipe calls for two cups of flour.\tThe rover landed on Mars in January.\n\
    1\t13\t14\tA line without its second sentence\n";

#[test]
fn thresholds_reports_hit_shares_and_recommends_a_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.tsv");
    std::fs::write(&path, PAIRS).unwrap();

    let output = ragd()
        .args(["cache", "thresholds", "--json"])
        .arg(&path)
        .output()
        .expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("line 8"),
        "the malformed line is reported: {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));

    assert_eq!(report["pairs"], 6, "{report}");
    assert_eq!(report["same_meaning"], 3, "{report}");
    assert_eq!(report["different"], 3, "{report}");
    assert_eq!(report["skipped"], 1, "{report}");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "0.80 to 0.99 every 0.01, both included");
    let threshold = |row: &Value| row["threshold"].as_f64().unwrap();
    assert!((threshold(&rows[0]) - 0.80).abs() < 1e-9, "{}", rows[0]);
    assert!((threshold(&rows[19]) - 0.99).abs() < 1e-9, "{}", rows[19]);
    for row in rows {
        for field in ["same_meaning_hit_rate", "false_hit_rate"] {
            let rate = row[field].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&rate), "{row}");
        }
        for field in ["same_meaning_hits", "false_hits"] {
            assert!(row[field].as_u64().is_some(), "{row}");
        }
    }
    // The same sentence but for case and whitespace normalizes to the same key: a hit at 0.99.
    assert!(
        rows[19]["same_meaning_hits"].as_u64().unwrap() >= 1,
        "{}",
        rows[19]
    );
    let recommended = report["recommended"]
        .as_f64()
        .unwrap_or_else(|| panic!("a threshold is recommended: {report}"));
    let row = rows
        .iter()
        .find(|r| (threshold(r) - recommended).abs() < 1e-9)
        .unwrap_or_else(|| panic!("the recommended threshold is a row: {report}"));
    assert!(row["false_hit_rate"].as_f64().unwrap() < 0.01, "{row}");

    // The table, and the "none qualifies" line when no threshold can keep false hits below 0%.
    let output = ragd()
        .args([
            "cache",
            "thresholds",
            "--from",
            "0.9",
            "--to",
            "0.95",
            "--step",
            "0.05",
        ])
        .args(["--max-false-hits", "0"])
        .arg(&path)
        .output()
        .expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for text in [
        "threshold",
        "0.90",
        "0.95",
        "6 pairs (3 same meaning, 3 different",
    ] {
        assert!(stdout.contains(text), "{text:?} missing from\n{stdout}");
    }
    assert!(
        stdout.contains("no threshold from 0.90 to 0.95 keeps false hits below 0.0%"),
        "{stdout}"
    );
}
