//! One module per subcommand, plus the terminal helpers they share.

pub mod eval;
pub mod import;
pub mod ingest;
pub mod models;
pub mod retrieve;
mod ui;
pub mod verify;
