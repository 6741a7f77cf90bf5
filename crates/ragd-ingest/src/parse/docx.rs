//! Word (.docx): the text of the body's paragraphs and tables, read with `docx-rs`.
//!
//! Each paragraph becomes a block, and each table a block with one line per row (cells separated by
//! ` | `); blocks are separated by a blank line. Deleted tracked changes are left out, inserted ones
//! kept. Headers, footers, footnotes and comments are not extracted.
//!
//! Word saves a password-protected .docx as an OLE compound file (magic `D0 CF 11 E0 A1 B1 1A E1`),
//! not a ZIP: that is [`IngestError::Encrypted`]. Anything else that cannot be read is
//! [`IngestError::Corrupt`]. `docx-rs` unwraps the result of decompressing each part, so a damaged
//! archive (bad CRC, corrupt deflate stream: any truncated or bit-flipped upload) would panic inside
//! it; every entry of the archive is therefore decompressed and checked with the `zip` crate first,
//! and `docx-rs` still runs under `run_guarded` for the `expect`s that remain. Image previews, which
//! `docx-rs` renders by default, are turned off: only text is wanted.
//!
//! The title is the first paragraph styled `Title`, else the first styled `Heading1`, else the file stem.

use std::io::{Cursor, Read};
use std::path::Path;

use docx_rs::{
    DocumentChild, InsertChild, MoveToChild, Paragraph, ParagraphChild, ReadDocxOptions, RunChild,
    StructuredDataTagChild, Table, TableCellContent, TableChild, TableRowChild,
};

use super::{
    DocumentFormat, ParsedDocument, base_metadata, file_stem_title, require_text, run_guarded,
};
use crate::IngestError;

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

pub(super) fn parse_docx(path: &Path, bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
    let corrupt = |reason: String| IngestError::Corrupt {
        path: path.to_path_buf(),
        format: "docx",
        reason,
    };
    if bytes.starts_with(OLE_MAGIC) {
        return Err(IngestError::Encrypted {
            path: path.to_path_buf(),
            format: "docx",
        });
    }
    if !bytes.starts_with(ZIP_MAGIC) {
        return Err(corrupt(
            "not a ZIP archive (a .docx file is a ZIP package of XML parts)".to_owned(),
        ));
    }
    check_zip_archive(bytes, MAX_PART_BYTES).map_err(corrupt)?;
    let read_options = ReadDocxOptions::default().with_image_previews(false);
    let docx = run_guarded("docx-rs", || {
        docx_rs::read_docx_with_options(bytes, read_options)
    })
    .map_err(corrupt)?
    .map_err(|error| corrupt(error.to_string()))?;

    let mut body = BodyText::default();
    for child in &docx.document.children {
        match child {
            DocumentChild::Paragraph(paragraph) => body.add_paragraph(paragraph),
            DocumentChild::Table(table) => body.add_table(table),
            DocumentChild::StructuredDataTag(tag) => {
                for child in &tag.children {
                    body.add_tag_child(child);
                }
            }
            _ => {}
        }
    }
    let text = body.blocks.join("\n\n");
    require_text(path, &text, "the document has no text in its body")?;
    Ok(ParsedDocument {
        title: body
            .title
            .or(body.first_heading)
            .unwrap_or_else(|| file_stem_title(path)),
        text,
        metadata: base_metadata(DocumentFormat::Docx, None),
    })
}

/// The largest part of a .docx package accepted once decompressed (`docx-rs` reads parts whole).
const MAX_PART_BYTES: u64 = 256 * 1024 * 1024;

/// Decompresses every entry of the archive (discarding the output) so that a bad CRC or a corrupt
/// deflate stream is an error here rather than a panic in `docx-rs`, and a part that inflates beyond
/// `max_part_bytes` (a ZIP bomb) is refused before `docx-rs` loads it into memory.
fn check_zip_archive(bytes: &[u8], max_part_bytes: u64) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|error| format!("damaged ZIP archive: {error}"))?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|error| format!("damaged ZIP archive: entry #{index}: {error}"))?;
        let inflated = std::io::copy(
            &mut Read::take(&mut entry, max_part_bytes + 1),
            &mut std::io::sink(),
        )
        .map_err(|error| format!("damaged ZIP archive: `{}`: {error}", entry.name()))?;
        if inflated > max_part_bytes {
            return Err(format!(
                "`{}` decompresses to more than {max_part_bytes} bytes",
                entry.name()
            ));
        }
    }
    Ok(())
}

/// The blocks of text of a document body, and its title candidates.
#[derive(Default)]
struct BodyText {
    blocks: Vec<String>,
    title: Option<String>,
    first_heading: Option<String>,
}

impl BodyText {
    fn add_paragraph(&mut self, paragraph: &Paragraph) {
        let text = paragraph_text(paragraph);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let style = paragraph
            .property
            .style
            .as_ref()
            .map(|style| style.val.to_ascii_lowercase().replace(' ', ""));
        match style.as_deref() {
            Some("title") if self.title.is_none() => self.title = Some(text.to_owned()),
            Some("heading1") if self.first_heading.is_none() => {
                self.first_heading = Some(text.to_owned());
            }
            _ => {}
        }
        self.blocks.push(text.to_owned());
    }

    fn add_table(&mut self, table: &Table) {
        let rows: Vec<String> = table
            .rows
            .iter()
            .map(|TableChild::TableRow(row)| {
                let cells: Vec<String> = row
                    .cells
                    .iter()
                    .map(|TableRowChild::TableCell(cell)| table_cell_text(&cell.children))
                    .collect();
                cells.join(" | ")
            })
            .filter(|row| !row.replace('|', "").trim().is_empty())
            .collect();
        if !rows.is_empty() {
            self.blocks.push(rows.join("\n"));
        }
    }

    fn add_tag_child(&mut self, child: &StructuredDataTagChild) {
        match child {
            StructuredDataTagChild::Paragraph(paragraph) => self.add_paragraph(paragraph),
            StructuredDataTagChild::Table(table) => self.add_table(table),
            StructuredDataTagChild::StructuredDataTag(tag) => {
                for child in &tag.children {
                    self.add_tag_child(child);
                }
            }
            _ => {}
        }
    }
}

/// A table cell on one line: its paragraphs joined by spaces (nested tables included).
fn table_cell_text(contents: &[TableCellContent]) -> String {
    let mut parts = Vec::new();
    for content in contents {
        match content {
            TableCellContent::Paragraph(paragraph) => parts.push(paragraph_text(paragraph)),
            TableCellContent::Table(table) => {
                let mut nested = BodyText::default();
                nested.add_table(table);
                parts.extend(nested.blocks);
            }
            _ => {}
        }
    }
    let joined = parts.join(" ");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn paragraph_text(paragraph: &Paragraph) -> String {
    let mut text = String::new();
    push_paragraph_children(&paragraph.children, &mut text);
    text
}

fn push_paragraph_children(children: &[ParagraphChild], text: &mut String) {
    for child in children {
        match child {
            ParagraphChild::Run(run) => push_run(&run.children, text),
            ParagraphChild::Hyperlink(link) => push_paragraph_children(&link.children, text),
            ParagraphChild::Insert(insert) => {
                for child in &insert.children {
                    if let InsertChild::Run(run) = child {
                        push_run(&run.children, text);
                    }
                }
            }
            ParagraphChild::MoveTo(moved) => {
                for child in &moved.children {
                    if let MoveToChild::Run(run) = child {
                        push_run(&run.children, text);
                    }
                }
            }
            ParagraphChild::StructuredDataTag(tag) => {
                for child in &tag.children {
                    if let StructuredDataTagChild::Run(run) = child {
                        push_run(&run.children, text);
                    }
                }
            }
            _ => {}
        }
    }
}

fn push_run(children: &[RunChild], text: &mut String) {
    for child in children {
        match child {
            RunChild::Text(run_text) => text.push_str(&run_text.text),
            RunChild::Tab(_) | RunChild::PTab(_) => text.push('\t'),
            RunChild::Break(_) | RunChild::CarriageReturn(_) => text.push('\n'),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_with(name: &str, content: &[u8], method: zip::CompressionMethod) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        writer.start_file(name, options).unwrap();
        writer.write_all(content).unwrap();
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn a_part_that_inflates_beyond_the_limit_is_refused() {
        let archive = zip_with(
            "word/document.xml",
            &[b'a'; 10_000],
            zip::CompressionMethod::Deflated,
        );
        assert_eq!(check_zip_archive(&archive, 10_000), Ok(()));
        let error = check_zip_archive(&archive, 9_999).unwrap_err();
        assert_eq!(
            error,
            "`word/document.xml` decompresses to more than 9999 bytes"
        );
    }

    #[test]
    fn a_bad_crc_is_an_error_not_a_panic() {
        let name = "word/document.xml";
        let mut archive = zip_with(name, b"<w:document/>", zip::CompressionMethod::Stored);
        // A stored entry's bytes follow its 30-byte local header and its name.
        archive[30 + name.len() + 3] ^= 0xFF;
        let error = check_zip_archive(&archive, MAX_PART_BYTES).unwrap_err();
        assert!(error.starts_with("damaged ZIP archive"), "{error}");
        let error = parse_docx(Path::new("bad-crc.docx"), &archive).unwrap_err();
        assert!(
            matches!(error, IngestError::Corrupt { format: "docx", .. }),
            "{error:?}"
        );
    }
}
