//! Parsing: turning a file (or uploaded bytes) into plain-text documents with a title and metadata.
//!
//! One submodule per format family: [`text`] (txt, md), [`html`], [`pdf`], [`docx`] and [`records`]
//! (csv, json, jsonl); [`encoding`] decodes the bytes of every text-based format. A file gives one
//! document, except json arrays and jsonl files, which give one per record.
//!
//! Invariants, whatever the format:
//! - nothing here panics on bad input; the third-party parsers that can (pdf-extract, docx-rs) run
//!   under [`run_guarded`] and a panic becomes [`IngestError::Corrupt`] (a binary calls
//!   [`silence_guarded_parser_panics`] so such panics do not also print a backtrace);
//! - every error names the file;
//! - a returned document has a non-empty title and text that is not only whitespace (else
//!   [`IngestError::NoText`]);
//! - text is returned as extracted, not cleaned (that is the job of the cleaning step).
//!
//! Parsing is synchronous CPU work; callers on an async runtime run it on a blocking thread.

mod docx;
pub mod encoding;
mod html;
mod pdf;
mod records;
mod text;

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;

use serde_json::{Map, Value};

use crate::IngestError;

/// One document extracted from a file (a file gives one; .jsonl / a .json array give one per record).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    /// Never empty: a format-specific title, else the file stem.
    pub title: String,
    /// Plain UTF-8 text, not yet cleaned.
    pub text: String,
    /// At least `"format"` ([`DocumentFormat::name`]); `"encoding"` for text-based formats; `"pages"`
    /// for pdf, `"rows"` for csv; the other scalar fields of the record for json and jsonl.
    pub metadata: Map<String, Value>,
}

/// The file formats ragd can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
    Csv,
    Json,
    Jsonl,
}

impl DocumentFormat {
    /// The format of a file by its extension, case-insensitive; `None` if unsupported.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        let format = match extension.as_str() {
            "txt" | "text" => Self::Text,
            "md" | "markdown" => Self::Markdown,
            "html" | "htm" => Self::Html,
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            "csv" => Self::Csv,
            "json" => Self::Json,
            "jsonl" | "ndjson" => Self::Jsonl,
            _ => return None,
        };
        Some(format)
    }

    /// The short name of the format, as stored in the `"format"` metadata field.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "txt",
            Self::Markdown => "md",
            Self::Html => "html",
            Self::Pdf => "pdf",
            Self::Docx => "docx",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Jsonl => "jsonl",
        }
    }
}

/// How files are parsed.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Files larger than this are refused with [`IngestError::TooLarge`] before being read.
    pub max_file_bytes: u64,
    /// The field of a json / jsonl record that holds the document text.
    pub json_text_field: String,
    /// The field of a json / jsonl record that holds the document title.
    pub json_title_field: String,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 * 1024 * 1024,
            json_text_field: "text".to_owned(),
            json_title_field: "title".to_owned(),
        }
    }
}

/// Reads and parses a file.
///
/// The format comes from the extension ([`IngestError::Unsupported`] otherwise), and the size from the
/// file system before anything is read, so an oversized file is refused without being loaded.
pub fn parse_file(path: &Path, options: &ParseOptions) -> Result<Vec<ParsedDocument>, IngestError> {
    let format = DocumentFormat::from_path(path).ok_or_else(|| IngestError::Unsupported {
        path: path.to_path_buf(),
        extension: path
            .extension()
            .map(|extension| extension.to_string_lossy().into_owned())
            .unwrap_or_else(|| "(none)".to_owned()),
    })?;
    let io_error = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io_error)?.len();
    check_size(path, size, options)?;
    let bytes = std::fs::read(path).map_err(io_error)?;
    parse_bytes(path, &bytes, format, options)
}

/// Parses bytes already in memory (an HTTP upload, say); `path` names the document in errors and gives
/// the fallback title.
pub fn parse_bytes(
    path: &Path,
    bytes: &[u8],
    format: DocumentFormat,
    options: &ParseOptions,
) -> Result<Vec<ParsedDocument>, IngestError> {
    check_size(path, bytes.len() as u64, options)?;
    match format {
        DocumentFormat::Text => text::parse_plain_text(path, bytes).map(|document| vec![document]),
        DocumentFormat::Markdown => {
            text::parse_markdown(path, bytes).map(|document| vec![document])
        }
        DocumentFormat::Html => html::parse_html(path, bytes).map(|document| vec![document]),
        DocumentFormat::Pdf => pdf::parse_pdf(path, bytes).map(|document| vec![document]),
        DocumentFormat::Docx => docx::parse_docx(path, bytes).map(|document| vec![document]),
        DocumentFormat::Csv => records::parse_csv(path, bytes).map(|document| vec![document]),
        DocumentFormat::Json => records::parse_json(path, bytes, options),
        DocumentFormat::Jsonl => records::parse_jsonl(path, bytes, options),
    }
}

fn check_size(path: &Path, size: u64, options: &ParseOptions) -> Result<(), IngestError> {
    if size == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    if size > options.max_file_bytes {
        return Err(IngestError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: options.max_file_bytes,
        });
    }
    Ok(())
}

/// The title of last resort: the file name without its extension (never empty).
fn file_stem_title(path: &Path) -> String {
    match path.file_stem() {
        Some(stem) if !stem.is_empty() => stem.to_string_lossy().into_owned(),
        _ => "untitled".to_owned(),
    }
}

/// Metadata every document of `format` starts with.
fn base_metadata(format: DocumentFormat, encoding: Option<&str>) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("format".to_owned(), Value::from(format.name()));
    if let Some(encoding) = encoding {
        metadata.insert("encoding".to_owned(), Value::from(encoding));
    }
    metadata
}

/// Refuses a document whose text is only whitespace, with a reason specific to the format.
fn require_text(path: &Path, text: &str, reason: &str) -> Result<(), IngestError> {
    if text.trim().is_empty() {
        return Err(IngestError::NoText {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        });
    }
    Ok(())
}

thread_local! {
    /// Set while a third-party parser runs under [`run_guarded`] on this thread.
    static IN_GUARDED_PARSER: Cell<bool> = const { Cell::new(false) };
}

/// Runs a third-party parser that may panic on hostile input; a panic becomes the `Err` reason, to be
/// reported as [`IngestError::Corrupt`].
pub(crate) fn run_guarded<T>(parser: &str, parse: impl FnOnce() -> T) -> Result<T, String> {
    let was_guarded = IN_GUARDED_PARSER.with(|flag| flag.replace(true));
    let result = catch_unwind(AssertUnwindSafe(parse));
    IN_GUARDED_PARSER.with(|flag| flag.set(was_guarded));
    result.map_err(|payload| panic_message(parser, payload.as_ref()))
}

/// Installs, once, a panic hook that stays silent for panics caught in a guarded parser (they are
/// already reported as `Corrupt` errors naming the file) and hands every other panic to the previous
/// hook. For binaries: a library never installs hooks by itself.
pub fn silence_guarded_parser_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARDED_PARSER.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// The reason of a [`IngestError::Corrupt`] for a panic caught in the third-party `parser`.
fn panic_message(parser: &str, payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("{parser} crashed on this file: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_path_is_case_insensitive_and_knows_every_alias() {
        let cases = [
            ("a.TXT", DocumentFormat::Text),
            ("a.text", DocumentFormat::Text),
            ("a.Md", DocumentFormat::Markdown),
            ("a.markdown", DocumentFormat::Markdown),
            ("a.htm", DocumentFormat::Html),
            ("a.HTML", DocumentFormat::Html),
            ("a.pdf", DocumentFormat::Pdf),
            ("a.docx", DocumentFormat::Docx),
            ("a.csv", DocumentFormat::Csv),
            ("a.json", DocumentFormat::Json),
            ("a.jsonl", DocumentFormat::Jsonl),
            ("dir.v2/a.NDJSON", DocumentFormat::Jsonl),
        ];
        for (path, format) in cases {
            assert_eq!(
                DocumentFormat::from_path(Path::new(path)),
                Some(format),
                "{path}"
            );
        }
        for path in ["a.png", "a.doc", "README", "a.txt.gz", ".txt"] {
            assert_eq!(DocumentFormat::from_path(Path::new(path)), None, "{path}");
        }
    }

    #[test]
    fn file_stem_title_falls_back_to_untitled() {
        assert_eq!(file_stem_title(Path::new("dir/My Notes.md")), "My Notes");
        assert_eq!(file_stem_title(Path::new("")), "untitled");
    }

    #[test]
    fn parse_bytes_refuses_empty_and_oversized_input() {
        let options = ParseOptions {
            max_file_bytes: 4,
            ..ParseOptions::default()
        };
        let path = Path::new("upload.txt");
        let empty = parse_bytes(path, b"", DocumentFormat::Text, &options).unwrap_err();
        assert!(matches!(empty, IngestError::Empty { .. }), "{empty:?}");
        let large = parse_bytes(path, b"12345", DocumentFormat::Text, &options).unwrap_err();
        assert!(
            matches!(
                large,
                IngestError::TooLarge {
                    size: 5,
                    limit: 4,
                    ..
                }
            ),
            "{large:?}"
        );
    }

    #[test]
    fn a_guarded_panic_becomes_an_error_reason() {
        silence_guarded_parser_panics();
        let reason = run_guarded("p", || -> u8 { panic!("bad xref") }).unwrap_err();
        assert_eq!(reason, "p crashed on this file: bad xref");
        assert_eq!(run_guarded("p", || 5).unwrap(), 5);
        assert!(!IN_GUARDED_PARSER.with(Cell::get));
    }

    #[test]
    fn panic_message_reads_both_payload_kinds() {
        let caught = catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(
            panic_message("p", caught.as_ref()),
            "p crashed on this file: boom 1"
        );
        let caught = catch_unwind(|| panic!("static")).unwrap_err();
        assert!(panic_message("p", caught.as_ref()).ends_with(": static"));
        let caught = catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert!(panic_message("p", caught.as_ref()).ends_with(": unknown panic"));
    }
}
