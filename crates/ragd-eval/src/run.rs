//! A run: each query's ranked documents with their scores, readable and writable in TREC run format
//! (`qid Q0 docid rank score tag`).
//!
//! trec_eval ignores the rank column: it sorts each query's documents by score, descending, and breaks
//! ties by document id, descending (byte order). A run whose scores strictly decrease down each ranking
//! therefore scores the same here and there; one with ties or out-of-order scores may not, unless it is
//! put in trec_eval's order first with [`Run::sort_like_trec_eval`] (as [`Run::read_trec`] does).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::EvalError;
use crate::qrels::is_trec_token;

/// Query id → best-first list of (document id, score), with the tag that names the system in TREC files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    tag: String,
    rankings: BTreeMap<String, Vec<(String, f64)>>,
}

impl Run {
    /// An empty run; `tag` names the system in the last column of TREC files (whitespace becomes `_`).
    pub fn new(tag: &str) -> Self {
        let tag: String = tag
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        Self {
            tag: if tag.is_empty() { "ragd".into() } else { tag },
            rankings: BTreeMap::new(),
        }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Sets the ranking of a query, best first, replacing any earlier one.
    pub fn insert(&mut self, query_id: impl Into<String>, ranking: Vec<(String, f64)>) {
        self.rankings.insert(query_id.into(), ranking);
    }

    /// The ranking of a query, best first.
    pub fn ranking(&self, query_id: &str) -> Option<&[(String, f64)]> {
        self.rankings.get(query_id).map(Vec::as_slice)
    }

    /// The document ids of a query's ranking, best first; empty when the run lacks the query.
    pub fn doc_ids(&self, query_id: &str) -> Vec<&str> {
        self.ranking(query_id)
            .unwrap_or_default()
            .iter()
            .map(|(doc_id, _)| doc_id.as_str())
            .collect()
    }

    /// Every query and its ranking, by query id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[(String, f64)])> {
        self.rankings
            .iter()
            .map(|(query_id, ranking)| (query_id.as_str(), ranking.as_slice()))
    }

    /// The number of queries.
    pub fn len(&self) -> usize {
        self.rankings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rankings.is_empty()
    }

    /// Reorders every ranking as trec_eval reads it: score descending, then document id descending.
    pub fn sort_like_trec_eval(&mut self) {
        for ranking in self.rankings.values_mut() {
            ranking.sort_by(|(doc_a, score_a), (doc_b, score_b)| {
                score_b
                    .partial_cmp(score_a)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| doc_b.cmp(doc_a))
            });
        }
    }

    /// Reads a TREC run file (`qid Q0 docid rank score tag`, whitespace-separated). The rank column is
    /// ignored and each ranking put in trec_eval's order ([`Run::sort_like_trec_eval`]); the tag is the
    /// first line's. A document listed twice for one query is an error, as in trec_eval.
    pub fn read_trec(path: &Path) -> Result<Self, EvalError> {
        let file = File::open(path).map_err(|source| EvalError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut run = Run::new("");
        let mut tag = None;
        let mut first_line: HashMap<(String, String), usize> = HashMap::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line_number = index + 1;
            let malformed = |reason: String| EvalError::Malformed {
                path: path.to_owned(),
                line: line_number,
                reason,
            };
            let line = line.map_err(|error| malformed(format!("unreadable line: {error}")))?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let [query_id, _, doc_id, _rank, score, line_tag] = fields[..] else {
                return Err(malformed(format!(
                    "expected 6 fields `qid Q0 docid rank score tag`, found {}",
                    fields.len()
                )));
            };
            let score: f64 = score
                .parse()
                .ok()
                .filter(|score: &f64| score.is_finite())
                .ok_or_else(|| malformed(format!("the score `{score}` is not a finite number")))?;
            let key = (query_id.to_owned(), doc_id.to_owned());
            if let Some(first) = first_line.get(&key) {
                return Err(malformed(format!(
                    "document `{doc_id}` is listed twice for query `{query_id}` (first on line {first})"
                )));
            }
            first_line.insert(key, line_number);
            tag.get_or_insert_with(|| line_tag.to_owned());
            run.rankings
                .entry(query_id.to_owned())
                .or_default()
                .push((doc_id.to_owned(), score));
        }
        if let Some(tag) = tag {
            run.tag = tag;
        }
        run.sort_like_trec_eval();
        Ok(run)
    }

    /// Writes the run in TREC run format, queries sorted by id, each ranking in its order with 1-based
    /// ranks and scores printed exactly (shortest round-trip form). Refuses runs trec_eval could not
    /// read as meant: an id that is empty or has whitespace, a score that is not finite, or a document
    /// listed twice for a query (merge chunk hits per document first, e.g. with [`dedup_by_doc`]).
    pub fn write_trec<W: Write>(&self, writer: W) -> Result<(), EvalError> {
        self.check_trec_writable()?;
        self.write_trec_lines(writer).map_err(EvalError::Write)
    }

    /// [`Run::write_trec`] to a file, created or truncated.
    pub fn write_trec_file(&self, path: &Path) -> Result<(), EvalError> {
        self.check_trec_writable()?;
        let io_error = |source| EvalError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(io_error)?;
        self.write_trec_lines(BufWriter::new(file))
            .map_err(io_error)
    }

    fn check_trec_writable(&self) -> Result<(), EvalError> {
        for (query_id, ranking) in &self.rankings {
            let refuse = |reason: String| EvalError::NotTrecWritable {
                query_id: query_id.clone(),
                reason,
            };
            if !is_trec_token(query_id) {
                return Err(refuse(
                    "the query id is empty or contains whitespace".into(),
                ));
            }
            let mut seen = HashSet::new();
            for (doc_id, score) in ranking {
                if !is_trec_token(doc_id) {
                    return Err(refuse(format!(
                        "the document id `{doc_id}` is empty or contains whitespace"
                    )));
                }
                if !score.is_finite() {
                    return Err(refuse(format!("document `{doc_id}` has the score {score}")));
                }
                if !seen.insert(doc_id.as_str()) {
                    return Err(refuse(format!("document `{doc_id}` is listed twice")));
                }
            }
        }
        Ok(())
    }

    fn write_trec_lines<W: Write>(&self, mut writer: W) -> std::io::Result<()> {
        for (query_id, ranking) in &self.rankings {
            for (index, (doc_id, score)) in ranking.iter().enumerate() {
                let rank = index + 1;
                writeln!(
                    writer,
                    "{query_id} Q0 {doc_id} {rank} {score:?} {}",
                    self.tag
                )?;
            }
        }
        writer.flush()
    }
}

/// Keeps the first (best) occurrence of each document in a best-first ranking, dropping later copies:
/// how chunk-level hits become a document ranking (each document scored by its best chunk).
pub fn dedup_by_doc(ranking: &mut Vec<(String, f64)>) {
    let mut seen = HashSet::new();
    ranking.retain(|(doc_id, _)| seen.insert(doc_id.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs
            .iter()
            .map(|&(doc, score)| (doc.to_owned(), score))
            .collect()
    }

    #[test]
    fn writes_trec_run_lines() {
        let mut run = Run::new("bm25 lucene");
        run.insert("q2", ranking(&[("d3", 1.5)]));
        run.insert(
            "q1",
            ranking(&[("d1", 12.25), ("d2", 0.1 + 0.2), ("d9", 3.0)]),
        );
        let mut out = Vec::new();
        run.write_trec(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "q1 Q0 d1 1 12.25 bm25_lucene\n\
             q1 Q0 d2 2 0.30000000000000004 bm25_lucene\n\
             q1 Q0 d9 3 3.0 bm25_lucene\n\
             q2 Q0 d3 1 1.5 bm25_lucene\n"
        );
    }

    #[test]
    fn round_trips_through_a_file_in_trec_eval_order() {
        let mut run = Run::new("t");
        // Out-of-order and tied scores: reading puts them in trec_eval's order.
        run.insert(
            "q1",
            ranking(&[("a", 1.0), ("c", 2.0), ("b", 1.0), ("d", 1.0 / 3.0)]),
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        run.write_trec_file(file.path()).unwrap();
        let read = Run::read_trec(file.path()).unwrap();
        assert_eq!(read.tag(), "t");
        assert_eq!(
            read.ranking("q1").unwrap(),
            ranking(&[("c", 2.0), ("b", 1.0), ("a", 1.0), ("d", 1.0 / 3.0)])
        );
        assert_eq!(read.doc_ids("q1"), ["c", "b", "a", "d"]);
        assert!(read.doc_ids("q2").is_empty());
    }

    #[test]
    fn read_errors_name_file_and_line() {
        let cases = [
            (
                "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 t\n",
                ":2: expected 6 fields `qid Q0 docid rank score tag`, found 5",
            ),
            (
                "q1 Q0 d1 1 high t\n",
                ":1: the score `high` is not a finite number",
            ),
            (
                "q1 Q0 d1 1 NaN t\n",
                ":1: the score `NaN` is not a finite number",
            ),
            (
                "q1 Q0 d1 1 2.0 t\n\nq1 Q0 d1 2 1.0 t\n",
                ":3: document `d1` is listed twice for query `q1` (first on line 1)",
            ),
        ];
        for (contents, expected) in cases {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(contents.as_bytes()).unwrap();
            let error = Run::read_trec(file.path()).unwrap_err().to_string();
            assert!(
                error.ends_with(expected),
                "expected `{expected}` at the end of `{error}`"
            );
        }
    }

    #[test]
    fn refuses_to_write_what_trec_eval_would_misread() {
        let cases = [
            ("q 1", ranking(&[("d1", 1.0)])),
            ("q1", ranking(&[("d 1", 1.0)])),
            ("q1", ranking(&[("d1", f64::NAN)])),
            ("q1", ranking(&[("d1", 2.0), ("d1", 1.0)])),
        ];
        for (query_id, ranking) in cases {
            let mut run = Run::new("t");
            run.insert(query_id, ranking);
            let error = run.write_trec(Vec::new()).unwrap_err();
            assert!(
                matches!(error, EvalError::NotTrecWritable { .. }),
                "{error}"
            );
        }
    }

    #[test]
    fn dedup_keeps_the_best_occurrence() {
        let mut hits = ranking(&[
            ("d1", 0.9),
            ("d2", 0.8),
            ("d1", 0.7),
            ("d3", 0.6),
            ("d2", 0.5),
        ]);
        dedup_by_doc(&mut hits);
        assert_eq!(hits, ranking(&[("d1", 0.9), ("d2", 0.8), ("d3", 0.6)]));
    }

    #[test]
    fn an_empty_tag_becomes_ragd() {
        assert_eq!(Run::new("").tag(), "ragd");
        assert_eq!(Run::new(" ").tag(), "_");
    }
}
