//! Integration tests of ragd-ingest.

mod parse;
