//! Prometheus metrics: the recorder, the HTTP middleware, and the [`MeteredEmbedder`] wrapper.
//!
//! Names (all prefixed `ragd_`):
//! - `http_requests_total{method,route,status}`, `http_request_duration_seconds{method,route,status}`
//!   (route is the matched path template, so ids do not explode cardinality);
//! - `retrieve_duration_seconds{method}` and `retrieve_stage_seconds{stage}` for embed, bm25, ann, fusion,
//!   hydrate;
//! - `indexing_queue_depth`, `indexing_documents_total{outcome}`, `indexing_chunks_total`,
//!   `indexing_batch_seconds`;
//! - `embed_batch_size{kind}` (texts per model call: `documents` or `query`), `embed_seconds{kind}`.
//!
//! The recorder is process-wide (the `metrics` facade has one); several servers in one test process share
//! it, which is why it is installed once.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use ragd_embed::{EmbedError, Embedder};
use ragd_retrieve::StageTimings;

/// Latency buckets in seconds: 100 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's Prometheus recorder (installed on first use).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("ragd_embed_batch_size".into()),
                        BATCH_BUCKETS,
                    )
                })
                .expect("bucket lists are non-empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a host application's): then ours only renders
            // what is recorded through it, which is nothing; say so rather than fail.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Records every request's count and latency by method, route template and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("ragd_http_requests_total", &labels).increment(1);
    metrics::histogram!("ragd_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Records one retrieval's total and per-stage times.
pub fn record_retrieval(method: &'static str, total: std::time::Duration, t: &StageTimings) {
    metrics::histogram!("ragd_retrieve_duration_seconds", "method" => method)
        .record(total.as_secs_f64());
    for (stage, d) in [
        ("embed", t.embed),
        ("bm25", t.bm25),
        ("ann", t.ann),
        ("fusion", t.fusion),
        ("hydrate", t.hydrate),
    ] {
        metrics::histogram!("ragd_retrieve_stage_seconds", "stage" => stage)
            .record(d.as_secs_f64());
    }
}

/// Records one finished flow run: `ragd_workflow_runs_total{mode,status}`, its duration, and its LLM
/// tokens and time to first token.
pub fn record_run(record: &ragd_core::run::RunRecord) {
    let mode = if record.mode == "workflow" {
        "workflow"
    } else {
        "advanced-chat"
    };
    metrics::counter!("ragd_workflow_runs_total", "mode" => mode, "status" => record.status.as_str())
        .increment(1);
    metrics::histogram!("ragd_workflow_run_seconds", "mode" => mode).record(record.elapsed_time);
    metrics::counter!("ragd_llm_tokens_total", "kind" => "prompt")
        .increment(record.usage.prompt_tokens);
    metrics::counter!("ragd_llm_tokens_total", "kind" => "completion")
        .increment(record.usage.completion_tokens);
    if let Some(ttft) = record.usage.time_to_first_token {
        metrics::histogram!("ragd_llm_time_to_first_token_seconds").record(ttft);
    }
}

/// An [`Embedder`] that records batch sizes and model time, wrapping the real one.
pub struct MeteredEmbedder {
    inner: Arc<dyn Embedder>,
}

impl MeteredEmbedder {
    pub fn new(inner: Arc<dyn Embedder>) -> Self {
        Self { inner }
    }
}

impl Embedder for MeteredEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let started = Instant::now();
        let result = self.inner.embed_documents(texts);
        metrics::histogram!("ragd_embed_batch_size", "kind" => "documents")
            .record(texts.len() as f64);
        metrics::histogram!("ragd_embed_seconds", "kind" => "documents")
            .record(started.elapsed().as_secs_f64());
        result
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let started = Instant::now();
        let result = self.inner.embed_query(text);
        metrics::histogram!("ragd_embed_batch_size", "kind" => "query").record(1.0);
        metrics::histogram!("ragd_embed_seconds", "kind" => "query")
            .record(started.elapsed().as_secs_f64());
        result
    }
}
