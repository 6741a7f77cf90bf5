//! One module per subcommand.

pub mod ingest;
pub mod models;
