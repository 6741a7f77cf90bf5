//! PDF: the text layer, page by page, extracted by `pdf-extract` from a document loaded by `lopdf`.
//!
//! The document is loaded once (`lopdf` via `pdf_extract`'s re-export): a load failure is
//! [`IngestError::Corrupt`]. `lopdf` opens files protected only by an owner password (empty user
//! password) by itself and removes `/Encrypt` from the trailer; a file that still has `/Encrypt`
//! after loading needs a user password and is [`IngestError::Encrypted`]. `pdf-extract` panics on
//! some malformed files (unwraps on missing fonts or odd encodings), so loading and extraction run
//! under [`run_guarded`] and a panic becomes [`IngestError::Corrupt`].
//!
//! Pages are separated by a blank line. The title is the Info dictionary's `/Title`, else the file stem.

use std::path::Path;

use pdf_extract::{Document, Object, PlainTextOutput};
use serde_json::Value;

use super::{
    DocumentFormat, ParsedDocument, base_metadata, file_stem_title, require_text, run_guarded,
};
use crate::IngestError;

pub(super) fn parse_pdf(path: &Path, bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
    let corrupt = |reason: String| IngestError::Corrupt {
        path: path.to_path_buf(),
        format: "pdf",
        reason,
    };
    let document = run_guarded("lopdf", || Document::load_mem(bytes))
        .map_err(corrupt)?
        .map_err(|error| corrupt(error.to_string()))?;
    if document.trailer.get(b"Encrypt").is_ok() {
        return Err(IngestError::Encrypted {
            path: path.to_path_buf(),
            format: "pdf",
        });
    }
    let page_count = document.get_pages().len();
    if page_count == 0 {
        return Err(IngestError::NoText {
            path: path.to_path_buf(),
            reason: "the PDF has no pages".to_owned(),
        });
    }
    let pages = run_guarded("pdf-extract", || extract_pages(&document))
        .map_err(corrupt)?
        .map_err(|error| corrupt(error.to_string()))?;
    let text = pages.join("\n\n");
    require_text(
        path,
        &text,
        "the PDF has no text layer; it may be a scanned image",
    )?;
    let mut metadata = base_metadata(DocumentFormat::Pdf, None);
    metadata.insert("pages".to_owned(), Value::from(page_count));
    Ok(ParsedDocument {
        title: info_title(&document).unwrap_or_else(|| file_stem_title(path)),
        text,
        metadata,
    })
}

/// The text of each page that has some, trimmed.
fn extract_pages(document: &Document) -> Result<Vec<String>, pdf_extract::OutputError> {
    let mut pages = Vec::new();
    for page_number in document.get_pages().into_keys() {
        let mut page = String::new();
        pdf_extract::output_doc_page(document, &mut PlainTextOutput::new(&mut page), page_number)?;
        let page = page.trim();
        if !page.is_empty() {
            pages.push(page.to_owned());
        }
    }
    Ok(pages)
}

/// The `/Title` of the Info dictionary, if present and not blank.
fn info_title(document: &Document) -> Option<String> {
    let info = document.trailer.get(b"Info").ok()?;
    let (_, info) = document.dereference(info).ok()?;
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let (_, title) = document.dereference(title).ok()?;
    let title = match title {
        Object::String(..) => pdf_extract::decode_text_string(title).ok()?,
        _ => return None,
    };
    // lopdf keeps a UTF-8 byte-order mark in the decoded text; some writers pad with NULs.
    let title = title.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '\0');
    (!title.is_empty()).then(|| title.to_owned())
}
