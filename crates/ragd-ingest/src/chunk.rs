//! Chunking per Dify's process rules, with tokens counted by the embedding model's tokenizer.
//!
//! Everything works on byte spans of the cleaned text, so a chunk is always `text[span]` and can never cut
//! a UTF-8 character: every cut comes from a separator match or a Unicode segmentation iterator, so it is
//! a character boundary (and slicing a `str` anywhere else would panic, never produce broken text).
//!
//! Two strategies (see [`SplitStrategy`]):
//! - **recursive merge** (`automatic`): the text is cut into atoms, coarse first (paragraphs, then lines,
//!   sentences, words, grapheme clusters, characters; a finer level only for a piece still over
//!   `max_tokens`), and consecutive atoms are merged into chunks of at most `max_tokens`, each chunk starting
//!   with up to `overlap` tokens of the previous one (whole atoms, so overlaps fall on word boundaries).
//! - **fixed separator** (`custom`, and both levels of `hierarchical`): the text is cut at every separator
//!   (the separator itself is dropped, as Dify does); a piece still over `max_tokens` is split by recursive
//!   merge.
//!
//! Invariants (checked by the property tests): every chunk has at most `max_tokens` tokens by exact count
//! (estimates from one tokenization of the whole text guide the merge; the final size of every chunk and
//! overlap is counted exactly); consecutive chunks of one pass start strictly later than each other; the
//! overlap of two chunks is at most `overlap` tokens; and what lies between chunks is only whitespace (and
//! separators).

use std::collections::VecDeque;
use std::ops::Range;

use ragd_core::{
    Chunk, CoreError, ParentMode, ResolvedProcessRule, SplitSettings, SplitStrategy, TokenCounter,
};
use sha2::{Digest, Sha256};
use unicode_segmentation::UnicodeSegmentation;

use crate::IngestError;

/// Chunks a cleaned text per a resolved process rule.
///
/// Plain rules give segments (`parent: None`); parent-child rules give each parent followed by its children
/// (`parent: Some(parent position)`). A text with nothing but whitespace gives no chunks.
pub fn chunk_text(
    text: &str,
    rule: &ResolvedProcessRule,
    counter: &dyn TokenCounter,
) -> Result<Vec<Chunk>, IngestError> {
    for settings in rule.segmentation.iter().chain(&rule.children) {
        settings
            .validate()
            .map_err(|e| IngestError::InvalidProcessRule(e.to_string()))?;
    }
    let splitter = Splitter::new(text, counter)?;
    let mut chunks = Vec::new();
    match (&rule.children, rule.parent_mode) {
        (None, _) => {
            let settings = rule.segmentation.as_ref().ok_or_else(|| {
                IngestError::InvalidProcessRule("segmentation is required".into())
            })?;
            for (i, piece) in splitter
                .split(0..text.len(), settings)?
                .into_iter()
                .enumerate()
            {
                chunks.push(splitter.chunk(piece, position(i), None));
            }
        }
        (Some(child_settings), parent_mode) => {
            let parents = match (parent_mode, &rule.segmentation) {
                (Some(ParentMode::FullDoc), _) | (_, None) => {
                    let whole = splitter.trimmed(0..text.len());
                    if whole.is_empty() {
                        Vec::new()
                    } else {
                        let tokens = splitter.exact(whole.clone())?;
                        vec![Piece {
                            span: whole,
                            tokens,
                        }]
                    }
                }
                (_, Some(parent_settings)) => splitter.split(0..text.len(), parent_settings)?,
            };
            for (i, parent) in parents.into_iter().enumerate() {
                let parent_position = position(i);
                let children = splitter.split(parent.span.clone(), child_settings)?;
                chunks.push(splitter.chunk(parent, parent_position, None));
                for (j, child) in children.into_iter().enumerate() {
                    chunks.push(splitter.chunk(child, position(j), Some(parent_position)));
                }
            }
        }
    }
    Ok(chunks)
}

fn position(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// A span of the text with its exact token count.
#[derive(Debug, Clone)]
struct Piece {
    span: Range<usize>,
    tokens: usize,
}

/// Segmentation levels, coarse to fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Paragraph,
    Line,
    Sentence,
    Word,
    Grapheme,
    Char,
}

impl Level {
    fn finer(self) -> Option<Level> {
        match self {
            Level::Paragraph => Some(Level::Line),
            Level::Line => Some(Level::Sentence),
            Level::Sentence => Some(Level::Word),
            Level::Word => Some(Level::Grapheme),
            Level::Grapheme => Some(Level::Char),
            Level::Char => None,
        }
    }
}

/// A span that is not cut further unless its exact size demands it; `tokens` is an estimate.
#[derive(Debug, Clone)]
struct Atom {
    span: Range<usize>,
    tokens: usize,
    level: Level,
}

struct Splitter<'a> {
    text: &'a str,
    counter: &'a dyn TokenCounter,
    /// Token spans of the whole text, for O(log n) size estimates of any span.
    token_spans: Vec<Range<usize>>,
}

impl<'a> Splitter<'a> {
    fn new(text: &'a str, counter: &'a dyn TokenCounter) -> Result<Self, IngestError> {
        let token_spans = counter.token_spans(text).map_err(tokenizer_error)?;
        Ok(Splitter {
            text,
            counter,
            token_spans,
        })
    }

    /// Tokens lying entirely inside `span`: exact for spans cut at word boundaries, an underestimate
    /// otherwise (which is why every emitted chunk is counted exactly).
    fn estimate(&self, span: &Range<usize>) -> usize {
        let first = self.token_spans.partition_point(|t| t.start < span.start);
        let end = self.token_spans.partition_point(|t| t.end <= span.end);
        end.saturating_sub(first)
    }

    fn exact(&self, span: Range<usize>) -> Result<usize, IngestError> {
        self.counter
            .count_tokens(&self.text[span])
            .map_err(tokenizer_error)
    }

    fn trimmed(&self, span: Range<usize>) -> Range<usize> {
        let slice = &self.text[span.clone()];
        let start = span.start + (slice.len() - slice.trim_start().len());
        let end = span.end - (slice.len() - slice.trim_end().len());
        if start >= end {
            start..start
        } else {
            start..end
        }
    }

    fn chunk(&self, piece: Piece, position: u32, parent: Option<u32>) -> Chunk {
        let content = &self.text[piece.span.clone()];
        Chunk {
            position,
            parent,
            content: content.to_owned(),
            char_count: content.chars().count(),
            word_count: content.unicode_words().count(),
            token_count: piece.tokens,
            content_hash: hex::encode(Sha256::digest(content.as_bytes())),
            span: piece.span,
        }
    }

    fn split(
        &self,
        span: Range<usize>,
        settings: &SplitSettings,
    ) -> Result<Vec<Piece>, IngestError> {
        match settings.strategy {
            SplitStrategy::RecursiveMerge => self.recursive_merge(span, settings),
            SplitStrategy::FixedSeparator => self.fixed_separator(span, settings),
        }
    }

    fn fixed_separator(
        &self,
        span: Range<usize>,
        settings: &SplitSettings,
    ) -> Result<Vec<Piece>, IngestError> {
        let slice = &self.text[span.clone()];
        let mut pieces = Vec::new();
        let mut start = 0;
        let ends = slice
            .match_indices(settings.separator.as_str())
            .map(|(at, sep)| (at, at + sep.len()))
            .chain(std::iter::once((slice.len(), slice.len())));
        for (piece_end, next_start) in ends {
            let piece = self.trimmed(span.start + start..span.start + piece_end);
            start = next_start;
            if piece.is_empty() {
                continue;
            }
            if self.estimate(&piece) <= settings.max_tokens {
                let tokens = self.exact(piece.clone())?;
                if tokens <= settings.max_tokens {
                    pieces.push(Piece {
                        span: piece,
                        tokens,
                    });
                    continue;
                }
            }
            pieces.extend(self.recursive_merge(piece, settings)?);
        }
        Ok(pieces)
    }

    fn recursive_merge(
        &self,
        span: Range<usize>,
        settings: &SplitSettings,
    ) -> Result<Vec<Piece>, IngestError> {
        let mut atoms = Vec::new();
        self.atomize(span, Level::Paragraph, settings.max_tokens, &mut atoms);
        self.merge(atoms.into(), settings)
    }

    fn atomize(&self, span: Range<usize>, level: Level, max_tokens: usize, out: &mut Vec<Atom>) {
        let tokens = self.estimate(&span);
        if tokens <= max_tokens || level == Level::Char {
            out.push(Atom {
                span,
                tokens,
                level,
            });
            return;
        }
        for piece in self.cut(span, level) {
            let tokens = self.estimate(&piece);
            match level.finer() {
                Some(finer) if tokens > max_tokens => self.atomize(piece, finer, max_tokens, out),
                _ => out.push(Atom {
                    span: piece,
                    tokens,
                    level,
                }),
            }
        }
    }

    /// Cuts `span` into contiguous pieces at `level`'s boundaries; separators stay at the end of the piece
    /// they close, so a sentence keeps its full stop.
    fn cut(&self, span: Range<usize>, level: Level) -> Vec<Range<usize>> {
        let slice = &self.text[span.clone()];
        let offsets: Vec<usize> = match level {
            Level::Paragraph => slice.match_indices("\n\n").map(|(i, _)| i + 2).collect(),
            Level::Line => slice.match_indices('\n').map(|(i, _)| i + 1).collect(),
            Level::Sentence => slice
                .split_sentence_bound_indices()
                .map(|(i, _)| i)
                .collect(),
            Level::Word => slice.split_word_bound_indices().map(|(i, _)| i).collect(),
            Level::Grapheme => slice.grapheme_indices(true).map(|(i, _)| i).collect(),
            Level::Char => slice.char_indices().map(|(i, _)| i).collect(),
        };
        let mut cuts: Vec<usize> = offsets
            .into_iter()
            .filter(|&i| i > 0 && i < slice.len())
            .collect();
        cuts.dedup();
        let mut pieces = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for cut in cuts {
            pieces.push(span.start + start..span.start + cut);
            start = cut;
        }
        pieces.push(span.start + start..span.end);
        pieces
    }

    fn is_blank(&self, atom: &Atom) -> bool {
        self.text[atom.span.clone()].trim().is_empty()
    }

    fn window_span(&self, window: &VecDeque<Atom>) -> Range<usize> {
        match (window.front(), window.back()) {
            (Some(first), Some(last)) => self.trimmed(first.span.start..last.span.end),
            _ => 0..0,
        }
    }

    /// Greedy merge of atoms into chunks of at most `max_tokens` with `overlap` tokens carried over.
    fn merge(
        &self,
        mut queue: VecDeque<Atom>,
        settings: &SplitSettings,
    ) -> Result<Vec<Piece>, IngestError> {
        let max = settings.max_tokens;
        let mut pieces = Vec::new();
        let mut window: VecDeque<Atom> = VecDeque::new();
        let mut total = 0usize;
        // How many atoms at the front of the window were carried over from the previous chunk.
        let mut carried = 0usize;

        loop {
            while let Some(atom) = queue.front() {
                if window.len() > carried && total + atom.tokens > max {
                    break;
                }
                if window.len() == carried && carried > 0 && total + atom.tokens > max {
                    // The carried overlap leaves no room for the next atom: give up the overlap.
                    let dropped = window.pop_front().expect("carried atoms are in the window");
                    total -= dropped.tokens;
                    carried -= 1;
                    continue;
                }
                let atom = queue.pop_front().expect("front exists");
                total += atom.tokens;
                window.push_back(atom);
            }
            if window.len() == carried {
                break; // nothing new: the queue is exhausted
            }

            // Settle the chunk by exact count, giving back atoms that do not fit.
            let emitted = loop {
                let span = self.window_span(&window);
                if span.is_empty() {
                    break None;
                }
                let tokens = self.exact(span.clone())?;
                if tokens <= max {
                    break Some(Piece { span, tokens });
                }
                if window.len() - carried > 1 {
                    let atom = window.pop_back().expect("window has atoms");
                    total -= atom.tokens;
                    queue.push_front(atom);
                } else if carried > 0 {
                    let atom = window.pop_front().expect("window has atoms");
                    total -= atom.tokens;
                    carried -= 1;
                } else {
                    // One atom, too large by exact count: cut it finer and start over with its pieces.
                    let atom = window.pop_back().expect("window has one atom");
                    total = 0;
                    let finer = atom.level.finer().unwrap_or(Level::Char);
                    let mut finer_atoms = Vec::new();
                    for piece in self.cut(atom.span.clone(), finer) {
                        let tokens = self.estimate(&piece);
                        finer_atoms.push(Atom {
                            span: piece,
                            tokens,
                            level: finer,
                        });
                    }
                    if finer_atoms.len() == 1 && atom.level == Level::Char {
                        // A single character over max_tokens cannot be honoured; it stands alone.
                        let span = self.trimmed(atom.span.clone());
                        let tokens = self.exact(span.clone())?;
                        break Some(Piece { span, tokens });
                    }
                    for finer_atom in finer_atoms.into_iter().rev() {
                        queue.push_front(finer_atom);
                    }
                    break None;
                }
            };

            let Some(piece) = emitted else {
                if window.len() > carried || queue.is_empty() {
                    // Only blank atoms were in the window (or an atom was cut finer): drop them.
                    window.clear();
                    total = 0;
                    carried = 0;
                }
                if queue.is_empty() {
                    break;
                }
                continue;
            };
            pieces.push(piece);
            if queue.is_empty() {
                break;
            }

            // Keep a strict suffix of the window as the next chunk's overlap: drop leading blanks and one
            // real atom, then more while the overlap is too large or leaves no room for the next atom.
            while window.front().is_some_and(|a| self.is_blank(a)) {
                total -= window.pop_front().expect("front exists").tokens;
            }
            if let Some(atom) = window.pop_front() {
                total -= atom.tokens;
            }
            let next_tokens = queue.front().map_or(0, |a| a.tokens);
            while !window.is_empty() && (total > settings.overlap || total + next_tokens > max) {
                total -= window.pop_front().expect("front exists").tokens;
            }
            while !window.is_empty() {
                let span = self.window_span(&window);
                if span.is_empty() || self.exact(span)? <= settings.overlap {
                    break;
                }
                total -= window.pop_front().expect("front exists").tokens;
            }
            if self.window_span(&window).is_empty() {
                window.clear();
                total = 0;
            }
            carried = window.len();
        }
        Ok(pieces)
    }
}

fn tokenizer_error(error: CoreError) -> IngestError {
    IngestError::Tokenizer(error.to_string())
}
