//! Text analysis: how documents and queries become terms.
//!
//! Both analyzers follow Lucene's `EnglishAnalyzer`, so that BM25 here ranks like the Lucene baselines it is
//! measured against:
//!
//! 1. [`WordTokenizer`]: Unicode (UAX #29) word boundaries, as Lucene's `StandardTokenizer`, dropping a trailing
//!    possessive `'s` (Lucene's `EnglishPossessiveFilter`). With [`Analyzer::Cjk`], runs of Han characters are
//!    segmented into words by jieba in search mode, which also emits the dictionary words inside a long word
//!    (`中华人民共和国` gives `中华`, `人民`, `共和国`, … as well), so a 2–4 character query finds a longer
//!    compound. With [`Analyzer::English`] each Han character is a word of its own, as in Lucene.
//! 2. Tokens longer than 40 bytes are dropped (base64 and the like), then lowercased and folded to ASCII
//!    (`café` → `cafe`; Lucene's `EnglishAnalyzer` does not fold, which makes no difference to English).
//! 3. Lucene's English stop words are removed.
//! 4. The original Porter stemmer (Lucene's `PorterStemFilter`) stems tokens that are pure ASCII, so Latin words
//!    inside Chinese text are stemmed as in English and Han words are left alone.
//!
//! The analyzer is fixed per index: it is recorded as the name of the text field's tokenizer in the index
//! schema (`meta.json`), `ragd_english` or `ragd_cjk`.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, StopWordFilter, TextAnalyzer, Token,
    TokenFilter, TokenStream, Tokenizer,
};
use unicode_segmentation::UnicodeSegmentation;

use crate::LexicalError;

/// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`.
const ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Tokens longer than this many bytes are not indexed.
const MAX_TOKEN_BYTES: usize = 40;

/// The jieba dictionary, loaded on first use by a CJK index (about 0.16 s and 33 MB, once per process).
static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(jieba_rs::Jieba::new);

/// Text analysis of a dataset's lexical index, chosen per dataset at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Analyzer {
    /// English and other space-separated languages: Unicode words, stop words, Porter stemming.
    #[default]
    English,
    /// Chinese (jieba word segmentation) mixed with English, which is analyzed as by [`Analyzer::English`].
    Cjk,
}

impl Analyzer {
    /// Every analyzer, for listings and tests.
    pub const ALL: [Analyzer; 2] = [Analyzer::English, Analyzer::Cjk];

    /// The name used in configuration and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Analyzer::English => "english",
            Analyzer::Cjk => "cjk",
        }
    }

    /// The name under which the analyzer is registered with tantivy and recorded in the index schema.
    pub(crate) fn tokenizer_name(self) -> &'static str {
        match self {
            Analyzer::English => "ragd_english",
            Analyzer::Cjk => "ragd_cjk",
        }
    }

    pub(crate) fn from_tokenizer_name(name: &str) -> Option<Analyzer> {
        Analyzer::ALL
            .into_iter()
            .find(|analyzer| analyzer.tokenizer_name() == name)
    }

    /// The tantivy analyzer that turns text into index terms.
    pub(crate) fn text_analyzer(self) -> TextAnalyzer {
        let tokenizer = WordTokenizer::new(self == Analyzer::Cjk);
        TextAnalyzer::builder(tokenizer)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(StopWordFilter::remove(ENGLISH_STOP_WORDS.map(String::from)))
            .filter(PorterStemmer)
            .build()
    }

    /// The terms of `text`, in order, repeated as often as they occur.
    pub fn analyze(self, text: &str) -> Vec<String> {
        analyze_with(&mut self.text_analyzer(), text)
    }
}

pub(crate) fn analyze_with(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |token| terms.push(token.text.clone()));
    terms
}

impl fmt::Display for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Analyzer {
    type Err = LexicalError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        Analyzer::ALL
            .into_iter()
            .find(|analyzer| analyzer.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| LexicalError::UnknownAnalyzer(name.to_string()))
    }
}

/// Splits text into words: UAX #29 word boundaries, and jieba for runs of Han characters when `segment_han`.
#[derive(Clone)]
pub(crate) struct WordTokenizer {
    segment_han: bool,
    spans: Vec<(usize, usize)>,
    token: Token,
}

impl WordTokenizer {
    fn new(segment_han: bool) -> Self {
        WordTokenizer {
            segment_han,
            spans: Vec::new(),
            token: Token::default(),
        }
    }
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokenStream<'a> {
        self.spans.clear();
        self.token.reset();
        if self.segment_han {
            split_words_segmenting_han(text, &mut self.spans);
        } else {
            split_words(text, 0, &mut self.spans);
        }
        WordTokenStream {
            text,
            spans: self.spans.iter(),
            token: &mut self.token,
        }
    }
}

pub(crate) struct WordTokenStream<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, (usize, usize)>,
    token: &'a mut Token,
}

impl TokenStream for WordTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(&(from, to)) = self.spans.next() else {
            return false;
        };
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// Appends the byte spans of the words of `text` (which starts at byte `base` of the whole text) to `spans`.
fn split_words(text: &str, base: usize, spans: &mut Vec<(usize, usize)>) {
    for (start, word) in text.unicode_word_indices() {
        let word = strip_possessive(word);
        if !word.is_empty() {
            spans.push((base + start, base + start + word.len()));
        }
    }
}

/// As [`split_words`], but runs of Han characters are segmented by jieba (search mode, with HMM).
fn split_words_segmenting_han(text: &str, spans: &mut Vec<(usize, usize)>) {
    let mut rest_start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !is_han(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(next, c)) = chars.peek() {
            if !is_han(c) {
                break;
            }
            end = next + c.len_utf8();
            chars.next();
        }
        split_words(&text[rest_start..start], rest_start, spans);
        for word in JIEBA.cut_for_search(&text[start..end], true) {
            spans.push((start + word.byte_start, start + word.byte_end));
        }
        rest_start = end;
    }
    split_words(&text[rest_start..], rest_start, spans);
}

/// Lucene's `EnglishPossessiveFilter`: `dog's` → `dog`.
fn strip_possessive(word: &str) -> &str {
    for suffix in [
        "'s",
        "'S",
        "\u{2019}s",
        "\u{2019}S",
        "\u{FF07}s",
        "\u{FF07}S",
    ] {
        if let Some(stem) = word.strip_suffix(suffix) {
            return stem;
        }
    }
    word
}

/// Han ideographs (CJK Unified Ideographs and their extensions, compatibility ideographs, `〇`).
fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}'
        | '\u{30000}'..='\u{323AF}')
}

/// The original Porter stemmer (as Lucene's `PorterStemFilter`), applied to pure-ASCII tokens only.
#[derive(Clone, Copy)]
pub(crate) struct PorterStemmer;

impl TokenFilter for PorterStemmer {
    type Tokenizer<T: Tokenizer> = PorterStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> PorterStemmerFilter<T> {
        PorterStemmerFilter { inner: tokenizer }
    }
}

#[derive(Clone)]
pub(crate) struct PorterStemmerFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for PorterStemmerFilter<T> {
    type TokenStream<'a> = PorterStemmerStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        PorterStemmerStream {
            tail: self.inner.token_stream(text),
            stemmer: frostem::Stemmer::new(frostem::Algorithm::Porter),
        }
    }
}

pub(crate) struct PorterStemmerStream<T> {
    tail: T,
    stemmer: frostem::Stemmer,
}

impl<T: TokenStream> TokenStream for PorterStemmerStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if token.text.is_ascii()
            && let std::borrow::Cow::Owned(stem) = self.stemmer.stem(&token.text)
        {
            token.text = stem;
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_follows_lucene() {
        let terms =
            Analyzer::English.analyze("The dog's RUNNING quickly into the Houses, café 3.5 e-mail");
        assert_eq!(
            terms,
            ["dog", "run", "quickli", "hous", "cafe", "3.5", "e", "mail"]
        );
    }

    #[test]
    fn stop_words_only_give_no_terms() {
        assert!(Analyzer::English.analyze("the and of it").is_empty());
        assert!(Analyzer::Cjk.analyze("  ,;  ").is_empty());
    }

    #[test]
    fn long_tokens_are_dropped() {
        let long = "x".repeat(41);
        assert_eq!(
            Analyzer::English.analyze(&format!("short {long}")),
            ["short"]
        );
    }

    #[test]
    fn english_splits_han_characters() {
        assert_eq!(Analyzer::English.analyze("数据库"), ["数", "据", "库"]);
    }

    #[test]
    fn cjk_segments_chinese_and_stems_english() {
        let terms = Analyzer::Cjk.analyze("我们的数据库系统支持Running queries");
        assert!(terms.contains(&"数据库".to_string()), "{terms:?}");
        assert!(terms.contains(&"系统".to_string()), "{terms:?}");
        assert!(terms.contains(&"run".to_string()), "{terms:?}");
        assert!(terms.contains(&"queri".to_string()), "{terms:?}");
    }

    #[test]
    fn cjk_search_mode_emits_inner_words() {
        let terms = Analyzer::Cjk.analyze("中华人民共和国");
        for word in ["中华", "人民", "共和国", "中华人民共和国"] {
            assert!(terms.contains(&word.to_string()), "{word} in {terms:?}");
        }
    }

    #[test]
    fn analyzer_names_round_trip() {
        for analyzer in Analyzer::ALL {
            assert_eq!(analyzer.to_string().parse::<Analyzer>().unwrap(), analyzer);
            assert_eq!(
                Analyzer::from_tokenizer_name(analyzer.tokenizer_name()),
                Some(analyzer)
            );
        }
        assert_eq!(" CJK ".parse::<Analyzer>().unwrap(), Analyzer::Cjk);
        assert!(matches!(
            "french".parse::<Analyzer>(),
            Err(LexicalError::UnknownAnalyzer(_))
        ));
        assert_eq!(serde_json::to_string(&Analyzer::Cjk).unwrap(), "\"cjk\"");
    }

    #[test]
    fn offsets_point_into_the_text() {
        let text = "数据 and データ dogs";
        let mut analyzer = Analyzer::Cjk.text_analyzer();
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            assert!(text.get(token.offset_from..token.offset_to).is_some());
        }
    }
}
