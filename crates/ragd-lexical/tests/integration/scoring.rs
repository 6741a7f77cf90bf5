//! BM25 scores against the formula, ranking, filtering, score_keys and the score upper bound.

use ragd_lexical::{Analyzer, BM25_B, BM25_K1, LexicalIndex};

use crate::support::{add_committed, assert_close, keys, temp_index};

/// Lucene's BM25 of one term: idf = ln(1 + (N - n + 0.5) / (n + 0.5)), times (k1 + 1) tf / (tf + k1 (1 - b + b dl / avgdl)).
fn bm25(tf: f64, dl: f64, n: f64, total_docs: f64, avgdl: f64) -> f64 {
    let (k1, b) = (f64::from(BM25_K1), f64::from(BM25_B));
    let idf = (1.0 + (total_docs - n + 0.5) / (n + 0.5)).ln();
    idf * (k1 + 1.0) * tf / (tf + k1 * (1.0 - b + b * dl / avgdl))
}

/// Four entries with lengths (after stop words and stemming) 3, 4, 3 and 7 tokens: small enough that
/// tantivy's field-norm quantization is exact.
fn tiny_corpus() -> (tempfile::TempDir, LexicalIndex) {
    let (dir, index) = temp_index(Analyzer::English);
    add_committed(
        &index,
        &[
            (1, 1, "rust search engine"),
            (2, 2, "search search search with rust"),
            (3, 3, "python web framework"),
            (4, 4, "the quick brown fox jumps over the lazy dog"),
        ],
    );
    (dir, index)
}

#[test]
fn scores_equal_the_lucene_bm25_formula() {
    let (_dir, index) = tiny_corpus();
    let (total_docs, avgdl) = (4.0, 17.0 / 4.0);
    let hits = index.search("Rust searching!", 10, None).unwrap();
    assert_eq!(keys(&hits), [2, 1]);
    let expected_2 =
        bm25(1.0, 4.0, 2.0, total_docs, avgdl) + bm25(3.0, 4.0, 2.0, total_docs, avgdl);
    let expected_1 =
        bm25(1.0, 3.0, 2.0, total_docs, avgdl) + bm25(1.0, 3.0, 2.0, total_docs, avgdl);
    assert_close(hits[0].score, expected_2, "entry 2");
    assert_close(hits[1].score, expected_1, "entry 1");

    let hits = index.search("lazy dogs", 10, None).unwrap();
    assert_eq!(keys(&hits), [4]);
    assert_close(
        hits[0].score,
        2.0 * bm25(1.0, 7.0, 1.0, total_docs, avgdl),
        "entry 4",
    );
}

#[test]
fn a_repeated_query_term_counts_twice() {
    let (_dir, index) = tiny_corpus();
    let once = index.search("python", 10, None).unwrap()[0].score;
    let twice = index.search("python pythons", 10, None).unwrap()[0].score;
    assert_close(twice, 2.0 * f64::from(once), "repeated term");
}

#[test]
fn score_keys_matches_search() {
    let (_dir, index) = tiny_corpus();
    let query = "rust search engine framework";
    let hits = index.search(query, 10, None).unwrap();
    assert_eq!(hits.len(), 3);
    let mut wanted: Vec<u64> = hits.iter().map(|hit| hit.key).collect();
    wanted.extend([4, 99]);
    let scores = index.score_keys(query, &wanted).unwrap();
    for (hit, score) in hits.iter().zip(&scores) {
        assert_close(
            score.expect("a hit has a score"),
            f64::from(hit.score),
            "score_keys",
        );
    }
    assert_eq!(scores[3], None, "entry 4 matches no term");
    assert_eq!(scores[4], None, "key 99 is absent");
    assert_eq!(index.score_keys(query, &[]).unwrap(), []);
    assert_eq!(index.score_keys("", &[1]).unwrap(), [None]);
}

#[test]
fn score_keys_skips_deleted_entries_and_spans_segments() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(1, 1, "ocean waves"), (2, 2, "ocean")]);
    add_committed(&index, &[(3, 3, "ocean breeze"), (4, 4, "mountain")]);
    index.delete_document(1).unwrap();
    index.commit().unwrap();
    let scores = index.score_keys("ocean", &[3, 1, 2, 4, 3]).unwrap();
    assert!(scores[0].is_some() && scores[2].is_some());
    assert_eq!(scores[0], scores[4]);
    assert_eq!((scores[1], scores[3]), (None, None));
}

#[test]
fn score_upper_bound_is_the_saturation_limit() {
    let (_dir, index) = tiny_corpus();
    let idf = |n: f64| (1.0 + (4.0 - n + 0.5) / (n + 0.5)).ln();
    let k1 = f64::from(BM25_K1);
    let bound = index.score_upper_bound("rust search unknownword").unwrap();
    assert_close(bound, 2.0 * idf(2.0) * (k1 + 1.0), "upper bound");
    for hit in index.search("rust search unknownword", 10, None).unwrap() {
        assert!(hit.score <= bound);
    }
    assert_eq!(index.score_upper_bound("unknownword").unwrap(), 0.0);
}

#[test]
fn score_upper_bound_holds_for_saturated_entries() {
    let (_dir, index) = temp_index(Analyzer::English);
    let many = "word ".repeat(500);
    add_committed(
        &index,
        &[
            (1, 1, many.as_str()),
            (2, 2, "word"),
            (3, 3, "other text here"),
        ],
    );
    let bound = index.score_upper_bound("word words").unwrap();
    for hit in index.search("word words", 10, None).unwrap() {
        assert!(hit.score <= bound, "{} > {bound}", hit.score);
    }
}

#[test]
fn filter_is_applied_before_the_top_k() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(
        &index,
        &[
            (1, 1, "apple apple apple"),
            (2, 2, "apple banana"),
            (3, 3, "apple banana cherry date"),
        ],
    );
    let best = index.search("apple", 1, None).unwrap();
    assert_eq!(keys(&best), [1]);
    let not_one = |document: u64| document != 1;
    let hits = index.search("apple", 1, Some(&not_one)).unwrap();
    assert_eq!(keys(&hits), [2]);
    let none = |_: u64| false;
    assert!(index.search("apple", 10, Some(&none)).unwrap().is_empty());
}

#[test]
fn filter_never_loses_results_across_segments() {
    let (_dir, index) = temp_index(Analyzer::English);
    // Even documents score highest (more occurrences); the filter keeps odd ones only.
    for batch in 0..4u64 {
        let texts: Vec<(u64, u64, String)> = (0..50u64)
            .map(|i| {
                let key = batch * 50 + i;
                let text = if key % 2 == 0 {
                    "signal signal signal noise"
                } else {
                    "signal noise noise noise"
                };
                (key, key, format!("{text} filler{}", key % 7))
            })
            .collect();
        let entries: Vec<(u64, u64, &str)> =
            texts.iter().map(|(k, d, t)| (*k, *d, t.as_str())).collect();
        add_committed(&index, &entries);
    }
    let odd = |document: u64| document % 2 == 1;
    let hits = index.search("signal", 5, Some(&odd)).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|hit| hit.document % 2 == 1));
    let all = index.search("signal", 200, None).unwrap();
    let expected: Vec<u64> = all
        .iter()
        .filter(|hit| hit.document % 2 == 1)
        .take(5)
        .map(|hit| hit.key)
        .collect();
    assert_eq!(keys(&hits), expected);
}

#[test]
fn ties_are_broken_by_key_ascending_across_segments() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(9, 1, "same words"), (7, 1, "same words")]);
    add_committed(&index, &[(5, 2, "same words"), (3, 2, "same words")]);
    add_committed(&index, &[(8, 3, "same words")]);
    assert_eq!(
        keys(&index.search("same", 10, None).unwrap()),
        [3, 5, 7, 8, 9]
    );
    assert_eq!(keys(&index.search("same", 2, None).unwrap()), [3, 5]);
    let odd = |document: u64| document % 2 == 1;
    assert_eq!(keys(&index.search("same", 2, Some(&odd)).unwrap()), [7, 8]);
}

#[test]
fn hits_are_sorted_best_first() {
    let (_dir, index) = tiny_corpus();
    let hits = index
        .search("rust search python fox web", 10, None)
        .unwrap();
    assert_eq!(hits.len(), 4);
    assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
}
