//! ragd's HTTP service: Dify's Knowledge API (`/v1/datasets…`) and External Knowledge API
//! (`POST /retrieval`) over axum, with dataset API keys, body and time limits, load shedding, Prometheus
//! metrics, request-id tracing, and the indexing workers that turn queued documents into searchable ones.
//!
//! Life cycle: [`Server::bind`] opens the listener and builds the router from the parts (store, indexes,
//! model); [`Server::run_until_stopped`] recovers what a stopped process left unfinished, starts the
//! workers, marks the service ready and serves until the shutdown future resolves, then lets in-flight
//! requests and the indexing group in progress finish (bounded by `shutdown_grace_secs`).
//!
//! Handlers never touch an index: they call `ragd-retrieve` and `ragd-indexer`, and reach the blocking
//! store, retriever and indexer through the blocking pool ([`state::AppState::blocking`]).

pub mod apps;
pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
mod openapi;
mod routes;
pub mod state;
pub mod views;
mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use ragd_config::ServerConfig;
use ragd_core::TokenCounter;
use ragd_embed::Embedder;
use ragd_indexer::{Indexer, IndexerOptions};
use ragd_ingest::ParseOptions;
use ragd_retrieve::{IndexRegistry, Retriever};
use ragd_store::MetadataStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::{ApiError, ApiResult};
use state::{AppState, Inner};

/// How often counted segment hits are written to the store.
const HIT_FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// What the service runs on: the engine's parts, opened by the caller.
pub struct Parts {
    pub store: Arc<dyn MetadataStore>,
    pub indexes: Arc<IndexRegistry>,
    pub embedder: Arc<dyn Embedder>,
    pub counter: Arc<dyn TokenCounter + Send + Sync>,
    pub indexer_options: IndexerOptions,
    pub parse_options: ParseOptions,
    /// Chat models for flows' LLM nodes.
    pub llm: Arc<ragd_llm::Providers>,
    pub workflow: ragd_config::WorkflowConfig,
    /// The run-log writer and a reader of the same file; `None` keeps no run log.
    pub runlog: Option<(ragd_runlog::RunLogWriter, ragd_runlog::RunLogReader)>,
    /// The two-tier retrieval cache's settings.
    pub cache: ragd_config::CacheConfig,
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .finish()
    }
}

impl Server {
    /// Binds `config.bind` and prepares the application state.
    pub async fn bind(parts: Parts, config: ServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&config.bind).await?;
        // The recorder first: metric handles taken while building the parts must record somewhere.
        metrics::handle();
        let embedder: Arc<dyn Embedder> = Arc::new(metrics::MeteredEmbedder::new(parts.embedder));
        let retriever = Arc::new(Retriever::new(
            parts.store.clone(),
            parts.indexes.clone(),
            embedder.clone(),
        ));
        let cache = ragd_cache::RetrievalCache::new(&parts.cache, retriever.clone())
            .map_err(std::io::Error::other)?;
        // Exact invalidation: every committed version bump reaches the cache before the next request
        // can read the new version, and other replicas through L2; every committed change to a
        // dataset's row drops the row kept for the retrieval path.
        let listening = Arc::downgrade(&cache);
        let dataset_rows = Arc::new(state::DatasetRows::default());
        let rows = dataset_rows.clone();
        parts
            .store
            .on_dataset_change(Arc::new(move |dataset_id: &str, version: u64| {
                rows.forget(dataset_id);
                if let Some(cache) = listening.upgrade() {
                    cache.observe_local(dataset_id, version);
                }
            }));
        cache.start();
        let indexer = Indexer::new(
            parts.store.clone(),
            parts.indexes.clone(),
            embedder,
            parts.counter.clone(),
            parts.indexer_options,
        );
        let runtime = ragd_workflow::Runtime::new(
            Arc::new(apps::ServerKnowledge {
                store: parts.store.clone(),
                cache: cache.clone(),
            }),
            parts.llm,
            parts.workflow,
        );
        let (runlog_writer, runlog_reader) = match parts.runlog {
            Some((writer, reader)) => (Some(writer), Some(reader)),
            None => (None, None),
        };
        let app_runtime = Arc::new(apps::AppRuntime::new(
            runtime,
            runlog_writer,
            runlog_reader,
            config.sse_ping_secs,
        ));
        let state = AppState::new(Inner {
            store: parts.store,
            retriever,
            cache,
            dataset_rows,
            apps: app_runtime,
            indexer: Arc::new(indexer),
            counter: parts.counter,
            parse_options: parts.parse_options,
            keys: auth::KeyCache::default(),
            locks: state::DatasetLocks::default(),
            jobs_queued: tokio::sync::Notify::new(),
            busy: workers::Busy::default(),
            group_documents: parts.indexer_options.group_documents.max(1),
            ready: Default::default(),
            hits: Default::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests)),
            config,
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains (see the crate docs).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state;
        let config = state.config.clone();
        metrics::handle();

        let recovery_state = state.clone();
        let recovery = tokio::task::spawn_blocking(move || {
            recovery_state.indexer.recover().map_err(|e| e.to_string())
        });
        match recovery.await {
            Ok(Ok(report)) if !report.requeued.is_empty() => {
                tracing::info!(
                    documents = report.requeued.len(),
                    "requeued documents left unfinished by a previous run"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "start-up recovery failed"),
            Err(e) => tracing::error!(error = %e, "start-up recovery panicked"),
        }

        let (stop_workers, stopped) = watch::channel(false);
        let workers: Vec<_> = (0..config.workers)
            .map(|n| tokio::spawn(workers::run(state.clone(), n, stopped.clone())))
            .collect();

        let hit_state = state.clone();
        let mut hit_stop = stopped.clone();
        let hit_writer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(HIT_FLUSH_INTERVAL) => hit_state.flush_hits().await,
                    _ = hit_stop.changed() => break,
                }
            }
            hit_state.flush_hits().await;
        });

        let app = routes::router(state.clone());
        state.set_ready();
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let (signal_drain, drain) = watch::channel(false);
        // TCP_NODELAY: SSE events are small writes; with Nagle's algorithm each would wait for the
        // client's delayed ACK (about 40 ms) before the next one leaves (measured: the first event of a
        // chat stream at 43 ms instead of 1 ms at concurrency 1).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
            }
        });
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = signal_drain.send(true);
        });
        let mut drain_started = drain.clone();
        let served = tokio::select! {
            result = serve => result,
            // In-flight requests get `grace` after the signal; then the server stops regardless.
            () = async move {
                let _ = drain_started.wait_for(|d| *d).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("in-flight requests did not finish within the grace period");
                Ok(())
            }
        };
        let _ = stop_workers.send(true);
        state.jobs_queued.notify_waiters();
        let drained = tokio::time::timeout(grace, async {
            for worker in workers {
                let _ = worker.await;
            }
        })
        .await;
        let _ = hit_writer.await;
        if let Some(writer) = &state.apps.runlog
            && let Err(e) = writer.shutdown().await
        {
            tracing::warn!(error = %e, "the run log did not drain at shutdown");
        }
        if drained.is_err() {
            tracing::warn!(
                "an indexing group was still running at shutdown; it resumes at the next start"
            );
        }
        drop(drain);
        served
    }
}
