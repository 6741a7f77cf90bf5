//! One module per subcommand, plus the terminal helpers they share.

pub mod eval;
pub mod import;
mod import_remote;
pub mod ingest;
pub mod keys;
pub mod models;
pub mod retrieve;
pub mod serve;
mod ui;
pub mod verify;
