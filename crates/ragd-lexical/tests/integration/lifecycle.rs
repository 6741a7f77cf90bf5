//! Staging, commit, rollback, deletion, reopening and the analyzer recorded in the index.

use ragd_lexical::{Analyzer, LexicalError, LexicalIndex};

use crate::support::{add_committed, entries_of, keys, temp_index};

#[test]
fn committed_entries_are_found() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(
        &index,
        &[
            (1, 10, "Rust is a systems programming language"),
            (2, 10, "Python is dynamic"),
        ],
    );
    assert_eq!(index.num_entries(), 2);
    let hits = index.search("programming in rust", 10, None).unwrap();
    assert_eq!(keys(&hits), [1]);
    assert_eq!(hits[0].document, 10);
    assert!(hits[0].score > 0.0);
}

#[test]
fn uncommitted_entries_are_invisible_and_rollback_drops_them() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(1, 1, "committed apples")]);
    index.add(&entries_of(&[(2, 2, "staged apples")])).unwrap();
    assert_eq!(keys(&index.search("apples", 10, None).unwrap()), [1]);
    assert_eq!(index.num_entries(), 1);

    index.rollback().unwrap();
    index.commit().unwrap();
    assert_eq!(keys(&index.search("apples", 10, None).unwrap()), [1]);

    // The writer still works after a rollback.
    add_committed(&index, &[(3, 3, "more apples")]);
    assert_eq!(index.num_entries(), 2);
}

#[test]
fn delete_document_removes_all_its_entries_at_commit() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(
        &index,
        &[(1, 7, "red fox"), (2, 7, "brown fox"), (3, 8, "grey fox")],
    );
    assert_eq!(index.document_entries(7).unwrap(), 2);
    assert_eq!(index.document_keys(7).unwrap(), [1, 2]);

    index.delete_document(7).unwrap();
    assert_eq!(
        index.search("fox", 10, None).unwrap().len(),
        3,
        "deletion is staged until commit"
    );
    index.commit().unwrap();
    assert_eq!(keys(&index.search("fox", 10, None).unwrap()), [3]);
    assert_eq!(index.num_entries(), 1);
    assert_eq!(index.document_entries(7).unwrap(), 0);
    assert!(index.document_keys(7).unwrap().is_empty());
    assert_eq!(index.document_keys(8).unwrap(), [3]);
}

#[test]
fn delete_keys_removes_only_those_entries_at_commit() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(
        &index,
        &[
            (1, 7, "red fox"),
            (2, 7, "brown fox"),
            (3, 8, "grey fox"),
            (4, 8, "arctic fox"),
        ],
    );
    // Keys of two documents, an absent key and a duplicate.
    index.delete_keys(&[2, 4, 99, 4]).unwrap();
    index.delete_keys(&[]).unwrap();
    assert_eq!(
        index.search("fox", 10, None).unwrap().len(),
        4,
        "deletion is staged until commit"
    );
    index.commit().unwrap();
    assert_eq!(keys(&index.search("fox", 10, None).unwrap()), [1, 3]);
    assert_eq!(index.num_entries(), 2);
    assert_eq!(index.document_keys(7).unwrap(), [1]);
    assert_eq!(index.document_keys(8).unwrap(), [3]);
    assert_eq!(index.score_keys("brown fox", &[2, 1]).unwrap()[0], None);
    assert!(index.search("brown", 10, None).unwrap().is_empty());
    assert!(index.search("arctic", 10, None).unwrap().is_empty());
}

#[test]
fn delete_keys_then_add_in_one_commit_replaces_the_entry() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(1, 5, "old text about whales"), (2, 5, "krill")]);
    index.delete_keys(&[1]).unwrap();
    index
        .add(&entries_of(&[(1, 5, "new text about dolphins")]))
        .unwrap();
    index.commit().unwrap();
    assert!(index.search("whales", 10, None).unwrap().is_empty());
    assert_eq!(keys(&index.search("dolphins", 10, None).unwrap()), [1]);
    assert_eq!(index.document_keys(5).unwrap(), [1, 2]);
    // An add staged before the deletion is deleted by it.
    index.add(&entries_of(&[(3, 5, "staged squid")])).unwrap();
    index.delete_keys(&[3]).unwrap();
    index.commit().unwrap();
    assert!(index.search("squid", 10, None).unwrap().is_empty());
}

#[test]
fn rolled_back_key_deletions_are_dropped_and_committed_ones_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lexical");
    {
        let index = LexicalIndex::open_or_create(&path, Analyzer::English).unwrap();
        add_committed(
            &index,
            &[
                (1, 1, "durable words"),
                (2, 1, "doomed words"),
                (3, 2, "kept words"),
            ],
        );
        index.delete_keys(&[3]).unwrap();
        index.rollback().unwrap();
        index.delete_keys(&[2]).unwrap();
        index.commit().unwrap();
        index.delete_keys(&[1]).unwrap();
        // Never committed.
    }
    let index = LexicalIndex::open_or_create(&path, Analyzer::English).unwrap();
    assert_eq!(keys(&index.search("words", 10, None).unwrap()), [1, 3]);
    assert_eq!(index.document_keys(1).unwrap(), [1]);
}

#[test]
fn reindexing_a_document_replaces_its_entries() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(1, 5, "old text about whales")]);
    index.delete_document(5).unwrap();
    index
        .add(&entries_of(&[(2, 5, "new text about dolphins")]))
        .unwrap();
    index.commit().unwrap();
    assert!(index.search("whales", 10, None).unwrap().is_empty());
    assert_eq!(keys(&index.search("dolphins", 10, None).unwrap()), [2]);
    assert_eq!(index.document_keys(5).unwrap(), [2]);
}

#[test]
fn reopening_keeps_committed_data_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lexical");
    {
        let index = LexicalIndex::open_or_create(&path, Analyzer::English).unwrap();
        add_committed(
            &index,
            &[(1, 1, "durable words"), (2, 2, "more durable words")],
        );
        index
            .add(&entries_of(&[(3, 3, "never committed durable")]))
            .unwrap();
    }
    let index = LexicalIndex::open_or_create(&path, Analyzer::English).unwrap();
    assert_eq!(index.analyzer(), Analyzer::English);
    assert_eq!(index.num_entries(), 2);
    assert_eq!(keys(&index.search("durable", 10, None).unwrap()), [1, 2]);
}

#[test]
fn reopening_with_another_analyzer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lexical");
    drop(LexicalIndex::open_or_create(&path, Analyzer::Cjk).unwrap());
    let error = LexicalIndex::open_or_create(&path, Analyzer::English).unwrap_err();
    assert!(
        matches!(
            error,
            LexicalError::AnalyzerMismatch {
                found: Analyzer::Cjk,
                requested: Analyzer::English,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        LexicalIndex::open_or_create(&path, Analyzer::Cjk)
            .unwrap()
            .analyzer(),
        Analyzer::Cjk
    );
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused() {
    let (dir, _index) = temp_index(Analyzer::English);
    let error =
        LexicalIndex::open_or_create(&dir.path().join("lexical"), Analyzer::English).unwrap_err();
    assert!(matches!(error, LexicalError::Locked { .. }), "{error:?}");
}

#[test]
fn query_syntax_is_plain_text() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(1, 1, "alpha beta"), (2, 2, "gamma")]);
    for query in [
        "a:b (c\" AND -x",
        "text:alpha^2 [1 TO 5] {x} ~ * ? \\ / ! && || NOT",
        "\"unclosed",
        "(((",
        "alpha:",
        "",
        "   ",
        "\u{0}\u{FFFF}",
    ] {
        index
            .search(query, 10, None)
            .unwrap_or_else(|error| panic!("{query:?}: {error}"));
        index.score_keys(query, &[1, 2]).unwrap();
        index.score_upper_bound(query).unwrap();
    }
    assert_eq!(
        keys(&index.search("alpha) (gamma:", 10, None).unwrap()).len(),
        2
    );
}

#[test]
fn stop_words_and_empty_queries_give_no_hits() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(&index, &[(1, 1, "the cat and the hat")]);
    assert!(index.search("the", 10, None).unwrap().is_empty());
    assert!(index.search("", 10, None).unwrap().is_empty());
    assert!(index.search("?!", 10, None).unwrap().is_empty());
    assert!(index.search("cat", 0, None).unwrap().is_empty());
    assert_eq!(index.score_upper_bound("the").unwrap(), 0.0);
}

#[test]
fn stemming_matches_word_forms() {
    let (_dir, index) = temp_index(Analyzer::English);
    add_committed(
        &index,
        &[
            (1, 1, "she runs every day"),
            (2, 2, "a good run"),
            (3, 3, "swimming pool"),
        ],
    );
    assert_eq!(keys(&index.search("running", 10, None).unwrap()).len(), 2);
    assert_eq!(keys(&index.search("SWIM", 10, None).unwrap()), [3]);
}

#[test]
fn empty_index_searches_cleanly() {
    let (_dir, index) = temp_index(Analyzer::English);
    assert_eq!(index.num_entries(), 0);
    assert!(index.search("anything", 10, None).unwrap().is_empty());
    assert_eq!(index.score_keys("anything", &[1]).unwrap(), [None]);
    assert_eq!(index.score_upper_bound("anything").unwrap(), 0.0);
    assert_eq!(index.document_entries(1).unwrap(), 0);
}
