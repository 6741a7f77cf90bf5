//! [`HnswIndex`]: the embedded [`VectorIndex`].
//!
//! State: the exact [`VectorStore`] (source of truth) and an optional HNSW [`Graph`] over the same keys,
//! behind one `RwLock` (searches and calibration read, writes and graph rebuilds write). Invariant: when the graph is
//! present it indexes exactly the store's keys. If a graph operation fails, the graph is dropped, searches
//! fall back to exact, and the next write rebuilds it.
//!
//! Search plan: an exact scan of the candidate vectors (all, or those of allowed documents) when it is
//! cheaper than the graph (see [`graph_pays_off`]: fewer than `exact_below` vectors, or a selective
//! filter) or when there is no graph. Otherwise the graph proposes candidates (with a filter, usearch
//! consults it during traversal) and every returned score is recomputed exactly; if the graph returns
//! fewer than `min(k, candidates)` hits, the answer is the exact scan instead, so a filter never loses
//! results. Both the beam width and the exact/graph crossover come from [`crate::calibrate`] once the index
//! holds `exact_below` vectors (re-measured when its size changes by half), from the options before.
//!
//! Persistence is in [`crate::persist`]; `persist` holds the read lock while writing, so it blocks writers
//! (not searches) for its duration.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::calibrate::{self, Calibration};
use crate::graph::Graph;
use crate::persist::{self, GRAPH_FILE, LOCK, VECTORS_FILE};
use crate::store::{VectorStore, normalized, sort_best_first};
use crate::{DocumentPredicate, VectorEntry, VectorError, VectorHit, VectorIndex};

/// Rebuild the graph once removed nodes outnumber live ones (and are at least this many).
const TOMBSTONE_REBUILD_MIN: usize = 1024;

/// HNSW parameters. The defaults come from `examples/ann_report.rs` (tables in `BENCHMARKS.md`): with
/// them `search` reaches recall@10 >= 0.98 (measured 1.000) at 10k and 100k vectors on both clustered and
/// uniformly random 384-d data, because calibration widens the beam, or switches to the exact scan when
/// that is faster than a beam wide enough (as on random data).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HnswOptions {
    /// Graph degree (usearch's `connectivity`, HNSW's M). Changing it rebuilds the graph on open.
    pub connectivity: usize,
    /// Beam width while inserting (HNSW's efConstruction).
    pub expansion_add: usize,
    /// Beam width while searching (HNSW's ef; at least k is used): the starting point of calibration,
    /// and the width used when calibration is off.
    pub expansion_search: usize,
    /// Below this many candidate vectors, search is an exact scan (faster there, and exact); calibration
    /// may raise it for the data at hand, never lower it.
    pub exact_below: usize,
    /// Recall@10 that calibration widens the beam for.
    pub target_recall: f64,
    /// Whether to calibrate beam width and crossover on the index's own data (see `calibrate`).
    pub calibrate: bool,
}

impl Default for HnswOptions {
    fn default() -> Self {
        HnswOptions {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            // Measured crossover on clustered data: exact is faster at 1,000 vectors, the graph from 1,500.
            exact_below: 1_500,
            // Calibrating to 0.99 on synthetic queries leaves margin for the 0.98 the service needs.
            target_recall: 0.99,
            calibrate: true,
        }
    }
}

impl HnswOptions {
    pub fn validate(&self) -> Result<(), VectorError> {
        if self.connectivity < 2 {
            return Err(VectorError::InvalidOptions(format!(
                "connectivity must be at least 2, got {}",
                self.connectivity
            )));
        }
        if self.expansion_add == 0 || self.expansion_search == 0 {
            return Err(VectorError::InvalidOptions(
                "expansion_add and expansion_search must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.target_recall) {
            return Err(VectorError::InvalidOptions(format!(
                "target_recall must be within [0, 1], got {}",
                self.target_recall
            )));
        }
        Ok(())
    }
}

/// The embedded vector index: exact vectors plus a usearch HNSW graph, persisted in one directory.
pub struct HnswIndex {
    root: PathBuf,
    dimensions: usize,
    options: HnswOptions,
    state: RwLock<State>,
    persistence: Mutex<Persistence>,
    /// The latest measurement (searches copy it); `None` until the index reaches `exact_below`.
    calibration: Mutex<Option<Calibration>>,
    /// Held while calibrating, so that concurrent writers do not measure twice.
    calibrating: Mutex<()>,
    /// Holds the directory's advisory lock for the lifetime of the index.
    _lock: File,
}

struct State {
    store: VectorStore,
    graph: Option<Graph>,
    /// Bumped by every change; `persist` skips when nothing changed since the last publication.
    version: u64,
}

struct Persistence {
    current: Option<u64>,
    next_generation: u64,
    persisted_version: Option<u64>,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("root", &self.root)
            .field("dimensions", &self.dimensions)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// Opens the persisted index in `dir` (created empty if absent). A dimensions mismatch is an error;
    /// leftovers of an interrupted `persist` are removed; an unusable graph file is rebuilt from the
    /// vectors with a warning.
    pub fn open(dir: &Path, dimensions: usize, options: HnswOptions) -> Result<Self, VectorError> {
        if dimensions == 0 {
            return Err(VectorError::InvalidOptions(
                "dimensions must be at least 1".into(),
            ));
        }
        options.validate()?;
        std::fs::create_dir_all(dir).map_err(VectorError::io(dir))?;
        let lock = lock_dir(dir)?;
        let current = persist::read_current(dir)?;
        let highest = persist::remove_stale(dir, current)?;
        let (store, graph, graph_rebuilt) = match current {
            Some(generation) => load_generation(dir, generation, dimensions, &options)?,
            None => (
                VectorStore::new(dimensions),
                Graph::empty(dimensions, &options)?,
                false,
            ),
        };
        tracing::info!(path = %dir.display(), vectors = store.len(), generation = ?current, "opened vector index");
        let index = HnswIndex {
            root: dir.to_path_buf(),
            dimensions,
            options,
            state: RwLock::new(State {
                store,
                graph: Some(graph),
                // A rebuilt graph differs from the persisted one: let the next persist write it.
                version: u64::from(graph_rebuilt),
            }),
            persistence: Mutex::new(Persistence {
                current,
                next_generation: highest + 1,
                persisted_version: current.map(|_| 0),
            }),
            calibration: Mutex::new(None),
            calibrating: Mutex::new(()),
            _lock: lock,
        };
        index.calibrate_if_due();
        Ok(index)
    }

    /// The options this index was opened with.
    pub fn options(&self) -> HnswOptions {
        self.options
    }

    /// The latest calibration, if the index has been calibrated.
    pub fn calibration(&self) -> Option<Calibration> {
        *self.calibration.lock().expect("calibration lock poisoned")
    }

    /// Measures beam width and crossover on the current contents now (normally done automatically when
    /// the size has changed by half). Returns `None` if the index is below `exact_below`, has no graph, or
    /// another thread is calibrating.
    pub fn calibrate(&self) -> Result<Option<Calibration>, VectorError> {
        let Ok(_calibrating) = self.calibrating.try_lock() else {
            return Ok(None);
        };
        let state = self.read();
        let Some(graph) = &state.graph else {
            return Ok(None);
        };
        if state.store.len() < self.options.exact_below {
            return Ok(None);
        }
        let calibration = calibrate::calibrate(&state.store, graph, &self.options)?;
        drop(state);
        tracing::info!(?calibration, path = %self.root.display(), "calibrated vector graph");
        *self.calibration.lock().expect("calibration lock poisoned") = Some(calibration);
        Ok(Some(calibration))
    }

    /// Calibrates when enabled, at or above `exact_below`, and never done or done at a size off by half.
    fn calibrate_if_due(&self) {
        let len = self.len();
        if !self.options.calibrate || len < self.options.exact_below {
            return;
        }
        let due = match self.calibration() {
            None => true,
            Some(previous) => len * 2 >= previous.len * 3 || len * 3 <= previous.len * 2,
        };
        if due && let Err(error) = self.calibrate() {
            tracing::warn!(%error, "vector graph calibration failed; keeping the previous settings");
        }
    }

    /// Beam width and crossover in force: calibrated, or from the options.
    fn plan(&self) -> (usize, usize) {
        let options = &self.options;
        match self.calibration() {
            Some(calibration) if options.calibrate => (
                calibration.expansion_search,
                calibration.exact_below.max(options.exact_below),
            ),
            _ => (options.expansion_search, options.exact_below),
        }
    }

    /// Exact top-k (a full scan of the candidates), whatever the index size: the reference for recall.
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<DocumentPredicate<'_>>,
    ) -> Result<Vec<VectorHit>, VectorError> {
        let query = self.check_query(query)?;
        let state = self.read();
        Ok(hits(&state.store, exact(&state.store, &query, k, filter)))
    }

    /// Graph-only top-k with beam width `expansion` and no exact fallback, so it may return fewer than k
    /// or miss some: for measuring the graph. Empty when there is no graph.
    pub fn search_graph(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<DocumentPredicate<'_>>,
        expansion: usize,
    ) -> Result<Vec<VectorHit>, VectorError> {
        let query = self.check_query(query)?;
        let state = self.read();
        let Some(graph) = &state.graph else {
            return Ok(Vec::new());
        };
        let found = graph_search(&state.store, graph, expansion, &query, k, filter)?;
        Ok(hits(&state.store, found))
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().expect("vector index lock poisoned")
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().expect("vector index lock poisoned")
    }

    fn check_dimensions(&self, vector: &[f32]) -> Result<(), VectorError> {
        if vector.len() == self.dimensions {
            Ok(())
        } else {
            Err(VectorError::DimensionMismatch {
                expected: self.dimensions,
                found: vector.len(),
            })
        }
    }

    fn check_query(&self, query: &[f32]) -> Result<Vec<f32>, VectorError> {
        self.check_dimensions(query)?;
        if !query.iter().all(|x| x.is_finite()) {
            return Err(VectorError::NonFiniteQuery);
        }
        Ok(normalized(query))
    }

    /// Removes `keys` (absent ones are skipped) from the store and the graph; returns how many were
    /// present. The store is the source of truth: if the graph refuses a removal it is dropped (searches
    /// go exact) and rebuilt by the next write.
    fn remove_keys(&self, state: &mut State, keys: &[u64]) -> usize {
        let mut removed = 0;
        let mut graph_error = None;
        for &key in keys {
            if !state.store.remove(key) {
                continue;
            }
            removed += 1;
            if let Some(graph) = &mut state.graph
                && let Err(error) = graph.remove(key)
            {
                graph_error = Some(error);
                state.graph = None;
            }
        }
        if removed == 0 {
            return 0;
        }
        state.version += 1;
        if let Some(error) = graph_error {
            tracing::warn!(%error, "vector graph removal failed; dropping the graph");
        }
        // Best effort: a failed rebuild leaves no graph (exact search) and is retried on the next write.
        if let Err(error) = self.repair_graph(state) {
            tracing::warn!(%error, "vector graph rebuild failed; searching exactly until the next write");
            state.graph = None;
        }
        removed
    }

    /// Rebuilds the graph if a failure dropped it or removals left it mostly tombstones.
    fn repair_graph(&self, state: &mut State) -> Result<(), VectorError> {
        let stale = match &state.graph {
            None => true,
            Some(graph) => {
                graph.tombstones() >= TOMBSTONE_REBUILD_MIN
                    && graph.tombstones() > state.store.len()
            }
        };
        if stale {
            tracing::info!(path = %self.root.display(), vectors = state.store.len(), "rebuilding vector graph");
            state.graph = None;
            state.graph = Some(Graph::build(&state.store, self.dimensions, &self.options)?);
        }
        Ok(())
    }

    /// Writes generation `generation` (files fsynced) without publishing it.
    fn write_generation(&self, state: &State, generation: u64) -> Result<(), VectorError> {
        let dir = persist::generation_dir(&self.root, generation);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(VectorError::io(&dir))?;
        }
        std::fs::create_dir(&dir).map_err(VectorError::io(&dir))?;
        let graph_digest = match &state.graph {
            Some(graph) => {
                let path = dir.join(GRAPH_FILE);
                graph.save(&path)?;
                persist::sync_file(&path)?;
                Some(persist::digest_file(&path)?)
            }
            None => None,
        };
        persist::write_vectors_file(
            &dir.join(VECTORS_FILE),
            &state.store,
            self.dimensions,
            graph_digest,
        )?;
        persist::sync_dir(&dir)?;
        persist::sync_dir(&self.root)
    }
}

fn lock_dir(dir: &Path) -> Result<File, VectorError> {
    let path = dir.join(LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(VectorError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(VectorError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(VectorError::Io { path, source }),
    }
}

/// Loads a published generation: the vectors must be intact; the graph is used if it matches them,
/// otherwise rebuilt (then the flag is true).
fn load_generation(
    root: &Path,
    generation: u64,
    dimensions: usize,
    options: &HnswOptions,
) -> Result<(VectorStore, Graph, bool), VectorError> {
    let dir = persist::generation_dir(root, generation);
    let vectors_path = dir.join(VECTORS_FILE);
    let file =
        persist::read_vectors_file(&vectors_path, dimensions).map_err(|error| match error {
            VectorError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                VectorError::corrupt(
                    path,
                    "CURRENT names this generation but the file is missing",
                )
            }
            other => other,
        })?;
    let graph_path = dir.join(GRAPH_FILE);
    let usable = match file.graph {
        None => Err("no graph was saved".to_string()),
        Some(expected) => match persist::digest_file(&graph_path) {
            Ok(actual) if actual == expected => {
                Graph::load(&graph_path, dimensions, options, &file.store)
            }
            Ok(actual) => Err(format!(
                "graph file digest {actual:?} differs from the recorded {expected:?}"
            )),
            Err(error) => Err(error.to_string()),
        },
    };
    match usable {
        Ok(graph) => Ok((file.store, graph, false)),
        Err(reason) => {
            tracing::warn!(path = %graph_path.display(), %reason, vectors = file.store.len(), "vector graph unusable; rebuilding it from the vectors");
            let graph = Graph::build(&file.store, dimensions, options)?;
            Ok((file.store, graph, true))
        }
    }
}

/// Whether the graph beats an exact scan of `candidates` of `len` vectors. A scan costs about
/// `candidates` dot products; an unfiltered graph search costs about as much as scanning `exact_below`
/// vectors (that is how `exact_below` is measured), and a filtered one about that divided by the allowed
/// share `candidates / len`, because the traversal must wade through the rejected vectors. So the graph
/// wins when `candidates > exact_below * len / candidates`; without a filter this is `len >= exact_below`.
fn graph_pays_off(candidates: usize, len: usize, exact_below: usize) -> bool {
    (candidates as u128) * (candidates as u128) >= (exact_below as u128) * (len as u128)
}

/// Exact top-k over all vectors or the allowed ones.
fn exact(
    store: &VectorStore,
    query: &[f32],
    k: usize,
    filter: Option<DocumentPredicate<'_>>,
) -> Vec<(u64, f32)> {
    match filter {
        None => store.top_k(query, k),
        Some(allowed) => store.top_k_allowed(query, k, allowed),
    }
}

/// Graph candidates with beam width `expansion_search`, rescored exactly, best first, at most k.
pub(crate) fn graph_search(
    store: &VectorStore,
    graph: &Graph,
    expansion_search: usize,
    query: &[f32],
    k: usize,
    filter: Option<DocumentPredicate<'_>>,
) -> Result<Vec<(u64, f32)>, VectorError> {
    // usearch's beam is the number of results asked for. All of them are rescored exactly (a few
    // microseconds), which also settles near-ties and duplicates by exact score and key.
    let fetch = k.max(expansion_search);
    let keys = match filter {
        None => graph.search(query, fetch)?,
        Some(allowed) => graph.filtered_search(query, fetch, |key| {
            store.document_of(key).is_some_and(allowed)
        })?,
    };
    let mut found: Vec<(u64, f32)> = keys
        .into_iter()
        .filter_map(|key| store.score(query, key).map(|score| (key, score)))
        .collect();
    sort_best_first(&mut found);
    found.dedup_by_key(|hit| hit.0);
    found.truncate(k);
    Ok(found)
}

fn hits(store: &VectorStore, scored: Vec<(u64, f32)>) -> Vec<VectorHit> {
    scored
        .into_iter()
        .filter_map(|(key, score)| {
            store.document_of(key).map(|document| VectorHit {
                key,
                document,
                score,
            })
        })
        .collect()
}

impl VectorIndex for HnswIndex {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn upsert(&self, entries: &[VectorEntry<'_>]) -> Result<(), VectorError> {
        for entry in entries {
            self.check_dimensions(entry.vector)?;
            if !entry.vector.iter().all(|x| x.is_finite()) {
                return Err(VectorError::NonFinite { key: entry.key });
            }
        }
        // The last entry for a key wins.
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        let mut batch: Vec<(u64, u64, Vec<f32>)> = entries
            .iter()
            .rev()
            .filter(|entry| seen.insert(entry.key))
            .map(|entry| (entry.key, entry.document, normalized(entry.vector)))
            .collect();
        batch.reverse();
        if batch.is_empty() {
            return Ok(());
        }

        let mut guard = self.write();
        let state = &mut *guard;
        state.version += 1;
        let graph_result = (|| {
            self.repair_graph(state)?;
            let graph = state.graph.as_mut().expect("repaired");
            for (key, _, _) in &batch {
                if state.store.contains(*key) {
                    graph.remove(*key)?;
                }
            }
            Ok::<_, VectorError>(())
        })();
        for (key, document, vector) in &batch {
            state.store.upsert(*key, *document, vector);
        }
        let graph_result = graph_result.and_then(|()| {
            let graph = state.graph.as_mut().expect("repaired");
            let entries: Vec<(u64, &[f32])> = batch
                .iter()
                .map(|(key, _, vector)| (*key, vector.as_slice()))
                .collect();
            graph.insert(&entries)
        });
        if let Err(error) = graph_result {
            // The store is updated; without a trustworthy graph, searches go exact until the next write
            // rebuilds it.
            tracing::warn!(%error, "vector graph update failed; dropping the graph");
            state.graph = None;
            return Err(error);
        }
        drop(guard);
        self.calibrate_if_due();
        Ok(())
    }

    fn delete_document(&self, document: u64) -> Result<usize, VectorError> {
        let mut guard = self.write();
        let keys = guard.store.document_keys(document);
        let removed = self.remove_keys(&mut guard, &keys);
        drop(guard);
        if removed > 0 {
            self.calibrate_if_due();
        }
        Ok(removed)
    }

    fn delete_keys(&self, keys: &[u64]) -> Result<usize, VectorError> {
        let mut guard = self.write();
        let removed = self.remove_keys(&mut guard, keys);
        drop(guard);
        if removed > 0 {
            self.calibrate_if_due();
        }
        Ok(removed)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<DocumentPredicate<'_>>,
    ) -> Result<Vec<VectorHit>, VectorError> {
        let query = self.check_query(query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let state = self.read();
        let store = &state.store;
        let candidates = match filter {
            None => store.len(),
            Some(allowed) => store.count_allowed(allowed),
        };
        let zero_query = query.iter().all(|&x| x == 0.0);
        let (expansion, exact_below) = self.plan();
        let found = match &state.graph {
            Some(graph)
                if graph_pays_off(candidates, store.len(), exact_below)
                    && candidates > k
                    && !zero_query =>
            {
                let found = graph_search(store, graph, expansion, &query, k, filter)?;
                if found.len() < k.min(candidates) {
                    exact(store, &query, k, filter)
                } else {
                    found
                }
            }
            _ => exact(store, &query, k, filter),
        };
        Ok(hits(store, found))
    }

    fn score_keys(&self, query: &[f32], keys: &[u64]) -> Result<Vec<Option<f32>>, VectorError> {
        let query = self.check_query(query)?;
        let state = self.read();
        Ok(keys
            .iter()
            .map(|&key| state.store.score(&query, key))
            .collect())
    }

    fn persist(&self) -> Result<(), VectorError> {
        let mut persistence = self.persistence.lock().expect("persistence lock poisoned");
        let state = self.read();
        if persistence.current.is_some() && persistence.persisted_version == Some(state.version) {
            return Ok(());
        }
        let generation = persistence.next_generation;
        persistence.next_generation += 1;
        self.write_generation(&state, generation)?;
        persist::publish_current(&self.root, generation)?;
        let previous = persistence.current.replace(generation);
        persistence.persisted_version = Some(state.version);
        drop(state);
        if let Some(previous) = previous {
            persist::remove_generation(&self.root, previous);
        }
        tracing::debug!(path = %self.root.display(), generation, "persisted vector index");
        Ok(())
    }

    fn len(&self) -> usize {
        self.read().store.len()
    }

    fn document_len(&self, document: u64) -> usize {
        self.read().store.document_len(document)
    }

    fn document_keys(&self, document: u64) -> Vec<u64> {
        self.read().store.document_keys(document)
    }
}
