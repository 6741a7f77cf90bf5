//! Plain text and Markdown: decoded as they are (Markdown syntax is kept); a Markdown title is its
//! first level-1 ATX heading (`# Title`) outside code fences.

use std::path::Path;

use super::encoding::decode_text;
use super::{DocumentFormat, ParsedDocument, base_metadata, file_stem_title, require_text};
use crate::IngestError;

pub(super) fn parse_plain_text(path: &Path, bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
    let (text, encoding) = decode_text(path, bytes)?;
    require_text(path, &text, "the file contains only whitespace")?;
    Ok(ParsedDocument {
        title: file_stem_title(path),
        text,
        metadata: base_metadata(DocumentFormat::Text, Some(encoding)),
    })
}

pub(super) fn parse_markdown(path: &Path, bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
    let (text, encoding) = decode_text(path, bytes)?;
    require_text(path, &text, "the file contains only whitespace")?;
    Ok(ParsedDocument {
        title: first_atx_heading(&text).unwrap_or_else(|| file_stem_title(path)),
        text,
        metadata: base_metadata(DocumentFormat::Markdown, Some(encoding)),
    })
}

/// The text of the first `# Heading` line, skipping fenced code blocks (where `#` starts comments).
fn first_atx_heading(markdown: &str) -> Option<String> {
    let mut open_fence: Option<&str> = None;
    for line in markdown.lines() {
        // CommonMark allows up to three spaces of indentation; four make an indented code block.
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let line = line.trim_start_matches(' ');
        if let Some(fence) = open_fence {
            if line.starts_with(fence) {
                open_fence = None;
            }
            continue;
        }
        if line.starts_with("```") {
            open_fence = Some("```");
            continue;
        }
        if line.starts_with("~~~") {
            open_fence = Some("~~~");
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        if !rest.starts_with([' ', '\t']) {
            continue; // `##...` is a lower level; `#tag` is not a heading
        }
        // An optional closing sequence of `#`s is not part of the heading.
        let heading = rest.trim().trim_end_matches('#').trim_end();
        if !heading.is_empty() {
            return Some(heading.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_atx_heading_finds_the_level_one_heading() {
        assert_eq!(
            first_atx_heading("intro\n## Sub\n# Main title ##\n# Second").as_deref(),
            Some("Main title")
        );
        assert_eq!(
            first_atx_heading("   #  Indented  ").as_deref(),
            Some("Indented")
        );
    }

    #[test]
    fn first_atx_heading_ignores_code_tags_and_empty_headings() {
        let markdown = "```bash\n# a comment\n```\n    # indented code\n#hashtag\n#\n# Real\n";
        assert_eq!(first_atx_heading(markdown).as_deref(), Some("Real"));
        assert_eq!(
            first_atx_heading("no heading here\n~~~\n# in fence\n"),
            None
        );
    }

    #[test]
    fn markdown_without_heading_is_titled_by_file_stem() {
        let document = parse_markdown(Path::new("dir/plain-notes.md"), b"just *text*").unwrap();
        assert_eq!(document.title, "plain-notes");
        assert_eq!(document.text, "just *text*");
        assert_eq!(document.metadata["format"], "md");
    }
}
