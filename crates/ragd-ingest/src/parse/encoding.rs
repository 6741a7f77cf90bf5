//! Turning the bytes of a text file into a `String`, and saying which encoding was used.
//!
//! The rules, in order:
//!
//! 1. a UTF-8 byte-order mark is stripped and the rest must be UTF-8 (`"utf-8"`);
//! 2. a UTF-16 byte-order mark selects UTF-16LE or UTF-16BE (`"utf-16le"`, `"utf-16be"`); malformed
//!    UTF-16 (a lone surrogate, an odd number of bytes) is an [`IngestError::Encoding`];
//! 3. bytes that look binary (any NUL, or more than 10% C0 control bytes other than tab, line feed,
//!    carriage return and form feed) are refused with an [`IngestError::Encoding`], even when they
//!    happen to be valid UTF-8 (UTF-16 text without a byte-order mark is, when it is ASCII);
//! 4. bytes that are valid UTF-8 are UTF-8 (`"utf-8"`);
//! 5. anything else is decoded as windows-1252, which maps every byte to a character, and labelled
//!    [`WINDOWS_1252_FALLBACK`]. This is a stated guess, not a detection: it is right for Latin-1 and
//!    Windows "ANSI" files of Western Europe and the Americas, and gives mojibake for other legacy
//!    encodings (Shift_JIS, GBK, KOI8-R...). The label travels in the document metadata so a user
//!    can find such files.
//!
//! UTF-16 without a byte-order mark is not guessed; it contains NUL bytes and is refused by rule 3.

use std::path::Path;

use crate::IngestError;

/// The encoding label of rule 5 of the module doc.
pub const WINDOWS_1252_FALLBACK: &str = "windows-1252 (fallback: not valid UTF-8)";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";

/// Decodes the bytes of a text file; returns the text and the label of the encoding used.
///
/// `path` only names the file in errors.
pub fn decode_text(path: &Path, bytes: &[u8]) -> Result<(String, &'static str), IngestError> {
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        return match std::str::from_utf8(rest) {
            Ok(text) => Ok((text.to_owned(), "utf-8")),
            Err(error) => Err(IngestError::Encoding {
                path: path.to_path_buf(),
                reason: format!(
                    "the file starts with a UTF-8 byte-order mark but is not valid UTF-8 ({error})"
                ),
            }),
        };
    }
    if let Some(rest) = bytes.strip_prefix(UTF16LE_BOM) {
        return decode_utf16(path, rest, encoding_rs::UTF_16LE, "utf-16le");
    }
    if let Some(rest) = bytes.strip_prefix(UTF16BE_BOM) {
        return decode_utf16(path, rest, encoding_rs::UTF_16BE, "utf-16be");
    }
    if looks_binary(bytes) {
        return Err(IngestError::Encoding {
            path: path.to_path_buf(),
            reason: "not a text file: the bytes are binary, not text in a known encoding \
                     (UTF-8, UTF-16 with BOM)"
                .to_owned(),
        });
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), "utf-8"));
    }
    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
    Ok((text.into_owned(), WINDOWS_1252_FALLBACK))
}

fn decode_utf16(
    path: &Path,
    bytes: &[u8],
    encoding: &'static encoding_rs::Encoding,
    label: &'static str,
) -> Result<(String, &'static str), IngestError> {
    match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok((text.into_owned(), label)),
        None => Err(IngestError::Encoding {
            path: path.to_path_buf(),
            reason: format!(
                "the file starts with a {} byte-order mark but is not valid {label}",
                label.to_uppercase()
            ),
        }),
    }
}

/// True when the bytes contain a NUL, or when more than 10% of them are C0 controls other than
/// `\t`, `\n`, `\r` and form feed.
fn looks_binary(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return true;
    }
    let controls = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    controls * 10 > bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(String, &'static str), IngestError> {
        decode_text(Path::new("doc.txt"), bytes)
    }

    #[test]
    fn plain_utf8_is_utf8() {
        assert_eq!(
            decode("héllo 世界".as_bytes()).unwrap(),
            ("héllo 世界".to_owned(), "utf-8")
        );
    }

    #[test]
    fn utf8_bom_is_stripped() {
        let (text, label) = decode(b"\xEF\xBB\xBFabc").unwrap();
        assert_eq!((text.as_str(), label), ("abc", "utf-8"));
    }

    #[test]
    fn invalid_utf8_after_a_utf8_bom_is_an_encoding_error() {
        let error = decode(b"\xEF\xBB\xBFab\xFFc").unwrap_err();
        assert!(matches!(error, IngestError::Encoding { .. }), "{error:?}");
        assert!(error.to_string().contains("byte-order mark"), "{error}");
    }

    #[test]
    fn utf16_with_bom_decodes_both_byte_orders() {
        let text = "Grüße 中文";
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(decode(&le).unwrap(), (text.to_owned(), "utf-16le"));
        assert_eq!(decode(&be).unwrap(), (text.to_owned(), "utf-16be"));
    }

    #[test]
    fn malformed_utf16_is_an_encoding_error() {
        // A lone high surrogate, then an odd trailing byte.
        let error = decode(b"\xFF\xFE\x00\xD8\x41").unwrap_err();
        assert!(matches!(error, IngestError::Encoding { .. }), "{error:?}");
        assert!(error.to_string().contains("UTF-16LE"), "{error}");
    }

    #[test]
    fn windows_1252_is_the_labelled_fallback() {
        let (text, label) = decode(b"caf\xE9 \x93quoted\x94 \x80").unwrap();
        assert_eq!(text, "café \u{201C}quoted\u{201D} €");
        assert_eq!(label, WINDOWS_1252_FALLBACK);
    }

    #[test]
    fn bytes_with_a_nul_are_binary() {
        let error = decode(b"abc\x00\xFFdef").unwrap_err();
        assert!(error.to_string().contains("not a text file"), "{error}");
        assert!(error.to_string().contains("doc.txt"), "{error}");
    }

    #[test]
    fn utf16_without_a_bom_is_binary_even_though_it_is_valid_utf8() {
        let error = decode(b"h\x00i\x00 \x00t\x00h\x00e\x00r\x00e\x00").unwrap_err();
        assert!(matches!(error, IngestError::Encoding { .. }), "{error:?}");
    }

    #[test]
    fn many_control_bytes_are_binary_but_a_few_are_not() {
        let mostly_controls = [0x01, 0x02, 0x03, b'a', 0xFF, b'b', b'c', b'd', b'e', b'f'];
        assert!(decode(&mostly_controls).is_err());
        let mut one_control = vec![b'x'; 40];
        one_control[3] = 0x1B;
        one_control[5] = 0xE9;
        assert_eq!(decode(&one_control).unwrap().1, WINDOWS_1252_FALLBACK);
    }

    #[test]
    fn tabs_newlines_and_form_feeds_are_not_controls() {
        assert!(!looks_binary(b"\t\n\r\x0C\t\n\r\x0C"));
        assert!(looks_binary(b"\x01\x02abcdefgh"));
        assert!(!looks_binary(b"\x01abcdefghij"));
    }
}
