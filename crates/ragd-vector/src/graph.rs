//! The HNSW graph: a usearch index over the normalized vectors with the inner-product metric (distance =
//! 1 - cosine). It only proposes candidates; scores always come from the exact store.
//!
//! Threads: usearch serves each concurrent call from a per-thread context taken from a pool sized when
//! capacity is reserved, and a call that finds the pool empty fails instead of waiting. Searches therefore
//! take a permit from a semaphore of the pool's size first. Inserts run only under the index's write lock
//! (no search in flight), spread over at most the pool's size of scoped threads.

use std::num::NonZero;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::usearch_error;
use crate::store::VectorStore;
use crate::{HnswOptions, VectorError};

/// Smallest batch worth spreading over several threads.
const PARALLEL_INSERT_MIN: usize = 256;

pub(crate) struct Graph {
    index: Index,
    /// Size of usearch's context pool, and of `permits`.
    threads: usize,
    permits: Permits,
    /// Node slots allocated in usearch: live vectors plus removed ones awaiting reuse.
    slots: usize,
    /// Removed nodes still in the graph (usearch reuses them for later inserts).
    tombstones: usize,
}

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, NonZero::get)
}

fn usearch_options(dimensions: usize, options: &HnswOptions) -> IndexOptions {
    IndexOptions {
        dimensions,
        metric: MetricKind::IP,
        quantization: ScalarKind::F32,
        connectivity: options.connectivity,
        expansion_add: options.expansion_add,
        // The beam of a search is max(this, requested count): the caller sets it per search through the
        // count it asks for.
        expansion_search: 1,
        multi: false,
    }
}

fn utf8_path(path: &Path) -> Result<&str, VectorError> {
    path.to_str().ok_or_else(|| {
        VectorError::InvalidOptions(format!("index path {} is not valid UTF-8", path.display()))
    })
}

impl Graph {
    /// An empty graph.
    pub(crate) fn empty(dimensions: usize, options: &HnswOptions) -> Result<Graph, VectorError> {
        let index = Index::new(&usearch_options(dimensions, options)).map_err(usearch_error)?;
        // More contexts than cores: searches hold one for their whole duration, and callers may run more
        // searches than cores (blocking pools); beyond this they wait on the semaphore.
        let threads = (parallelism() * 2).max(4);
        index
            .reserve_capacity_and_threads(0, threads)
            .map_err(usearch_error)?;
        Ok(Graph {
            index,
            threads,
            permits: Permits::new(threads),
            slots: 0,
            tombstones: 0,
        })
    }

    /// Builds a graph over every vector of `store`.
    pub(crate) fn build(
        store: &VectorStore,
        dimensions: usize,
        options: &HnswOptions,
    ) -> Result<Graph, VectorError> {
        let mut graph = Graph::empty(dimensions, options)?;
        let entries: Vec<(u64, &[f32])> = if dimensions == 0 {
            Vec::new()
        } else {
            store
                .keys()
                .iter()
                .copied()
                .zip(store.vectors().chunks_exact(dimensions))
                .collect()
        };
        graph.insert(&entries)?;
        Ok(graph)
    }

    /// Loads a saved graph and checks it indexes exactly the keys of `store` with these options. An `Err`
    /// says why it cannot be used (the caller rebuilds).
    pub(crate) fn load(
        path: &Path,
        dimensions: usize,
        options: &HnswOptions,
        store: &VectorStore,
    ) -> Result<Graph, String> {
        let path = utf8_path(path).map_err(|e| e.to_string())?;
        let metadata = Index::metadata(path).map_err(|e| e.to_string())?;
        if metadata.dimensions != dimensions as u64
            || metadata.metric != MetricKind::IP
            || metadata.quantization != ScalarKind::F32
            || metadata.multi
        {
            return Err(format!("unexpected graph header {metadata:?}"));
        }
        let graph = Graph::empty(dimensions, options).map_err(|e| e.to_string())?;
        graph.index.load(path).map_err(|e| e.to_string())?;
        if graph.index.connectivity() != options.connectivity {
            return Err(format!(
                "graph was built with connectivity {}, options ask for {}",
                graph.index.connectivity(),
                options.connectivity
            ));
        }
        if graph.index.size() != store.len() {
            return Err(format!(
                "graph holds {} vectors, the vectors file {}",
                graph.index.size(),
                store.len()
            ));
        }
        if let Some(key) = store.keys().iter().find(|&&key| !graph.index.contains(key)) {
            return Err(format!("graph lacks key {key}"));
        }
        graph.index.change_expansion_add(options.expansion_add);
        graph.index.change_expansion_search(1);
        let tombstones = metadata.count_deleted as usize;
        let slots = store.len() + tombstones;
        graph
            .index
            .reserve_capacity_and_threads(slots, graph.threads)
            .map_err(|e| e.to_string())?;
        Ok(Graph {
            slots,
            tombstones,
            ..graph
        })
    }

    /// Writes the graph to `path` (not fsynced; the caller does that).
    pub(crate) fn save(&self, path: &Path) -> Result<(), VectorError> {
        self.index.save(utf8_path(path)?).map_err(usearch_error)
    }

    pub(crate) fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// Adds vectors whose keys are not in the graph.
    pub(crate) fn insert(&mut self, entries: &[(u64, &[f32])]) -> Result<(), VectorError> {
        if entries.is_empty() {
            return Ok(());
        }
        let new_slots = entries.len().saturating_sub(self.tombstones);
        let needed = self.slots + new_slots;
        let capacity = self.index.capacity();
        if needed > capacity {
            let grown = needed.max(capacity + capacity / 2).max(1024);
            self.index
                .reserve_capacity_and_threads(grown, self.threads)
                .map_err(usearch_error)?;
        }
        let workers = parallelism()
            .min(self.threads)
            .min(entries.len().div_ceil(PARALLEL_INSERT_MIN))
            .max(1);
        let index = &self.index;
        let add_all = |chunk: &[(u64, &[f32])]| -> Result<(), VectorError> {
            for (key, vector) in chunk {
                index.add(*key, vector).map_err(usearch_error)?;
            }
            Ok(())
        };
        let result = if workers == 1 {
            add_all(entries)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = entries
                    .chunks(entries.len().div_ceil(workers))
                    .map(|chunk| scope.spawn(move || add_all(chunk)))
                    .collect();
                // The scope joins any thread left after an early error.
                handles
                    .into_iter()
                    .try_for_each(|handle| handle.join().expect("graph insert thread panicked"))
            })
        };
        self.tombstones -= entries.len() - new_slots;
        self.slots += new_slots;
        result
    }

    /// Removes a key (its node becomes a tombstone until reused).
    pub(crate) fn remove(&mut self, key: u64) -> Result<(), VectorError> {
        let removed = self.index.remove(key).map_err(usearch_error)?;
        self.tombstones += removed;
        Ok(())
    }

    /// Approximate nearest keys to a normalized query; `k` is also the beam width.
    pub(crate) fn search(&self, query: &[f32], k: usize) -> Result<Vec<u64>, VectorError> {
        let _permit = self.permits.acquire();
        let matches = self.index.search(query, k).map_err(usearch_error)?;
        Ok(matches.keys)
    }

    /// Approximate nearest keys among those `allowed` accepts, which is consulted during graph traversal;
    /// `k` is also the beam width.
    pub(crate) fn filtered_search(
        &self,
        query: &[f32],
        k: usize,
        allowed: impl Fn(u64) -> bool,
    ) -> Result<Vec<u64>, VectorError> {
        let _permit = self.permits.acquire();
        let matches = self
            .index
            .filtered_search(query, k, allowed)
            .map_err(usearch_error)?;
        Ok(matches.keys)
    }
}

/// A counting semaphore for blocking threads.
struct Permits {
    available: Mutex<usize>,
    released: Condvar,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(count: usize) -> Self {
        Permits {
            available: Mutex::new(count),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut available = self.available.lock().expect("permit lock poisoned");
        while *available == 0 {
            available = self.released.wait(available).expect("permit lock poisoned");
        }
        *available -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.available.lock().expect("permit lock poisoned") += 1;
        self.0.released.notify_one();
    }
}
