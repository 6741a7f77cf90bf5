//! The pipeline itself: failures per document, re-indexing, versions, crash recovery, verification.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use ragd_core::dataset::{DocForm, Document, IndexingStatus, JobState, NewSegment};
use ragd_core::retrieval::SearchMethod;
use ragd_indexer::{IndexerOptions, Progress};
use ragd_lexical::LexicalEntry;
use ragd_vector::VectorEntry;
use serde_json::json;

use crate::{Fixture, corpus_text, rrf, settings, sha256_hex, weighted};

/// Small groups and a checkpoint after every group, to exercise the group and checkpoint loop.
fn eager() -> IndexerOptions {
    IndexerOptions {
        embed_batch: 2,
        group_documents: 2,
        checkpoint_interval: Duration::ZERO,
    }
}

fn all_methods(top_k: i64) -> Vec<ragd_core::retrieval::RetrievalSettings> {
    vec![
        settings(SearchMethod::SemanticSearch, top_k),
        settings(SearchMethod::FullTextSearch, top_k),
        weighted(0.7, 0.3, top_k),
        rrf(None, top_k),
    ]
}

#[test]
fn bad_documents_fail_with_a_reason_and_the_others_complete() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path(), eager());
    let dataset = f.dataset("mixed", "english", DocForm::TextModel);
    let version_before = dataset.version;
    let good = |name: &str| {
        f.add_document(
            &dataset,
            &format!("{name}.txt"),
            corpus_text(name),
            DocForm::TextModel,
            None,
        )
    };
    let photosynthesis = good("photosynthesis");
    let no_pre_processing = f.add_document(
        &dataset,
        "no-pre-processing.txt",
        corpus_text("volcano"),
        DocForm::TextModel,
        Some(json!({"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 100}}})),
    );
    let tcp = good("tcp");
    let blank = f.add_document(
        &dataset,
        "blank.txt",
        "   \n\t  \n\n   ",
        DocForm::TextModel,
        None,
    );
    let unknown_mode = f.add_document(
        &dataset,
        "unknown-mode.txt",
        corpus_text("bees"),
        DocForm::TextModel,
        Some(json!({"mode": "sideways"})),
    );
    let form_mismatch = f.add_document(
        &dataset,
        "form-mismatch.txt",
        corpus_text("chess"),
        DocForm::HierarchicalModel,
        None,
    );
    let too_small = f.add_document(
        &dataset,
        "too-small.txt",
        corpus_text("coffee"),
        DocForm::TextModel,
        Some(
            json!({"mode": "custom", "rules": {"pre_processing_rules": [],
            "segmentation": {"separator": "\n", "max_tokens": 10}}}),
        ),
    );
    let qa = f.add_document(
        &dataset,
        "qa.txt",
        corpus_text("git"),
        DocForm::QaModel,
        None,
    );
    let git = good("git");
    let documents = vec![
        photosynthesis.clone(),
        no_pre_processing.clone(),
        tcp.clone(),
        blank.clone(),
        unknown_mode.clone(),
        form_mismatch.clone(),
        too_small.clone(),
        qa.clone(),
        git.clone(),
    ];
    let events = Mutex::new(Vec::new());
    let report = f
        .indexer
        .index_documents(&dataset.id, &documents, &|p| {
            let event = match p {
                Progress::Prepared { document, chunks } => {
                    format!("prepared {} {chunks}", document.name)
                }
                Progress::Embedded { chunks } => format!("embedded {chunks}"),
                Progress::Completed { documents, version } => {
                    format!("completed {documents} v{version}")
                }
                Progress::Failed { document, reason } => {
                    format!("failed {}: {reason}", document.name)
                }
            };
            events.lock().unwrap().push(event);
        })
        .unwrap();

    let completed: BTreeSet<&str> = report.completed.iter().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [&photosynthesis, &tcp, &git]
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(completed, expected);
    let failed: BTreeSet<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
    let bad = [
        &no_pre_processing,
        &blank,
        &unknown_mode,
        &form_mismatch,
        &too_small,
        &qa,
    ];
    let expected: BTreeSet<&str> = bad.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(failed, expected);
    for (id, reason) in &report.failed {
        assert!(!reason.trim().is_empty());
        let d = f.store.document(&dataset.id, id).unwrap().unwrap();
        assert_eq!(d.indexing_status, IndexingStatus::Error, "{}", d.name);
        assert_eq!(d.error.as_deref(), Some(reason.as_str()), "{}", d.name);
        assert!(d.stopped_at.is_some());
        let job = f.store.job_for_document(id).unwrap().unwrap();
        assert_eq!(job.state, JobState::Failed, "{}", d.name);
    }
    let reason_of = |d: &Document| {
        report
            .failed
            .iter()
            .find(|(id, _)| *id == d.id)
            .map(|(_, r)| r.to_lowercase())
            .unwrap()
    };
    assert!(reason_of(&no_pre_processing).contains("pre_processing_rules"));
    assert!(reason_of(&blank).contains("no text"));
    assert!(reason_of(&unknown_mode).contains("process_rule"));
    assert!(reason_of(&form_mismatch).contains("hierarchical"));
    assert!(reason_of(&too_small).contains("between"));
    assert!(reason_of(&qa).contains("qa_model"));
    for d in [&photosynthesis, &tcp, &git] {
        let d = f.document(d);
        assert_eq!(d.indexing_status, IndexingStatus::Completed, "{}", d.name);
        assert!(d.error.is_none() && d.completed_at.is_some());
        assert!(d.segment_count >= 1 && d.tokens > 0 && d.word_count > 0);
        assert_eq!(d.completed_segments, d.segment_count);
        let job = f.store.job_for_document(&d.id).unwrap().unwrap();
        assert_eq!(job.state, JobState::Done);
    }
    assert_eq!(report.segments, 3);
    assert_eq!(report.embedded_chunks, 3);

    let events = events.into_inner().unwrap();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("failed ")).count(),
        6,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e.starts_with("prepared ")).count(),
        3,
        "{events:?}"
    );
    let checkpoints = events
        .iter()
        .filter(|e| e.starts_with("completed "))
        .count();
    assert!(
        checkpoints >= 2,
        "a checkpoint per group with work: {events:?}"
    );

    let dataset = f.reload(&dataset);
    assert!(
        dataset.version > version_before,
        "indexing moves the version"
    );
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_eq!(
        (
            verify.documents,
            verify.completed,
            verify.errors,
            verify.unfinished
        ),
        (9, 3, 6, 0)
    );

    // Failed documents are never retrieved.
    for s in all_methods(20) {
        let method = s.method;
        let records = f.search(
            &dataset,
            "magma volcano eruptions honeybees chess coffee",
            s,
        );
        for r in &records {
            assert!(
                [&photosynthesis.id, &tcp.id, &git.id].contains(&&r.document.id),
                "{method}: {}",
                r.document.name
            );
        }
    }
}

#[test]
fn reindexing_replaces_a_documents_chunks() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let dataset = corpus.dataset.clone();
    let indexes = f.indexes.get(&dataset).unwrap();
    let tcp = f.document(corpus.doc("tcp"));
    let keys_before = f.store.document_index_keys(&tcp.id).unwrap();
    let total_before = indexes.lexical.num_entries();
    assert_eq!(total_before as usize, indexes.vectors.len());

    for round in 0..2 {
        let version_before = f.reload(&dataset).version;
        let current = f.document(&tcp);
        let report = f.index(&dataset, std::slice::from_ref(&current));
        assert_eq!(report.completed, vec![tcp.id.clone()], "round {round}");
        let dataset = f.reload(&dataset);
        assert!(
            dataset.version > version_before,
            "round {round}: version moves"
        );
        assert_eq!(f.document(&tcp).indexing_status, IndexingStatus::Completed);

        let keys = f.store.document_index_keys(&tcp.id).unwrap();
        assert_eq!(keys.len(), keys_before.len());
        assert!(
            keys.iter().all(|k| !keys_before.contains(k)),
            "keys are never reused"
        );
        assert_eq!(indexes.lexical.document_keys(tcp.key).unwrap(), keys);
        assert_eq!(indexes.vectors.document_keys(tcp.key), keys);
        assert_eq!(
            indexes.lexical.num_entries(),
            total_before,
            "no leftover entries"
        );
        assert_eq!(
            indexes.vectors.len(),
            total_before as usize,
            "no leftover vectors"
        );
        let verify = f.indexer.verify(&dataset).unwrap();
        assert!(verify.problems.is_empty(), "{:?}", verify.problems);

        for s in all_methods(20) {
            let method = s.method;
            let records = f.search(&dataset, "congestion window after packet loss", s);
            assert_eq!(records[0].document.id, tcp.id, "{method}");
            let hits = records.iter().filter(|r| r.document.id == tcp.id).count();
            assert_eq!(
                hits, 1,
                "{method}: the document once, with its current chunks"
            );
            assert!(keys.contains(&records[0].segment.key));
        }
    }
}

#[test]
fn the_same_document_twice_in_one_call_ends_consistent() {
    let f = Fixture::temporary();
    let dataset = f.dataset("twice", "english", DocForm::TextModel);
    let d = f.add_document(
        &dataset,
        "tcp.txt",
        corpus_text("tcp"),
        DocForm::TextModel,
        None,
    );
    let other = f.add_document(
        &dataset,
        "git.txt",
        corpus_text("git"),
        DocForm::TextModel,
        None,
    );
    let report = f.index(&dataset, &[d.clone(), other.clone(), d.clone()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let dataset = f.reload(&dataset);
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_eq!(verify.completed, 2);
    let indexes = f.indexes.get(&dataset).unwrap();
    let keys = f.store.document_index_keys(&d.id).unwrap();
    assert_eq!(indexes.lexical.document_keys(d.key).unwrap(), keys);
    assert_eq!(indexes.vectors.document_keys(d.key), keys);
    let records = f.search(
        &dataset,
        "congestion window",
        settings(SearchMethod::SemanticSearch, 10),
    );
    assert_eq!(records.len(), 2);
}

#[test]
fn recovery_removes_the_partial_parts_of_an_interrupted_document() {
    let dir = tempfile::tempdir().unwrap();
    let query = "magma rises through cracks in the crust";
    let (dataset, done, crashed, partial_keys) = {
        let f = Fixture::open(dir.path(), IndexerOptions::default());
        let dataset = f.dataset("crashy", "english", DocForm::TextModel);
        let done = f.add_document(
            &dataset,
            "tcp.txt",
            corpus_text("tcp"),
            DocForm::TextModel,
            None,
        );
        let report = f.index(&dataset, std::slice::from_ref(&done));
        assert_eq!(report.completed.len(), 1);
        let crashed = f.add_document(
            &dataset,
            "volcano.txt",
            corpus_text("volcano"),
            DocForm::TextModel,
            None,
        );
        // A worker claims the job and gets as far as durable parts in both indexes, then dies before
        // completing the document.
        let (job, claimed) = f
            .store
            .claim_job()
            .unwrap()
            .expect("the volcano job is queued");
        assert_eq!(claimed.id, crashed.id);
        assert_eq!(job.state, JobState::Running);
        f.store
            .set_indexing_status(&crashed.id, IndexingStatus::Indexing, None)
            .unwrap();
        let text = corpus_text("volcano");
        let keys = f
            .store
            .replace_chunks(
                &crashed.id,
                &[NewSegment {
                    position: 1,
                    content: text.to_owned(),
                    answer: None,
                    word_count: text.chars().count() as u32,
                    tokens: 50,
                    keywords: Vec::new(),
                    hash: sha256_hex(text),
                    children: Vec::new(),
                }],
            )
            .unwrap();
        let key = keys[0].segment;
        let indexes = f.indexes.get(&dataset).unwrap();
        indexes
            .lexical
            .add(&[LexicalEntry {
                key,
                document: crashed.key,
                text,
            }])
            .unwrap();
        indexes.lexical.commit().unwrap();
        let vector = crate::model().embedder.embed_documents(&[text]).unwrap();
        indexes
            .vectors
            .upsert(&[VectorEntry {
                key,
                document: crashed.key,
                vector: &vector[0],
            }])
            .unwrap();
        indexes.vectors.persist().unwrap();
        // Even before recovery, the unfinished document is never retrieved.
        let dataset = f.reload(&dataset);
        for s in all_methods(10) {
            let records = f.search(&dataset, query, s);
            assert!(records.iter().all(|r| r.document.id != crashed.id));
        }
        (dataset, done, crashed, vec![key])
    };

    // Restart: everything reopened from disk.
    let f = Fixture::open(dir.path(), IndexerOptions::default());
    let indexes = f.indexes.get(&dataset).unwrap();
    assert_eq!(
        indexes.lexical.document_entries(crashed.key).unwrap(),
        1,
        "partial postings are durable"
    );
    assert_eq!(
        indexes.vectors.document_len(crashed.key),
        1,
        "partial vectors are durable"
    );
    assert_eq!(
        f.document(&crashed).indexing_status,
        IndexingStatus::Indexing
    );

    let report = f.indexer.recover().unwrap();
    assert_eq!(report.requeued, vec![crashed.id.clone()]);
    let d = f.document(&crashed);
    assert_eq!(d.indexing_status, IndexingStatus::Waiting);
    assert!(d.error.is_none() && d.processing_started_at.is_none());
    let job = f.store.job_for_document(&crashed.id).unwrap().unwrap();
    assert_eq!(
        job.state,
        JobState::Queued,
        "the interrupted job is queued again"
    );
    assert_eq!(indexes.lexical.document_entries(crashed.key).unwrap(), 0);
    assert_eq!(indexes.vectors.document_len(crashed.key), 0);
    assert!(indexes.vectors.document_keys(crashed.key).is_empty());
    let scores = indexes
        .vectors
        .score_keys(&vec![0.1; indexes.vectors.dimensions()], &partial_keys)
        .unwrap();
    assert_eq!(scores, vec![None]);
    // The completed document is untouched.
    let done_keys = f.store.document_index_keys(&done.id).unwrap();
    assert_eq!(indexes.lexical.document_keys(done.key).unwrap(), done_keys);
    assert_eq!(indexes.vectors.document_keys(done.key), done_keys);
    let dataset = f.reload(&dataset);
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_eq!((verify.completed, verify.unfinished), (1, 1));
    for s in all_methods(10) {
        let records = f.search(&dataset, query, s);
        assert!(records.iter().all(|r| r.document.id != crashed.id));
    }
    // Recovery is idempotent.
    assert!(f.indexer.recover().unwrap().requeued.is_empty());

    // Indexing it again completes it.
    let report = f.index(&dataset, &[f.document(&crashed)]);
    assert_eq!(report.completed, vec![crashed.id.clone()]);
    assert_eq!(
        f.document(&crashed).indexing_status,
        IndexingStatus::Completed
    );
    let dataset = f.reload(&dataset);
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_eq!(verify.completed, 2);
    for s in all_methods(10) {
        let method = s.method;
        let records = f.search(&dataset, query, s);
        assert_eq!(records[0].document.id, crashed.id, "{method}");
    }
    drop(indexes);
    drop(f);

    // And it survives another restart.
    let f = Fixture::open(dir.path(), IndexerOptions::default());
    assert!(f.indexer.recover().unwrap().requeued.is_empty());
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    let records = f.search(&dataset, query, settings(SearchMethod::FullTextSearch, 3));
    assert_eq!(records[0].document.id, crashed.id);
}

#[test]
fn verify_detects_parts_missing_from_an_index() {
    let f = Fixture::temporary();
    let corpus = f.corpus_dataset("verify", &["tcp", "git", "bees"]);
    let dataset = corpus.dataset.clone();
    let indexes = f.indexes.get(&dataset).unwrap();
    assert!(f.indexer.verify(&dataset).unwrap().problems.is_empty());

    let tcp = corpus.doc("tcp");
    let removed = indexes.vectors.delete_document(tcp.key).unwrap();
    assert_eq!(removed, 1);
    let report = f.indexer.verify(&dataset).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains(&tcp.id) && report.problems[0].contains("vector"),
        "{:?}",
        report.problems
    );

    let git = corpus.doc("git");
    indexes.lexical.delete_document(git.key).unwrap();
    indexes.lexical.commit().unwrap();
    let report = f.indexer.verify(&dataset).unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&git.id) && p.contains("BM25")),
        "{:?}",
        report.problems
    );

    // A stray vector under a completed document is a problem too.
    let bees = corpus.doc("bees");
    let vector = vec![0.5f32; indexes.vectors.dimensions()];
    indexes
        .vectors
        .upsert(&[VectorEntry {
            key: u64::MAX - 7,
            document: bees.key,
            vector: &vector,
        }])
        .unwrap();
    let report = f.indexer.verify(&dataset).unwrap();
    assert_eq!(report.problems.len(), 3, "{:?}", report.problems);
    assert!(
        report.problems.iter().any(|p| p.contains(&bees.id)),
        "{:?}",
        report.problems
    );

    // Re-indexing repairs all three.
    let docs: Vec<_> = ["tcp", "git", "bees"]
        .iter()
        .map(|s| f.document(corpus.doc(s)))
        .collect();
    let report = f.index(&dataset, &docs);
    assert_eq!(report.completed.len(), 3);
    let report = f.indexer.verify(&f.reload(&dataset)).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_document_of_another_dataset_is_never_published_in_the_wrong_one() {
    let f = Fixture::temporary();
    let a = f.corpus_dataset("a", &["tcp"]);
    let b = f.dataset("b", "english", DocForm::TextModel);
    let foreign = f.add_document(&b, "git.txt", corpus_text("git"), DocForm::TextModel, None);
    // The call is refused before anything is written, and nothing inconsistent is published.
    let err = f
        .indexer
        .index_documents(
            &a.dataset.id,
            std::slice::from_ref(&foreign),
            &crate::no_progress,
        )
        .unwrap_err();
    assert!(
        matches!(err, ragd_indexer::IndexError::WrongDataset { .. }),
        "{err}"
    );
    let dataset_a = f.reload(&a.dataset);
    let verify = f.indexer.verify(&dataset_a).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    for s in all_methods(10) {
        let records = f.search(&dataset_a, "distributed version control git", s);
        assert!(records.iter().all(|r| r.document.id != foreign.id));
    }
    let dataset_b = f.reload(&b);
    let verify = f.indexer.verify(&dataset_b).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_ne!(
        f.document(&foreign).indexing_status,
        IndexingStatus::Completed
    );
}

const RIVERS: &str = "The Nile flows north through eleven countries and empties into the Mediterranean Sea.\n\n\
Glaciers are rivers of ice that flow slowly downhill under their own weight, carving valleys.\n\n\
The Amazon carries more water than any other river, draining a rainforest basin in South America.";

#[test]
fn a_custom_rule_gives_one_segment_per_paragraph_and_reindexing_keeps_them_consistent() {
    let f = Fixture::temporary();
    let dataset = f.dataset("custom", "english", DocForm::TextModel);
    let rule = json!({"mode": "custom", "rules": {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": true},
                                 {"id": "remove_urls_emails", "enabled": false}],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 60, "chunk_overlap": 0}}});
    let rivers = f.add_document(
        &dataset,
        "rivers.txt",
        RIVERS,
        DocForm::TextModel,
        Some(rule),
    );
    let tcp = f.add_document(
        &dataset,
        "tcp.txt",
        corpus_text("tcp"),
        DocForm::TextModel,
        None,
    );
    let report = f.index(&dataset, &[rivers.clone(), tcp.clone()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.segments, 4,
        "three paragraphs and one automatic segment"
    );
    assert_eq!(f.document(&rivers).segment_count, 3);

    for round in 0..2 {
        let dataset = f.reload(&dataset);
        let verify = f.indexer.verify(&dataset).unwrap();
        assert!(
            verify.problems.is_empty(),
            "round {round}: {:?}",
            verify.problems
        );
        for s in all_methods(10) {
            let method = s.method;
            let records = f.search(&dataset, "rivers of ice carving valleys", s);
            assert_eq!(records[0].document.id, rivers.id, "{method}");
            assert_eq!(records[0].segment.position, 2, "{method}");
            assert!(
                records[0]
                    .segment
                    .content
                    .starts_with("Glaciers are rivers of ice")
            );
            assert!(
                !records[0].segment.content.contains("Nile"),
                "one paragraph per segment"
            );
            let of_rivers = records
                .iter()
                .filter(|r| r.document.id == rivers.id)
                .count();
            if method == SearchMethod::SemanticSearch {
                assert_eq!(of_rivers, 3, "every paragraph is its own record");
                assert_eq!(records.len(), 4);
            }
        }
        let report = f.index(&dataset, &[f.document(&rivers)]);
        assert_eq!(report.completed, vec![rivers.id.clone()]);
        assert_eq!(report.segments, 3);
    }
}
