//! [`RunLogStore`]: runs and node executions in their own SQLite file (never the metadata database).
//!
//! Threads: a store is one connection and is used from one thread at a time (the writer's blocking
//! calls, or a reader behind a mutex); several stores may open the same file, and in WAL mode readers
//! never wait for the writer. Every write is one `BEGIN IMMEDIATE` transaction.
//!
//! Durability: `synchronous=NORMAL`. In WAL mode that survives a crash of the process; a power loss may
//! roll back the last transactions. Run logs are best effort anyway (a full queue drops records), and
//! this keeps a batch commit from waiting on an fsync.
//!
//! Invariants: runs and node executions are upserted by id, so a record written twice (at start and at
//! the end) leaves one row with the latest fields and the first start time. Lists are newest first, by
//! `(created_at, id)`, which is also the cursor.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ragd_core::dataset::Timestamp;
use ragd_core::run::{NodeExecution, RunRecord, RunStatus};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use rusqlite_migration::{M, Migrations};
use serde::{Deserialize, Serialize};

use crate::rows::{self, NODE_COLUMNS, RUN_COLUMNS, UPSERT_NODE, UPSERT_RUN};
use crate::{RunLogError, RunLogResult};

/// The schema migrations, in order; the schema version is the number applied.
const MIGRATIONS: &[M<'static>] = &[M::up(include_str!("../migrations/0001_runs.sql"))];

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// One record for the run log: the writer's unit, and one JSON line (`{"kind": "run" | "node", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogRecord {
    Run(RunRecord),
    Node(NodeExecution),
}

/// Position in the newest-first list of runs: the runs strictly older than this one come next.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunCursor {
    pub created_at: Timestamp,
    pub id: String,
}

/// `CREATED_AT:RUN_ID`, the form a client passes back.
impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.created_at, self.id)
    }
}

impl FromStr for RunCursor {
    type Err = RunLogError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || RunLogError::InvalidCursor(text.to_owned());
        let (created_at, id) = text.split_once(':').ok_or_else(invalid)?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(RunCursor {
            created_at: created_at.parse().map_err(|_| invalid())?,
            id: id.to_owned(),
        })
    }
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFilter {
    pub app_id: Option<String>,
    pub status: Option<RunStatus>,
    /// Most runs returned.
    pub limit: u32,
    /// Only runs older than this one (the cursor of the last run of the previous page).
    pub before: Option<RunCursor>,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            app_id: None,
            status: None,
            limit: 20,
            before: None,
        }
    }
}

/// A run as lists show it: the record and how many node executions it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub run: RunRecord,
    pub node_count: u32,
}

impl RunSummary {
    /// The cursor that continues a list after this run.
    pub fn cursor(&self) -> RunCursor {
        RunCursor {
            created_at: self.run.created_at,
            id: self.run.id.clone(),
        }
    }
}

/// The run log in a SQLite file (see the module docs for threads and durability).
pub struct RunLogStore {
    connection: Connection,
    path: PathBuf,
}

impl fmt::Debug for RunLogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunLogStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RunLogStore {
    /// Opens (creating it and its parent directories if needed) and migrates the run log at `path`.
    pub fn open(path: &Path) -> RunLogResult<Self> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| RunLogError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let open_error = |source| RunLogError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut connection = Connection::open(path).map_err(open_error)?;
        configure(&connection).map_err(open_error)?;
        migrate(&mut connection, path)?;
        tracing::debug!(path = %path.display(), "run log opened");
        Ok(RunLogStore {
            connection,
            path: path.to_path_buf(),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this binary writes.
    pub fn schema_version() -> usize {
        MIGRATIONS.len()
    }

    /// Writes the records in order, in one transaction: all of them or none.
    pub fn write_batch(&mut self, records: &[LogRecord]) -> RunLogResult<()> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut upsert_run = transaction.prepare_cached(UPSERT_RUN)?;
            let mut upsert_node = transaction.prepare_cached(UPSERT_NODE)?;
            for record in records {
                match record {
                    LogRecord::Run(run) => rows::upsert_run(&mut upsert_run, run)?,
                    LogRecord::Node(node) => rows::upsert_node(&mut upsert_node, node)?,
                }
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Runs matching the filter, newest first, with their node counts.
    pub fn list_runs(&self, filter: &RunFilter) -> RunLogResult<Vec<RunSummary>> {
        let mut conditions = Vec::new();
        let mut values: Vec<SqlValue> = Vec::new();
        if let Some(app_id) = &filter.app_id {
            conditions.push("app_id = ?");
            values.push(SqlValue::Text(app_id.clone()));
        }
        if let Some(status) = filter.status {
            conditions.push("status = ?");
            values.push(SqlValue::Text(status.as_str().to_owned()));
        }
        if let Some(cursor) = &filter.before {
            conditions.push("(created_at, id) < (?, ?)");
            values.push(SqlValue::Integer(cursor.created_at));
            values.push(SqlValue::Text(cursor.id.clone()));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        values.push(SqlValue::Integer(i64::from(filter.limit)));
        let sql = format!(
            "SELECT {RUN_COLUMNS}, \
                (SELECT COUNT(*) FROM node_executions WHERE node_executions.run_id = runs.id) \
                AS node_count \
             FROM runs {where_clause} ORDER BY created_at DESC, id DESC LIMIT ?"
        );
        let mut statement = self.connection.prepare_cached(&sql)?;
        let summaries = statement
            .query_map(params_from_iter(values), |row| {
                Ok(RunSummary {
                    run: rows::run(row)?,
                    node_count: row.get("node_count")?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(summaries)
    }

    /// A run and its node executions in the order they started; `None` when no run has this id.
    pub fn get_run(&self, id: &str) -> RunLogResult<Option<(RunRecord, Vec<NodeExecution>)>> {
        // One read transaction, so the run and its nodes come from the same snapshot.
        let transaction = self.connection.unchecked_transaction()?;
        let run = transaction
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"))?
            .query_row([id], rows::run)
            .optional()?;
        let Some(run) = run else {
            return Ok(None);
        };
        let nodes = transaction
            .prepare_cached(&format!(
                "SELECT {NODE_COLUMNS} FROM node_executions WHERE run_id = ? ORDER BY position, id"
            ))?
            .query_map([id], rows::node)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some((run, nodes)))
    }

    /// How many runs the log holds.
    pub fn count_runs(&self) -> RunLogResult<u64> {
        let count = self
            .connection
            .query_row("SELECT COUNT(*) FROM runs", [], |row| row.get(0))?;
        Ok(count)
    }

    /// Deletes the runs older than `max_age_days` and, beyond the newest `max_runs`, the oldest ones,
    /// with their node executions (0 disables a rule). Returns how many runs were deleted.
    pub fn apply_retention(&mut self, max_age_days: u64, max_runs: u64) -> RunLogResult<u64> {
        self.apply_retention_at(now(), max_age_days, max_runs)
    }

    fn apply_retention_at(
        &mut self,
        now: Timestamp,
        max_age_days: u64,
        max_runs: u64,
    ) -> RunLogResult<u64> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut deleted = 0;
        if max_age_days > 0 {
            let age = i64::try_from(max_age_days)
                .unwrap_or(i64::MAX)
                .saturating_mul(SECONDS_PER_DAY);
            let cutoff = now.saturating_sub(age);
            transaction.execute(
                "DELETE FROM node_executions WHERE created_at < ?1 \
                    OR run_id IN (SELECT id FROM runs WHERE created_at < ?1)",
                [cutoff],
            )?;
            deleted += transaction.execute("DELETE FROM runs WHERE created_at < ?", [cutoff])?;
        }
        if max_runs > 0 {
            // The oldest run to keep; everything strictly before it in list order goes.
            let offset = i64::try_from(max_runs - 1).unwrap_or(i64::MAX);
            let oldest_kept: Option<(Timestamp, String)> = transaction
                .query_row(
                    "SELECT created_at, id FROM runs ORDER BY created_at DESC, id DESC \
                        LIMIT 1 OFFSET ?",
                    [offset],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            if let Some((created_at, id)) = oldest_kept {
                // Nodes of the deleted runs, and orphans (whose run record was dropped) as old.
                transaction.execute(
                    "DELETE FROM node_executions \
                        WHERE run_id IN (SELECT id FROM runs WHERE (created_at, id) < (?1, ?2)) \
                        OR (created_at < ?1 AND run_id NOT IN (SELECT id FROM runs))",
                    params![created_at, id],
                )?;
                deleted += transaction.execute(
                    "DELETE FROM runs WHERE (created_at, id) < (?, ?)",
                    params![created_at, id],
                )?;
            }
        }
        transaction.commit()?;
        Ok(deleted as u64)
    }
}

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "sqlite refused WAL mode for the run log");
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Brings the schema to the latest version, refusing a run log from a newer binary.
fn migrate(connection: &mut Connection, path: &Path) -> RunLogResult<()> {
    let found: usize = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| RunLogError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let supported = MIGRATIONS.len();
    if found > supported {
        return Err(RunLogError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    Migrations::from_slice(MIGRATIONS)
        .to_latest(connection)
        .map_err(|source| RunLogError::Migration {
            path: path.to_path_buf(),
            source,
        })?;
    if found < supported {
        tracing::debug!(path = %path.display(), from = found, to = supported, "run-log schema migrated");
    }
    Ok(())
}

fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as Timestamp)
}

#[cfg(test)]
mod tests {
    use ragd_core::run::{LlmUsage, NodeStatus};
    use serde_json::json;

    use super::*;

    const NOW: Timestamp = 1_700_000_000;

    fn run(id: &str, app_id: &str, status: RunStatus, created_at: Timestamp) -> RunRecord {
        RunRecord {
            id: id.into(),
            app_id: app_id.into(),
            workflow_id: "wf-1".into(),
            mode: "workflow".into(),
            user: "alice".into(),
            conversation_id: None,
            message_id: None,
            status,
            inputs: json!({"query": "hello"}),
            outputs: json!({}),
            error: None,
            elapsed_time: 0.0,
            total_steps: 0,
            usage: LlmUsage::default(),
            created_at,
            finished_at: None,
        }
    }

    fn node(id: &str, run_id: &str, index: u32, created_at: Timestamp) -> NodeExecution {
        NodeExecution {
            id: id.into(),
            run_id: run_id.into(),
            node_id: format!("node-{index}"),
            node_type: "llm".into(),
            title: format!("Step {index}"),
            index,
            predecessor_node_id: None,
            inputs: json!({}),
            process_data: json!({"prompt": "hi"}),
            outputs: json!({}),
            status: NodeStatus::Running,
            error: None,
            elapsed_time: 0.0,
            usage: LlmUsage::default(),
            created_at,
            finished_at: None,
        }
    }

    fn open() -> (tempfile::TempDir, RunLogStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = RunLogStore::open(&dir.path().join("logs/runs.sqlite")).unwrap();
        (dir, store)
    }

    fn ids(summaries: &[RunSummary]) -> Vec<&str> {
        summaries.iter().map(|s| s.run.id.as_str()).collect()
    }

    #[test]
    fn a_run_written_at_start_and_at_the_end_is_one_row_with_the_final_fields() {
        let (_dir, mut store) = open();
        let started = run("r1", "app", RunStatus::Running, NOW);
        let first = node("n1", "r1", 1, NOW);
        store
            .write_batch(&[
                LogRecord::Run(started.clone()),
                LogRecord::Node(first.clone()),
            ])
            .unwrap();
        assert_eq!(
            store.get_run("r1").unwrap(),
            Some((started, vec![first.clone()]))
        );

        let mut second = node("n2", "r1", 2, NOW + 1);
        second.status = NodeStatus::Failed;
        second.error = Some("timeout".into());
        let mut first_done = first;
        first_done.status = NodeStatus::Succeeded;
        first_done.outputs = json!({"text": "hi there"});
        first_done.elapsed_time = 1.25;
        first_done.usage = LlmUsage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            latency: 1.2,
            time_to_first_token: Some(0.3),
        };
        first_done.finished_at = Some(NOW + 1);
        let mut finished = run("r1", "app", RunStatus::Succeeded, NOW);
        finished.outputs = json!({"answer": "hi there"});
        finished.elapsed_time = 2.5;
        finished.total_steps = 2;
        finished.usage = first_done.usage;
        finished.finished_at = Some(NOW + 2);
        // The node that started second is written first: nodes come back in their start order.
        store
            .write_batch(&[
                LogRecord::Node(second.clone()),
                LogRecord::Node(first_done.clone()),
                LogRecord::Run(finished.clone()),
            ])
            .unwrap();

        assert_eq!(store.count_runs().unwrap(), 1);
        let (got, nodes) = store.get_run("r1").unwrap().unwrap();
        assert_eq!(got, finished);
        assert_eq!(nodes, vec![first_done, second]);
        let listed = store.list_runs(&RunFilter::default()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].node_count, 2);
        assert_eq!(listed[0].run.status, RunStatus::Succeeded);
        assert_eq!(store.get_run("nope").unwrap(), None);
    }

    #[test]
    fn the_start_time_of_the_first_write_is_kept() {
        let (_dir, mut store) = open();
        store
            .write_batch(&[LogRecord::Run(run("r1", "app", RunStatus::Running, NOW))])
            .unwrap();
        store
            .write_batch(&[LogRecord::Run(run("r1", "app", RunStatus::Failed, NOW + 9))])
            .unwrap();
        let (got, _) = store.get_run("r1").unwrap().unwrap();
        assert_eq!((got.status, got.created_at), (RunStatus::Failed, NOW));
    }

    #[test]
    fn lists_filter_by_app_and_status_and_page_with_a_cursor() {
        let (_dir, mut store) = open();
        let records: Vec<LogRecord> = [
            ("a1", "app-a", RunStatus::Succeeded, NOW),
            ("a2", "app-a", RunStatus::Failed, NOW + 10),
            ("a3", "app-a", RunStatus::Succeeded, NOW + 10),
            ("b1", "app-b", RunStatus::Failed, NOW + 5),
            ("b2", "app-b", RunStatus::Running, NOW + 20),
        ]
        .into_iter()
        .map(|(id, app, status, at)| LogRecord::Run(run(id, app, status, at)))
        .collect();
        store.write_batch(&records).unwrap();

        let all = store.list_runs(&RunFilter::default()).unwrap();
        assert_eq!(ids(&all), ["b2", "a3", "a2", "b1", "a1"]);

        let app_a = RunFilter {
            app_id: Some("app-a".into()),
            ..RunFilter::default()
        };
        assert_eq!(ids(&store.list_runs(&app_a).unwrap()), ["a3", "a2", "a1"]);

        let failed = RunFilter {
            status: Some(RunStatus::Failed),
            ..RunFilter::default()
        };
        assert_eq!(ids(&store.list_runs(&failed).unwrap()), ["a2", "b1"]);

        let failed_a = RunFilter {
            app_id: Some("app-a".into()),
            status: Some(RunStatus::Failed),
            ..RunFilter::default()
        };
        assert_eq!(ids(&store.list_runs(&failed_a).unwrap()), ["a2"]);

        // Pages of two, the cursor breaking the tie between a2 and a3 (same second) by id.
        let mut page = RunFilter {
            limit: 2,
            ..RunFilter::default()
        };
        let mut pages = Vec::new();
        loop {
            let runs = store.list_runs(&page).unwrap();
            let Some(last) = runs.last() else { break };
            page.before = Some(last.cursor());
            pages.push(ids(&runs).join(","));
        }
        assert_eq!(pages, ["b2,a3", "a2,b1", "a1"]);

        let cursor: RunCursor = all[1].cursor().to_string().parse().unwrap();
        assert_eq!(cursor, all[1].cursor());
        let after_a3 = RunFilter {
            app_id: Some("app-a".into()),
            before: Some(cursor),
            limit: 1,
            ..RunFilter::default()
        };
        assert_eq!(ids(&store.list_runs(&after_a3).unwrap()), ["a2"]);
    }

    #[test]
    fn bad_cursors_are_user_errors() {
        for text in ["", "12", "x:r1", "12:"] {
            let error = text.parse::<RunCursor>().unwrap_err();
            assert!(error.is_user_error(), "{text}: {error}");
        }
    }

    #[test]
    fn retention_by_age_deletes_old_runs_and_their_nodes() {
        let (_dir, mut store) = open();
        let day = SECONDS_PER_DAY;
        store
            .write_batch(&[
                LogRecord::Run(run("old", "app", RunStatus::Succeeded, NOW - 40 * day)),
                LogRecord::Node(node("old-n", "old", 1, NOW - 40 * day)),
                LogRecord::Node(node("orphan", "dropped-run", 1, NOW - 40 * day)),
                LogRecord::Run(run("new", "app", RunStatus::Succeeded, NOW - 2 * day)),
                LogRecord::Node(node("new-n", "new", 1, NOW - 2 * day)),
            ])
            .unwrap();
        assert_eq!(store.apply_retention_at(NOW, 0, 0).unwrap(), 0);
        assert_eq!(store.apply_retention_at(NOW, 30, 0).unwrap(), 1);
        assert_eq!(store.count_runs().unwrap(), 1);
        assert_eq!(store.get_run("old").unwrap(), None);
        assert_eq!(store.get_run("new").unwrap().unwrap().1.len(), 1);
        assert_eq!(node_count(&store), 1);
    }

    #[test]
    fn retention_by_count_keeps_the_newest_runs() {
        let (_dir, mut store) = open();
        let mut records = Vec::new();
        for i in 0..6 {
            let id = format!("r{i}");
            records.push(LogRecord::Run(run(
                &id,
                "app",
                RunStatus::Succeeded,
                NOW + i,
            )));
            records.push(LogRecord::Node(node(&format!("{id}-n"), &id, 1, NOW + i)));
        }
        store.write_batch(&records).unwrap();
        assert_eq!(store.apply_retention_at(NOW + 10, 0, 10).unwrap(), 0);
        assert_eq!(store.apply_retention_at(NOW + 10, 0, 4).unwrap(), 2);
        let kept = store.list_runs(&RunFilter::default()).unwrap();
        assert_eq!(ids(&kept), ["r5", "r4", "r3", "r2"]);
        assert_eq!(node_count(&store), 4);
        // Both rules at once: the age rule takes r2 and r3, the count rule then r4.
        assert_eq!(store.apply_retention(0, 0).unwrap(), 0);
        let age_days = 1;
        let now = NOW + 3 + SECONDS_PER_DAY * age_days as i64 + 1;
        assert_eq!(store.apply_retention_at(now, age_days, 1).unwrap(), 3);
        assert_eq!(
            ids(&store.list_runs(&RunFilter::default()).unwrap()),
            ["r5"]
        );
    }

    #[test]
    fn reopening_keeps_the_data_and_a_newer_schema_is_refused() {
        let (dir, mut store) = open();
        let path = store.path().to_path_buf();
        store
            .write_batch(&[LogRecord::Run(run("r1", "app", RunStatus::Running, NOW))])
            .unwrap();
        drop(store);
        let store = RunLogStore::open(&path).unwrap();
        assert_eq!(store.count_runs().unwrap(), 1);
        store
            .connection
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        let error = RunLogStore::open(&path).unwrap_err();
        assert!(
            matches!(error, RunLogError::SchemaTooNew { found: 99, .. }),
            "{error}"
        );
        drop(dir);
    }

    #[test]
    fn log_records_serialize_with_their_kind() {
        let record = LogRecord::Node(node("n1", "r1", 1, NOW));
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["kind"], "node");
        assert_eq!(value["run_id"], "r1");
        assert_eq!(serde_json::from_value::<LogRecord>(value).unwrap(), record);
        let value = serde_json::to_value(LogRecord::Run(run("r1", "a", RunStatus::Stopped, NOW)));
        assert_eq!(value.unwrap()["kind"], "run");
    }

    fn node_count(store: &RunLogStore) -> u64 {
        store
            .connection
            .query_row("SELECT COUNT(*) FROM node_executions", [], |row| row.get(0))
            .unwrap()
    }
}
