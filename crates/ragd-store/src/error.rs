//! Errors of the metadata store.
//!
//! Policy: `NotFound`, `DatasetNameTaken`, `MetadataNameTaken` and `Invalid` are user errors: their
//! messages are written to be shown as they are (the HTTP layer maps them to 404, 409 and 400). Every
//! other variant is an internal failure of the backend (disk, database file, schema) that the HTTP layer
//! turns into a 500 with a generic body, logging the detail. `Corrupt` means the database holds a value
//! this binary cannot read (an unknown enum name, bad JSON): it is never the caller's fault.

use std::path::PathBuf;

/// Everything a [`MetadataStore`](crate::MetadataStore) operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },

    #[error("dataset name `{0}` is already taken")]
    DatasetNameTaken(String),

    #[error("metadata name `{0}` already exists in this dataset")]
    MetadataNameTaken(String),

    #[error("{0}")]
    Invalid(String),

    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),

    #[error("cannot open the metadata database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot migrate the metadata database {path}: {source}")]
    Migration {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },

    #[error(
        "the metadata database {path} has schema version {found}, newer than the {supported} this ragd \
         binary knows: upgrade ragd (or restore a backup made before the upgrade)"
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

    #[error("corrupt metadata database: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Shorthand for [`StoreError::NotFound`].
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }

    /// True for errors caused by the request (not found, taken, invalid), false for internal failures.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::NotFound { .. }
            | Self::DatasetNameTaken(_)
            | Self::MetadataNameTaken(_)
            | Self::Invalid(_) => true,
            Self::Sqlite(_)
            | Self::Open { .. }
            | Self::Migration { .. }
            | Self::SchemaTooNew { .. }
            | Self::Io { .. }
            | Self::Corrupt(_) => false,
        }
    }
}

/// A value read back from the database that does not convert is corruption, not a driver failure.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match error {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => Self::Corrupt(error.to_string()),
            other => Self::Sqlite(other),
        }
    }
}
