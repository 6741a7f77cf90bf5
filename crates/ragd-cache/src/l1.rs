//! L1: in this process (moka), bounded by memory and TTL. Exact hits by key; semantic hits through the
//! per-group [`GroupIndex`] of query embeddings, kept in step with moka by its eviction listener.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::CachedRetrieval;
use crate::key::Key;
use crate::semantic::{GroupIndex, Hasher, Match, Signature, hamming_cutoff};

type Groups = Arc<RwLock<HashMap<Key, GroupIndex>>>;

/// The semantic side of L1.
#[derive(Debug)]
struct Semantic {
    hasher: Hasher,
    threshold: f32,
    cutoff: u32,
    groups: Groups,
}

/// The in-process tier.
pub struct L1 {
    entries: Cache<Key, Arc<CachedRetrieval>>,
    semantic: Option<Semantic>,
    embeddings: Cache<Key, Arc<[f32]>>,
}

impl std::fmt::Debug for L1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L1")
            .field("entries", &self.entries.entry_count())
            .field("semantic", &self.semantic.as_ref().map(|s| s.threshold))
            .finish_non_exhaustive()
    }
}

impl L1 {
    /// `threshold` 0 disables semantic hits; `dims` is the embedding model's.
    pub fn new(
        max_bytes: u64,
        ttl: Duration,
        embedding_max_bytes: u64,
        threshold: f32,
        dims: usize,
    ) -> Self {
        let groups: Groups = Arc::default();
        let semantic = (threshold > 0.0).then(|| Semantic {
            hasher: Hasher::new(dims),
            threshold,
            cutoff: hamming_cutoff(threshold),
            groups: groups.clone(),
        });
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &Key, value: &Arc<CachedRetrieval>| value.weight)
            .time_to_live(ttl)
            .eviction_listener(
                move |key: Arc<Key>, value: Arc<CachedRetrieval>, cause: RemovalCause| {
                    // A replaced entry keeps its slot in the group index (same key, new vector).
                    if cause == RemovalCause::Replaced {
                        return;
                    }
                    let dims = value.embedding.as_ref().map_or(0, Vec::len);
                    let mut groups = groups.write().unwrap_or_else(|p| p.into_inner());
                    if let Some(group) = groups.get_mut(&value.group) {
                        group.remove(&key, dims);
                        if group.is_empty() {
                            groups.remove(&value.group);
                        }
                    }
                },
            )
            .build();
        let embeddings = Cache::builder()
            .max_capacity(embedding_max_bytes)
            .weigher(|_key: &Key, value: &Arc<[f32]>| (value.len() * 4 + 64) as u32)
            .time_to_live(ttl)
            .build();
        Self {
            entries,
            semantic,
            embeddings,
        }
    }

    /// Whether semantic hits are on.
    pub fn semantic(&self) -> bool {
        self.semantic.is_some()
    }

    pub fn get(&self, key: &Key) -> Option<Arc<CachedRetrieval>> {
        self.entries.get(key)
    }

    /// The SimHash signature of an embedding (semantic hits on).
    pub fn sign(&self, vector: &[f32]) -> Option<Signature> {
        self.semantic.as_ref().map(|s| s.hasher.sign(vector))
    }

    /// The closest cached query of `group` above the threshold, with its entry.
    pub fn nearest(
        &self,
        group: &Key,
        signature: &Signature,
        vector: &[f32],
    ) -> Option<(Arc<CachedRetrieval>, Match)> {
        let semantic = self.semantic.as_ref()?;
        let found = {
            let groups = semantic.groups.read().unwrap_or_else(|p| p.into_inner());
            groups
                .get(group)?
                .best(signature, vector, semantic.threshold, semantic.cutoff)?
        };
        // The entry may have expired since (moka's TTL is checked on read, before the listener runs).
        self.entries.get(&found.key).map(|entry| (entry, found))
    }

    /// Inserts an entry (and its embedding into the group's semantic index).
    pub fn insert(&self, key: Key, entry: Arc<CachedRetrieval>) {
        if let (Some(semantic), Some(vector)) = (&self.semantic, entry.embedding.as_deref())
            && vector.len() == semantic.hasher.dims()
        {
            let signature = semantic.hasher.sign(vector);
            semantic
                .groups
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(entry.group)
                .or_default()
                .insert(key, signature, vector);
        }
        self.entries.insert(key, entry);
    }

    /// Drops every entry reading `dataset` at a version below `version` (unreachable already; this frees
    /// their memory now rather than at eviction).
    pub fn purge_older(&self, dataset: &str, version: u64) {
        let dataset = dataset.to_owned();
        let stale: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, entry)| {
                entry
                    .datasets
                    .iter()
                    .any(|(id, v)| *id == dataset && *v < version)
            })
            .map(|(key, _)| *key)
            .collect();
        for key in stale {
            self.entries.invalidate(&key);
        }
    }

    pub fn embedding(&self, key: &Key) -> Option<Arc<[f32]>> {
        self.embeddings.get(key)
    }

    pub fn insert_embedding(&self, key: Key, vector: Arc<[f32]>) {
        self.embeddings.insert(key, vector);
    }

    /// Runs moka's pending maintenance (evictions, listeners), for exact sizes in stats and tests.
    pub fn sync(&self) {
        self.entries.run_pending_tasks();
        self.embeddings.run_pending_tasks();
    }

    /// `(entries, weighted bytes, embeddings, embedding bytes, semantic index entries)`.
    pub fn sizes(&self) -> L1Sizes {
        let (indexed, index_bytes) = self.semantic.as_ref().map_or((0, 0), |s| {
            let groups = s.groups.read().unwrap_or_else(|p| p.into_inner());
            groups
                .values()
                .fold((0, 0), |(n, b), g| (n + g.len(), b + g.bytes()))
        });
        L1Sizes {
            entries: self.entries.entry_count(),
            bytes: self.entries.weighted_size(),
            embeddings: self.embeddings.entry_count(),
            embedding_bytes: self.embeddings.weighted_size(),
            semantic_indexed: indexed as u64,
            semantic_index_bytes: index_bytes as u64,
        }
    }

    /// Empties L1.
    pub fn clear(&self) {
        self.entries.invalidate_all();
        self.embeddings.invalidate_all();
        self.sync();
    }
}

/// Sizes of L1.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct L1Sizes {
    pub entries: u64,
    pub bytes: u64,
    pub embeddings: u64,
    pub embedding_bytes: u64,
    pub semantic_indexed: u64,
    pub semantic_index_bytes: u64,
}
