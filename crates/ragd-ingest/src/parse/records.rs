//! Record formats: CSV (one document, one row per paragraph), JSON (an object, or an array of
//! objects) and JSON Lines (one object per line), one document per JSON record.
//!
//! CSV: the header row names the fields; each row is rendered on one line as
//! `field1: value1; field2: value2` (empty values left out) and rows are separated by a blank line,
//! so a chunker splitting on paragraphs keeps rows whole. Ragged rows are accepted; cells beyond the
//! header are named `column_N` (1-based).
//!
//! JSON records: the text comes from [`ParseOptions::json_text_field`] and must be a string (else
//! [`IngestError::InvalidRecord`] naming the record); the title from
//! [`ParseOptions::json_title_field`] if it is a non-blank string, else the file stem (plus ` #N` for
//! the N-th element of an array or the N-th line of a jsonl file). A record with a blank text uses its
//! title as text, and is skipped when both are blank (real corpora have such records); a file whose
//! records are all skipped is [`IngestError::NoText`]. The record's other string, number and boolean
//! fields go into the metadata as they are, except `format` and `encoding`, which the parser sets.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::encoding::decode_text;
use super::{
    DocumentFormat, ParseOptions, ParsedDocument, base_metadata, file_stem_title, require_text,
};
use crate::IngestError;

const WHITESPACE_ONLY: &str = "the file contains only whitespace";

pub(super) fn parse_csv(path: &Path, bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
    let (source, encoding) = decode_text(path, bytes)?;
    require_text(path, &source, WHITESPACE_ONLY)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(source.as_bytes());
    let invalid = |error: csv::Error| IngestError::InvalidRecord {
        path: path.to_path_buf(),
        reason: format!("invalid CSV: {error}"),
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(invalid)?
        .iter()
        .map(|header| header.trim().to_owned())
        .collect();
    let field_name = |index: usize| match headers.get(index) {
        Some(header) if !header.is_empty() => header.clone(),
        _ => format!("column_{}", index + 1),
    };

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(invalid)?;
        let fields: Vec<String> = record
            .iter()
            .enumerate()
            .filter_map(|(index, value)| {
                // A quoted value may span lines; the row must stay on one line.
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                (!value.is_empty()).then(|| format!("{}: {value}", field_name(index)))
            })
            .collect();
        if !fields.is_empty() {
            rows.push(fields.join("; "));
        }
    }
    if rows.is_empty() {
        return Err(IngestError::NoText {
            path: path.to_path_buf(),
            reason: "the CSV has a header row but no data rows".to_owned(),
        });
    }
    let mut metadata = base_metadata(DocumentFormat::Csv, Some(encoding));
    metadata.insert("rows".to_owned(), Value::from(rows.len()));
    Ok(ParsedDocument {
        title: file_stem_title(path),
        text: rows.join("\n\n"),
        metadata,
    })
}

pub(super) fn parse_json(
    path: &Path,
    bytes: &[u8],
    options: &ParseOptions,
) -> Result<Vec<ParsedDocument>, IngestError> {
    let (source, encoding) = decode_text(path, bytes)?;
    require_text(path, &source, WHITESPACE_ONLY)?;
    let value: Value = serde_json::from_str(&source).map_err(|error| IngestError::Corrupt {
        path: path.to_path_buf(),
        format: "json",
        reason: error.to_string(),
    })?;
    let records = RecordReader {
        path,
        options,
        format: DocumentFormat::Json,
        encoding,
    };
    let mut documents = Vec::new();
    let total = match value {
        Value::Object(record) => {
            documents.extend(records.document(record, RecordAt::Whole)?);
            1
        }
        Value::Array(items) => {
            let total = items.len();
            for (index, item) in items.into_iter().enumerate() {
                let at = RecordAt::Element(index + 1);
                match item {
                    Value::Object(record) => documents.extend(records.document(record, at)?),
                    other => {
                        return Err(records.invalid(
                            at,
                            &format!("expected a JSON object, found {}", kind(&other)),
                        ));
                    }
                }
            }
            total
        }
        other => {
            return Err(records.invalid(
                RecordAt::Whole,
                &format!(
                    "expected an object or an array of objects, found {}",
                    kind(&other)
                ),
            ));
        }
    };
    records.require_documents(documents, total)
}

pub(super) fn parse_jsonl(
    path: &Path,
    bytes: &[u8],
    options: &ParseOptions,
) -> Result<Vec<ParsedDocument>, IngestError> {
    let (source, encoding) = decode_text(path, bytes)?;
    require_text(path, &source, WHITESPACE_ONLY)?;
    let records = RecordReader {
        path,
        options,
        format: DocumentFormat::Jsonl,
        encoding,
    };
    let mut documents = Vec::new();
    let mut total = 0;
    for (index, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        total += 1;
        let at = RecordAt::Line(index + 1);
        let value: Value = serde_json::from_str(line).map_err(|error| {
            // Each line is parsed alone, so serde's "at line 1" would mislead; keep the column.
            let message = error.to_string();
            let position = format!(" at line {} column {}", error.line(), error.column());
            let message = message.strip_suffix(&position).unwrap_or(&message);
            records.invalid(
                at,
                &format!("invalid JSON at column {}: {message}", error.column()),
            )
        })?;
        match value {
            Value::Object(record) => documents.extend(records.document(record, at)?),
            other => {
                return Err(records.invalid(
                    at,
                    &format!("expected a JSON object, found {}", kind(&other)),
                ));
            }
        }
    }
    records.require_documents(documents, total)
}

/// Where a record is in its file, for errors and fallback titles.
#[derive(Debug, Clone, Copy)]
enum RecordAt {
    /// The file is one JSON object.
    Whole,
    /// The N-th element (1-based) of a JSON array.
    Element(usize),
    /// Line N (1-based) of a JSON Lines file.
    Line(usize),
}

impl fmt::Display for RecordAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordAt::Whole => write!(f, "the JSON object"),
            RecordAt::Element(n) => write!(f, "record #{n} of the array"),
            RecordAt::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// Turns JSON records of one file into documents.
struct RecordReader<'a> {
    path: &'a Path,
    options: &'a ParseOptions,
    format: DocumentFormat,
    encoding: &'static str,
}

impl RecordReader<'_> {
    /// The document of one record; `None` when its text and title are both blank.
    fn document(
        &self,
        mut record: Map<String, Value>,
        at: RecordAt,
    ) -> Result<Option<ParsedDocument>, IngestError> {
        let text_field = &self.options.json_text_field;
        let title_field = &self.options.json_title_field;
        let text = match record.remove(text_field) {
            Some(Value::String(text)) => text,
            Some(other) => {
                return Err(self.invalid(
                    at,
                    &format!(
                        "the text field `{text_field}` must be a string, found {}",
                        kind(&other)
                    ),
                ));
            }
            None => {
                return Err(self.invalid(at, &format!("the text field `{text_field}` is missing")));
            }
        };
        let title = match record.remove(title_field) {
            Some(Value::String(title)) if !title.trim().is_empty() => Some(title.trim().to_owned()),
            _ => None,
        };
        let text = match (text.trim().is_empty(), &title) {
            (false, _) => text,
            (true, Some(title)) => title.clone(),
            (true, None) => return Ok(None),
        };
        let mut metadata = base_metadata(self.format, Some(self.encoding));
        for (key, value) in record {
            let scalar = matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_));
            if scalar && !metadata.contains_key(&key) {
                metadata.insert(key, value);
            }
        }
        let title = title.unwrap_or_else(|| match at {
            RecordAt::Whole => file_stem_title(self.path),
            RecordAt::Element(n) | RecordAt::Line(n) => {
                format!("{} #{n}", file_stem_title(self.path))
            }
        });
        Ok(Some(ParsedDocument {
            title,
            text,
            metadata,
        }))
    }

    fn invalid(&self, at: RecordAt, problem: &str) -> IngestError {
        IngestError::InvalidRecord {
            path: self.path.to_path_buf(),
            reason: format!("{at}: {problem}"),
        }
    }

    /// Refuses a file that gave no document.
    fn require_documents(
        &self,
        documents: Vec<ParsedDocument>,
        records: usize,
    ) -> Result<Vec<ParsedDocument>, IngestError> {
        if !documents.is_empty() {
            return Ok(documents);
        }
        let reason = if records == 0 {
            "the file has no records".to_owned()
        } else {
            format!(
                "all {records} records have a blank `{}` and a blank `{}`",
                self.options.json_text_field, self.options.json_title_field
            )
        };
        Err(IngestError::NoText {
            path: self.path.to_path_buf(),
            reason,
        })
    }
}

/// "a string", "an array"... for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl(source: &str) -> Result<Vec<ParsedDocument>, IngestError> {
        parse_jsonl(
            Path::new("corpus.jsonl"),
            source.as_bytes(),
            &ParseOptions::default(),
        )
    }

    #[test]
    fn blank_text_falls_back_to_the_title_and_blank_records_are_skipped() {
        let documents = jsonl(
            "{\"_id\": \"1\", \"title\": \"only a title\", \"text\": \"\"}\n\
             {\"_id\": \"2\", \"title\": \"\", \"text\": \"  \"}\n\
             \n\
             {\"_id\": \"3\", \"text\": \"body\", \"n\": 3, \"ok\": true, \"tags\": [\"x\"], \"none\": null}\n",
        )
        .unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].title, "only a title");
        assert_eq!(documents[0].text, "only a title");
        assert_eq!(documents[1].title, "corpus #4");
        assert_eq!(documents[1].metadata["_id"], "3");
        assert_eq!(documents[1].metadata["n"], 3);
        assert_eq!(documents[1].metadata["ok"], true);
        assert!(!documents[1].metadata.contains_key("tags"));
        assert!(!documents[1].metadata.contains_key("none"));
        assert!(!documents[1].metadata.contains_key("text"));
    }

    #[test]
    fn all_blank_records_is_no_text() {
        let error = jsonl("{\"title\": \"\", \"text\": \"\"}\n{\"text\": \" \"}\n").unwrap_err();
        assert!(matches!(error, IngestError::NoText { .. }), "{error:?}");
        assert!(error.to_string().contains("all 2 records"), "{error}");
    }

    #[test]
    fn a_non_string_text_names_the_line_and_the_field() {
        let error = jsonl("{\"text\": \"fine\"}\n{\"text\": 42}\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "corpus.jsonl: line 2: the text field `text` must be a string, found a number"
        );
        let error = jsonl("[1, 2]\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("line 1: expected a JSON object, found an array")
        );
    }

    #[test]
    fn invalid_jsonl_reports_the_file_line_not_serdes_line() {
        let error = jsonl("{\"text\": \"a\"}\r\n{\"text\": }\r\n").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("corpus.jsonl: line 2: invalid JSON at column 10:"),
            "{message}"
        );
        assert!(!message.contains("line 1"), "{message}");
    }

    #[test]
    fn record_fields_do_not_override_format_and_encoding() {
        let documents =
            jsonl("{\"text\": \"t\", \"format\": \"evil\", \"encoding\": \"x\"}").unwrap();
        assert_eq!(documents[0].metadata["format"], "jsonl");
        assert_eq!(documents[0].metadata["encoding"], "utf-8");
    }

    #[test]
    fn custom_fields_are_used() {
        let options = ParseOptions {
            json_text_field: "body".to_owned(),
            json_title_field: "headline".to_owned(),
            ..ParseOptions::default()
        };
        let source =
            br#"[{"headline": "H", "body": "B", "text": "kept as metadata"}, {"body": "C"}]"#;
        let documents = parse_json(Path::new("news.json"), source, &options).unwrap();
        assert_eq!(documents[0].title, "H");
        assert_eq!(documents[0].text, "B");
        assert_eq!(documents[0].metadata["text"], "kept as metadata");
        assert_eq!(documents[1].title, "news #2");
    }

    #[test]
    fn json_that_is_not_records_is_refused() {
        let options = ParseOptions::default();
        let error = parse_json(Path::new("a.json"), b"\"just a string\"", &options).unwrap_err();
        assert!(
            matches!(error, IngestError::InvalidRecord { .. }),
            "{error:?}"
        );
        let error =
            parse_json(Path::new("a.json"), b"[{\"text\": \"x\"}, 3]", &options).unwrap_err();
        assert!(
            error.to_string().contains("record #2 of the array"),
            "{error}"
        );
        let error = parse_json(Path::new("a.json"), b"{\"text\": ", &options).unwrap_err();
        assert!(
            matches!(error, IngestError::Corrupt { format: "json", .. }),
            "{error:?}"
        );
        let error = parse_json(Path::new("a.json"), b"[]", &options).unwrap_err();
        assert!(error.to_string().contains("no records"), "{error}");
    }

    #[test]
    fn csv_rows_are_lines_of_named_fields() {
        let source = "name,price,\nTent,349,\n\"Pad, inflatable\",\"14\n9\",extra,more\n,,\n";
        let document = parse_csv(Path::new("gear.csv"), source.as_bytes()).unwrap();
        assert_eq!(
            document.text,
            "name: Tent; price: 349\n\nname: Pad, inflatable; price: 14 9; column_3: extra; column_4: more"
        );
        assert_eq!(document.metadata["rows"], 2);
        assert_eq!(document.title, "gear");
    }
}
