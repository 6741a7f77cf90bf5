//! Parsing of the committed fixtures (`fixtures/docs`, `fixtures/bad`) and of the real Cranfield corpus.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ragd_ingest::parse::encoding::WINDOWS_1252_FALLBACK;
use ragd_ingest::{
    DocumentFormat, IngestError, ParseOptions, ParsedDocument, parse_bytes, parse_file,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");

fn fixture(relative: &str) -> PathBuf {
    Path::new(FIXTURES).join(relative)
}

fn parse(relative: &str) -> Result<Vec<ParsedDocument>, IngestError> {
    parse_file(&fixture(relative), &ParseOptions::default())
}

/// Parses a fixture that gives exactly one document.
fn parse_one(relative: &str) -> ParsedDocument {
    let mut documents = parse(relative).unwrap_or_else(|error| panic!("{relative}: {error}"));
    assert_eq!(documents.len(), 1, "{relative}");
    documents.remove(0)
}

fn parse_err(relative: &str) -> IngestError {
    match parse(relative) {
        Ok(documents) => panic!(
            "{relative} parsed into {} documents, expected an error",
            documents.len()
        ),
        Err(error) => {
            let file_name = Path::new(relative).file_name().unwrap().to_str().unwrap();
            assert!(
                error.to_string().contains(file_name),
                "the error does not name the file: {error}"
            );
            error
        }
    }
}

fn assert_contains_all(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(text.contains(phrase), "missing {phrase:?} in:\n{text}");
    }
}

fn assert_format(document: &ParsedDocument, format: &str, encoding: Option<&str>) {
    assert_eq!(
        document.metadata["format"], format,
        "{:?}",
        document.metadata
    );
    match encoding {
        Some(encoding) => assert_eq!(document.metadata["encoding"], encoding),
        None => assert!(!document.metadata.contains_key("encoding")),
    }
}

// ------------------------------------------------------------------------------------------------
// fixtures/docs: everything parses

#[test]
fn every_fixture_in_docs_parses_into_documents_with_text() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixture("docs")).unwrap() {
        let path = entry.unwrap().path();
        let documents =
            parse_file(&path, &ParseOptions::default()).unwrap_or_else(|error| panic!("{error}"));
        assert!(!documents.is_empty(), "{}", path.display());
        for document in &documents {
            assert!(!document.title.trim().is_empty(), "{}", path.display());
            assert!(
                document.text.chars().count() >= 100,
                "{}: {document:?}",
                path.display()
            );
            let format = DocumentFormat::from_path(&path).unwrap().name();
            assert_eq!(document.metadata["format"], format);
        }
        seen += 1;
    }
    assert_eq!(
        seen, 10,
        "fixtures/docs should hold the 10 documents the tests know"
    );
}

#[test]
fn txt_is_decoded_as_is_and_titled_by_file_stem() {
    let document = parse_one("docs/guide.txt");
    assert_eq!(document.title, "guide");
    assert_format(&document, "txt", Some("utf-8"));
    assert!(
        document
            .text
            .starts_with("Winter Beekeeping: A Field Guide")
    );
    assert_contains_all(
        &document.text,
        &["mouse guards", "fondant or a candy board"],
    );
    assert!(
        document.text.contains("\n\nStart with food."),
        "paragraphs are kept"
    );
}

#[test]
fn markdown_keeps_its_syntax_and_is_titled_by_its_first_heading() {
    let document = parse_one("docs/notes.md");
    assert_eq!(
        document.title,
        "Retrieval-Augmented Generation: Working Notes"
    );
    assert_format(&document, "md", Some("utf-8"));
    assert_contains_all(
        &document.text,
        &[
            "## Hybrid search",
            "- an overlap of 50 tokens",
            "reciprocal rank fusion",
        ],
    );
}

#[test]
fn chinese_text_is_utf8() {
    let document = parse_one("docs/chinese.txt");
    assert_eq!(document.title, "chinese");
    assert_format(&document, "txt", Some("utf-8"));
    assert_contains_all(
        &document.text,
        &["中国茶文化简述", "陆羽写成了世界上第一部茶学专著《茶经》"],
    );
}

#[test]
fn markdown_with_emoji_and_cjk_keeps_them() {
    let document = parse_one("docs/emoji.md");
    assert_eq!(document.title, "Ten Days in Japan 🇯🇵 — Travel Notes");
    assert_contains_all(
        &document.text,
        &["cherry blossom season 🌸", "Kyoto (京都)", "ラーメン", "🦌"],
    );
}

#[test]
fn html_gives_visible_text_in_paragraphs() {
    let document = parse_one("docs/page.html");
    assert_eq!(document.title, "The Fresnel Lens and the Modern Lighthouse");
    assert_format(&document, "html", Some("utf-8"));
    let text = &document.text;
    assert_contains_all(
        text,
        &[
            "How a Lens Changed Maritime Safety\n\nBefore the nineteenth century",
            // Inline elements and source line breaks do not break the sentence.
            "the French physicist Augustin-Jean Fresnel presented a new kind of lens",
            "First order: focal distance of 920 mm, for seacoast lights.\nThird order:",
            "Lighthouse | Lens | Characteristic\nCordouan | First order | Occulting, 12 s",
            "by timing the flashes.\nMany of the original lenses",
            "Home · History",
        ],
    );
    for hidden in [
        "SCRIPT_SHOULD_NOT_APPEAR",
        "trackingMarker",
        "secret-style-marker",
        "NOSCRIPT_SHOULD_NOT_APPEAR",
        "TEMPLATE_SHOULD_NOT_APPEAR",
    ] {
        assert!(!text.contains(hidden), "{hidden} leaked into:\n{text}");
    }
    assert!(
        !text.contains("  "),
        "runs of spaces are collapsed:\n{text}"
    );
    assert!(!text.contains("\n\n\n"), "at most one blank line:\n{text}");
}

#[test]
fn html_without_title_uses_the_first_h1_then_the_file_stem() {
    let options = ParseOptions::default();
    let page =
        b"<html><body><p>intro</p><h1>Main <i>heading</i></h1><p>body text</p></body></html>";
    let documents =
        parse_bytes(Path::new("up/x.html"), page, DocumentFormat::Html, &options).unwrap();
    assert_eq!(documents[0].title, "Main heading");
    let documents = parse_bytes(
        Path::new("up/plain-page.htm"),
        b"<p>only text</p>",
        DocumentFormat::Html,
        &options,
    )
    .unwrap();
    assert_eq!(documents[0].title, "plain-page");
    assert_eq!(documents[0].text, "only text");
}

#[test]
fn pdf_gives_the_text_layer_of_both_pages_and_the_info_title() {
    let document = parse_one("docs/paper.pdf");
    assert_eq!(
        document.title,
        "Laminar-Turbulent Transition on Swept Wings"
    );
    assert_format(&document, "pdf", None);
    assert_eq!(document.metadata["pages"], 2);
    let text = &document.text;
    assert_contains_all(
        text,
        &[
            "1. Introduction",
            "Tollmien-Schlichting",
            "crossflow",
            "3. Results",
            "4. Conclusions",
        ],
    );
    let page_1 = text.find("Experimental arrangement").unwrap();
    let page_2 = text.find("Polishing the leading edge").unwrap();
    assert!(page_1 < page_2, "pages are in order");
}

#[test]
fn docx_gives_paragraphs_tables_and_the_title_style() {
    let document = parse_one("docs/report.docx");
    assert_eq!(
        document.title,
        "Quarterly Incident Review: Database Operations"
    );
    assert_format(&document, "docx", None);
    let text = &document.text;
    assert_contains_all(
        text,
        &[
            "Quarterly Incident Review: Database Operations\n\nSummary\n\nThe platform team",
            "Date | Incident | Downtime\nJuly 14 | Failover during firmware upgrade | 23 minutes",
            "September 9 | Disk full on WAL archive volume | 8 minutes",
            "Next quarter\n\nWe will move the archive",
        ],
    );
}

#[test]
fn csv_rows_are_rendered_as_field_value_lines() {
    let document = parse_one("docs/products.csv");
    assert_eq!(document.title, "products");
    assert_format(&document, "csv", Some("utf-8"));
    assert_eq!(document.metadata["rows"], 10);
    let rows: Vec<&str> = document.text.split("\n\n").collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(
        rows[0],
        "sku: TR-100; name: Ridgeline 2 Tent; category: shelter; price_usd: 349.00; weight_g: 1650; \
         description: Two-person freestanding tent with two doors, aluminium poles and a full rain fly."
    );
    assert!(rows.iter().all(|row| !row.contains('\n')));
    assert!(rows[2].contains("rated to -10 °C"));
}

#[test]
fn json_array_gives_one_document_per_object_with_scalar_metadata() {
    let documents = parse("docs/faq.json").unwrap();
    assert_eq!(documents.len(), 5);
    assert_eq!(documents[0].title, "What can go in the green compost bin?");
    assert!(documents[0].text.starts_with("Fruit and vegetable scraps"));
    assert_format(&documents[0], "json", Some("utf-8"));
    assert_eq!(documents[0].metadata["category"], "sorting");
    assert_eq!(documents[3].metadata["priority"], 2);
    assert_eq!(documents[4].metadata["free"], true);
    assert!(!documents[0].metadata.contains_key("text"));
    assert!(!documents[0].metadata.contains_key("title"));
}

#[test]
fn jsonl_gives_one_document_per_line_with_id() {
    let documents = parse("docs/articles.jsonl").unwrap();
    assert_eq!(documents.len(), 5);
    let ids: Vec<&str> = documents
        .iter()
        .map(|d| d.metadata["_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["astro-1", "astro-2", "astro-3", "astro-4", "astro-5"]);
    assert_eq!(documents[1].title, "How exoplanets are found");
    assert!(documents[0].text.contains("Olbers' paradox"));
    assert_format(&documents[4], "jsonl", Some("utf-8"));
    assert_eq!(documents[4].metadata["year"], 2023);
}

// ------------------------------------------------------------------------------------------------
// fixtures/bad: each failure is the right error

#[test]
fn empty_file_is_empty() {
    assert!(matches!(
        parse_err("bad/empty.txt"),
        IngestError::Empty { .. }
    ));
}

#[test]
fn whitespace_only_markdown_is_no_text() {
    assert!(matches!(
        parse_err("bad/blank.md"),
        IngestError::NoText { .. }
    ));
}

#[test]
fn corrupt_pdf_is_corrupt() {
    let error = parse_err("bad/corrupt.pdf");
    assert!(
        matches!(error, IngestError::Corrupt { format: "pdf", .. }),
        "{error:?}"
    );
}

#[test]
fn password_protected_pdf_is_encrypted() {
    let error = parse_err("bad/encrypted.pdf");
    assert!(
        matches!(error, IngestError::Encrypted { format: "pdf", .. }),
        "{error:?}"
    );
}

#[test]
fn pdf_without_text_layer_is_no_text_with_a_hint() {
    let error = parse_err("bad/scanned.pdf");
    assert!(matches!(error, IngestError::NoText { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("no text layer; it may be a scanned image"),
        "{error}"
    );
}

#[test]
fn docx_that_is_not_a_zip_is_corrupt() {
    let error = parse_err("bad/corrupt.docx");
    assert!(
        matches!(error, IngestError::Corrupt { format: "docx", .. }),
        "{error:?}"
    );
}

#[test]
fn docx_in_an_ole_container_is_encrypted() {
    let error = parse_err("bad/encrypted.docx");
    assert!(
        matches!(error, IngestError::Encrypted { format: "docx", .. }),
        "{error:?}"
    );
}

#[test]
fn truncated_docx_zip_is_corrupt() {
    let bytes = std::fs::read(fixture("docs/report.docx")).unwrap();
    let truncated = &bytes[..bytes.len() / 2];
    let error = parse_bytes(
        Path::new("half.docx"),
        truncated,
        DocumentFormat::Docx,
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, IngestError::Corrupt { format: "docx", .. }),
        "{error:?}"
    );
}

#[test]
fn truncated_pdf_is_an_error_not_a_panic() {
    let bytes = std::fs::read(fixture("docs/paper.pdf")).unwrap();
    for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 40] {
        let result = parse_bytes(
            Path::new("cut.pdf"),
            &bytes[..cut],
            DocumentFormat::Pdf,
            &ParseOptions::default(),
        );
        // lopdf may recover some pages of a truncated file; it must never panic through us.
        if let Err(error) = result {
            assert!(
                matches!(
                    error,
                    IngestError::Corrupt { .. } | IngestError::NoText { .. }
                ),
                "{error:?}"
            );
        }
    }
}

#[test]
fn damaged_pdf_and_docx_files_are_errors_never_panics() {
    // pdf-extract, lopdf and docx-rs panic on many of these; the parser must turn that into errors.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, format) in [
        ("docs/paper.pdf", DocumentFormat::Pdf),
        ("docs/report.docx", DocumentFormat::Docx),
    ] {
        let original = std::fs::read(fixture(name)).unwrap();
        for _ in 0..150 {
            let mut bytes = original.clone();
            for _ in 0..4 {
                let position = next() as usize % bytes.len();
                bytes[position] = next() as u8;
            }
            match parse_bytes(Path::new(name), &bytes, format, &ParseOptions::default()) {
                Ok(documents) => assert_eq!(documents.len(), 1),
                Err(
                    IngestError::Corrupt { .. }
                    | IngestError::NoText { .. }
                    | IngestError::Encrypted { .. },
                ) => {}
                Err(other) => panic!("{name}: unexpected error {other:?}"),
            }
        }
    }
}

#[test]
fn png_is_unsupported() {
    let error = parse_err("bad/image.png");
    match error {
        IngestError::Unsupported { extension, .. } => assert_eq!(extension, "png"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn file_without_extension_is_unsupported() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("README");
    std::fs::write(&path, "text").unwrap();
    let error = parse_file(&path, &ParseOptions::default()).unwrap_err();
    assert!(
        matches!(error, IngestError::Unsupported { .. }),
        "{error:?}"
    );
}

#[test]
fn binary_bytes_in_a_txt_are_an_encoding_error() {
    let error = parse_err("bad/binary.txt");
    assert!(matches!(error, IngestError::Encoding { .. }), "{error:?}");
    assert!(error.to_string().contains("not a text file"), "{error}");
}

#[test]
fn latin1_text_decodes_through_the_labelled_fallback() {
    let document = parse_one("bad/latin1.txt");
    assert_format(&document, "txt", Some(WINDOWS_1252_FALLBACK));
    assert_eq!(
        document.text,
        "Café crème and crêpes in Zürich: a naïve über-review — sans doute très bon.\n"
    );
}

#[test]
fn utf16_with_bom_decodes_in_both_byte_orders() {
    let expected = "Grüße aus Köln: Übung macht den Meister. Ελληνικά και 中文.\n";
    let little = parse_one("bad/utf16le.txt");
    assert_eq!(little.text, expected);
    assert_format(&little, "txt", Some("utf-16le"));
    let big = parse_one("bad/utf16be.txt");
    assert_eq!(big.text, expected);
    assert_format(&big, "txt", Some("utf-16be"));
}

#[test]
fn utf8_bom_is_stripped_before_the_title_is_read() {
    let document = parse_one("bad/utf8bom.md");
    assert_eq!(document.title, "Überblick");
    assert!(
        document.text.starts_with("# Überblick"),
        "{:?}",
        document.text
    );
    assert_format(&document, "md", Some("utf-8"));
}

#[test]
fn invalid_jsonl_line_names_its_line_number() {
    let error = parse_err("bad/bad.jsonl");
    assert!(
        matches!(error, IngestError::InvalidRecord { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("line 2: invalid JSON"),
        "{error}"
    );
}

#[test]
fn json_without_text_field_is_an_invalid_record() {
    let error = parse_err("bad/notext.json");
    assert!(
        matches!(error, IngestError::InvalidRecord { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("the text field `text` is missing"),
        "{error}"
    );
}

#[test]
fn csv_with_only_a_header_is_no_text() {
    let error = parse_err("bad/header_only.csv");
    assert!(matches!(error, IngestError::NoText { .. }), "{error:?}");
    assert!(error.to_string().contains("no data rows"), "{error}");
}

#[test]
fn a_pdf_that_crashes_pdf_extract_is_corrupt() {
    let error = parse_err("bad/crashing.pdf");
    assert!(matches!(error, IngestError::Corrupt { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("pdf-extract crashed on this file"),
        "{error}"
    );
    assert!(error.to_string().contains("crashing.pdf"), "{error}");
}

#[test]
fn every_bad_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(fixture("bad"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bad.jsonl",
            "binary.txt",
            "blank.md",
            "corrupt.docx",
            "corrupt.pdf",
            "crashing.pdf",
            "empty.txt",
            "encrypted.docx",
            "encrypted.pdf",
            "header_only.csv",
            "image.png",
            "latin1.txt",
            "notext.json",
            "scanned.pdf",
            "utf16be.txt",
            "utf16le.txt",
            "utf8bom.md",
        ]
    );
}

// ------------------------------------------------------------------------------------------------
// Size limits

#[test]
fn a_200_mb_file_is_refused_as_too_large_without_being_read() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("huge.txt");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(200 * 1024 * 1024).unwrap(); // sparse: no disk used
    drop(file);
    let started = Instant::now();
    let error = parse_file(&path, &ParseOptions::default()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    match error {
        IngestError::TooLarge { size, limit, .. } => {
            assert_eq!(size, 200 * 1024 * 1024);
            assert_eq!(limit, 64 * 1024 * 1024);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_size_limit_is_configurable() {
    let options = ParseOptions {
        max_file_bytes: 100,
        ..ParseOptions::default()
    };
    let error = parse_file(&fixture("docs/guide.txt"), &options).unwrap_err();
    assert!(
        matches!(error, IngestError::TooLarge { limit: 100, .. }),
        "{error:?}"
    );
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let error = parse_file(
        &fixture("docs/does-not-exist.txt"),
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(error, IngestError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("does-not-exist.txt"), "{error}");
}

// ------------------------------------------------------------------------------------------------
// The real Cranfield corpus (BEIR format)

/// The Cranfield corpus in the evaluation data that sits beside the repository (`../shared/datasets`),
/// where CI has it too.
fn cranfield_corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/cranfield/corpus.jsonl");
    assert!(
        path.is_file(),
        "the Cranfield corpus is not at {}",
        path.display()
    );
    path
}

#[test]
fn jsonl_on_the_first_50_cranfield_records() {
    let corpus = std::fs::read_to_string(cranfield_corpus()).unwrap();
    let head: String = corpus
        .lines()
        .take(50)
        .map(|line| format!("{line}\n"))
        .collect();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("cranfield.jsonl");
    std::fs::write(&path, head).unwrap();

    let documents = parse_file(&path, &ParseOptions::default()).unwrap();
    assert_eq!(documents.len(), 50);
    for (index, document) in documents.iter().enumerate() {
        assert_eq!(document.metadata["_id"], (index + 1).to_string());
        assert_format(document, "jsonl", Some("utf-8"));
        assert!(!document.text.is_empty());
    }
    assert_eq!(
        documents[0].title,
        "experimental investigation of the aerodynamics of a wing in a slipstream ."
    );
    assert!(documents[0].text.contains("propeller slipstream"));
}

#[test]
fn the_whole_cranfield_corpus_parses_skipping_its_two_blank_records() {
    let documents = parse_file(&cranfield_corpus(), &ParseOptions::default()).unwrap();
    assert_eq!(documents.len(), 1398);
    let ids: Vec<&str> = documents
        .iter()
        .map(|d| d.metadata["_id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"471") && !ids.contains(&"995"));
}
