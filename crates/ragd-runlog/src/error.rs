//! Errors of the run log.
//!
//! Policy: `InvalidCursor` is a user error (a list cursor the client sent that does not parse); its
//! message is written to be shown as it is. Every other variant is an internal failure (disk, database
//! file, schema, a writer task that is gone) to be logged, and answered with a generic 500 by a server.
//! `Corrupt` means the file holds a value this binary cannot read (an unknown status, bad JSON).

use std::path::PathBuf;

/// Everything a run-log operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RunLogError {
    #[error("invalid run cursor {0:?}: expected `CREATED_AT:RUN_ID`")]
    InvalidCursor(String),

    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),

    #[error("cannot open the run log {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot migrate the run log {path}: {source}")]
    Migration {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },

    #[error(
        "the run log {path} has schema version {found}, newer than the {supported} this ragd binary \
         knows: upgrade ragd"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: usize,
        supported: usize,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("corrupt run log: {0}")]
    Corrupt(String),

    /// The writer was shut down (or its task ended), so nothing more can be flushed through it.
    #[error("the run-log writer has stopped")]
    Stopped,

    /// A blocking run-log task panicked or was cancelled.
    #[error("run-log task failed: {0}")]
    Task(String),
}

impl RunLogError {
    /// True for errors caused by the request (a bad cursor), false for internal failures.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::InvalidCursor(_) => true,
            Self::Sqlite(_)
            | Self::Open { .. }
            | Self::Migration { .. }
            | Self::SchemaTooNew { .. }
            | Self::Io { .. }
            | Self::Corrupt(_)
            | Self::Stopped
            | Self::Task(_) => false,
        }
    }
}

/// A value read back that does not convert is corruption, not a driver failure.
impl From<rusqlite::Error> for RunLogError {
    fn from(error: rusqlite::Error) -> Self {
        match error {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => Self::Corrupt(error.to_string()),
            other => Self::Sqlite(other),
        }
    }
}

/// Result of a run-log operation.
pub type RunLogResult<T> = Result<T, RunLogError>;
