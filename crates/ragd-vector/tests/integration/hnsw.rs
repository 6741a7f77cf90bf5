//! `HnswIndex` beyond the trait: persistence and crash-safety, recall of the graph against exact search,
//! the filtered graph path, and concurrent use.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ragd_vector::{HnswIndex, HnswOptions, VectorEntry, VectorError, VectorHit, VectorIndex};

use crate::data::{self, random_vectors};
use crate::{DIMENSIONS, entries};

fn open(dir: &Path) -> HnswIndex {
    HnswIndex::open(dir, DIMENSIONS, HnswOptions::default()).unwrap()
}

fn generation_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("gen-"))
        .collect();
    names.sort();
    names
}

fn current_generation_dir(dir: &Path) -> PathBuf {
    dir.join(fs::read_to_string(dir.join("CURRENT")).unwrap().trim())
}

/// Everything observable: all keys by document, and the top-10 of a few queries (graph and exact; at a
/// fixed beam, since calibration depends on timing).
fn observe(index: &HnswIndex, queries: &[Vec<f32>]) -> (usize, Vec<Vec<u64>>, Vec<Vec<VectorHit>>) {
    let keys = (0..400)
        .map(|document| index.document_keys(document))
        .collect();
    let mut results = Vec::new();
    for query in queries {
        results.push(index.search_graph(query, 10, None, 64).unwrap());
        results.push(index.search_exact(query, 10, None).unwrap());
    }
    (index.len(), keys, results)
}

#[test]
fn persist_and_reopen_restore_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(31, 3_000, DIMENSIONS);
    let queries = random_vectors(32, 5, DIMENSIONS);
    let before = {
        let index = open(dir.path());
        index.upsert(&entries(&vectors, 0)).unwrap();
        index.delete_document(17).unwrap();
        index.persist().unwrap();
        observe(&index, &queries)
    };
    assert_eq!(generation_dirs(dir.path()).len(), 1);
    let index = open(dir.path());
    assert_eq!(observe(&index, &queries), before);
    assert_eq!(index.len(), 2_990);
}

#[test]
fn persist_replaces_the_previous_generation_and_skips_when_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(33, 200, DIMENSIONS);
    let index = open(dir.path());
    index.upsert(&entries(&vectors[..100], 0)).unwrap();
    index.persist().unwrap();
    let first = generation_dirs(dir.path());
    index.persist().unwrap();
    assert_eq!(
        generation_dirs(dir.path()),
        first,
        "an unchanged index is not rewritten"
    );
    index.upsert(&entries(&vectors[100..], 100)).unwrap();
    index.persist().unwrap();
    let second = generation_dirs(dir.path());
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    drop(index);
    assert_eq!(open(dir.path()).len(), 200);
}

#[test]
fn deleted_keys_stay_deleted_after_persist_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(36, 2_000, DIMENSIONS);
    let queries = random_vectors(37, 5, DIMENSIONS);
    let deleted: Vec<u64> = (0..2_000).step_by(3).collect();
    let before = {
        let index = open(dir.path());
        index.upsert(&entries(&vectors, 0)).unwrap();
        index.persist().unwrap();
        assert_eq!(index.delete_keys(&deleted).unwrap(), deleted.len());
        index.persist().unwrap();
        // Deleting absent keys changes nothing, so nothing is rewritten.
        let generations = generation_dirs(dir.path());
        assert_eq!(index.delete_keys(&deleted[..10]).unwrap(), 0);
        index.persist().unwrap();
        assert_eq!(generation_dirs(dir.path()), generations);
        observe(&index, &queries)
    };
    let index = open(dir.path());
    assert_eq!(observe(&index, &queries), before);
    assert_eq!(index.len(), 2_000 - deleted.len());
    for &key in deleted.iter().step_by(41) {
        assert_eq!(index.score_keys(&vectors[0], &[key]).unwrap(), [None]);
        // Through the graph and exactly, the deleted vector is gone and its neighbours remain.
        let graph = index
            .search_graph(&vectors[key as usize], 10, None, 64)
            .unwrap();
        assert!(graph.iter().all(|h| h.key != key), "graph still has {key}");
        let exact = index
            .search_exact(&vectors[key as usize], 10, None)
            .unwrap();
        assert!(exact.iter().all(|h| h.key % 3 != 0));
    }
    let kept = 1_001u64;
    assert_eq!(
        index
            .search_graph(&vectors[kept as usize], 1, None, 64)
            .unwrap()[0]
            .key,
        kept
    );
}

#[test]
fn unpersisted_changes_are_not_visible_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(34, 50, DIMENSIONS);
    {
        let index = open(dir.path());
        index.upsert(&entries(&vectors[..20], 0)).unwrap();
        index.persist().unwrap();
        index.upsert(&entries(&vectors[20..], 20)).unwrap();
    }
    assert_eq!(open(dir.path()).len(), 20);
}

/// A crash during persist leaves the new generation's directory (complete or torn) and possibly
/// `CURRENT.tmp`, with `CURRENT` still naming the old generation. Simulated by snapshotting the directory
/// at state A, publishing state B, and planting B's files (whole or cut) next to A's `CURRENT`.
#[test]
fn interrupted_persist_leaves_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = tempfile::tempdir().unwrap();
    let vectors = random_vectors(35, 300, DIMENSIONS);
    let index = open(dir.path());
    index.upsert(&entries(&vectors[..100], 0)).unwrap();
    index.persist().unwrap();
    copy_dir(dir.path(), snapshot.path());
    index.upsert(&entries(&vectors[100..], 100)).unwrap();
    index.persist().unwrap();
    let new_generation = current_generation_dir(dir.path());
    let new_name = new_generation.file_name().unwrap().to_owned();
    let new_vectors = fs::read(new_generation.join("vectors.bin")).unwrap();
    let new_graph = fs::read(new_generation.join("graph.usearch")).unwrap();
    drop(index);

    type Leftover<'a> = Box<dyn Fn(&Path) + 'a>;
    let crash_states: Vec<(&str, Leftover<'_>)> = vec![
        (
            "complete new generation, CURRENT not yet renamed",
            Box::new(|generation: &Path| {
                fs::write(generation.join("vectors.bin"), &new_vectors).unwrap();
                fs::write(generation.join("graph.usearch"), &new_graph).unwrap();
            }),
        ),
        (
            "torn vectors file",
            Box::new(|generation: &Path| {
                fs::write(generation.join("graph.usearch"), &new_graph).unwrap();
                fs::write(
                    generation.join("vectors.bin"),
                    &new_vectors[..new_vectors.len() / 2],
                )
                .unwrap();
            }),
        ),
        (
            "torn graph file only",
            Box::new(|generation: &Path| {
                fs::write(generation.join("graph.usearch"), &new_graph[..100]).unwrap();
            }),
        ),
        ("empty directory", Box::new(|_: &Path| {})),
    ];
    for (what, plant_leftover) in crash_states {
        let crashed = tempfile::tempdir().unwrap();
        copy_dir(snapshot.path(), crashed.path());
        let old_generations = generation_dirs(crashed.path());
        let leftover = crashed.path().join(&new_name);
        fs::create_dir(&leftover).unwrap();
        plant_leftover(&leftover);
        fs::write(
            crashed.path().join("CURRENT.tmp"),
            format!("{}\n", new_name.to_str().unwrap()),
        )
        .unwrap();

        let index = open(crashed.path());
        assert_eq!(index.len(), 100, "{what}");
        assert_eq!(
            index.search(&vectors[50], 1, None).unwrap()[0].key,
            50,
            "{what}"
        );
        assert_eq!(
            generation_dirs(crashed.path()),
            old_generations,
            "{what}: leftover not removed"
        );
        assert!(!crashed.path().join("CURRENT.tmp").exists(), "{what}");
        // The next persist publishes normally.
        index.upsert(&entries(&vectors[100..110], 100)).unwrap();
        index.persist().unwrap();
        drop(index);
        assert_eq!(open(crashed.path()).len(), 110, "{what}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn corrupted_vectors_file_is_a_clear_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = open(dir.path());
        index
            .upsert(&entries(&random_vectors(36, 100, DIMENSIONS), 0))
            .unwrap();
        index.persist().unwrap();
    }
    let path = current_generation_dir(dir.path()).join("vectors.bin");
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    match HnswIndex::open(dir.path(), DIMENSIONS, HnswOptions::default()) {
        Err(VectorError::Corrupt {
            path: reported,
            reason,
        }) => {
            assert_eq!(reported, path);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    fs::write(&path, &bytes[..middle]).unwrap();
    assert!(matches!(
        HnswIndex::open(dir.path(), DIMENSIONS, HnswOptions::default()),
        Err(VectorError::Corrupt { .. })
    ));
    fs::remove_file(&path).unwrap();
    let error = HnswIndex::open(dir.path(), DIMENSIONS, HnswOptions::default()).unwrap_err();
    assert!(matches!(error, VectorError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn garbage_current_pointer_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("CURRENT"), "hello").unwrap();
    assert!(matches!(
        HnswIndex::open(dir.path(), DIMENSIONS, HnswOptions::default()),
        Err(VectorError::Corrupt { .. })
    ));
}

#[test]
fn damaged_or_missing_graph_is_rebuilt_from_the_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(37, 2_500, DIMENSIONS);
    let queries = random_vectors(38, 3, DIMENSIONS);
    let exact_before = {
        let index = open(dir.path());
        index.upsert(&entries(&vectors, 0)).unwrap();
        index.persist().unwrap();
        queries
            .iter()
            .map(|q| index.search_exact(q, 10, None).unwrap())
            .collect::<Vec<_>>()
    };
    let graph = current_generation_dir(dir.path()).join("graph.usearch");
    let mut bytes = fs::read(&graph).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x55;
    fs::write(&graph, &bytes).unwrap();
    {
        let index = open(dir.path());
        assert_eq!(index.len(), 2_500);
        for (query, exact) in queries.iter().zip(&exact_before) {
            assert_eq!(&index.search_exact(query, 10, None).unwrap(), exact);
            assert_eq!(index.search(&vectors[7], 1, None).unwrap()[0].key, 7);
            assert_eq!(index.search_graph(query, 10, None, 64).unwrap().len(), 10);
        }
        // The rebuilt graph is written by the next persist even though no vector changed.
        index.persist().unwrap();
    }
    let graph = current_generation_dir(dir.path()).join("graph.usearch");
    fs::remove_file(&graph).unwrap();
    let index = open(dir.path());
    assert_eq!(index.search(&vectors[9], 1, None).unwrap()[0].key, 9);
}

#[test]
fn changed_connectivity_rebuilds_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(39, 500, DIMENSIONS);
    {
        let index = open(dir.path());
        index.upsert(&entries(&vectors, 0)).unwrap();
        index.persist().unwrap();
    }
    let options = HnswOptions {
        connectivity: 8,
        exact_below: 0,
        ..HnswOptions::default()
    };
    let index = HnswIndex::open(dir.path(), DIMENSIONS, options).unwrap();
    assert_eq!(index.options().connectivity, 8);
    assert_eq!(index.search(&vectors[42], 1, None).unwrap()[0].key, 42);
}

#[test]
fn reopening_with_other_dimensions_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = open(dir.path());
        index
            .upsert(&entries(&random_vectors(40, 10, DIMENSIONS), 0))
            .unwrap();
        index.persist().unwrap();
    }
    assert!(matches!(
        HnswIndex::open(dir.path(), 768, HnswOptions::default()),
        Err(VectorError::DimensionMismatch {
            expected: 768,
            found: DIMENSIONS
        })
    ));
    assert!(matches!(
        HnswIndex::open(dir.path(), 0, HnswOptions::default()),
        Err(VectorError::InvalidOptions(_))
    ));
}

#[test]
fn a_directory_is_opened_once_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    assert!(matches!(
        HnswIndex::open(dir.path(), DIMENSIONS, HnswOptions::default()),
        Err(VectorError::Locked { .. })
    ));
    drop(first);
    open(dir.path());
}

#[test]
fn invalid_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for options in [
        HnswOptions {
            connectivity: 1,
            ..HnswOptions::default()
        },
        HnswOptions {
            expansion_search: 0,
            ..HnswOptions::default()
        },
    ] {
        assert!(matches!(
            HnswIndex::open(dir.path(), DIMENSIONS, options),
            Err(VectorError::InvalidOptions(_))
        ));
    }
}

fn recall(truth: &[Vec<VectorHit>], found: &[Vec<VectorHit>]) -> f64 {
    let total: usize = truth.iter().map(Vec::len).sum();
    let hit: usize = truth
        .iter()
        .zip(found)
        .map(|(t, f)| {
            t.iter()
                .filter(|h| f.iter().any(|g| g.key == h.key))
                .count()
        })
        .sum();
    hit as f64 / total as f64
}

/// An index over `vectors` built in one batch (so calibrated once, at the final size).
fn build_index(dir: &Path, vectors: &[Vec<f32>]) -> HnswIndex {
    let index = open(dir);
    index.upsert(&entries(vectors, 0)).unwrap();
    index
}

/// Random unit vectors are the hard case for HNSW: the graph needs a wide beam to reach recall@10 0.98,
/// and calibration must make `search` meet the target whichever path it picks.
#[test]
fn recall_on_random_vectors_meets_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(41, 10_000, DIMENSIONS);
    let index = build_index(dir.path(), &vectors);
    let calibration = index.calibration().expect("calibrated above exact_below");
    assert_eq!(calibration.len, 10_000);
    if calibration.uses_graph() {
        assert!(
            calibration.recall >= HnswOptions::default().target_recall,
            "{calibration:?}"
        );
    }
    let queries = random_vectors(42, 40, DIMENSIONS);
    let truth: Vec<_> = queries
        .iter()
        .map(|q| index.search_exact(q, 10, None).unwrap())
        .collect();
    let searched: Vec<_> = queries
        .iter()
        .map(|q| index.search(q, 10, None).unwrap())
        .collect();
    let search_recall = recall(&truth, &searched);
    assert!(
        search_recall >= 0.98,
        "search recall@10 {search_recall} with {calibration:?}"
    );
    let graph: Vec<_> = queries
        .iter()
        .map(|q| index.search_graph(q, 10, None, 2_048).unwrap())
        .collect();
    let graph_recall = recall(&truth, &graph);
    assert!(
        graph_recall >= 0.98,
        "graph recall@10 at beam 2048: {graph_recall}"
    );
    // Scores of graph hits are exact.
    for (hits, query) in graph.iter().zip(&queries) {
        let exact = index
            .score_keys(query, &hits.iter().map(|h| h.key).collect::<Vec<_>>())
            .unwrap();
        assert!(hits.iter().zip(exact).all(|(h, e)| Some(h.score) == e));
    }
}

/// Clustered vectors (like real embeddings): a narrow beam already reaches the target.
#[test]
fn recall_on_clustered_vectors_meets_the_target_with_a_narrow_beam() {
    let dir = tempfile::tempdir().unwrap();
    let mut clusters = data::Clusters::new(48, 50, DIMENSIONS);
    let vectors = clusters.samples(5_000);
    let index = build_index(dir.path(), &vectors);
    let calibration = index.calibration().expect("calibrated above exact_below");
    assert!(calibration.expansion_search <= 256, "{calibration:?}");
    let queries = clusters.samples(40);
    let truth: Vec<_> = queries
        .iter()
        .map(|q| index.search_exact(q, 10, None).unwrap())
        .collect();
    let searched: Vec<_> = queries
        .iter()
        .map(|q| index.search(q, 10, None).unwrap())
        .collect();
    let search_recall = recall(&truth, &searched);
    assert!(
        search_recall >= 0.98,
        "search recall@10 {search_recall} with {calibration:?}"
    );
    let graph: Vec<_> = queries
        .iter()
        .map(|q| {
            index
                .search_graph(q, 10, None, calibration.expansion_search)
                .unwrap()
        })
        .collect();
    assert!(recall(&truth, &graph) >= 0.98);
}

#[test]
fn calibration_follows_the_size_and_can_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = random_vectors(49, 4_000, DIMENSIONS);
    let index = open(dir.path());
    index.upsert(&entries(&vectors[..1_000], 0)).unwrap();
    assert!(index.calibration().is_none(), "below exact_below");
    index
        .upsert(&entries(&vectors[1_000..2_500], 1_000))
        .unwrap();
    assert_eq!(index.calibration().unwrap().len, 2_500);
    index
        .upsert(&entries(&vectors[2_500..3_000], 2_500))
        .unwrap();
    assert_eq!(
        index.calibration().unwrap().len,
        2_500,
        "a 20% change does not recalibrate"
    );
    index.upsert(&entries(&vectors[3_000..], 3_000)).unwrap();
    assert_eq!(index.calibration().unwrap().len, 4_000);
    drop(index);
    // Calibration can be off; an index reopened with it on calibrates at open.
    let dir = tempfile::tempdir().unwrap();
    let options = HnswOptions {
        calibrate: false,
        ..HnswOptions::default()
    };
    let index = HnswIndex::open(dir.path(), DIMENSIONS, options).unwrap();
    index.upsert(&entries(&vectors, 0)).unwrap();
    assert!(index.calibration().is_none());
    index.persist().unwrap();
    drop(index);
    let index = open(dir.path());
    assert_eq!(index.calibration().unwrap().len, 4_000);
}

/// Through the graph path (exact_below = 0), a filtered search never loses allowed results: it always
/// returns k allowed hits (where the graph comes back short, the exact fallback answers), with the graph's
/// recall, and all allowed vectors when there are fewer than k.
#[test]
fn filtered_graph_search_never_loses_results() {
    let dir = tempfile::tempdir().unwrap();
    let options = HnswOptions {
        exact_below: 0,
        calibrate: false,
        expansion_search: 512,
        ..HnswOptions::default()
    };
    let index = HnswIndex::open(dir.path(), DIMENSIONS, options).unwrap();
    let vectors = random_vectors(43, 5_000, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    let queries = random_vectors(44, 10, DIMENSIONS);
    for selectivity in [2u64, 10, 100, 250] {
        let allowed = move |document: u64| document % selectivity == 1;
        let mut truth = Vec::new();
        let mut found = Vec::new();
        for query in &queries {
            truth.push(index.search_exact(query, 10, Some(&allowed)).unwrap());
            found.push(index.search(query, 10, Some(&allowed)).unwrap());
            let hits = found.last().unwrap();
            assert_eq!(hits.len(), 10, "selectivity 1/{selectivity}");
            assert!(hits.iter().all(|h| allowed(h.document)));
        }
        let recall = recall(&truth, &found);
        assert!(
            recall >= 0.9,
            "selectivity 1/{selectivity}: recall {recall}"
        );
        // Asking for more than there are allowed vectors returns all of them.
        let allowed_count = (0..5_000u64)
            .filter(|k| allowed(data::document_of(*k)))
            .count();
        let all = index
            .search(&queries[0], allowed_count + 5, Some(&allowed))
            .unwrap();
        assert_eq!(all.len(), allowed_count);
    }
}

#[test]
fn heavy_deletion_keeps_search_correct() {
    let dir = tempfile::tempdir().unwrap();
    let options = HnswOptions {
        exact_below: 0,
        calibrate: false,
        ..HnswOptions::default()
    };
    let index = HnswIndex::open(dir.path(), DIMENSIONS, options).unwrap();
    let vectors = random_vectors(45, 3_000, DIMENSIONS);
    index.upsert(&entries(&vectors, 0)).unwrap();
    // Delete 90% of the documents (this crosses the tombstone-rebuild threshold).
    for document in 0..300u64 {
        if !document.is_multiple_of(10) {
            index.delete_document(document).unwrap();
        }
    }
    assert_eq!(index.len(), 300);
    for key in (0..3_000u64)
        .filter(|k| data::document_of(*k).is_multiple_of(10))
        .step_by(17)
    {
        let hits = index.search(&vectors[key as usize], 10, None).unwrap();
        assert_eq!(hits[0].key, key);
        assert!(hits.iter().all(|h| h.document.is_multiple_of(10)));
    }
    // Re-inserting reuses the freed space.
    index.upsert(&entries(&vectors, 0)).unwrap();
    assert_eq!(index.len(), 3_000);
    assert_eq!(
        index.search(&vectors[1_234], 1, None).unwrap()[0].key,
        1_234
    );
}

#[test]
fn concurrent_searches_and_upserts() {
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(open(dir.path()));
    let vectors = Arc::new(random_vectors(46, 4_000, DIMENSIONS));
    index.upsert(&entries(&vectors[..2_000], 0)).unwrap();
    let queries = random_vectors(47, 16, DIMENSIONS);
    std::thread::scope(|scope| {
        // More searching threads than usearch has contexts for a 2-core machine.
        for thread in 0..12 {
            let index = Arc::clone(&index);
            let queries = &queries;
            scope.spawn(move || {
                for round in 0..30 {
                    let query = &queries[(thread + round) % queries.len()];
                    let filter = |document: u64| document.is_multiple_of(3);
                    let hits = if round.is_multiple_of(2) {
                        index.search(query, 10, None).unwrap()
                    } else {
                        index.search(query, 10, Some(&filter)).unwrap()
                    };
                    assert_eq!(hits.len(), 10);
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
                }
            });
        }
        let writer_index = Arc::clone(&index);
        let vectors = Arc::clone(&vectors);
        scope.spawn(move || {
            for (batch, chunk) in vectors[2_000..].chunks(250).enumerate() {
                writer_index
                    .upsert(&entries(chunk, 2_000 + batch as u64 * 250))
                    .unwrap();
                if batch % 3 == 0 {
                    writer_index.delete_document(batch as u64).unwrap();
                }
            }
            writer_index.persist().unwrap();
        });
    });
    let expected = 4_000 - [0u64, 3, 6].len() * 10;
    assert_eq!(index.len(), expected);
    let probe = VectorEntry {
        key: 3_999,
        document: data::document_of(3_999),
        vector: &vectors[3_999],
    };
    assert_eq!(
        index.search(probe.vector, 1, None).unwrap()[0].key,
        probe.key
    );
}
