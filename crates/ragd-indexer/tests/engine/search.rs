//! Each search method over the English corpus: ranking, score bounds, top-k, thresholds, keyword-only
//! matches.

use ragd_core::retrieval::{RetrievalModel, SearchMethod};

use crate::{Fixture, TOPICAL, rrf, settings, weighted, with_threshold};

fn every_method(top_k: i64) -> Vec<(&'static str, ragd_core::retrieval::RetrievalSettings)> {
    vec![
        ("semantic", settings(SearchMethod::SemanticSearch, top_k)),
        ("full_text", settings(SearchMethod::FullTextSearch, top_k)),
        ("keyword", settings(SearchMethod::KeywordSearch, top_k)),
        ("hybrid weighted", weighted(0.6, 0.4, top_k)),
        (
            "hybrid default weights",
            settings(SearchMethod::HybridSearch, top_k),
        ),
        ("hybrid rrf", rrf(None, top_k)),
    ]
}

#[test]
fn every_method_ranks_the_relevant_document_first() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    for (query, expected) in TOPICAL {
        for (name, s) in every_method(3) {
            let records = f.search(&corpus.dataset, query, s);
            assert!(!records.is_empty(), "{name}: nothing for {query:?}");
            assert_eq!(
                corpus.short_of(&records[0]),
                *expected,
                "{name}: {query:?} ranked {:?}",
                corpus.shorts(&records)
            );
            assert!(records.len() <= 3, "{name}: top_k 3 gave {}", records.len());
            if name != "full_text" && name != "keyword" {
                // Every document has a vector: vector-based methods always fill top-k.
                assert_eq!(records.len(), 3, "{name}: {query:?}");
            }
            assert!(records.iter().all(|r| r.explain.is_none()));
        }
    }
}

#[test]
fn top_k_bounds_the_count_and_never_truncates_below_it() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let n = corpus.documents.len();
    for top_k in [1usize, 2, 5, n, 100] {
        for (name, s) in every_method(top_k as i64) {
            let lexical = name == "full_text" || name == "keyword";
            let records = f.search(&corpus.dataset, "how does the congestion window grow", s);
            if lexical {
                assert!(records.len() <= top_k.min(n));
            } else {
                assert_eq!(records.len(), top_k.min(n), "{name} with top_k {top_k}");
            }
        }
    }
}

#[test]
fn lexical_methods_return_only_matching_documents() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    for method in [SearchMethod::FullTextSearch, SearchMethod::KeywordSearch] {
        let records = f.search(
            &corpus.dataset,
            "Robespierre monarchy",
            settings(method, 10),
        );
        assert_eq!(corpus.shorts(&records), vec!["revolution"], "{method}");
        assert!(records[0].score > 0.0);
        // Nothing matches: no records, not an error.
        let records = f.search(&corpus.dataset, "zyzzyva quux", settings(method, 10));
        assert!(
            records.is_empty(),
            "{method}: {:?}",
            corpus.shorts(&records)
        );
        // Only stop words: no terms, no records.
        let records = f.search(&corpus.dataset, "the of and", settings(method, 10));
        assert!(records.is_empty(), "{method}");
    }
}

#[test]
fn score_threshold_applies_to_the_final_fused_score() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let query = "how do green plants turn sunlight into glucose";
    let n = corpus.documents.len() as i64;

    // Weighted hybrid: find a record whose best component is above a threshold its fused score is below.
    let baseline = f.explain(&corpus.dataset, query, weighted(0.7, 0.3, n));
    assert_eq!(baseline.len(), n as usize);
    let best = baseline[0].score;
    let (victim, threshold) = baseline
        .iter()
        .skip(1)
        .find_map(|r| {
            let e = r.explain.as_ref().unwrap();
            let component = e.vector_score.unwrap().max(e.keyword_score.unwrap());
            let top = component.min(best);
            (r.score < top).then(|| (r.segment.id.clone(), (r.score + top) / 2.0))
        })
        .expect("some record has a component score above its fused score");
    let mut model = RetrievalModel::for_method(SearchMethod::HybridSearch);
    model.top_k = n;
    model.weights = Some(ragd_core::retrieval::Weights {
        weight_type: None,
        vector_setting: ragd_core::retrieval::VectorSetting {
            vector_weight: 0.7,
            embedding_provider_name: None,
            embedding_model_name: None,
        },
        keyword_setting: ragd_core::retrieval::KeywordSetting {
            keyword_weight: 0.3,
        },
    });
    let s = with_threshold(model.clone(), f64::from(threshold));
    let kept = f.search(&corpus.dataset, query, s);
    let expected: Vec<&str> = baseline
        .iter()
        .filter(|r| r.score >= threshold)
        .map(|r| r.segment.id.as_str())
        .collect();
    let got: Vec<&str> = kept.iter().map(|r| r.segment.id.as_str()).collect();
    assert_eq!(got, expected, "threshold {threshold}");
    assert!(!got.is_empty(), "the best record is above the threshold");
    assert!(
        !got.contains(&victim.as_str()),
        "dropped by its fused score"
    );
    assert!(kept.iter().all(|r| r.score >= threshold));
    assert_eq!(corpus.short_of(&kept[0]), "photosynthesis");

    // Threshold not enabled: ignored even when set.
    model.score_threshold_enabled = false;
    model.score_threshold = Some(0.99);
    let s = model.resolve().unwrap();
    assert_eq!(f.search(&corpus.dataset, query, s).len(), n as usize);

    // Semantic: a threshold between the first two scores keeps the first only; above the best, nothing.
    let semantic = f.search(
        &corpus.dataset,
        query,
        settings(SearchMethod::SemanticSearch, n),
    );
    assert!(semantic[0].score > semantic[1].score);
    let between = f64::from((semantic[0].score + semantic[1].score) / 2.0);
    let s = with_threshold(
        RetrievalModel::for_method(SearchMethod::SemanticSearch),
        between,
    );
    let kept = f.search(&corpus.dataset, query, s);
    assert_eq!(corpus.shorts(&kept), vec!["photosynthesis"]);
    let above = f64::from(semantic[0].score) + 0.01;
    let s = with_threshold(
        RetrievalModel::for_method(SearchMethod::SemanticSearch),
        above,
    );
    assert!(f.search(&corpus.dataset, query, s).is_empty());

    // RRF: scores are rank-based; a threshold of exactly the best score keeps it.
    let fused = f.search(&corpus.dataset, query, rrf(None, n));
    let mut model = RetrievalModel::for_method(SearchMethod::HybridSearch);
    model.fusion = Some(ragd_core::retrieval::FusionMethod::Rrf);
    model.top_k = n;
    let s = with_threshold(model, f64::from(fused[0].score));
    let kept = f.search(&corpus.dataset, query, s);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|r| r.score >= fused[0].score));
    assert_eq!(kept[0].segment.id, fused[0].segment.id);
}

#[test]
fn a_rare_keyword_only_matches_lexically_and_hybrid_scores_it_with_both_components() {
    let f = Fixture::temporary();
    let corpus = f.full_corpus();
    let query = "XR-7734";
    for method in [SearchMethod::FullTextSearch, SearchMethod::KeywordSearch] {
        let records = f.search(&corpus.dataset, query, settings(method, 5));
        assert_eq!(corpus.shorts(&records), vec!["warranty"], "{method}");
    }

    let (wv, wk) = (0.7f32, 0.3f32);
    for explain in [false, true] {
        let s = weighted(f64::from(wv), f64::from(wk), 5);
        let records = if explain {
            f.explain(&corpus.dataset, query, s)
        } else {
            f.search(&corpus.dataset, query, s)
        };
        let warranty = records
            .iter()
            .find(|r| corpus.short_of(r) == "warranty")
            .unwrap_or_else(|| {
                panic!(
                    "hybrid lost the keyword match: {:?}",
                    corpus.shorts(&records)
                )
            });
        assert_eq!(
            corpus.short_of(&records[0]),
            "warranty",
            "{:?}",
            corpus.shorts(&records)
        );
        if explain {
            let e = warranty.explain.as_ref().unwrap();
            let v = e
                .vector_score
                .expect("a real vector score for a BM25-only hit");
            let k = e.keyword_score.expect("a keyword score");
            assert!(k > 0.0);
            assert!(
                (warranty.score - (wv * v + wk * k)).abs() < 1e-5,
                "{} != {wv}*{v} + {wk}*{k}",
                warranty.score
            );
            // The vector score is the real cosine, not a stand-in zero.
            let model = crate::model();
            let q = model.embedder.embed_query(query).unwrap();
            let d = model
                .embedder
                .embed_documents(&[warranty.segment.content.as_str()])
                .unwrap();
            let cosine = ragd_embed::cosine_similarity(&q, &d[0]).clamp(0.0, 1.0);
            assert!(
                (v - cosine).abs() < 1e-4,
                "vector score {v}, cosine {cosine}"
            );
        }
    }
}
