//! Workflow run logs for ragd, kept apart from the metadata database: their own SQLite file, written by a
//! bounded, batched asynchronous writer off the response path, with retention by age and count.
//!
//! - [`RunLogStore`]: the SQLite file (sync; runs and node executions upserted by id, lists, retention).
//! - [`RunLogWriter`]: the handle a request path uses. `record` never waits: a full queue drops the
//!   record and counts it. A tokio task writes batches on the blocking pool, applies retention, and can
//!   copy every record to a JSON lines sink.
//! - [`RunLogReader`]: async queries over a separate read connection, for the server's handlers.
//!
//! Metrics: `ragd_runlog_dropped_total{reason}`, `ragd_runlog_written_total`, `ragd_runlog_failed_total`,
//! `ragd_runlog_batch_seconds`, `ragd_runlog_queue_depth`, `ragd_runlog_retention_deleted_total`.

mod error;
mod jsonl;
mod reader;
mod rows;
mod store;
mod writer;

use std::sync::{Mutex, MutexGuard};

pub use error::{RunLogError, RunLogResult};
pub use reader::RunLogReader;
pub use store::{LogRecord, RunCursor, RunFilter, RunLogStore, RunSummary};
pub use writer::{RETENTION_PERIOD, RunLogWriter};

/// A poisoned lock only means another thread panicked mid-operation; an open transaction was rolled
/// back when dropped, so the connection is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
