//! Score normalization and fusion: pure functions over candidate lists, so that their arithmetic is tested
//! apart from any index.
//!
//! Every score ragd reports is in [0, 1] and means the same thing whatever else was retrieved:
//! - vector: cosine similarity clamped to [0, 1];
//! - keyword: the BM25 score divided by the query's BM25 upper bound (Σ idf · (k1 + 1) over its terms: the
//!   score of a document that saturates every query term), so 1 is a perfect match and a weak match stays
//!   weak even when it is the best one there is (max-normalization would call it 1);
//! - weighted fusion: `vector_weight · vector + keyword_weight · keyword` (Dify's weighted score), with the
//!   real score of both components for every candidate, found by either search;
//! - reciprocal rank fusion: `Σ 1 / (k + rank)` divided by its largest possible value `lists / (k + 1)`.

use ragd_core::retrieval::Fusion;

/// Cosine similarity as a retrieval score.
pub fn vector_score(cosine: f32) -> f32 {
    if cosine.is_nan() {
        0.0
    } else {
        cosine.clamp(0.0, 1.0)
    }
}

/// A raw BM25 score as a retrieval score, given the query's BM25 upper bound.
pub fn keyword_score(bm25: f32, upper_bound: f32) -> f32 {
    if upper_bound <= 0.0 || !bm25.is_finite() {
        0.0
    } else {
        (bm25 / upper_bound).clamp(0.0, 1.0)
    }
}

/// One candidate's component scores and ranks (1-based, within its search's list).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Components {
    pub vector: Option<f32>,
    pub keyword: Option<f32>,
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
}

/// The fused score of a hybrid candidate.
pub fn fuse(fusion: Fusion, c: &Components) -> f32 {
    match fusion {
        Fusion::Weighted { vector, keyword } => {
            let score = vector * c.vector.unwrap_or(0.0) + keyword * c.keyword.unwrap_or(0.0);
            score.clamp(0.0, 1.0)
        }
        Fusion::Rrf { k } => {
            let k = k as f32;
            let term = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (k + r as f32));
            let best = 2.0 / (k + 1.0);
            ((term(c.vector_rank) + term(c.keyword_rank)) / best).clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_scores_are_clamped() {
        assert_eq!(vector_score(-0.3), 0.0);
        assert_eq!(vector_score(0.42), 0.42);
        assert_eq!(vector_score(1.000_001), 1.0);
        assert_eq!(vector_score(f32::NAN), 0.0);
    }

    #[test]
    fn keyword_scores_are_relative_to_the_upper_bound() {
        assert_eq!(keyword_score(5.0, 10.0), 0.5);
        assert_eq!(keyword_score(5.0, 0.0), 0.0);
        assert_eq!(keyword_score(11.0, 10.0), 1.0);
    }

    #[test]
    fn weighted_fusion_uses_both_real_scores() {
        let c = Components {
            vector: Some(0.8),
            keyword: Some(0.5),
            ..Default::default()
        };
        let fused = fuse(
            Fusion::Weighted {
                vector: 0.7,
                keyword: 0.3,
            },
            &c,
        );
        assert!((fused - (0.56 + 0.15)).abs() < 1e-6);
        // A keyword-only hit with no vector similarity at all keeps its keyword part.
        let only_keyword = Components {
            keyword: Some(0.9),
            ..Default::default()
        };
        let fused = fuse(
            Fusion::Weighted {
                vector: 0.7,
                keyword: 0.3,
            },
            &only_keyword,
        );
        assert!((fused - 0.27).abs() < 1e-6);
    }

    #[test]
    fn rrf_is_one_for_a_double_first_place() {
        let top = Components {
            vector_rank: Some(1),
            keyword_rank: Some(1),
            ..Default::default()
        };
        assert!((fuse(Fusion::Rrf { k: 60 }, &top) - 1.0).abs() < 1e-6);
        let one_list = Components {
            vector_rank: Some(1),
            ..Default::default()
        };
        assert!((fuse(Fusion::Rrf { k: 60 }, &one_list) - 0.5).abs() < 1e-6);
        let lower = Components {
            vector_rank: Some(3),
            keyword_rank: Some(10),
            ..Default::default()
        };
        let s = fuse(Fusion::Rrf { k: 60 }, &lower);
        assert!(s > 0.0 && s < 1.0);
    }
}
