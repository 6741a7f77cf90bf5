//! nDCG, Recall and MRR at a cutoff, computed as trec_eval 9.0.8 computes `ndcg_cut`, `recall` and
//! `recip_rank` (the last with the ranking cut at k).
//!
//! A ranking is a best-first list of document ids; the functions take it as given (trec_eval instead
//! re-sorts by score, breaking ties by document id descending: see [`crate::Run::sort_like_trec_eval`]).
//! Relevant means grade > 0; unjudged and judged non-relevant documents are worth nothing. A document
//! repeated in a ranking is credited at its first position only; later copies still take their rank
//! (trec_eval refuses such runs, so this is the one deliberate extension).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::qrels::{Judgments, Qrels};
use crate::run::Run;

/// Normalized discounted cumulative gain at `k` (trec_eval's `ndcg_cut.k`): the gain of a document is its
/// grade (linear), discounted by log2(rank + 1); the ideal ranking orders every relevant judged document
/// of the query by grade. 0 when the query has no relevant document or `k` is 0.
pub fn ndcg_at(k: usize, ranking: &[&str], qrels: &Judgments) -> f64 {
    let mut seen = HashSet::new();
    let mut dcg = 0.0;
    for (index, doc_id) in ranking.iter().take(k).enumerate() {
        if !seen.insert(*doc_id) {
            continue;
        }
        let grade = qrels.get(*doc_id).copied().unwrap_or(0);
        if grade > 0 {
            dcg += f64::from(grade) / discount(index);
        }
    }

    let mut ideal_grades: Vec<i32> = qrels.values().copied().filter(|&g| g > 0).collect();
    ideal_grades.sort_unstable_by(|a, b| b.cmp(a));
    let ideal_dcg: f64 = ideal_grades
        .iter()
        .take(k)
        .enumerate()
        .map(|(index, &grade)| f64::from(grade) / discount(index))
        .sum();

    if ideal_dcg > 0.0 {
        dcg / ideal_dcg
    } else {
        0.0
    }
}

/// log2(rank + 1) for the document at 0-based `index`, i.e. rank `index + 1`.
fn discount(index: usize) -> f64 {
    (index as f64 + 2.0).log2()
}

/// Recall at `k` (trec_eval's `recall.k`): relevant documents among the first `k`, over all relevant
/// documents of the query. 0 when the query has none.
pub fn recall_at(k: usize, ranking: &[&str], qrels: &Judgments) -> f64 {
    let relevant = relevant_count(qrels);
    if relevant == 0 {
        return 0.0;
    }
    let retrieved: HashSet<&str> = ranking
        .iter()
        .take(k)
        .copied()
        .filter(|doc_id| qrels.get(*doc_id).is_some_and(|&grade| grade > 0))
        .collect();
    retrieved.len() as f64 / relevant as f64
}

/// Reciprocal rank of the first relevant document among the first `k` (trec_eval's `recip_rank` on the
/// ranking cut at `k`); 0 when there is none.
pub fn mrr_at(k: usize, ranking: &[&str], qrels: &Judgments) -> f64 {
    ranking
        .iter()
        .take(k)
        .position(|doc_id| qrels.get(*doc_id).is_some_and(|&grade| grade > 0))
        .map_or(0.0, |index| 1.0 / (index as f64 + 1.0))
}

/// The number of relevant (grade > 0) judgments of a query.
pub fn relevant_count(qrels: &Judgments) -> usize {
    qrels.values().filter(|&&grade| grade > 0).count()
}

/// The metrics `ragd eval` reports, for one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QueryScores {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
}

impl QueryScores {
    pub fn compute(ranking: &[&str], qrels: &Judgments) -> Self {
        Self {
            ndcg_at_10: ndcg_at(10, ranking, qrels),
            recall_at_10: recall_at(10, ranking, qrels),
            recall_at_100: recall_at(100, ranking, qrels),
            mrr_at_10: mrr_at(10, ranking, qrels),
        }
    }
}

/// The metrics averaged over queries (arithmetic mean; a query with no results counts as 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MetricsSummary {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    /// How many queries the means are over.
    pub queries: usize,
}

impl MetricsSummary {
    /// The mean of per-query scores; all zeros over no queries.
    pub fn mean<'a>(scores: impl IntoIterator<Item = &'a QueryScores>) -> Self {
        let mut sum = Self::default();
        for score in scores {
            sum.ndcg_at_10 += score.ndcg_at_10;
            sum.recall_at_10 += score.recall_at_10;
            sum.recall_at_100 += score.recall_at_100;
            sum.mrr_at_10 += score.mrr_at_10;
            sum.queries += 1;
        }
        if sum.queries == 0 {
            return sum;
        }
        let n = sum.queries as f64;
        Self {
            ndcg_at_10: sum.ndcg_at_10 / n,
            recall_at_10: sum.recall_at_10 / n,
            recall_at_100: sum.recall_at_100 / n,
            mrr_at_10: sum.mrr_at_10 / n,
            queries: sum.queries,
        }
    }
}

/// A run scored against qrels: every query's scores and their mean.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Keyed by query id: every query of the qrels with a relevant judgment, whether the run has it or not.
    pub per_query: BTreeMap<String, QueryScores>,
    pub summary: MetricsSummary,
}

/// Scores `run` on every query of `qrels` that has a relevant judgment (as trec_eval `-c` does: a query
/// the run lacks scores 0). Queries of the run without relevant judgments are ignored.
pub fn evaluate(run: &Run, qrels: &Qrels) -> Evaluation {
    let per_query: BTreeMap<String, QueryScores> = qrels
        .queries_with_relevant()
        .map(|(query_id, judgments)| {
            let ranking = run.doc_ids(query_id);
            (
                query_id.to_owned(),
                QueryScores::compute(&ranking, judgments),
            )
        })
        .collect();
    let summary = MetricsSummary::mean(per_query.values());
    Evaluation { per_query, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPSILON: f64 = 1e-12;

    fn judgments(pairs: &[(&str, i32)]) -> Judgments {
        pairs
            .iter()
            .map(|&(doc, grade)| (doc.to_owned(), grade))
            .collect()
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < EPSILON,
            "{actual} != {expected}"
        );
    }

    #[test]
    fn ndcg_graded_by_hand() {
        // Relevant: a=3, b=2, c=1; x judged non-relevant, y unjudged.
        let qrels = judgments(&[("a", 3), ("b", 2), ("c", 1), ("x", 0)]);
        // DCG = 2/log2(2) + 0/log2(3) + 3/log2(4) = 2 + 1.5 = 3.5
        // IDCG = 3/1 + 2/log2(3) + 1/2 = 3.5 + 1.2618595071429148
        let idcg = 3.5 + 2.0 / 3f64.log2();
        assert_close(ndcg_at(10, &["b", "x", "a", "y"], &qrels), 3.5 / idcg);
        // Cut at 2: DCG = 2; IDCG@2 = 3 + 2/log2(3).
        assert_close(
            ndcg_at(2, &["b", "x", "a"], &qrels),
            2.0 / (3.0 + 2.0 / 3f64.log2()),
        );
        // The ideal ranking scores 1.
        assert_close(ndcg_at(10, &["a", "b", "c"], &qrels), 1.0);
        assert_close(ndcg_at(1, &["a", "c"], &qrels), 1.0);
    }

    #[test]
    fn ndcg_binary_by_hand() {
        let qrels = judgments(&[("a", 1), ("b", 1)]);
        // DCG = 1/log2(3); IDCG = 1 + 1/log2(3).
        let expected = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert_close(ndcg_at(10, &["z", "a"], &qrels), expected);
        assert_close(ndcg_at(10, &["z", "a"], &qrels), 0.38685280723454163);
    }

    #[test]
    fn graded_and_binary_differ() {
        // Same ranking, one relevant doc graded higher: the graded ideal puts it first.
        let graded = judgments(&[("a", 1), ("b", 3)]);
        let binary = judgments(&[("a", 1), ("b", 1)]);
        let ranking = ["a", "b"];
        assert_close(ndcg_at(10, &ranking, &binary), 1.0);
        // DCG = 1 + 3/log2(3); IDCG = 3 + 1/log2(3).
        let log3 = 3f64.log2();
        assert_close(
            ndcg_at(10, &ranking, &graded),
            (1.0 + 3.0 / log3) / (3.0 + 1.0 / log3),
        );
        // Recall and MRR ignore the grade.
        assert_eq!(
            recall_at(10, &ranking, &graded),
            recall_at(10, &ranking, &binary)
        );
        assert_eq!(mrr_at(10, &ranking, &graded), mrr_at(10, &ranking, &binary));
    }

    #[test]
    fn ideal_counts_relevant_documents_never_retrieved() {
        // Five relevant documents; only one retrieved, first: DCG = 1, IDCG@10 = sum over 5 ranks.
        let qrels = judgments(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1)]);
        let idcg: f64 = (0..5).map(|i| 1.0 / (i as f64 + 2.0).log2()).sum();
        assert_close(ndcg_at(10, &["a"], &qrels), 1.0 / idcg);
        assert_close(recall_at(10, &["a"], &qrels), 0.2);
        assert_close(mrr_at(10, &["a"], &qrels), 1.0);
    }

    #[test]
    fn nothing_relevant_retrieved_scores_zero() {
        let qrels = judgments(&[("a", 2), ("x", 0), ("n", -1)]);
        let ranking = ["x", "n", "y"];
        assert_eq!(ndcg_at(10, &ranking, &qrels), 0.0);
        assert_eq!(recall_at(10, &ranking, &qrels), 0.0);
        assert_eq!(mrr_at(10, &ranking, &qrels), 0.0);
        assert_eq!(ndcg_at(10, &[], &qrels), 0.0);
        assert_eq!(recall_at(100, &[], &qrels), 0.0);
        assert_eq!(mrr_at(10, &[], &qrels), 0.0);
    }

    #[test]
    fn no_relevant_judgments_scores_zero_not_nan() {
        let qrels = judgments(&[("x", 0), ("n", -2)]);
        assert_eq!(ndcg_at(10, &["x"], &qrels), 0.0);
        assert_eq!(recall_at(10, &["x"], &qrels), 0.0);
        assert_eq!(mrr_at(10, &["x"], &qrels), 0.0);
        assert_eq!(ndcg_at(10, &["x"], &Judgments::new()), 0.0);
    }

    #[test]
    fn negative_grades_are_non_relevant_and_cost_nothing() {
        let with_negative = judgments(&[("a", 1), ("n", -1)]);
        let without = judgments(&[("a", 1)]);
        let ranking = ["n", "a"];
        assert_eq!(
            ndcg_at(10, &ranking, &with_negative),
            ndcg_at(10, &ranking, &without)
        );
        assert_close(mrr_at(10, &ranking, &with_negative), 0.5);
    }

    #[test]
    fn cutoffs_and_k_beyond_the_list() {
        let qrels = judgments(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        let ranking = ["z1", "a", "z2", "b", "c"];
        assert_close(recall_at(2, &ranking, &qrels), 0.25);
        assert_close(recall_at(4, &ranking, &qrels), 0.5);
        assert_close(recall_at(100, &ranking, &qrels), 0.75);
        assert_close(mrr_at(1, &ranking, &qrels), 0.0);
        assert_close(mrr_at(2, &ranking, &qrels), 0.5);
        assert_close(mrr_at(100, &ranking, &qrels), 0.5);
        // k past the end changes nothing.
        assert_eq!(
            ndcg_at(5, &ranking, &qrels),
            ndcg_at(1000, &ranking, &qrels)
        );
        // k = 0 retrieves nothing.
        assert_eq!(ndcg_at(0, &ranking, &qrels), 0.0);
        assert_eq!(recall_at(0, &ranking, &qrels), 0.0);
        assert_eq!(mrr_at(0, &ranking, &qrels), 0.0);
    }

    #[test]
    fn mrr_by_hand() {
        let qrels = judgments(&[("c", 1)]);
        assert_close(mrr_at(10, &["a", "b", "c"], &qrels), 1.0 / 3.0);
        let at_ten: Vec<String> = (1..10)
            .map(|i| format!("z{i}"))
            .chain(["c".into()])
            .collect();
        let at_ten: Vec<&str> = at_ten.iter().map(String::as_str).collect();
        assert_close(mrr_at(10, &at_ten, &qrels), 0.1);
        assert_eq!(mrr_at(9, &at_ten, &qrels), 0.0);
    }

    #[test]
    fn duplicates_are_credited_once() {
        let qrels = judgments(&[("a", 2), ("b", 1)]);
        // "a" twice: the copy at rank 2 gains nothing but takes the slot, so "b" sits at rank 3.
        let log3 = 3f64.log2();
        let expected = (2.0 + 1.0 / 2.0) / (2.0 + 1.0 / log3);
        assert_close(ndcg_at(10, &["a", "a", "b"], &qrels), expected);
        assert_close(recall_at(10, &["a", "a"], &qrels), 0.5);
        assert_close(recall_at(10, &["a", "a", "a", "b"], &qrels), 1.0);
        assert_close(mrr_at(10, &["x", "a", "a"], &qrels), 0.5);
        // Never above 1 however often the best document repeats.
        assert!(ndcg_at(10, &["a"; 10], &qrels) < 1.0);
    }

    #[test]
    fn summary_is_the_mean_and_missing_queries_score_zero() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "a", 1);
        qrels.insert("q2", "b", 2);
        qrels.insert("q3", "c", 0); // no relevant judgment: not averaged over
        let mut run = Run::new("test");
        run.insert("q1", vec![("a".into(), 2.0), ("z".into(), 1.0)]);
        run.insert("q3", vec![("c".into(), 1.0)]);
        run.insert("q9", vec![("a".into(), 1.0)]); // not judged: ignored
        let evaluation = evaluate(&run, &qrels);
        assert_eq!(evaluation.per_query.len(), 2);
        assert_eq!(evaluation.per_query["q2"], QueryScores::default());
        assert_eq!(
            evaluation.summary,
            MetricsSummary {
                ndcg_at_10: 0.5,
                recall_at_10: 0.5,
                recall_at_100: 0.5,
                mrr_at_10: 0.5,
                queries: 2,
            }
        );
        assert_eq!(MetricsSummary::mean(&[]), MetricsSummary::default());
    }
}
