//! Document ingestion for ragd: parse files into text, clean it, and chunk it per Dify's process rules.
//!
//! The pipeline is `parse` (bytes → [`ParsedDocument`]s) → [`clean_text`] → [`chunk_text`]. It is pure
//! CPU work with no async and no global state, so callers run it on a blocking pool or with rayon.

mod chunk;
mod clean;
mod error;
pub mod parse;
mod prepare;

pub use chunk::chunk_text;
pub use clean::clean_text;
pub use error::IngestError;
pub use parse::{DocumentFormat, ParseOptions, ParsedDocument, parse_bytes, parse_file};
pub use prepare::{PreparedDocument, prepare_document};
