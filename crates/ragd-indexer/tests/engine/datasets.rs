//! Several datasets in one request, request errors, parent-child datasets, CJK datasets.

use std::collections::{BTreeSet, HashMap};

use ragd_core::dataset::DocForm;
use ragd_core::retrieval::SearchMethod;
use ragd_retrieve::RetrieveError;

use crate::{CORPUS, Fixture, assert_well_formed, rrf, settings, weighted};

#[test]
fn several_datasets_rank_together_with_the_right_dataset_ids() {
    let f = Fixture::temporary();
    let (first, second) = CORPUS.split_at(7);
    let a = f.corpus_dataset("first", &first.iter().map(|(s, _)| *s).collect::<Vec<_>>());
    let b = f.corpus_dataset(
        "second",
        &second.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
    );
    let dataset_of: HashMap<String, String> = a
        .documents
        .values()
        .chain(b.documents.values())
        .map(|d| (d.id.clone(), d.dataset_id.clone()))
        .collect();
    let n = CORPUS.len();
    let ids = [a.dataset.id.as_str(), b.dataset.id.as_str()];
    let reversed = [b.dataset.id.as_str(), a.dataset.id.as_str()];

    for (query, expected_dataset) in [
        (
            "distributed version control with branches and merge conflicts",
            &b.dataset.id,
        ),
        ("congestion window after packet loss", &a.dataset.id),
    ] {
        for s in [
            settings(SearchMethod::SemanticSearch, n as i64),
            settings(SearchMethod::FullTextSearch, n as i64),
            weighted(0.7, 0.3, n as i64),
            rrf(None, n as i64),
        ] {
            let method = s.method;
            let retrieval = f.try_search(&ids, query, s.clone(), false).unwrap();
            assert_well_formed(&retrieval.records, n);
            let records = &retrieval.records;
            assert_eq!(
                &records[0].dataset_id, expected_dataset,
                "{method}: {query}"
            );
            for r in records {
                assert_eq!(dataset_of[&r.document.id], r.dataset_id);
            }
            let datasets: BTreeSet<&str> = records.iter().map(|r| r.dataset_id.as_str()).collect();
            if method != SearchMethod::FullTextSearch {
                assert_eq!(
                    records.len(),
                    n,
                    "{method}: every document of both datasets"
                );
                assert_eq!(datasets.len(), 2, "{method}: records from both datasets");
            }
            // One ranking: the order of the dataset ids does not matter.
            let other = f.try_search(&reversed, query, s.clone(), false).unwrap();
            // (Records of equal score may come in either order; they are compared as sets.)
            let canonical = |records: &[ragd_retrieve::Record]| {
                let mut v: Vec<(f32, String)> = records
                    .iter()
                    .map(|r| (r.score, r.segment.id.clone()))
                    .collect();
                v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                v
            };
            assert_eq!(
                canonical(records),
                canonical(&other.records),
                "{method}: {query}"
            );
            assert_eq!(records[0].segment.id, other.records[0].segment.id);
            assert_eq!(retrieval.versions.len(), 2);
            // A dataset named twice is searched once.
            let twice = f
                .try_search(&[ids[0], ids[1], ids[0]], query, s, false)
                .unwrap();
            assert_well_formed(&twice.records, n);
            assert_eq!(twice.records.len(), records.len());
        }
    }
    // Top-k applies to the combined ranking.
    let retrieval = f
        .try_search(
            &ids,
            "bees and honey",
            settings(SearchMethod::SemanticSearch, 3),
            false,
        )
        .unwrap();
    assert_eq!(retrieval.records.len(), 3);
}

#[test]
fn request_errors() {
    let f = Fixture::temporary();
    let corpus = f.corpus_dataset("small", &["tcp", "git"]);
    let s = settings(SearchMethod::SemanticSearch, 3);
    let err = f
        .try_search(&["no-such-dataset"], "tcp", s.clone(), false)
        .unwrap_err();
    assert!(
        matches!(&err, RetrieveError::DatasetNotFound(id) if id == "no-such-dataset"),
        "{err}"
    );
    let err = f
        .try_search(&[&corpus.dataset.id, "missing"], "tcp", s.clone(), false)
        .unwrap_err();
    assert!(
        matches!(&err, RetrieveError::DatasetNotFound(id) if id == "missing"),
        "{err}"
    );
    for query in ["", "   ", "\n\t"] {
        let err = f
            .try_search(&[&corpus.dataset.id], query, s.clone(), false)
            .unwrap_err();
        assert!(matches!(err, RetrieveError::Invalid(_)), "{query:?}: {err}");
    }
    let err = f.try_search(&[], "tcp", s, false).unwrap_err();
    assert!(matches!(err, RetrieveError::Invalid(_)), "{err}");
}

const HIERARCHICAL_RULE: &str = r#"{"mode":"hierarchical","rules":{"pre_processing_rules":[],
    "segmentation":{"separator":"\n\n","max_tokens":200},"parent_mode":"paragraph",
    "subchunk_segmentation":{"separator":"\n","max_tokens":50}}}"#;

const NATURE: &str = "Coral reefs are built by colonies of tiny animals called polyps.\n\
The polyps secrete calcium carbonate skeletons that pile up over centuries.\n\
Reefs shelter a quarter of all marine species despite covering a tiny area of the ocean.\n\n\
Glaciers are rivers of ice that flow slowly downhill under their own weight.\n\
They carve U-shaped valleys and carry boulders far from their origin.\n\
Most of the fresh water on Earth is frozen in glaciers and ice sheets.\n\n\
Deserts receive less than 250 millimetres of rain per year.\n\
Cacti store water in thick stems and have spines instead of leaves.\n\
Camels survive for days without drinking thanks to their efficient kidneys.";

const MACHINES: &str = "Lighthouses warn ships away from rocks with a rotating beam of light.\n\
The Fresnel lens concentrates the lamp's light into a beam visible for miles.\n\n\
Steam engines burn coal to boil water, and the steam pushes a piston.\n\
James Watt added a separate condenser that made engines far more efficient.\n\n\
Windmills grind grain with sails that turn in the wind.\n\
Dutch windmills also pumped water out of low-lying polders.";

#[test]
fn hierarchical_results_are_parent_segments_with_their_matching_children() {
    let f = Fixture::temporary();
    let dataset = f.dataset("parent-child", "english", DocForm::HierarchicalModel);
    let rule: serde_json::Value = serde_json::from_str(HIERARCHICAL_RULE).unwrap();
    let docs = vec![
        f.add_document(
            &dataset,
            "nature.txt",
            NATURE,
            DocForm::HierarchicalModel,
            Some(rule.clone()),
        ),
        f.add_document(
            &dataset,
            "machines.txt",
            MACHINES,
            DocForm::HierarchicalModel,
            Some(rule),
        ),
    ];
    let report = f.index(&dataset, &docs);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.segments, 6, "one parent per paragraph");
    assert_eq!(
        report.embedded_chunks, 15,
        "children are what gets embedded"
    );
    let dataset = f.reload(&dataset);
    let verify = f.indexer.verify(&dataset).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);

    for s in [
        settings(SearchMethod::SemanticSearch, 3),
        settings(SearchMethod::FullTextSearch, 3),
        weighted(0.7, 0.3, 3),
        rrf(None, 3),
    ] {
        let method = s.method;
        let records = f.explain(
            &dataset,
            "camels survive without drinking water in the desert",
            s,
        );
        assert!(!records.is_empty(), "{method}");
        let top = &records[0];
        assert!(
            top.segment.content.starts_with("Deserts receive"),
            "{method}: {}",
            top.segment.content
        );
        assert!(
            top.child_chunks[0]
                .chunk
                .content
                .starts_with("Camels survive"),
            "{method}: best child {}",
            top.child_chunks[0].chunk.content
        );
        for r in &records {
            assert!(
                !r.child_chunks.is_empty(),
                "{method}: a parent without children"
            );
            // The record's score is its best child's; children best first, each once.
            assert_eq!(r.child_chunks[0].score, r.score, "{method}");
            let mut seen = BTreeSet::new();
            for (i, c) in r.child_chunks.iter().enumerate() {
                assert!(seen.insert(c.chunk.id.clone()));
                assert!(
                    r.segment.content.contains(c.chunk.content.as_str()),
                    "{method}: child {:?} is not part of its parent",
                    c.chunk.content
                );
                if i > 0 {
                    assert!(r.child_chunks[i - 1].score >= c.score);
                }
            }
            let stored = f.store.child_chunks(&r.segment.id).unwrap();
            assert!(
                r.child_chunks
                    .iter()
                    .all(|c| stored.iter().any(|s| s.id == c.chunk.id))
            );
        }
    }
    // Hierarchical is parent-first: with a large top-k, each parent appears once.
    let records = f.search(
        &dataset,
        "water",
        settings(SearchMethod::SemanticSearch, 100),
    );
    assert_eq!(records.len(), 6);
}

#[test]
fn a_cjk_dataset_finds_chinese_documents_by_full_text() {
    let f = Fixture::temporary();
    let dataset = f.dataset("中文", "cjk", DocForm::TextModel);
    let texts = [
        (
            "changcheng.txt",
            "长城是中国古代修建的军事防御工程，东起山海关，西至嘉峪关，绵延数千公里。",
        ),
        (
            "panda.txt",
            "大熊猫生活在四川的山区竹林中，主要以竹子为食，是中国的国宝。",
        ),
        (
            "photosynthesis.txt",
            "光合作用是绿色植物利用阳光，把二氧化碳和水转化为葡萄糖并释放氧气的过程。",
        ),
        (
            "tea.txt",
            "绿茶在中国有悠久的历史，龙井茶产于杭州西湖，以色绿、香郁、味甘、形美著称。",
        ),
        ("tcp.txt", crate::corpus_text("tcp")),
    ];
    let docs: Vec<_> = texts
        .iter()
        .map(|(name, text)| f.add_document(&dataset, name, text, DocForm::TextModel, None))
        .collect();
    let report = f.index(&dataset, &docs);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let dataset = f.reload(&dataset);
    for (query, expected) in [
        ("长城", "changcheng.txt"),
        ("嘉峪关在哪里", "changcheng.txt"),
        ("熊猫吃竹子", "panda.txt"),
        ("植物怎样利用阳光", "photosynthesis.txt"),
        ("龙井", "tea.txt"),
        ("西湖龙井茶", "tea.txt"),
        ("congestion window", "tcp.txt"),
    ] {
        for method in [SearchMethod::FullTextSearch, SearchMethod::KeywordSearch] {
            let records = f.search(&dataset, query, settings(method, 3));
            assert!(!records.is_empty(), "{method}: nothing for {query}");
            assert_eq!(records[0].document.name, expected, "{method}: {query}");
        }
        let records = f.search(&dataset, query, weighted(0.3, 0.7, 3));
        assert_eq!(records[0].document.name, expected, "hybrid: {query}");
    }
    // A word that is in no document finds nothing.
    let records = f.search(&dataset, "火山", settings(SearchMethod::FullTextSearch, 3));
    assert!(
        records.is_empty(),
        "{:?}",
        records.iter().map(|r| &r.document.name).collect::<Vec<_>>()
    );
}
