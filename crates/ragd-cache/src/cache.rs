//! [`RetrievalCache`]: the lookup order (L1 exact, L1 semantic, L2, compute), the fills, the shared
//! dataset versions and their synchronisation with other replicas.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use ragd_config::CacheConfig;
use ragd_retrieve::{Record, RetrieveError, RetrieveRequest, Retriever, StageTimings};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::CacheError;
use crate::key::{Group, Key, embedding_key, normalize_query};
use crate::l1::{L1, L1Sizes};
use crate::l2::L2;
use crate::stats::{Counts, Second, Stats};

/// First byte of every encoded L2 value: bump it when the encoding changes.
const ENCODING: u8 = 1;

/// A cached retrieval: the records, the query they answer and the versions they were computed from.
#[derive(Debug, Serialize, Deserialize)]
pub struct CachedRetrieval {
    /// The normalized query (checked on every exact hit).
    pub query: String,
    /// `(dataset id, version)` the records were computed from.
    pub datasets: Vec<(String, u64)>,
    pub records: Vec<Record>,
    /// The normalized query's embedding (for semantic hits), when the search used vectors; encoded as
    /// raw little-endian bytes.
    #[serde(with = "f32_bytes")]
    pub embedding: Option<Vec<f32>>,
    /// When it was computed, Unix milliseconds.
    pub created_ms: u64,
    #[serde(skip)]
    pub group: Key,
    #[serde(skip)]
    pub weight: u32,
    /// The HTTP layer's rendering of `records`, made once and reused (shared, not copied) by every hit.
    #[serde(skip)]
    pub rendered: OnceLock<bytes::Bytes>,
}

impl CachedRetrieval {
    /// Milliseconds since it was computed.
    pub fn age_ms(&self) -> u64 {
        now_ms().saturating_sub(self.created_ms)
    }
}

/// Per-request control of the cache (`Cache-Control` or the body's `cache` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Look up, compute on a miss, store.
    #[default]
    Use,
    /// Don't look up; compute and store (replaces what was cached).
    Refresh,
    /// Neither look up nor store.
    Bypass,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    L1Exact {
        age_ms: u64,
    },
    L1Semantic {
        age_ms: u64,
        similarity: f32,
    },
    L2 {
        age_ms: u64,
    },
    /// Computed after a miss, and stored.
    Miss,
    /// Computed because the request asked to refresh, and stored.
    Refresh,
    /// Computed because the request asked to bypass the cache; not stored.
    Bypass,
    /// The cache is disabled.
    Off,
}

impl Outcome {
    /// The `X-Ragd-Cache` header value: `l1-exact`, `l1-semantic`, `l2`, `miss`, `refresh`, `bypass` or
    /// `off`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::L1Exact { .. } => "l1-exact",
            Outcome::L1Semantic { .. } => "l1-semantic",
            Outcome::L2 { .. } => "l2",
            Outcome::Miss => "miss",
            Outcome::Refresh => "refresh",
            Outcome::Bypass => "bypass",
            Outcome::Off => "off",
        }
    }

    pub fn is_hit(&self) -> bool {
        matches!(
            self,
            Outcome::L1Exact { .. } | Outcome::L1Semantic { .. } | Outcome::L2 { .. }
        )
    }

    /// The response's `cache` object: `{hit, tier, kind, similarity?, age_ms?}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match *self {
            Outcome::L1Exact { age_ms } => {
                json!({"hit": true, "tier": "l1", "kind": "exact", "age_ms": age_ms})
            }
            Outcome::L1Semantic { age_ms, similarity } => json!({
                "hit": true, "tier": "l1", "kind": "semantic",
                "similarity": (f64::from(similarity) * 10_000.0).round() / 10_000.0,
                "age_ms": age_ms,
            }),
            Outcome::L2 { age_ms } => {
                json!({"hit": true, "tier": "l2", "kind": "exact", "age_ms": age_ms})
            }
            other => json!({"hit": false, "tier": null, "kind": other.label()}),
        }
    }
}

/// A retrieval answered through the cache.
#[derive(Debug, Clone)]
pub struct Answer {
    pub entry: Arc<CachedRetrieval>,
    pub outcome: Outcome,
    /// Stage timings when it was computed.
    pub timings: Option<StageTimings>,
}

/// Everything the JSON stats endpoint shows.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub l1_enabled: bool,
    pub l2_configured: bool,
    /// L2 usable now (its circuit breaker is closed).
    pub l2_up: bool,
    pub semantic_threshold: f32,
    pub totals: Counts,
    pub hit_ratio: f64,
    pub datasets: HashMap<String, DatasetSnapshot>,
    pub l1: L1Sizes,
    pub l2_errors: u64,
    pub l2_outages: u64,
    pub l2_writes_dropped: u64,
    /// The shared dataset versions this replica knows.
    pub versions: HashMap<String, u64>,
    pub series: Vec<Second>,
}

/// One dataset's figures.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSnapshot {
    #[serde(flatten)]
    pub counts: Counts,
    pub hit_ratio: f64,
}

/// The two-tier cache in front of a [`Retriever`].
pub struct RetrievalCache {
    retriever: Arc<Retriever>,
    model_id: String,
    dims: usize,
    l1: Option<L1>,
    l2: Option<Arc<L2>>,
    /// Highest version known per dataset: from this process's store and from other replicas.
    versions: RwLock<HashMap<String, u64>>,
    bumps: mpsc::UnboundedSender<(String, u64)>,
    pending: std::sync::Mutex<Option<mpsc::UnboundedReceiver<(String, u64)>>>,
    stats: Arc<Stats>,
    threshold: f32,
    resync: Duration,
}

impl std::fmt::Debug for RetrievalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetrievalCache")
            .field("l1", &self.l1)
            .field("l2", &self.l2)
            .finish_non_exhaustive()
    }
}

impl RetrievalCache {
    /// Builds the cache from its config (L2 connects lazily). Call [`RetrievalCache::start`] inside a
    /// Tokio runtime to run the version synchronisation.
    pub fn new(config: &CacheConfig, retriever: Arc<Retriever>) -> Result<Arc<Self>, CacheError> {
        let model_id = retriever.embedder().model_id().to_owned();
        let dims = retriever.embedder().dimensions();
        let stats = Arc::new(Stats::default());
        let l1 = config.l1_enabled.then(|| {
            L1::new(
                config.l1_max_bytes,
                Duration::from_secs(config.l1_ttl_secs),
                config.embedding_max_bytes,
                config.semantic_threshold,
                dims,
            )
        });
        let l2 = if config.l2_active() {
            Some(Arc::new(L2::new(
                &config.redis_url,
                Duration::from_millis(config.l2_timeout_ms),
                config.l2_ttl_secs,
                &config.l2_key_prefix,
                config.l2_breaker_failures,
                Duration::from_millis(config.l2_breaker_cooldown_ms),
                stats.clone(),
            )?))
        } else {
            None
        };
        let (bumps, pending) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            retriever,
            model_id,
            dims,
            l1,
            l2,
            versions: RwLock::default(),
            bumps,
            pending: std::sync::Mutex::new(Some(pending)),
            stats,
            threshold: config.semantic_threshold,
            resync: Duration::from_secs(config.version_resync_secs),
        }))
    }

    /// Starts the background work: applying and publishing local version bumps, and (with L2)
    /// following other replicas' bumps. Idempotent; the tasks end when the cache is dropped.
    pub fn start(self: &Arc<Self>) {
        let Some(mut bumps) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some((dataset, version)) = bumps.recv().await {
                let Some(cache) = weak.upgrade() else { break };
                cache.purge(&dataset, version).await;
                if let Some(l2) = &cache.l2
                    && let Some(shared) = l2.raise_version(&dataset, version).await
                {
                    cache.learn(&dataset, shared).await;
                }
            }
        });
        if let Some(l2) = &self.l2 {
            tokio::spawn(follow_versions(
                Arc::downgrade(self),
                l2.clone(),
                self.resync,
            ));
        }
    }

    pub fn retriever(&self) -> &Arc<Retriever> {
        &self.retriever
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Whether the cache is on at all.
    pub fn enabled(&self) -> bool {
        self.l1.is_some()
    }

    /// This process made `dataset` reach `version` (the store's listener calls this right after the
    /// commit). Entries of older versions stop being served at once; other replicas learn of it through
    /// L2.
    pub fn observe_local(&self, dataset: &str, version: u64) {
        if version > 0 && self.raise(dataset, version) {
            let _ = self.bumps.send((dataset.to_owned(), version));
        }
    }

    /// Raises the known version; true if it rose.
    fn raise(&self, dataset: &str, version: u64) -> bool {
        let mut versions = self.versions.write().unwrap_or_else(|p| p.into_inner());
        match versions.get_mut(dataset) {
            Some(known) if *known >= version => false,
            Some(known) => {
                *known = version;
                true
            }
            None => {
                versions.insert(dataset.to_owned(), version);
                true
            }
        }
    }

    /// Another replica (or the shared hash) says `dataset` is at `version`.
    async fn learn(self: &Arc<Self>, dataset: &str, version: u64) {
        if self.raise(dataset, version) {
            tracing::debug!(dataset, version, "dataset version learned from a replica");
            self.purge(dataset, version).await;
        }
    }

    async fn purge(self: &Arc<Self>, dataset: &str, version: u64) {
        if self.l1.is_none() {
            return;
        }
        let cache = self.clone();
        let dataset = dataset.to_owned();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(l1) = &cache.l1 {
                l1.purge_older(&dataset, version);
            }
        })
        .await;
    }

    /// The versions to key by: the store's, raised to what other replicas have published.
    fn effective(&self, store_versions: &[(String, u64)]) -> Vec<(String, u64)> {
        let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
        store_versions
            .iter()
            .map(|(id, v)| {
                (
                    id.clone(),
                    versions.get(id).map_or(*v, |known| (*known).max(*v)),
                )
            })
            .collect()
    }

    /// Answers a retrieval from the cache or by computing it. `store_versions` are the versions of the
    /// request's datasets as the caller read them from the store (in request order).
    pub async fn retrieve(
        self: &Arc<Self>,
        mut request: RetrieveRequest,
        store_versions: &[(String, u64)],
        mode: CacheMode,
    ) -> Result<Answer, RetrieveError> {
        let started = Instant::now();
        let Some(l1) = &self.l1 else {
            let retrieval = self.retriever.clone().retrieve_async(request).await?;
            let entry = Arc::new(CachedRetrieval {
                query: String::new(),
                datasets: retrieval.versions.clone(),
                records: retrieval.records,
                embedding: None,
                created_ms: now_ms(),
                group: Key::default(),
                weight: 0,
                rendered: OnceLock::new(),
            });
            self.stats
                .record(&Outcome::Off, &entry.datasets, started.elapsed());
            return Ok(Answer {
                entry,
                outcome: Outcome::Off,
                timings: Some(retrieval.timings),
            });
        };
        let query = normalize_query(&request.query);
        let group = Group::new(
            &self.model_id,
            self.effective(store_versions),
            &request.settings,
            request.explain,
        );
        let key = group.entry(&query);
        let reading = mode == CacheMode::Use;
        if reading
            && let Some(entry) = l1.get(&key)
            && entry.query == query
        {
            let outcome = Outcome::L1Exact {
                age_ms: entry.age_ms(),
            };
            return Ok(self.answered(entry, outcome, &group, started));
        }
        // Exact answers first (L2 costs one round trip; a semantic lookup needs the query's embedding).
        if reading
            && let Some(l2) = &self.l2
            && let Some(bytes) = l2.get(&l2.result_key(&key.hex())).await
        {
            match decode(&bytes) {
                Some(mut entry) if entry.query == query && entry.datasets == group.datasets => {
                    entry.group = group.key;
                    entry.weight = weight(bytes.len(), entry.embedding.as_deref());
                    let entry = Arc::new(entry);
                    l1.insert(key, entry.clone());
                    let outcome = Outcome::L2 {
                        age_ms: entry.age_ms(),
                    };
                    return Ok(self.answered(entry, outcome, &group, started));
                }
                Some(_) => {
                    tracing::warn!(key = %key.hex(), "L2 entry for another query (hash collision?); ignored")
                }
                None => self.stats.l2_error("decode"),
            }
        }
        let uses_vectors = request.settings.method.uses_vectors() || request.explain;
        let vector = if uses_vectors {
            Some(self.embedding(l1, &query, mode).await?)
        } else {
            None
        };
        if reading
            && let Some(vector) = &vector
            && let Some(signature) = l1.sign(vector)
            && let Some((entry, found)) = l1.nearest(&group.key, &signature, vector)
        {
            let outcome = Outcome::L1Semantic {
                age_ms: entry.age_ms(),
                similarity: found.similarity,
            };
            // Remember the decision: the same question again is an exact hit on an alias of the entry.
            // The alias has no embedding, so it never takes part in semantic matching itself (no
            // chains of "similar to something similar").
            let rendered = OnceLock::new();
            if let Some(bytes) = entry.rendered.get() {
                let _ = rendered.set(bytes.clone());
            }
            let alias = Arc::new(CachedRetrieval {
                query: query.clone(),
                datasets: entry.datasets.clone(),
                records: entry.records.clone(),
                embedding: None,
                created_ms: entry.created_ms,
                group: entry.group,
                weight: entry
                    .weight
                    .saturating_sub(entry.embedding.as_ref().map_or(0, |v| (v.len() * 4) as u32)),
                rendered,
            });
            l1.insert(key, alias);
            return Ok(self.answered(entry, outcome, &group, started));
        }
        request.query_vector = vector.clone();
        let retrieval = self
            .retriever
            .clone()
            .retrieve_async(request.clone())
            .await?;
        let outcome = match mode {
            CacheMode::Use => Outcome::Miss,
            CacheMode::Refresh => Outcome::Refresh,
            CacheMode::Bypass => Outcome::Bypass,
        };
        // Key the result by the versions the retriever read (a bump between the lookup and the search
        // must not file a newer result under the older version, nor an older one under the newer).
        let read = self.effective(&retrieval.versions);
        let stored_group = if read == group.datasets {
            group
        } else {
            Group::new(&self.model_id, read, &request.settings, request.explain)
        };
        let mut entry = CachedRetrieval {
            query,
            datasets: stored_group.datasets.clone(),
            records: retrieval.records,
            embedding: vector.map(|v| v.to_vec()),
            created_ms: now_ms(),
            group: stored_group.key,
            weight: 0,
            rendered: OnceLock::new(),
        };
        let stored_key = stored_group.entry(&entry.query);
        let bytes = (mode != CacheMode::Bypass).then(|| encode(&entry));
        if let Some(bytes) = &bytes {
            entry.weight = weight(bytes.len(), entry.embedding.as_deref());
        }
        let entry = Arc::new(entry);
        if let Some(bytes) = bytes {
            l1.insert(stored_key, entry.clone());
            if let Some(l2) = &self.l2 {
                l2.put_in_background(l2.result_key(&stored_key.hex()), bytes);
            }
        }
        let mut answer = self.answered(entry, outcome, &stored_group, started);
        answer.timings = Some(retrieval.timings);
        Ok(answer)
    }

    fn answered(
        &self,
        entry: Arc<CachedRetrieval>,
        outcome: Outcome,
        group: &Group,
        started: Instant,
    ) -> Answer {
        self.stats
            .record(&outcome, &group.datasets, started.elapsed());
        Answer {
            entry,
            outcome,
            timings: None,
        }
    }

    /// The embedding of a normalized query: L1, L2, or the model (then stored in both). `Refresh` skips
    /// the lookups, `Bypass` the lookups and the stores.
    async fn embedding(
        &self,
        l1: &L1,
        query: &str,
        mode: CacheMode,
    ) -> Result<Arc<[f32]>, RetrieveError> {
        let key = embedding_key(&self.model_id, query);
        let l2 = self.l2.as_ref().filter(|_| mode == CacheMode::Use);
        if mode == CacheMode::Use
            && let Some(vector) = l1.embedding(&key)
        {
            metrics::counter!("ragd_cache_embeddings_total", "result" => "l1").increment(1);
            return Ok(vector);
        }
        let l2_key = self.l2.as_ref().map(|l2| l2.embedding_key(&key.hex()));
        if let (Some(l2), Some(l2_key)) = (l2, &l2_key)
            && let Some(bytes) = l2.get(l2_key).await
        {
            if bytes.len() == self.dims * 4 {
                let vector: Arc<[f32]> = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                l1.insert_embedding(key, vector.clone());
                metrics::counter!("ragd_cache_embeddings_total", "result" => "l2").increment(1);
                return Ok(vector);
            }
            self.stats.l2_error("decode");
        }
        let embedder = self.retriever.embedder().clone();
        let text = query.to_owned();
        let vector: Arc<[f32]> = tokio::task::spawn_blocking(move || embedder.embed_query(&text))
            .await
            .map_err(|e| RetrieveError::Invalid(format!("embedding task failed: {e}")))??
            .into();
        metrics::counter!("ragd_cache_embeddings_total", "result" => "computed").increment(1);
        if mode == CacheMode::Bypass {
            return Ok(vector);
        }
        l1.insert_embedding(key, vector.clone());
        if let (Some(l2), Some(l2_key)) = (&self.l2, l2_key) {
            let bytes = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            l2.put_in_background(l2_key, bytes);
        }
        Ok(vector)
    }

    /// Figures for the JSON endpoint; `secs` of per-second series.
    pub fn snapshot(&self, secs: u64) -> Snapshot {
        let totals = self.stats.totals();
        let l1 = self.publish_sizes();
        Snapshot {
            l1_enabled: self.l1.is_some(),
            l2_configured: self.l2.is_some(),
            l2_up: self.l2.as_ref().is_some_and(|l2| l2.is_up()),
            semantic_threshold: if self.l1.as_ref().is_some_and(L1::semantic) {
                self.threshold
            } else {
                0.0
            },
            hit_ratio: totals.hit_ratio(),
            totals,
            datasets: self
                .stats
                .per_dataset()
                .into_iter()
                .map(|(id, counts)| {
                    (
                        id,
                        DatasetSnapshot {
                            hit_ratio: counts.hit_ratio(),
                            counts,
                        },
                    )
                })
                .collect(),
            l1,
            l2_errors: self
                .stats
                .l2_errors
                .load(std::sync::atomic::Ordering::Relaxed),
            l2_outages: self
                .stats
                .l2_outages
                .load(std::sync::atomic::Ordering::Relaxed),
            l2_writes_dropped: self
                .stats
                .l2_writes_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            versions: self
                .versions
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            series: self.stats.series(secs),
        }
    }

    /// Sets the size gauges (`ragd_cache_l1_entries`, `ragd_cache_l1_bytes`,
    /// `ragd_cache_l1_semantic_indexed`) from L1 as it is now, and returns the sizes; `/metrics` calls it
    /// before rendering.
    pub fn publish_sizes(&self) -> L1Sizes {
        let l1 = self.l1.as_ref().map(|l1| l1.sizes()).unwrap_or_default();
        metrics::gauge!("ragd_cache_l1_entries").set(l1.entries as f64);
        metrics::gauge!("ragd_cache_l1_bytes").set(l1.bytes as f64);
        metrics::gauge!("ragd_cache_l1_semantic_indexed").set(l1.semantic_indexed as f64);
        l1
    }

    /// Runs L1's pending maintenance (exact sizes right after inserts; tests and stats).
    pub fn sync(&self) {
        if let Some(l1) = &self.l1 {
            l1.sync();
        }
    }
}

/// Follows other replicas' version bumps: subscribe, re-read the shared hash (after every (re)connect
/// and every `resync` as the fallback for anything missed), apply each message; reconnect with backoff
/// while Redis is away.
async fn follow_versions(cache: Weak<RetrievalCache>, l2: Arc<L2>, resync: Duration) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let connected = tokio::time::timeout(Duration::from_secs(2), async {
            let mut pubsub = l2.client().get_async_pubsub().await?;
            pubsub.subscribe(l2.versions_channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let Ok(Ok(pubsub)) = connected else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        };
        backoff = Duration::from_millis(200);
        tracing::debug!("following dataset version bumps on Redis");
        if !resync_versions(&cache, &l2).await {
            continue;
        }
        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval(resync);
        tick.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let Ok(text) = message.get_payload::<String>() else { continue };
                    let Some((dataset, version)) = text.split_once(' ') else { continue };
                    let Ok(version) = version.parse::<u64>() else { continue };
                    let Some(cache) = cache.upgrade() else { return };
                    cache.learn(dataset, version).await;
                }
                _ = tick.tick() => {
                    if !resync_versions(&cache, &l2).await {
                        break;
                    }
                }
            }
        }
        tracing::debug!("version subscription lost; reconnecting");
    }
}

/// Pushes this replica's versions to the shared hash, then reads it all; false when the cache is gone.
async fn resync_versions(cache: &Weak<RetrievalCache>, l2: &L2) -> bool {
    let Some(strong) = cache.upgrade() else {
        return false;
    };
    let known: Vec<(String, u64)> = strong
        .versions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for (dataset, version) in known {
        if l2.raise_version(&dataset, version).await.is_none() {
            return true;
        }
    }
    if let Some(shared) = l2.versions().await {
        for (dataset, version) in shared {
            strong.learn(&dataset, version).await;
        }
    }
    true
}

/// MessagePack with structs as arrays (no field names: every field is always written, none is
/// skipped, so positions are stable); free-form JSON inside (document metadata) is self-describing.
fn encode(entry: &CachedRetrieval) -> Vec<u8> {
    let mut bytes = vec![ENCODING];
    if rmp_serde::encode::write(&mut bytes, entry).is_err() {
        bytes.clear();
    }
    bytes
}

/// An optional `f32` vector as one byte string (4 bytes per value) rather than an array of floats.
mod f32_bytes {
    use serde::de::{Deserializer, Error, Visitor};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(value: &Option<Vec<f32>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                s.serialize_some(&Bytes(&bytes))
            }
            None => s.serialize_none(),
        }
    }

    struct Bytes<'a>(&'a [u8]);

    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Vec<f32>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("nil or a byte string of little-endian f32")
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_bytes(BytesVisitor).map(Some)
        }
    }

    struct BytesVisitor;

    impl Visitor<'_> for BytesVisitor {
        type Value = Vec<f32>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte string of little-endian f32")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            if !v.len().is_multiple_of(4) {
                return Err(E::custom("embedding bytes are not a multiple of 4"));
            }
            Ok(v.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            self.visit_bytes(&v)
        }
    }
}

fn decode(bytes: &[u8]) -> Option<CachedRetrieval> {
    match bytes.split_first() {
        Some((&ENCODING, rest)) => rmp_serde::from_slice(rest).ok(),
        _ => None,
    }
}

/// L1 weight: the encoded size plus the embedding held again by the semantic index.
fn weight(encoded: usize, embedding: Option<&[f32]>) -> u32 {
    let extra = embedding.map_or(0, |v| v.len() * 4 + 96);
    u32::try_from(encoded + extra + 256).unwrap_or(u32::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(embedding: Option<Vec<f32>>) -> CachedRetrieval {
        CachedRetrieval {
            query: "reset password".into(),
            datasets: vec![("d".into(), 7)],
            records: Vec::new(),
            embedding,
            created_ms: 42,
            group: Key(1),
            weight: 0,
            rendered: OnceLock::new(),
        }
    }

    #[test]
    fn values_round_trip_compactly() {
        let vector: Vec<f32> = (0..384).map(|i| i as f32 / 384.0).collect();
        let bytes = encode(&entry(Some(vector.clone())));
        assert_eq!(bytes[0], ENCODING);
        assert!(bytes.len() < 384 * 4 + 64, "{} bytes", bytes.len());
        let back = decode(&bytes).unwrap();
        assert_eq!(back.embedding, Some(vector));
        assert_eq!(back.query, "reset password");
        assert_eq!(back.datasets, vec![("d".to_owned(), 7)]);
        assert_eq!(back.created_ms, 42);
        let none = decode(&encode(&entry(None))).unwrap();
        assert_eq!(none.embedding, None);
        assert!(decode(b"{}").is_none(), "not ours");
        assert!(decode(&[ENCODING, 0xc1]).is_none(), "corrupt");
    }
}
