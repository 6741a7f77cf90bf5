//! Text cleaning per Dify's pre-processing rules.
//!
//! Always: line endings become `\n`, control characters other than `\t` and `\n` are removed (C0, DEL, C1,
//! U+FFFE/U+FFFF), and the chat-template markers `<|`/`|>` lose their bar, as Dify does.
//! `remove_extra_spaces`: three or more newlines become two, and runs of two or more horizontal spaces (tab,
//! form feed, NBSP, the Unicode space separators, ideographic space) become one space.
//! `remove_urls_emails`: e-mail addresses and bare URLs are removed; a Markdown link or image keeps its
//! URL, as in current Dify.

use std::sync::LazyLock;

use ragd_core::CleaningRules;
use regex::Regex;

static MANY_NEWLINES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\n{3,}").unwrap());
static MANY_SPACES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\t\x0C\x20\u{00a0}\u{1680}\u{180e}\u{2000}-\u{200a}\u{202f}\u{205f}\u{3000}]{2,}")
        .unwrap()
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+").unwrap());
/// A Markdown link or image (kept whole), or a bare URL (removed).
static URL_OR_MARKDOWN_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<md>!?\[[^\]\n]*\]\([^)\s]*\))|(?P<url>https?://[^\s)\]]+)").unwrap()
});

/// Cleans `text` per `rules`; see the module docs for exactly what each rule does.
pub fn clean_text(text: &str, rules: &CleaningRules) -> String {
    let mut out = remove_control_characters(text);
    if rules.remove_urls_emails {
        out = EMAIL.replace_all(&out, "").into_owned();
        out = URL_OR_MARKDOWN_LINK
            .replace_all(&out, |caps: &regex::Captures<'_>| {
                caps.name("md")
                    .map_or(String::new(), |m| m.as_str().to_owned())
            })
            .into_owned();
    }
    if rules.remove_extra_spaces {
        out = MANY_NEWLINES.replace_all(&out, "\n\n").into_owned();
        out = MANY_SPACES.replace_all(&out, " ").into_owned();
    }
    out
}

fn remove_control_characters(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.replace("<|", "<").replace("|>", ">");
    text.chars()
        .filter(|&c| {
            c == '\n' || c == '\t' || !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: CleaningRules = CleaningRules {
        remove_extra_spaces: true,
        remove_urls_emails: true,
    };
    const NONE: CleaningRules = CleaningRules {
        remove_extra_spaces: false,
        remove_urls_emails: false,
    };

    #[test]
    fn control_characters_go_even_with_no_rules() {
        let dirty = "a\u{0}b\u{7}c\u{1b}d\u{7f}e\u{85}f\u{FFFE}g\r\nh\ri\tj";
        assert_eq!(clean_text(dirty, &NONE), "abcdefg\nh\ni\tj");
    }

    #[test]
    fn chat_template_markers_lose_their_bars() {
        assert_eq!(
            clean_text("<|im_start|>hi<|im_end|>", &NONE),
            "<im_start>hi<im_end>"
        );
    }

    #[test]
    fn extra_spaces_collapse_but_paragraphs_survive() {
        let text = "one  two\t\tthree\u{3000}\u{3000}four\n\n\n\nfive\n\nsix";
        assert_eq!(
            clean_text(
                text,
                &CleaningRules {
                    remove_extra_spaces: true,
                    remove_urls_emails: false
                }
            ),
            "one two three four\n\nfive\n\nsix"
        );
        assert_eq!(clean_text(text, &NONE), text);
    }

    #[test]
    fn urls_and_emails_removed_but_markdown_links_kept() {
        let text = "mail ops@example.com or see https://example.com/a?b=1 and [docs](https://d.io/x) ![i](http://i.io/p.png)";
        assert_eq!(
            clean_text(text, &ALL),
            "mail or see and [docs](https://d.io/x) ![i](http://i.io/p.png)"
        );
    }

    #[test]
    fn cjk_and_emoji_pass_through_untouched() {
        let text = "检索增强生成 🚀 works — naïve café";
        assert_eq!(clean_text(text, &ALL), text);
    }
}
