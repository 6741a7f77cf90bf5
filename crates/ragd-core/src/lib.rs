//! Domain types shared by every ragd crate: Dify process rules, chunks, and the token-counting seam.
//!
//! This crate holds no I/O and no heavy dependencies, so that backends (ingest, embed, and later the
//! stores and indexes) depend on it rather than on each other.

pub mod app;
mod chunk;
pub mod dataset;
mod error;
pub mod process_rule;
pub mod retrieval;
pub mod run;
mod tokens;

pub use chunk::Chunk;
pub use error::CoreError;
pub use process_rule::{
    CleaningRules, ParentMode, PreProcessingRule, ProcessMode, ProcessRule, ResolvedProcessRule,
    Rules, Segmentation, SplitSettings, SplitStrategy,
};
pub use tokens::TokenCounter;
