//! The behaviour every `VectorIndex` owes its callers. Each check takes a fresh, empty index of
//! `DIMENSIONS` dimensions; the `#[test]`s at the bottom run them against `HnswIndex` (one with the
//! default options, one that forces the graph path even for tiny indexes).

use ragd_vector::{HnswIndex, HnswOptions, VectorEntry, VectorError, VectorIndex};

use crate::data::{self, random_vectors};
use crate::{DIMENSIONS, cosine, entries};

pub fn stored_vector_finds_itself(index: &dyn VectorIndex) {
    let vectors = random_vectors(11, 300, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    assert_eq!(index.len(), 300);
    for (key, vector) in vectors.iter().enumerate().step_by(7) {
        let hits = index.search(vector, 3, None).unwrap();
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].key, key as u64);
        assert_eq!(hits[0].document, data::document_of(key as u64));
        assert!(
            (hits[0].score - 1.0).abs() < 1e-5,
            "self score {}",
            hits[0].score
        );
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

pub fn search_returns_the_exact_top_k(index: &dyn VectorIndex) {
    let vectors = random_vectors(12, 500, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    let query = &random_vectors(13, 1, DIMENSIONS)[0];
    let mut truth: Vec<(u64, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(key, v)| (key as u64, cosine(query, v)))
        .collect();
    truth.sort_by(|a, b| b.1.total_cmp(&a.1));
    let hits = index.search(query, 10, None).unwrap();
    let keys: Vec<u64> = hits.iter().map(|h| h.key).collect();
    let expected: Vec<u64> = truth[..10].iter().map(|t| t.0).collect();
    assert_eq!(keys, expected);
    for (hit, (_, score)) in hits.iter().zip(&truth) {
        assert!((hit.score - score).abs() < 1e-5);
    }
    // k larger than the index returns everything.
    assert_eq!(index.search(query, 10_000, None).unwrap().len(), 500);
    assert!(index.search(query, 0, None).unwrap().is_empty());
}

pub fn cosine_does_not_rely_on_normalized_input(index: &dyn VectorIndex) {
    let mut scaled = random_vectors(14, 2, DIMENSIONS);
    scaled[0].iter_mut().for_each(|x| *x *= 7.5);
    scaled[1].iter_mut().for_each(|x| *x *= 0.01);
    index.upsert(&entries(&scaled, 0)).unwrap();
    let query: Vec<f32> = scaled[0].iter().map(|x| x * 3.0).collect();
    let hits = index.search(&query, 2, None).unwrap();
    assert_eq!(hits[0].key, 0);
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert!((hits[1].score - cosine(&query, &scaled[1])).abs() < 1e-5);
    // Anti-parallel vectors score -1.
    let opposite: Vec<f32> = scaled[1].iter().map(|x| -x).collect();
    let scores = index.score_keys(&opposite, &[1]).unwrap();
    assert!((scores[0].unwrap() + 1.0).abs() < 1e-5);
}

pub fn ties_break_by_key_ascending(index: &dyn VectorIndex) {
    let vector = random_vectors(15, 1, DIMENSIONS).remove(0);
    let batch: Vec<VectorEntry<'_>> = [9u64, 3, 5, 7]
        .iter()
        .map(|&key| VectorEntry {
            key,
            document: 1,
            vector: &vector,
        })
        .collect();
    index.upsert(&batch).unwrap();
    let keys: Vec<u64> = index
        .search(&vector, 3, None)
        .unwrap()
        .iter()
        .map(|h| h.key)
        .collect();
    assert_eq!(keys, vec![3, 5, 7]);
}

pub fn upsert_replaces_by_key(index: &dyn VectorIndex) {
    let vectors = random_vectors(16, 50, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    let replacement = random_vectors(17, 1, DIMENSIONS).remove(0);
    index
        .upsert(&[VectorEntry {
            key: 3,
            document: 99,
            vector: &replacement,
        }])
        .unwrap();
    assert_eq!(index.len(), 50);
    assert_eq!(index.document_keys(99), vec![3]);
    assert!(!index.document_keys(0).contains(&3));
    let hits = index.search(&replacement, 1, None).unwrap();
    assert_eq!((hits[0].key, hits[0].document), (3, 99));
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    // The old vector no longer matches key 3 perfectly.
    let old = index.score_keys(&vectors[3], &[3]).unwrap()[0].unwrap();
    assert!(old < 0.5, "old vector still scores {old}");
    // Within one batch the last entry for a key wins.
    let (a, b) = (&vectors[10], &vectors[20]);
    index
        .upsert(&[
            VectorEntry {
                key: 1_000,
                document: 7,
                vector: a,
            },
            VectorEntry {
                key: 1_000,
                document: 8,
                vector: b,
            },
        ])
        .unwrap();
    assert_eq!(index.len(), 51);
    assert_eq!(index.document_keys(8), vec![1_000]);
    assert_eq!(index.document_len(7), 0);
    assert!((index.score_keys(b, &[1_000]).unwrap()[0].unwrap() - 1.0).abs() < 1e-5);
}

pub fn delete_document_removes_all_its_vectors(index: &dyn VectorIndex) {
    let vectors = random_vectors(18, 100, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    assert_eq!(index.document_len(4), 10);
    assert_eq!(index.document_keys(4), (40..50).collect::<Vec<u64>>());
    assert_eq!(index.delete_document(4).unwrap(), 10);
    assert_eq!(index.delete_document(4).unwrap(), 0);
    assert_eq!(index.delete_document(12_345).unwrap(), 0);
    assert_eq!(index.len(), 90);
    assert_eq!(index.document_len(4), 0);
    assert!(index.document_keys(4).is_empty());
    for vector in &vectors[40..50] {
        let hits = index.search(vector, 5, None).unwrap();
        assert!(hits.iter().all(|h| h.document != 4));
    }
    assert!(index.score_keys(&vectors[40], &[40, 39]).unwrap()[0].is_none());
    // Deleting everything leaves a usable, empty index.
    for document in 0..10 {
        index.delete_document(document).unwrap();
    }
    assert!(index.is_empty());
    assert!(index.search(&vectors[0], 5, None).unwrap().is_empty());
    index.upsert(&entries(&vectors[..5], 0)).unwrap();
    assert_eq!(index.search(&vectors[2], 1, None).unwrap()[0].key, 2);
}

pub fn delete_keys_removes_exactly_those_keys(index: &dyn VectorIndex) {
    let vectors = random_vectors(24, 100, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    // Keys of two documents (4: 40..50, 7: 70..80), one absent key and a duplicate.
    assert_eq!(index.delete_keys(&[41, 45, 77, 12_345, 45]).unwrap(), 3);
    assert_eq!(index.delete_keys(&[41, 45, 77]).unwrap(), 0);
    assert_eq!(index.delete_keys(&[]).unwrap(), 0);
    assert_eq!(index.len(), 97);
    assert_eq!(
        index.document_keys(4),
        [40, 42, 43, 44, 46, 47, 48, 49],
        "the document's other keys stay"
    );
    assert_eq!(index.document_len(7), 9);
    assert_eq!(index.score_keys(&vectors[41], &[41, 42]).unwrap()[0], None);
    for key in [41, 45, 77] {
        let hits = index.search(&vectors[key], 10, None).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(
            hits.iter().all(|h| h.key != key as u64),
            "{key} still found"
        );
    }
    let hits = index.search(&vectors[42], 1, None).unwrap();
    assert_eq!((hits[0].key, hits[0].document), (42, 4));
    // A deleted key can be inserted again, under any document.
    index
        .upsert(&[VectorEntry {
            key: 45,
            document: 9,
            vector: &vectors[45],
        }])
        .unwrap();
    assert_eq!(index.search(&vectors[45], 1, None).unwrap()[0].document, 9);
    // Deleting every key of a document leaves no trace of it.
    let all: Vec<u64> = index.document_keys(4);
    assert_eq!(index.delete_keys(&all).unwrap(), 8);
    assert_eq!(index.document_len(4), 0);
    assert_eq!(index.delete_document(4).unwrap(), 0);
}

pub fn filter_excluding_the_best_returns_the_best_allowed(index: &dyn VectorIndex) {
    let vectors = random_vectors(19, 400, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    let query = &vectors[123];
    let best_document = data::document_of(123);
    let allowed = move |document: u64| document != best_document;
    let hits = index.search(query, 1, Some(&allowed)).unwrap();
    let expected = vectors
        .iter()
        .enumerate()
        .filter(|(key, _)| data::document_of(*key as u64) != best_document)
        .max_by(|a, b| cosine(query, a.1).total_cmp(&cosine(query, b.1)))
        .unwrap()
        .0 as u64;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].key, expected);
}

pub fn selective_filter_returns_exactly_the_allowed_top(index: &dyn VectorIndex) {
    let vectors = random_vectors(20, 5_000, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    let chosen = [7u64, 250, 499];
    let allowed = move |document: u64| chosen.contains(&document);
    let query = &random_vectors(21, 1, DIMENSIONS)[0];
    let mut truth: Vec<(u64, f32)> = vectors
        .iter()
        .enumerate()
        .filter(|(key, _)| chosen.contains(&data::document_of(*key as u64)))
        .map(|(key, v)| (key as u64, cosine(query, v)))
        .collect();
    truth.sort_by(|a, b| b.1.total_cmp(&a.1));
    let hits = index.search(query, 10, Some(&allowed)).unwrap();
    let keys: Vec<u64> = hits.iter().map(|h| h.key).collect();
    assert_eq!(keys, truth[..10].iter().map(|t| t.0).collect::<Vec<_>>());
    // Fewer allowed vectors than k: all of them.
    let all = index.search(query, 100, Some(&allowed)).unwrap();
    assert_eq!(all.len(), 30);
    assert!(all.iter().all(|h| chosen.contains(&h.document)));
    // A filter that allows nothing.
    let none = |_: u64| false;
    assert!(index.search(query, 10, Some(&none)).unwrap().is_empty());
}

pub fn score_keys_gives_exact_cosines(index: &dyn VectorIndex) {
    let vectors = random_vectors(22, 20, DIMENSIONS);
    index.upsert(&entries(&vectors, 100)).unwrap();
    let query = &random_vectors(23, 1, DIMENSIONS)[0];
    let scores = index.score_keys(query, &[105, 1, 119, 100]).unwrap();
    assert_eq!(scores.len(), 4);
    assert!((scores[0].unwrap() - cosine(query, &vectors[5])).abs() < 1e-5);
    assert_eq!(scores[1], None);
    assert!((scores[2].unwrap() - cosine(query, &vectors[19])).abs() < 1e-5);
    assert!((scores[3].unwrap() - cosine(query, &vectors[0])).abs() < 1e-5);
    assert!(index.score_keys(query, &[]).unwrap().is_empty());
}

pub fn wrong_dimensions_and_non_finite_values_are_rejected(index: &dyn VectorIndex) {
    assert_eq!(index.dimensions(), DIMENSIONS);
    let short = vec![0.1f32; DIMENSIONS - 1];
    let entry = VectorEntry {
        key: 1,
        document: 1,
        vector: &short,
    };
    assert!(matches!(
        index.upsert(&[entry]),
        Err(VectorError::DimensionMismatch { expected: DIMENSIONS, found })
            if found == DIMENSIONS - 1
    ));
    assert!(matches!(
        index.search(&short, 1, None),
        Err(VectorError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.score_keys(&short, &[1]),
        Err(VectorError::DimensionMismatch { .. })
    ));
    let mut nan = vec![0.1f32; DIMENSIONS];
    nan[5] = f32::NAN;
    let good = vec![0.1f32; DIMENSIONS];
    // A bad entry anywhere in the batch rejects the whole batch.
    let batch = [
        VectorEntry {
            key: 1,
            document: 1,
            vector: &good,
        },
        VectorEntry {
            key: 2,
            document: 1,
            vector: &nan,
        },
    ];
    assert!(matches!(
        index.upsert(&batch),
        Err(VectorError::NonFinite { key: 2 })
    ));
    assert!(index.is_empty());
    assert!(matches!(
        index.search(&nan, 1, None),
        Err(VectorError::NonFiniteQuery)
    ));
}

pub fn empty_index_and_empty_batches(index: &dyn VectorIndex) {
    let query = random_vectors(24, 1, DIMENSIONS).remove(0);
    assert!(index.is_empty());
    assert!(index.search(&query, 10, None).unwrap().is_empty());
    index.upsert(&[]).unwrap();
    assert_eq!(index.len(), 0);
    assert_eq!(index.document_len(0), 0);
    index.persist().unwrap();
}

macro_rules! conformance_tests {
    ($module:ident, $factory:expr) => {
        mod $module {
            use super::*;

            fn run(check: fn(&dyn VectorIndex)) {
                let dir = tempfile::tempdir().unwrap();
                let index: HnswIndex = $factory(dir.path());
                check(&index);
            }

            #[test]
            fn stored_vector_finds_itself() {
                run(super::stored_vector_finds_itself);
            }
            #[test]
            fn search_returns_the_exact_top_k() {
                run(super::search_returns_the_exact_top_k);
            }
            #[test]
            fn cosine_does_not_rely_on_normalized_input() {
                run(super::cosine_does_not_rely_on_normalized_input);
            }
            #[test]
            fn ties_break_by_key_ascending() {
                run(super::ties_break_by_key_ascending);
            }
            #[test]
            fn upsert_replaces_by_key() {
                run(super::upsert_replaces_by_key);
            }
            #[test]
            fn delete_document_removes_all_its_vectors() {
                run(super::delete_document_removes_all_its_vectors);
            }
            #[test]
            fn delete_keys_removes_exactly_those_keys() {
                run(super::delete_keys_removes_exactly_those_keys);
            }
            #[test]
            fn filter_excluding_the_best_returns_the_best_allowed() {
                run(super::filter_excluding_the_best_returns_the_best_allowed);
            }
            #[test]
            fn selective_filter_returns_exactly_the_allowed_top() {
                run(super::selective_filter_returns_exactly_the_allowed_top);
            }
            #[test]
            fn score_keys_gives_exact_cosines() {
                run(super::score_keys_gives_exact_cosines);
            }
            #[test]
            fn wrong_dimensions_and_non_finite_values_are_rejected() {
                run(super::wrong_dimensions_and_non_finite_values_are_rejected);
            }
            #[test]
            fn empty_index_and_empty_batches() {
                run(super::empty_index_and_empty_batches);
            }
        }
    };
}

conformance_tests!(hnsw_default, |dir: &std::path::Path| {
    HnswIndex::open(dir, DIMENSIONS, HnswOptions::default()).unwrap()
});

// exact_below = 0 without calibration sends every search through the graph (and its exact fallback),
// even on tiny indexes.
conformance_tests!(hnsw_graph_path, |dir: &std::path::Path| {
    let options = HnswOptions {
        exact_below: 0,
        calibrate: false,
        ..HnswOptions::default()
    };
    HnswIndex::open(dir, DIMENSIONS, options).unwrap()
});
