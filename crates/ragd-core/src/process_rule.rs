//! Dify's document process rules (`process_rule` in the Knowledge API) and their resolution into the
//! settings the cleaner and chunker use.
//!
//! The JSON shape is Dify's: `{mode, rules: {pre_processing_rules, segmentation, parent_mode,
//! subchunk_segmentation}}`. [`ProcessRule::resolve`] applies Dify's defaults and validation:
//! `automatic` ignores `rules` (remove extra spaces on, URLs/e-mails kept, separator `\n`, 500 tokens, overlap
//! 50, recursive merging); `custom` and `hierarchical` need `pre_processing_rules` and a non-empty separator;
//! `max_tokens` is required unless `hierarchical` with `parent_mode: full-doc`.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Smallest `max_tokens` Dify accepts for user-defined segmentation.
pub const MIN_SEGMENT_TOKENS: usize = 50;
/// Largest `max_tokens` Dify accepts by default (`INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH`).
pub const MAX_SEGMENT_TOKENS: usize = 4000;

/// How a document is split: Dify's `process_rule.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProcessMode {
    #[default]
    Automatic,
    Custom,
    Hierarchical,
}

/// Dify's `process_rule` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProcessRule {
    pub mode: ProcessMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Rules>,
}

/// Dify's `process_rule.rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Rules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_processing_rules: Option<Vec<PreProcessingRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_mode: Option<ParentMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subchunk_segmentation: Option<Segmentation>,
}

/// One entry of `pre_processing_rules`: `{id, enabled}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreProcessingRule {
    pub id: String,
    pub enabled: bool,
}

/// `segmentation` / `subchunk_segmentation`: `{separator, max_tokens, chunk_overlap}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Segmentation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_overlap: Option<usize>,
}

/// Parent chunks of parent-child chunking: one per paragraph (per `segmentation`), or the whole document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentMode {
    #[serde(rename = "paragraph")]
    Paragraph,
    #[serde(rename = "full-doc")]
    FullDoc,
}

/// Text cleaning switches (Dify's pre-processing rules; `remove_stopwords` is accepted and ignored, as Dify
/// does for its high-quality indexing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleaningRules {
    pub remove_extra_spaces: bool,
    pub remove_urls_emails: bool,
}

/// How pieces are formed from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitStrategy {
    /// Dify's `automatic`: split recursively (paragraphs, lines, sentences, words) and merge neighbours up
    /// to `max_tokens`, consecutive chunks sharing up to `overlap` tokens.
    RecursiveMerge,
    /// Dify's `custom`: cut at every `separator`; only a piece still over `max_tokens` is split recursively
    /// (with overlap). Short pieces are not merged, so the separator is the chunk boundary the user chose.
    FixedSeparator,
}

/// Settings of one splitting pass, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSettings {
    pub strategy: SplitStrategy,
    pub separator: String,
    pub max_tokens: usize,
    pub overlap: usize,
}

impl SplitSettings {
    /// Checks the invariants every chunker relies on: a non-empty separator, `max_tokens` ≥ 1 and an
    /// overlap smaller than `max_tokens`.
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.separator.is_empty() {
            return Err(invalid("segmentation.separator must be a non-empty string"));
        }
        if self.max_tokens == 0 {
            return Err(invalid("segmentation.max_tokens must be at least 1"));
        }
        if self.overlap >= self.max_tokens {
            return Err(invalid(format!(
                "segmentation.chunk_overlap ({}) must be smaller than max_tokens ({})",
                self.overlap, self.max_tokens
            )));
        }
        Ok(())
    }
}

/// A process rule with Dify's defaults applied and validated: what cleaning and chunking run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedProcessRule {
    pub cleaning: CleaningRules,
    /// Segments, or parent chunks in `paragraph` parent mode. `None` in `full-doc` parent mode.
    pub segmentation: Option<SplitSettings>,
    /// Child chunks of parent-child chunking.
    pub children: Option<SplitSettings>,
    pub parent_mode: Option<ParentMode>,
}

impl ProcessRule {
    /// Dify's automatic rule.
    pub fn automatic() -> Self {
        Self::default()
    }

    /// A custom rule with the given segment size and overlap, separator `\n\n`, extra spaces removed.
    pub fn custom(max_tokens: usize, chunk_overlap: usize) -> Self {
        ProcessRule {
            mode: ProcessMode::Custom,
            rules: Some(Rules {
                pre_processing_rules: Some(vec![
                    PreProcessingRule {
                        id: "remove_extra_spaces".into(),
                        enabled: true,
                    },
                    PreProcessingRule {
                        id: "remove_urls_emails".into(),
                        enabled: false,
                    },
                ]),
                segmentation: Some(Segmentation {
                    separator: Some("\n\n".into()),
                    max_tokens: Some(max_tokens),
                    chunk_overlap: Some(chunk_overlap),
                }),
                parent_mode: None,
                subchunk_segmentation: None,
            }),
        }
    }

    /// Applies Dify's defaults and validation rules; the messages are Dify's where Dify has one.
    pub fn resolve(&self) -> Result<ResolvedProcessRule, CoreError> {
        if self.mode == ProcessMode::Automatic {
            return Ok(ResolvedProcessRule {
                cleaning: CleaningRules {
                    remove_extra_spaces: true,
                    remove_urls_emails: false,
                },
                segmentation: Some(SplitSettings {
                    strategy: SplitStrategy::RecursiveMerge,
                    separator: "\n".into(),
                    max_tokens: 500,
                    overlap: 50,
                }),
                children: None,
                parent_mode: None,
            });
        }

        let rules = self
            .rules
            .as_ref()
            .ok_or_else(|| invalid("Process rule rules is required."))?;
        let pre = rules
            .pre_processing_rules
            .as_ref()
            .ok_or_else(|| invalid("Process rule pre_processing_rules is required."))?;
        let mut cleaning = CleaningRules {
            remove_extra_spaces: false,
            remove_urls_emails: false,
        };
        for rule in pre {
            match rule.id.as_str() {
                "remove_extra_spaces" => cleaning.remove_extra_spaces = rule.enabled,
                "remove_urls_emails" => cleaning.remove_urls_emails = rule.enabled,
                "remove_stopwords" => {}
                other => {
                    return Err(invalid(format!(
                        "Process rule pre_processing_rules id is invalid: `{other}`"
                    )));
                }
            }
        }
        let segmentation = rules
            .segmentation
            .as_ref()
            .ok_or_else(|| invalid("Process rule segmentation is required."))?;

        match self.mode {
            ProcessMode::Automatic => unreachable!("handled above"),
            ProcessMode::Custom => Ok(ResolvedProcessRule {
                cleaning,
                segmentation: Some(user_split_settings(segmentation, "segmentation", false)?),
                children: None,
                parent_mode: None,
            }),
            ProcessMode::Hierarchical => {
                let parent_mode = rules.parent_mode.unwrap_or(ParentMode::Paragraph);
                let parents = match parent_mode {
                    ParentMode::Paragraph => {
                        Some(user_split_settings(segmentation, "segmentation", false)?)
                    }
                    ParentMode::FullDoc => None,
                };
                let sub = rules
                    .subchunk_segmentation
                    .as_ref()
                    .ok_or_else(|| invalid("Process rule subchunk_segmentation is required."))?;
                let children = user_split_settings(sub, "subchunk_segmentation", true)?;
                Ok(ResolvedProcessRule {
                    cleaning,
                    segmentation: parents,
                    children: Some(children),
                    parent_mode: Some(parent_mode),
                })
            }
        }
    }
}

/// Dify turns the two characters `\n` typed into a form into a newline.
fn unescape_separator(separator: &str) -> String {
    separator.replace("\\n", "\n")
}

fn user_split_settings(
    segmentation: &Segmentation,
    field: &str,
    is_child: bool,
) -> Result<SplitSettings, CoreError> {
    let separator = match segmentation.separator.as_deref() {
        Some(s) if !s.is_empty() => unescape_separator(s),
        _ => {
            return Err(invalid(format!(
                "Process rule {field} separator is required."
            )));
        }
    };
    let max_tokens = segmentation
        .max_tokens
        .ok_or_else(|| invalid(format!("Process rule {field} max_tokens is required.")))?;
    // Dify bounds parent segments to [50, 4000]; child chunks only need to be smaller than that.
    let min = if is_child { 1 } else { MIN_SEGMENT_TOKENS };
    if !(min..=MAX_SEGMENT_TOKENS).contains(&max_tokens) {
        return Err(invalid(format!(
            "Custom segment length should be between {min} and {MAX_SEGMENT_TOKENS}."
        )));
    }
    let settings = SplitSettings {
        strategy: SplitStrategy::FixedSeparator,
        separator,
        max_tokens,
        overlap: segmentation.chunk_overlap.unwrap_or(0),
    };
    settings.validate()?;
    Ok(settings)
}

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::InvalidProcessRule(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ProcessRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn automatic_ignores_rules_and_uses_dify_defaults() {
        let rule = parse(r#"{"mode":"automatic","rules":{"segmentation":{"max_tokens":7}}}"#);
        let resolved = rule.resolve().unwrap();
        let seg = resolved.segmentation.unwrap();
        assert_eq!(seg.strategy, SplitStrategy::RecursiveMerge);
        assert_eq!(
            (seg.separator.as_str(), seg.max_tokens, seg.overlap),
            ("\n", 500, 50)
        );
        assert!(resolved.cleaning.remove_extra_spaces);
        assert!(!resolved.cleaning.remove_urls_emails);
    }

    #[test]
    fn custom_reads_separator_tokens_overlap_and_unescapes_newlines() {
        let rule = parse(
            r#"{"mode":"custom","rules":{"pre_processing_rules":[{"id":"remove_urls_emails","enabled":true}],
                "segmentation":{"separator":"\\n\\n","max_tokens":120,"chunk_overlap":10}}}"#,
        );
        let resolved = rule.resolve().unwrap();
        let seg = resolved.segmentation.unwrap();
        assert_eq!(seg.separator, "\n\n");
        assert_eq!((seg.max_tokens, seg.overlap), (120, 10));
        assert!(resolved.cleaning.remove_urls_emails);
        assert!(!resolved.cleaning.remove_extra_spaces);
    }

    #[test]
    fn custom_requires_pre_processing_rules_separator_and_max_tokens() {
        let no_pre = parse(
            r#"{"mode":"custom","rules":{"segmentation":{"separator":"\n","max_tokens":100}}}"#,
        );
        assert!(
            no_pre
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("pre_processing_rules")
        );
        let no_sep = parse(
            r#"{"mode":"custom","rules":{"pre_processing_rules":[],"segmentation":{"separator":"","max_tokens":100}}}"#,
        );
        assert!(
            no_sep
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("separator")
        );
        let no_max = parse(
            r#"{"mode":"custom","rules":{"pre_processing_rules":[],"segmentation":{"separator":"\n"}}}"#,
        );
        assert!(
            no_max
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("max_tokens")
        );
    }

    #[test]
    fn custom_rejects_out_of_range_sizes_and_overlap_not_below_size() {
        let small = ProcessRule::custom(10, 0);
        assert!(
            small
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("between 50 and 4000")
        );
        let overlap = ProcessRule::custom(100, 100);
        assert!(
            overlap
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("chunk_overlap")
        );
    }

    #[test]
    fn hierarchical_full_doc_needs_no_parent_max_tokens() {
        let rule = parse(
            r#"{"mode":"hierarchical","rules":{"pre_processing_rules":[],"parent_mode":"full-doc",
                "segmentation":{"separator":"\n\n"},
                "subchunk_segmentation":{"separator":"\n","max_tokens":30,"chunk_overlap":0}}}"#,
        );
        let resolved = rule.resolve().unwrap();
        assert_eq!(resolved.parent_mode, Some(ParentMode::FullDoc));
        assert!(resolved.segmentation.is_none());
        assert_eq!(resolved.children.unwrap().max_tokens, 30);
    }

    #[test]
    fn hierarchical_paragraph_needs_both_segmentations() {
        let rule = parse(
            r#"{"mode":"hierarchical","rules":{"pre_processing_rules":[],"parent_mode":"paragraph",
                "segmentation":{"separator":"\n\n","max_tokens":500}}}"#,
        );
        assert!(
            rule.resolve()
                .unwrap_err()
                .to_string()
                .contains("subchunk_segmentation")
        );
    }

    #[test]
    fn unknown_mode_is_a_deserialization_error() {
        assert!(serde_json::from_str::<ProcessRule>(r#"{"mode":"magic"}"#).is_err());
    }
}
