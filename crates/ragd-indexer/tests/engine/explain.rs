//! `explain`: every record's component scores and ranks, and the fused score they make.

use std::collections::BTreeSet;

use ragd_core::retrieval::{Fusion, SearchMethod};
use ragd_retrieve::Explain;

use crate::{Fixture, rrf, settings, weighted};

fn rrf_score(k: u32, e: &Explain) -> f32 {
    let k = k as f32;
    let term = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (k + r as f32));
    (term(e.vector_rank) + term(e.keyword_rank)) / (2.0 / (k + 1.0))
}

fn assert_components(e: &Explain) {
    let v = e.vector_score.expect("explain gives the vector score");
    let k = e.keyword_score.expect("explain gives the keyword score");
    assert!((0.0..=1.0).contains(&v) && (0.0..=1.0).contains(&k));
    let bm25 = e.bm25.expect("explain gives the raw BM25 score");
    let bound = e
        .bm25_upper_bound
        .expect("explain gives the BM25 upper bound");
    assert!(bm25 >= 0.0 && bound > 0.0, "bm25 {bm25}, bound {bound}");
    assert!(
        (k - (bm25 / bound).clamp(0.0, 1.0)).abs() < 1e-6,
        "keyword score {k} is not bm25 {bm25} / bound {bound}"
    );
}

#[test]
fn rrf_explain_gives_components_ranks_and_the_fused_score() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let n = corpus.documents.len() as i64;
    for k in [None, Some(10u32), Some(1)] {
        let records = f.explain(
            &corpus.dataset,
            "congestion window after packet loss",
            rrf(k, n),
        );
        assert_eq!(records.len(), n as usize);
        let k = k.unwrap_or(60);
        let mut vector_ranks = Vec::new();
        let mut keyword_ranks = Vec::new();
        for r in &records {
            let e = r.explain.as_ref().unwrap();
            assert_eq!(e.search_method, SearchMethod::HybridSearch);
            assert_eq!(e.fusion, Some(Fusion::Rrf { k }));
            assert_components(e);
            assert!(e.vector_rank.is_some() || e.keyword_rank.is_some());
            let expected = rrf_score(k, e);
            assert!(
                (r.score - expected).abs() < 1e-5,
                "rrf score {} != {expected} for ranks {:?}/{:?}",
                r.score,
                e.vector_rank,
                e.keyword_rank
            );
            vector_ranks.extend(e.vector_rank);
            keyword_ranks.extend(e.keyword_rank);
        }
        // Every document has a vector: the vector ranks are exactly 1..=n.
        vector_ranks.sort_unstable();
        assert_eq!(vector_ranks, (1..=n as usize).collect::<Vec<_>>());
        // The BM25 ranks are 1..=m for the m matching documents.
        keyword_ranks.sort_unstable();
        assert_eq!(keyword_ranks, (1..=keyword_ranks.len()).collect::<Vec<_>>());
        assert!(!keyword_ranks.is_empty());
        // First in both lists: the largest possible score.
        let top = records[0].explain.as_ref().unwrap();
        assert_eq!(corpus.short_of(&records[0]), "tcp");
        assert_eq!((top.vector_rank, top.keyword_rank), (Some(1), Some(1)));
        assert!((records[0].score - 1.0).abs() < 1e-6);
        // A document that matches no query term has no keyword rank and a zero keyword score.
        let unmatched = records
            .iter()
            .find(|r| r.explain.as_ref().unwrap().keyword_rank.is_none())
            .expect("some document matches no query term");
        let e = unmatched.explain.as_ref().unwrap();
        assert_eq!(e.keyword_score, Some(0.0));
        assert!((unmatched.score - rrf_score(k, e)).abs() < 1e-6);
    }
}

#[test]
fn weighted_explain_score_is_the_weighted_sum_of_the_components() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let n = corpus.documents.len() as i64;
    for (wv, wk) in [(0.7, 0.3), (0.2, 0.8), (1.0, 0.0), (0.0, 1.0)] {
        let records = f.explain(
            &corpus.dataset,
            "wild yeast starter for sourdough bread",
            weighted(wv, wk, n),
        );
        assert_eq!(records.len(), n as usize);
        for r in &records {
            let e = r.explain.as_ref().unwrap();
            assert_eq!(
                e.fusion,
                Some(Fusion::Weighted {
                    vector: wv as f32,
                    keyword: wk as f32
                })
            );
            assert_components(e);
            let expected =
                wv as f32 * e.vector_score.unwrap() + wk as f32 * e.keyword_score.unwrap();
            assert!(
                (r.score - expected).abs() < 1e-5,
                "{} != {wv}*{:?} + {wk}*{:?}",
                r.score,
                e.vector_score,
                e.keyword_score
            );
        }
        assert_eq!(
            corpus.short_of(&records[0]),
            "sourdough",
            "weights {wv}/{wk}"
        );
    }
}

#[test]
fn single_method_explain_ranks_follow_the_result_order() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let query = "storming of the Bastille in 1789";
    let n = corpus.documents.len() as i64;

    let semantic = f.explain(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, n),
    );
    assert_eq!(semantic.len(), n as usize);
    for (i, r) in semantic.iter().enumerate() {
        let e = r.explain.as_ref().unwrap();
        assert_eq!(e.search_method, SearchMethod::SemanticSearch);
        assert_eq!(e.fusion, None);
        if r.score > 0.0 {
            // (Records tied at a clamped 0 are the subject of `zero_score_ties_keep_the_similarity_order`.)
            assert_eq!(e.vector_rank, Some(i + 1));
        }
        assert_eq!(e.keyword_rank, None, "no BM25 list was made");
        assert_eq!(e.vector_score, Some(r.score));
        assert_components(e);
    }

    for method in [SearchMethod::FullTextSearch, SearchMethod::KeywordSearch] {
        let records = f.explain(&corpus.dataset, query, settings(method, n));
        assert!(!records.is_empty());
        assert_eq!(corpus.short_of(&records[0]), "revolution");
        for (i, r) in records.iter().enumerate() {
            let e = r.explain.as_ref().unwrap();
            assert_eq!(e.search_method, method);
            assert_eq!(e.fusion, None);
            assert_eq!(e.keyword_rank, Some(i + 1));
            assert_eq!(e.vector_rank, None, "no vector list was made");
            assert_eq!(e.keyword_score, Some(r.score));
            assert_components(e);
        }
    }

    // The same search without explain gives the same records and scores.
    let plain = f.search(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, n),
    );
    let a: Vec<(&str, f32)> = plain
        .iter()
        .map(|r| (r.segment.id.as_str(), r.score))
        .collect();
    let b: Vec<(&str, f32)> = semantic
        .iter()
        .map(|r| (r.segment.id.as_str(), r.score))
        .collect();
    assert_eq!(a, b);
}

/// Semantic scores are cosines clamped to [0, 1], so every document with a negative cosine scores 0. Among
/// those ties the result order, and which of them make the top-k, must still follow similarity (the order
/// of the vector search itself, which `explain` reports as `vector_rank`), not the chunk key.
#[test]
fn zero_score_ties_keep_the_similarity_order() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let query = "distributed version control with branches and merge conflicts";
    let n = corpus.documents.len();
    let all = f.explain(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, n as i64),
    );
    assert_eq!(all.len(), n);
    let positive = all.iter().filter(|r| r.score > 0.0).count();
    assert!(
        positive + 2 < n,
        "the query has several documents of negative cosine"
    );

    // The top-k among the tied records are the most similar ones.
    let k = positive + 2;
    let top = f.search(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, k as i64),
    );
    let got: BTreeSet<String> = corpus.shorts(&top).into_iter().collect();
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|r| r.explain.as_ref().unwrap().vector_rank.unwrap() <= k)
        .map(|r| corpus.short_of(r))
        .collect();
    assert_eq!(
        got, expected,
        "top-{k} is not the {k} most similar documents"
    );

    let ranks: Vec<usize> = all
        .iter()
        .map(|r| r.explain.as_ref().unwrap().vector_rank.unwrap())
        .collect();
    assert_eq!(
        ranks,
        (1..=n).collect::<Vec<_>>(),
        "result order disagrees with the vector ranks explain reports"
    );
}
