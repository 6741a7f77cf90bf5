//! [`RunLogWriter`]: the bounded, batched writer that keeps run logging off the response path.
//!
//! Threads: [`RunLogWriter::record`] is a `try_send` on a bounded channel; it never waits, and when the
//! queue is full the record is dropped and counted. One tokio task reads the channel, gathers up to
//! `batch_size` records or whatever arrived within `flush_interval_ms` of the first, and writes them in
//! one transaction on the blocking pool (`spawn_blocking`), awaiting each write before the next: batches
//! are written one at a time, in order, while the channel buffers what comes meanwhile. The same task
//! applies retention at start and every [`RETENTION_PERIOD`].
//!
//! Why `spawn_blocking` rather than a dedicated thread: the batching needs a timer and a channel read
//! that can wait on either, which is what the async task already has; the blocking part is only the
//! SQLite transaction, handed to the blocking pool at most once per batch (so once per flush interval
//! under light load), where a thread handoff costs microseconds next to a commit. The store and the
//! JSON lines sink sit behind a mutex that only that one call at a time takes.
//!
//! Invariants: records are written in the order they were accepted; `flush` and `shutdown` go through
//! the same channel, so they see every record accepted before them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ragd_config::RunLogConfig;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::jsonl::JsonLinesSink;
use crate::{LogRecord, RunLogError, RunLogResult, RunLogStore, lock};

/// How often retention runs (it also runs when the writer starts).
pub const RETENTION_PERIOD: Duration = Duration::from_secs(5 * 60);

/// The cheap, cloneable handle to the run-log writer task (see the module docs).
#[derive(Debug, Clone)]
pub struct RunLogWriter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    sender: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    /// The writer task, taken by the first `shutdown`.
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
}

enum Message {
    Record(LogRecord),
    /// Answered once every record before it is written.
    Flush(oneshot::Sender<()>),
    /// Stop accepting records, write what is queued, end the task.
    Shutdown,
}

impl RunLogWriter {
    /// Spawns the writer task on the current tokio runtime (panics outside one) and runs retention
    /// once. Fails only when the JSON lines file of `config.jsonl` cannot be opened.
    pub fn start(store: RunLogStore, config: &RunLogConfig) -> RunLogResult<RunLogWriter> {
        let sink = JsonLinesSink::open(&config.jsonl)?;
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = WriterTask {
            receiver,
            backend: Arc::new(Mutex::new(Backend { store, sink })),
            batch_size: config.batch_size.max(1),
            flush_interval: Duration::from_millis(config.flush_interval_ms),
            retention_days: config.retention_days,
            retention_max_runs: config.retention_max_runs,
            counters: Arc::clone(&counters),
        };
        let task = tokio::spawn(task.run());
        Ok(RunLogWriter {
            shared: Arc::new(Shared {
                sender,
                counters,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// Queues a record without ever waiting: when the queue is full (or the writer has stopped) the
    /// record is dropped and counted in [`RunLogWriter::dropped`] and `ragd_runlog_dropped_total`.
    pub fn record(&self, record: LogRecord) {
        let Err(error) = self.shared.sender.try_send(Message::Record(record)) else {
            return;
        };
        let reason = match error {
            TrySendError::Full(_) => "full",
            TrySendError::Closed(_) => "closed",
        };
        let dropped = self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!("ragd_runlog_dropped_total", "reason" => reason).increment(1);
        // Warn on the 1st, 2nd, 4th, 8th… drop: visible, without a log line per dropped record.
        if dropped.is_power_of_two() {
            tracing::warn!(dropped, reason, "run-log queue refused a record; dropped");
        }
    }

    /// Records dropped so far because the queue was full or the writer had stopped.
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the store so far.
    pub fn written(&self) -> u64 {
        self.shared.counters.written.load(Ordering::Relaxed)
    }

    /// Records waiting in the queue.
    pub fn queued(&self) -> usize {
        self.shared.sender.max_capacity() - self.shared.sender.capacity()
    }

    /// Waits until every record queued before this call has been written (or failed to be, which is
    /// logged and counted). Waits for room in the queue if it is full. Fails once the writer stopped.
    pub async fn flush(&self) -> RunLogResult<()> {
        let (done, written) = oneshot::channel();
        self.shared
            .sender
            .send(Message::Flush(done))
            .await
            .map_err(|_| RunLogError::Stopped)?;
        written.await.map_err(|_| RunLogError::Stopped)
    }

    /// Stops accepting records, writes everything queued, and waits for the task to end. Later
    /// records are dropped and counted. The first call waits; later ones return at once.
    pub async fn shutdown(&self) -> RunLogResult<()> {
        // A failed send means the task is already gone: there is nothing left to drain.
        let _ = self.shared.sender.send(Message::Shutdown).await;
        let task = lock(&self.shared.task).take();
        match task {
            Some(task) => task
                .await
                .map_err(|error| RunLogError::Task(error.to_string())),
            None => Ok(()),
        }
    }
}

/// What the blocking calls use, one at a time.
struct Backend {
    store: RunLogStore,
    sink: Option<JsonLinesSink>,
}

impl Backend {
    /// The JSON lines first (their failure is logged, not fatal), then the store.
    fn write(&mut self, records: &[LogRecord]) -> RunLogResult<()> {
        if let Some(sink) = &mut self.sink
            && let Err(error) = sink.write_batch(records)
        {
            tracing::warn!(%error, "run-log json lines write failed");
        }
        self.store.write_batch(records)
    }
}

struct WriterTask {
    receiver: mpsc::Receiver<Message>,
    backend: Arc<Mutex<Backend>>,
    batch_size: usize,
    flush_interval: Duration,
    retention_days: u64,
    retention_max_runs: u64,
    counters: Arc<Counters>,
}

impl WriterTask {
    async fn run(mut self) {
        self.apply_retention().await;
        let mut retention =
            tokio::time::interval_at(Instant::now() + RETENTION_PERIOD, RETENTION_PERIOD);
        retention.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(self.batch_size);
        // When the pending batch must be written at the latest; set by its first record.
        let mut deadline = Instant::now();
        loop {
            let message = if batch.is_empty() {
                tokio::select! {
                    message = self.receiver.recv() => message,
                    _ = retention.tick() => {
                        self.apply_retention().await;
                        continue;
                    }
                }
            } else {
                match tokio::time::timeout_at(deadline, self.receiver.recv()).await {
                    Ok(message) => message,
                    Err(_elapsed) => {
                        self.write(&mut batch).await;
                        continue;
                    }
                }
            };
            match message {
                Some(Message::Record(record)) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + self.flush_interval;
                    }
                    batch.push(record);
                    if batch.len() >= self.batch_size {
                        self.write(&mut batch).await;
                    }
                }
                Some(Message::Flush(done)) => {
                    self.write(&mut batch).await;
                    let _ = done.send(());
                }
                // Closing refuses new records; those already queued are still received, then `None`.
                Some(Message::Shutdown) => self.receiver.close(),
                None => {
                    self.write(&mut batch).await;
                    break;
                }
            }
        }
        tracing::debug!(
            written = self.counters.written.load(Ordering::Relaxed),
            dropped = self.counters.dropped.load(Ordering::Relaxed),
            "run-log writer stopped"
        );
    }

    /// Writes and empties the batch. A failed write loses its records: logged and counted.
    async fn write(&self, batch: &mut Vec<LogRecord>) {
        if batch.is_empty() {
            return;
        }
        let records = std::mem::replace(batch, Vec::with_capacity(self.batch_size));
        let count = records.len() as u64;
        let backend = Arc::clone(&self.backend);
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || lock(&backend).write(&records)).await;
        metrics::histogram!("ragd_runlog_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("ragd_runlog_queue_depth").set(self.receiver.len() as f64);
        let error = match outcome {
            Ok(Ok(())) => {
                self.counters.written.fetch_add(count, Ordering::Relaxed);
                metrics::counter!("ragd_runlog_written_total").increment(count);
                return;
            }
            Ok(Err(error)) => error,
            Err(join) => RunLogError::Task(join.to_string()),
        };
        metrics::counter!("ragd_runlog_failed_total").increment(count);
        tracing::error!(%error, records = count, "run-log batch write failed; its records are lost");
    }

    async fn apply_retention(&self) {
        let (days, max_runs) = (self.retention_days, self.retention_max_runs);
        if days == 0 && max_runs == 0 {
            return;
        }
        let backend = Arc::clone(&self.backend);
        let outcome = tokio::task::spawn_blocking(move || {
            lock(&backend).store.apply_retention(days, max_runs)
        })
        .await;
        match outcome {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => {
                metrics::counter!("ragd_runlog_retention_deleted_total").increment(deleted);
                tracing::info!(
                    deleted,
                    days,
                    max_runs,
                    "run-log retention deleted old runs"
                );
            }
            Ok(Err(error)) => tracing::error!(%error, "run-log retention failed"),
            Err(join) => tracing::error!(error = %join, "run-log retention task failed"),
        }
    }
}
