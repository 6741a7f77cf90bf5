//! Integration tests of ragd-lexical: one binary, one module per concern.

mod cjk;
mod concurrency;
mod cranfield;
mod lifecycle;
mod scoring;
mod support;
