//! Stop strings for a model that generates text piece by piece: text is released as soon as it cannot be
//! the start of a stop string, so a stop string is never streamed (not even its first half) and the
//! answer ends right before it.

/// Holds back the tail of the generated text that could begin a stop string.
#[derive(Debug, Default)]
pub(crate) struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

/// What a new piece of text gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Released {
    /// Text that is certainly part of the answer (may be empty).
    pub(crate) text: String,
    /// A stop string was found: the answer ends after `text`.
    pub(crate) stopped: bool,
}

impl StopMatcher {
    pub(crate) fn new(stops: &[String]) -> Self {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
        }
    }

    pub(crate) fn push(&mut self, piece: &str) -> Released {
        self.pending.push_str(piece);
        let found = self
            .stops
            .iter()
            .filter_map(|stop| self.pending.find(stop.as_str()))
            .min();
        if let Some(at) = found {
            let text = self.pending[..at].to_owned();
            self.pending.clear();
            return Released {
                text,
                stopped: true,
            };
        }
        let keep = self.held_back_len();
        let release = self.pending.len() - keep;
        let text = self.pending[..release].to_owned();
        self.pending.drain(..release);
        Released {
            text,
            stopped: false,
        }
    }

    /// The end of generation: what was held back is part of the answer after all.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of a stop string.
    fn held_back_len(&self) -> usize {
        let mut longest = 0;
        for (start, _) in self.pending.char_indices() {
            let suffix = &self.pending[start..];
            if self
                .stops
                .iter()
                .any(|stop| stop.len() > suffix.len() && stop.starts_with(suffix))
            {
                longest = suffix.len();
                break;
            }
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut matcher = StopMatcher::new(&stops);
        let mut out = Vec::new();
        for piece in pieces {
            let released = matcher.push(piece);
            out.push(released.text);
            if released.stopped {
                return (out, true);
            }
        }
        out.push(matcher.finish());
        (out, false)
    }

    #[test]
    fn no_stop_strings_release_everything_at_once() {
        assert_eq!(
            run(&[], &["a", "b"]),
            (vec!["a".into(), "b".into(), "".into()], false)
        );
    }

    #[test]
    fn a_stop_string_split_over_pieces_is_never_released() {
        let (out, stopped) = run(&["END"], &["one E", "N", "D two"]);
        assert!(stopped);
        assert_eq!(out.concat(), "one ");
        assert_eq!(out[0], "one ");
    }

    #[test]
    fn a_false_start_is_released_later() {
        let (out, stopped) = run(&["END"], &["E", "N", "x"]);
        assert!(!stopped);
        assert_eq!(out, ["", "", "ENx", ""]);
    }

    #[test]
    fn the_earliest_stop_wins_and_multibyte_text_is_safe() {
        let (out, stopped) = run(&["\n\n", "é!"], &["ça é", "! and\n\nmore"]);
        assert!(stopped);
        assert_eq!(out.concat(), "ça ");
    }

    #[test]
    fn held_back_text_comes_out_at_the_end() {
        let (out, stopped) = run(&["###"], &["a #", "#"]);
        assert!(!stopped);
        assert_eq!(out.concat(), "a ##");
    }
}
