//! One retrieval: resolve the datasets, search BM25 and vectors in parallel (on the rayon pool, never on
//! an async reactor thread), normalize, fuse, threshold, hydrate from the store, cut to top-k.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ragd_core::dataset::{ChildChunk, Dataset, DocForm, Document, Segment};
use ragd_core::retrieval::{Fusion, RetrievalSettings, SearchMethod};
use ragd_embed::Embedder;
use ragd_lexical::LexicalHit;
use ragd_store::MetadataStore;
use ragd_vector::VectorHit;
use serde::{Deserialize, Serialize};

use crate::RetrieveError;
use crate::catalog::{Allowed, Catalog, CatalogCache};
use crate::fusion::{Components, fuse, keyword_score, vector_score};
use crate::indexes::{DatasetIndexes, IndexRegistry};

/// Most candidates one search of one dataset returns before fusion.
const MAX_CANDIDATES: usize = 1000;

/// A retrieval to run.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    /// One or more dataset ids; with several, their results are ranked together by one fused score.
    pub dataset_ids: Vec<String>,
    pub query: String,
    pub settings: RetrievalSettings,
    /// Report each record's component scores.
    pub explain: bool,
    /// The query's embedding when the caller has it already (e.g. from a cache); computed otherwise.
    pub query_vector: Option<Arc<[f32]>>,
}

impl RetrieveRequest {
    pub fn new(
        dataset_ids: Vec<String>,
        query: impl Into<String>,
        settings: RetrievalSettings,
    ) -> Self {
        Self {
            dataset_ids,
            query: query.into(),
            settings,
            explain: false,
            query_vector: None,
        }
    }
}

/// How a record's score was made, for tuning thresholds (ragd's `explain` extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explain {
    pub search_method: SearchMethod,
    /// Vector score in [0, 1] (clamped cosine similarity), when computed.
    pub vector_score: Option<f32>,
    /// Keyword score in [0, 1] (BM25 over the query's upper bound), when computed.
    pub keyword_score: Option<f32>,
    /// The raw BM25 score and the query's BM25 upper bound it was divided by.
    pub bm25: Option<f32>,
    pub bm25_upper_bound: Option<f32>,
    /// 1-based rank in the vector search's list and in the BM25 list (over all datasets searched).
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
    /// Hybrid search's fusion.
    pub fusion: Option<Fusion>,
    /// The record's final score.
    pub score: f32,
}

/// A child chunk that matched, with its score (parent-child datasets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredChildChunk {
    pub chunk: ChildChunk,
    pub score: f32,
}

/// One result: a segment, its document and its score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub dataset_id: String,
    pub segment: Segment,
    pub document: Document,
    /// Matching child chunks, best first (empty unless the document is parent-child).
    pub child_chunks: Vec<ScoredChildChunk>,
    pub score: f32,
    pub explain: Option<Explain>,
}

/// Time spent in each stage of one retrieval.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimings {
    pub embed: Duration,
    pub bm25: Duration,
    pub ann: Duration,
    pub fusion: Duration,
    pub hydrate: Duration,
}

/// The answer to a retrieval.
#[derive(Debug, Clone)]
pub struct Retrieval {
    pub records: Vec<Record>,
    pub timings: StageTimings,
    /// The versions of the datasets searched (cache keys use them).
    pub versions: Vec<(String, u64)>,
}

/// Runs retrievals over the datasets of one store.
pub struct Retriever {
    store: Arc<dyn MetadataStore>,
    indexes: Arc<IndexRegistry>,
    embedder: Arc<dyn Embedder>,
    catalogs: CatalogCache,
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever")
            .field("indexes", &self.indexes)
            .field("model", &self.embedder.model_id())
            .finish()
    }
}

/// One dataset being searched.
struct Target {
    dataset: Dataset,
    indexes: Arc<DatasetIndexes>,
    catalog: Arc<Catalog>,
    allowed: Allowed,
}

#[derive(Debug, Clone)]
struct Candidate {
    target: usize,
    key: u64,
    components: Components,
    bm25: Option<f32>,
    score: f32,
}

impl Retriever {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        indexes: Arc<IndexRegistry>,
        embedder: Arc<dyn Embedder>,
    ) -> Self {
        Self {
            store,
            indexes,
            embedder,
            catalogs: CatalogCache::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    pub fn indexes(&self) -> &Arc<IndexRegistry> {
        &self.indexes
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Runs a retrieval on a blocking thread (for async callers).
    pub async fn retrieve_async(
        self: Arc<Self>,
        request: RetrieveRequest,
    ) -> Result<Retrieval, RetrieveError> {
        tokio::task::spawn_blocking(move || self.retrieve(&request))
            .await
            .map_err(|e| RetrieveError::Invalid(format!("retrieval task failed: {e}")))?
    }

    /// Runs a retrieval. Blocking: BM25 and the vector search run in parallel on the rayon pool.
    pub fn retrieve(&self, request: &RetrieveRequest) -> Result<Retrieval, RetrieveError> {
        // Dify's 250-character cap is a rule of its HTTP API (checked there); the engine takes any
        // non-blank query.
        if request.query.trim().is_empty() {
            return Err(RetrieveError::Invalid(
                "Query or attachment_ids is required".into(),
            ));
        }
        let settings = &request.settings;
        let targets = self.targets(request)?;
        let method = settings.method;
        let hierarchical = targets
            .iter()
            .any(|t| t.dataset.doc_form == DocForm::HierarchicalModel);
        let depth = candidate_depth(settings, hierarchical);
        let mut timings = StageTimings::default();
        let searchable: Vec<&Target> = targets.iter().filter(|t| !t.allowed.is_empty()).collect();
        let needs_vector = method.uses_vectors() || request.explain;

        let (vector_side, lexical_side) = rayon::join(
            || -> Result<_, RetrieveError> {
                if !needs_vector || searchable.is_empty() {
                    return Ok((None, Vec::new(), Duration::ZERO, Duration::ZERO));
                }
                let started = Instant::now();
                let query_vector: Arc<[f32]> = match &request.query_vector {
                    Some(v) => v.clone(),
                    None => self.embedder.embed_query(&request.query)?.into(),
                };
                let embed = started.elapsed();
                let started = Instant::now();
                let mut hits = Vec::new();
                if method.uses_vectors() {
                    for (i, t) in targets.iter().enumerate() {
                        if t.allowed.is_empty() {
                            continue;
                        }
                        let allowed = &t.allowed;
                        let predicate = |doc: u64| allowed.allows(doc);
                        let filter: Option<&(dyn Fn(u64) -> bool + Sync)> = match allowed {
                            Allowed::All => None,
                            Allowed::Only(_) => Some(&predicate),
                        };
                        let found = t
                            .indexes
                            .vectors
                            .search(&query_vector, depth, filter)
                            .map_err(|source| RetrieveError::Vector {
                                dataset: t.dataset.id.clone(),
                                source,
                            })?;
                        hits.extend(found.into_iter().map(|h: VectorHit| (i, h)));
                    }
                }
                Ok((Some(query_vector), hits, embed, started.elapsed()))
            },
            || -> Result<_, RetrieveError> {
                let started = Instant::now();
                let mut hits = Vec::new();
                let mut bounds = vec![0.0f32; targets.len()];
                let wants_keyword = method.uses_bm25() || request.explain;
                if wants_keyword {
                    for (i, t) in targets.iter().enumerate() {
                        if t.allowed.is_empty() {
                            continue;
                        }
                        let lexical_error = |source| RetrieveError::Lexical {
                            dataset: t.dataset.id.clone(),
                            source,
                        };
                        bounds[i] = t
                            .indexes
                            .lexical
                            .score_upper_bound(&request.query)
                            .map_err(lexical_error)?;
                        if !method.uses_bm25() {
                            continue;
                        }
                        let allowed = &t.allowed;
                        let predicate = |doc: u64| allowed.allows(doc);
                        let filter: Option<&(dyn Fn(u64) -> bool + Sync)> = match allowed {
                            Allowed::All => None,
                            Allowed::Only(_) => Some(&predicate),
                        };
                        let found = t
                            .indexes
                            .lexical
                            .search(&request.query, depth, filter)
                            .map_err(lexical_error)?;
                        hits.extend(found.into_iter().map(|h: LexicalHit| (i, h)));
                    }
                }
                Ok((hits, bounds, started.elapsed()))
            },
        );
        let (query_vector, vector_hits, embed, ann) = vector_side?;
        let (lexical_hits, bounds, bm25) = lexical_side?;
        timings.embed = embed;
        timings.ann = ann;
        timings.bm25 = bm25;

        let started = Instant::now();
        let mut candidates = merge(vector_hits, lexical_hits, &bounds);
        let complete_components = method == SearchMethod::HybridSearch || request.explain;
        if complete_components {
            self.fill_components(
                &targets,
                &mut candidates,
                query_vector.as_deref(),
                &request.query,
                &bounds,
                method,
                request.explain,
            )?;
        }
        for c in &mut candidates {
            c.score = match method {
                SearchMethod::SemanticSearch => c.components.vector.unwrap_or(0.0),
                SearchMethod::FullTextSearch | SearchMethod::KeywordSearch => {
                    c.components.keyword.unwrap_or(0.0)
                }
                SearchMethod::HybridSearch => fuse(settings.fusion, &c.components),
            };
        }
        if let Some(threshold) = settings.threshold {
            candidates.retain(|c| c.score >= threshold);
        }
        // Equal final scores (e.g. cosines clamped to 0) keep the order of the searches themselves.
        let best_rank = |c: &Candidate| {
            let c = &c.components;
            c.vector_rank
                .into_iter()
                .chain(c.keyword_rank)
                .min()
                .unwrap_or(usize::MAX)
        };
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(best_rank(a).cmp(&best_rank(b)))
                .then(a.target.cmp(&b.target))
                .then(a.key.cmp(&b.key))
        });
        timings.fusion = started.elapsed();

        let started = Instant::now();
        let records = self.hydrate(request, &targets, &candidates, &bounds)?;
        timings.hydrate = started.elapsed();

        Ok(Retrieval {
            records,
            timings,
            versions: targets
                .iter()
                .map(|t| (t.dataset.id.clone(), t.catalog.version))
                .collect(),
        })
    }

    fn targets(&self, request: &RetrieveRequest) -> Result<Vec<Target>, RetrieveError> {
        if request.dataset_ids.is_empty() {
            return Err(RetrieveError::Invalid(
                "at least one dataset id is required".into(),
            ));
        }
        let mut ids: Vec<&str> = Vec::with_capacity(request.dataset_ids.len());
        for id in &request.dataset_ids {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        ids.into_iter()
            .map(|id| {
                let dataset = self
                    .store
                    .dataset(id)?
                    .ok_or_else(|| RetrieveError::DatasetNotFound(id.to_owned()))?;
                let indexes = self.indexes.get(&dataset)?;
                let catalog =
                    self.catalogs
                        .get(self.store.as_ref(), &dataset.id, dataset.version)?;
                let allowed = catalog.allowed(request.settings.filter.as_ref());
                Ok(Target {
                    dataset,
                    indexes,
                    catalog,
                    allowed,
                })
            })
            .collect()
    }

    /// Gives every candidate both component scores: the vector score of BM25-only hits and the keyword
    /// score of vector-only hits are computed exactly, so fusion never treats a missing side as zero
    /// similarity when it is not.
    #[allow(clippy::too_many_arguments)]
    fn fill_components(
        &self,
        targets: &[Target],
        candidates: &mut [Candidate],
        query_vector: Option<&[f32]>,
        query: &str,
        bounds: &[f32],
        method: SearchMethod,
        explain: bool,
    ) -> Result<(), RetrieveError> {
        for (i, t) in targets.iter().enumerate() {
            if let Some(qv) = query_vector {
                let missing: Vec<usize> = (0..candidates.len())
                    .filter(|&c| {
                        candidates[c].target == i && candidates[c].components.vector.is_none()
                    })
                    .collect();
                if !missing.is_empty() {
                    let keys: Vec<u64> = missing.iter().map(|&c| candidates[c].key).collect();
                    let scores = t.indexes.vectors.score_keys(qv, &keys).map_err(|source| {
                        RetrieveError::Vector {
                            dataset: t.dataset.id.clone(),
                            source,
                        }
                    })?;
                    for (c, s) in missing.into_iter().zip(scores) {
                        candidates[c].components.vector = s.map(vector_score);
                    }
                }
            }
            if method.uses_bm25() || explain {
                let missing: Vec<usize> = (0..candidates.len())
                    .filter(|&c| candidates[c].target == i && candidates[c].bm25.is_none())
                    .collect();
                if !missing.is_empty() {
                    let keys: Vec<u64> = missing.iter().map(|&c| candidates[c].key).collect();
                    let scores = t
                        .indexes
                        .lexical
                        .score_keys(query, &keys)
                        .map_err(|source| RetrieveError::Lexical {
                            dataset: t.dataset.id.clone(),
                            source,
                        })?;
                    for (c, s) in missing.into_iter().zip(scores) {
                        let raw = s.unwrap_or(0.0);
                        candidates[c].bm25 = Some(raw);
                        candidates[c].components.keyword = Some(keyword_score(raw, bounds[i]));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the best candidates' segments from the store, drops what is no longer searchable, groups
    /// child chunks under their parent segment, and stops at top-k records.
    fn hydrate(
        &self,
        request: &RetrieveRequest,
        targets: &[Target],
        candidates: &[Candidate],
        bounds: &[f32],
    ) -> Result<Vec<Record>, RetrieveError> {
        let top_k = request.settings.top_k;
        let mut records: Vec<Record> = Vec::with_capacity(top_k);
        let mut by_segment: HashMap<String, usize> = HashMap::new();
        let mut next = 0;
        while records.len() < top_k && next < candidates.len() {
            let want = (top_k - records.len()).max(4);
            let batch = &candidates[next..(next + want).min(candidates.len())];
            next += batch.len();
            let keys: Vec<u64> = batch.iter().map(|c| c.key).collect();
            let mut hydrated: HashMap<u64, _> = self
                .store
                .hydrate(&keys)?
                .into_iter()
                .map(|h| (h.key, h))
                .collect();
            for c in batch {
                let Some(h) = hydrated.remove(&c.key) else {
                    continue; // deleted since it was indexed
                };
                let target = &targets[c.target];
                if h.document.dataset_id != target.dataset.id
                    || !target.catalog.is_searchable(h.document.key)
                    || !h.segment.enabled
                {
                    continue;
                }
                if let Some(&at) = by_segment.get(&h.segment.id) {
                    if let Some(child) = h.child {
                        records[at].child_chunks.push(ScoredChildChunk {
                            chunk: child,
                            score: c.score,
                        });
                    }
                    continue;
                }
                if records.len() == top_k {
                    continue;
                }
                by_segment.insert(h.segment.id.clone(), records.len());
                records.push(Record {
                    dataset_id: target.dataset.id.clone(),
                    child_chunks: h
                        .child
                        .map(|chunk| ScoredChildChunk {
                            chunk,
                            score: c.score,
                        })
                        .into_iter()
                        .collect(),
                    segment: h.segment,
                    document: h.document,
                    score: c.score,
                    explain: request.explain.then(|| Explain {
                        search_method: request.settings.method,
                        vector_score: c.components.vector,
                        keyword_score: c.components.keyword,
                        bm25: c.bm25,
                        bm25_upper_bound: c.bm25.map(|_| bounds[c.target]),
                        vector_rank: c.components.vector_rank,
                        keyword_rank: c.components.keyword_rank,
                        fusion: (request.settings.method == SearchMethod::HybridSearch)
                            .then_some(request.settings.fusion),
                        score: c.score,
                    }),
                });
            }
        }
        Ok(records)
    }
}

/// How many candidates each search returns: top-k for a single method on flat chunks; more when hybrid
/// fusion reorders two lists or when child chunks collapse into fewer parents.
fn candidate_depth(settings: &RetrievalSettings, hierarchical: bool) -> usize {
    let mut depth = settings.top_k;
    if settings.method == SearchMethod::HybridSearch {
        depth = (depth * 4).max(40);
    }
    if hierarchical {
        depth *= 4;
    }
    // Headroom for hits dropped at hydration (documents being deleted or disabled right now).
    (depth + 8).min(MAX_CANDIDATES)
}

/// Joins the two hit lists into candidates keyed by (dataset, chunk), with ranks over all datasets.
fn merge(
    mut vector_hits: Vec<(usize, VectorHit)>,
    mut lexical_hits: Vec<(usize, LexicalHit)>,
    bounds: &[f32],
) -> Vec<Candidate> {
    vector_hits.sort_by(|a, b| {
        b.1.score
            .total_cmp(&a.1.score)
            .then(a.0.cmp(&b.0))
            .then(a.1.key.cmp(&b.1.key))
    });
    lexical_hits.sort_by(|a, b| {
        let (sa, sb) = (
            keyword_score(a.1.score, bounds[a.0]),
            keyword_score(b.1.score, bounds[b.0]),
        );
        sb.total_cmp(&sa)
            .then(a.0.cmp(&b.0))
            .then(a.1.key.cmp(&b.1.key))
    });
    let mut at: HashMap<(usize, u64), usize> = HashMap::new();
    let mut candidates: Vec<Candidate> = Vec::with_capacity(vector_hits.len() + lexical_hits.len());
    let mut entry = |target: usize, key: u64| -> usize {
        *at.entry((target, key)).or_insert_with(|| {
            candidates.push(Candidate {
                target,
                key,
                components: Components::default(),
                bm25: None,
                score: 0.0,
            });
            candidates.len() - 1
        })
    };
    let mut slots = Vec::new();
    for (rank, (t, h)) in vector_hits.iter().enumerate() {
        slots.push((
            entry(*t, h.key),
            Some((rank + 1, vector_score(h.score))),
            None,
        ));
    }
    for (rank, (t, h)) in lexical_hits.iter().enumerate() {
        slots.push((
            entry(*t, h.key),
            None,
            Some((rank + 1, h.score, keyword_score(h.score, bounds[*t]))),
        ));
    }
    for (slot, vector, keyword) in slots {
        let c = &mut candidates[slot];
        if let Some((rank, score)) = vector {
            c.components.vector_rank = Some(rank);
            c.components.vector = Some(score);
        }
        if let Some((rank, raw, score)) = keyword {
            c.components.keyword_rank = Some(rank);
            c.components.keyword = Some(score);
            c.bm25 = Some(raw);
        }
    }
    candidates
}
