//! BEIR datasets: `corpus.jsonl`, `queries.jsonl` and `qrels/{split}.tsv` in one folder.
//!
//! The loader keeps every corpus document (empty ones too: they are part of the collection), keeps only
//! the queries that have a relevant judgment (the others cannot be scored and are counted in
//! [`LoadStats::queries_without_relevant`]), and drops judgments of queries missing from `queries.jsonl`
//! (counted too). Nothing is skipped without being counted.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::EvalError;
use crate::qrels::Qrels;

/// One corpus document. Search methods index `title` and `text` (BEIR's baselines join them with a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeirDoc {
    pub id: String,
    pub title: String,
    pub text: String,
}

/// One test query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeirQuery {
    pub id: String,
    pub text: String,
}

/// What the loader read, kept and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Documents in `corpus.jsonl` (all kept).
    pub corpus_docs: usize,
    /// Documents whose title and text are both blank (kept; they can never match).
    pub empty_docs: usize,
    /// Queries in `queries.jsonl`.
    pub queries_in_file: usize,
    /// Queries left out because no judgment in the split rates a document relevant.
    pub queries_without_relevant: usize,
    /// Judgments in the qrels file (duplicate lines counted once).
    pub judgments: usize,
    /// Judgments with a grade above zero.
    pub relevant_judgments: usize,
    /// Judgments left out because their query is not in `queries.jsonl`.
    pub judgments_of_unknown_queries: usize,
    /// Judgments (kept) whose document is not in the corpus: such a document can never be retrieved,
    /// but still counts in recall's denominator, as in trec_eval and BEIR.
    pub judgments_of_unknown_docs: usize,
}

impl fmt::Display for LoadStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} documents ({} empty), {} of {} queries kept ({} without a relevant judgment), \
             {} judgments ({} relevant, {} of unknown queries dropped, {} of documents not in the corpus)",
            self.corpus_docs,
            self.empty_docs,
            self.queries_in_file - self.queries_without_relevant,
            self.queries_in_file,
            self.queries_without_relevant,
            self.judgments,
            self.relevant_judgments,
            self.judgments_of_unknown_queries,
            self.judgments_of_unknown_docs,
        )
    }
}

/// A BEIR test collection, loaded whole into memory.
#[derive(Debug, Clone)]
pub struct BeirDataset {
    /// Every corpus document, in file order.
    pub corpus: Vec<BeirDoc>,
    /// The queries that have at least one relevant judgment, in file order.
    pub queries: Vec<BeirQuery>,
    /// The judgments of the kept queries (those of queries without a relevant document stay, harmlessly).
    pub qrels: Qrels,
    pub stats: LoadStats,
}

impl BeirDataset {
    /// Loads `dir/corpus.jsonl`, `dir/queries.jsonl` and the test split `dir/qrels/test.tsv`.
    pub fn load(dir: &Path) -> Result<Self, EvalError> {
        Self::load_split(dir, "test")
    }

    /// Loads the corpus, the queries and the qrels of `split` (`test`, `dev`, `train`).
    pub fn load_split(dir: &Path, split: &str) -> Result<Self, EvalError> {
        let corpus = load_corpus(&dir.join("corpus.jsonl"))?;
        let all_queries = load_queries(&dir.join("queries.jsonl"))?;
        let mut qrels = Qrels::load_beir_tsv(&dir.join("qrels").join(format!("{split}.tsv")))?;

        let mut stats = LoadStats {
            corpus_docs: corpus.len(),
            empty_docs: corpus
                .iter()
                .filter(|doc| doc.title.trim().is_empty() && doc.text.trim().is_empty())
                .count(),
            queries_in_file: all_queries.len(),
            judgments: qrels.len(),
            ..LoadStats::default()
        };

        let query_ids: HashSet<&str> = all_queries.iter().map(|q| q.id.as_str()).collect();
        stats.judgments_of_unknown_queries = qrels
            .query_ids()
            .filter(|id| !query_ids.contains(id))
            .map(|id| qrels.for_query(id).map_or(0, HashMap::len))
            .sum();
        qrels.retain_queries(|id| query_ids.contains(id));

        let doc_ids: HashSet<&str> = corpus.iter().map(|doc| doc.id.as_str()).collect();
        for query_id in qrels.query_ids() {
            for (doc_id, &grade) in qrels.for_query(query_id).into_iter().flatten() {
                stats.relevant_judgments += usize::from(grade > 0);
                stats.judgments_of_unknown_docs += usize::from(!doc_ids.contains(doc_id.as_str()));
            }
        }

        let scorable: HashSet<&str> = qrels.queries_with_relevant().map(|(id, _)| id).collect();
        let queries: Vec<BeirQuery> = all_queries
            .iter()
            .filter(|query| scorable.contains(query.id.as_str()))
            .cloned()
            .collect();
        stats.queries_without_relevant = all_queries.len() - queries.len();

        Ok(Self {
            corpus,
            queries,
            qrels,
            stats,
        })
    }
}

#[derive(Deserialize)]
struct RawDoc {
    #[serde(rename = "_id")]
    id: Value,
    #[serde(default)]
    title: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawQuery {
    #[serde(rename = "_id")]
    id: Value,
    text: Option<String>,
}

fn load_corpus(path: &Path) -> Result<Vec<BeirDoc>, EvalError> {
    let mut docs = Vec::new();
    let mut seen = IdRegistry::new(path);
    for_each_json_line(path, |line_number, line| {
        let raw: RawDoc = parse_json_line(path, line_number, line)?;
        let id = seen.register(&raw.id, line_number)?;
        let text = raw.text.ok_or_else(|| EvalError::Malformed {
            path: path.to_owned(),
            line: line_number,
            reason: format!("document `{id}` has no `text` string"),
        })?;
        docs.push(BeirDoc {
            id,
            title: raw.title.unwrap_or_default(),
            text,
        });
        Ok(())
    })?;
    Ok(docs)
}

fn load_queries(path: &Path) -> Result<Vec<BeirQuery>, EvalError> {
    let mut queries = Vec::new();
    let mut seen = IdRegistry::new(path);
    for_each_json_line(path, |line_number, line| {
        let raw: RawQuery = parse_json_line(path, line_number, line)?;
        let id = seen.register(&raw.id, line_number)?;
        let text = raw.text.ok_or_else(|| EvalError::Malformed {
            path: path.to_owned(),
            line: line_number,
            reason: format!("query `{id}` has no `text` string"),
        })?;
        queries.push(BeirQuery { id, text });
        Ok(())
    })?;
    Ok(queries)
}

/// Calls `handle` with the 1-based number and text of each non-blank line of a JSON Lines file.
fn for_each_json_line(
    path: &Path,
    mut handle: impl FnMut(usize, &str) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    let file = File::open(path).map_err(|source| EvalError::Io {
        path: path.to_owned(),
        source,
    })?;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|error| EvalError::Malformed {
            path: path.to_owned(),
            line: index + 1,
            reason: format!("unreadable line: {error}"),
        })?;
        if !line.trim().is_empty() {
            handle(index + 1, &line)?;
        }
    }
    Ok(())
}

fn parse_json_line<T: serde::de::DeserializeOwned>(
    path: &Path,
    line_number: usize,
    line: &str,
) -> Result<T, EvalError> {
    serde_json::from_str(line).map_err(|error| EvalError::Malformed {
        path: path.to_owned(),
        line: line_number,
        reason: format!("not a valid record: {error}"),
    })
}

/// Checks the `_id`s of one file: present, a string or an integer, non-empty, and unique.
struct IdRegistry {
    path: PathBuf,
    first_line: HashMap<String, usize>,
}

impl IdRegistry {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            first_line: HashMap::new(),
        }
    }

    fn register(&mut self, raw: &Value, line_number: usize) -> Result<String, EvalError> {
        let malformed = |reason: String| EvalError::Malformed {
            path: self.path.clone(),
            line: line_number,
            reason,
        };
        let id = match raw {
            Value::String(id) if !id.is_empty() => id.clone(),
            Value::Number(number) if number.is_i64() || number.is_u64() => number.to_string(),
            other => {
                return Err(malformed(format!(
                    "`_id` must be a non-empty string, found {other}"
                )));
            }
        };
        if let Some(first) = self.first_line.get(&id) {
            return Err(malformed(format!(
                "duplicate `_id` `{id}` (first on line {first})"
            )));
        }
        self.first_line.insert(id.clone(), line_number);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    struct Files {
        corpus: &'static str,
        queries: &'static str,
        qrels: &'static str,
    }

    fn dataset_dir(files: &Files) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("corpus.jsonl"), files.corpus).unwrap();
        fs::write(dir.path().join("queries.jsonl"), files.queries).unwrap();
        fs::create_dir(dir.path().join("qrels")).unwrap();
        fs::write(dir.path().join("qrels/test.tsv"), files.qrels).unwrap();
        dir
    }

    const SMALL: Files = Files {
        corpus: concat!(
            r#"{"_id": "d1", "title": "Wings", "text": "lift", "metadata": {"year": 1960}}"#,
            "\n",
            r#"{"_id": "d2", "text": "drag"}"#,
            "\n",
            r#"{"_id": 3, "title": "", "text": " "}"#,
            "\n\n",
        ),
        queries: concat!(
            r#"{"_id": "q1", "text": "what is lift"}"#,
            "\n",
            r#"{"_id": "q2", "text": "only non-relevant judgments"}"#,
            "\n",
            r#"{"_id": "q3", "text": "no judgments at all", "metadata": {}}"#,
            "\n",
        ),
        qrels: "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td9\t1\nq2\td2\t0\nq7\td1\t1\n",
    };

    #[test]
    fn loads_and_counts_everything_it_leaves_out() {
        let dir = dataset_dir(&SMALL);
        let dataset = BeirDataset::load(dir.path()).unwrap();
        assert_eq!(
            dataset.corpus,
            [
                BeirDoc {
                    id: "d1".into(),
                    title: "Wings".into(),
                    text: "lift".into()
                },
                BeirDoc {
                    id: "d2".into(),
                    title: String::new(),
                    text: "drag".into()
                },
                BeirDoc {
                    id: "3".into(),
                    title: String::new(),
                    text: " ".into()
                },
            ]
        );
        assert_eq!(
            dataset.queries,
            [BeirQuery {
                id: "q1".into(),
                text: "what is lift".into()
            }]
        );
        assert_eq!(
            dataset.stats,
            LoadStats {
                corpus_docs: 3,
                empty_docs: 1,
                queries_in_file: 3,
                queries_without_relevant: 2,
                judgments: 4,
                relevant_judgments: 2,
                judgments_of_unknown_queries: 1,
                judgments_of_unknown_docs: 1,
            }
        );
        assert!(dataset.qrels.for_query("q7").is_none());
        assert_eq!(dataset.qrels.len(), 3);
        assert_eq!(
            dataset.stats.to_string(),
            "3 documents (1 empty), 1 of 3 queries kept (2 without a relevant judgment), \
             4 judgments (2 relevant, 1 of unknown queries dropped, 1 of documents not in the corpus)"
        );
    }

    #[test]
    fn malformed_records_name_file_and_line() {
        let cases = [
            (
                Files {
                    corpus: "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d2\", \"text\": \"b\"\n",
                    ..SMALL
                },
                "corpus.jsonl:2: not a valid record: ",
            ),
            (
                Files {
                    corpus: "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d1\", \"text\": \"b\"}\n",
                    ..SMALL
                },
                "corpus.jsonl:2: duplicate `_id` `d1` (first on line 1)",
            ),
            (
                Files {
                    corpus: "{\"_id\": \"d1\", \"title\": \"a\"}\n",
                    ..SMALL
                },
                "corpus.jsonl:1: document `d1` has no `text` string",
            ),
            (
                Files {
                    queries: "\n{\"_id\": \"\", \"text\": \"a\"}\n",
                    ..SMALL
                },
                "queries.jsonl:2: `_id` must be a non-empty string, found \"\"",
            ),
            (
                Files {
                    queries: "{\"text\": \"a\"}\n",
                    ..SMALL
                },
                "queries.jsonl:1: not a valid record: missing field `_id`",
            ),
            (
                Files {
                    qrels: "query-id\tcorpus-id\tscore\nq1 d1\n",
                    ..SMALL
                },
                "test.tsv:2: expected 3 fields",
            ),
        ];
        for (files, expected) in cases {
            let dir = dataset_dir(&files);
            let error = BeirDataset::load(dir.path()).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "expected `{expected}` in `{error}`"
            );
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = dataset_dir(&SMALL);
        fs::remove_file(dir.path().join("queries.jsonl")).unwrap();
        let error = BeirDataset::load(dir.path()).unwrap_err();
        assert!(matches!(error, EvalError::Io { .. }));
        assert!(error.to_string().contains("queries.jsonl"), "{error}");
    }
}
