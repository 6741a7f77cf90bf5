//! The Cranfield collection: 1400 documents, 225 queries, 1612 graded judgments (grades 1 to 4).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ragd_eval::{BeirDataset, LoadStats, MetricsSummary, Qrels, Run, evaluate};

fn cranfield_dir() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/cranfield");
    assert!(
        path.join("corpus.jsonl").is_file(),
        "the Cranfield collection is not at {}",
        path.display()
    );
    path
}

#[test]
fn loads_every_document_query_and_judgment() {
    let dataset = BeirDataset::load(&cranfield_dir()).unwrap();
    assert_eq!(
        dataset.stats,
        LoadStats {
            corpus_docs: 1400,
            empty_docs: 2,
            queries_in_file: 225,
            queries_without_relevant: 0,
            judgments: 1612,
            relevant_judgments: 1612,
            judgments_of_unknown_queries: 0,
            judgments_of_unknown_docs: 0,
        }
    );
    assert_eq!(dataset.corpus.len(), 1400);
    assert_eq!(dataset.queries.len(), 225);
    assert_eq!(dataset.qrels.len(), 1612);
    assert_eq!(dataset.qrels.queries_with_relevant().count(), 225);

    let first = &dataset.corpus[0];
    assert_eq!(first.id, "1");
    assert_eq!(
        first.title,
        "experimental investigation of the aerodynamics of a wing in a slipstream ."
    );
    assert!(first.text.contains("propeller slipstream"));
    let empty: Vec<&str> = dataset
        .corpus
        .iter()
        .filter(|doc| doc.text.is_empty())
        .map(|doc| doc.id.as_str())
        .collect();
    assert_eq!(empty, ["471", "995"]);

    assert_eq!(dataset.queries[0].id, "1");
    assert!(
        dataset.queries[0]
            .text
            .starts_with("what similarity laws must be obeyed")
    );
    let judged = dataset.qrels.for_query("1").unwrap();
    assert_eq!(judged["184"], 3);
    assert_eq!(judged["29"], 3);

    let grades: HashSet<i32> = dataset
        .qrels
        .query_ids()
        .flat_map(|q| dataset.qrels.for_query(q).unwrap().values().copied())
        .collect();
    assert_eq!(grades, HashSet::from([1, 2, 3, 4]));
}

/// A run that returns each query's judged documents by descending grade is ideal on every metric that
/// can reach 1 (Recall@10 cannot when a query has more than ten relevant documents).
#[test]
fn the_ideal_run_scores_one_and_the_empty_run_zero() {
    let dataset = BeirDataset::load(&cranfield_dir()).unwrap();
    let mut ideal = Run::new("ideal");
    for (query_id, judgments) in dataset.qrels.queries_with_relevant() {
        let mut ranked: Vec<(&String, &i32)> = judgments.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let ranking = ranked
            .iter()
            .enumerate()
            .map(|(index, (doc, _))| ((*doc).clone(), 1000.0 - index as f64))
            .collect();
        ideal.insert(query_id, ranking);
    }
    let summary = evaluate(&ideal, &dataset.qrels).summary;
    assert_eq!(summary.queries, 225);
    assert!((summary.ndcg_at_10 - 1.0).abs() < 1e-12, "{summary:?}");
    assert!((summary.mrr_at_10 - 1.0).abs() < 1e-12, "{summary:?}");
    assert!((summary.recall_at_100 - 1.0).abs() < 1e-12, "{summary:?}");
    assert!(summary.recall_at_10 < 1.0);

    let empty = evaluate(&Run::new("empty"), &dataset.qrels).summary;
    assert_eq!(
        empty,
        MetricsSummary {
            queries: 225,
            ..MetricsSummary::default()
        }
    );
}

#[test]
fn qrels_and_runs_survive_the_trec_round_trip() {
    let dataset = BeirDataset::load(&cranfield_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let qrels_path = dir.path().join("qrels.trec");
    dataset.qrels.write_trec_file(&qrels_path).unwrap();
    let text = std::fs::read_to_string(&qrels_path).unwrap();
    assert_eq!(text.lines().count(), 1612);
    let mut back = Qrels::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[1], "0");
        back.insert(fields[0], fields[2], fields[3].parse().unwrap());
    }
    assert_eq!(back, dataset.qrels);

    // Every query retrieves the whole corpus in id order with strictly decreasing scores.
    let mut run = Run::new("by-id");
    for query in &dataset.queries {
        let ranking = dataset
            .corpus
            .iter()
            .enumerate()
            .map(|(index, doc)| (doc.id.clone(), 1.0 / (index as f64 + 1.0)))
            .collect();
        run.insert(query.id.clone(), ranking);
    }
    let run_path = dir.path().join("by-id.run");
    run.write_trec_file(&run_path).unwrap();
    let read = Run::read_trec(&run_path).unwrap();
    assert_eq!(read, run);
    assert_eq!(
        evaluate(&read, &dataset.qrels),
        evaluate(&run, &dataset.qrels)
    );
}
