//! Relevance judgments (qrels): BEIR's `query-id corpus-id score` TSV in, TREC's `qid 0 docid rel` out.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::EvalError;

/// The judgments of one query: document id → graded relevance (`> 0` relevant, `<= 0` judged non-relevant).
pub type Judgments = HashMap<String, i32>;

/// Graded relevance judgments of every query, keyed by query id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Qrels {
    by_query: BTreeMap<String, Judgments>,
}

impl Qrels {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one judgment and returns the grade it replaced, if the pair was already judged.
    pub fn insert(
        &mut self,
        query_id: impl Into<String>,
        doc_id: impl Into<String>,
        grade: i32,
    ) -> Option<i32> {
        self.by_query
            .entry(query_id.into())
            .or_default()
            .insert(doc_id.into(), grade)
    }

    /// Reads a BEIR qrels file: one `query-id corpus-id score` line per judgment, tab-separated (any
    /// whitespace is accepted), with an optional header line. Repeating a pair with the same grade is
    /// harmless; with a different grade it is an error, since there is no telling which one is meant.
    pub fn load_beir_tsv(path: &Path) -> Result<Self, EvalError> {
        let file = File::open(path).map_err(|source| EvalError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut qrels = Qrels::new();
        let mut first_seen: HashMap<(String, String), usize> = HashMap::new();
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
            if line_number == 1 && fields == ["query-id", "corpus-id", "score"] {
                continue;
            }
            let [query_id, doc_id, grade] = fields[..] else {
                return Err(malformed(format!(
                    "expected 3 fields `query-id corpus-id score`, found {}",
                    fields.len()
                )));
            };
            let grade: i32 = grade.parse().map_err(|_| {
                malformed(format!(
                    "the score `{grade}` is not an integer relevance grade"
                ))
            })?;
            let key = (query_id.to_owned(), doc_id.to_owned());
            if let Some(previous) = qrels.insert(query_id, doc_id, grade) {
                let first_line = first_seen[&key];
                if previous != grade {
                    return Err(malformed(format!(
                        "query `{query_id}` judges document `{doc_id}` {grade} here but {previous} on line {first_line}"
                    )));
                }
            } else {
                first_seen.insert(key, line_number);
            }
        }
        Ok(qrels)
    }

    /// The judgments of one query, if it has any.
    pub fn for_query(&self, query_id: &str) -> Option<&Judgments> {
        self.by_query.get(query_id)
    }

    /// Every judged query id, in sorted order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.by_query.keys().map(String::as_str)
    }

    /// The queries that have at least one relevant (grade > 0) judgment: the ones metrics average over.
    pub fn queries_with_relevant(&self) -> impl Iterator<Item = (&str, &Judgments)> {
        self.by_query
            .iter()
            .filter(|(_, judgments)| judgments.values().any(|&grade| grade > 0))
            .map(|(query_id, judgments)| (query_id.as_str(), judgments))
    }

    /// Keeps only the queries for which `keep` returns true.
    pub fn retain_queries(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.by_query.retain(|query_id, _| keep(query_id));
    }

    /// The number of judgments (query-document pairs).
    pub fn len(&self) -> usize {
        self.by_query.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_query.is_empty()
    }

    /// Writes the qrels in TREC format (`qid 0 docid grade`, the input of trec_eval), queries and
    /// documents in sorted order.
    pub fn write_trec<W: Write>(&self, writer: W) -> Result<(), EvalError> {
        self.check_trec_writable()?;
        self.write_trec_lines(writer).map_err(EvalError::Write)
    }

    /// [`Qrels::write_trec`] to a file, created or truncated.
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
        for (query_id, judgments) in &self.by_query {
            let reason = if !is_trec_token(query_id) {
                Some(format!(
                    "the query id `{query_id}` is empty or contains whitespace"
                ))
            } else {
                judgments
                    .keys()
                    .find(|doc_id| !is_trec_token(doc_id))
                    .map(|doc_id| {
                        format!("the document id `{doc_id}` is empty or contains whitespace")
                    })
            };
            if let Some(reason) = reason {
                return Err(EvalError::NotTrecWritable {
                    query_id: query_id.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    fn write_trec_lines<W: Write>(&self, mut writer: W) -> std::io::Result<()> {
        for (query_id, judgments) in &self.by_query {
            let mut sorted: Vec<(&String, &i32)> = judgments.iter().collect();
            sorted.sort();
            for (doc_id, grade) in sorted {
                writeln!(writer, "{query_id} 0 {doc_id} {grade}")?;
            }
        }
        writer.flush()
    }
}

/// Whether `id` can stand as one field of a whitespace-separated TREC line.
pub(crate) fn is_trec_token(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_temp(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        file
    }

    #[test]
    fn loads_beir_tsv_with_header_and_grades() {
        let file = write_temp("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td1\t-1\n\n");
        let qrels = Qrels::load_beir_tsv(file.path()).unwrap();
        assert_eq!(qrels.len(), 3);
        assert_eq!(qrels.for_query("q1").unwrap()["d1"], 2);
        assert_eq!(qrels.for_query("q2").unwrap()["d1"], -1);
        let with_relevant: Vec<&str> = qrels.queries_with_relevant().map(|(q, _)| q).collect();
        assert_eq!(with_relevant, ["q1"]);
    }

    #[test]
    fn a_file_without_header_is_all_data() {
        let file = write_temp("1 184 3\n1 29 3\n");
        assert_eq!(Qrels::load_beir_tsv(file.path()).unwrap().len(), 2);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let file = write_temp("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n");
        let error = Qrels::load_beir_tsv(file.path()).unwrap_err().to_string();
        assert!(
            error.ends_with(":3: expected 3 fields `query-id corpus-id score`, found 2"),
            "{error}"
        );
        assert!(
            error.contains(&file.path().display().to_string()),
            "{error}"
        );

        let file = write_temp("q1\td1\thigh\n");
        let error = Qrels::load_beir_tsv(file.path()).unwrap_err().to_string();
        assert!(
            error.ends_with(":1: the score `high` is not an integer relevance grade"),
            "{error}"
        );
    }

    #[test]
    fn conflicting_duplicates_are_errors_identical_ones_are_not() {
        let file = write_temp("q1\td1\t1\nq1\td1\t1\n");
        assert_eq!(Qrels::load_beir_tsv(file.path()).unwrap().len(), 1);

        let file = write_temp("q1\td1\t1\nq1\td2\t1\nq1\td1\t2\n");
        let error = Qrels::load_beir_tsv(file.path()).unwrap_err().to_string();
        assert!(
            error.ends_with(":3: query `q1` judges document `d1` 2 here but 1 on line 1"),
            "{error}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let error = Qrels::load_beir_tsv(Path::new("/nonexistent/qrels/test.tsv")).unwrap_err();
        assert!(matches!(error, EvalError::Io { .. }));
        assert!(
            error
                .to_string()
                .starts_with("/nonexistent/qrels/test.tsv: "),
            "{error}"
        );
    }

    #[test]
    fn writes_trec_qrels_sorted() {
        let mut qrels = Qrels::new();
        qrels.insert("q2", "d9", 1);
        qrels.insert("q1", "d2", 0);
        qrels.insert("q1", "d1", 3);
        let mut out = Vec::new();
        qrels.write_trec(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "q1 0 d1 3\nq1 0 d2 0\nq2 0 d9 1\n"
        );
    }

    #[test]
    fn ids_with_whitespace_cannot_be_written() {
        let mut qrels = Qrels::new();
        qrels.insert("q1", "doc one", 1);
        let error = qrels.write_trec(Vec::new()).unwrap_err();
        assert!(
            matches!(error, EvalError::NotTrecWritable { .. }),
            "{error}"
        );
    }
}
