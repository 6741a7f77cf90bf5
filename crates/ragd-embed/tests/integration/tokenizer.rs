//! The model tokenizer as a token counter.

use ragd_core::TokenCounter;
use ragd_embed::{EmbedError, ModelTokenizer};

use crate::model_dir;

#[test]
fn counts_tokens_without_truncation_or_padding() {
    let t = ModelTokenizer::from_model_dir(&model_dir()).unwrap();
    assert_eq!(t.count_tokens("hello world").unwrap(), 2);
    assert_eq!(t.count_tokens("").unwrap(), 0);
    assert_eq!(t.special_tokens(), 2);
    // The shipped tokenizer.json truncates at 128; counting must not.
    let long = "word ".repeat(300);
    assert_eq!(t.count_tokens(&long).unwrap(), 300);
}

#[test]
fn token_spans_are_byte_ranges_on_character_boundaries() {
    let t = ModelTokenizer::from_model_dir(&model_dir()).unwrap();
    let text = "naïve café — 检索增强 🚀 done";
    let spans = t.token_spans(text).unwrap();
    assert_eq!(spans.len(), t.count_tokens(text).unwrap());
    let mut last_end = 0;
    for span in &spans {
        assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "{span:?}"
        );
        assert!(span.start >= last_end, "spans are ordered and disjoint");
        last_end = span.end;
    }
    assert_eq!(spans[0].start, 0);
    assert_eq!(spans.last().unwrap().end, text.len());
}

#[test]
fn a_missing_tokenizer_is_a_clear_error() {
    let err =
        ModelTokenizer::from_model_dir(std::path::Path::new("/nonexistent/model")).unwrap_err();
    assert!(matches!(err, EmbedError::ModelMissing { .. }));
    assert!(err.to_string().contains("ragd models fetch"));
}
