//! Chunk-level edits (the segment API's adds, edits, disables and deletes), document removal and dataset
//! removal, checked in both indexes directly and again after reopening them from disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use ragd_core::dataset::{DocForm, IndexingTechnique, NewDataset};
use ragd_indexer::{IndexError, IndexerOptions, Progress};
use ragd_retrieve::DatasetIndexes;

use crate::{Fixture, corpus_text, model};

/// A key far above anything the store hands out in these tests.
const NEW: u64 = 1 << 40;
const OTHER: u64 = (1 << 40) + 1;

const MARMALADE: &str = "Zorblax marmalade: simmer bitter Seville oranges with sugar and lemon juice \
                         until the jam sets, then pour it into sterilised jars.";
const MARMALADE_QUERY: &str = "how to make orange marmalade jam";
const PENGUINS: &str = "Emperor penguins huddle together through the Antarctic winter while the males \
                        keep the egg warm on their feet.";
const PENGUINS_QUERY: &str = "penguins surviving the Antarctic winter";

fn lexical_keys(indexes: &DatasetIndexes, query: &str) -> Vec<u64> {
    let hits = indexes.lexical.search(query, 10, None).unwrap();
    hits.iter().map(|h| h.key).collect()
}

/// The key and document of the best vector hit for a query.
fn best_vector(indexes: &DatasetIndexes, query: &str) -> (u64, u64) {
    let query = model().embedder.embed_query(query).unwrap();
    let hits = indexes.vectors.search(&query, 1, None).unwrap();
    (hits[0].key, hits[0].document)
}

/// The cosine of a key's stored vector with the embedding of `text` as a document.
fn vector_score_of(indexes: &DatasetIndexes, key: u64, text: &str) -> Option<f32> {
    let vector = model().embedder.embed_documents(&[text]).unwrap().remove(0);
    indexes.vectors.score_keys(&vector, &[key]).unwrap()[0]
}

#[test]
fn chunk_edits_reach_both_indexes_durably() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path(), IndexerOptions::default());
    let corpus = f.corpus_dataset("edits", &["tcp", "git", "bees"]);
    let dataset = corpus.dataset.clone();
    let tcp = corpus.doc("tcp").clone();
    let git = corpus.doc("git").clone();
    let indexes = f.indexes.get(&dataset).unwrap();
    let tcp_keys = indexes.lexical.document_keys(tcp.key).unwrap();
    assert_eq!(tcp_keys.len(), 1);
    assert_eq!(indexes.vectors.document_keys(tcp.key), tcp_keys);

    // Add a segment to tcp.
    f.indexer
        .apply_chunk_changes(&dataset, tcp.key, &[(NEW, MARMALADE)], &[])
        .unwrap();
    assert_eq!(lexical_keys(&indexes, "zorblax marmalade"), [NEW]);
    assert_eq!(best_vector(&indexes, MARMALADE_QUERY), (NEW, tcp.key));
    let mut expected = tcp_keys.clone();
    expected.push(NEW);
    assert_eq!(indexes.lexical.document_keys(tcp.key).unwrap(), expected);
    assert_eq!(indexes.vectors.document_keys(tcp.key), expected);

    // Edit its content: the old text is gone from both indexes, the new one is found.
    f.indexer
        .apply_chunk_changes(&dataset, tcp.key, &[(NEW, PENGUINS)], &[])
        .unwrap();
    assert!(lexical_keys(&indexes, "zorblax marmalade").is_empty());
    assert_eq!(lexical_keys(&indexes, "emperor penguins"), [NEW]);
    assert_eq!(best_vector(&indexes, PENGUINS_QUERY), (NEW, tcp.key));
    let now = vector_score_of(&indexes, NEW, PENGUINS).unwrap();
    assert!(now > 0.999, "the stored vector is the new text's ({now})");
    let old = vector_score_of(&indexes, NEW, MARMALADE).unwrap();
    assert!(old < 0.8, "the old text's vector is replaced ({old})");
    assert_eq!(indexes.lexical.num_entries(), 4);
    assert_eq!(indexes.vectors.len(), 4);

    // Remove one chunk and add another in one call; the last text of a repeated key wins.
    f.indexer
        .apply_chunk_changes(
            &dataset,
            git.key,
            &[(OTHER, "placeholder text"), (OTHER, MARMALADE)],
            &[tcp_keys[0]],
        )
        .unwrap();
    assert!(lexical_keys(&indexes, "congestion window").is_empty());
    assert!(lexical_keys(&indexes, "placeholder").is_empty());
    assert_eq!(lexical_keys(&indexes, "zorblax"), [OTHER]);
    assert_eq!(best_vector(&indexes, MARMALADE_QUERY), (OTHER, git.key));
    assert_eq!(indexes.lexical.document_keys(tcp.key).unwrap(), [NEW]);
    assert_eq!(indexes.vectors.document_keys(tcp.key), [NEW]);
    assert_eq!(
        vector_score_of(&indexes, tcp_keys[0], corpus_text("tcp")),
        None
    );

    // Everything above is durable.
    drop(indexes);
    drop(f);
    let f = Fixture::open(dir.path(), IndexerOptions::default());
    let indexes = f.indexes.get(&dataset).unwrap();
    assert!(lexical_keys(&indexes, "congestion window").is_empty());
    assert_eq!(lexical_keys(&indexes, "emperor penguins"), [NEW]);
    assert_eq!(lexical_keys(&indexes, "zorblax"), [OTHER]);
    assert_eq!(best_vector(&indexes, PENGUINS_QUERY), (NEW, tcp.key));
    assert_eq!(best_vector(&indexes, MARMALADE_QUERY), (OTHER, git.key));
    assert!(vector_score_of(&indexes, NEW, PENGUINS).unwrap() > 0.999);

    // Disable (or delete) a segment: it leaves both indexes.
    f.indexer
        .apply_chunk_changes(&dataset, tcp.key, &[], &[NEW])
        .unwrap();
    assert!(lexical_keys(&indexes, "emperor penguins").is_empty());
    assert_eq!(vector_score_of(&indexes, NEW, PENGUINS), None);
    assert!(indexes.lexical.document_keys(tcp.key).unwrap().is_empty());
    assert!(indexes.vectors.document_keys(tcp.key).is_empty());
    // Removing what is not there, and an empty change, are no-ops.
    f.indexer
        .apply_chunk_changes(&dataset, tcp.key, &[], &[NEW, 12_345_678])
        .unwrap();
    f.indexer
        .apply_chunk_changes(&dataset, tcp.key, &[], &[])
        .unwrap();

    // Enable it again: the same key comes back.
    f.indexer
        .apply_chunk_changes(&dataset, tcp.key, &[(NEW, PENGUINS)], &[])
        .unwrap();
    assert_eq!(lexical_keys(&indexes, "emperor penguins"), [NEW]);

    // Removing a document takes every one of its chunks out of both indexes, and only its own.
    let git_keys = indexes.lexical.document_keys(git.key).unwrap();
    assert_eq!(git_keys.len(), 2, "the corpus segment and OTHER");
    f.indexer.remove_document(&dataset, git.key).unwrap();
    assert!(indexes.lexical.document_keys(git.key).unwrap().is_empty());
    assert!(indexes.vectors.document_keys(git.key).is_empty());
    for query in ["zorblax", "distributed version control branches"] {
        assert!(lexical_keys(&indexes, query).is_empty(), "{query}");
    }
    for key in git_keys {
        assert_eq!(vector_score_of(&indexes, key, MARMALADE), None);
    }
    assert_ne!(best_vector(&indexes, MARMALADE_QUERY).1, git.key);
    assert_eq!(lexical_keys(&indexes, "emperor penguins"), [NEW]);
    assert!(!lexical_keys(&indexes, "honeybees nectar pollen").is_empty());
    f.indexer.remove_document(&dataset, git.key).unwrap();

    drop(indexes);
    drop(f);
    let f = Fixture::open(dir.path(), IndexerOptions::default());
    let indexes = f.indexes.get(&dataset).unwrap();
    assert!(indexes.lexical.document_keys(git.key).unwrap().is_empty());
    assert!(indexes.vectors.document_keys(git.key).is_empty());
    assert!(lexical_keys(&indexes, "zorblax").is_empty());
    assert_eq!(lexical_keys(&indexes, "emperor penguins"), [NEW]);
    assert_eq!(best_vector(&indexes, PENGUINS_QUERY), (NEW, tcp.key));
    let bees = corpus.doc("bees");
    assert_eq!(indexes.lexical.num_entries(), 2);
    assert_eq!(
        indexes.vectors.document_keys(bees.key),
        indexes.lexical.document_keys(bees.key).unwrap()
    );
}

#[test]
fn an_economy_dataset_gets_bm25_only() {
    let f = Fixture::temporary();
    let mut new = NewDataset::named("economy");
    new.indexing_technique = Some(IndexingTechnique::Economy);
    new.lexical_analyzer = "english".to_owned();
    new.created_by = "tester".to_owned();
    let dataset = f.store.create_dataset(&new).unwrap();
    let bees = f.add_document(
        &dataset,
        "bees.txt",
        corpus_text("bees"),
        DocForm::TextModel,
        None,
    );
    let report = f.index(&dataset, std::slice::from_ref(&bees));
    assert_eq!(report.completed.len(), 1);
    assert_eq!(report.embedded_chunks, 0);
    let indexes = f.indexes.get(&dataset).unwrap();

    f.indexer
        .apply_chunk_changes(&dataset, bees.key, &[(NEW, MARMALADE)], &[])
        .unwrap();
    assert_eq!(lexical_keys(&indexes, "zorblax"), [NEW]);
    assert!(indexes.vectors.is_empty());
    f.indexer
        .apply_chunk_changes(&dataset, bees.key, &[(NEW, PENGUINS)], &[])
        .unwrap();
    assert!(lexical_keys(&indexes, "zorblax").is_empty());
    assert_eq!(lexical_keys(&indexes, "penguins"), [NEW]);
    f.indexer.remove_document(&dataset, bees.key).unwrap();
    assert_eq!(indexes.lexical.num_entries(), 0);
    assert!(indexes.vectors.is_empty());
}

#[test]
fn removing_a_dataset_deletes_its_indexes_and_refuses_later_writes() {
    let f = Fixture::temporary();
    let gone = f.corpus_dataset("gone", &["tcp", "git"]);
    let kept = f.corpus_dataset("kept", &["bees"]);
    let dir = f.indexes.root().join(&gone.dataset.id);
    assert!(dir.join("lexical").is_dir() && dir.join("vectors").is_dir());
    // A retrieval in flight may still hold the indexes while the dataset goes.
    let held = f.indexes.get(&gone.dataset).unwrap();

    assert!(f.store.delete_dataset(&gone.dataset.id).unwrap());
    f.indexer.remove_dataset(&gone.dataset.id).unwrap();
    assert!(!dir.exists());
    assert!(!lexical_keys(&held, "congestion window").is_empty());
    drop(held);

    let error = f
        .indexer
        .apply_chunk_changes(&gone.dataset, 1, &[(NEW, MARMALADE)], &[])
        .unwrap_err();
    assert!(
        matches!(error, IndexError::DatasetNotFound(ref id) if *id == gone.dataset.id),
        "{error:?}"
    );
    let error = f
        .indexer
        .remove_document(&gone.dataset, gone.doc("tcp").key)
        .unwrap_err();
    assert!(matches!(error, IndexError::DatasetNotFound(_)), "{error:?}");
    assert!(
        !dir.exists(),
        "a refused write does not recreate the indexes"
    );
    f.indexer.remove_dataset(&gone.dataset.id).unwrap();

    // The other dataset is untouched and still writable.
    let indexes = f.indexes.get(&kept.dataset).unwrap();
    assert!(!lexical_keys(&indexes, "honeybees nectar").is_empty());
    f.indexer
        .apply_chunk_changes(
            &kept.dataset,
            kept.doc("bees").key,
            &[(NEW, MARMALADE)],
            &[],
        )
        .unwrap();
    assert_eq!(lexical_keys(&indexes, "zorblax"), [NEW]);
}

/// An edit that arrives while a long import holds the dataset's write lock gets it at the import's next
/// group (an early checkpoint), not at the end; both end up durable and consistent.
#[test]
fn an_edit_during_an_import_waits_for_one_group_only() {
    let dir = tempfile::tempdir().unwrap();
    let options = IndexerOptions {
        group_documents: 1,
        checkpoint_interval: Duration::from_secs(3600),
        ..IndexerOptions::default()
    };
    let f = Fixture::open(dir.path(), options);
    let seeded = f.corpus_dataset("busy", &["tcp"]);
    let dataset = seeded.dataset.clone();
    // A document the store does not know, so that `verify` checks the import alone.
    let elsewhere = 1 << 41;
    let shorts = ["git", "bees", "chess", "coffee", "volcano", "vaccine"];
    let documents: Vec<_> = shorts
        .iter()
        .map(|short| {
            f.add_document(
                &dataset,
                &format!("{short}.txt"),
                corpus_text(short),
                DocForm::TextModel,
                None,
            )
        })
        .collect();

    let log = Mutex::new(Vec::<String>::new());
    let (start_edit, edit_may_start) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let (f, dataset, log) = (&f, &dataset, &log);
        let editor = scope.spawn(move || {
            edit_may_start.recv().unwrap();
            f.indexer
                .apply_chunk_changes(dataset, elsewhere, &[(NEW, MARMALADE)], &[])
                .unwrap();
            log.lock().unwrap().push("edit".to_owned());
        });
        let prepared = AtomicUsize::new(0);
        let report = f
            .indexer
            .index_documents(&dataset.id, &documents, &|p| match p {
                // The first group is staged and holds the lock: let the edit queue up behind it.
                Progress::Prepared { .. } if prepared.fetch_add(1, Ordering::SeqCst) == 1 => {
                    start_edit.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                }
                Progress::Completed { documents, .. } => {
                    log.lock().unwrap().push(format!("completed {documents}"));
                }
                _ => {}
            })
            .unwrap();
        assert_eq!(report.completed.len(), shorts.len());
        editor.join().unwrap();
    });
    let log = log.into_inner().unwrap();
    let edit = log.iter().position(|e| e == "edit").unwrap();
    assert!(
        edit < log.len() - 1 && log[..edit].iter().any(|e| e.starts_with("completed")),
        "the edit ran after an early checkpoint and before the import ended: {log:?}"
    );

    let dataset = f.reload(&dataset);
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_eq!(verify.completed, 1 + shorts.len());
    drop(f);
    let f = Fixture::open(dir.path(), IndexerOptions::default());
    let indexes = f.indexes.get(&dataset).unwrap();
    assert_eq!(lexical_keys(&indexes, "zorblax"), [NEW]);
    assert_eq!(best_vector(&indexes, MARMALADE_QUERY), (NEW, elsewhere));
    assert!(f.indexer.verify(&dataset).unwrap().problems.is_empty());
}
