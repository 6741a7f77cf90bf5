//! Shared helpers: temporary indexes and entry builders.

use ragd_lexical::{Analyzer, LexicalEntry, LexicalHit, LexicalIndex};
use tempfile::TempDir;

/// A fresh index in a temporary directory (kept alive by the returned guard).
pub fn temp_index(analyzer: Analyzer) -> (TempDir, LexicalIndex) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index =
        LexicalIndex::open_or_create(&dir.path().join("lexical"), analyzer).expect("index opens");
    (dir, index)
}

/// Adds `(key, document, text)` entries and commits them.
pub fn add_committed(index: &LexicalIndex, entries: &[(u64, u64, &str)]) {
    index.add(&entries_of(entries)).expect("add");
    index.commit().expect("commit");
}

pub fn entries_of<'a>(entries: &[(u64, u64, &'a str)]) -> Vec<LexicalEntry<'a>> {
    entries
        .iter()
        .map(|&(key, document, text)| LexicalEntry {
            key,
            document,
            text,
        })
        .collect()
}

pub fn keys(hits: &[LexicalHit]) -> Vec<u64> {
    hits.iter().map(|hit| hit.key).collect()
}

pub fn assert_close(actual: f32, expected: f64, what: &str) {
    let tolerance = 1e-5 * expected.abs().max(1.0);
    assert!(
        (f64::from(actual) - expected).abs() <= tolerance,
        "{what}: {actual} != {expected}"
    );
}
