//! HTML: the visible text of the page, laid out in paragraphs, parsed with `scraper` (html5ever).
//!
//! Block elements end a line (`li`, `tr`, `br`...) or a paragraph (`p`, `h1`–`h6`, `div`, `table`...,
//! followed by a blank line); inline elements do not. Runs of whitespace inside a line collapse to one
//! space, except inside `pre`. Table cells on a row are separated by ` | `. Elements that are never
//! rendered as text (`head`, `script`, `style`, `noscript`, `template`, `svg`...) are skipped.
//! The title is `<title>`, else the first `<h1>`, else the file stem.
//!
//! The document tree is walked with an explicit stack, so deeply nested markup cannot overflow the
//! thread's stack.

use std::path::Path;

use scraper::{Html, Node, Selector};

use super::encoding::decode_text;
use super::{DocumentFormat, ParsedDocument, base_metadata, file_stem_title, require_text};
use crate::IngestError;

/// Elements whose content is never visible text.
const SKIPPED: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas",
];

/// Elements that stand as paragraphs of their own: a blank line before and after.
const PARAGRAPH_BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
];

/// Elements that start and end a line, but not a paragraph.
const LINE_BLOCKS: &[&str] = &[
    "caption",
    "dd",
    "dt",
    "figcaption",
    "legend",
    "li",
    "option",
    "summary",
    "tr",
];

pub(super) fn parse_html(path: &Path, bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
    let (source, encoding) = decode_text(path, bytes)?;
    let html = Html::parse_document(&source);
    let text = visible_text(&html);
    require_text(path, &text, "the HTML page has no visible text")?;
    Ok(ParsedDocument {
        title: html_title(&html).unwrap_or_else(|| file_stem_title(path)),
        text,
        metadata: base_metadata(DocumentFormat::Html, Some(encoding)),
    })
}

/// `<title>`, else the first `<h1>`; `None` when both are missing or blank.
fn html_title(html: &Html) -> Option<String> {
    ["head > title", "h1"].iter().find_map(|selector| {
        let selector = Selector::parse(selector).expect("static selector");
        let element = html.select(&selector).next()?;
        let title = collapse_whitespace(&element.text().collect::<String>());
        (!title.is_empty()).then_some(title)
    })
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The visible text of the document, one paragraph per block, blank lines between paragraphs.
fn visible_text(html: &Html) -> String {
    let mut sink = TextSink::default();
    // (node, leaving): a node is pushed once to enter it and, if it is an element, once to leave it.
    let mut stack = vec![(html.tree.root(), false)];
    while let Some((node, leaving)) = stack.pop() {
        match node.value() {
            Node::Text(text) if !leaving => sink.push_text(text, sink.preformatted > 0),
            Node::Element(element) => {
                let name = element.name();
                if SKIPPED.contains(&name) {
                    continue;
                }
                if leaving {
                    sink.leave_element(name);
                    continue;
                }
                sink.enter_element(name);
                stack.push((node, true));
                stack.extend(node.children().rev().map(|child| (child, false)));
            }
            Node::Document | Node::Fragment => {
                stack.extend(node.children().rev().map(|child| (child, false)));
            }
            _ => {}
        }
    }
    sink.out
}

/// Builds the text: whitespace collapsing and the breaks between blocks.
#[derive(Default)]
struct TextSink {
    out: String,
    /// Newlines to write before the next visible character (1: line break, 2: paragraph break).
    pending_breaks: usize,
    /// What separates the next visible character from the previous one on the same line.
    pending_separator: Option<&'static str>,
    /// Depth of `pre` elements around the current node.
    preformatted: usize,
}

impl TextSink {
    fn enter_element(&mut self, name: &str) {
        match name {
            "br" => self.request_break_increment(),
            "td" | "th" => {
                if !self.at_line_start() {
                    self.pending_separator = Some(" | ");
                }
            }
            "pre" => {
                self.preformatted += 1;
                self.request_break(2);
            }
            _ => self.request_block_break(name),
        }
    }

    fn leave_element(&mut self, name: &str) {
        if name == "pre" {
            self.preformatted = self.preformatted.saturating_sub(1);
        }
        self.request_block_break(name);
    }

    fn request_block_break(&mut self, name: &str) {
        if PARAGRAPH_BLOCKS.contains(&name) {
            self.request_break(2);
        } else if LINE_BLOCKS.contains(&name) {
            self.request_break(1);
        }
    }

    fn at_line_start(&self) -> bool {
        self.pending_breaks > 0 || self.out.is_empty() || self.out.ends_with('\n')
    }

    fn request_break(&mut self, newlines: usize) {
        if !self.out.is_empty() {
            self.pending_breaks = self.pending_breaks.max(newlines);
        }
        self.pending_separator = None;
    }

    /// `<br>`: each one ends a line, so two in a row leave a blank line.
    fn request_break_increment(&mut self) {
        if !self.out.is_empty() {
            self.pending_breaks = (self.pending_breaks + 1).min(2);
        }
        self.pending_separator = None;
    }

    fn push_text(&mut self, text: &str, preformatted: bool) {
        for c in text.chars() {
            if preformatted {
                if c == '\n' {
                    self.flush_pending();
                    self.out.push('\n');
                } else {
                    self.push_visible(c);
                }
            } else if c.is_whitespace() {
                if !self.at_line_start() && self.pending_separator.is_none() {
                    self.pending_separator = Some(" ");
                }
            } else {
                self.push_visible(c);
            }
        }
    }

    fn flush_pending(&mut self) {
        if self.pending_breaks > 0 {
            let trimmed = self.out.trim_end_matches([' ', '\t']).len();
            self.out.truncate(trimmed);
            for _ in 0..self.pending_breaks {
                self.out.push('\n');
            }
            self.pending_breaks = 0;
            self.pending_separator = None;
        }
        if let Some(separator) = self.pending_separator.take() {
            self.out.push_str(separator);
        }
    }

    fn push_visible(&mut self, c: char) {
        self.flush_pending();
        self.out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(source: &str) -> String {
        visible_text(&Html::parse_document(source))
    }

    #[test]
    fn paragraphs_are_separated_by_blank_lines_and_inline_elements_are_not() {
        let text = text_of(
            "<body><h1>Title</h1><p>One <b>bold</b>\n   word.</p><div><p>Two</p></div>\
             <p>Three<br>four</p></body>",
        );
        assert_eq!(text, "Title\n\nOne bold word.\n\nTwo\n\nThree\nfour");
    }

    #[test]
    fn lists_and_tables_are_one_line_per_item_or_row() {
        let text = text_of(
            "<ul><li>alpha</li><li>beta</li></ul>\
             <table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>",
        );
        assert_eq!(text, "alpha\nbeta\n\nk | v\na | 1");
    }

    #[test]
    fn pre_keeps_its_layout() {
        let text = text_of("<p>code:</p><pre>fn main() {\n    run();\n}</pre><p>after</p>");
        assert_eq!(text, "code:\n\nfn main() {\n    run();\n}\n\nafter");
    }

    #[test]
    fn hidden_elements_are_skipped() {
        let text = text_of(
            "<html><head><title>T</title><style>p{}</style></head><body>\
             <script>var x = 1;</script><p>shown</p><noscript>no</noscript>\
             <template><p>tpl</p></template><svg><text>drawn</text></svg></body></html>",
        );
        assert_eq!(text, "shown");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let source = format!("{}deep{}", "<div>".repeat(20_000), "</div>".repeat(20_000));
        assert_eq!(text_of(&source), "deep");
    }

    #[test]
    fn title_prefers_title_then_h1() {
        let html = Html::parse_document("<title> A\n title </title><h1>H</h1>");
        assert_eq!(html_title(&html).as_deref(), Some("A title"));
        let html = Html::parse_document("<title>  </title><p>x</p><h1>The <em>H1</em></h1>");
        assert_eq!(html_title(&html).as_deref(), Some("The H1"));
        assert_eq!(html_title(&Html::parse_document("<p>x</p>")), None);
    }
}
