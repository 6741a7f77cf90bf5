//! Metadata filters (applied before top-k) and disabled documents.

use std::collections::BTreeSet;

use ragd_core::dataset::MetadataType;
use ragd_core::retrieval::SearchMethod;
use serde_json::{Value, json};

use crate::{Corpus, Fixture, rrf, settings, weighted, with_filter};

/// Creates fields `author` (string), `year` (number), `published` (time), `tag` (string) and sets values on
/// five documents; checks that each write moves the dataset version.
fn with_metadata(f: &Fixture, corpus: &mut Corpus) {
    let ds = corpus.dataset.id.clone();
    let field =
        |name: &str, t: MetadataType| f.store.create_metadata_field(&ds, name, t).unwrap().id;
    let author = field("author", MetadataType::String);
    let year = field("year", MetadataType::Number);
    let published = field("published", MetadataType::Time);
    let tag = field("tag", MetadataType::String);
    let values: Vec<(&str, Vec<(&String, Value)>)> = vec![
        (
            "photosynthesis",
            vec![
                (&author, json!("Alice Smith")),
                (&year, json!(2019)),
                (&published, json!(1_600_000_000)),
                (&tag, json!("biology")),
            ],
        ),
        (
            "tcp",
            vec![
                (&author, json!("Bob Jones")),
                (&year, json!(2021)),
                (&published, json!(1_650_000_000)),
                (&tag, json!("networking")),
            ],
        ),
        (
            "sourdough",
            vec![
                (&author, json!("Carol Smith")),
                (&year, json!("2023")),
                (&published, json!(1_700_000_000)),
            ],
        ),
        (
            "revolution",
            vec![
                (&author, json!("Dan Brown")),
                (&year, json!(2010)),
                (&published, json!(1_500_000_000)),
            ],
        ),
        ("chess", vec![(&year, json!(2024)), (&tag, json!("games"))]),
    ];
    for (short, vals) in values {
        let before = f.reload(&corpus.dataset).version;
        let vals: Vec<(String, Value)> = vals.into_iter().map(|(id, v)| (id.clone(), v)).collect();
        let version = f
            .store
            .set_document_metadata(&ds, &corpus.doc(short).id, &vals, true)
            .unwrap();
        assert!(version > before, "setting metadata moves the version");
        assert_eq!(f.reload(&corpus.dataset).version, version);
    }
    corpus.dataset = f.reload(&corpus.dataset);
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn cond(name: &str, op: &str, value: Value) -> Value {
    json!({"name": name, "comparison_operator": op, "value": value})
}

#[test]
fn every_operator_type_filters_before_top_k() {
    let f = Fixture::temporary();
    let mut corpus = f.full_corpus();
    with_metadata(&f, &mut corpus);
    let everyone: BTreeSet<String> = corpus.documents.keys().cloned().collect();
    let without = |names: &[&str]| -> BTreeSet<String> {
        everyone.difference(&set(names)).cloned().collect()
    };

    let cases: Vec<(Value, BTreeSet<String>)> = vec![
        // string
        (
            json!({"conditions": [cond("author", "contains", json!("Smith"))]}),
            set(&["photosynthesis", "sourdough"]),
        ),
        (
            json!({"conditions": [cond("author", "is", json!("Bob Jones"))]}),
            set(&["tcp"]),
        ),
        (
            json!({"conditions": [cond("author", "is not", json!("Bob Jones"))]}),
            set(&["photosynthesis", "sourdough", "revolution"]),
        ),
        (
            json!({"conditions": [cond("author", "in", json!(["Dan Brown", "Bob Jones"]))]}),
            set(&["tcp", "revolution"]),
        ),
        (
            json!({"conditions": [cond("author", "in", json!("Dan Brown, Carol Smith"))]}),
            set(&["sourdough", "revolution"]),
        ),
        (
            json!({"conditions": [cond("author", "not in", json!(["Dan Brown"]))]}),
            set(&["photosynthesis", "tcp", "sourdough"]),
        ),
        (
            json!({"conditions": [cond("author", "start with", json!("Carol"))]}),
            set(&["sourdough"]),
        ),
        (
            json!({"conditions": [cond("author", "end with", json!("Jones"))]}),
            set(&["tcp"]),
        ),
        (
            json!({"conditions": [cond("author", "not contains", json!("Smith"))]}),
            set(&["tcp", "revolution"]),
        ),
        // number (Unicode and ASCII spellings)
        (
            json!({"conditions": [cond("year", "≥", json!(2021))]}),
            set(&["tcp", "sourdough", "chess"]),
        ),
        (
            json!({"conditions": [cond("year", ">=", json!(2021))]}),
            set(&["tcp", "sourdough", "chess"]),
        ),
        (
            json!({"conditions": [cond("year", "<", json!(2019))]}),
            set(&["revolution"]),
        ),
        (
            json!({"conditions": [cond("year", "=", json!(2023))]}),
            set(&["sourdough"]),
        ),
        (
            json!({"conditions": [cond("year", "≠", json!(2023))]}),
            set(&["photosynthesis", "tcp", "revolution", "chess"]),
        ),
        (
            json!({"conditions": [cond("year", "≤", json!("2019"))]}),
            set(&["photosynthesis", "revolution"]),
        ),
        (
            json!({"conditions": [cond("year", ">", json!(2023.5))]}),
            set(&["chess"]),
        ),
        // time
        (
            json!({"conditions": [cond("published", "before", json!(1_600_000_000))]}),
            set(&["revolution"]),
        ),
        (
            json!({"conditions": [cond("published", "after", json!(1_650_000_000))]}),
            set(&["sourdough"]),
        ),
        (
            json!({"conditions": [cond("published", "after", json!(1_000_000_000))]}),
            set(&["photosynthesis", "tcp", "sourdough", "revolution"]),
        ),
        // empty / not empty (a document without a value is empty)
        (
            json!({"conditions": [cond("tag", "not empty", Value::Null)]}),
            set(&["photosynthesis", "tcp", "chess"]),
        ),
        (
            json!({"conditions": [cond("tag", "empty", Value::Null)]}),
            without(&["photosynthesis", "tcp", "chess"]),
        ),
        (
            json!({"conditions": [{"name": "author", "comparison_operator": "empty"}]}),
            without(&["photosynthesis", "tcp", "sourdough", "revolution"]),
        ),
        // logical operators
        (
            json!({"logical_operator": "or", "conditions": [
            cond("author", "is", json!("Bob Jones")), cond("year", "=", json!(2024))]}),
            set(&["tcp", "chess"]),
        ),
        (
            json!({"logical_operator": "and", "conditions": [
            cond("author", "contains", json!("Smith")), cond("year", "≥", json!(2020))]}),
            set(&["sourdough"]),
        ),
        (
            json!({"conditions": [
            cond("author", "contains", json!("Smith")), cond("tag", "is", json!("biology"))]}),
            set(&["photosynthesis"]),
        ),
        (
            json!({"logical_operator": "or", "conditions": [
            cond("tag", "is", json!("games")), cond("published", "before", json!(1_550_000_000))]}),
            set(&["chess", "revolution"]),
        ),
        // built-in fields
        (
            json!({"conditions": [cond("document_name", "is", json!("chess.txt"))]}),
            set(&["chess"]),
        ),
        (
            json!({"conditions": [cond("document_name", "start with", json!("b"))]}),
            set(&["bees", "black_hole"]),
        ),
        (
            json!({"logical_operator": "or", "conditions": [
            cond("document_name", "end with", json!("hole.txt")), cond("author", "is", json!("Dan Brown"))]}),
            set(&["black_hole", "revolution"]),
        ),
        (
            json!({"conditions": [cond("source", "contains", json!("/corpus/git"))]}),
            set(&["git"]),
        ),
        // matches nothing
        (
            json!({"conditions": [cond("author", "is", json!("Nobody"))]}),
            set(&[]),
        ),
        (
            json!({"conditions": [cond("no_such_field", "is", json!("x"))]}),
            set(&[]),
        ),
        // no conditions: no filter
        (
            json!({"logical_operator": "or", "conditions": []}),
            everyone.clone(),
        ),
    ];
    let n = corpus.documents.len() as i64;
    for (filter, expected) in cases {
        for s in [
            settings(SearchMethod::SemanticSearch, n),
            weighted(0.7, 0.3, n),
            rrf(None, n),
        ] {
            let method = s.method;
            let records = f.search(
                &corpus.dataset,
                "how do green plants turn sunlight into glucose",
                with_filter(s, filter.clone()),
            );
            let got: BTreeSet<String> = corpus.shorts(&records).into_iter().collect();
            assert_eq!(got, expected, "{method} with {filter}");
            assert_eq!(records.len(), expected.len(), "one record per document");
        }
    }
}

#[test]
fn a_low_ranking_document_that_alone_passes_the_filter_is_returned_at_top_k_1() {
    let f = Fixture::temporary();
    let mut corpus = f.full_corpus();
    with_metadata(&f, &mut corpus);
    let query = "how do green plants turn sunlight into glucose";
    let unfiltered = f.search(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, corpus.documents.len() as i64),
    );
    let rank_of_chess = corpus
        .shorts(&unfiltered)
        .iter()
        .position(|s| s == "chess")
        .unwrap();
    assert!(rank_of_chess > 2, "chess is not relevant to photosynthesis");

    let only_chess = json!({"conditions": [cond("year", "=", json!(2024))]});
    for s in [
        settings(SearchMethod::SemanticSearch, 1),
        weighted(0.7, 0.3, 1),
        rrf(None, 1),
    ] {
        let method = s.method;
        let records = f.search(&corpus.dataset, query, with_filter(s, only_chess.clone()));
        assert_eq!(corpus.shorts(&records), vec!["chess"], "{method}");
    }
    // BM25 alone: chess has none of the query's terms, so nothing (but not an error).
    let records = f.search(
        &corpus.dataset,
        query,
        with_filter(
            settings(SearchMethod::FullTextSearch, 1),
            only_chess.clone(),
        ),
    );
    assert!(records.is_empty());
    // A lexical query that chess does match, behind many better-matching documents.
    let records = f.search(
        &corpus.dataset,
        "fresh water from distant springs first",
        with_filter(settings(SearchMethod::FullTextSearch, 1), only_chess),
    );
    assert_eq!(corpus.shorts(&records), vec!["chess"]);

    // Changing a value moves the version and the next search sees it (no stale filter cache).
    let year = f
        .store
        .metadata_fields(&corpus.dataset.id)
        .unwrap()
        .into_iter()
        .find(|(field, _)| field.name == "year")
        .unwrap()
        .0
        .id;
    let before = f.reload(&corpus.dataset).version;
    let version = f
        .store
        .set_document_metadata(
            &corpus.dataset.id,
            &corpus.doc("chess").id,
            &[(year, json!(2000))],
            true,
        )
        .unwrap();
    assert!(version > before);
    let records = f.search(
        &corpus.dataset,
        query,
        with_filter(
            settings(SearchMethod::SemanticSearch, 1),
            json!({"conditions": [cond("year", "=", json!(2024))]}),
        ),
    );
    assert!(records.is_empty(), "{:?}", corpus.shorts(&records));
    let retrieval = f
        .try_search(
            &[&corpus.dataset.id],
            query,
            settings(SearchMethod::SemanticSearch, 1),
            false,
        )
        .unwrap();
    assert_eq!(
        retrieval.versions,
        vec![(corpus.dataset.id.clone(), version)]
    );
}

#[test]
fn disabled_documents_disappear_and_come_back_when_enabled() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let n = corpus.documents.len() as i64;
    let query = "congestion window after packet loss";
    let methods = || {
        vec![
            settings(SearchMethod::SemanticSearch, n),
            settings(SearchMethod::FullTextSearch, n),
            weighted(0.7, 0.3, n),
            rrf(None, n),
        ]
    };
    for s in methods() {
        let records = f.search(&corpus.dataset, query, s);
        assert_eq!(corpus.short_of(&records[0]), "tcp");
    }
    let before = f.reload(&corpus.dataset).version;
    let disabled = vec![corpus.doc("tcp").id.clone(), corpus.doc("git").id.clone()];
    let version = f
        .store
        .set_documents_enabled(&corpus.dataset.id, &disabled, false, "tester")
        .unwrap();
    assert!(version > before);
    for s in methods() {
        let method = s.method;
        let records = f.search(&corpus.dataset, query, s);
        let shorts = corpus.shorts(&records);
        assert!(
            !shorts.contains(&"tcp".to_owned()) && !shorts.contains(&"git".to_owned()),
            "{method}: {shorts:?}"
        );
        if method != SearchMethod::FullTextSearch {
            assert_eq!(
                records.len(),
                n as usize - 2,
                "{method}: the others fill top-k"
            );
        }
    }
    // At top-k 1 the best remaining document fills the slot.
    for s in methods() {
        let mut s = s;
        s.top_k = 1;
        let method = s.method;
        let records = f.search(&corpus.dataset, query, s);
        if method == SearchMethod::FullTextSearch {
            assert!(
                records.is_empty(),
                "no other document has the query's terms"
            );
            continue;
        }
        assert_eq!(records.len(), 1, "{method}");
        assert_ne!(corpus.short_of(&records[0]), "tcp", "{method}");
    }
    // With a filter that only the disabled document passes: nothing.
    let records = f.search(
        &corpus.dataset,
        query,
        with_filter(
            settings(SearchMethod::SemanticSearch, 3),
            json!({"conditions": [cond("document_name", "is", json!("tcp.txt"))]}),
        ),
    );
    assert!(records.is_empty());

    let version = f
        .store
        .set_documents_enabled(&corpus.dataset.id, &disabled[..1], true, "tester")
        .unwrap();
    assert!(version > before);
    for s in methods() {
        let method = s.method;
        let records = f.search(&corpus.dataset, query, s);
        let shorts = corpus.shorts(&records);
        assert_eq!(shorts[0], "tcp", "{method}: re-enabled document is back");
        assert!(
            !shorts.contains(&"git".to_owned()),
            "{method}: git is still disabled"
        );
    }
    // Archived documents are not searchable either.
    f.store
        .set_documents_archived(&corpus.dataset.id, &disabled[..1], true)
        .unwrap();
    let records = f.search(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, n),
    );
    assert!(!corpus.shorts(&records).contains(&"tcp".to_owned()));
}

#[test]
fn deleted_documents_are_never_returned_even_with_their_parts_still_indexed() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let query = "congestion window after packet loss";
    let before = f.reload(&corpus.dataset).version;
    assert!(
        f.store
            .delete_document(&corpus.dataset.id, &corpus.doc("tcp").id)
            .unwrap()
    );
    let dataset = f.reload(&corpus.dataset);
    assert!(dataset.version > before);
    // The indexes still hold the document's chunk: retrieval drops it at hydration and fills top-k.
    let indexes = f.indexes.get(&dataset).unwrap();
    assert_eq!(indexes.vectors.document_len(corpus.doc("tcp").key), 1);
    for s in [
        settings(SearchMethod::SemanticSearch, 3),
        settings(SearchMethod::FullTextSearch, 3),
        weighted(0.7, 0.3, 3),
        rrf(None, 3),
    ] {
        let method = s.method;
        let records = f.search(&dataset, query, s);
        assert!(
            records
                .iter()
                .all(|r| r.document.id != corpus.doc("tcp").id),
            "{method}"
        );
        if method != SearchMethod::FullTextSearch {
            assert_eq!(records.len(), 3, "{method}");
        }
    }
}
