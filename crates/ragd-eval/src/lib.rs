//! Retrieval evaluation for ragd: BEIR datasets, TREC runs and qrels, and the IR metrics `ragd eval` reports.
//!
//! [`BeirDataset::load`] reads a BEIR folder (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`); a search
//! method turns each query into a best-first ranking, collected in a [`Run`]; [`evaluate`] scores the run
//! against the [`Qrels`] with nDCG@10, Recall@10, Recall@100 and MRR@10, computed as trec_eval computes them
//! (`ndcg_cut`, `recall`, `recip_rank` cut at 10), and averaged over every query that has a relevant judgment.
//! [`Run::write_trec`] and [`Qrels::write_trec`] export both in TREC format so any standard scorer can check
//! the numbers (`scripts/eval_reference.py` does, with pytrec_eval).
//!
//! Everything here is synchronous, single-threaded and free of search code: this crate only reads data and
//! does arithmetic. Relevance is graded (`i32`); a grade of zero or below means judged non-relevant.

mod dataset;
mod error;
mod metrics;
mod qrels;
mod run;

pub use dataset::{BeirDataset, BeirDoc, BeirQuery, LoadStats};
pub use error::EvalError;
pub use metrics::{
    Evaluation, MetricsSummary, QueryScores, evaluate, mrr_at, ndcg_at, recall_at, relevant_count,
};
pub use qrels::{Judgments, Qrels};
pub use run::{Run, dedup_by_doc};
