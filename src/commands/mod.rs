//! One module per subcommand, plus the terminal helpers they share.

pub mod apps;
pub mod cache;
pub mod chat;
pub mod eval;
mod flow_runner;
pub mod import;
mod import_remote;
pub mod ingest;
pub mod keys;
pub mod models;
pub mod retrieve;
pub mod run;
pub mod runs;
pub mod serve;
mod ui;
pub mod verify;
