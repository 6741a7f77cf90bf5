//! Server-sent events decoding for the OpenAI streaming protocol: bytes in (split anywhere, even inside a
//! UTF-8 character), complete `data:` payloads out.
//!
//! Only what chat completions use is kept: `data:` fields (several in one event are joined with `\n`),
//! events ended by a blank line; comments (`:` lines), `event:`, `id:` and `retry:` fields are skipped.

/// Incremental SSE decoder. Feed it the body's chunks with [`SseDecoder::push`]; it returns the data of
/// every event completed by that chunk.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of the line being received (not yet ended by `\n`).
    line: Vec<u8>,
    /// `data:` lines of the event being received.
    data: Option<String>,
}

impl SseDecoder {
    /// Adds a chunk of the body; returns the data of each event it completes, in order. A line that is not
    /// UTF-8 is an error (the protocol is UTF-8 JSON).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, std::str::Utf8Error> {
        let mut events = Vec::new();
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..newline]);
            rest = &rest[newline + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.end_line(std::str::from_utf8(&line)?) {
                events.push(event);
            }
        }
        self.line.extend_from_slice(rest);
        Ok(events)
    }

    /// Ends the body: an event not followed by a blank line still counts (some servers close right after
    /// the last `data:` line).
    pub(crate) fn finish(&mut self) -> Result<Option<String>, std::str::Utf8Error> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            let text = std::str::from_utf8(&line)?
                .trim_end_matches('\r')
                .to_owned();
            if let Some(event) = self.end_line(&text) {
                return Ok(Some(event));
            }
        }
        Ok(self.data.take())
    }

    fn end_line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_utf8_characters() {
        let body = "data: {\"a\":\"é\"}\n\n: keep-alive\n\ndata:[DONE]\r\n\r\n";
        let bytes = body.as_bytes();
        for split in 0..bytes.len() {
            let mut decoder = SseDecoder::default();
            let mut events = decoder.push(&bytes[..split]).unwrap();
            events.extend(decoder.push(&bytes[split..]).unwrap());
            assert_eq!(events, ["{\"a\":\"é\"}", "[DONE]"], "split at {split}");
            assert_eq!(decoder.finish().unwrap(), None);
        }
    }

    #[test]
    fn multi_line_data_and_other_fields() {
        let mut decoder = SseDecoder::default();
        let events = decoder
            .push(b"event: message\nid: 7\ndata: one\ndata: two\nretry: 10\n\n")
            .unwrap();
        assert_eq!(events, ["one\ntwo"]);
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        let mut decoder = SseDecoder::default();
        assert!(decoder.push(b"data: tail").unwrap().is_empty());
        assert_eq!(decoder.finish().unwrap().as_deref(), Some("tail"));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut decoder = SseDecoder::default();
        assert!(decoder.push(b"data: \xff\xfe\n\n").is_err());
    }
}
